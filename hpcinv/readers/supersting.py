"""AGI SuperSting / Sting ``.stg`` files (the instrument's data file, and the same layout as
AGI EarthImager writes a trimmed data set).

Three header lines, then one comma-separated row per measurement, e.g. (written from AGI's
description of the columns, with this reader's own numbers)::

    Advanced Geosciences, Inc. SuperSting R8-IP Resistivity meter. S/N: SS0000123 Type: 3D
    Firmware version: 01.34.02E Survey period: 20240611 Records: 20
    Unit: meter
       1,USER   ,20240611,10:12:07, 2.39524E+00,   4,480, 9.02984E+01,DD2M     , 2.0E+00, ...

The first line begins ``Advanced Geosciences`` (the instrument writes ``Advanced Geosciences,
Inc. SuperSting ...``, EarthImager ``Advanced Geosciences Inc. (AGI) Sting/SuperSting measured
data (*.stg)   Type: XYZ`` with ``A trimmed data set by AGI EarthImager 2D ... Records: N`` on
the second line); the header ends with the ``Unit:`` line (``meter``; ``feet`` is converted to
metres). The columns of a row, as AGI's help desk lists them (1-based):

1 record number, 2 user (``USER``), 3 date (YYYYMMDD), 4 time (hh:mm:ss), 5 V/I in ohm,
6 the error in tenths of a percent (per mille), 7 the current in mA, 8 the apparent
resistivity, 9 the command file identifier, 10-12 A x y z, 13-15 B x y z, 16-18 M x y z,
19-21 N x y z; then, optionally, the IP columns (22 ``IP:``, 23 the time slot in ms, 24 the
time constant, 25-30 six time slots, 31 the total) and the "Add Settings" columns (``Cmd=``,
``HV=``, ``Cyk=``, ``MTime=``, ``Gain=``, ``Ch=``), which are not read.

What is read:

* the values are the V/I column in ohm (V/A), so ``data_type`` is "resistance"; the apparent
  resistivity column is not used (it depends on the geometric factor the instrument assumed);
* the uncertainty is error/1000 * |R| when every row has an error > 0; the instrument writes
  0 when the repeated cycles agreed to better than 0.1 % (or when one cycle was measured), so a
  file with a 0 has no uncertainties read (noted; ``assign_uncertainty`` sets them);
* the positions are the x, y, z of A, B, M, N in metres, z taken as elevation (up); a y that
  is constant makes a 2D line (x, z), otherwise 3D.

Remote ("infinity") electrodes of pole-pole and pole-dipole arrays have no sentinel in a
``.stg``: the file records them at the coordinates the instrument was given (AGI's own samples
put them hundreds of metres off the line), so they are read as electrodes at those positions,
not as ``REMOTE``; electrodes far from the others are named in a note, since the mesh must reach
them. A remote electrode off the line (another y) makes the file 3D.

``check_supersting`` is the signature format detection uses: the ``Advanced Geosciences``
first line, a ``Unit:`` line within the first lines, and every later row with at least 21
cells, numbers in the record, V/I, error, current, apparent resistivity and coordinate columns.
"""

from __future__ import annotations

import re

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import (
    DataRows,
    build_field_data,
    drop_unusable,
    electrodes_from_locations,
)
from hpcinv.readers.columns import geometry, quote
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.textlines import TextLine, numbered_lines, parse_float, parse_integer

