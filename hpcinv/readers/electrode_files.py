"""Electrode files: the positions an R2/R3t protocol.dat's electrode numbers refer to, and the
elevations a survey read without them (a Syscal export) gets from ``problem.electrodes``.

An electrode file has one row per electrode, cells separated by commas, tabs or blanks,
either without a header (``x z`` for a line, ``x y z``; row k is electrode k) or with a
header naming ``x``, ``z`` and optionally ``y``, ``label`` (the electrode number, or
``"string number"`` as ResIPy's elec.csv), ``remote`` (1/true: a remote pole), ``buried``
(1/true: below the surface) and other columns (not used).

Blank z cells (ResIPy leaves them blank, or writes ``nan``, where it knows no elevation) are
filled from the surface: linearly between the surface electrodes (neither buried nor remote)
that have a z, in x along a line (y absent or constant) or else in horizontal distance along
the electrodes in file order, each end's z beyond the ends; z = 0 when none has one. A note
says how many were filled and from what. A buried electrode without z, and a blank or
non-finite x or y, are errors naming the line and the column.

Where a protocol's electrode file is found (``find_electrode_file``): the first of
``NAMES`` beside the protocol, then in the folder above (ResIPy runs R2/R3t in
``WORKING_DIR/invdir``, where it writes protocol.dat, R2.in or R3t.in and mesh.dat or
mesh3d.dat; the electrode positions a user gave ResIPy are kept beside ``invdir``), and two
folders up when the protocol is in a folder of ``invdir`` (ResIPy's ``invdir/ref`` of a
time-lapse reference, ``invdir/1``, ``invdir/2``, ... of batch inversions). Every file found
is read: when two disagree (electrode counts or positions) the protocol is refused, naming
them and the fix (``problem.electrodes = FILE``). R2.in and mesh.dat hold mesh node numbers,
not positions, and are not read.

``attach_electrodes`` gives a survey whose file has no elevations (every z 0) the z of an
electrode file: each electrode is matched to the file's electrode at the same x (a line) or
x, y (3D) within ``MATCH_TOLERANCE`` of the smallest electrode spacing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.columns import NO_ELEVATIONS, normalize, separator, split_cells
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.textlines import TextLine, is_number, numbered_lines, parse_float

#: Electrode files of an R2/R3t protocol, tried in this order in each folder searched.
NAMES = ("electrodes.csv", "electrodes.txt", "elec.csv")
#: The folder ResIPy runs R2/R3t in, below the working directory it was given.
RESIPY_RUN_FOLDER = "invdir"
#: A survey's electrode matches an electrode file's within this fraction of the smallest
#: distance between two of the survey's electrodes.
MATCH_TOLERANCE = 0.01
TRUE = ("1", "true", "yes", "1.0")
#: Where a found file lies relative to the protocol, by the number of folders up.
PLACES = (
    "beside the protocol",
    "one folder up",
    f"two folders up, above {RESIPY_RUN_FOLDER}",
)


@dataclass
class ElectrodeTable:
    """One entry per row of an electrode file; z with its blank cells filled (None when the
    file has no z column), ``notes`` saying what was filled."""

    path: Path
    header: TextLine
    rows: list[TextLine]
    labels: list[str] | None
    x: np.ndarray
    y: np.ndarray | None
    z: np.ndarray | None
    remote: np.ndarray
    notes: list[str] = field(default_factory=list)


def read_electrode_table(path) -> ElectrodeTable:
    """The electrodes of the file ``path`` (see the module docstring)."""
    path = Path(path)
    lines = numbered_lines(path)
    if not lines:
        raise DataError(f"{path}, line 1, column 1: the file is empty; give the positions")
    head, rows, names = _table(path, lines)

    def flags(name: str) -> np.ndarray:
        if name not in names:
            return np.zeros(len(rows), dtype=bool)
        k = names.index(name)
        return np.array([row.fields[k].lower() in TRUE for row in rows])

    x = _coordinates(path, rows, names, "x")
    assert x is not None  # _table requires an x column
    labels = None
    if "label" in names:
        k = names.index("label")
        labels = [" ".join(row.fields[k].split()) for row in rows]
    table = ElectrodeTable(
        path,
        head,
        rows,
        labels,
        x,
        _coordinates(path, rows, names, "y"),
        _coordinates(path, rows, names, "z", blank=True),
        flags("remote"),
    )
    if table.z is not None:
        _fill_blank_z(table, names.index("z"), flags("buried"))
    return table


def _table(path: Path, lines: list[TextLine]) -> tuple[TextLine, list[TextLine], tuple[str, ...]]:
    """(header, rows, column names) of the file's cells; without a header row the names are
    ``x z`` or ``x y z`` and the header is the first row's line with them as its fields.
    Raises ``DataError`` unless every row has one cell per column."""
    cells = [split_cells(line, separator(line.text)) for line in lines]
    first = cells[0].fields
    # a blank cell is a z not known (ResIPy's), not a column name
    if all(is_number(c) or not c for c in first) and any(is_number(c) for c in first):
        header = None
        names = {2: ("x", "z"), 3: ("x", "y", "z")}.get(len(first))
        if names is None:
            raise DataError(
                f"{path}, line {cells[0].number}, column 1: {len(first)} numbers without a "
                f"header; give x z or x y z per row, or a header row naming the columns "
                f"(label,x,y,z)"
            )
        rows = cells
    else:
        header, rows = cells[0], cells[1:]
        names = tuple(normalize(c) for c in header.fields)
        if "x" not in names:
            raise DataError(
                f"{path}, line {header.number}, column 1 (header): no x column; name the "
                f"columns, e.g. label,x,y,z"
            )
    if not rows:
        raise DataError(f"{path}, line {lines[-1].number}, column 1: no electrode rows; add them")
    head = header or TextLine(rows[0].number, rows[0].text, names)
    for row in rows:
        if len(row.fields) != len(names):
            raise DataError(
                f"{path}, line {row.number}, column {min(len(row.fields), len(names)) + 1}: "
                f"found {len(row.fields)} cells, expected {len(names)} ({','.join(names)}); "
                f"correct the row"
            )
    return head, rows, names


def _coordinates(
    path: Path, rows: list[TextLine], names: tuple[str, ...], name: str, blank: bool = False
) -> np.ndarray | None:
    """Column ``name`` as floats (None when the file has none); a blank or ``nan`` cell is
    NaN where ``blank`` allows it, else an error, as is any other non-finite value."""
    if name not in names:
        return None
    k = names.index(name)
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        cell = row.fields[k]
        value = np.nan if not cell else parse_float(path, row, k, name)
        if np.isnan(value) and blank:
            out[i] = value
            continue
        if not np.isfinite(value):
            shown = "blank" if not cell else repr(cell)
            only = "only z may be left blank (filled from the surface)"
            raise DataError(
                f"{path}, line {row.number}, column {k + 1} ({name}): {shown}, but every "
                f"electrode needs its {name} ({only}); write the {name} of this electrode"
            )
        out[i] = value
    return out


def _fill_blank_z(table: ElectrodeTable, k_z: int, buried: np.ndarray) -> None:
    """Fill the NaN z of ``table`` from the surface electrodes that have one (see the module
    docstring) and add a note; a buried electrode without z is a ``DataError``."""
    z, remote = table.z, table.remote
    assert z is not None
    blank = np.isnan(z)
    bad = np.flatnonzero(blank & buried & ~remote)
    if bad.size:
        row = table.rows[int(bad[0])]
        raise DataError(
            f"{table.path}, line {row.number}, column {k_z + 1} (z): a buried electrode "
            f"without z ({bad.size} such rows); its depth cannot come from the surface: "
            f"write its elevation"
        )
    z[blank & remote] = 0.0  # a remote pole's position is never used
    fill = blank & ~remote
    if not fill.any():
        return
    known = ~blank & ~remote & ~buried
    what = f"{int(fill.sum())} electrodes had no z: filled from "
    if not known.any():
        z[fill] = 0.0
        table.notes.append(
            f"{what}the surface, z = 0 (no surface electrode of {table.path.name} has a z)"
        )
        return
    t, along = _along_line(table.x, table.y, ~remote)
    order = np.argsort(t[known], kind="stable")
    z[fill] = np.interp(t[fill], t[known][order], z[known][order])
    table.notes.append(
        f"{what}the {int(known.sum())} surface electrodes with z, linearly in {along} "
        f"(each end's z beyond the ends)"
    )


def _along_line(x: np.ndarray, y: np.ndarray | None, used: np.ndarray) -> tuple[np.ndarray, str]:
    """(position of every electrode along the line, how it was measured): x when y is absent
    or constant over ``used``, else the horizontal distance along the used electrodes in
    file order (unused ones stay at 0)."""
    if y is None or np.ptp(y[used]) == 0:
        return x, "x"
    steps = np.hypot(np.diff(x[used]), np.diff(y[used]))
    t = np.zeros_like(x)
    t[used] = np.r_[0.0, np.cumsum(steps)]
    return t, "distance along the electrodes in file order"


# --- the electrode file of a protocol -----------------------------------------------------------


def search_folders(protocol) -> list[Path]:
    """The folders searched for a protocol's electrode file, nearest first (see the module
    docstring)."""
    folder = Path(os.path.abspath(protocol)).parent
    folders = [folder, folder.parent]
    if folder.parent.name == RESIPY_RUN_FOLDER:
        folders.append(folder.parent.parent)
    return list(dict.fromkeys(folders))  # at the root, a folder is its own parent


def find_electrode_file(protocol) -> tuple[ElectrodeTable, str]:
    """(the electrodes of the protocol's electrode file, where it was found, for the notes);
    raises ``DataError`` when there is none or when the files found disagree."""
    folders = search_folders(protocol)
    found = [
        (up, f / name) for up, f in enumerate(folders) for name in NAMES if (f / name).is_file()
    ]
    if not found:
        raise DataError(
            f"{protocol}, line 1, column 1: a protocol.dat holds electrode numbers, not "
            f"positions, and no electrode file ({', '.join(NAMES)}) was found beside it or "
            f"where ResIPy keeps one ({', '.join(str(f) for f in folders[1:])}); create "
            f"{folders[0] / NAMES[0]} with one row per electrode (x,z for a line or x,y,z; "
            f"row k = electrode k, or a header with label,x,y,z as ResIPy's elec.csv), or "
            f"name the file with problem.electrodes = FILE, and read again"
        )
    tables = [read_electrode_table(path) for _, path in found]
    _refuse_disagreement(protocol, tables)
    up, path = found[0]
    where = PLACES[up]
    if len(tables) > 1:
        others = ", ".join(_relative(p, folders[0]) for _, p in found[1:])
        where += f"; {others} found too, with the same positions"
    return tables[0], f"{_relative(path, folders[0])} ({where})"


def _relative(path: Path, folder: Path) -> str:
    return os.path.relpath(path, folder)


def _refuse_disagreement(protocol, tables: list[ElectrodeTable]) -> None:
    """One line naming the electrode files found when they give different electrodes."""
    first = tables[0]
    for other in tables[1:]:
        if len(other.rows) != len(first.rows):
            why = ", ".join(f"{t.path} ({len(t.rows)} electrodes)" for t in tables)
        elif not _same_positions(first, other):
            n = len(first.rows)
            why = f"{first.path} and {other.path} ({n} electrodes, not at the same positions)"
        else:
            continue
        raise DataError(
            f"{protocol}, line 1, column 1: the electrode files found disagree: {why}; name "
            f"the right one with problem.electrodes = FILE (or remove the others)"
        )


def _same_positions(a: ElectrodeTable, b: ElectrodeTable) -> bool:
    def xyz(t: ElectrodeTable) -> np.ndarray:
        zero = np.zeros_like(t.x)
        return np.column_stack([t.x, zero if t.y is None else t.y, zero if t.z is None else t.z])

    same_z_columns = (a.z is None) == (b.z is None)
    return same_z_columns and bool(np.allclose(xyz(a), xyz(b), rtol=0.0, atol=1e-6))


# --- elevations for a survey read without them --------------------------------------------------


def attach_electrodes(data: FieldData, path) -> FieldData:
    """``data`` with the z of each electrode taken from the electrode file ``path`` (matched by
    x, or x and y; see the module docstring). Raises ``DataError`` when the survey has
    elevations of its own, when the file has no z, or for an electrode without a match."""
    path = Path(path)
    table = read_electrode_table(path)
    electrodes = data.global_electrodes()
    if np.any(electrodes[:, -1] != 0):
        raise DataError(
            f"{data.path}: this {data.format} file gives electrode elevations of its own; "
            f"problem.electrodes ({path}) adds them to files without any (Syscal exports): "
            f"drop problem.electrodes"
        )
    if table.z is None:
        raise DataError(
            f"{path}, line {table.header.number}, column 1 (header): no z column, so no "
            f"elevations for {data.path}; add a z column"
        )
    theirs = _horizontal(table, data)
    mine = electrodes[:, :-1]
    tolerance = MATCH_TOLERANCE * _smallest_spacing(mine)
    nearest, distance = _nearest(theirs, mine)
    missing = np.flatnonzero(distance > tolerance)
    if missing.size:
        raise DataError(_unmatched(data, table, int(missing[0]), nearest, tolerance, missing.size))
    used = np.flatnonzero(~table.remote)[nearest]
    local = data.survey.electrodes.copy()
    local[:, -1] = table.z[used]  # the local origin never shifts the elevation
    notes = [note for note in data.notes if note != NO_ELEVATIONS]
    notes += [
        f"elevations from {path} (given): {len(local)} electrodes matched by "
        f"{'x' if data.dim == 2 else 'x, y'} within {tolerance:.3g} m "
        f"({MATCH_TOLERANCE:.0%} of the smallest spacing)",
        *table.notes,
    ]
    return replace(data, survey=replace(data.survey, electrodes=local), notes=tuple(notes))


def _horizontal(table: ElectrodeTable, data: FieldData) -> np.ndarray:
    """(n, dim - 1) horizontal positions of the table's electrodes that are not remote."""
    used = ~table.remote
    y = np.zeros_like(table.x) if table.y is None else table.y
    if data.dim == 3:
        return np.column_stack([table.x, y])[used]
    if np.ptp(y[used]) != 0:
        raise DataError(
            f"{table.path}, line {table.header.number}, column 1 (header): its electrodes "
            f"vary in x and y, but {data.path} is a line (x along it) and is matched by x: "
            f"give the line's electrodes as x,z with x along the line"
        )
    return table.x[used, None]


def _smallest_spacing(points: np.ndarray) -> float:
    """The smallest distance between two of ``points`` (n, k), metres."""
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(points).query(points, k=2)
    return float(distance[:, 1].min())


def _nearest(theirs: np.ndarray, mine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every row of ``mine``, the nearest row of ``theirs`` and its distance."""
    from scipy.spatial import cKDTree

    distance, index = cKDTree(theirs).query(mine, k=1)
    return np.asarray(index), np.asarray(distance)


def _unmatched(
    data: FieldData, table: ElectrodeTable, e: int, nearest: np.ndarray, tol: float, n: int
) -> str:
    """The refusal of electrode ``e`` of ``data``, which no electrode of ``table`` matches."""
    datum, column = (int(i) for i in np.argwhere(data.survey.abmn == e)[0])
    position = data.global_electrodes()[e, :-1]
    at = f"x = {position[0]:g}" if data.dim == 2 else f"x, y = {position[0]:g}, {position[1]:g}"
    row = table.rows[int(np.flatnonzero(~table.remote)[nearest[e]])]
    return (
        f"{data.where(datum)}: electrode {'ABMN'[column]} at {at} has no electrode in "
        f"{table.path} within {tol:.3g} m ({MATCH_TOLERANCE:.0%} of the smallest spacing; "
        f"the nearest is on line {row.number}; {n} electrodes unmatched); add it to "
        f"{table.path.name} or correct its position"
    )
