"""Octree (TreeMesh) meshes made from a 3D survey, tile meshes on the same base grid, and the
regular TensorMesh the inversion's model lives on.

``octree_from_survey`` sizes everything like ``mesh_from_survey`` (the TensorMesh builder)
unless told otherwise:

* finest cells: cubes of half the median nearest-electrode distance (two cells per electrode
  spacing);
* core: the electrodes' horizontal bounding box, from the surface down to ``core_depth``
  below the lowest electrode (0.4 x the largest separation within one datum);
* padding: ``padding_distance`` (two survey extents) beyond the core sideways and below.
  Each axis of the base grid has the smallest power of two of finest cells that covers core
  plus padding (discretize's TreeMesh needs a power of two per axis, not the same one on
  every axis), centred horizontally on the survey; vertically the top of the mesh is the
  highest surface point, so only the relief is air, as in the TensorMesh builder;
* the surface: the topography points given, else the electrodes, interpolated by
  ``surface_function``; cells whose centre lies above it are air (inactive).

Refinement uses discretize's own functions, then one ``finalize`` (2:1 balance, diagonal
too: ``diagonal_balance=True`` grades more smoothly and is discretize 1.0's default):

* every electrode, and the point of the surface above or below it where draping will put
  it, at the finest level with ``electrode_cells`` finest cells around (``refine_points``);
* the surface over the core, ``surface_cells[i]`` cells of level finest-i sideways and
  downwards per level (``refine_surface`` with a regular grid of points sampled from the
  surface at the finest spacing: a cleaner surface than the raw topography points);
* the volume under the core, graded coarser with depth: ``depth_cells[i]`` cells of level
  finest-1-i below the surface per level, the last level reaching at least the core's
  bottom (``refine_surface`` of the surface shifted down).

The padding of the surface is passed as vertical padding only (``[[0, 0, n]]``) with the
horizontal margin built into the sampled grid: ``refine_surface`` pads sideways by
*stretching* the surface's bounding box about its centre, which moves the elevations
sideways (the padded surface drifts from the real one on slopes), and the stretch is
undefined for a flat extent.

The defaults keep meshes small: the finest cells are where the data are most sensitive
(electrodes, the ground of the core), and the 2:1 balance alone grades them outwards.
Measured with them (h = 1 m, dipole-dipole n <= 4, relief 3 sin(x / 15 m) + 0.1 y; build
time includes activity and draping, one CPU core):

* the tests' survey, 12 lines x 16 electrodes (2 m along lines, 4 m between lines, 30 m x
  44 m), 7.4 m of relief: base grid 256 x 256 x 128, 18,176 cells (11,248 of 1 m), 0.4 s;
  a tile of its first six lines: 9,951 cells, 0.4 s;
* 24 lines x 24 electrodes (46 m x 92 m), 12.2 m of relief: base grid 512 x 512 x 256,
  46,785 cells (31,960 of 1 m, 19,682 air), 0.9 s; a tile of its first 12 lines (half the
  electrodes): 24,805 cells, 0.8 s. Draping 600 electrodes on a 114k-cell tree: 0.15 s.

``tile_octree`` builds the mesh of one tile of sources on the global mesh's base grid: the
same domain and finest cells at the tile's electrodes (so the tile's electrodes sit on the
same discrete ground), the rest of the surface ``surface_level_drop`` levels coarser.
``model_grid_mesh`` makes the inversion's model grid over exactly the same domain: uniform
cells over the core, aligned with the tree's base grid, geometric padding outside.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from discretize import TensorMesh, TreeMesh

from hpcinv.errors import DataError
from hpcinv.mesh.from_survey import (
    FLAT_TOL,
    SurveyMesh,
    largest_separation,
    nearest_spacing,
    surface_function,
)
from hpcinv.mesh.tensor import padding_cells

log = logging.getLogger(__name__)

#: default bound on the model grid's uniform core (about 40 x 40 x 38 cells): the network's
#: output and every tile's projection P_i stay cheap next to the tiles' factorizations, and
#: for surveys like the 24 x 24 one above the cells stay at 2 m, a few electrode spacings
DEFAULT_MAX_MODEL_CELLS = 60_000

#: geometric growth of the model grid's padding cells
MODEL_PAD_FACTOR = 1.5


def octree_from_survey(
    electrodes: np.ndarray,
    abmn: np.ndarray,
    *,
    cell_size: float = 0.0,
    core_depth: float = 0.0,
    padding_distance: float = 0.0,
    topography: np.ndarray | None = None,
    electrode_cells: int = 2,
    surface_cells: Sequence[int] = (4, 4, 4),
    depth_cells: Sequence[int] = (4, 4, 4),
) -> SurveyMesh:
    """A TreeMesh for a 3D survey (electrodes (n, 3) in local metres, abmn its data rows).

    Zeros choose automatically (see the module docstring). ``topography``: (n, 3) surface
    points in the same local coordinates; None takes the electrodes. The SurveyMesh's
    ``mesh`` is the finalized TreeMesh.
    """
    electrodes = _three_columns(electrodes, "electrodes")
    h = cell_size if cell_size > 0 else 0.5 * nearest_spacing(electrodes)
    if core_depth <= 0:
        core_depth = 0.4 * largest_separation(electrodes, abmn)
    surface_points = electrodes if topography is None else _three_columns(topography, "topography")
    surface = surface_function(surface_points)
    lo, hi = electrodes[:, :2].min(axis=0), electrodes[:, :2].max(axis=0)
    extent = float(np.max(hi - lo)) if np.max(hi - lo) > 0 else 10.0 * h
    if padding_distance <= 0:
        padding_distance = 2.0 * extent
    top = float(surface_points[:, -1].max())
    bottom = float(electrodes[:, -1].min()) - core_depth

    shape = _base_shape(lo, hi, top, bottom, h, padding_distance)
    mesh = _base_tree(shape, lo, hi, top, h)
    _refine_survey_tree(
        mesh, electrodes, surface, lo, hi, bottom, electrode_cells, surface_cells, depth_cells
    )

    flat = bool(np.ptp(surface_points[:, -1]) <= FLAT_TOL * max(1.0, abs(top)))
    active = tree_active(mesh, surface_points)
    draped = drape_on_tree(mesh, active, electrodes)
    moved = np.abs(draped[:, -1] - electrodes[:, -1])
    log.info(
        "octree from the survey: %d cells on a %s base grid of %.3g m cells (core depth "
        "%.0f m, padding %.0f m), %d air cells, electrodes moved up to %.3g m",
        mesh.n_cells,
        " x ".join(str(n) for n in shape),
        h,
        core_depth,
        padding_distance,
        int((~active).sum()),
        float(moved.max()),
    )
    return SurveyMesh(mesh, active, draped, moved, flat)


def _base_shape(
    lo: np.ndarray, hi: np.ndarray, top: float, bottom: float, h: float, padding_distance: float
) -> list[int]:
    """Base-grid cells per axis: a power of two of ``h`` cells covering the core
    (horizontal box [lo, hi], ``top`` down to ``bottom``) plus the padding."""
    shape = [_power_of_two(_n_cells(hi[a] - lo[a] + 2 * padding_distance, h)) for a in (0, 1)]
    shape.append(_power_of_two(_n_cells(top - bottom + padding_distance, h)))
    return shape


def _base_tree(
    shape: Sequence[int], lo: np.ndarray, hi: np.ndarray, top: float, h: float
) -> TreeMesh:
    """The unrefined TreeMesh of ``shape`` cells of width ``h``, centred horizontally on
    [lo, hi], its top face at ``top``."""
    centre = 0.5 * (lo + hi)  # a node of the base grid: every count is even
    origin = np.r_[centre - 0.5 * np.array(shape[:2]) * h, top - shape[2] * h]
    return TreeMesh([np.full(n, h) for n in shape], origin=origin, diagonal_balance=True)


def _refine_survey_tree(
    mesh: TreeMesh,
    electrodes: np.ndarray,
    surface,
    lo: np.ndarray,
    hi: np.ndarray,
    bottom: float,
    electrode_cells: int,
    surface_cells: Sequence[int],
    depth_cells: Sequence[int],
) -> None:
    """Refine the global mesh at the electrodes, over the core's surface and with depth
    under it (see the module docstring), then finalize it."""
    finest = mesh.max_level
    mesh.refine_points(
        _electrode_points(electrodes, surface),
        level=finest,
        padding_cells_by_level=[electrode_cells],
        finalize=False,
    )
    _refine_surface_zone(mesh, surface, lo, hi, finest, surface_cells)
    _refine_depth(mesh, surface, lo, hi, depth_cells, bottom)
    mesh.finalize()


def tile_octree(
    mesh: TreeMesh,
    surface_points: np.ndarray,
    points: np.ndarray,
    *,
    electrode_cells: int = 2,
    surface_cells: Sequence[int] = (4, 4, 4),
    surface_level_drop: int = 2,
    depth_cells: Sequence[int] = (4, 4, 4),
    core_depth: float = 0.0,
) -> TreeMesh:
    """The TreeMesh of one tile of sources, on the base grid of the global ``mesh``.

    mesh: the global (finalized) TreeMesh from ``octree_from_survey``; surface_points: the
    surface it was built on ((n, 3): the topography, else the survey's electrodes); points:
    (n, 3) the tile's electrodes, as measured (not draped). The tile mesh has the same
    origin and base cells (so both cover exactly the same domain), finest cells at and
    around ``points`` only (the global rule, so the cells at the tile's electrodes are the
    global mesh's), the surface ``surface_level_drop`` levels coarser over the area where
    the global mesh has its finest cells, and the depth grading under the tile's electrodes
    (down to at least ``core_depth`` below the lowest of them when it is > 0).
    ``electrode_cells`` must be the global mesh's for the cells at the tile's electrodes to
    be the global ones; the other keywords only set how coarse the rest of the tile is.
    """
    if mesh.dim != 3:
        raise DataError(f"tile octrees are 3D; the global mesh is {mesh.dim}D")
    points = _three_columns(points, "tile electrodes")
    surface = surface_function(_three_columns(surface_points, "surface points"))
    tile = TreeMesh(
        [np.asarray(w, float) for w in mesh.h], origin=mesh.origin, diagonal_balance=True
    )
    finest = tile.max_level
    h = float(mesh.h[0][0])
    tile.refine_points(
        _electrode_points(points, surface),
        level=finest,
        padding_cells_by_level=[electrode_cells],
        finalize=False,
    )
    # where the global mesh refined its surface to the finest level (its core and margin)
    fine = mesh.cell_levels_by_index(np.arange(mesh.n_cells)) == mesh.max_level
    centres = mesh.cell_centers[fine, :2]
    core_lo, core_hi = centres.min(axis=0) - 0.5 * h, centres.max(axis=0) + 0.5 * h
    _refine_surface_zone(
        tile, surface, core_lo, core_hi, finest - surface_level_drop, surface_cells
    )
    bottom = float(points[:, -1].min()) - core_depth if core_depth > 0 else None
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    _refine_depth(tile, surface, lo, hi, depth_cells, bottom)
    tile.finalize()
    return tile


def tree_active(mesh: TreeMesh, surface_points: np.ndarray) -> np.ndarray:
    """(n_cells,) bool: cells whose centre lies below the surface interpolated from
    ``surface_points`` ((n, dim), see ``surface_function``); the TensorMesh builder's rule.
    A flat surface at the top of the mesh leaves every cell active."""
    cc = mesh.cell_centers
    return cc[:, -1] < surface_function(surface_points)(cc[:, :-1])


def drape_on_tree(mesh: TreeMesh, active: np.ndarray, electrodes: np.ndarray) -> np.ndarray:
    """Electrodes (n, 3) moved vertically to the top face of the highest active cell whose
    horizontal footprint (closed: an electrode on a cell edge belongs to every cell there)
    contains them; (n, 3). Every cell of every column touching the electrode is then
    inactive above the draped point.
    """
    from scipy.spatial import cKDTree

    electrodes = _three_columns(electrodes, "electrodes")
    xy = electrodes[:, :2]
    tol = 1e-9 * float(min(np.min(w) for w in mesh.h))
    lo = np.asarray(mesh.origin[:2], float)
    hi = lo + np.array([np.sum(mesh.h[0]), np.sum(mesh.h[1])])
    outside = np.any((xy < lo - tol) | (xy > hi + tol), axis=1)
    if outside.any():
        e = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"electrode {e} at {electrodes[e].tolist()} is outside the mesh horizontally "
            f"({lo.tolist()} .. {hi.tolist()}); enlarge mesh.padding_distance"
        )
    centres = mesh.cell_centers[active]
    widths = mesh.h_gridded[active]
    tops = centres[:, 2] + 0.5 * widths[:, 2]
    best = np.full(len(xy), -np.inf)
    # one Chebyshev-ball query per footprint size: a footprint contains a point exactly when
    # the point is within half a width of the cell's centre along x and along y
    sizes, group = np.unique(widths[:, :2], axis=0, return_inverse=True)
    group = group.ravel()
    for g, size in enumerate(sizes):
        sel = group == g
        half = 0.5 * size
        hits = cKDTree(centres[sel, :2] / half).query_ball_point(xy / half, r=1 + 1e-9, p=np.inf)
        counts = np.fromiter((len(i) for i in hits), int, len(hits))
        if counts.any():
            owner = np.repeat(np.arange(len(xy)), counts)
            np.maximum.at(best, owner, tops[sel][np.concatenate(hits).astype(int)])
    missing = ~np.isfinite(best)
    if missing.any():
        e = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"electrode {e} at {electrodes[e].tolist()} has no ground cell below it; "
            f"check the topography"
        )
    out = electrodes.copy()
    out[:, 2] = best
    return out


def model_grid_mesh(
    mesh: TreeMesh,
    core_min: Sequence[float] | np.ndarray,
    core_max: Sequence[float] | np.ndarray,
    cell: float,
) -> TensorMesh:
    """A TensorMesh for the inversion's model over exactly the domain of ``mesh``.

    Uniform cubes of width ``cell`` (a multiple of the tree's finest cell) over the core box
    [core_min, core_max] (metres, (3,)), widened to whole cells whose faces lie on the
    tree's base grid: horizontally on multiples of ``cell`` from the origin, vertically from
    the top, so a cell of 2^k finest widths is exactly one tree cell of that size. The
    uniform cells reach the top of the mesh whatever ``core_max[2]`` says: the top of the
    grid is the top of the mesh, and the ground is where the data resolve most. Outside the
    core, padding cells growing by 1.5 fill the domain to its boundary, sideways and below.
    """
    core_min, core_max = np.asarray(core_min, float), np.asarray(core_max, float)
    h = np.array([float(np.min(w)) for w in mesh.h])
    ratio = cell / h
    if np.any(ratio < 1 - 1e-9) or np.any(np.abs(ratio - np.round(ratio)) > 1e-6):
        raise DataError(
            f"the model grid's cell ({cell:g} m) must be a whole multiple of the mesh's finest "
            f"cell ({h.tolist()} m)"
        )
    start = np.asarray(mesh.origin, float)
    end = start + np.array([np.sum(w) for w in mesh.h])
    tol = 1e-6
    hs = []
    for axis in range(3):
        room = (end[axis] - start[axis]) / cell  # whole cells that fit in the domain
        if axis < 2:
            i0 = int(np.floor((core_min[axis] - start[axis]) / cell + tol))
            i1 = int(np.ceil((core_max[axis] - start[axis]) / cell - tol))
            i0, i1 = max(i0, 0), min(i1, int(np.floor(room + tol)))
            below, above = i0 * cell, (end[axis] - start[axis]) - i1 * cell
            n_core = i1 - i0
        else:
            n_core = int(np.ceil((end[axis] - core_min[axis]) / cell - tol))
            n_core = min(max(n_core, 1), int(np.floor(room + tol)))
            below, above = (end[axis] - start[axis]) - n_core * cell, 0.0
        if n_core < 1:
            raise DataError(
                f"the model grid's core misses the mesh along axis {axis}: "
                f"{core_min[axis]:g} .. {core_max[axis]:g} m, mesh "
                f"{start[axis]:g} .. {end[axis]:g} m"
            )
        left = padding_cells(cell, MODEL_PAD_FACTOR, fill=below)[::-1]
        right = padding_cells(cell, MODEL_PAD_FACTOR, fill=above)
        hs.append(np.r_[left, np.full(n_core, cell), right])
    return TensorMesh(hs, origin=start)


def default_grid_cell(
    h: float,
    core_min: Sequence[float] | np.ndarray,
    core_max: Sequence[float] | np.ndarray,
    max_cells: int = DEFAULT_MAX_MODEL_CELLS,
) -> float:
    """The smallest of h, 2h, 4h, ... whose uniform core over [core_min, core_max] has at
    most ``max_cells`` cells, counting ceil(extent / cell) + 1 per axis (aligning to the base
    grid adds at most one), metres; so ``model_grid_mesh`` with it keeps to the bound when
    core_max[2] is the top of the mesh."""
    extent = np.asarray(core_max, float) - np.asarray(core_min, float)
    if np.any(extent <= 0):
        raise DataError(f"the model grid's core is empty: {core_min} .. {core_max}")
    cell = h
    while np.prod(np.ceil(extent / cell - 1e-9) + 1) > max_cells:
        cell *= 2
    return cell


def _refine_surface_zone(
    mesh: TreeMesh,
    surface,
    lo: np.ndarray,
    hi: np.ndarray,
    level: int,
    cells: Sequence[int],
) -> None:
    """Refine the surface over [lo, hi] (horizontal, metres) at ``level``, then ``cells[i]``
    cells of level ``level - i`` of margin sideways and below, cumulative like discretize's
    ``padding_cells_by_level``."""
    h = float(mesh.h[0][0])
    margin = 0.0
    for i, n in enumerate(cells):
        lv = level - i
        if lv < 2:  # discretize's refine_* silently skip levels under 2
            break
        size = h * 2.0 ** (mesh.max_level - lv)
        margin += n * size
        grid = _surface_grid(mesh, surface, lo - margin, hi + margin, size)
        # vertical padding only, in cells of this level: the margin sideways is in the grid
        mesh.refine_surface(
            grid, level=lv, padding_cells_by_level=[[0, 0, margin / size]], finalize=False
        )


def _refine_depth(
    mesh: TreeMesh,
    surface,
    lo: np.ndarray,
    hi: np.ndarray,
    cells: Sequence[int],
    bottom: float | None,
) -> None:
    """Grade the volume under [lo, hi] (horizontal) coarser with depth: ``cells[i]`` cells of
    level finest-1-i below the cells above them, the last level down to ``bottom`` at least
    (when given)."""
    h = float(mesh.h[0][0])
    depth = 0.0
    for i, n in enumerate(cells):
        lv = mesh.max_level - 1 - i
        if lv < 2:
            break
        size = h * 2.0 ** (i + 1)
        grid = _surface_grid(mesh, surface, lo, hi, size)
        depth += n * size
        last = i == len(cells) - 1 or lv == 2
        if last and bottom is not None:
            depth = max(depth, float(grid[:, 2].max()) - bottom)
        mesh.refine_surface(
            grid, level=lv, padding_cells_by_level=[[0, 0, depth / size]], finalize=False
        )


def _surface_grid(
    mesh: TreeMesh, surface, lo: np.ndarray, hi: np.ndarray, spacing: float
) -> np.ndarray:
    """(n, 3) points of the surface on a regular grid of ``spacing`` (the cell size of the
    level being refined) over [lo, hi] (horizontal, metres, clipped to the mesh): what
    ``refine_surface`` triangulates. Sampling a coarser level at the finest spacing gave
    the same cells for 4^k times the triangles (refine_surface is Python per triangle:
    64 tiles of a 5,000-electrode grid took 413 s in it, measured)."""
    h = spacing
    start = np.asarray(mesh.origin[:2], float)
    end = start + np.array([np.sum(mesh.h[0]), np.sum(mesh.h[1])])
    # a single line of electrodes has no width, and a flat strip cannot be triangulated
    short = hi - lo < h
    lo, hi = np.where(short, lo - 0.5 * h, lo), np.where(short, hi + 0.5 * h, hi)
    lo, hi = np.maximum(lo, start), np.minimum(hi, end)
    axes = [np.linspace(a, b, max(2, int(np.ceil((b - a) / h - 1e-9)) + 1)) for a, b in zip(lo, hi)]
    x, y = np.meshgrid(*axes, indexing="ij")
    xy = np.c_[x.ravel(), y.ravel()]
    return np.c_[xy, surface(xy)]


def _electrode_points(electrodes: np.ndarray, surface) -> np.ndarray:
    """The electrodes and the surface points above or below them, where draping puts them:
    both get the finest cells, even when the electrodes' elevations disagree with the
    topography."""
    on_surface = np.c_[electrodes[:, :2], surface(electrodes[:, :2])]
    return np.r_[electrodes, on_surface]


def _three_columns(points, what: str) -> np.ndarray:
    points = np.asarray(points, float)
    if points.ndim != 2 or points.shape[1] != 3:
        raise DataError(
            f"octree meshes are 3D: {what} must be (n, 3) arrays of x, y, z, got shape "
            f"{points.shape} (use mesh_from_survey for 2D surveys)"
        )
    return points


def _n_cells(length: float, h: float) -> int:
    """Cells of width h that cover ``length`` (a millionth of a cell of slack)."""
    return max(1, int(np.ceil(length / h - 1e-6)))


def _power_of_two(n: int) -> int:
    """The smallest power of two >= n (>= 2, so the centre of the count is a node)."""
    return max(2, 1 << (int(n) - 1).bit_length())
