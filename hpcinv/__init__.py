"""hpcinv: distributed DC resistivity inversion with a deep image prior.

Public API: ``load_config``, ``build_problem``, ``SerialExecutor``.
"""

from hpcinv.config import load_config
from hpcinv.engine import SerialExecutor
from hpcinv.problem import build_problem
from hpcinv.errors import CheckpointError, ConfigError, DataError, HpcinvError, TileError

from hpcinv.version import __version__

__all__ = ["load_config", "build_problem", "SerialExecutor", "HpcinvError", "ConfigError",
           "DataError", "TileError", "CheckpointError", "__version__"]
