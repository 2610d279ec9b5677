"""CSV survey files: a header row, then one row per datum::

    a_x,a_y,a_z,b_x,b_y,b_z,m_x,m_y,m_z,n_x,n_y,n_z,value,uncertainty,type
    0,0,0,10,0,0,20,0,0,30,0,0,0.0123,0.0006,resistance

Columns (names case-insensitive, any order): the x, y, z coordinates (metres, z up) of A, B,
M and N; a line (2D) has no ``_y`` columns. ``value`` is in the row's ``type``: ``volts``,
``resistance`` (V/A) or ``apparent_resistivity`` (ohm m); a file holds one type (rows of
different types are an error: the inversion cannot mix them unconverted). Optional:
``uncertainty`` (one standard deviation in the same units; empty in every row = none) and
``current`` (amperes, for volts; without it volts are for 1 A); ``noise_free`` (what
``hpcinv forward`` writes next to the noisy values) is skipped. A pole source leaves all of
B's cells empty, a pole receiver N's. Blank lines and lines starting with ``#`` are skipped;
fields may be quoted as in any CSV. ``check_csv`` is the signature format detection uses:
the header row and rows as wide as it.
"""

from __future__ import annotations

import csv

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import (
    DataRows,
    build_field_data,
    drop_unusable,
    electrodes_from_locations,
)
from hpcinv.readers.fielddata import DATA_TYPES, FieldData
from hpcinv.readers.textlines import TextLine, numbered_lines, parse_float
from hpcinv.survey import REMOTE

#: noise_free: ``hpcinv forward``'s data before noise; accepted, not read
OPTIONAL = ("uncertainty", "current", "noise_free")


def coordinate_columns(dim: int) -> list[str]:
    axes = "xyz" if dim == 3 else "xz"
    return [f"{e}_{c}" for e in "abmn" for c in axes]


def read_csv(path, dim: int | None) -> FieldData:
    """Read a CSV survey; ``dim`` 2 or 3 (None: from the columns) must match the columns."""
    records = [_record(path, line) for line in _content(path)]
    if not records:
        raise DataError(
            f"{path}, line 1, column 1: the file is empty; give a header row "
            f"({','.join(coordinate_columns(3))},value,uncertainty,type) and data"
        )
    header, rows = records[0], records[1:]
    columns, dim = _columns(path, header, dim)
    if not rows:
        raise DataError(
            f"{path}, line {header.number}, column 1: the survey is empty: the "
            f"header is not followed by data rows; add data rows"
        )
    for row in rows:
        _check_width(path, row, header)
    data_type = _data_type(path, rows, columns["type"])
    locations, remote = _locations(path, rows, columns, dim)
    data = _data_rows(path, rows, columns)
    data, keep, dropped = drop_unusable(data, locations, remote)
    electrodes, abmn = electrodes_from_locations(locations[keep], remote[keep])
    notes = [f"CSV, {'3D' if dim == 3 else '2D line'}"]
    if data_type == "volts" and data.current is None:
        notes.append("no current column: volts taken for a current of 1 A")
    return build_field_data(
        path,
        "csv",
        data_type,
        electrodes,
        abmn,
        data,
        dropped,
        notes,
        end=f"line {rows[-1].number}, column 1",
    )


