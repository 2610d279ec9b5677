"""Res2DInv data files of a 2D line: the index-based arrays (types 1 to 7) and the general
array (type 11).

**Index-based arrays** give each datum by its array's parameters, in the layout of the
Res2DInv manual's example files, as pyGIMLi's ``importRes2dInv`` and ResIPy's
``res2invInputParser`` read it (the error-estimate lines as programs that export Res2DInv
files write them)::

    Dipole-dipole, line 7                                    title
    1.0                                                      unit electrode spacing (m)
    3                                                        array type, 1 to 7 (below)
    4                                                        number of data points N
    0                                                        type of x-location: 0 first
                                                               (leftmost) electrode,
                                                               1 midpoint of the array
    0                                                        IP flag (0 none, 1 present)
    Error estimate for data present                          optional, 3 lines: this text,
    Type of error estimate (0=same unit as data)               a text line and 0 (errors
    0                                                          in ohm m) or 1 (percent)
    0.0 1.0 1 104.7 2.1                                      N rows: x a [n] value [error]
    1.0 1.0 1 98.2 2.0                                         [IP value]
    0.0 1.0 2 101.6 3.3
    1.0 1.0 2 110.1 3.5
    2                                                        topography flag: 0 none,
    3                                                          2 true horizontal x (below)
    0.0 100.2                                                  then the number of points
    3.0 100.1                                                  and x z per point
    6.0 99.8
    1                                                        then anything (the number of
    0,0,0,0                                                    the first electrode, zeros),
                                                               not used

x, a and n are in metres and as Loke's notes draw the arrays (C1 C2 current, P1 P2 potential
electrodes; A B M N here), from the leftmost electrode L = x (x-location 0) or L = x - length
/ 2 (1), with the array's length in units of a:

    1 Wenner alpha         C1 P1 P2 C2 at L, L+a, L+2a, L+3a                 length 3
    2 pole-pole            C1 P1 at L, L+a; C2 P2 remote                     length 1
    3 dipole-dipole        C2 C1 P1 P2 at L, L+a, L+a(n+1), L+a(n+2)         length n+2
    4 Wenner beta          C2 C1 P1 P2 at L, L+a, L+2a, L+3a                 length 3
    5 Wenner gamma         C1 P1 C2 P2 at L, L+a, L+2a, L+3a                 length 3
    6 pole-dipole, n > 0   C1 P1 P2 at L, L+na, L+a(n+1); C2 remote          length n+1
      reverse, n < 0       P2 P1 C1 at L, L+a, L+a(|n|+1)
    7 Wenner-Schlumberger  C1 P1 P2 C2 at L, L+na, L+a(n+1), L+a(2n+1)       length 2n+1

(the current electrode nearer the potential dipole is C1: its geometric factor is then the
manual's positive one; pyGIMLi names the leftmost current electrode A instead, which flips
the sign of a resistance, never a position). The values are apparent resistivities (ohm m):
the index-based format has no resistance flag. With the IP flag 1 the three IP header
lines (quantity, unit, timing) are skipped and each row ends with the IP value, not used.
The error estimates are read as the uncertainty: type 0 in the data's unit (ohm m); type 1
as a percentage of |value| only where the text line before it says so (``1=percent``), the
type line as programs write it explaining 0 alone. Electrode elevations come from a
topography section with true horizontal x (flag 2, after an optional line 'Topography in
separate list' as general arrays have it): linear between its points, every electrode within
them; the points are kept as ``FieldData.topography``. Refused, with one line naming the
line and the fix: other array types (8 equatorial dipole-dipole, 10 offset pole-dipole, ...),
a pole-dipole with x-location 1 (where its midpoint lies is not documented: pyGIMLi and
ResIPy place it differently), the pole-pole and pole-dipole variant with remote electrode
positions in the header, IP values and error estimates together (the column order differs
between programs), and topography as distances along the ground (flag 1).

**The general array** (array type 11) gives every electrode's position::

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
line, m) and z, read as its elevation (m, up). The layout is the one Loke's manual gives, as
pyGIMLi's ``importRes2dInv`` and ResIPy's ``res2invInputParser`` read it: what the type of
x-location means for a general array is not documented there beyond "1: true horizontal
distance"; 2 is accepted too, the x values then taken as positions with a note (with varying
z they would be distances along the ground, which are not converted). With the IP flag 1 the
three IP header lines that follow are skipped and each row's last value (the IP datum) is not
used. The general array with error estimates (a line of text between the header and the
rows) is refused with a message: export the data as a general array without errors.

``check_res2dinv`` is the signature format detection uses: the header as above (an index
array type with whole numbers for the flags, or 11 with a text line where the
measurement-type line goes), then exactly N rows of the array's width, the next line no
such row.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NoReturn

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
from hpcinv.readers.textlines import (
    TextLine,
    expect_fields,
    is_number,
    numbered_lines,
    parse_float,
    where,
)

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

INDEX_HEADER = (
    "title",
    "unit electrode spacing",
    "array type",
    "number of data points",
    "type of x-location",
    "IP flag",
)
INDEX_ARRAYS = {
    1: "Wenner alpha",
    2: "pole-pole",
    3: "dipole-dipole",
    4: "Wenner beta",
    5: "Wenner gamma",
    6: "pole-dipole",
    7: "Wenner-Schlumberger",
}
#: The arrays whose rows give n (the others have n = 1 built in).
WITH_N = (3, 6, 7)
#: Which of A, B, M, N are remote poles, per array.
REMOTE_POLES = {2: (1, 3), 6: (1,)}
#: Positions are rounded to this (1 / m) after x + a * (...): the same electrode reached from
#: two rows must be the same float to be one electrode, and 0.1 + 0.2 is not 0.3.
PER_METRE = 1e6
INDEX = "index-based"


@dataclass
class General:
    """The header values and the data rows."""

    data_type: str
    n: TextLine
    x_location: int
    ip: bool
    rows: list[TextLine] = field(default_factory=list)
    trailing: int = 0


@dataclass
class Index:
    """An index-based file: the header values, the data rows and the topography points
    ((n, 2) x z, or None)."""

    array: int
    n: TextLine
    x_location: int
    ip: bool
    error: str | None  # None, "absolute" (the data's unit) or "percent"
    rows: list[TextLine] = field(default_factory=list)
    topography: np.ndarray | None = None
    trailing: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        """The fields of a data row, in order."""
        names = ["x", "a", *(["n"] if self.array in WITH_N else []), "value"]
        return (*names, *(["error"] if self.error else []), *(["IP"] if self.ip else []))


def _fields(line: TextLine) -> TextLine:
    """``line`` split at blanks and commas."""
    return TextLine(line.number, line.text, tuple(line.text.replace(",", " ").split()))


def _whole(
    path,
    line: TextLine,
    name: str,
    allowed: tuple[int, ...] | None = None,
    layout: str = "general array",
) -> int:
    token = line.fields[0] if line.fields else ""
    if len(line.fields) != 1 or not is_number(token) or not float(token).is_integer():
        raise DataError(
            f"{path}, line {line.number}, column 1 ({name}): line {line.number} is "
            f"{quote(line)}, not the {name} alone (a whole number)"
        )
    value = int(float(token))
    if allowed is not None and value not in allowed:
        raise DataError(
            f"{path}, line {line.number}, column 1 ({name}): {value}; the {layout} "
            f"format has {' or '.join(map(str, allowed))} there"
        )
    return value


def check_res2dinv(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is a Res2DInv file of
    an index-based array or the general array (see the module docstring). The signature
    format detection accepts; ``read_res2dinv`` checks the same and then the values."""
    _parse(path, numbered_lines(path) if lines is None else lines)


