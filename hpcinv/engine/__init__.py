"""Running tiles: executing a problem's tiles serially or on Dask workers.

``SerialExecutor`` is the reference every other executor must match exactly.
"""

from hpcinv.engine.serial import SerialExecutor

__all__ = ["SerialExecutor"]
