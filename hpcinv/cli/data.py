"""``hpcinv data FILE``: read a field-data file and print what was understood, as JSON."""

from __future__ import annotations

import argparse
import json

from hpcinv.readers import FORMATS, read_survey, summarize


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "data",
        help="read a field-data file and print a JSON summary",
        description="Read FILE (UBC-GIF DCIP2D/DCIP3D, pyGIMLi unified data or CSV) and "
        "print as JSON what was read: format, 2D line or 3D, numbers of electrodes, sources "
        "and data, data type, uncertainty statistics, dropped rows (with their lines), the "
        "local origin and notes. Bad input ends with a message naming the line and column.",
    )
    p.add_argument("file", help="data file")
    p.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMATS),
        help="file format (default: recognised from the content; a file that "
        "matches no format is refused, naming each format tried)",
    )
    p.add_argument(
        "--dimension",
        default="auto",
        choices=("auto", "2d", "3d"),
        help="2d (a line, x z) or 3d; needed only where a layout is ambiguous",
    )
    p.set_defaults(func=data)
    return p


def data(args) -> int:
    """Print ``summarize(read_survey(...))`` of ``args.file`` as indented JSON."""
    field_data = read_survey(args.file, args.format, dimension=args.dimension)
    print(json.dumps(summarize(field_data), indent=2))
    return 0
