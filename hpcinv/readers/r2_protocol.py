"""R2 / R3t ``protocol.dat`` (Andrew Binley's codes; ResIPy writes them for R2 and R3t)::

    4                          number of measurements N
    1  1 2 3 4  12.31  0.25    then N rows: index a b m n R [err]
    2  1 2 4 5   4.12  0.08
    ...

Rows (blank-separated), one layout per file:

    fields   layout
    6        index a b m n R                  (R2, or R3t with plain electrode numbers)
    7        index a b m n R err
    10       index sa a sb b sm m sn n R      (R3t: a string/line number before each
    11       index sa a sb b sm m sn n R err   electrode number)

``index`` counts the rows 1, 2, 3, ...; a, b, m, n are electrode numbers counted from 1 (A
and B the current electrodes, M and N the potential ones, as ResIPy writes them); R is the
transfer resistance in ohm (V/A), so ``data_type`` is "resistance"; ``err`` is read as the
absolute standard deviation of R in ohm (R2's individual data errors). Two other files put
something else in that column and are refused, never read as uncertainties: R2's forward
output ``R2_forward.dat`` (an apparent resistivity: R times the half-space geometric factor
of the electrode file's positions, within 5% on most rows) and cR2 (IP) protocols (a phase:
zero or negative values); so is a column larger than |R| on most rows (no standard
deviation of a usable datum is).

A protocol holds electrode numbers, not positions (R2 takes them from R2.in, R3t from its
mesh). They are read from an electrode file (``electrode_files``): the one given
(``problem.electrodes``), else the first of ``electrodes.csv``, ``electrodes.txt``,
``elec.csv`` (the name ResIPy uses) beside the protocol or where ResIPy's project layout
keeps it (the folder above ``invdir``); files found that disagree are refused. One row per
electrode: without a header (``x z`` for a line, ``x y z``; row k is electrode k) or with a
header naming ``x``, ``z`` and optionally ``y``, ``label`` (the electrode number, or
``"string number"`` for the 10/11-field layout, as ResIPy's elec.csv), ``remote`` (1/true: a
remote pole; as B or N it becomes ``REMOTE``), ``buried`` and other columns (not used); blank
z cells are filled from the surface. Without a label column row k is electrode k (the string
layout needs labels). y absent or constant is a 2D line (x, z), else 3D. Every electrode of
the file is kept (unused ones too), in its order; the notes name the file.

``check_r2_protocol`` is the signature format detection uses: the count on the first line
(alone, or followed by text, as R2 reads it), exactly that many rows, all of one of the
widths above, the index counting 1, 2, 3, ..., whole electrode (and string) numbers from 1,
numbers in the value columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import DataRows, build_field_data, drop_unusable
from hpcinv.readers.columns import geometry, quote
from hpcinv.readers.electrode_files import (
    ElectrodeTable,
    find_electrode_file,
    read_electrode_table,
)
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.geometric import geometric_factors
from hpcinv.readers.textlines import TextLine, is_number, numbered_lines, parse_float
from hpcinv.survey import REMOTE

PLAIN = ("index", "a", "b", "m", "n", "R")
STRING = ("index", "sa", "a", "sb", "b", "sm", "m", "sn", "n", "R")
LAYOUTS = {
    6: PLAIN,
    7: (*PLAIN, "err"),
    10: STRING,
    11: (*STRING, "err"),
}
ELECTRODE_NAMES = ("a", "b", "m", "n")


@dataclass
class Protocol:
    count: TextLine
    rows: list[TextLine]
    names: tuple[str, ...]

    @property
    def strings(self) -> bool:
        return "sa" in self.names


def check_r2_protocol(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is laid out as an
    R2/R3t protocol.dat (see the module docstring). The signature format detection
    accepts; ``read_r2_protocol`` checks the same, then reads the positions from the
    electrode file."""
    _protocol(path, numbered_lines(path) if lines is None else lines)


