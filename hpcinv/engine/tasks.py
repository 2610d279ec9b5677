"""The per-tile tasks and the per-process tile cache: what runs for one tile, wherever it runs.

Task functions take plain inputs (a ``TileSpec``, the model vector, a residual vector) and a
``TileCache``, and return plain outputs (floats, numpy arrays, dicts). The serial executor
calls them in its own process with its own cache; Dask workers call the very same functions
with the cache their worker plugin holds (``hpcinv.engine.worker``). The simulation, its
factors and fields stay in the cache and are never pickled (``TilePhysics`` refuses). A
process that lost its cache (a restart, a replacement worker) rebuilds a tile from its spec.

Every task reports, per tile, what it cost: seconds, factorizations, factor and solve
seconds, solved columns, factor-cache hits, and where it ran. Executors add these up the
same way, so their counters mean the same.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from hpcinv.physics import FactorCache, TilePhysics, blas_threads
from hpcinv.physics.memory import check_fits
from hpcinv.tiles import TileSpec

log = logging.getLogger(__name__)

#: the per-tile statistics every task reports, and the counters executors sum from them
STAT_KEYS = ("seconds", "factorizations", "factor_seconds", "solve_seconds", "solves", "hits")

T = TypeVar("T")


class TileCache:
    """One process's tiles: a ``TilePhysics`` per tile digest, sharing one ``FactorCache``.

    ``where`` names the process in the statistics (a worker address, or "serial");
    ``delay`` (seconds) stalls every task, so tests can kill a worker mid-iteration.
    """

    def __init__(self, where: str = "serial", delay: float = 0.0):
        self.where, self.delay = where, delay
        self.factors = FactorCache()
        self.tiles: dict[str, TilePhysics] = {}
        self.builds = 0
        #: per tile digest: (model digest, its data, its rows of J) kept for products
        self.jacobians: dict[str, tuple[bytes, np.ndarray, np.ndarray]] = {}

    def physics(self, spec: TileSpec) -> TilePhysics:
        physics = self.tiles.get(spec.digest)
        if physics is None:
            physics = self.tiles[spec.digest] = TilePhysics(spec, self.factors)
            self.builds += 1
            log.debug("built tile %d (%s) in %s", spec.index, spec.digest, self.where)
        return physics

    def clear(self) -> None:
        self.factors.clear()
        self.tiles.clear()
        self.jacobians.clear()

    def state(self) -> dict:
        """What this cache holds (tile digests, builds) and its factor counters."""
        return {"tiles": sorted(self.tiles), "builds": self.builds, **self.factors.counters()}


def _run(spec: TileSpec, cache: TileCache, work: Callable[[TilePhysics], dict]) -> dict:
    if cache.delay:
        time.sleep(cache.delay)
    t0 = time.perf_counter()
    physics = cache.physics(spec)
    counts = cache.factors
    before = (
        physics.factorizations,
        physics.timings.factor,
        physics.timings.solve,
        counts.solves,
        counts.hits,
    )
    out = work(physics)
    out["tiles"] = {
        spec.index: {
            "seconds": time.perf_counter() - t0,
            "factorizations": physics.factorizations - before[0],
            "factor_seconds": physics.timings.factor - before[1],
            "solve_seconds": physics.timings.solve - before[2],
            "solves": counts.solves - before[3],
            "hits": counts.hits - before[4],
            "worker": cache.where,
        }
    }
    return out


def tile_misfit_and_gradient(spec: TileSpec, m: np.ndarray, cache: TileCache) -> dict:
    """{"phi", "g", "tiles"} of a tile that owns its data rows: phi = 0.5 ||W r||^2 and
    g = dphi/dm (n_cells,) on the model grid."""

    def work(physics: TilePhysics) -> dict:
        phi, g = physics.misfit_and_gradient(m)
        return {"phi": phi, "g": g}

    return _run(spec, cache, work)


def tile_predict(spec: TileSpec, m: np.ndarray, cache: TileCache) -> dict:
    """{"rows", "d", "tiles"}: the tile's (partial) data, V/A, for its data rows."""
    return _run(spec, cache, lambda physics: {"rows": spec.data_rows, "d": physics.predict(m)})