FORMAT = "supersting"
ELECTRODES = "ABMN"
#: The columns every row has, in order (1-based column = index + 1).
COLUMNS = (
    "record",
    "user",
    "date",
    "time",
    "V/I (ohm)",
    "error (per mille)",
    "current (mA)",
    "apparent resistivity",
    "command",
    *(f"{e} {axis}" for e in ELECTRODES for axis in "xyz"),
)
RECORD, VALUE, ERROR, CURRENT, RHOA = 0, 4, 5, 6, 7
FIRST_COORDINATE = 9
#: The first line's start (compared case-insensitively).
TITLE = "advanced geosciences"
#: Lines the header may have (the title, a version/records line, the unit line).
HEADER_LINES = 10
#: Length units of the ``Unit:`` line, in metres.
UNITS = {
    "meter": 1.0,
    "meters": 1.0,
    "metre": 1.0,
    "metres": 1.0,
    "m": 1.0,
    "feet": 0.3048,
    "foot": 0.3048,
    "ft": 0.3048,
}
#: An electrode further than this many times the extent of the A and M electrodes from
#: them is named in a note (a remote pole recorded at its position).
FAR = 5.0
_UNIT = re.compile(r"^\s*unit\s*:\s*(\S*)", re.IGNORECASE)
_RECORDS = re.compile(r"records\s*:\s*(\d+)", re.IGNORECASE)


