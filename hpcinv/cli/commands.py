"""The subcommands: each reads its arguments, wires the layers together and writes outputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hpcinv.config import load_config
from hpcinv.problem import build_problem
from hpcinv.errors import HpcinvError
from hpcinv.report.rundir import RunDirectory, atomic_write
from hpcinv.survey import REMOTE

log = logging.getLogger("hpcinv")


def forward(args) -> int:
    out = Path(args.out)
    if out.suffix not in (".csv", ".npz"):
        raise HpcinvError(f"--out {out}: use a .csv or .npz file name")
    problem = build_problem(load_config(args.config))
    columns = data_columns(problem)
    atomic_write(out, lambda tmp: _write_table(tmp, columns, out.suffix))
    log.info("wrote %d data of %s to %s", problem.n_data, problem.name, out)
    return 0


def run(args) -> int:
    from hpcinv.driver.run import ClusterChoice, run_inversion

    config = load_config(args.config)
    if args.iterations is not None and args.iterations < 0:
        raise HpcinvError(f"--iterations {args.iterations}: give 0 or more")
    run_dir = RunDirectory(args.out)
    cluster = ClusterChoice.from_args(args, config)
    cluster.validate()
    cluster.join_runner(run_dir.path)  # --slurm-runner: only the driver task goes on
    if args.resume:
        from hpcinv.driver.run import resume_run

        summary = resume_run(run_dir, config=config, iterations=args.iterations,
                             force=args.force, cluster=cluster)
        _log_done(summary, run_dir)
        return 0
    if run_dir.holds_a_run() and not args.overwrite:
        raise HpcinvError(f"{run_dir.path} already holds a run; choose another --out, pass "
                          f"--resume to continue it or --overwrite to replace it")
    if args.overwrite:
        _clear_run(run_dir)
    summary = run_inversion(config, run_dir, iterations=args.iterations,
                            config_text=Path(args.config).read_text(), cluster=cluster)
    _log_done(summary, run_dir)
    return 0


def resume(args) -> int:
    from hpcinv.driver.run import ClusterChoice, load_run_config, resume_run

    if args.iterations is not None and args.iterations < 0:
        raise HpcinvError(f"--iterations {args.iterations}: give 0 or more")
    run_dir = RunDirectory(args.run_dir)
    config = load_run_config(run_dir) if run_dir.config_file.exists() else None
    cluster = ClusterChoice.from_args(args, config)
    cluster.validate()
    cluster.join_runner(run_dir.path)  # --slurm-runner: only the driver task goes on
    summary = resume_run(run_dir, iterations=args.iterations, force=args.force,
                         cluster=cluster)
    _log_done(summary, run_dir)
    return 0


def submit(args) -> int:
    from hpcinv.driver.run import slurm_settings_from_args
    from hpcinv.cli.submit import (build_driver_job, forwarded_options,
                                   render_driver_script, sbatch)

    config = load_config(args.config)
    if args.iterations is not None and args.iterations < 0:
        raise HpcinvError(f"--iterations {args.iterations}: give 0 or more")
    if args.slurm_runner and args.slurm:
        raise HpcinvError("choose one of --slurm (workers as jobs) and --slurm-runner (one "
                          "allocation)")
    if args.slurm and not args.workers:
        raise HpcinvError("--slurm needs --workers N (the number of worker jobs, >= 1)")
    run_dir = RunDirectory(args.out)
    if run_dir.holds_a_run() and not (args.overwrite or args.resume):
        raise HpcinvError(f"{run_dir.path} already holds a run; choose another --out, pass "
                          f"--resume to continue it or --overwrite to replace it")
    if args.resume and not run_dir.checkpoint_path.exists():
        raise HpcinvError(f"--resume: {run_dir.path} holds no checkpoint to continue")
    settings = slurm_settings_from_args(args, config, worker_flags=False)
    run_options, resume_options = forwarded_options(args)
    job = build_driver_job(args, settings, run_options, resume_options)
    script = render_driver_script(job)
    if args.dry_run:
        print(script, end="")
        return 0
    if args.overwrite:
        _clear_run(run_dir)  # else the script would resume the old checkpoint
    run_dir.path.mkdir(parents=True, exist_ok=True)
    script_path = Path(job.script_path)
    atomic_write(script_path, lambda tmp: tmp.write_text(script))
    script_path.chmod(0o755)
    job_id = sbatch(script_path)
    print(job_id)
    log.info("submitted driver job %s (%s); follow it with `squeue -j %s` and %s", job_id,
             script_path, job_id, run_dir.path / f"slurm-driver-{job_id}.out")
    return 0


def _log_done(summary, run_dir) -> None:
    mae = summary["mae_core"]
    log.info("done: %d iterations, chi %.3f%s -> %s", summary["iterations"], summary["chi"],
             "" if mae is None else f", MAE(core) {mae:.3f}", run_dir.summary_file)


def _clear_run(run_dir: RunDirectory) -> None:
    """--overwrite: remove the previous run's outputs (only hpcinv's own files)."""
    import shutil

    for path in (run_dir.summary_file, run_dir.result_file, run_dir.stage1_file):
        path.unlink(missing_ok=True)
    shutil.rmtree(run_dir.checkpoint_path, ignore_errors=True)
    shutil.rmtree(run_dir.figures, ignore_errors=True)


def plan(args) -> int:
    import dataclasses
    import json

    from hpcinv.engine.plan import parse_memory
    from hpcinv.engine.plan import plan as make_plan

    config = load_config(args.config)
    memory = parse_memory(args.worker_memory) if args.worker_memory else None
    problem = build_problem(config, with_data=False)  # geometry only: no solve

    def tiles_for(n):
        physics = dataclasses.replace(config.physics, n_tiles=n)
        return build_problem(dataclasses.replace(config, physics=physics), with_data=False).tiles

    import os

    cores = args.cores or os.cpu_count() or 1
    print(json.dumps(make_plan(problem, memory, make_tiles=tiles_for, cores=cores), indent=2))
    return 0


def export(args) -> int:
    result = RunDirectory(args.run_dir).read_result()
    centres, model = result["cell_centers"], result["model"]
    active = result.get("active")
    if active is not None:  # air cells are fixed, not part of the model
        keep = active.astype(bool)
        centres, model = centres[keep], model[keep]
    if result.get("origin") is not None:  # field data: back to the file's coordinates
        centres = centres + result["origin"]
    names = ["x", "z"] if centres.shape[1] == 2 else ["x", "y", "z"]
    table = np.column_stack([centres, model])
    out = Path(args.out)
    atomic_write(out, lambda tmp: np.savetxt(tmp, table, delimiter=",", comments="",
                                             header=",".join(names + ["log_conductivity"]),
                                             fmt="%.8g"))
    log.info("wrote %d cells to %s", len(model), out)
    return 0


def report(args) -> int:
    from hpcinv.report.figures import draw_report

    for path in draw_report(RunDirectory(args.run_dir)):
        log.info("wrote %s", path)
    return 0


def data_columns(problem) -> dict[str, np.ndarray]:
    """Electrode coordinates (NaN for a remote pole), data and uncertainty, one row per datum."""
    survey = problem.survey
    axes = "xz" if survey.dim == 2 else "xyz"
    origin = np.zeros(survey.dim) if problem.origin is None else problem.origin
    cols = {}
    for k, label in enumerate("abmn"):
        idx = survey.abmn[:, k]
        loc = np.where((idx == REMOTE)[:, None], np.nan,
                       survey.electrodes[np.maximum(idx, 0)] + origin)
        for j, axis in enumerate(axes):
            cols[f"{label}_{axis}"] = loc[:, j]
    cols["dobs"] = problem.dobs
    cols["uncertainty"] = problem.uncertainty
    if problem.clean_data is not None:
        cols["noise_free"] = problem.clean_data
    return cols


def _write_table(path: Path, columns: dict[str, np.ndarray], suffix: str) -> None:
    if suffix == ".npz":
        with open(path, "wb") as fh:
            np.savez(fh, **columns)
        return
    table = np.column_stack(list(columns.values()))
    np.savetxt(path, table, delimiter=",", header=",".join(columns), comments="", fmt="%.10g")
