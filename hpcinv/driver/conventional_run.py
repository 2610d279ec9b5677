"""A conventional (SimPEG IRLS) run into a run directory."""

from __future__ import annotations

import logging
import time

from hpcinv.config import RunConfig
from hpcinv.driver.outputs import conventional_outputs, final_coverage
from hpcinv.engine import SerialExecutor
from hpcinv.problem import Problem
from hpcinv.report.rundir import RunDirectory

log = logging.getLogger("hpcinv")


def run_conventional_into(
    problem: Problem, config: RunConfig, run_dir: RunDirectory, t_start: float
) -> dict:
    from hpcinv.inversion.conventional import run_conventional

    log.info(
        "conventional (SimPEG IRLS) inversion of %s, norms %s",
        problem.name,
        list(config.conventional.norms),
    )
    out = run_conventional(problem, config)
    executor = SerialExecutor(problem)
    try:
        coverage = final_coverage(executor, out["model"])
    finally:
        executor.close()
    summary, arrays = conventional_outputs(
        problem, config, out, coverage, time.perf_counter() - t_start
    )
    run_dir.write_result(arrays)
    run_dir.write_summary(summary)
    return summary
