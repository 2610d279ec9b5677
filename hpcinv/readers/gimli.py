"""pyGIMLi's unified data format (``.dat``, ``.ohm``, ``.shm``; BERT's too)::

    4                  number of sensors
    # x y z            sensor columns, in any order
    0 0 0              one line per sensor
    ...
    3                  number of data
    # a b m n r err    data columns, in any order
    1 2 3 4 12.5 0.03  one line per datum
    ...
    0                  optional: number of topography points, "# x y z", the points

``#`` starts a comment, except on the column header after each count. Electrode indices
count sensors from 1; 0 means no electrode (B of a pole source, N of a pole receiver).
Data columns (names case-insensitive; a unit after ``/`` is ignored): ``a b m n`` and any of
``r`` resistance (V/A), ``u`` voltage (V), ``i`` current (A), ``rhoa`` apparent resistivity
(ohm m), ``k`` geometric factor (m), ``err`` relative error (a fraction: uncertainty =
err |value|), ``ip`` (not used), ``valid`` (0 drops the row). The values come from ``r``,
else ``u`` (divided by ``i`` later, 1 A without it), else ``rhoa`` (with ``k`` if given).
Other columns are ignored and noted. The topography block (points in the sensors' columns)
is kept in ``FieldData.topography``: a run takes its ground surface from it unless
``mesh.topography`` names a file.
Sensor entries at one position (instrument exports list an electrode once per cable or
line it is on) are merged into one electrode, with a note; every datum is kept.

``check_gimli`` is the signature format detection uses: the sensor count alone on the first
line, its ``#`` header, that many sensor rows, the data count, a header naming ``a b m n``,
that many rows, then at most a topography block.

Sensors: ``x y z`` is a 3D survey unless y is the same for every sensor (pyGIMLi writes a
flat line as ``x 0 0``): such a block is a line, as the instrument readers take a constant
y, and a run simulates it in 2.5D (``dimension = "3d"`` keeps it 3D). ``x z``, ``x y`` (y
is the elevation: pyGIMLi's 2D convention) and ``x`` (flat) are lines. Asked for 2D, an
``x y z`` block is read as a line when z is all zero (pyGIMLi writes 2D sensors so, y being
the elevation) or y is constant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import DataRows, build_field_data, drop_unusable
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.textlines import (
    TextLine,
    expect_fields,
    is_number,
    numbered_lines,
    parse_float,
    parse_integer,
)
from hpcinv.survey import REMOTE

ELECTRODE_COLUMNS = ("a", "b", "m", "n")
VALUE_COLUMNS = ("r", "rhoa", "u", "i", "err", "k", "ip", "valid")
#: The column the values come from, in order of preference, and what they are.
VALUE_SOURCES = (("r", "resistance"), ("u", "volts"), ("rhoa", "apparent_resistivity"))


@dataclass
class Block:
    """A count line, its column header and its rows."""

    count: TextLine
    columns: list[str]
    header: TextLine
    rows: list[TextLine]

    def column(self, path, name: str, parse=parse_float) -> np.ndarray:
        k = self.columns.index(name)
        return np.array([parse(path, row, k, name) for row in self.rows])


class Cursor:
    """Walks the lines of the file; ``#`` lines are comments unless a header is expected."""

    def __init__(self, path, lines: list[TextLine]):
        self.path, self.lines, self.i = path, lines, 0

    def next_line(self) -> TextLine | None:
        while self.i < len(self.lines):
            line = self.lines[self.i]
            self.i += 1
            if not line.text.lstrip().startswith("#"):
                return TextLine(line.number, line.text, tuple(line.text.split("#")[0].split()))
        return None

    def block(self, what: str, allowed: tuple[str, ...] | None) -> Block | None:
        count_line = self.next_line()
        if count_line is None:
            return None
        expect_fields(self.path, count_line, [f"number of {what}"], f"the {what} count")
        n = parse_integer(self.path, count_line, 0, f"number of {what}")
        header, columns = self._header(count_line, what, allowed)
        rows = [self._row(count_line, n, k, len(columns), what) for k in range(n)]
        return Block(count_line, columns, header, rows)

    def _header(self, count: TextLine, what: str, allowed) -> tuple[TextLine, list[str]]:
        line = self.lines[self.i] if self.i < len(self.lines) else None
        if line is None or not line.text.lstrip().startswith("#"):
            at = f"line {line.number}" if line else "the end of the file"
            raise DataError(
                f"{self.path}, line {count.number + 1}, column 1 (header): "
                f"expected the {what} column header (e.g. '# x y z' or "
                f"'# a b m n r err') after the count on line {count.number}, "
                f"found {at}; add the header"
            )
        self.i += 1
        columns = [t.split("/")[0].lower() for t in line.text.lstrip()[1:].split()]
        for j, name in enumerate(columns):
            if columns.index(name) != j or (allowed is not None and name not in allowed):
                problem = "repeated" if columns.index(name) != j else "unknown"
                raise DataError(
                    f"{self.path}, line {line.number}, column {j + 1} ({name}): "
                    f"{problem} {what} column; use {' '.join(allowed or ())} "
                    f"once each"
                )
        return TextLine(line.number, line.text, tuple(columns)), columns

    def _row(self, count: TextLine, n: int, k: int, width: int, what: str) -> TextLine:
        line = self.next_line()
        if line is None or (len(line.fields) == 1 and width > 1):
            after = (
                "the file ends"
                if line is None
                else (f"line {line.number} looks like the next count")
            )
            raise DataError(
                f"{self.path}, line {count.number}, column 1 (number of {what}): "
                f"promises {n} {what} rows but {after} after {k}; add the missing "
                f"rows or correct the count (the file may be truncated)"
            )
        return line


