"""The serial executor: every tile in this process, one after another. The reference the
Dask executor must match exactly; it runs the same task functions Dask ships."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from hpcinv.engine.executor import TileExecutor
from hpcinv.engine.tasks import TileCache, add_results, pairwise_reduce
from hpcinv.problem import Problem

T = TypeVar("T")


class SerialBackend:
    """Calls each tile task here, in tile order, with this process's ``TileCache``."""

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

    def attempt(self, run: Callable[[Callable[[np.ndarray], Any]], T]) -> T:
        return run(lambda array: array)

    def close(self) -> None:
        self.cache.clear()


class SerialExecutor(TileExecutor):
    """``predict(m) -> d`` and ``misfit_and_gradient(m) -> (phi, g)`` of ``problem``, tile by
    tile in this process (see ``Executor``)."""

    def __init__(self, problem: Problem):
        super().__init__(problem, SerialBackend(problem))
