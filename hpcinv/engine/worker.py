"""What lives on a Dask worker: the tile cache plugin, and the adapter that runs a tile task
(``engine.tasks``) with the worker's cache.

A worker that joined without the plugin, or lost it in a restart, gets a fresh cache on its
first task and rebuilds tiles from their specs.
"""

from __future__ import annotations

from collections.abc import Callable

from distributed import WorkerPlugin, get_worker

from hpcinv.engine.tasks import TileCache
from hpcinv.physics.memory import set_memory_limit
from hpcinv.tiles import TileSpec

PLUGIN_NAME = "hpcinv-tile-cache"


class TileCachePlugin(WorkerPlugin):
    """Per worker: one ``TileCache`` (its ``TilePhysics`` per tile and their factors).

    ``delay`` (seconds) stalls every tile task; tests use it to kill a worker mid-iteration.
    """

    name = PLUGIN_NAME

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def setup(self, worker):
        self.worker = worker
        self.cache = TileCache(worker.address, delay=self.delay)
        # factorizations check their need against the worker's limit, not the machine's
        set_memory_limit(getattr(worker.memory_manager, "memory_limit", None))

    def teardown(self, worker):
        self.cache.clear()


def _cache() -> TileCache:
    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, TileCachePlugin):  # a worker that joined without the plugin
        plugin = TileCachePlugin()
        plugin.setup(worker)
        worker.plugins[PLUGIN_NAME] = plugin
    return plugin.cache


def run_tile_task(func: Callable[..., dict], spec: TileSpec, *args) -> dict:
    """What a Dask task runs: the tile task ``func`` with this worker's cache."""
    return func(spec, *args, _cache())


def set_delay(dask_worker, delay: float) -> None:
    """(For ``client.run``) stall this worker's tile tasks by ``delay`` seconds."""
    dask_worker.plugins[PLUGIN_NAME].cache.delay = delay


def worker_state(dask_worker) -> dict:
    """(For ``client.run``) what this worker's cache holds."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    return {} if plugin is None else plugin.cache.state()
