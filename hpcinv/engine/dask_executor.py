"""The Dask executor: tiles on Dask-distributed workers, the same interface and numbers as
``SerialExecutor``.

Per model: ``m`` is broadcast to every worker once (``scatter(broadcast=True, hash=False)``),
one task per tile computes (phi_i, g_i) from the tile's one factorization (cached on the
worker), the gradients are summed pairwise on the workers and one vector comes back. 2.5D
wavenumber tiles need every tile's data before any residual exists: a forward round (the
partial data, n_data floats per tile), then a gradient round that reuses the cached factors.

Tile i is pinned to one worker (round-robin) so its simulation is built once; if that
worker dies the scheduler runs the task elsewhere (``allow_other_workers``) and that worker
rebuilds the tile from its spec. Work stealing is stopped on the scheduler: loose
restrictions let an idle worker steal a queued tile task, which then builds the tile and
factors it a second time (and holds a second copy of its factors). CI caught it as a tile
factored twice per model with 3 tiles on 2 workers.

Scattered data are not recomputable, and a worker's death can make the scheduler forget
them even when replicated (dask/distributed#3149). Specs therefore live in the graph as
tasks (recomputable), and an iteration whose scattered model was lost is recomputed with
the model inside the tasks themselves: a retry, the same numbers.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import CancelledError

import numpy as np

from hpcinv.engine.plan import check_tiles_fit
from hpcinv.problem.problem import Problem
from hpcinv.errors import TileError
from hpcinv.engine.serial import check_model, pairwise_reduce, residuals
from hpcinv.engine.worker import (PLUGIN_NAME, TileCachePlugin, add_results, tile_jtvec,
                                  tile_misfit_and_gradient, tile_predict)

log = logging.getLogger(__name__)


def _identity(x):
    return x


async def _stop_work_stealing(dask_scheduler) -> bool:
    """(For ``run_on_scheduler``) stop the scheduler's work stealing; True if it was on."""
    stealing = dask_scheduler.extensions.get("stealing")
    if stealing is None or "stealing" not in dask_scheduler.periodic_callbacks:
        return False
    await stealing.stop()
    return True


def work_stealing_active(dask_scheduler) -> bool:
    """(For ``run_on_scheduler``) whether the scheduler still balances by stealing."""
    return "stealing" in dask_scheduler.periodic_callbacks


#: Bytes of model sent per iteration (model x tiles) up to which arrays travel inside the tasks
#: and the tile results are summed in this process. Scattering first and summing on the
#: workers costs extra round trips that dominate small problems: on paper-1.1 (55 kB model,
#: 2 wavenumber tiles, 2 workers) they made the 2-worker iteration only 1.38x faster than the
#: 1-worker one. Above it (large 3D models, many tiles) the model is scattered once, and the
#: gradients are summed on the workers, not all shipped to this process.
SMALL_TRAFFIC_BYTES = 8 * 2 ** 20


