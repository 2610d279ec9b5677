"""``hpcinv data FILE``: read a field-data file and print what was understood, as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json

from hpcinv.cli import EXIT_USER_ERROR
from hpcinv.config import ProblemConfig
from hpcinv.errors import DataError
from hpcinv.readers import FORMATS, assign_uncertainty, read_survey, summarize, to_resistance
from hpcinv.readers.formats import explain
from hpcinv.readers.reciprocal import find_reciprocal_pairs, reciprocal_field_data


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "data",
        help="read a field-data file and print a JSON summary",
        description="Read FILE (UBC-GIF DCIP2D/DCIP3D, pyGIMLi unified data, CSV, R2/R3t "
        "protocol.dat, Res2DInv, Syscal Pro exports and .bin files, ABEM Terrameter exports, "
        "AGI SuperSting .stg) and "
        "print as JSON what was read: format, 2D line or 3D, numbers of electrodes, sources "
        "and data, data type, uncertainty statistics, dropped rows (with their lines), the "
        "local origin and notes; for a file without uncertainties, what a run would assign "
        "(percent of |d| plus a floor) and how large that is relative to the data; "
        "normal/reciprocal pairs and the error model fitted to them. Bad input "
        "ends with a message naming the line and column; a file no format reads, with the "
        "reason of the format it most likely is (--why: every format's).",
    )
    p.add_argument("file", help="data file")
    p.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMATS),
        help="file format (default: recognised from the content; a file that "
        "matches no format is refused with the reason of the format it most likely is)",
    )
    p.add_argument(
        "--why",
        action="store_true",
        help="instead of the summary, say which format reads FILE and why each other format "
        "refused it, one line each, most likely first (exit 2 when none reads it)",
    )
    p.add_argument(
        "--electrodes",
        default=None,
        metavar="EFILE",
        help="an electrode file (as problem.electrodes): an R2/R3t protocol's positions, or "
        "the elevations of a file without them (Syscal exports), matched by position",
    )
    p.add_argument(
        "--dimension",
        default="auto",
        choices=("auto", "2d", "3d"),
        help="2d (a line, x z) or 3d; needed only where a layout is ambiguous",
    )
    p.add_argument(
        "--uncertainty-percent",
        type=float,
        default=_default("uncertainty_percent"),
        help="for a file without uncertainties: problem.uncertainty_percent (default %(default)s)",
    )
    p.add_argument(
        "--uncertainty-floor",
        type=float,
        default=_default("uncertainty_floor"),
        help="for a file without uncertainties: problem.uncertainty_floor in V/A "
        "(default %(default)s: automatic)",
    )
    p.set_defaults(func=data)
    return p


def data(args) -> int:
    """Print ``summarize(read_survey(...))`` of ``args.file`` as indented JSON; with
    ``args.why``, which format reads it and why each other refused (``explain``)."""
    if args.why:
        read, lines = explain(args.file, args.dimension)
        print("\n".join(lines))
        return 0 if read else EXIT_USER_ERROR
    field_data = read_survey(
        args.file, args.format, dimension=args.dimension, electrodes=args.electrodes
    )
    summary = summarize(field_data)
    if field_data.survey.uncertainty is None:
        summary["uncertainty_assigned"] = _assigned_uncertainty(field_data, args)
    summary["reciprocal"] = _reciprocal(field_data)
    print(json.dumps(summary, indent=2))
    return 0


def _reciprocal(field_data) -> dict:
    """Normal/reciprocal pairs and, when there are enough, the error model a run with
    ``problem.uncertainty = "reciprocal"`` would fit (pairs, a, b, pairs dropped)."""
    normal, _, _ = find_reciprocal_pairs(field_data.survey.abmn)
    out: dict = {"pairs": int(normal.size)}
    if normal.size == 0:
        return out
    try:
        reduced, result = reciprocal_field_data(
            field_data, max_relative_error=_default("reciprocal_max_error")
        )
    except DataError as exc:
        return {**out, "note": str(exc)}
    return {
        **out,
        "a": result.model.a,
        "b": result.model.b,
        "unpaired": result.n_unpaired,
        "pairs_dropped": [
            {"line": row.line, "reason": row.reason}
            for row in reduced.dropped[len(field_data.dropped) :]
        ],
        "notes": list(reduced.notes[len(field_data.notes) :]),
    }


def _default(key: str):
    """The run file's default for ``[problem] key``."""
    return next(f.default for f in dataclasses.fields(ProblemConfig) if f.name == key)


def _assigned_uncertainty(field_data, args) -> dict:
    """What a run gives a file without uncertainties (in V/A, as the inversion fits)."""
    try:
        survey = to_resistance(field_data)
    except DataError as exc:  # apparent resistivity over topography: factors come at run time
        return {"note": f"computed when a run has the mesh: {exc}"}
    _, report = assign_uncertainty(
        survey,
        percent=args.uncertainty_percent,
        floor=args.uncertainty_floor,
        floor_percentile=_default("uncertainty_floor_percentile"),
    )
    return {"units": "V/A", **report}
