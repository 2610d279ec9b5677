"""A conventional (SimPEG IRLS) run into a run directory: a line per Gauss-Newton iteration,
summary.json and result.npz with the model after every one, and on SIGTERM/SIGUSR1 the last
iteration's model kept and exit 75 (SimPEG's iterations are minutes long in 3D: the signal
cuts the one in progress short)."""

from __future__ import annotations

import logging
import time

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.driver.outputs import conventional_outputs, final_coverage
from hpcinv.driver.signals import StopRequested, StopSignals
from hpcinv.engine import SerialExecutor
from hpcinv.errors import ConfigError, RunInterrupted
from hpcinv.problem import Problem
from hpcinv.report.rundir import RunDirectory

log = logging.getLogger("hpcinv")


def refuse_octree_problems(problem: Problem) -> None:
    """The conventional inversion runs stock SimPEG on ``problem.mesh``; on an octree problem
    that is the model grid (the core only: no padding, the air at its top), not the tiles'
    octrees, and its data there are wrong (grid-3d at m_ref: chi 1.5e11 against 5 on the
    tiles; SimPEG's first line search then met a singular matrix). Refused before anything
    is written, with the way to a mesh both methods share."""
    if (problem.info.notes or {}).get("mesh_kind") != "octree":
        return
    raise ConfigError(
        f"inversion.kind = 'conventional' runs SimPEG on one mesh, and {problem.name}'s "
        "simulation meshes are octree tiles (mesh.kind = 'auto' takes them for 3D data with "
        "topography or a large extent): SimPEG on the model grid would give wrong data. "
        'For field data set [mesh] kind = "tensor" (one padded tensor mesh, air cells '
        'under the topography) to run the conventional inversion, or run kind = "dip" on '
        "the octree tiles; the conventional inversion on the tiles is not built yet"
    )


def run_conventional_into(
    problem: Problem, config: RunConfig, run_dir: RunDirectory, t_start: float
) -> dict:
    from hpcinv.inversion.conventional import run_conventional

    log.info(
        "conventional (SimPEG IRLS) inversion of %s, norms %s",
        problem.name,
        list(config.conventional.norms),
    )
    last: dict = {}

    def write(model, history, stopped: str = "running") -> dict:
        out = {
            "model": model,
            "dpred": np.full(problem.n_data, np.nan),
            "history": history,
            "iterations": len(history["chi"]),
        }
        summary, arrays = conventional_outputs(
            problem, config, out, None, time.perf_counter() - t_start, stopped=stopped
        )
        run_dir.write_result(arrays)
        run_dir.write_summary(summary)
        last.update(model=model, history=history)
        return summary

    with StopSignals() as signals:
        try:
            with signals.interruptible():
                out = run_conventional(problem, config, on_iteration=write)
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
