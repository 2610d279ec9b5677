"""What runs on a Dask worker: the tile cache plugin and the per-tile tasks.

Tasks receive only plain inputs (a ``TileSpec``, the model vector, a residual vector) and
return plain outputs (floats, numpy arrays, dicts). The simulation, its factors and fields
live in the worker's ``TileCachePlugin`` and are never pickled (``TilePhysics`` refuses).
A worker that lost its cache (a restart, a replacement) rebuilds a tile from its spec.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from distributed import WorkerPlugin, get_worker

from hpcinv.physics import FactorCache, TilePhysics
from hpcinv.tiles import TileSpec

PLUGIN_NAME = "hpcinv-tile-cache"

log = logging.getLogger(__name__)


class TileCachePlugin(WorkerPlugin):
    """Per worker: one ``TilePhysics`` per tile digest, sharing one ``FactorCache``.

    ``delay`` (seconds) stalls every tile task; tests use it to kill a worker mid-iteration.
    """

    name = PLUGIN_NAME

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def setup(self, worker):
        self.worker = worker
        self.cache = FactorCache()
        self.tiles: dict[str, TilePhysics] = {}
        self.builds = 0

    def teardown(self, worker):
        self.cache.clear()
        self.tiles.clear()

    def physics(self, spec: TileSpec) -> TilePhysics:
        physics = self.tiles.get(spec.digest)
        if physics is None:
            physics = self.tiles[spec.digest] = TilePhysics(spec, self.cache)
            self.builds += 1
            log.info("built tile %d (%s) on %s", spec.index, spec.digest, self.worker.address)
        return physics


def _plugin() -> TileCachePlugin:
    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if plugin is None:  # a worker that joined without the plugin (should not happen)
        plugin = TileCachePlugin()
        plugin.setup(worker)
        worker.plugins[PLUGIN_NAME] = plugin
    return plugin


def _run(spec: TileSpec, work) -> dict:
    plugin = _plugin()
    if plugin.delay:
        time.sleep(plugin.delay)
    t0 = time.perf_counter()
    physics = plugin.physics(spec)
    before = (physics.factorizations, physics.timings.factor + physics.timings.solve)
    out = work(physics)
    out["tiles"] = {spec.index: {
        "seconds": time.perf_counter() - t0,
        "factorizations": physics.factorizations - before[0],
        "solve_seconds": physics.timings.factor + physics.timings.solve - before[1],
        "worker": plugin.worker.address,
    }}
    return out


def tile_misfit_and_gradient(spec: TileSpec, m: np.ndarray) -> dict:
    """{"phi", "g", "tiles"} of a tile that owns its data rows."""
    def work(physics):
        phi, g = physics.misfit_and_gradient(m)
        return {"phi": phi, "g": g}
    return _run(spec, work)


def tile_predict(spec: TileSpec, m: np.ndarray) -> dict:
    """{"rows", "d", "tiles"}: the tile's (partial) data."""
    return _run(spec, lambda physics: {"rows": spec.data_rows, "d": physics.predict(m)})


def tile_jtvec(spec: TileSpec, m: np.ndarray, v: np.ndarray) -> dict:
    """{"phi": 0, "g", "tiles"}: J^T v of the tile for the global dphi/dd ``v`` (n_data,)."""
    return _run(spec, lambda physics: {"phi": 0.0, "g": physics.jtvec(m, v[spec.data_rows])})


def add_results(a: dict, b: dict) -> dict:
    """Pairwise reduction on the workers: sums phi and g, merges per-tile statistics."""
    return {"phi": a["phi"] + b["phi"], "g": a["g"] + b["g"], "tiles": {**a["tiles"], **b["tiles"]}}


def set_delay(dask_worker, delay: float) -> None:
    """(For ``client.run``) stall this worker's tile tasks by ``delay`` seconds."""
    dask_worker.plugins[PLUGIN_NAME].delay = delay


def worker_state(dask_worker) -> dict:
    """(For ``client.run``) what this worker's cache holds."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    if plugin is None:
        return {}
    return {"tiles": sorted(plugin.tiles), "builds": plugin.builds,
            **plugin.cache.counters()}
