"""Res2DInv data files in the general array format (array type 11), a 2D line::

    Mixed array, line 3                                      title
    1.0                                                      unit electrode spacing (m)
    11                                                       array type: 11, general array
    0                                                        sub-array type
    Type of measurement (0=app. resistivity,1=resistance)    a line of text
    0                                                        0: apparent resistivity (ohm m),
                                                             1: resistance (V/A)
    4                                                        number of data points N
    1                                                        type of x-location (1 or 2)
    0                                                        IP flag (0 none, 1 present)
    4 0.0 0.0 1.0 0.0 2.0 0.0 3.0 0.0 104.73                 N rows: electrodes, x z each,
    3 0.0 0.0 2.0 0.0 3.0 0.0 98.21                            value [ip]
    2 0.0 0.0 1.0 0.0 120.5
    0                                                        then anything (topography
    0                                                        block, zeros), not used

Fields are separated by blanks or commas. A row starts with the number of electrodes: 4 is
A B M N, 3 is A M N (pole-dipole: B is remote), 2 is A M (pole-pole: B and N remote);
``REMOTE`` stands for them. Each electrode is given as x (horizontal position along the
line, m) and z, read as its elevation (m, up). The layout is the one Loke's manual gives,
as pyGIMLi's ``importRes2dInv`` and ResIPy's ``res2invInputParser`` read it: what the
type of x-location means for a general array is not documented there beyond "1: true
horizontal distance"; 2 is accepted too, the x values then taken as positions with a note
(with varying z they would be distances along the ground, which are not converted). With
the IP flag 1 the three IP header lines that follow are skipped and each row's last value
(the IP datum) is not used. Index-based arrays (types 1 to 10 and 15) and the variant with
error estimates (a line of text between the header and the rows) are refused with a
message: export the data as a general array without errors.

``check_res2dinv`` is the signature format detection uses: the header as above (array type
11, a text line where the measurement-type line goes, whole numbers where the flags go), then
exactly N rows whose electrode count and width agree, the next line no such row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import (
    DataRows,
    build_field_data,
    drop_unusable,
    electrodes_from_locations,
)
from hpcinv.readers.columns import quote
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.textlines import TextLine, is_number, numbered_lines, parse_float

HEADER = (
    "title",
    "unit electrode spacing",
    "array type",
    "sub-array type",
    "type-of-measurement text",
    "measurement type",
    "number of data points",
    "type of x-location",
    "IP flag",
)
#: Which of A, B, M, N a row with k electrodes gives, in order.
ELECTRODES_BY_COUNT = {4: (0, 1, 2, 3), 3: (0, 2, 3), 2: (0, 2)}
DATA_TYPES = {0: "apparent_resistivity", 1: "resistance"}


@dataclass
class General:
    """The header values and the data rows."""

    data_type: str
    n: TextLine
    x_location: int
    ip: bool
    rows: list[TextLine] = field(default_factory=list)
    trailing: int = 0


def _fields(line: TextLine) -> TextLine:
    """``line`` split at blanks and commas."""
    return TextLine(line.number, line.text, tuple(line.text.replace(",", " ").split()))


def _whole(path, line: TextLine, name: str, allowed: tuple[int, ...] | None = None) -> int:
    token = line.fields[0] if line.fields else ""
    if len(line.fields) != 1 or not is_number(token) or not float(token).is_integer():
        raise DataError(
            f"{path}, line {line.number}, column 1 ({name}): line {line.number} is "
            f"{quote(line)}, not the {name} alone (a whole number)"
        )
    value = int(float(token))
    if allowed is not None and value not in allowed:
        raise DataError(
            f"{path}, line {line.number}, column 1 ({name}): {value}; the general array "
            f"format has {' or '.join(map(str, allowed))} there"
        )
    return value


def check_res2dinv(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is a Res2DInv general
    array file (see the module docstring). The signature format detection accepts;
    ``read_res2dinv`` checks the same and then the values."""
    _parse(path, numbered_lines(path) if lines is None else lines)


def _parse(path, raw: list[TextLine]) -> General:
    """The header values and data rows of a Res2DInv general array file; raises
    ``DataError`` (naming the line and column) where the file departs from the layout."""
    lines = [_fields(line) for line in raw]
    general, n = _parse_header(path, lines)
    start = len(HEADER) + (3 if general.ip else 0)
    if start < len(lines) and lines[start].fields and not is_number(lines[start].fields[0]):
        raise DataError(
            f"{path}, line {lines[start].number}, column 1: {quote(lines[start])} where the "
            f"first data row goes; the variant with error estimates (or another header "
            f"line) is not read: export the data as a general array without errors"
        )
    general.rows.extend(_data_rows(path, lines, start, n, general))
    after = start + n
    if after < len(lines) and _is_row(lines[after], general.ip):
        raise DataError(
            f"{path}, line {lines[after].number}, column 1: a data row after the {n} data "
            f"points promised on line {general.n.number}; correct the count there"
        )
    general.trailing = len(lines) - after
    return general