def _parse(path, raw: list[TextLine]) -> General | Index:
    """The header values and data rows of a Res2DInv file; raises ``DataError`` (naming the
    line and column) where the file departs from the layout of its array type."""
    lines = [_fields(line) for line in raw]
    if _array_type(lines) in INDEX_ARRAYS:
        return _parse_index(path, lines)
    return _parse_general(path, lines)


def _array_type(lines: list[TextLine]) -> int | None:
    """The array type on the third line when it is a whole number, else None (the general
    array's checks then say what is wrong)."""
    if len(lines) < 3 or len(lines[2].fields) != 1 or not is_number(lines[2].fields[0]):
        return None
    value = float(lines[2].fields[0])
    return int(value) if value.is_integer() else None


def _parse_general(path, lines: list[TextLine]) -> General:
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


def _check_spacing(path, spacing: TextLine) -> None:
    if len(spacing.fields) != 1 or not is_number(spacing.fields[0]):
        raise DataError(
            f"{path}, line {spacing.number}, column 1 (unit electrode spacing): line "
            f"{spacing.number} is {quote(spacing)}, not the unit electrode spacing after a "
            f"title line"
        )


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
    _check_spacing(path, lines[1])
    array = _whole(path, lines[2], "array type")
    if array != 11:
        raise DataError(
            f"{path}, line {lines[2].number}, column 1 (array type): {array}: read are the "
            f"index-based arrays 1 to 7 (Wenner, pole-pole, dipole-dipole, pole-dipole, "
            f"Wenner-Schlumberger) and the general array 11; export the data from Res2DInv "
            f"or the instrument as a general array"
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
            _truncated(path, count, n, k)
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


def _truncated(path, count: TextLine, n: int, k: int) -> NoReturn:
    raise DataError(
        f"{path}, line {count.number}, column 1 (number of data points): promises "
        f"{n} data points but the file ends after {k}; add the missing rows or "
        f"correct the count (the file may be truncated)"
    )


def _is_row(row: TextLine, ip: bool) -> bool:
    if not row.fields or not is_number(row.fields[0]):
        return False
    k = float(row.fields[0])
    return k in (2.0, 3.0, 4.0) and len(row.fields) == 2 * int(k) + 2 + int(ip)


# --- index-based arrays -----------------------------------------------------------------------


def _parse_index(path, lines: list[TextLine]) -> Index:
    """An index-based file's header, error-estimate lines, rows and topography section."""
    index, n = _index_header(path, lines)
    start = len(INDEX_HEADER) + (3 if index.ip else 0)
    index.error, start = _error_estimates(path, lines, start, index.ip)
    index.rows.extend(_index_rows(path, lines, start, n, index))
    after = start + n
    if after < len(lines) and _is_index_row(lines[after], len(index.names)):
        raise DataError(
            f"{path}, line {lines[after].number}, column 1: a data row after the {n} data "
            f"points promised on line {index.n.number}; correct the count there"
        )
    index.topography, after = _topography(path, lines, after)
    index.trailing = len(lines) - after
    return index


def _index_header(path, lines: list[TextLine]) -> tuple[Index, int]:
    """The header's values, as an ``Index`` without rows, and the number of data points."""
    if len(lines) < len(INDEX_HEADER):
        raise DataError(
            f"{path}, line {lines[-1].number}, column 1: {len(lines)} lines; a Res2DInv "
            f"index-based file has a header of {len(INDEX_HEADER)} lines (title, spacing, "
            f"array type, N, x-location, IP flag), then N rows"
        )
    _check_spacing(path, lines[1])
    array = _array_type(lines) or 0
    count = lines[3]
    if count.fields and not is_number(count.fields[0]):
        # pole-pole and pole-dipole files may give the remote electrodes' positions here
        raise DataError(
            f"{path}, line {count.number}, column 1 (number of data points): {quote(count)} "
            f"where the number of data points goes; header lines such as remote electrode "
            f"positions are not read: export the data as a general array (type 11)"
        )
    n = _whole(path, count, "number of data points", layout=INDEX)
    if n < 0:
        raise DataError(
            f"{path}, line {count.number}, column 1 (number of data points): {n}; a count "
            f"is not negative"
        )
    x_location = _whole(path, lines[4], "type of x-location", (0, 1), INDEX)
    if array == 6 and x_location == 1:
        raise DataError(
            f"{path}, line {lines[4].number}, column 1 (type of x-location): 1 (midpoint) "
            f"with a pole-dipole array, whose midpoint the format does not define (pyGIMLi "
            f"and ResIPy place it differently); export with 0 (x of the leftmost electrode)"
        )
    ip = _whole(path, lines[5], "IP flag", (0, 1), INDEX) == 1
    return Index(array, count, x_location, ip, None), n


def _error_estimates(path, lines: list[TextLine], start: int, ip: bool) -> tuple[str | None, int]:
    """Whether the rows carry error estimates ("absolute", "percent" or None), and the line
    index of the first row: the three lines 'Error estimate for data present', a text line
    and the type (0 or 1) come between the header and the rows when they do."""
    first = lines[start] if start < len(lines) else None
    if first is None or not first.text.strip().lower().startswith("error estimate"):
        return None, start
    if ip:
        raise DataError(
            f"{path}, line {first.number}, column 1: error estimates with IP data: programs "
            f"differ on the order of each row's error and IP value, so neither is guessed; "
            f"export the resistivity data with errors and without IP"
        )
    if start + 2 >= len(lines):
        raise DataError(
            f"{path}, line {first.number}, column 1: {quote(first)} is followed by fewer "
            f"than two lines; a text line and the type of error estimate (0 or 1) follow it"
        )
    text, flag = lines[start + 1], lines[start + 2]
    kind = _whole(path, flag, "type of error estimate", (0, 1), INDEX)
    if kind == 1 and "percent" not in text.text.lower() and "%" not in text.text:
        raise DataError(
            f"{path}, line {flag.number}, column 1 (type of error estimate): 1, which the "
            f"text on line {text.number} does not explain (the format's type line explains "
            f"0 alone: errors in the data's unit); write '1=percent' there if they are "
            f"percentages, or give errors in ohm m with 0"
        )
    return ("absolute", "percent")[kind], start + 3


def _index_rows(path, lines: list[TextLine], start: int, n: int, index: Index) -> list[TextLine]:
    """The ``n`` data rows from line index ``start`` on, each as wide as the array's layout,
    numbers throughout, a > 0 and n as the array allows."""
    rows = []
    what = f"a {INDEX_ARRAYS[index.array]} data row"
    for k in range(n):
        if start + k >= len(lines):
            _truncated(path, index.n, n, k)
        row = lines[start + k]
        promised = f"row {k + 1} of the {n} promised on line {index.n.number}: {what}"
        expect_fields(path, row, index.names, promised)
        values = [parse_float(path, row, j, name) for j, name in enumerate(index.names)]
        _check_spacings(path, row, index.array, values)
        rows.append(row)
    return rows


def _check_spacings(path, row: TextLine, array: int, values: list[float]) -> None:
    """a > 0 always; n > 0 for dipole-dipole and Wenner-Schlumberger, n != 0 for pole-dipole
    (its sign is the direction). NaN passes: such rows are dropped and listed later."""
    if values[1] <= 0:
        raise DataError(
            f"{where(path, row, 2, 'a')}: {row.fields[1]} is not a positive spacing; a is "
            f"the distance in metres (a pole-dipole's direction is the sign of n)"
        )
    if array not in WITH_N:
        return
    if values[2] == 0 or (array != 6 and values[2] < 0):
        allowed = "not 0 (negative: reverse)" if array == 6 else "positive"
        raise DataError(
            f"{where(path, row, 3, 'n')}: {row.fields[2]}; n of a {INDEX_ARRAYS[array]} "
            f"array is {allowed}"
        )


def _is_index_row(row: TextLine, width: int) -> bool:
    """A line as wide as a data row, numbers throughout, not all zeros (a line of zeros
    ends a file)."""
    numbers = all(is_number(f) for f in row.fields)
    return len(row.fields) == width and numbers and not _zeros(row)


def _zeros(line: TextLine) -> bool:
    """A line of zeros alone ('0', '0,0,0,0'): flag 0 or the zeros that end a file."""
    return all(is_number(f) and float(f) == 0 for f in line.fields)


def _topography(path, lines: list[TextLine], at: int) -> tuple[np.ndarray | None, int]:
    """The topography section after the rows, as (n, 2) x z points or None, and the line
    index after it. Flag 0 (or a line of zeros, or no line) is none; 2 gives true horizontal
    x; 1 (x along the ground surface) is refused."""
    if at < len(lines) and lines[at].text.strip().lower().startswith("topography"):
        at += 1  # as general arrays write it: 'Topography in separate list', then the flag
    if at >= len(lines) or _zeros(lines[at]):
        return None, at
    flag = lines[at]
    kind = _whole(path, flag, "topography flag", (0, 1, 2), INDEX)
    if kind == 1:
        raise DataError(
            f"{path}, line {flag.number}, column 1 (topography flag): 1, topography as "
            f"distances along the ground surface, is not read; give its points with true "
            f"horizontal x (flag 2)"
        )
    if at + 1 >= len(lines):
        raise DataError(
            f"{path}, line {flag.number}, column 1 (topography flag): 2 ends the file; the "
            f"number of topography points and the points (x z) follow it"
        )
    count = lines[at + 1]
    m = _whole(path, count, "number of topography points", layout=INDEX)
    if m < 2:
        raise DataError(
            f"{path}, line {count.number}, column 1 (number of topography points): {m}; "
            f"elevations are interpolated between points: give at least 2"
        )
    points = np.empty((m, 2))
    for k in range(m):
        if at + 2 + k >= len(lines):
            raise DataError(
                f"{path}, line {count.number}, column 1 (number of topography points): "
                f"promises {m} points but the file ends after {k}; add them or correct "
                f"the count"
            )
        row = lines[at + 2 + k]
        expect_fields(path, row, ("x", "z"), f"topography point {k + 1} of {m}")
        points[k] = [parse_float(path, row, j, name) for j, name in enumerate(("x", "z"))]
        if k and not points[k, 0] > points[k - 1, 0]:
            raise DataError(
                f"{where(path, row, 1, 'x')}: {row.fields[0]} after {points[k - 1, 0]:g}; "
                f"topography x must increase from point to point"
            )
    return points, at + 2 + m


def _index_geometry(index: Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: A, B, M, N x positions (m; NaN for a remote pole), the remote mask and the
    row's numbers, the positions from x, a, n as the module docstring draws each array."""
    table = np.array([[float(f) for f in row.fields] for row in index.rows]).reshape(
        len(index.rows), len(index.names)
    )
    x, a = table[:, 0], table[:, 1]
    n = table[:, 2] if index.array in WITH_N else np.ones(len(table))
    offsets, length = _offsets(index.array, n)
    left = x - index.x_location * length * a / 2
    positions = np.rint((left[:, None] + offsets * a[:, None]) * PER_METRE) / PER_METRE
    remote = np.zeros(positions.shape, dtype=bool)
    remote[:, list(REMOTE_POLES.get(index.array, ()))] = True
    return positions, remote, table


def _offsets(array: int, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A, B, M, N from the leftmost electrode in units of a (NaN: remote), and the array's
    length in the same units, per row of ``n``."""
    one, nan, k = np.ones_like(n), np.full_like(n, np.nan), np.abs(n)
    forward = n > 0  # pole-dipole: C1 left of P1 P2; reverse (n < 0): P2 P1 C1
    layouts = {
        1: ((0 * one, 3 * one, one, 2 * one), 3 * one),
        2: ((0 * one, nan, one, nan), one),
        3: ((one, 0 * one, n + 1, n + 2), n + 2),
        4: ((one, 0 * one, 2 * one, 3 * one), 3 * one),
        5: ((0 * one, 2 * one, one, 3 * one), 3 * one),
        6: (
            (
                np.where(forward, 0, k + 1),
                nan,
                np.where(forward, k, 1),
                np.where(forward, k + 1, 0),
            ),
            k + 1,
        ),
        7: ((0 * one, 2 * n + 1, n, n + 1), 2 * n + 1),
    }
    offsets, length = layouts[array]
    return np.stack(offsets, axis=1), length


def _elevations(path, index: Index, positions: np.ndarray, remote: np.ndarray) -> np.ndarray:
    """Electrode elevations (m): 0 without topography, else linear between its points; an
    electrode outside the topography's x range is refused (extrapolating would guess)."""
    if index.topography is None:
        return np.zeros_like(positions)
    x, z = index.topography[:, 0], index.topography[:, 1]
    outside = ~remote & ((positions < x[0]) | (positions > x[-1]))
    if outside.any():
        i, e = np.argwhere(outside)[0]
        raise DataError(
            f"{path}, line {index.rows[i].number}, column 1 (x): electrode at x = "
            f"{positions[i, e]:g} m lies outside the topography ({x[0]:g} to {x[-1]:g} m); "
            f"extend the topography section to cover every electrode"
        )
    return np.interp(positions, x, z)


def _read_index(path, index: Index) -> FieldData:
    positions, remote, table = _index_geometry(index)
    z = _elevations(path, index, positions, remote)
    locations = np.stack([np.where(remote, 0.0, positions), z], axis=2)
    k = index.names.index("value")
    value = table[:, k]
    uncertainty = None
    if index.error is not None:
        error = table[:, k + 1]
        uncertainty = error if index.error == "absolute" else error / 100 * np.abs(value)
    rows = DataRows(
        lines=tuple(index.rows),
        value=value,
        uncertainty=uncertainty,
        columns={"value": f"column {k + 1} (value)", "uncertainty": f"column {k + 2} (error)"},
    )
    rows, keep, dropped = drop_unusable(rows, locations, remote)
    electrodes, abmn = electrodes_from_locations(locations[keep], remote[keep])
    read = build_field_data(
        path,
        "res2dinv",
        "apparent_resistivity",
        electrodes,
        abmn,
        rows,
        dropped,
        _index_notes(index),
        end=f"line {index.n.number}, column 1 (number of data points)",
    )
    if index.topography is None:
        return read
    return dataclasses.replace(read, topography=index.topography - read.origin)


def _index_notes(index: Index) -> list[str]:
    name = INDEX_ARRAYS[index.array]
    notes = [
        f"Res2DInv index-based array {index.array} ({name}), 2D line",
        "values are apparent resistivity (ohm m)",
        "x is the " + ("leftmost electrode" if index.x_location == 0 else "midpoint of the array"),
    ]
    if index.error == "absolute":
        notes.append("uncertainty: the file's error estimates (ohm m)")
    elif index.error == "percent":
        notes.append("uncertainty: the file's error estimates (percent of |value|)")
    if index.ip:
        notes.append("IP values not used")
    if index.array in REMOTE_POLES:
        notes.append(f"{name}: remote poles as {'B and N' if index.array == 2 else 'B'}")
    if index.topography is None:
        notes.append("no elevations in the file: electrodes at z = 0 (flat surface)")
    else:
        notes.append(
            f"topography section: {len(index.topography)} points (true horizontal x), "
            f"electrode elevations linear between them; used for the ground surface unless "
            f"mesh.topography names a file"
        )
    if index.trailing:
        notes.append(f"{index.trailing} lines after the data not used")
    return notes


# --- reading ----------------------------------------------------------------------------------


def read_res2dinv(path, dim: int | None) -> FieldData:
    """Read a Res2DInv file (an index-based array or the general array), a 2D line (``dim``
    3 is refused)."""
    raw = numbered_lines(path)
    parsed = _parse(path, raw)
    if dim == 3:
        raise DataError(
            f"{path}, line 1, column 1: a Res2DInv file holds a 2D line (x, z); read it as 2D"
        )
    if isinstance(parsed, Index):
        return _read_index(path, parsed)
    return _read_general(path, parsed)


def _read_general(path, general: General) -> FieldData:
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
