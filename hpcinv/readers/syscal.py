"""IRIS Instruments Syscal Pro exports (Prosys "Export ASCII"); the column-table helpers it
shares with the other instrument readers are in ``columns``.

A header row of column names, then one row per measurement, the cells separated by tabs,
commas or (when the header has neither) blanks, e.g. (Prosys II, as ResIPy's examples)::

    ,El-array,Spa.1,Spa.2,Spa.3,Spa.4,Rho ,Dev., M  ,Sp  ,Vp  ,In  ,Time,...
    ,Dipole Dipole,0.00,5.00,10.00,15.00,103.7,0.2,0.00,-6.4,98.771,512.48,1000,...

Columns read (names compared without blanks, case-insensitive; any order; others skipped):

* A, B, M, N positions in metres: ``Spa.1 Spa.2 Spa.3 Spa.4`` (x along the line), or the
  newer Prosys names ``xA(m) xB(m) xM(m) xN(m)`` (``xA (m)`` in Prosys III), with optional
  ``yA(m)``... and ``zA(m)``... (3D or topography exports); no z column: elevation 0
  (``problem.electrodes`` gives each electrode the z of the electrode file's electrode at
  its x, or x and y: ``electrode_files.attach_electrodes``);
* ``Vp`` (or ``VMN (mV)``): the potential difference in mV;
* ``In`` (or ``IAB (mA)``): the injected current in mA;
* ``Dev.`` (or ``Dev. Rho (%)``): the standard deviation of the stack in percent (optional).

The values are the transfer resistances R = Vp / In (mV/mA = V/A), computed from the
measured potentials and currents rather than from ``Rho`` (an apparent resistivity that
depends on the geometric factor the instrument assumed), so ``data_type`` is "resistance".
The uncertainty is Dev/100 * |R| when every row has Dev > 0; otherwise none is read (noted;
``assign_uncertainty`` sets them). A remote electrode (pole-dipole, pole-pole) is written by
Prosys at a sentinel x of +-99999, +-999999 or +-9999999 m: such a B or N is ``REMOTE``.
Positions: y absent or constant (over the non-remote electrodes) is a 2D line (x, z),
otherwise 3D. ``check_syscal`` is the signature format detection uses: the header naming
the four positions, Vp and In, and every row as wide as the header.

The binary ``.bin`` files are not read: export them as text from Prosys.
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
from hpcinv.readers.columns import (
    geometry,
    read_table,
    require,
)
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.textlines import TextLine, numbered_lines

ELECTRODES = "ABMN"
#: Positions Prosys writes for a remote (infinite) electrode.
REMOTE_SENTINELS = (99999.0, 999999.0, 9999999.0)

POSITION_NAMES = {
    "x": (("spa.1", "spa.2", "spa.3", "spa.4"), "x{e}(m)"),
    "y": ((), "y{e}(m)"),
    "z": ((), "z{e}(m)"),
}
VOLTAGE_NAMES = ("vp", "vmn(mv)")
CURRENT_NAMES = ("in", "iab(ma)")
DEV_NAMES = ("dev.", "dev.rho(%)")


# --- Syscal -----------------------------------------------------------------------------------


def _position_columns(names: tuple[str, ...], axis: str) -> list[int] | None:
    """The columns of A, B, M, N for ``axis``, or None when the file has none."""
    spa, pattern = POSITION_NAMES[axis]
    if spa and all(s in names for s in spa):
        return [names.index(s) for s in spa]
    wanted = [pattern.format(e=e.lower()) for e in ELECTRODES]
    if all(w in names for w in wanted):
        return [names.index(w) for w in wanted]
    return None


def _is_syscal_header(names: tuple[str, ...]) -> bool:
    return _position_columns(names, "x") is not None


def check_syscal(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is a Syscal Pro text
    export: a first row naming the A, B, M, N positions (``Spa.1``... or ``xA(m)``...),
    ``Vp`` and ``In``; every later row as wide, with numbers in those columns. The signature
    format detection accepts; ``read_syscal`` checks the same and then the values."""
    _parse(path, numbered_lines(path) if lines is None else lines)


def _parse(path, lines: list[TextLine]):
    if not lines:
        raise DataError(f"{path}, line 1, column 1: the file is empty; give a Syscal export")
    table = read_table(path, lines, _is_syscal_header, "Syscal (Spa.1 Spa.2 Spa.3 Spa.4 ... Vp In)")
    k_vp = require(path, table, VOLTAGE_NAMES, "Vp (potential, mV)")
    k_in = require(path, table, CURRENT_NAMES, "In (current, mA)")
    axes = {axis: _position_columns(table.names, axis) for axis in "xyz"}
    coords = {
        axis: None if cols is None else np.column_stack([table.column(path, k) for k in cols])
        for axis, cols in axes.items()
    }
    return table, axes, coords, table.column(path, k_vp), table.column(path, k_in), (k_vp, k_in)


def read_syscal(path, dim: int | None) -> FieldData:
    """Read a Syscal Pro text export; ``dim`` 2 or 3 (None: from the positions)."""
    table, axes, coords, vp, current, (k_vp, k_in) = _parse(path, numbered_lines(path))
    x = coords["x"]
    remote = np.isin(np.abs(x), REMOTE_SENTINELS)
    x_cols = axes["x"]
    for e in (0, 2):  # A and M cannot be remote
        if remote[:, e].any():
            i = int(np.flatnonzero(remote[:, e])[0])
            raise DataError(
                f"{path}, line {table.rows[i].number}, {table.label(x_cols[e])}: "
                f"{ELECTRODES[e]} at the remote sentinel {x[i, e]:g}; only B and N can be "
                f"remote poles: correct the row"
            )
    locations, notes = geometry(path, table.header, x, coords["y"], coords["z"], remote, dim)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = vp / current  # mV / mA = V / A
    k_dev = table.find(DEV_NAMES)
    uncertainty = None
    notes = [
        f"Syscal Pro export, {'3D' if locations.shape[-1] == 3 else '2D line'}",
        *notes,
        f"values are Vp/In ({table.label(k_vp)} mV / {table.label(k_in)} mA = V/A); Rho not used",
    ]
    if k_dev is not None:
        dev = table.column(path, k_dev)
        if np.all(dev > 0):
            uncertainty = dev / 100.0 * np.abs(value)
            notes.append(f"uncertainty = Dev/100 |R| ({table.label(k_dev)})")
        else:
            notes.append(
                f"{int(np.sum(~(dev > 0)))} rows with Dev <= 0 ({table.label(k_dev)}): no "
                f"uncertainties read; set them with assign_uncertainty"
            )
    if remote.any():
        notes.append(f"{int(remote.any(axis=1).sum())} data with a remote pole (sentinel x)")
    rows = DataRows(
        lines=tuple(table.rows),
        value=value,
        uncertainty=uncertainty,
        columns={
            "value": f"{table.label(k_vp)} / {table.label(k_in)}",
            **({"uncertainty": table.label(k_dev)} if k_dev is not None else {}),
            "B": table.label(x_cols[1]),
            "N": table.label(x_cols[3]),
        },
    )
    rows, keep, dropped = drop_unusable(rows, locations, remote)
    electrodes, abmn = electrodes_from_locations(locations[keep], remote[keep])
    return build_field_data(
        path,
        "syscal",
        "resistance",
        electrodes,
        abmn,
        rows,
        dropped,
        notes,
        end=f"line {table.rows[-1].number}, column 1",
    )