def check_supersting(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is a SuperSting
    ``.stg`` file (see the module docstring). The signature format detection accepts;
    ``read_supersting`` checks the same and then the values."""
    _parse(path, numbered_lines(path) if lines is None else lines)


def _cells(line: TextLine) -> TextLine:
    """``line`` with its fields as its comma-separated cells, stripped."""
    return TextLine(line.number, line.text, tuple(c.strip() for c in line.text.split(",")))


def _header(path, lines: list[TextLine]) -> tuple[int, float, str]:
    """(index of the ``Unit:`` line in ``lines``, metres per unit, the unit as written)."""
    if not lines:
        raise DataError(f"{path}, line 1, column 1: the file is empty; give a SuperSting .stg file")
    first = lines[0]
    if not first.text.strip().lower().startswith(TITLE):
        raise DataError(
            f"{path}, line {first.number}, column 1 (header): no SuperSting header: a .stg "
            f"begins 'Advanced Geosciences ...', line {first.number} is {quote(first)}"
        )
    for i, line in enumerate(lines[:HEADER_LINES]):
        match = _UNIT.match(line.text)
        if match is None:
            continue
        unit = match.group(1).rstrip(".,;").lower()
        if unit not in UNITS:
            column = line.text.lower().index("unit") + 1
            raise DataError(
                f"{path}, line {line.number}, column {column} (Unit): unknown length unit "
                f"{match.group(1)!r}; write 'Unit: meter' (coordinates in metres) or "
                f"'Unit: feet'"
            )
        return i, UNITS[unit], unit
    raise DataError(
        f"{path}, line {first.number}, column 1 (header): no 'Unit:' line in the first "
        f"{HEADER_LINES} lines of the SuperSting header; add 'Unit: meter' (or feet) as "
        f"the last header line"
    )


def _parse(path, lines: list[TextLine]):
    start, scale, unit = _header(path, lines)
    rows = [_cells(line) for line in lines[start + 1 :]]
    if not rows:
        unit_line = lines[start]
        raise DataError(
            f"{path}, line {unit_line.number}, column 1: the survey is empty: the header is "
            f"not followed by data rows; add data rows"
        )
    for row in rows:
        if len(row.fields) < len(COLUMNS):
            found = len(row.fields)
            raise DataError(
                f"{path}, line {row.number}, column {found + 1} (missing): found {found} "
                f"comma-separated cells, expected at least {len(COLUMNS)} (record, user, "
                f"date, time, V/I, error, current, apparent resistivity, command, then x y z "
                f"of A, B, M, N); correct the row (the file may be truncated or edited)"
            )
    for row in rows:
        parse_integer(path, row, RECORD, COLUMNS[RECORD])

    def column(k: int) -> np.ndarray:
        return np.array([parse_float(path, row, k, COLUMNS[k]) for row in rows])

    value, error = column(VALUE), column(ERROR)
    column(CURRENT), column(RHOA)  # checked: a row with text there is no measurement
    coords = np.stack(
        [
            np.column_stack([column(FIRST_COORDINATE + 3 * e + axis) for axis in range(3)])
            for e in range(4)
        ],
        axis=1,
    )  # (n, 4 electrodes, xyz)
    return lines[: start + 1], rows, value, error, coords * scale, unit


def read_supersting(path, dim: int | None) -> FieldData:
    """Read an AGI SuperSting ``.stg`` file; ``dim`` 2 or 3 (None: from the positions)."""
    header, rows, value, error, coords, unit = _parse(path, numbered_lines(path))
    remote = np.zeros(coords.shape[:2], dtype=bool)
    locations, notes = geometry(
        path, header[-1], coords[..., 0], coords[..., 1], coords[..., 2], remote, dim
    )
    kind = re.search(r"type\s*:\s*(\S+)", header[0].text, re.IGNORECASE)
    notes = [
        f"AGI SuperSting .stg, {'3D' if locations.shape[-1] == 3 else '2D line'}"
        + (f" (header type {kind.group(1)})" if kind else ""),
        *notes,
        f"values are V/I (column {VALUE + 1}, ohm = V/A); apparent resistivity (column "
        f"{RHOA + 1}) not used",
    ]
    if unit in ("feet", "foot", "ft"):
        notes.append("coordinates in feet (Unit line): converted to metres (x 0.3048)")
    uncertainty = None
    if np.all(error > 0):
        uncertainty = error / 1000.0 * np.abs(value)
        notes.append(f"uncertainty = error/1000 |R| (column {ERROR + 1}, tenths of a percent)")
    else:
        notes.append(
            f"{int(np.sum(~(error > 0)))} rows with error <= 0 (column {ERROR + 1}): no "
            f"uncertainties read; set them with assign_uncertainty"
        )
    if any(len(row.fields) > len(COLUMNS) for row in rows):
        notes.append(f"columns after {len(COLUMNS)} (IP readings, instrument settings) not read")
    notes += _records_note(header, rows)
    rows_in = DataRows(
        lines=tuple(rows),
        value=value,
        uncertainty=uncertainty,
        columns={
            "value": f"column {VALUE + 1} (V/I)",
            "uncertainty": f"column {ERROR + 1} (error)",
            **{e: f"column {FIRST_COORDINATE + 3 * k + 1} ({e} x)" for k, e in enumerate("AB")},
            **{e: f"column {FIRST_COORDINATE + 3 * k + 7} ({e} x)" for k, e in enumerate("MN")},
        },
    )
    kept, keep, dropped = drop_unusable(rows_in, locations, remote)
    electrodes, abmn = electrodes_from_locations(locations[keep], remote[keep])
    notes += _far_note(electrodes, abmn)
    return build_field_data(
        path,
        FORMAT,
        "resistance",
        electrodes,
        abmn,
        kept,
        dropped,
        notes,
        end=f"line {rows[-1].number}, column 1",
    )


def _records_note(header: list[TextLine], rows: list[TextLine]) -> list[str]:
    """A note when the header's ``Records: N`` is not the number of data rows."""
    for line in header:
        match = _RECORDS.search(line.text)
        if match and int(match.group(1)) != len(rows):
            return [
                f"line {line.number} says Records: {match.group(1)}, the file has "
                f"{len(rows)} data rows (rows added or removed by hand?)"
            ]
    return []


def _far_note(electrodes: np.ndarray, abmn: np.ndarray) -> list[str]:
    """A note naming the electrodes far from the A and M electrodes (remote poles recorded at
    their positions): the mesh must reach them."""
    near = electrodes[np.unique(abmn[:, [0, 2]])]
    low, high = near.min(axis=0), near.max(axis=0)
    extent = float(np.linalg.norm(high - low))
    if extent == 0:
        return []
    outside = np.linalg.norm(
        np.maximum(low - electrodes, 0) + np.maximum(electrodes - high, 0), axis=1
    )
    far = np.flatnonzero(outside > FAR * extent)
    if far.size == 0:
        return []
    shown = ", ".join(str(electrodes[i].tolist()) for i in far[:3])
    more = f" and {far.size - 3} more" if far.size > 3 else ""
    return [
        f"{far.size} electrodes more than {FAR:g} times the extent of the A and M electrodes "
        f"({extent:.4g} m) away from them, read at their recorded positions (remote poles of "
        f"pole arrays?): {shown}{more}"
    ]