def _parse_header(path, lines: list[TextLine]) -> tuple[General, int]:
    """The header's values, as a ``General`` without rows, and the number of data points;
    raises ``DataError`` where a header line is missing or not as the layout has it."""
    if len(lines) < len(HEADER):
        at = lines[-1].number if lines else 1
        raise DataError(
            f"{path}, line {at}, column 1: {len(lines)} lines; a Res2DInv general array file "
            f"has a header of {len(HEADER)} lines (title, spacing, 11, sub-array, the "
            f"measurement-type text, its flag, N, x-location, IP flag), then N rows"
        )
    spacing = lines[1]
    if len(spacing.fields) != 1 or not is_number(spacing.fields[0]):
        raise DataError(
            f"{path}, line {spacing.number}, column 1 (unit electrode spacing): line "
            f"{spacing.number} is {quote(spacing)}, not the unit electrode spacing after a "
            f"title line"
        )
    array = _whole(path, lines[2], "array type")
    if array != 11:
        raise DataError(
            f"{path}, line {lines[2].number}, column 1 (array type): {array}: only the "
            f"general array (11) is read, whose rows give every electrode's position; "
            f"export the data from Res2DInv or the instrument as a general array"
        )
    _whole(path, lines[3], "sub-array type")
    text = lines[4]
    if text.fields and is_number(text.fields[0]):
        raise DataError(
            f"{path}, line {text.number}, column 1 (header): {quote(text)} where the text "
            f"'Type of measurement (0=app. resistivity,1=resistance)' goes"
        )
    data_type = DATA_TYPES[_whole(path, lines[5], "measurement type", (0, 1))]
    count = lines[6]
    n = _whole(path, count, "number of data points")
    x_location = _whole(path, lines[7], "type of x-location", (1, 2))
    ip = _whole(path, lines[8], "IP flag", (0, 1)) == 1
    return General(data_type, count, x_location, ip), n


def _data_rows(path, lines: list[TextLine], start: int, n: int, general: General) -> list[TextLine]:
    """The ``n`` data rows from line index ``start`` on, each checked to be a row of 2, 3 or
    4 electrodes with numbers for the coordinates."""
    count, ip = general.n, general.ip
    rows = []
    for k in range(n):
        if start + k >= len(lines):
            raise DataError(
                f"{path}, line {count.number}, column 1 (number of data points): promises "
                f"{n} data points but the file ends after {k}; add the missing rows or "
                f"correct the count (the file may be truncated)"
            )
        row = lines[start + k]
        if not _is_row(row, ip):
            raise DataError(
                f"{path}, line {row.number}, column 1 (number of electrodes): {quote(row)} "
                f"is not a data row (2, 3 or 4 electrodes, x z each, then the value"
                f"{' and the IP value' if ip else ''}) but the count on line {count.number} "
                f"promises {n} rows and this is row {k + 1}; correct the count or the row"
            )
        for j in range(1, len(row.fields)):
            parse_float(path, row, j, "x" if j % 2 == 1 else "z")
        rows.append(row)
    return rows


def _is_row(row: TextLine, ip: bool) -> bool:
    if not row.fields or not is_number(row.fields[0]):
        return False
    k = float(row.fields[0])
    return k in (2.0, 3.0, 4.0) and len(row.fields) == 2 * int(k) + 2 + int(ip)


def read_res2dinv(path, dim: int | None) -> FieldData:
    """Read a Res2DInv general array file, a 2D line (``dim`` 3 is refused)."""
    raw = numbered_lines(path)
    general = _parse(path, raw)
    if dim == 3:
        raise DataError(
            f"{path}, line 1, column 1: a Res2DInv file holds a 2D line (x, z); read it as 2D"
        )
    n = len(general.rows)
    locations = np.zeros((n, 4, 2))
    remote = np.ones((n, 4), dtype=bool)
    value = np.empty(n)
    for i, row in enumerate(general.rows):
        count = int(float(row.fields[0]))
        for slot, e in enumerate(ELECTRODES_BY_COUNT[count]):
            x = parse_float(path, row, 1 + 2 * slot, "x")
            z = parse_float(path, row, 2 + 2 * slot, "z")
            locations[i, e] = (x, z)
            remote[i, e] = False
        value[i] = parse_float(path, row, 1 + 2 * count, "value")
    notes = [
        "Res2DInv general array, 2D line",
        f"values are {general.data_type.replace('_', ' ')} "
        f"({'ohm m' if general.data_type == 'apparent_resistivity' else 'V/A'})",
        "electrode z read as elevation",
    ]
    if general.x_location == 2:
        notes.append("type of x-location 2: x taken as horizontal positions as written")
    if general.ip:
        notes.append("IP values not used")
    if remote.any():
        notes.append(
            f"{int(remote.any(axis=1).sum())} data with remote poles (3- or 2-electrode rows)"
        )
    if general.trailing:
        notes.append(f"{general.trailing} lines after the data (topography, zeros) not used")
    rows = DataRows(
        lines=tuple(general.rows),
        value=value,
        columns={"value": "the value column (after the coordinates)", "B": "column 4 (B x)"},
    )
    rows, keep, dropped = drop_unusable(rows, locations, remote)
    electrodes, abmn = electrodes_from_locations(locations[keep], remote[keep])
    return build_field_data(
        path,
        "res2dinv",
        general.data_type,
        electrodes,
        abmn,
        rows,
        dropped,
        notes,
        end=f"line {general.n.number}, column 1 (number of data points)",
    )
