"""The Dask executor: tiles on Dask-distributed workers, the same orchestration and numbers
as ``SerialExecutor`` (``TileExecutor`` with a ``DaskBackend``).

Per model: ``m`` is broadcast to every worker once (``scatter(broadcast=True, hash=False)``),
one task per tile computes (phi_i, g_i) from the tile's one factorization (cached on the
worker), the gradients are summed pairwise on the workers and one vector comes back. 2.5D
wavenumber tiles need every tile's data before any residual exists: a forward round (the
partial data, n_data floats per tile), then a gradient round that reuses the cached factors.

Tile i is pinned to one worker (round-robin) so its simulation is built once. With more
workers than tiles, each tile gets ``workers // tiles`` home workers (replicas): model k of
a batch (an ensemble's member k) goes to replica k mod R, so the members fill the workers
the tiles leave idle; each replica builds the tile once and keeps the factors of its own
models. If a home worker dies the scheduler runs the task elsewhere
(``allow_other_workers``) and that worker rebuilds the tile from its spec; once a worker that
is nobody's home has joined (a Slurm job replacing a lost or retired one), the departed
homes' tiles move to it (looked for at most every ``REHOME_SECONDS``), so a replacement
takes the work back instead of idling while the survivors carry two shares. Work stealing
is stopped on the scheduler: loose restrictions let an idle worker steal a queued tile
task, which then builds the tile and factors it a second time (and holds a second copy of
its factors). CI caught it as a tile factored twice per model with 3 tiles on 2 workers.

Scattered data are not recomputable, and a worker's death can make the scheduler forget
them even when replicated (dask/distributed#3149). Specs therefore live in the graph as
tasks (recomputable), and an iteration whose scattered model was lost is recomputed with
the model inside the tasks themselves: a retry, the same numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

import numpy as np

from hpcinv.engine.executor import Share, TileExecutor
from hpcinv.engine.placement import replica_homes, replica_of
from hpcinv.engine.plan import check_tiles_fit
from hpcinv.engine.tasks import add_results, pairwise_reduce
from hpcinv.engine.worker import PLUGIN_NAME, TileCachePlugin, run_tile_task
from hpcinv.errors import TileError
from hpcinv.problem import Problem

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
SMALL_TRAFFIC_BYTES = 8 * 2**20
#: Seconds between looks at the scheduler's workers for homes that left (one round trip).
REHOME_SECONDS = 10.0


class DaskBackend:
    """Tile tasks on ``client``'s workers, each tile pinned to a home worker."""

    def __init__(
        self,
        problem: Problem,
        client,
        *,
        plugin: TileCachePlugin | None = None,
        worker_memory: float | None = None,
        small_traffic_bytes: int = SMALL_TRAFFIC_BYTES,
    ):
        self.scatter_models = (
            8 * problem.model_grid.n_cells * len(problem.tiles) > small_traffic_bytes
        )
        self.client = client
        #: scattered first; a call whose scattered array was lost again with the arrays
        #: inside the tasks (``CancelledError``: the scheduler forgot the data)
        self.sharers: tuple[Share, ...] = (self._scatter, _identity)
        self.lost_data: tuple[type[BaseException], ...] = (CancelledError,)
        info = client.scheduler_info()["workers"]
        workers = sorted(info)
        if not workers:
            raise TileError("the Dask cluster has no workers; start some or use --workers N")
        self._n_workers = len(workers)
        limits = [w.get("memory_limit") or 0 for w in info.values()]
        check_tiles_fit(problem.tiles, worker_memory or (min(limits) if all(limits) else None))
        client.register_plugin(plugin or TileCachePlugin(), name=PLUGIN_NAME)
        if client.run_on_scheduler(_stop_work_stealing):
            log.info("stopped the scheduler's work stealing: tiles stay on their workers")
        #: tile index -> the workers that hold its replicas (``engine.placement``)
        self.homes = {
            spec.index: [workers[w] for w in homes]
            for spec, homes in zip(problem.tiles, replica_homes(len(problem.tiles), len(workers)))
        }
        #: tile index -> the worker of its first replica (where single models go)
        self.home = {index: homes[0] for index, homes in self.homes.items()}
        self._looked = time.monotonic()
        # specs go to the workers once, as tasks the scheduler can recompute after a loss
        self._specs = {
            s.index: client.submit(
                _identity,
                s,
                key=f"hpcinv-tile-{s.digest}",
                workers=[self.home[s.index]],
                allow_other_workers=True,
            )
            for s in problem.tiles
        }

    @property
    def n_workers(self) -> int:
        """The workers the tiles were placed on. Counted once: ``scheduler_info()`` asks the
        scheduler, and the checkpoint after a stop signal (which may have ended the
        scheduler too) must not wait for one that is gone."""
        return self._n_workers

    def map_tiles(self, func: Callable[..., dict], args: tuple, replica: int = 0) -> list[Any]:
        if time.monotonic() - self._looked >= REHOME_SECONDS:
            self.rehome()
        return [
            self.client.submit(
                run_tile_task,
                func,
                self._specs[i],
                *args,
                workers=[self.homes[i][replica_of(replica, len(self.homes[i]))]],
                allow_other_workers=True,
                pure=False,
            )
            for i in self._specs
        ]

    def rehome(self) -> None:
        """Move the replicas of homes that left the cluster to workers that are nobody's
        home (in address order, round robin); without such a worker, leave them (the
        scheduler runs their tasks where their tile's spec is). Placement only: the numbers
        are the same wherever a tile runs."""
        self._looked = time.monotonic()
        try:
            current = sorted(self.client.scheduler_info()["workers"])
        except Exception:  # noqa: BLE001 - a scheduler that does not answer: the next look
            return
        homes = {w for replicas in self.homes.values() for w in replicas}
        gone = sorted(homes - set(current))
        newcomers = [w for w in current if w not in homes]
        if not gone or not newcomers:
            return
        moved = {old: newcomers[k % len(newcomers)] for k, old in enumerate(gone)}
        self.homes = {i: [moved.get(w, w) for w in ws] for i, ws in self.homes.items()}
        self.home = {index: homes[0] for index, homes in self.homes.items()}
        log.info("tiles of workers that left move to the new ones: %s", moved)

    def gather(self, handles: list[Any]) -> list[dict]:
        return self.client.gather(handles)

    def tree_sum(self, handles: list[Any]) -> dict:
        # the pairing of ``pairwise_reduce`` (bitwise equal to the serial executor's sums);
        # every level's futures stay referenced until the sum arrives: if a worker dies
        # holding a partial sum, the scheduler recomputes it from its (still wanted) inputs
        if not self.scatter_models:
            return pairwise_reduce(self.client.gather(handles), add_results)
        held = list(handles)
        futures = list(handles)
        while len(futures) > 1:
            paired = [
                self.client.submit(add_results, a, b, pure=False)
                for a, b in zip(futures[::2], futures[1::2])
            ]
            futures = paired + ([futures[-1]] if len(futures) % 2 else [])
            held += paired
        result = futures[0].result()
        del held
        return result

    def _scatter(self, array: np.ndarray):
        if not self.scatter_models:
            return array
        return self.client.scatter(array, broadcast=True, hash=False)

    def close(self) -> None:
        self._specs.clear()


class DaskExecutor(TileExecutor):
    """The batched calls of ``Executor`` for ``problem`` on ``client``'s workers.

    ``worker_memory`` (bytes) overrides the workers' own memory limit in the check that
    refuses, before any solve, tiles too large for a worker. ``small_traffic_bytes``: see
    ``SMALL_TRAFFIC_BYTES`` (0 always scatters).
    """

    backend: DaskBackend

    def __init__(self, problem: Problem, client, **options):
        """``options``: those of ``DaskBackend`` (``plugin``, ``worker_memory``,
        ``small_traffic_bytes``)."""
        super().__init__(problem, DaskBackend(problem, client, **options))

    @property
    def client(self):
        return self.backend.client

    @property
    def scatter_models(self) -> bool:
        return self.backend.scatter_models
