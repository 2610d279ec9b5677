"""Column tables of instrument text exports (a header row of names, then rows of cells),
shared by the Syscal, ABEM and R2 protocol readers: the separator, name normalisation, the
header search, per-column parsing, messages, and positions to a line or 3D geometry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.textlines import TextLine, parse_float

#: The note of a survey read without elevations (``problem.electrodes`` can add them).
NO_ELEVATIONS = "no elevations in the file: electrodes at z = 0 (flat surface)"


def normalize(name: str) -> str:
    """A column name as compared: blanks dropped, lower case (``"Rho "`` -> ``"rho"``)."""
    return "".join(name.split()).lower()


def separator(text: str) -> str | None:
    """The cell separator of a header row: tab, else comma, else None (blanks)."""
    if "\t" in text:
        return "\t"
    if "," in text:
        return ","
    return None


def split_cells(line: TextLine, sep: str | None) -> TextLine:
    """``line`` with its fields as the cells between ``sep`` (stripped; a cell in double
    quotes, as CSV writers quote, without them: ``"label","x"`` is label, x)."""
    cells = (
        line.text.split() if sep is None else [_unquoted(c.strip()) for c in line.text.split(sep)]
    )
    return TextLine(line.number, line.text, tuple(cells))


def _unquoted(cell: str) -> str:
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        return cell[1:-1].strip()
    return cell


@dataclass
class Table:
    """A header row (fields: the names as written), its normalized names and the rows."""

    header: TextLine
    names: tuple[str, ...]
    rows: list[TextLine]
    sep: str | None

    def find(self, aliases: Sequence[str]) -> int | None:
        """The 0-based column of the first of ``aliases`` present, or None."""
        return next((self.names.index(a) for a in aliases if a in self.names), None)

    def label(self, k: int) -> str:
        return f"column {k + 1} ({self.header.fields[k] or '(unnamed)'})"

    def column(self, path, k: int) -> np.ndarray:
        name = self.header.fields[k] or "(unnamed)"
        return np.array([parse_float(path, row, k, name) for row in self.rows])


def read_table(
    path,
    lines: list[TextLine],
    is_header: Callable[[tuple[str, ...]], bool],
    what: str,
    *,
    preamble: int = 0,
) -> Table:
    """The column table of ``lines``: the header is the first line (after at most
    ``preamble`` others) whose normalized cells satisfy ``is_header``; every later line must
    have as many cells. Raises ``DataError`` naming the line and column otherwise."""
    start = next(
        (
            i
            for i, line in enumerate(lines[: preamble + 1])
            if is_header(
                tuple(normalize(c) for c in split_cells(line, separator(line.text)).fields)
            )
        ),
        None,
    )
    if start is None:
        first = lines[0] if lines else TextLine(1, "", ())
        raise DataError(
            f"{path}, line {first.number}, column 1 (header): no {what} header row: line "
            f"{first.number} is {quote(first)}"
        )
    sep = separator(lines[start].text)
    header = split_cells(lines[start], sep)
    names = tuple(normalize(c) for c in header.fields)
    rows = [split_cells(line, sep) for line in lines[start + 1 :]]
    if not rows:
        raise DataError(
            f"{path}, line {header.number}, column 1: the survey is empty: the header is not "
            f"followed by data rows; add data rows"
        )
    for row in rows:
        if len(row.fields) != len(header.fields):
            found, expected = len(row.fields), len(header.fields)
            raise DataError(
                f"{path}, line {row.number}, column {min(found, expected) + 1}: found {found} "
                f"cells, expected {expected} as in the {what} header on line {header.number}; "
                f"correct the row (the file may be truncated or edited)"
            )
    return Table(header, names, rows, sep)


def quote(line: TextLine, width: int = 40) -> str:
    """The line for a message: blanks collapsed, cut to ``width`` characters, quoted."""
    text = " ".join(line.text.split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def require(path, table: Table, aliases: Sequence[str], what: str) -> int:
    """The column of ``what`` (one of ``aliases``); a missing one is a ``DataError``."""
    k = table.find(aliases)
    if k is None:
        raise DataError(
            f"{path}, line {table.header.number}, column {len(table.names) + 1} (header): no "
            f"{what} column (one of {', '.join(aliases)}); export it from the instrument "
            f"software"
        )
    return k


def geometry(
    path,
    header: TextLine,
    x: np.ndarray,
    y: np.ndarray | None,
    z: np.ndarray | None,
    remote: np.ndarray,
    dim: int | None,
) -> tuple[np.ndarray, list[str]]:
    """Positions (..., dim) from coordinate arrays of one shape (y, z None when the file has
    none): a line (x, z) when y is absent or constant over the non-remote entries (unless
    ``dim`` is 3), else 3D (x, y, z). ``dim`` 2 with a varying y is an error."""
    notes = []
    if z is None:
        z = np.zeros_like(x)
        notes.append(NO_ELEVATIONS)
    used = ~remote
    flat_y = y is None or not used.any() or np.ptp(y[used]) == 0
    if dim == 3 or (dim is None and not flat_y):
        if y is None:
            y = np.zeros_like(x)
            notes.append("no y coordinates: y = 0 (a line in a 3D survey)")
        return np.stack([x, y, z], axis=-1), notes
    if not flat_y:
        raise DataError(
            f"{path}, line {header.number}, column 1 (header): the electrodes vary in x "
            f"and y, which is no line; read the file as 3D"
        )
    if y is not None:
        notes.append("constant y: read as a line (x, z)")
    return np.stack([x, z], axis=-1), notes
