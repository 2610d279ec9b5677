"""Command line: the only place where everything is wired together.

    hpcinv forward CONFIG --out FILE     simulate the configured survey, write data (CSV or NPZ)

Errors a user can cause end with one line on stderr and exit code 2; nothing half-written
is left behind (files are written to a temporary name and renamed).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from hpcinv import __version__
from hpcinv.config import load_config
from hpcinv.engine import build_problem
from hpcinv.errors import HpcinvError
from hpcinv.survey import REMOTE

EXIT_USER_ERROR = 2

log = logging.getLogger("hpcinv")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    try:
        return args.func(args)
    except HpcinvError as exc:
        print(f"hpcinv: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpcinv", description="DC resistivity inversion with a deep image prior.")
    parser.add_argument("--version", action="version", version=f"hpcinv {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    fwd = sub.add_parser("forward", help="simulate the configured survey and write its data",
                         description="Simulate the survey of CONFIG on its true model (with "
                         "the configured noise) and write the data as CSV (.csv) or NumPy (.npz).")
    fwd.add_argument("config", help="TOML run file")
    fwd.add_argument("--out", required=True, help="output file (.csv or .npz)")
    fwd.set_defaults(func=_cmd_forward)
    return parser


def _cmd_forward(args) -> int:
    out = Path(args.out)
    if out.suffix not in (".csv", ".npz"):
        raise HpcinvError(f"--out {out}: use a .csv or .npz file name")
    config = load_config(args.config)
    problem = build_problem(config)
    columns = data_columns(problem)
    _atomic_write(out, lambda tmp: _write_table(tmp, columns, out.suffix))
    log.info("wrote %d data of %s to %s", problem.n_data, problem.name, out)
    return 0


def data_columns(problem) -> dict[str, np.ndarray]:
    """Electrode coordinates (NaN for a remote pole), data and uncertainty, one row per datum."""
    survey = problem.survey
    axes = "xz" if survey.dim == 2 else "xyz"
    cols = {}
    for k, label in enumerate("abmn"):
        idx = survey.abmn[:, k]
        loc = np.where((idx == REMOTE)[:, None], np.nan, survey.electrodes[np.maximum(idx, 0)])
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


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