def read_gimli(path, dim: int | None) -> FieldData:
    """Read a pyGIMLi unified data file; ``dim`` 2 or 3 asks for a line or a 3D survey."""
    cursor = Cursor(path, numbered_lines(path))
    sensors = cursor.block("sensors", ("x", "y", "z"))
    if sensors is None:
        raise DataError(
            f"{path}, line 1, column 1 (number of sensors): the file is empty; "
            f"give the sensors and the data"
        )
    electrodes, notes = _electrodes(path, sensors, dim)
    electrodes, sensor_electrode, merged = _merge_repeated_sensors(sensors, electrodes)
    notes += merged
    data = cursor.block("data", None)
    if data is None:
        raise DataError(
            f"{path}, line {sensors.rows[-1].number if sensors.rows else 1}, "
            f"column 1 (number of data): no data block after the sensors; "
            f"the survey is empty: add the data count, header and rows"
        )
    for row in data.rows:
        expect_fields(
            path, row, data.columns, f"a data row (as the header on line {data.header.number})"
        )
    topography = _topography(path, cursor, data, electrodes.shape[1])
    abmn = _indices(path, data, len(sensor_electrode)).astype(np.int64)
    abmn = np.where(abmn == REMOTE, REMOTE, sensor_electrode[np.maximum(abmn, 0)])
    rows, data_type, more_notes = _data_rows(path, data)
    rows, kept, dropped = drop_unusable(rows)
    if topography is not None:
        notes.append(
            f"topography block: {len(topography)} points, used for the ground surface unless "
            f"mesh.topography names a file"
        )
    read = build_field_data(
        path,
        "pygimli",
        data_type,
        electrodes,
        abmn[kept],
        rows,
        dropped,
        notes + more_notes,
        end=f"line {data.count.number}, column 1 (number of data)",
    )
    if topography is None:
        return read
    return dataclasses.replace(read, topography=topography - read.origin)