def check_csv(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` starts, after ``#``
    lines, with a header row naming a_x and otherwise only the columns ``read_csv`` knows
    (each once, the required ones present), and every row has as many cells as the header.
    The signature format detection accepts; ``read_csv`` checks the same and then the
    cells. ``lines``: the file's ``numbered_lines`` if already read."""
    lines = _content(path, lines)
    if not lines:
        raise DataError(f"{path}, line 1, column 1 (header): no header row (nothing but comments)")
    header = _record(path, lines[0])
    if "a_x" not in (name.lower() for name in header.fields):
        text = " ".join(header.text.split())
        raise DataError(
            f"{path}, line {header.number}, column 1 (header): no header with "
            f"a_x,...,n_z,value,type: line {header.number} is "
            f"{text[:37] + '...' if len(text) > 40 else text!r}"
        )
    _columns(path, header, None)
    for line in lines[1:]:
        _check_width(path, _record(path, line), header)


def _content(path, lines: list[TextLine] | None = None) -> list[TextLine]:
    """The lines that are not blank and do not start with ``#``."""
    return [
        line
        for line in (numbered_lines(path) if lines is None else lines)
        if not line.text.lstrip().startswith("#")
    ]


def _record(path, line: TextLine) -> TextLine:
    """``line`` with its fields as CSV cells, stripped."""
    try:
        cells = next(csv.reader([line.text]))
    except csv.Error as exc:
        raise DataError(
            f"{path}, line {line.number}, column 1: not a CSV row ({exc}); correct the line"
        ) from None
    return TextLine(line.number, line.text, tuple(c.strip() for c in cells))


def _columns(path, header: TextLine, dim: int | None) -> tuple[dict[str, int], int]:
    names = [c.lower() for c in header.fields]
    found_dim = 3 if any(n.endswith("_y") for n in names) else 2
    if dim is not None and dim != found_dim:
        raise DataError(
            f"{path}, line {header.number}, column 1 (header): the columns "
            f"describe a {found_dim}D survey but {dim}D was asked for; "
            f"{'drop' if found_dim == 3 else 'add'} the _y columns or change the "
            f"dimension"
        )
    known = [*coordinate_columns(found_dim), "value", "type", *OPTIONAL]
    for j, name in enumerate(names):
        if name not in known or names.index(name) != j:
            problem = "unknown" if name not in known else "repeated"
            raise DataError(
                f"{path}, line {header.number}, column {j + 1} ({name}): {problem} "
                f"column; the columns are {','.join(known)} (each once)"
            )
    missing = [n for n in known if n not in names and n not in OPTIONAL]
    if missing:
        raise DataError(
            f"{path}, line {header.number}, column {len(names) + 1} (header): "
            f"missing column(s) {', '.join(missing)}; add them to the header"
        )
    return {name: j for j, name in enumerate(names)}, found_dim


def _check_width(path, row: TextLine, header: TextLine) -> None:
    found, expected = len(row.fields), len(header.fields)
    if found != expected:
        column = min(found, expected) + 1
        raise DataError(
            f"{path}, line {row.number}, column {column}: found {found} fields, "
            f"expected {expected} as in the header on line {header.number}; "
            f"correct the row (an empty cell still needs its comma)"
        )


def _data_type(path, rows: list[TextLine], k: int) -> str:
    first_line: dict[str, int] = {}
    for row in rows:
        kind = row.fields[k].lower()
        if kind not in DATA_TYPES:
            raise DataError(
                f"{path}, line {row.number}, column {k + 1} (type): {kind!r} is "
                f"not a data type; use one of {', '.join(DATA_TYPES)}"
            )
        first_line.setdefault(kind, row.number)
    if len(first_line) > 1:
        kinds = ", ".join(f"{t} (first on line {n})" for t, n in first_line.items())
        raise DataError(
            f"{path}, line {rows[0].number}, column {k + 1} (type): the rows mix "
            f"data types: {kinds}; the inversion cannot mix them unconverted: "
            f"convert every row to one type or split the file"
        )
    return next(iter(first_line))


def _locations(path, rows: list[TextLine], columns: dict, dim: int):
    """(n, 4, dim) coordinates and (n, 4) remote flags (B or N with all cells empty)."""
    axes = "xyz" if dim == 3 else "xz"
    locations = np.zeros((len(rows), 4, dim))
    remote = np.zeros((len(rows), 4), dtype=bool)
    for i, row in enumerate(rows):
        for e, electrode in enumerate("abmn"):
            names = [f"{electrode}_{c}" for c in axes]
            cells = [row.fields[columns[n]] for n in names]
            if electrode in "bn" and not any(cells):
                remote[i, e] = True
                continue
            if electrode in "bn" and not all(cells):
                empty = names[cells.index("")]
                raise DataError(
                    f"{path}, line {row.number}, column {columns[empty] + 1} "
                    f"({empty}): empty while other {electrode.upper()} cells are "
                    f"not; leave all of them empty for a pole, or fill them all"
                )
            locations[i, e] = [parse_float(path, row, columns[n], n) for n in names]
    return locations, remote


def _data_rows(path, rows: list[TextLine], columns: dict) -> DataRows:
    return DataRows(
        lines=tuple(rows),
        value=_column(path, rows, columns, "value"),
        uncertainty=_optional(path, rows, columns, "uncertainty"),
        current=_optional(path, rows, columns, "current"),
        columns={
            key: f"column {columns[key] + 1} ({key})"
            for key in ("value", *OPTIONAL)
            if key in columns
        }
        | {e.upper(): f"column {columns[f'{e}_x'] + 1} ({e}_x)" for e in "bn"},
    )


def _column(path, rows, columns, name) -> np.ndarray:
    return np.array([parse_float(path, row, columns[name], name) for row in rows])


def _optional(path, rows, columns, name) -> np.ndarray | None:
    """An optional column: absent or empty in every row is None, empty in some an error."""
    if name not in columns:
        return None
    empty = [row for row in rows if row.fields[columns[name]] == ""]
    if len(empty) == len(rows):
        return None
    if empty:
        raise DataError(
            f"{path}, line {empty[0].number}, column {columns[name] + 1} ({name}): "
            f"empty while other rows have a {name}; give every row one or none"
        )
    return _column(path, rows, columns, name)


def write_csv(
    path,
    electrodes: np.ndarray,
    abmn: np.ndarray,
    dobs: np.ndarray,
    uncertainty: np.ndarray | None,
    data_type: str,
    current: np.ndarray | None = None,
    noise_free: np.ndarray | None = None,
) -> None:
    """Write one row per datum; electrodes (n_e, dim) metres, values in ``data_type``;
    ``noise_free``: synthetic data before noise, in a column of its own."""
    dim = electrodes.shape[1]
    header = [
        *coordinate_columns(dim),
        "value",
        "uncertainty",
        "type",
        *(["current"] if current is not None else []),
        *(["noise_free"] if noise_free is not None else []),
    ]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for r in range(len(abmn)):
            cells = []
            for index in abmn[r]:
                cells += [""] * dim if index == REMOTE else [_number(v) for v in electrodes[index]]
            cells += [
                _number(dobs[r]),
                "" if uncertainty is None else _number(uncertainty[r]),
                data_type,
            ]
            cells += [] if current is None else [_number(current[r])]
            cells += [] if noise_free is None else [_number(noise_free[r])]
            writer.writerow(cells)


def _number(value) -> str:
    # repr is the shortest text that reads back to the same float64.
    return repr(float(value))