def _protocol(path, lines: list[TextLine]) -> Protocol:
    if not lines:
        raise DataError(f"{path}, line 1, column 1: the file is empty; give a protocol.dat")
    first = lines[0]
    token = first.fields[0]
    # R2 and R3t read line 1 list-directed: the count, then anything (ResIPy writes
    # "644   (removed low ...)"); a second number would be a data row's, not a comment
    comment = len(first.fields) > 1 and not is_number(first.fields[1])
    if (len(first.fields) != 1 and not comment) or not (
        is_number(token) and float(token).is_integer() and float(token) >= 1
    ):
        raise DataError(
            f"{path}, line {first.number}, column 1 (number of measurements): no "
            f"measurement-count line: line {first.number} is {quote(first)}, not the "
            f"number of measurements alone"
        )
    n = int(float(token))
    rows = lines[1:]
    if len(rows) < n:
        raise DataError(
            f"{path}, line {first.number}, column 1 (number of measurements): promises {n} "
            f"measurements but the file has {len(rows)} rows; add the missing rows or "
            f"correct the count (the file may be truncated)"
        )
    if len(rows) > n:
        raise DataError(
            f"{path}, line {rows[n].number}, column 1: a row after the {n} measurements "
            f"promised on line {first.number}; correct the count there"
        )
    width = len(rows[0].fields)
    if width not in LAYOUTS:
        raise DataError(
            f"{path}, line {rows[0].number}, column 1: a row of {width} fields; a "
            f"protocol.dat row has 6 or 7 (index a b m n R [err]) or 10 or 11 (index sa a "
            f"sb b sm m sn n R [err])"
        )
    names = LAYOUTS[width]
    for k, row in enumerate(rows):
        if len(row.fields) != width:
            raise DataError(
                f"{path}, line {row.number}, column {min(len(row.fields), width) + 1}: found "
                f"{len(row.fields)} fields, expected {width} ({' '.join(names)}) as on line "
                f"{rows[0].number}; correct the row"
            )
        for j, name in enumerate(names):
            value = parse_float(path, row, j, name)
            if j == 0 and value != k + 1:
                raise DataError(
                    f"{path}, line {row.number}, column 1 (index): {row.fields[0]!r} where "
                    f"measurement {k + 1} is expected; the index counts the rows 1, 2, 3, ..."
                )
            if 0 < j < width - (2 if names[-1] == "err" else 1) and not (
                value.is_integer() and value >= 1
            ):
                raise DataError(
                    f"{path}, line {row.number}, column {j + 1} ({name}): {row.fields[j]!r} "
                    f"is not an electrode {'string ' if name.startswith('s') else ''}number "
                    f"(a whole number from 1)"
                )
    return Protocol(first, rows, names)


def read_r2_protocol(path, dim: int | None, *, electrodes=None) -> FieldData:
    """Read an R2/R3t protocol.dat with the positions of its electrode file (see the module
    docstring); ``dim`` 2 or 3 (None: from the positions); ``electrodes`` the electrode
    file's path (None: found beside the protocol or where ResIPy keeps it)."""
    protocol = _protocol(path, numbered_lines(path))
    table, found = _electrode_table(electrodes, path)
    positions, notes = geometry(
        table.path, table.header, table.x, table.y, table.z, table.remote, dim
    )
    abmn = _survey_indices(path, protocol, table)
    names = protocol.names
    parsed = _data_rows(path, protocol)
    if parsed.uncertainty is not None:
        _refuse_what_is_no_uncertainty(path, protocol, parsed, positions[~table.remote], abmn)
    rows, keep, dropped = drop_unusable(parsed)
    dim_text = "3D" if positions.shape[1] == 3 else "2D line"
    remote = f", {int(table.remote.sum())} remote" if table.remote.any() else ""
    notes = [
        f"R2/R3t protocol.dat ({len(names)} columns: {' '.join(names)}), {dim_text}",
        f"electrode positions from {found}: {len(table.rows)} electrodes{remote}",
        *table.notes,
        *notes,
        "values are transfer resistances (V/A)"
        + ("; err read as the absolute standard deviation (ohm)" if names[-1] == "err" else ""),
    ]
    return build_field_data(
        path,
        "r2-protocol",
        "resistance",
        positions[~table.remote],
        abmn[keep],
        rows,
        dropped,
        notes,
        end=f"line {protocol.count.number}, column 1 (number of measurements)",
    )


def _electrode_table(electrodes, path) -> tuple[ElectrodeTable, str]:
    """(the electrodes, where they come from, for the notes): the file given, else the one
    found for the protocol ``path``."""
    if electrodes is None:
        return find_electrode_file(path)
    if not Path(electrodes).is_file():
        raise DataError(
            f"{electrodes}: no such electrode file (given for {path}); check the path "
            f"(problem.electrodes)"
        )
    return read_electrode_table(electrodes), f"{electrodes} (given)"


#: an err column within this of R x the geometric factor on most rows is an apparent resistivity
RHO_A_TOLERANCE = 0.05


