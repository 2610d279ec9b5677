"""The argparse parser of ``hpcinv``: one builder per sub-command, options shared by
``run`` and ``submit`` and the options of ``submit``'s driver job."""

from __future__ import annotations

import argparse

from hpcinv.cli import commands, data
from hpcinv.cli.options import cluster_options


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, every sub-command included."""
    parser = argparse.ArgumentParser(
        prog="hpcinv", description="DC resistivity inversion with a deep image prior."
    )
    parser.add_argument(
        "--version",
        action="store_true",
        help="print the version (with --verbose: of everything it runs on)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug logging; with --version, the versions report",
    )
    sub = parser.add_subparsers(dest="command")
    _add_forward(sub)
    _add_run(sub)
    _add_submit(sub)
    _add_resume(sub)
    _add_plan(sub)
    _add_export(sub)
    _add_report(sub)
    data.add_parser(sub)
    return parser


def _add_forward(sub) -> None:
    p = sub.add_parser(
        "forward",
        help="simulate the configured survey and write its data",
        description="Simulate the survey of CONFIG on its true model (with the "
        "configured noise) and write the data as CSV (.csv) or NumPy (.npz).",
    )
    p.add_argument("config", help="TOML run file")
    p.add_argument("--out", required=True, help="output file (.csv or .npz)")
    p.set_defaults(func=commands.forward)


def _run_target_options(
    p: argparse.ArgumentParser,
    *,
    out_help: str,
    ensemble_help: str,
    overwrite_help: str,
    resume_help: str,
) -> None:
    """CONFIG, --out DIR, --iterations, --ensemble and --overwrite | --resume."""
    p.add_argument("config", help="TOML run file")
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--iterations", type=int, help="override inversion.iterations")
    p.add_argument("--ensemble", type=int, metavar="K", help=ensemble_help)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help=overwrite_help)
    g.add_argument("--resume", action="store_true", help=resume_help)


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run an inversion",
        description="Run the inversion CONFIG describes; outputs go to DIR "
        "(summary.json, result.npz, config.toml).",
    )
    _run_target_options(
        p,
        out_help="run directory",
        ensemble_help="override ensemble.members: K DIP inversions of the problem run together "
        "(recorded in DIR's config.toml, so resume runs the same K)",
        overwrite_help="replace the run that DIR already holds",
        resume_help="continue the run that DIR holds (as `hpcinv resume`, with CONFIG)",
    )
    p.add_argument(
        "--force", action="store_true", help="with --resume: accept harmless config changes"
    )
    cluster_options(p)
    p.set_defaults(func=commands.run)


def _add_submit(sub) -> None:
    p = sub.add_parser(
        "submit",
        help="write a SLURM driver batch script and sbatch it",
        description="Render a driver batch script for CONFIG (hpcinv/cli/templates/"
        "driver.sbatch) into DIR/hpcinv-driver.sbatch and submit it with sbatch; prints the job "
        "id. The job gets SIGUSR1 --signal-lead seconds before its time limit, checkpoints and "
        "requeues itself; the requeued job resumes. --dry-run prints the script instead.",
    )
    _run_target_options(
        p,
        out_help="run directory (on a shared file system)",
        ensemble_help="override ensemble.members (passed to `hpcinv run`; the requeued job's "
        "resume reads K from the run directory)",
        overwrite_help="replace the run that DIR already holds (at submission)",
        resume_help="continue the run that DIR holds",
    )
    p.add_argument("--dry-run", action="store_true", help="print the script, submit nothing")
    _driver_job_options(p)
    cluster_options(p)
    p.set_defaults(func=commands.submit)


def _driver_job_options(p: argparse.ArgumentParser) -> None:
    """The resources and name of ``submit``'s driver job."""
    p.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="nodes of the allocation (more than 1 with --slurm-runner)",
    )
    p.add_argument("--partition", help="partition of the driver job (default: [slurm])")
    p.add_argument("--account", help="account of the driver job (default: [slurm])")
    p.add_argument(
        "--time",
        help="time limit of the driver job (default: slurm."
        "driver_walltime, 12:00:00); the job requeues itself until the run is done",
    )
    p.add_argument("--memory", help="memory of the driver job (default: slurm.driver_memory)")
    p.add_argument(
        "--cpus",
        type=int,
        help="CPUs of the driver job (default: slurm.driver_cpus"
        "; with a local cluster: workers x threads)",
    )
    p.add_argument(
        "--gpu",
        action="store_true",
        help="ask for a GPU for the network (slurm.gpu_directive, --gres=gpu:1)",
    )
    p.add_argument(
        "--signal-lead",
        type=int,
        help="seconds before the time limit that the driver checkpoints (default: "
        "slurm.signal_lead_seconds, 300)",
    )
    p.add_argument("--job-name", help="job name (default: hpcinv-CONFIG)")


def _add_resume(sub) -> None:
    p = sub.add_parser(
        "resume",
        help="continue a run from its latest checkpoint",
        description="Continue the run in DIR from its latest complete "
        "checkpoint, identically to an uninterrupted run. Exit code 75 means "
        "the run was stopped by SIGTERM/SIGUSR1 after checkpointing: resume "
        "again.",
    )
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--iterations", type=int, help="run until this many iterations in total")
    p.add_argument(
        "--force",
        action="store_true",
        help="accept harmless config changes (iterations, checkpoint interval)",
    )
    cluster_options(p)
    p.set_defaults(func=commands.resume)


def _add_plan(sub) -> None:
    p = sub.add_parser(
        "plan",
        help="print tiles and memory estimates as JSON, without solving",
        description="Print the tiles of CONFIG (sources, data, cells, nodes) and "
        "estimated factorization memory and time per tile as JSON; with "
        "--worker-memory, whether they fit and a suggested tile count.",
    )
    p.add_argument("config", help="TOML run file")
    p.add_argument("--worker-memory", help="memory per worker, e.g. 4GiB")
    p.add_argument(
        "--cores",
        type=int,
        default=None,
        help="cores available (default: this machine's) for the workers x threads suggestion",
    )
    p.add_argument(
        "--members",
        type=int,
        default=None,
        help="ensemble members (default: ensemble.members): members x tiles tasks a step, "
        "workers suggested to run them, memory per worker with every member's factors",
    )
    p.set_defaults(func=commands.plan)


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write the latest model (.csv, .vtr, .vtk, .msh, .nc, .zarr)",
        description="Write the run's latest model in the format the extension "
        "of --out names, in the data file's coordinates, as log_conductivity (ln(S/m)), "
        "resistivity (ohm m) and coverage (when recorded). .csv: one row per ground cell "
        "centre, x,y,z,log_conductivity,resistivity[,coverage] (2D: x,z,...); .vtr/.vtk: VTK "
        "rectilinear grid (ParaView); .msh: UBC-GIF mesh with NAME.mod (resistivity) and "
        "NAME_log_conductivity.mod, NAME_coverage.mod (3D only); .nc (netCDF-4) and .zarr: "
        "an xarray Dataset. Air cells are NaN in grids (UBC: -99999).",
    )
    p.add_argument("run_dir", help="run directory")
    p.add_argument(
        "--out",
        required=True,
        help="output file; its extension names the format (.csv, .vtr, .vtk, .msh, .nc, .zarr)",
    )
    p.set_defaults(func=commands.export)


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="draw the run's figures into DIR/figures")
    p.add_argument("run_dir", help="run directory")
    p.set_defaults(func=commands.report)
