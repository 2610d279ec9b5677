"""Command line: the only place where everything is wired together.

    hpcinv forward CONFIG --out FILE            simulate the configured survey, write its data
    hpcinv run CONFIG --out DIR [--iterations N] [--overwrite | --resume]
    hpcinv resume DIR [--iterations N] [--force]   continue from the latest checkpoint
    hpcinv submit CONFIG --out DIR [--time T] [--gpu] [--dry-run]   a SLURM driver job
    hpcinv plan CONFIG [--worker-memory 4GiB] [--members K]   tiles, memory, workers as JSON
    hpcinv export DIR --out FILE                the latest model: .csv, .vtr, .vtk, .msh, .nc, .zarr
    hpcinv report DIR                           figures into DIR/figures
    hpcinv data FILE [--format F] [--why]       read a field-data file, print a JSON summary

Errors a user can cause end with one line on stderr and exit code 2; files are written to
a temporary name and renamed, so nothing is ever half-written.
"""

from __future__ import annotations

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

    catch_walltime_signal_early()  # before the parser imports the commands' dependencies
    from hpcinv.cli.parser import build_parser

    parser = build_parser()
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
