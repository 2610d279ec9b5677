"""From parsed rows to ``FieldData``: drop unusable rows (listed, never silent), check what the
``Survey`` would reject but with file lines and columns, shift large coordinates to a local
origin, and build the survey."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.fielddata import DroppedRow, FieldData
from hpcinv.readers.textlines import TextLine
from hpcinv.survey import REMOTE, Survey

log = logging.getLogger("hpcinv.readers")

#: Horizontal coordinates beyond this (metres) lose centimetres in float32 (24-bit mantissa:
#: 1e5 m has a spacing of 0.008 m); such axes are shifted to a local origin.
LARGE_COORDINATE = 1e5

#: The local origin is rounded down to a multiple of this (metres), so it reads as a round
#: number and local coordinates stay positive.
ORIGIN_ROUNDING = 1000.0

ELECTRODE_NAMES = ("A", "B", "M", "N")


@dataclass(frozen=True)
class DataRows:
    """The data rows of a file as parsed, one entry per row.

    value, uncertainty, current, geometric_factor: (n,) float64 in the file's units.
    valid: (n,) bool, False where the file flags the row invalid.
    columns: how messages name the column of each quantity ("value", "uncertainty",
        "current", "A", "B", "M", "N"), e.g. ``{"value": "column 7 (value)"}``.
    """

    lines: tuple[TextLine, ...]
    value: np.ndarray
    uncertainty: np.ndarray | None = None
    current: np.ndarray | None = None
    geometric_factor: np.ndarray | None = None
    valid: np.ndarray | None = None
    columns: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lines)

    def subset(self, keep: np.ndarray) -> DataRows:
        def pick(a):
            return None if a is None else a[keep]

        return replace(
            self,
            lines=tuple(ln for ln, k in zip(self.lines, keep) if k),
            value=self.value[keep],
            uncertainty=pick(self.uncertainty),
            current=pick(self.current),
            geometric_factor=pick(self.geometric_factor),
            valid=pick(self.valid),
        )


def drop_unusable(
    rows: DataRows, locations: np.ndarray | None = None, remote: np.ndarray | None = None
) -> tuple[DataRows, np.ndarray, list]:
    """Rows flagged invalid or with a non-finite number, left out and listed.

    locations: (n, 4, dim) A, B, M, N coordinates per row, for formats that give positions;
    remote: (n, 4) bool, True where B or N is a remote pole (its coordinates are unused).
    Returns the kept rows, the (n,) keep mask and the ``DroppedRow`` list.
    """
    dropped, keep = [], np.ones(len(rows), dtype=bool)
    for i, line in enumerate(rows.lines):
        reason = _unusable(rows, i, locations, remote)
        if reason:
            keep[i] = False
            dropped.append(DroppedRow(line.number, reason, line.text))
    return rows.subset(keep), keep, dropped


def _unusable(rows: DataRows, i: int, locations, remote) -> str | None:
    if rows.valid is not None and not rows.valid[i]:
        return "flagged invalid (valid=0)"
    if locations is not None:
        for e, name in enumerate(ELECTRODE_NAMES):
            if not remote[i, e] and not np.isfinite(locations[i, e]).all():
                return f"{name} coordinate is not finite"
    for key in ("value", "uncertainty", "current", "geometric_factor"):
        column = getattr(rows, key)
        if column is not None and not np.isfinite(column[i]):
            return f"{key.replace('_', ' ')} is {column[i]}"
    return None


def electrodes_from_locations(locations: np.ndarray, remote: np.ndarray):
    """Distinct positions in order of first appearance, and each row's A, B, M, N indices.

    locations: (n, 4, dim) float64; remote: (n, 4) bool. Returns electrodes (n_e, dim) and
    abmn (n, 4) int64 with ``REMOTE`` where ``remote``. Positions are compared exactly: the
    same text in a file gives the same float.
    """
    n, _, dim = locations.shape
    flat = locations.reshape(-1, dim)
    used = ~remote.reshape(-1)
    unique, first, inverse = np.unique(flat[used], axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    abmn = np.full(n * 4, REMOTE, dtype=np.int64)
    abmn[used] = rank[inverse.ravel()]
    return unique[order], abmn.reshape(n, 4)


def local_origin(electrodes: np.ndarray) -> np.ndarray:
    """(dim,) metres: per horizontal axis with a coordinate beyond ``LARGE_COORDINATE``, its
    minimum rounded down to ``ORIGIN_ROUNDING``; zero elsewhere (never the elevation)."""
    origin = np.zeros(electrodes.shape[1])
    for axis in range(electrodes.shape[1] - 1):
        values = electrodes[:, axis]
        if np.abs(values).max() > LARGE_COORDINATE:
            origin[axis] = np.floor(values.min() / ORIGIN_ROUNDING) * ORIGIN_ROUNDING
    return origin


def build_field_data(
    path,
    fmt: str,
    data_type: str,
    electrodes: np.ndarray,
    abmn: np.ndarray,
    rows: DataRows,
    dropped: list,
    notes: list,
    end: str,
) -> FieldData:
    """Check the kept rows, shift to a local origin and build the ``FieldData``.

    electrodes: (n_e, dim) global metres; abmn: (n, 4) indices of the kept rows; ``end`` says
    where data rows were expected, for the message about an empty survey.
    """
    if len(rows) == 0:
        lost = f" ({len(dropped)} rows dropped, see above)" if dropped else ""
        _log_dropped(path, dropped)
        raise DataError(
            f"{path}, {end}: the survey is empty: no usable data rows{lost}; add data rows"
        )
    _check_positive(path, rows, "uncertainty", "every datum needs a standard deviation > 0")
    _check_nonzero(path, rows, "current", "a measurement needs a current")
    _check_dipoles(path, electrodes, abmn, rows)
    origin = local_origin(electrodes)
    if origin.any():
        notes = [
            *notes,
            f"coordinates beyond {LARGE_COORDINATE:g} m: local origin "
            f"{origin.tolist()} m subtracted (add it back for map coordinates)",
        ]
    survey = Survey(electrodes - origin, abmn, rows.value, rows.uncertainty, name=str(path))
    _log_dropped(path, dropped)
    log.info(
        "%s: %d data, %d electrodes, %s (%s)",
        path,
        survey.n_data,
        electrodes.shape[0],
        data_type,
        fmt,
    )
    return FieldData(
        survey=survey,
        path=str(path),
        format=fmt,
        data_type=data_type,
        origin=origin,
        dropped=tuple(dropped),
        notes=tuple(notes),
        current=rows.current,
        data_lines=np.array([ln.number for ln in rows.lines], dtype=np.int64),
        geometric_factor=rows.geometric_factor,
    )


def _log_dropped(path, dropped) -> None:
    if dropped:
        counts = Counter(row.reason for row in dropped)
        log.warning(
            "%s: dropped %d data rows: %s",
            path,
            len(dropped),
            ", ".join(f"{n} {reason}" for reason, n in counts.items()),
        )


def _check_positive(path, rows: DataRows, key: str, fix: str) -> None:
    values = getattr(rows, key)
    if values is None:
        return
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}, line {rows.lines[i].number}, {rows.columns.get(key, key)}: "
            f"{key} {values[i]:g} is not positive ({bad.size} such rows); {fix}"
        )


def _check_nonzero(path, rows: DataRows, key: str, fix: str) -> None:
    values = getattr(rows, key)
    if values is None:
        return
    bad = np.flatnonzero(values == 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}, line {rows.lines[i].number}, {rows.columns.get(key, key)}: "
            f"{key} is 0 ({bad.size} such rows); {fix}"
        )


def _check_dipoles(path, electrodes, abmn, rows: DataRows) -> None:
    """A dipole's two electrodes must be at two positions (the ``Survey`` would say so with
    a 0-based row; here the message names the file line)."""
    for first, second in ((0, 1), (2, 3)):
        both = (abmn[:, first] != REMOTE) & (abmn[:, second] != REMOTE)
        same = np.zeros(len(abmn), dtype=bool)
        same[both] = np.all(electrodes[abmn[both, first]] == electrodes[abmn[both, second]], axis=1)
        if same.any():
            i = int(np.flatnonzero(same)[0])
            a, b = ELECTRODE_NAMES[first], ELECTRODE_NAMES[second]
            raise DataError(
                f"{path}, line {rows.lines[i].number}, {rows.columns.get(b, b)}: "
                f"{a} and {b} are at the same position "
                f"{electrodes[abmn[i, first]].tolist()}; a dipole needs two "
                f"positions (a pole has no {b}: see the format's pole convention)"
            )