def check_gimli(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is laid out as unified
    data: the number of sensors alone on the first line (after ``#`` comments), a ``#``
    header of x, y, z columns, that many rows of numbers as wide as the header, the number of
    data, a ``#`` header naming a, b, m and n, that many rows as wide as it with whole-number
    indices, then nothing but an optional topography block. The signature format detection
    accepts; ``read_gimli`` checks the same and then the values. ``lines``: the file's
    ``numbered_lines`` if already read."""
    lines = numbered_lines(path) if lines is None else lines
    cursor = Cursor(path, lines)
    _check_sensor_count(path, cursor)
    cursor.i = 0
    sensors = cursor.block("sensors", ("x", "y", "z"))
    for row in sensors.rows:
        expect_fields(
            path,
            row,
            sensors.columns,
            f"a sensor row (as the header on line {sensors.header.number})",
        )
    for name in sensors.columns:
        sensors.column(path, name)
    data = _check_data_block(path, cursor, sensors)
    _topography(path, cursor, data, None)


def _check_sensor_count(path, cursor: Cursor) -> None:
    """Raise ``DataError`` unless the first line that is not a comment is the number of
    sensors alone, followed by a ``#`` header line. Leaves ``cursor`` past the count."""
    # Checked before ``Cursor.block`` reads them, so that a file of another format is
    # refused with a message about its first line, not about a header or a row.
    first = cursor.next_line()
    if first is None:
        raise DataError(
            f"{path}, line 1, column 1 (number of sensors): no sensor-count line "
            f"(nothing but comments)"
        )
    if len(first.fields) != 1 or not _count(first.fields[0]):
        raise DataError(
            f"{path}, line {first.number}, column 1 (number of sensors): no "
            f"sensor-count line: line {first.number} is {_quote(first)}, not the "
            f"number of sensors alone"
        )
    lines = cursor.lines
    after = lines[cursor.i] if cursor.i < len(lines) else None
    if after is None or not after.text.lstrip().startswith("#"):
        at = f"line {after.number} is not" if after else "the file ends without"
        raise DataError(
            f"{path}, line {after.number if after else first.number}, column 1 "
            f"(header): {at} a '# x y z' sensor header after the count on line "
            f"{first.number}"
        )


def _check_data_block(path, cursor: Cursor, sensors: Block) -> Block:
    """The data block after ``sensors``; raises ``DataError`` unless it is there, its header
    names a b m n, its rows are as wide as the header and their indices whole numbers."""
    data = cursor.block("data", None)
    if data is None:
        last = sensors.rows[-1].number if sensors.rows else sensors.header.number
        raise DataError(
            f"{path}, line {last}, column 1 (number of data): no data block (a "
            f"count, a '# a b m n ...' header, the rows) after the sensors"
        )
    missing = [name for name in ELECTRODE_COLUMNS if name not in data.columns]
    if missing:
        raise DataError(
            f"{path}, line {data.header.number}, column 1 (header): the data "
            f"header names no {' '.join(missing)} column; a pyGIMLi data header "
            f"names a b m n"
        )
    for row in data.rows:
        expect_fields(
            path, row, data.columns, f"a data row (as the header on line {data.header.number})"
        )
    for name in ELECTRODE_COLUMNS:
        data.column(path, name, parse_integer)
    return data


def _count(token: str) -> bool:
    return is_number(token) and float(token).is_integer() and float(token) >= 0


def _quote(line: TextLine, width: int = 40) -> str:
    """The line for a message: blanks collapsed, cut to ``width`` characters, quoted."""
    text = " ".join(line.text.split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _electrodes(path, sensors: Block, dim: int | None) -> tuple[np.ndarray, list[str]]:
    for row in sensors.rows:
        expect_fields(
            path,
            row,
            sensors.columns,
            f"a sensor row (as the header on line {sensors.header.number})",
        )
    if "x" not in sensors.columns:
        raise DataError(
            f"{path}, line {sensors.header.number}, column 1 (header): the sensor "
            f"header has no x column; name the columns, e.g. '# x y z'"
        )
    xyz = {c: sensors.column(path, c) for c in sensors.columns}
    _check_sensors(path, sensors, np.column_stack(list(xyz.values())))
    return _sensor_geometry(path, sensors.header, xyz, dim)


def _check_sensors(path, sensors: Block, positions: np.ndarray) -> None:
    columns = " ".join(sensors.columns)
    for row, position in zip(sensors.rows, positions):
        if not np.isfinite(position).all():
            raise DataError(
                f"{path}, line {row.number}, columns {columns}: sensor position "
                f"{position.tolist()} is not finite; give its coordinates"
            )


def _merge_repeated_sensors(
    sensors: Block, electrodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(electrodes, sensor_electrode, notes): two sensor entries at one position are one
    electrode (instrument exports list an electrode once per cable or line it is on), so
    they are merged, the first entry kept; ``sensor_electrode[k]`` is the electrode of sensor
    k (0-based). The data keep every row: repeated measurements stay repeats."""
    if len(electrodes) < 2:
        return electrodes, np.arange(len(electrodes)), []
    _, first, inverse = np.unique(electrodes, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))  # electrodes in the file's order
    sensor_electrode = rank[inverse]
    repeated = np.flatnonzero(first[inverse] != np.arange(len(electrodes)))
    if not repeated.size:
        return electrodes, sensor_electrode, []
    j = int(repeated[0])
    i = int(first[inverse[j]])
    note = (
        f"{repeated.size} sensor entr{'y' if repeated.size == 1 else 'ies'} at the position "
        f"of an earlier sensor merged into that electrode ({len(first)} electrodes from "
        f"{len(electrodes)} sensors), e.g. sensor {j + 1} (line {sensors.rows[j].number}) "
        f"= sensor {i + 1} (line {sensors.rows[i].number}) at {electrodes[j].tolist()}"
    )
    return electrodes[np.sort(first)], sensor_electrode, [note]


def _sensor_geometry(path, header: TextLine, xyz: dict, dim: int | None):
    columns = set(xyz)
    zeros = np.zeros_like(xyz["x"])
    if columns == {"x", "y", "z"}:
        if dim is None:
            return _auto_geometry(path, header, xyz)
        if dim != 2:
            return np.column_stack([xyz["x"], xyz["y"], xyz["z"]]), []
        if not xyz["z"].any():
            return np.column_stack([xyz["x"], xyz["y"]]), [
                "sensors x y z with z = 0 read as a line: y is the elevation (pyGIMLi 2D)"
            ]
        if np.ptp(xyz["y"]) == 0:
            return np.column_stack([xyz["x"], xyz["z"]]), [
                "sensors x y z with constant y read as a line (x, z)"
            ]
        raise DataError(
            f"{path}, line {header.number}, column 1 (header): the sensors "
            f"vary in x, y and z, which is no line; read the file as 3D"
        )
    if dim == 3:
        raise DataError(
            f"{path}, line {header.number}, column 1 (header): sensor columns "
            f"'{' '.join(xyz)}' describe a line; read the file as 2D"
        )
    if columns == {"x", "z"}:
        return np.column_stack([xyz["x"], xyz["z"]]), []
    if columns == {"x", "y"}:
        return np.column_stack([xyz["x"], xyz["y"]]), [
            "sensor columns x y: y is the elevation (pyGIMLi's 2D convention)"
        ]
    return np.column_stack([xyz["x"], zeros]), ["sensor column x only: elevation 0 (flat)"]


def _auto_geometry(path, header: TextLine, xyz: dict):
    """Sensors ``x y z`` when the dimension is not given: one y for all (pyGIMLi writes a
    flat line as x 0 0) is a line, as the instrument readers (``columns.geometry``) take a
    constant y, and runs in 2.5D; otherwise 3D, with a note where the file may be a line all
    the same."""
    x, y, z = xyz["x"], xyz["y"], xyz["z"]
    if len(y) > 1 and np.ptp(y) == 0:  # one sensor makes no line: the file's x y z stand
        points, _ = _sensor_geometry(path, header, xyz, 2)
        layout = "a line, y the elevation (pyGIMLi 2D)" if not z.any() else "a line (x, z)"
        return points, [
            f"sensors x y z all at y = {y[0]:g}: {layout}; a run simulates it in "
            f'2.5D (dimension = "3d" reads it as 3D)'
        ]
    points = np.column_stack([x, y, z])
    if not z.any() and np.all(np.diff(x) > 0):
        return points, [
            "sensors x y z with z = 0 and x increasing read as 3D on flat ground; if y is "
            'the elevation (pyGIMLi\'s 2D convention), give dimension = "2d"'
        ]
    if _collinear(x, y):
        return points, [
            "the sensors lie on one straight line that is not along x: read and run as 3D "
            "(a 2.5D run needs the line along x, y constant)"
        ]
    return points, []


def _collinear(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether the horizontal positions lie on one straight line (within a millionth of
    its length)."""
    xy = np.column_stack([x, y]) - [x.mean(), y.mean()]
    s = np.linalg.svd(xy, compute_uv=False)
    return len(x) > 1 and s[0] > 0 and s[1] <= 1e-6 * s[0]


def _topography(path, cursor: Cursor, data: Block, dim: int | None) -> np.ndarray | None:
    """The optional topography block as (n, dim) points in the sensors' convention (file
    coordinates), or None; anything else after the data means the data count is too small."""
    start = cursor.i
    line = cursor.next_line()
    if line is None:
        return None
    if len(line.fields) != 1:
        raise DataError(
            f"{path}, line {line.number}, column 1: a row after the "
            f"{len(data.rows)} data rows promised on line {data.count.number}; "
            f"correct the count there (only a topography count may follow)"
        )
    if parse_integer(path, line, 0, "number of topography points") == 0:
        return None
    cursor.i = start
    block = cursor.block("topography points", ("x", "y", "z"))
    if not block.rows:
        return None
    for row in block.rows:
        expect_fields(
            path,
            row,
            block.columns,
            f"a topography row (as the header on line {block.header.number})",
        )
    xyz = {c: block.column(path, c) for c in block.columns}
    if dim == 2 and set(xyz) == {"x", "y", "z"} and xyz["z"].any() and np.ptp(xyz["y"]) != 0:
        raise DataError(
            f"{path}, line {block.header.number}, column 1 (header): topography points at "
            f"several y for sensors on a line; give the topography along the line, or "
            f'dimension = "3d" to read both as 3D'
        )
    points, _ = _sensor_geometry(path, block.header, xyz, dim)
    if dim is not None and points.shape[1] != dim:
        raise DataError(
            f"{path}, line {block.header.number}, column 1 (header): topography columns "
            f"{' '.join(block.columns)} give {points.shape[1]}D points for a {dim}D survey; "
            f"use the sensors' columns"
        )
    if not np.isfinite(points).all():
        i = int(np.flatnonzero(~np.isfinite(points).all(axis=1))[0])
        raise DataError(
            f"{path}, line {block.rows[i].number}, columns {' '.join(block.columns)}: "
            f"topography point {points[i].tolist()} is not finite; give its coordinates"
        )
    return points


def _indices(path, data: Block, n_sensors: int) -> np.ndarray:
    """(n, 4) 0-based indices; 0 in the file (no electrode) becomes ``REMOTE``."""
    for name in ELECTRODE_COLUMNS:
        if name not in data.columns:
            raise DataError(
                f"{path}, line {data.header.number}, column 1 (header): the data "
                f"header has no '{name}' column; name the a b m n columns"
            )
    abmn = np.column_stack([data.column(path, c, parse_integer) for c in ELECTRODE_COLUMNS])
    for e, name in enumerate(ELECTRODE_COLUMNS):
        lowest = 0 if name in ("b", "n") else 1
        bad = np.flatnonzero((abmn[:, e] < lowest) | (abmn[:, e] > n_sensors))
        if bad.size:
            row = data.rows[int(bad[0])]
            raise DataError(
                f"{path}, line {row.number}, column "
                f"{data.columns.index(name) + 1} ({name}): electrode index "
                f"{abmn[bad[0], e]} is out of range {lowest}..{n_sensors}; indices "
                f"count the {n_sensors} sensors from 1 (0 = none, only for b and n)"
            )
    return np.where(abmn == 0, REMOTE, abmn - 1)


def _data_rows(path, data: Block) -> tuple[DataRows, str, list[str]]:
    present = [c for c in data.columns if c in VALUE_COLUMNS]
    source = next(((c, t) for c, t in VALUE_SOURCES if c in present), None)
    if source is None:
        raise DataError(
            f"{path}, line {data.header.number}, column 1 (header): no data "
            f"column; give one of r (V/A), u (V) or rhoa (ohm m)"
        )
    name, data_type = source
    value = data.column(path, name)
    notes = [f"values from column {name} ({data_type})"]
    unused = [
        c
        for c in data.columns
        if c not in ELECTRODE_COLUMNS
        and c
        not in (
            name,
            "err",
            "valid",
            *(("i",) if name == "u" else ()),
            *(("k",) if name == "rhoa" else ()),
        )
    ]
    if unused:
        notes.append(f"columns not used: {' '.join(unused)}")
    if name == "u" and "i" not in present:
        notes.append("no current column i: voltages taken for a current of 1 A")
    err = data.column(path, "err") if "err" in present else None
    columns = {
        key: f"column {data.columns.index(col) + 1} ({col})"
        for key, col in (
            ("value", name),
            ("uncertainty", "err"),
            ("current", "i"),
            ("B", "b"),
            ("N", "n"),
        )
        if col in data.columns
    }
    rows = DataRows(
        lines=tuple(data.rows),
        value=value,
        uncertainty=None if err is None else err * np.abs(value),
        current=data.column(path, "i") if name == "u" and "i" in present else None,
        geometric_factor=(data.column(path, "k") if name == "rhoa" and "k" in present else None),
        valid=data.column(path, "valid") != 0 if "valid" in present else None,
        columns=columns,
    )
    return rows, data_type, notes


def write_gimli(
    path,
    electrodes: np.ndarray,
    abmn: np.ndarray,
    dobs: np.ndarray,
    uncertainty: np.ndarray | None,
    data_type: str,
    current: np.ndarray | None = None,
    k: np.ndarray | None = None,
) -> None:
    """Write sensors (``x y z``, or ``x y`` with y the elevation for a line) and data.

    dobs, uncertainty: (n,) in ``data_type`` units; the uncertainty is written as pyGIMLi's
    relative ``err`` = uncertainty / |value| (a zero value with an uncertainty is an error).
    current: (n,) A for volts; k: (n,) m for apparent resistivity.
    """
    column = {c_type: c for c, c_type in VALUE_SOURCES}[data_type]
    extra = {"i": current, "k": k}
    columns = {column: dobs, **{c: v for c, v in extra.items() if v is not None}}
    if uncertainty is not None:
        if np.any(dobs == 0):
            i = int(np.flatnonzero(dobs == 0)[0])
            raise DataError(
                f"{path}: datum {i} is 0 but has an uncertainty; pyGIMLi stores "
                f"relative errors: write another format"
            )
        columns["err"] = uncertainty / np.abs(dobs)
    out = [str(len(electrodes)), "# x y z" if electrodes.shape[1] == 3 else "# x y"]
    out += [_numbers(p) for p in electrodes]
    out += [str(len(abmn)), "# a b m n " + " ".join(columns)]
    indices = np.where(abmn == REMOTE, 0, abmn + 1)
    for r in range(len(abmn)):
        out.append(
            " ".join(str(i) for i in indices[r]) + " " + _numbers([v[r] for v in columns.values()])
        )
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def _numbers(values) -> str:
    # repr is the shortest text that reads back to the same float64.
    return " ".join(repr(float(v)) for v in values)
