"""Tiles: which sources (and wavenumbers) a unit of work solves, on which mesh.

A ``TileSpec`` is small, plain and picklable (numpy arrays, a ``MeshSpec``, an optional
scipy sparse projection) and carries a content hash, so a worker can rebuild the tile's
physics from it alone and cache factorizations under its digest. Splitting is pure and
deterministic: the same survey and tile count always give the same tiles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from hpcinv.errors import TileError
from hpcinv.mesh import MeshSpec, local_tensor_mesh
from hpcinv.survey import REMOTE, Survey


@dataclass(frozen=True, eq=False)
class TileSpec:
    """One tile of a problem.

    source_ids: (n_src,) global source indices.
    data_rows: (n_data,) global data rows of this tile, grouped by source; dipole receivers of
        a source come before its pole receivers (SimPEG's receiver order).
    src_a, src_b: (n_src, dim) electrode positions, metres; ``src_b`` is NaN for a pole.
    datum_source: (n_data,) local source index of each datum.
    rx_m, rx_n: (n_data, dim) receiver electrode positions; ``rx_n`` is NaN for a pole.
    mesh: the simulation mesh of the tile.
    projection: (n_mesh_cells, n_grid_cells) sparse map from the model grid to the tile's
        mesh, or None when the tile solves on the model grid itself.
    dobs, weights: (n_data,) observed data (V) and 1 / uncertainty (1/V), or None (forward only).
    ky_points, ky_weights: 2.5D wavenumbers (1/m) and quadrature weights of this tile; None
        in 3D.
    partial_data: True when the tile holds only some of the wavenumbers of its sources
        (a 2.5D wavenumber split): its data are partial sums that executors add up over
        tiles before forming residuals.
    active: (n_mesh_cells,) bool, the mesh's cells below the ground, or None (every cell,
        or the model grid's own air handling when the tile solves on the grid); the others
        are fixed at ``inactive_value`` (ln S/m) and get no gradient.
    solver: "mumps", "superlu" or "banded".
    blas_threads: BLAS threads of the tile's factorization and solves; the numbers depend
        on it in the last bits, so it belongs to the tile, not to where it runs.
    max_fields_bytes: the most a 3D tile keeps of solved fields between its forward and
        adjoint; above it the tile streams them (``hpcinv.physics.tile``): bounded memory
        for n_elec more solves. A result-changing choice (last bits), so it is the tile's.
    """

    index: int
    source_ids: np.ndarray
    data_rows: np.ndarray
    src_a: np.ndarray
    src_b: np.ndarray
    datum_source: np.ndarray
    rx_m: np.ndarray
    rx_n: np.ndarray
    mesh: MeshSpec
    solver: str
    projection: sp.csr_matrix | None = None
    active: np.ndarray | None = None
    inactive_value: float = 0.0
    dobs: np.ndarray | None = None
    weights: np.ndarray | None = None
    ky_points: np.ndarray | None = None
    ky_weights: np.ndarray | None = None
    partial_data: bool = False
    blas_threads: int = 1
    max_fields_bytes: float = 2.0 * 1024**3
    digest: str = field(init=False, default="")

    def __post_init__(self):
        if len(self.source_ids) == 0 or len(self.data_rows) == 0:
            raise TileError(f"tile {self.index} is empty (no sources or no data); use fewer tiles")
        if self.blas_threads < 1:
            raise TileError(f"tile {self.index}: blas_threads must be at least 1")
        object.__setattr__(self, "digest", self._content_hash())

    @property
    def n_data(self) -> int:
        return len(self.data_rows)

    @property
    def n_sources(self) -> int:
        return len(self.source_ids)

    @property
    def dim(self) -> int:
        return self.mesh.dim

    def with_data(self, dobs_global: np.ndarray, weights_global: np.ndarray) -> TileSpec:
        """The same tile carrying its slice of the observed data and weights."""
        return _replace(
            self,
            dobs=np.asarray(dobs_global)[self.data_rows],
            weights=np.asarray(weights_global)[self.data_rows],
        )

    def _content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(
            f"{self.index}|{self.solver}|{self.dim}|{self.partial_data}|"
            f"{self.blas_threads}|{self.inactive_value!r}|{self.max_fields_bytes!r}".encode()
        )
        parts = [
            self.source_ids,
            self.data_rows,
            self.src_a,
            self.src_b,
            self.datum_source,
            self.rx_m,
            self.rx_n,
            *self.mesh.digest_parts(),
            self.dobs,
            self.weights,
            self.ky_points,
            self.ky_weights,
            self.active,
        ]
        if self.projection is not None:
            p = self.projection.tocsr()
            parts += [p.indptr, p.indices, p.data, np.array(p.shape)]
        for part in parts:
            h.update(b"|" if part is None else np.ascontiguousarray(part).tobytes())
        return h.hexdigest()[:16]


def _replace(spec: TileSpec, **changes) -> TileSpec:
    values = {k: getattr(spec, k) for k in spec.__dataclass_fields__ if k != "digest"}
    values.update(changes)
    return TileSpec(**values)


def split_sources(survey: Survey, n_tiles: int) -> list[np.ndarray]:
    """Partition source indices into ``n_tiles`` spatially coherent groups of similar data count.

    Recursive coordinate bisection of the source midpoints: cut along the widest horizontal
    extent at the data-weighted quantile that matches the tile counts on each side.
    """
    if n_tiles < 1:
        raise TileError(f"n_tiles must be at least 1, got {n_tiles}")
    if n_tiles > survey.n_sources:
        raise TileError(
            f"{n_tiles} tiles for {survey.n_sources} sources would leave tiles "
            f"empty; use at most {survey.n_sources} tiles"
        )
    counts = np.bincount(survey.source_of_datum, minlength=survey.n_sources)
    centres = survey.source_midpoints()[:, :-1]  # horizontal coordinates only
    groups = _bisect(np.arange(survey.n_sources), centres, counts, n_tiles)
    return [np.sort(g) for g in groups]


def _bisect(ids, centres, counts, n_tiles):
    if n_tiles == 1:
        return [ids]
    pts = centres[ids]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    # stable sort with the index as tie-breaker keeps the split deterministic
    order = np.lexsort((ids, pts[:, axis]))
    ids = ids[order]
    n_left = n_tiles // 2
    cum = np.cumsum(counts[ids])
    cut = int(np.searchsorted(cum, cum[-1] * n_left / n_tiles))
    # each side needs at least as many sources as tiles
    cut = min(max(cut + 1, n_left), len(ids) - (n_tiles - n_left))
    return _bisect(ids[:cut], centres, counts, n_left) + _bisect(
        ids[cut:], centres, counts, n_tiles - n_left
    )


SPLITS = ("auto", "sources", "wavenumbers")


def split_wavenumbers(n_ky: int, n_tiles: int) -> list[np.ndarray]:
    """Contiguous, balanced groups of wavenumber indices (11 over 2 tiles: 6 + 5)."""
    if n_tiles > n_ky:
        raise TileError(
            f"{n_tiles} tiles for {n_ky} wavenumbers would leave tiles empty; use "
            f'at most {n_ky} tiles or physics.split = "sources"'
        )
    return [np.asarray(g) for g in np.array_split(np.arange(n_ky), n_tiles)]


def with_mesh(
    spec: TileSpec,
    mesh: MeshSpec,
    projection: sp.csr_matrix | None,
    active: np.ndarray | None = None,
    inactive_value: float = 0.0,
) -> TileSpec:
    """The tile on another simulation mesh: ``projection`` maps the model grid to its cells
    (None: the model is given on the mesh itself), ``active`` marks its ground cells."""
    return _replace(
        spec, mesh=mesh, projection=projection, active=active, inactive_value=inactive_value
    )


def tile_electrodes(spec: TileSpec) -> np.ndarray:
    """(n, dim) the distinct electrode positions of a tile (remote poles left out)."""
    points = np.vstack([spec.src_a, spec.src_b, spec.rx_m, spec.rx_n])
    return np.unique(points[~np.isnan(points).any(axis=1)], axis=0)


def with_local_mesh(spec: TileSpec, margin: float, pad_factor: float) -> TileSpec:
    """The tile on its own mesh (``local_tensor_mesh`` around its electrodes) with the
    volume-averaging projection from the model grid (a plain sparse matrix)."""
    from discretize.utils import volume_average

    grid = spec.mesh.to_mesh() if spec.projection is None else None
    if grid is None:
        raise TileError(f"tile {spec.index} already has a local mesh")
    points = np.vstack([spec.src_a, spec.src_b, spec.rx_m, spec.rx_n])
    points = points[~np.isnan(points).any(axis=1)]
    local = local_tensor_mesh(grid, points, margin, pad_factor)
    projection = sp.csr_matrix(volume_average(grid, local))
    return _replace(spec, mesh=MeshSpec.from_mesh(local), projection=projection)


def make_tiles(
    survey: Survey,
    mesh: MeshSpec,
    n_tiles: int,
    solver: str,
    *,
    ky_points=None,
    ky_weights=None,
    weights=None,
    split: str = "sources",
    blas_threads: int = 1,
) -> list[TileSpec]:
    """Split ``survey`` into ``n_tiles`` tiles that all solve on ``mesh`` (the model grid).

    ``split``: "sources" gives each tile a spatially coherent group of sources (all
    wavenumbers); "wavenumbers" (2.5D) gives each tile all sources and a group of
    wavenumbers, so no two tiles factor the same matrix. ``weights`` (n_data,) are
    1 / uncertainty; with observed data in the survey each tile carries its slice of both.
    """
    if split == "auto":
        split = "wavenumbers" if ky_points is not None and n_tiles > 1 else "sources"
    if split == "wavenumbers":
        return _wavenumber_tiles(
            survey, mesh, n_tiles, solver, ky_points, ky_weights, weights, blas_threads
        )
    if split != "sources":
        raise TileError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return [
        _source_tile(
            survey, mesh, t, source_ids, solver, ky_points, ky_weights, weights, blas_threads
        )
        for t, source_ids in enumerate(split_sources(survey, n_tiles))
    ]


def _wavenumber_tiles(
    survey: Survey,
    mesh: MeshSpec,
    n_tiles: int,
    solver: str,
    ky_points,
    ky_weights,
    weights,
    blas_threads: int,
) -> list[TileSpec]:
    """The "wavenumbers" split: one tile of all sources, copied once per wavenumber group."""
    if ky_points is None:
        raise TileError(
            'physics.split = "wavenumbers" needs a 2.5D problem; a 3D survey splits by sources'
        )
    whole = make_tiles(
        survey,
        mesh,
        1,
        solver,
        ky_points=ky_points,
        ky_weights=ky_weights,
        weights=weights,
        blas_threads=blas_threads,
    )[0]
    return [
        _replace(
            whole,
            index=t,
            ky_points=np.asarray(ky_points, float)[group],
            ky_weights=np.asarray(ky_weights, float)[group],
            partial_data=n_tiles > 1,
        )
        for t, group in enumerate(split_wavenumbers(len(ky_points), n_tiles))
    ]


def _source_tile(
    survey: Survey,
    mesh: MeshSpec,
    t: int,
    source_ids: np.ndarray,
    solver: str,
    ky_points,
    ky_weights,
    weights,
    blas_threads: int,
) -> TileSpec:
    """Tile ``t`` of the "sources" split: the sources ``source_ids``, all their data rows
    (ordered as ``TileSpec`` documents) and, with observed data, their data and weights."""
    local = np.full(survey.n_sources, -1)
    local[source_ids] = np.arange(len(source_ids))
    rows = np.flatnonzero(local[survey.source_of_datum] >= 0)
    is_pole_rx = survey.abmn[rows, 3] == REMOTE
    rows = rows[np.lexsort((rows, is_pole_rx, local[survey.source_of_datum[rows]]))]
    abmn = survey.abmn[rows]
    spec = TileSpec(
        index=t,
        source_ids=np.asarray(source_ids, dtype=np.int64),
        data_rows=rows,
        src_a=_positions(survey, survey.sources[source_ids, 0]),
        src_b=_positions(survey, survey.sources[source_ids, 1]),
        datum_source=local[survey.source_of_datum[rows]],
        rx_m=_positions(survey, abmn[:, 2]),
        rx_n=_positions(survey, abmn[:, 3]),
        mesh=mesh,
        solver=solver,
        blas_threads=blas_threads,
        ky_points=None if ky_points is None else np.asarray(ky_points, float),
        ky_weights=None if ky_weights is None else np.asarray(ky_weights, float),
    )
    if survey.dobs is not None and weights is not None:
        spec = spec.with_data(survey.dobs, weights)
    return spec


def _positions(survey: Survey, index: np.ndarray) -> np.ndarray:
    """(n, dim) positions of the electrodes ``index``; a NaN row for a remote pole."""
    nan = np.full(survey.dim, np.nan)
    return np.array([survey.electrodes[i] if i != REMOTE else nan for i in index]).reshape(
        -1, survey.dim
    )
