"""ABEM Terrameter LS / SAS text exports ("Export data" as ASCII, tab separated).

Optional lines of text (project, instrument, settings), then a header row of column names,
then one row per measurement. The layout read is the one pyGIMLi's ``importAsciiColumns``
documents for the Terrameter LS and SAS exports (and a Terrameter conversion script lays
out column by column)::

    Time  MeasID  DPID  Channel  A(x)  A(y)  A(z)  B(x)  B(y)  B(z)  M(x)  M(y)  M(z)
    N(x)  N(y)  N(z)  F(x)  F(y)  F(z)  Note  I(mA)  Uout(V)  U(V)  SP(V)  R(O)  Var(%)
    Rhoa  Cycles  Pint  Pext(V)  T(°C)  Lat  Long

(one tab-separated row; the ``Time`` cell holds a date and a time separated by a blank, so
a file whose header has no tab is split at blanks and then needs one cell per name).
Columns read (names compared without blanks, case-insensitive; any order; others skipped):

* ``A(x) A(y) A(z) ... N(x) N(y) N(z)``: electrode coordinates in metres, x required, y and
  z optional (elevation 0 without z); y absent or constant is a 2D line (x, z), else 3D;
* ``U(V)`` (also ``Voltage(V)``, the older ABEM name) in volts and ``I(mA)`` in mA: the values
  are R = U / I (V/A), from the measured potential and current; without them ``R(O)``
  (``R(Ohm)``, ``Res.(ohm)``) in ohm;
* ``Var(%)`` (also ``Error(%)``): the relative standard deviation in percent; uncertainty =
  Var/100 |R| when every row has Var > 0, else none is read (noted).

``Rhoa`` / ``App.R.(ohmm)`` is not used (it depends on the geometric factor the instrument
assumed). The export convention for remote electrodes is not documented in the sources this
reader was written from: every electrode is read at the coordinates the file gives (no
``REMOTE``). ``check_abem`` is the signature format detection uses: a header row (within
the first 300 lines) naming A(x), B(x), M(x), N(x) and either U(V) with I(mA) or R(O); every
later row as wide, with numbers in those columns.
"""

from __future__ import annotations

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import (
    DataRows,
    build_field_data,
    drop_unusable,
    electrodes_from_locations,
)
from hpcinv.readers.columns import geometry, read_table
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.textlines import TextLine, numbered_lines

ELECTRODES = "ABMN"
VOLTAGE_NAMES = ("u(v)", "voltage(v)")
CURRENT_NAMES = ("i(ma)",)
RESISTANCE_NAMES = ("r(o)", "r(ohm)", "res.(ohm)")
VAR_NAMES = ("var(%)", "error(%)")
#: Lines of text allowed before the header row (LS exports may carry a long preamble).
PREAMBLE = 300


def _coordinate(names: tuple[str, ...], axis: str) -> list[int] | None:
    wanted = [f"{e.lower()}({axis})" for e in ELECTRODES]
    return [names.index(w) for w in wanted] if all(w in names for w in wanted) else None


def _is_header(names: tuple[str, ...]) -> bool:
    return _coordinate(names, "x") is not None


def check_abem(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is a Terrameter text
    export (see the module docstring). The signature format detection accepts;
    ``read_abem`` checks the same and then the values."""
    _parse(path, numbered_lines(path) if lines is None else lines)


def _parse(path, lines: list[TextLine]):
    if not lines:
        raise DataError(f"{path}, line 1, column 1: the file is empty; give a Terrameter export")
    table = read_table(
        path, lines, _is_header, "Terrameter (A(x) ... N(x), U(V), I(mA))", preamble=PREAMBLE
    )
    k_u, k_i = table.find(VOLTAGE_NAMES), table.find(CURRENT_NAMES)
    k_r = table.find(RESISTANCE_NAMES)
    if (k_u is None or k_i is None) and k_r is None:
        missing = "U(V)" if k_u is None else "I(mA)"
        raise DataError(
            f"{path}, line {table.header.number}, column {len(table.names) + 1} (header): no "
            f"{missing} column and no R(O) column: the values cannot be formed; export U(V) "
            f"and I(mA) (or R(O))"
        )
    axes = {axis: _coordinate(table.names, axis) for axis in "xyz"}
    coords = {
        axis: None if cols is None else np.column_stack([table.column(path, k) for k in cols])
        for axis, cols in axes.items()
    }
    if k_u is not None and k_i is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = table.column(path, k_u) / (table.column(path, k_i) * 1e-3)
        source = f"U/I ({table.label(k_u)} V / {table.label(k_i)} mA)"
    else:
        assert k_r is not None
        value = table.column(path, k_r)
        source = f"{table.label(k_r)} (ohm)"
    return table, axes, coords, value, source


def read_abem(path, dim: int | None) -> FieldData:
    """Read a Terrameter LS/SAS text export; ``dim`` 2 or 3 (None: from the positions)."""
    lines = numbered_lines(path)
    table, axes, coords, value, source = _parse(path, lines)
    remote = np.zeros(coords["x"].shape, dtype=bool)
    locations, notes = geometry(
        path, table.header, coords["x"], coords["y"], coords["z"], remote, dim
    )
    notes = [
        f"ABEM Terrameter export, {'3D' if locations.shape[-1] == 3 else '2D line'}",
        *notes,
        f"values (V/A) from {source}; Rhoa not used",
    ]
    if table.header.number > lines[0].number:
        notes.append(f"{table.header.number - lines[0].number} lines before the header skipped")
    k_var = table.find(VAR_NAMES)
    uncertainty = None
    if k_var is not None:
        var = table.column(path, k_var)
        if np.all(var > 0):
            uncertainty = var / 100.0 * np.abs(value)
            notes.append(f"uncertainty = Var/100 |R| ({table.label(k_var)})")
        else:
            notes.append(
                f"{int(np.sum(~(var > 0)))} rows with {table.header.fields[k_var]} <= 0: no "
                f"uncertainties read; set them with assign_uncertainty"
            )
    x_cols = axes["x"]
    rows = DataRows(
        lines=tuple(table.rows),
        value=value,
        uncertainty=uncertainty,
        columns={
            "value": source,
            **({"uncertainty": table.label(k_var)} if k_var is not None else {}),
            "B": table.label(x_cols[1]),
            "N": table.label(x_cols[3]),
        },
    )
    rows, keep, dropped = drop_unusable(rows, locations, remote)
    electrodes, abmn = electrodes_from_locations(locations[keep], remote[keep])
    return build_field_data(
        path,
        "abem",
        "resistance",
        electrodes,
        abmn,
        rows,
        dropped,
        notes,
        end=f"line {table.rows[-1].number}, column 1",
    )