def tile_reserve(spec: TileSpec, models: int, cache: TileCache) -> dict:
    """Keep the factors of ``models`` models a tile in this process (an ensemble's members
    are all in flight at once); {"tiles": {}} (no work, no statistics)."""
    cache.factors.reserve(models)
    return {"tiles": {}}


def tile_jtvec(spec: TileSpec, m: np.ndarray, v: np.ndarray, cache: TileCache) -> dict:
    """{"phi": 0, "g", "tiles"}: J^T v of the tile for the global dphi/dd ``v`` (n_data,)."""
    return _run(spec, cache, lambda physics: {"phi": 0.0, "g": physics.jtvec(m, v[spec.data_rows])})


def tile_sensitivity(spec: TileSpec, m: np.ndarray, w: np.ndarray, cache: TileCache) -> dict:
    """The tile's sensitivities on the model grid for data weights ``w`` (n_data,) = 1 /
    uncertainty: {"coverage": sum_j w_j |J_j|, "diag": sum_j (w_j J_j)^2, "tiles"} (n_grid,)
    each; a tile holding only some wavenumbers of its data cannot take |.| of its share, so
    it returns {"rows", "J": (n_data, n_grid) its share of J, "tiles"} instead."""

    def work(physics: TilePhysics) -> dict:
        if spec.partial_data:
            return {"rows": spec.data_rows, "J": _rows(physics, m, np.float64)}
        weights = w[spec.data_rows]
        coverage = diag = 0.0
        for rows, Jt in physics.sensitivity_blocks(m):
            WJt = Jt * weights[rows]
            coverage = coverage + np.abs(WJt).sum(axis=1)
            diag = diag + (WJt * WJt).sum(axis=1)
        return {"coverage": coverage, "diag": diag}

    return _run(spec, cache, work)


def _rows(physics: TilePhysics, m: np.ndarray, dtype) -> np.ndarray:
    """The tile's rows of J = d(data)/dm (n_data, n_grid), its share of them for a
    wavenumber tile."""
    J = np.empty((physics.spec.n_data, np.size(m)), dtype=dtype)
    for rows, Jt in physics.sensitivity_blocks(m):
        J[rows] = Jt.T
    return J


def tile_jacobian(spec: TileSpec, m: np.ndarray, dtype: str, cache: TileCache) -> dict:
    """{"rows", "d", "J", "tiles"}: the tile's (partial) data and its rows of J (``dtype``:
    float32 halves what travels and what the driver holds), from one factorization."""

    def work(physics: TilePhysics) -> dict:
        return {"rows": spec.data_rows, "d": physics.predict(m), "J": _rows(physics, m, dtype)}

    return _run(spec, cache, work)


def _kept(physics: TilePhysics, cache: TileCache, m: np.ndarray, dtype) -> tuple:
    """(d, J rows) of the tile at m, kept in ``cache`` for the products that follow (one
    model's at a time); made anew where this process does not hold them (a replacement
    worker, another model)."""
    spec = physics.spec
    key = model_digest(m)
    held = cache.jacobians.get(spec.digest)
    if held is None or held[0] != key or held[2].dtype != np.dtype(dtype):
        cache.jacobians.pop(spec.digest, None)  # the old rows go before the new are made
        check_fits(
            f"tile {spec.index}'s rows of J",
            spec.n_data * np.size(m) * np.dtype(dtype).itemsize,
            f"{spec.n_data} data x {np.size(m)} model-grid cells in {dtype}, kept for products",
        )
        held = (key, physics.predict(m), _rows(physics, m, dtype))
        cache.jacobians[spec.digest] = held
    return held[1], held[2]


