"""Running tiles: one orchestration (``TileExecutor``), mapped serially in this process
(``SerialExecutor``, the reference) or on Dask workers (``engine.dask_executor``); cluster
creation (local, by address or scheduler file, SLURM); plans without solving."""

from hpcinv.engine.executor import Executor, TileExecutor
from hpcinv.engine.serial import SerialExecutor

__all__ = ["Executor", "SerialExecutor", "TileExecutor"]
