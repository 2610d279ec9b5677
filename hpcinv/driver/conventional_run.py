"""A conventional (SimPEG IRLS) run into a run directory."""

from __future__ import annotations

import logging
import time

from hpcinv.config import RunConfig
from hpcinv.driver.outputs import field_notes, final_coverage
from hpcinv.driver.result import result_arrays
from hpcinv.engine import SerialExecutor
from hpcinv.problem import Problem
from hpcinv.report.rundir import RunDirectory
from hpcinv.report.summary import build_summary
from hpcinv.report.versions import versions

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
    r = (out["dpred"] - problem.dobs) / problem.uncertainty
    summary = build_summary(
        kind="conventional",
        iterations=out["iterations"],
        phi_d=0.5 * float(r @ r),
        n_data=problem.n_data,
        history=out["history"],
        model=out["model"],
        true_model=problem.true_model,
        core_mask=problem.core_mask,
        n_tiles=1,
        n_workers=1,
        device="cpu",
        config_sha256=config.sha256,
        solve_seconds=0.0,
        factorizations_per_iteration=[],
        factorizations_per_tile_per_iteration=[],
        stopped="SimPEG IRLS finished",
        wall_seconds=time.perf_counter() - t_start,
        extra={
            "problem": problem.name,
            "versions": versions(),
            "reference_model": config.inversion.reference_value,
            **field_notes(problem),
        },
    )
    executor = SerialExecutor(problem)
    try:
        coverage = final_coverage(executor, out["model"])
    finally:
        executor.close()
    run_dir.write_result(
        result_arrays(problem, out["model"], out["dpred"], out["history"], coverage)
    )
    run_dir.write_summary(summary)
    return summary