def tile_keep_jacobian(spec: TileSpec, m: np.ndarray, dtype: str, cache: TileCache) -> dict:
    """{"rows", "d", "tiles"}: the tile's (partial) data; its rows of J stay in this
    process for ``tile_kept_jvec``/``tile_kept_jtvec`` (nothing of J's size travels)."""

    def work(physics: TilePhysics) -> dict:
        d, _ = _kept(physics, cache, m, dtype)
        return {"rows": spec.data_rows, "d": d}

    return _run(spec, cache, work)


def _on_kept(
    spec: TileSpec, m: np.ndarray, dtype: str, cache: TileCache, product: Callable
) -> dict:
    """``product(J)`` of the tile's kept rows of J at m (made again where they are gone), on
    the tile's BLAS threads like its solves: a product's sums then run in the same order
    serially and on a worker (the driver's default threads once made them differ by 3e-16,
    and SimPEG's IRLS by 6e-4 in chi after two iterations)."""

    def work(physics: TilePhysics) -> dict:
        J = _kept(physics, cache, m, dtype)[1]
        with blas_threads(spec.blas_threads):
            return product(J)

    return _run(spec, cache, work)


def tile_kept_jvec(
    spec: TileSpec, m: np.ndarray, dtype: str, v: np.ndarray, cache: TileCache
) -> dict:
    """{"rows", "d": J v, "tiles"}: the tile's (partial) rows of J v, v (n_grid,)."""
    return _on_kept(
        spec,
        m,
        dtype,
        cache,
        lambda J: {"rows": spec.data_rows, "d": (J @ v.astype(J.dtype)).astype(np.float64)},
    )


def tile_kept_jtvec(
    spec: TileSpec, m: np.ndarray, dtype: str, u: np.ndarray, cache: TileCache
) -> dict:
    """{"phi": 0, "g": J^T u, "tiles"} of the tile for u (n_data,), summed over tiles."""
    rows = spec.data_rows
    return _on_kept(
        spec,
        m,
        dtype,
        cache,
        lambda J: {"phi": 0.0, "g": (J.T @ u[rows].astype(J.dtype)).astype(np.float64)},
    )


def tile_kept_sensitivity(
    spec: TileSpec, m: np.ndarray, dtype: str, w: np.ndarray, cache: TileCache
) -> dict:
    """``tile_sensitivity``'s answer from the kept rows of J (no solve)."""

    def product(J: np.ndarray) -> dict:
        if spec.partial_data:
            return {"rows": spec.data_rows, "J": J.astype(np.float64)}
        WJ = J.astype(np.float64) * w[spec.data_rows, None]
        return {"coverage": np.abs(WJ).sum(axis=0), "diag": (WJ * WJ).sum(axis=0)}

    return _on_kept(spec, m, dtype, cache, product)


def model_digest(m: np.ndarray) -> bytes:
    """A digest of m's exact values (a tile's kept J is for exactly one model)."""
    return hashlib.blake2b(np.ascontiguousarray(m, dtype=np.float64).tobytes()).digest()


def add_results(a: dict, b: dict) -> dict:
    """The sum of two tile results: phi and g added, per-tile statistics merged."""
    return {"phi": a["phi"] + b["phi"], "g": a["g"] + b["g"], "tiles": {**a["tiles"], **b["tiles"]}}


def pairwise_reduce(items: list[T], add: Callable[[T, T], T]) -> T:
    """Sum ``items`` in the pairing every executor uses: (0+1), (2+3), ... level by level,
    an odd last item carried up. Floating-point sums depend on their order; one order for
    all executors makes the Dask executor's results bitwise equal to the serial one's."""
    items = list(items)
    while len(items) > 1:
        paired = [add(a, b) for a, b in zip(items[::2], items[1::2])]
        items = paired + ([items[-1]] if len(items) % 2 else [])
    return items[0]