class DaskExecutor:
    """``predict(m)`` and ``misfit_and_gradient(m)`` of ``problem`` on ``client``'s workers."""

    def __init__(self, problem: Problem, client, *, plugin: TileCachePlugin | None = None,
                 worker_memory: float | None = None,
                 small_traffic_bytes: int = SMALL_TRAFFIC_BYTES):
        """``worker_memory`` (bytes) overrides the workers' own memory limit in the check
        that refuses, before any solve, tiles too large for a worker.
        ``small_traffic_bytes``: see ``SMALL_TRAFFIC_BYTES`` (0 always scatters)."""
        self.problem = problem
        self.scatter_models = (8 * problem.model_grid.n_cells * len(problem.tiles)
                               > small_traffic_bytes)
        self.client = client
        info = client.scheduler_info()["workers"]
        workers = sorted(info)
        if not workers:
            raise TileError("the Dask cluster has no workers; start some or use --workers N")
        limits = [w.get("memory_limit") or 0 for w in info.values()]
        check_tiles_fit(problem.tiles, worker_memory or (min(limits) if all(limits) else None))
        client.register_plugin(plugin or TileCachePlugin(), name=PLUGIN_NAME)
        if client.run_on_scheduler(_stop_work_stealing):
            log.info("stopped the scheduler's work stealing: tiles stay on their workers")
        self._home = {spec.index: workers[i % len(workers)]
                      for i, spec in enumerate(problem.tiles)}
        # specs go to the workers once, as tasks the scheduler can recompute after a loss
        self._specs = {s.index: client.submit(_identity, s, key=f"hpcinv-tile-{s.digest}",
                                              workers=[self._home[s.index]],
                                              allow_other_workers=True)
                       for s in problem.tiles}
        self._partial = any(s.partial_data for s in problem.tiles)
        self.tile_stats: dict[int, dict] = {}
        self.totals = {"factorizations": 0, "solve_seconds": 0.0}
        self.per_tile_factorizations: dict[int, int] = {}
        self.last_seconds: dict = {}

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def _per_tile(self, func, *args):
        return [self.client.submit(func, self._specs[i], *args, workers=[self._home[i]],
                                   allow_other_workers=True, pure=False)
                for i in self._specs]

    def _tree_sum(self, futures):
        # the pairing of ``pairwise_reduce`` (bitwise equal to the serial executor's sums);
        # every level's futures stay referenced until the sum arrives: if a worker dies
        # holding a partial sum, the scheduler recomputes it from its (still wanted) inputs
        if not self.scatter_models:
            return pairwise_reduce(self.client.gather(futures), add_results)
        held = list(futures)
        while len(futures) > 1:
            paired = [self.client.submit(add_results, a, b, pure=False)
                      for a, b in zip(futures[::2], futures[1::2])]
            futures = paired + ([futures[-1]] if len(futures) % 2 else [])
            held += paired
        result = futures[0].result()
        del held
        return result

    def _record(self, tiles: dict) -> None:
        for index, stats in tiles.items():
            self.tile_stats[index] = stats
            self.totals["factorizations"] += stats["factorizations"]
            self.totals["solve_seconds"] += stats["solve_seconds"]
            self.per_tile_factorizations[index] = (self.per_tile_factorizations.get(index, 0)
                                                   + stats["factorizations"])

    def _scatter(self, array: np.ndarray):
        if not self.scatter_models:
            return array
        return self.client.scatter(array, broadcast=True, hash=False)

    def predict(self, m: np.ndarray) -> np.ndarray:
        m = check_model(self.problem, m)
        try:
            parts = self.client.gather(self._per_tile(tile_predict, self._scatter(m)))
        except CancelledError:
            parts = self.client.gather(self._per_tile(tile_predict, m))
        d = np.zeros(self.problem.n_data)
        for part in parts:
            d[part["rows"]] += part["d"]
            self._record(part["tiles"])
        return d

    def misfit_and_gradient(self, m: np.ndarray) -> tuple[float, np.ndarray]:
        m = check_model(self.problem, m)
        t0 = time.perf_counter()
        try:
            phi, total = self._misfit_and_gradient(self._scatter(m), scatter=self.scatter_models)
        except CancelledError:
            log.warning("a worker was lost with this iteration's scattered data; recomputing "
                        "the iteration with the model inside the tasks")
            phi, total = self._misfit_and_gradient(m, scatter=False)
        self._record(total["tiles"])
        self.last_seconds = {"total": time.perf_counter() - t0,
                             "per_tile": {i: s["seconds"] for i, s in total["tiles"].items()}}
        return phi, self.problem.mask_gradient(total["g"])

    def _misfit_and_gradient(self, m_future, scatter: bool):
        if self._partial:
            parts = self.client.gather(self._per_tile(tile_predict, m_future))
            d = np.zeros(self.problem.n_data)
            for part in parts:
                d[part["rows"]] += part["d"]
                self._record(part["tiles"])
            r, v = residuals(self.problem, d)
            v_future = self._scatter(v) if scatter else v
            total = self._tree_sum(self._per_tile(tile_jtvec, m_future, v_future))
            return 0.5 * float(r @ r), total
        total = self._tree_sum(self._per_tile(tile_misfit_and_gradient, m_future))
        return float(total["phi"]), total

    def counters(self) -> dict:
        """Factorizations and factor+solve seconds summed over tiles, as ``SerialExecutor``."""
        return {"factorizations": self.totals["factorizations"],
                "factor_seconds": 0.0, "solve_seconds": self.totals["solve_seconds"],
                "per_tile_factorizations": dict(self.per_tile_factorizations)}

    def close(self) -> None:
        self._specs.clear()