def _refuse_what_is_no_uncertainty(
    path, protocol: Protocol, rows: DataRows, electrodes: np.ndarray, abmn: np.ndarray
) -> None:
    """Raise ``DataError`` where the 7th (11th) column is an apparent resistivity (R2's
    forward output), a phase (cR2) or otherwise larger than the data it would weigh."""
    err, r = rows.uncertainty, rows.value
    column = f"column {protocol.names.index('err') + 1}"
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_a = np.abs(geometric_factors(electrodes, abmn) * r)
        off = np.abs(err / rho_a - 1.0)
    usable = np.isfinite(off) & (r != 0)
    if usable.any() and np.median(off[usable]) < RHO_A_TOLERANCE:
        raise DataError(
            f"{path}, {column}: this column is R times the half-space geometric factor of "
            f"the positions (the apparent resistivity, within {np.median(off[usable]):.1%} "
            f"on half the rows): R2's forward output (R2_forward.dat), not an uncertainty; "
            f"delete the column to read R alone (the uncertainties then come from "
            f"problem.uncertainty_percent)"
        )
    bad = np.flatnonzero(~(err > 0))
    if bad.size:
        raise DataError(
            f"{path}, line {rows.lines[int(bad[0])].number}, {column}: {err[bad[0]]:g} is no "
            f"standard deviation ({bad.size} of {err.size} rows are zero or negative): a "
            f"cR2 (IP) protocol's phase? hpcinv reads resistances only: delete the column "
            f"to read R alone"
        )
    larger = err > np.abs(r)
    if larger.mean() > 0.5:
        raise DataError(
            f"{path}, {column}: larger than |R| on {larger.sum()} of {err.size} rows (median "
            f"ratio {np.median(err / np.abs(r)):.3g}); an absolute standard deviation of R "
            f"in ohm is smaller than R wherever the datum is usable: if this column is "
            f"something else, delete it to read R alone"
        )


def _survey_indices(path, protocol: Protocol, table: ElectrodeTable) -> np.ndarray:
    """(n, 4) A B M N of every measurement as indices into the electrode file's ones that
    are not remote, ``REMOTE`` for a remote B or N; raises ``DataError`` for a remote A or
    M."""
    number = _electrode_numbers(path, protocol, table)
    kept = np.flatnonzero(~table.remote)
    new_index = np.full(len(table.rows), REMOTE, dtype=np.int64)
    new_index[kept] = np.arange(kept.size)
    abmn = new_index[number]
    for e in (0, 2):  # A and M cannot be remote
        bad = np.flatnonzero(abmn[:, e] == REMOTE)
        if bad.size:
            row = protocol.rows[int(bad[0])]
            k = protocol.names.index(ELECTRODE_NAMES[e])
            raise DataError(
                f"{path}, line {row.number}, column {k + 1} ({ELECTRODE_NAMES[e]}): electrode "
                f"{row.fields[k]} is remote in {table.path.name}; only B and N can be "
                f"remote poles: correct the row or the electrode file"
            )
    return abmn


def _data_rows(path, protocol: Protocol) -> DataRows:
    """The protocol's R values, and its err column (if any) as absolute uncertainties."""
    names = protocol.names
    k_r = names.index("R")
    return DataRows(
        lines=tuple(protocol.rows),
        value=np.array([parse_float(path, row, k_r, "R") for row in protocol.rows]),
        uncertainty=(
            np.array([parse_float(path, row, k_r + 1, "err") for row in protocol.rows])
            if names[-1] == "err"
            else None
        ),
        columns={
            "value": f"column {k_r + 1} (R)",
            "uncertainty": f"column {k_r + 2} (err)",
            "B": f"column {names.index('b') + 1} (b)",
            "N": f"column {names.index('n') + 1} (n)",
        },
    )


def _electrode_numbers(path, protocol: Protocol, table: ElectrodeTable) -> np.ndarray:
    """(n, 4) 0-based rows of the electrode file for A, B, M, N of every measurement."""
    if protocol.strings and table.labels is None:
        raise DataError(
            f"{table.path}, line {table.header.number}, column 1 (header): the "
            f"protocol names electrodes by string and number (line {protocol.rows[0].number}) "
            f"but this file has no label column; add one with 'string number' per electrode "
            f"(as ResIPy's elec.csv)"
        )
    lookup = (
        {label: k for k, label in enumerate(table.labels)}
        if table.labels is not None
        else {str(k + 1): k for k in range(len(table.rows))}
    )
    out = np.empty((len(protocol.rows), 4), dtype=np.int64)
    for i, row in enumerate(protocol.rows):
        for e, name in enumerate(ELECTRODE_NAMES):
            k = protocol.names.index(name)
            key = str(int(float(row.fields[k])))
            if protocol.strings:
                key = f"{int(float(row.fields[k - 1]))} {key}"
            elif table.labels is not None and key not in lookup:
                key = _float_label(key, lookup)
            if key not in lookup:
                label = f"string {key.split()[0]} electrode {key.split()[1]}" if " " in key else key
                raise DataError(
                    f"{path}, line {row.number}, column {k + 1} ({name}): electrode {label} is "
                    f"not in {table.path.name} ({len(table.rows)} electrodes); add its "
                    f"position there or correct the row"
                )
            out[i, e] = lookup[key]
    return out


def _float_label(key: str, lookup: dict) -> str:
    """A label written as a float (``3.0``) matched to the electrode number ``key``."""
    for label in lookup:
        if is_number(label) and float(label) == float(key):
            return label
    return key
