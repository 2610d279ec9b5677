"""The run driver: ``run`` and ``resume`` wire a problem, an executor, an inversion,
checkpoints and the summary; the Python API and the command line both call them.

Names load on first use, as in ``hpcinv``: the command line imports
``hpcinv.driver.signals`` before anything else, and that must not bring torch and Dask."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcinv.driver.cluster import ClusterChoice
    from hpcinv.driver.result import Result
    from hpcinv.driver.runs import load_run_config, resume, run

_LAZY = {
    "ClusterChoice": "hpcinv.driver.cluster",
    "Result": "hpcinv.driver.result",
    "load_run_config": "hpcinv.driver.runs",
    "resume": "hpcinv.driver.runs",
    "run": "hpcinv.driver.runs",
}

__all__ = ["ClusterChoice", "Result", "load_run_config", "resume", "run"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hpcinv.driver' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
