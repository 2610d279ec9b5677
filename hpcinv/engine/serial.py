"""The serial executor: every tile in this process, one after another. The reference the
Dask executor must match exactly; it runs the same task functions Dask ships."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hpcinv.engine.executor import Share, TileExecutor
from hpcinv.engine.tasks import TileCache, add_results, pairwise_reduce
from hpcinv.problem import Problem


def _identity(array: np.ndarray) -> np.ndarray:
    return array


class SerialBackend:
    """Calls each tile task here, in tile order, with this process's ``TileCache``."""

    #: arrays go into the calls as they are; nothing shared can be lost here
    sharers: tuple[Share, ...] = (_identity,)
    lost_data: tuple[type[BaseException], ...] = ()

    def __init__(self, problem: Problem):
        self.tiles = problem.tiles
        self.cache = TileCache("serial")

    @property
    def n_workers(self) -> int:
        return 1

    def map_tiles(self, func: Callable[..., dict], args: tuple, replica: int = 0) -> list[dict]:
        return [func(spec, *args, self.cache) for spec in self.tiles]

    def gather(self, handles: list[dict]) -> list[dict]:
        return handles

    def tree_sum(self, handles: list[dict]) -> dict:
        return pairwise_reduce(handles, add_results)

    def close(self) -> None:
        self.cache.clear()


class SerialExecutor(TileExecutor):
    """The batched calls of ``Executor`` for ``problem``, tile by tile in this process."""

    def __init__(self, problem: Problem):
        super().__init__(problem, SerialBackend(problem))
