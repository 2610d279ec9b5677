"""A conventional (SimPEG IRLS) run into a run directory, its physics on the run's tiles and
workers like the DIP's: a line per Gauss-Newton iteration, summary.json and result.npz with
the model after every one, and on SIGTERM/SIGUSR1 the last iteration's model kept and exit 75
(SimPEG's iterations are minutes long in 3D: the signal cuts the one in progress short)."""

from __future__ import annotations

import logging
import time

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.driver.outputs import conventional_outputs, final_coverage
from hpcinv.driver.signals import StopRequested, StopSignals
from hpcinv.engine import Executor
from hpcinv.errors import RunInterrupted
from hpcinv.problem import Problem
from hpcinv.report.rundir import RunDirectory

log = logging.getLogger("hpcinv")


def run_conventional_into(
    problem: Problem,
    config: RunConfig,
    executor: Executor,
    run_dir: RunDirectory,
    t_start: float,
) -> dict:
    from hpcinv.inversion.conventional import run_conventional

    log.info(
        "conventional (SimPEG IRLS) inversion of %s, norms %s, on %d tile(s), %d worker(s)",
        problem.name,
        list(config.conventional.norms),
        len(problem.tiles),
        executor.n_workers,
    )
    last: dict = {}

    def outputs(out: dict, coverage, stopped: str) -> dict:
        counters = executor.counters()
        summary, arrays = conventional_outputs(
            problem,
            config,
            out,
            coverage,
            time.perf_counter() - t_start,
            stopped=stopped,
            n_workers=executor.n_workers,
            solve_seconds=counters["factor_seconds"] + counters["solve_seconds"],
        )
        run_dir.write_result(arrays)
        run_dir.write_summary(summary)
        return summary

    def write(model, history, stopped: str = "running") -> dict:
        out = {
            "model": model,
            "dpred": np.full(problem.n_data, np.nan),
            "history": history,
            "iterations": len(history["chi"]),
        }
        last.update(model=model, history=history)
        return outputs(out, None, stopped)

    with StopSignals() as signals:
        try:
            with signals.interruptible():
                out = run_conventional(problem, config, executor, on_iteration=write)
                coverage = final_coverage(executor, out["model"])
        except StopRequested:
            stopped = f"interrupted by {signals.name}"
            if last:
                write(last["model"], last["history"], stopped)
            message = (
                f"received {signals.name}: the conventional inversion stopped after "
                f"{len(last.get('history', {}).get('chi', []))} iteration(s); the last "
                f"model is in {run_dir.path} (a conventional run starts again from the "
                f"reference model: run it again with --overwrite)"
            )
            log.warning(message)
            raise RunInterrupted(message) from None
    return outputs(out, coverage, "SimPEG IRLS finished")
