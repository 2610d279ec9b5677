"""Command line: the only place where everything is wired together.

    hpcinv forward CONFIG --out FILE            simulate the configured survey, write its data
    hpcinv run CONFIG --out DIR [--iterations N] [--overwrite | --resume]
    hpcinv resume DIR [--iterations N] [--force]   continue from the latest checkpoint
    hpcinv submit CONFIG --out DIR [--time T] [--gpu] [--dry-run]   a SLURM driver job
    hpcinv plan CONFIG [--worker-memory 4GiB] [--members K]   tiles, memory, workers as JSON
    hpcinv export DIR --out FILE                the latest model: .csv, .vtr, .vtk, .msh, .nc, .zarr
    hpcinv report DIR                           figures into DIR/figures
    hpcinv data FILE [--format F]               read a field-data file, print a JSON summary

Errors a user can cause end with one line on stderr and exit code 2; files are written to
a temporary name and renamed, so nothing is ever half-written.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hpcinv.errors import HpcinvError, RunInterrupted
from hpcinv.version import __version__

EXIT_USER_ERROR = 2

log = logging.getLogger("hpcinv")


def main(argv: list[str] | None = None, **driver_options) -> int:
    """Run the command ``argv`` (default: the process's arguments); the exit code.

    ``driver_options`` go to ``hpcinv.run``/``hpcinv.resume`` for the run commands (e.g.
    ``before_checkpoint_rename`` in crash-safety tests)."""
    from hpcinv.driver.signals import catch_walltime_signal_early

    catch_walltime_signal_early()
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        return _print_version(args.verbose)
    if args.command is None:
        parser.error("a command is required")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    args.driver_options = driver_options
    try:
        return args.func(args)
    except RunInterrupted as exc:
        print(f"hpcinv: {exc}", file=sys.stderr)
        return RunInterrupted.exit_code
    except HpcinvError as exc:
        print(f"hpcinv: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _print_version(verbose: bool) -> int:
    print(f"hpcinv {__version__}")
    if verbose:
        from hpcinv.report.versions import Report

        print(Report())
    return 0


def _parser() -> argparse.ArgumentParser:
    from hpcinv.cli import commands, data
    from hpcinv.cli.options import cluster_options

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

    p = sub.add_parser(
        "forward",
        help="simulate the configured survey and write its data",
        description="Simulate the survey of CONFIG on its true model (with the "
        "configured noise) and write the data as CSV (.csv) or NumPy (.npz).",
    )
    p.add_argument("config", help="TOML run file")
    p.add_argument("--out", required=True, help="output file (.csv or .npz)")
    p.set_defaults(func=commands.forward)

    p = sub.add_parser(
        "run",
        help="run an inversion",
        description="Run the inversion CONFIG describes; outputs go to DIR "
        "(summary.json, result.npz, config.toml).",
    )
    p.add_argument("config", help="TOML run file")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--iterations", type=int, help="override inversion.iterations")
    p.add_argument(
        "--ensemble",
        type=int,
        metavar="K",
        help="override ensemble.members: K DIP inversions of the problem run together "
        "(recorded in DIR's config.toml, so resume runs the same K)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--overwrite", action="store_true", help="replace the run that DIR already holds"
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue the run that DIR holds (as `hpcinv resume`, with CONFIG)",
    )
    p.add_argument(
        "--force", action="store_true", help="with --resume: accept harmless config changes"
    )
    cluster_options(p)
    p.set_defaults(func=commands.run)

    p = sub.add_parser(
        "submit",
        help="write a SLURM driver batch script and sbatch it",
        description="Render a driver batch script for CONFIG (hpcinv/cli/templates/"
        "driver.sbatch) into DIR/hpcinv-driver.sbatch and submit it with sbatch; prints the job "
        "id. The job gets SIGUSR1 --signal-lead seconds before its time limit, checkpoints and "
        "requeues itself; the requeued job resumes. --dry-run prints the script instead.",
    )
    p.add_argument("config", help="TOML run file")
    p.add_argument("--out", required=True, help="run directory (on a shared file system)")
    p.add_argument("--iterations", type=int, help="override inversion.iterations")
    p.add_argument(
        "--ensemble",
        type=int,
        metavar="K",
        help="override ensemble.members (passed to `hpcinv run`; the requeued job's resume "
        "reads K from the run directory)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run that DIR already holds (at submission)",
    )
    g.add_argument("--resume", action="store_true", help="continue the run that DIR holds")
    p.add_argument("--dry-run", action="store_true", help="print the script, submit nothing")
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
    cluster_options(p)
    p.set_defaults(func=commands.submit)

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

    p = sub.add_parser("report", help="draw the run's figures into DIR/figures")
    p.add_argument("run_dir", help="run directory")
    p.set_defaults(func=commands.report)

    data.add_parser(sub)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
