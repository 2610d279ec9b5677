"""The subcommands: each reads its arguments, wires the layers together and writes outputs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpcinv.cli.options import cluster_from_args, slurm_settings_from_args
from hpcinv.config import config_from_dict, load_config, memory_bytes
from hpcinv.errors import HpcinvError
from hpcinv.files import atomic_write
from hpcinv.report.rundir import RunDirectory
from hpcinv.survey import REMOTE

if TYPE_CHECKING:
    from hpcinv import driver

# The commands import what they run when they run it (the driver brings torch and Dask,
# the problem SimPEG): `hpcinv --help`, `data`, `plan` and `export` start at once.

log = logging.getLogger("hpcinv")


def forward(args) -> int:
    out = Path(args.out)
    if out.suffix not in (".csv", ".npz"):
        raise HpcinvError(f"--out {out}: use a .csv or .npz file name")
    from hpcinv.problem import build_problem
    from hpcinv.readers.csv_format import write_csv

    problem = build_problem(load_config(args.config))
    if out.suffix == ".csv":  # hpcinv's own survey format: what forward writes, run reads
        survey = problem.survey
        origin = 0.0 if problem.info.origin is None else problem.info.origin
        atomic_write(
            out,
            lambda tmp: write_csv(
                tmp,
                survey.electrodes + origin,
                survey.abmn,
                problem.dobs,
                problem.uncertainty,
                "resistance",
                noise_free=problem.clean_data,
            ),
        )
    else:
        columns = data_columns(problem)
        atomic_write(out, lambda tmp: _write_table(tmp, columns))
    log.info("wrote %d data of %s to %s", problem.n_data, problem.name, out)
    return 0


def run(args) -> int:
    from hpcinv import driver

    config = load_config(args.config)
    if args.ensemble is not None:  # into the raw file too: the run directory records it
        raw = {
            **config.raw,
            "ensemble": {**config.raw.get("ensemble", {}), "members": args.ensemble},
        }
        config = config_from_dict(raw, config.path)
    cluster = cluster_from_args(args, config)
    if args.resume:
        result = driver.resume(
            args.out,
            config=config,
            iterations=args.iterations,
            force=args.force,
            cluster=cluster,
            **args.driver_options,
        )
    else:
        result = driver.run(
            config,
            args.out,
            iterations=args.iterations,
            overwrite=args.overwrite,
            cluster=cluster,
            **args.driver_options,
        )
    _log_done(result)
    return 0


def resume(args) -> int:
    from hpcinv import driver

    run_dir = RunDirectory(args.run_dir)
    config = driver.load_run_config(run_dir) if run_dir.config_file.exists() else None
    result = driver.resume(
        run_dir.path,
        iterations=args.iterations,
        force=args.force,
        cluster=cluster_from_args(args, config),
        **args.driver_options,
    )
    _log_done(result)
    return 0


def submit(args) -> int:
    from hpcinv.cli.submit import build_driver_job, forwarded_options, render_driver_script, sbatch

    config = load_config(args.config)
    if args.iterations is not None and args.iterations < 0:
        raise HpcinvError(f"--iterations {args.iterations}: give 0 or more")
    if args.slurm_runner and args.slurm:
        raise HpcinvError(
            "choose one of --slurm (workers as jobs) and --slurm-runner (one allocation)"
        )
    if args.slurm and not args.workers:
        raise HpcinvError("--slurm needs --workers N (the number of worker jobs, >= 1)")
    run_dir = RunDirectory(args.out)
    if run_dir.holds_a_run() and not (args.overwrite or args.resume):
        raise HpcinvError(
            f"{run_dir.path} already holds a run; choose another --out, pass "
            f"--resume to continue it or --overwrite to replace it"
        )
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
        from hpcinv.driver.runs import clear_run

        clear_run(run_dir)  # else the script would resume the old checkpoint
    run_dir.path.mkdir(parents=True, exist_ok=True)
    script_path = Path(job.script_path)
    atomic_write(script_path, lambda tmp: tmp.write_text(script))
    script_path.chmod(0o755)
    job_id = sbatch(script_path)
    print(job_id)
    log.info(
        "submitted driver job %s (%s); follow it with `squeue -j %s` and %s",
        job_id,
        script_path,
        job_id,
        run_dir.path / f"slurm-driver-{job_id}.out",
    )
    return 0


def _log_done(result: driver.Result) -> None:
    summary = result.summary
    mae = summary["mae_core"]
    log.info(
        "done: %d iterations, chi %.3f%s -> %s",
        summary["iterations"],
        summary["chi"],
        "" if mae is None else f", MAE(core) {mae:.3f}",
        result.run_dir.summary_file,
    )


def plan(args) -> int:
    import dataclasses
    import json

    from hpcinv.engine.plan import plan as make_plan
    from hpcinv.problem import build_problem

    config = load_config(args.config)
    memory = memory_bytes(args.worker_memory, "--worker-memory") if args.worker_memory else None
    problem = build_problem(config, with_data=False)  # geometry only: no solve

    def tiles_for(n):
        physics = dataclasses.replace(config.physics, n_tiles=n)
        return build_problem(dataclasses.replace(config, physics=physics), with_data=False).tiles

    import os

    cores = args.cores or os.cpu_count() or 1
    if args.members is not None and args.members < 1:
        raise HpcinvError(f"--members {args.members}: give 1 (a single run) or more")
    members = args.members or config.ensemble.members
    out = make_plan(problem, memory, make_tiles=tiles_for, cores=cores, members=members)
    print(json.dumps(out, indent=2))
    return 0


def export(args) -> int:
    from hpcinv.report.export import export_model

    rows = export_model(RunDirectory(args.run_dir).read_result(), args.out, run_dir=args.run_dir)
    log.info("wrote %d cells to %s", rows, args.out)
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
    origin = np.zeros(survey.dim) if problem.info.origin is None else problem.info.origin
    cols = {}
    for k, label in enumerate("abmn"):
        idx = survey.abmn[:, k]
        loc = np.where(
            (idx == REMOTE)[:, None], np.nan, survey.electrodes[np.maximum(idx, 0)] + origin
        )
        for j, axis in enumerate(axes):
            cols[f"{label}_{axis}"] = loc[:, j]
    cols["dobs"] = problem.dobs
    cols["uncertainty"] = problem.uncertainty
    if problem.clean_data is not None:
        cols["noise_free"] = problem.clean_data
    return cols


def _write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **columns)
