"""Run outputs: the run directory's files, summary.json, exported models and figures."""

from hpcinv.report.rundir import RunDirectory, RunResult
from hpcinv.report.summary import build_summary, mae_core

__all__ = ["RunDirectory", "RunResult", "build_summary", "mae_core"]
