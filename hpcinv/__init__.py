"""hpcinv: distributed DC resistivity inversion with a deep image prior.

Public API: ``load_config``, ``build_problem``, ``SerialExecutor``.
"""

from hpcinv.config import load_config
from hpcinv.engine import SerialExecutor, build_problem
from hpcinv.errors import CheckpointError, ConfigError, DataError, HpcinvError, TileError

__version__ = "0.1.0"

__all__ = ["load_config", "build_problem", "SerialExecutor", "HpcinvError", "ConfigError",
           "DataError", "TileError", "CheckpointError", "__version__"]
