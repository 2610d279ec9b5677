"""hpcinv: distributed DC resistivity inversion with a deep image prior.

Public API::

    import hpcinv
    result = hpcinv.run("examples/paper-1.1.toml", "runs/p11", workers=2)
    result.model, result.summary["chi"], result.export("model.csv")
    hpcinv.resume("runs/p11", iterations=3000)
    config = hpcinv.load_config(path); problem = hpcinv.build_problem(config)
    [(phi, g)] = hpcinv.SerialExecutor(problem).misfit_and_gradient([m])  # batches of models
    print(hpcinv.Report())

Names load on first use, so ``import hpcinv`` (and ``hpcinv.errors``, ``hpcinv.config``)
stays light: SimPEG, torch and Dask load with what needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from hpcinv.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    HpcinvError,
    InversionError,
    RunInterrupted,
    TileError,
)
from hpcinv.version import __version__

_LAZY = {
    "load_config": "hpcinv.config",
    "build_problem": "hpcinv.problem",
    "SerialExecutor": "hpcinv.engine",
    "run": "hpcinv.driver",
    "resume": "hpcinv.driver",
    "Result": "hpcinv.driver",
    "Report": "hpcinv.report.versions",
}

__all__ = [
    "load_config",
    "build_problem",
    "SerialExecutor",
    "run",
    "resume",
    "Result",
    "Report",
    "HpcinvError",
    "ConfigError",
    "DataError",
    "TileError",
    "CheckpointError",
    "InversionError",
    "RunInterrupted",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hpcinv' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
