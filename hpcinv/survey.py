"""Surveys: electrodes, four-electrode configurations, observed data and uncertainties.

A ``Survey`` is plain data (numpy arrays), independent of SimPEG: electrode coordinates and,
per datum, the indices of its A, B, M, N electrodes. Pole electrodes (a remote at infinity)
are written as index -1 in the B or N column. Sources are the distinct (A, B) pairs in order
of first appearance; data keep the order the user gave them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hpcinv.errors import DataError

#: Index meaning "no electrode": a pole source (B) or a pole receiver (N).
REMOTE = -1


@dataclass(frozen=True, eq=False)
class Survey:
    """A DC resistivity survey.

    electrodes: (n_electrodes, dim) float64, metres; 2D lines (x, z), 3D surveys (x, y, z).
    abmn: (n_data, 4) int64, electrode indices of A, B, M, N; ``REMOTE`` (-1) for B or N of a pole.
    dobs: (n_data,) float64 volts for a 1 A current, or None before data exist.
    uncertainty: (n_data,) float64 volts, one standard deviation, or None.
    """

    electrodes: np.ndarray
    abmn: np.ndarray
    dobs: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    name: str = "survey"

    def __post_init__(self):
        object.__setattr__(self, "electrodes", np.asarray(self.electrodes, dtype=float))
        object.__setattr__(self, "abmn", np.asarray(self.abmn, dtype=np.int64).reshape(-1, 4))
        for key in ("dobs", "uncertainty"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, np.asarray(value, dtype=float))
        validate_survey(self)

    @property
    def dim(self) -> int:
        return self.electrodes.shape[1]

    @property
    def n_data(self) -> int:
        return self.abmn.shape[0]

    @cached_property
    def _source_table(self) -> tuple[np.ndarray, np.ndarray]:
        pairs, first, inverse = np.unique(
            self.abmn[:, :2], axis=0, return_index=True, return_inverse=True
        )
        order = np.argsort(first, kind="stable")  # sources in order of first appearance
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return pairs[order], rank[inverse.ravel()]

    @property
    def sources(self) -> np.ndarray:
        """(n_sources, 2) int64: the A and B electrode index of each source."""
        return self._source_table[0]

    @property
    def source_of_datum(self) -> np.ndarray:
        """(n_data,) int64: which source each datum belongs to."""
        return self._source_table[1]

    @property
    def n_sources(self) -> int:
        return self.sources.shape[0]

    def source_midpoints(self) -> np.ndarray:
        """(n_sources, dim): centre of each source's electrodes (the A electrode for a pole)."""
        a, b = self.sources[:, 0], self.sources[:, 1]
        loc_a = self.electrodes[a]
        loc_b = np.where((b == REMOTE)[:, None], loc_a, self.electrodes[np.maximum(b, 0)])
        return 0.5 * (loc_a + loc_b)

    def with_data(self, dobs, uncertainty) -> Survey:
        """The same geometry with observed data and uncertainties (validated)."""
        return Survey(self.electrodes, self.abmn, dobs, uncertainty, self.name)


def validate_survey(survey: Survey) -> None:
    """Raise ``DataError`` naming the first offending row (0-based datum index) and the fix."""
    _check_electrodes(survey.name, survey.electrodes, survey.abmn)
    _check_abmn(survey.name, survey.electrodes, survey.abmn)
    _check_data(survey)


def _check_electrodes(name: str, electrodes: np.ndarray, abmn: np.ndarray) -> None:
    """Raise ``DataError`` unless the electrodes are a non-empty (n, 2) or (n, 3) array of
    finite coordinates and there is at least one data row."""
    if electrodes.ndim != 2 or electrodes.shape[1] not in (2, 3):
        raise DataError(
            f"{name}: electrodes must have shape (n, 2) for a line (x, z) or "
            f"(n, 3) for a 3D survey (x, y, z), got {electrodes.shape}"
        )
    if electrodes.shape[0] == 0 or abmn.shape[0] == 0:
        raise DataError(f"{name}: the survey is empty (no electrodes or no data rows)")
    bad = ~np.isfinite(electrodes).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name}: electrode {i} has a non-finite coordinate {electrodes[i]}")


def _check_abmn(name: str, electrodes: np.ndarray, abmn: np.ndarray) -> None:
    """Raise ``DataError`` for the first row whose A B M N indices are out of range or whose
    current or potential dipole joins one electrode (by index or by position) to itself."""
    n_elec = electrodes.shape[0]
    for col, label in ((0, "A"), (2, "M")):
        wrong = (abmn[:, col] < 0) | (abmn[:, col] >= n_elec)
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise DataError(
                f"{name}: row {row}: electrode {label} index {abmn[row, col]} is "
                f"out of range 0..{n_elec - 1}"
            )
    for col, label in ((1, "B"), (3, "N")):
        wrong = (abmn[:, col] < REMOTE) | (abmn[:, col] >= n_elec)
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise DataError(
                f"{name}: row {row}: electrode {label} index {abmn[row, col]} is "
                f"out of range (use {REMOTE} for a remote pole)"
            )
    for (i, j), pair in (((0, 1), "A=B"), ((2, 3), "M=N")):
        same = abmn[:, i] == abmn[:, j]
        if same.any():
            row = int(np.flatnonzero(same)[0])
            raise DataError(
                f"{name}: row {row}: {pair} (electrode {abmn[row, i]}); a dipole "
                f"needs two different electrodes, a pole has {REMOTE} as its second"
            )
    coincident = _same_location(electrodes, abmn[:, 0], abmn[:, 1]) | _same_location(
        electrodes, abmn[:, 2], abmn[:, 3]
    )
    if coincident.any():
        row = int(np.flatnonzero(coincident)[0])
        raise DataError(f"{name}: row {row}: the two electrodes of a dipole are at the same place")


def _check_data(survey: Survey) -> None:
    """Raise ``DataError`` unless ``dobs`` and ``uncertainty`` (where given) hold one finite
    value per data row, and every uncertainty is positive."""
    name, n_data = survey.name, survey.abmn.shape[0]
    for key in ("dobs", "uncertainty"):
        value = getattr(survey, key)
        if value is None:
            continue
        if value.shape != (n_data,):
            raise DataError(
                f"{name}: {key} has {value.size} values but the survey has "
                f"{n_data} data rows; give one value per row"
            )
        bad = ~np.isfinite(value)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{name}: row {row}: {key} is {value[row]}; remove the row or give a finite value"
            )
    if survey.uncertainty is not None:
        bad = survey.uncertainty <= 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{name}: row {row}: uncertainty {survey.uncertainty[row]} is not "
                f"positive; every datum needs a standard deviation > 0"
            )


def _same_location(electrodes, i, j):
    both = (i >= 0) & (j >= 0)
    out = np.zeros(i.shape, dtype=bool)
    out[both] = np.all(electrodes[i[both]] == electrodes[j[both]], axis=1)
    return out


# --- survey layouts ------------------------------------------------------------------------

LAYOUTS = ("dipole-dipole", "pole-dipole", "pole-pole")


def line_configurations(layout: str, n_electrodes: int, n_rx_per_src: int) -> np.ndarray:
    """(n_data, 4) ABMN indices of a standard layout along one line of equally spaced electrodes.

    Dipoles join neighbouring electrodes; receivers follow the source down the line, up to
    ``n_rx_per_src`` of them (SimPEG's ``generate_dcip_sources_line`` ordering).
    """
    if layout not in LAYOUTS:
        raise DataError(f"unknown survey layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    rows = []
    for a in range(n_electrodes):
        if layout == "dipole-dipole":
            b, first_m, step = a + 1, a + 2, 1
        else:
            b, first_m, step = REMOTE, a + 1, 1
        if b >= n_electrodes:
            break
        for k in range(n_rx_per_src):
            m = first_m + k * step
            n = m + 1 if layout != "pole-pole" else REMOTE
            if m >= n_electrodes or n >= n_electrodes:
                break
            rows.append((a, b, m, n))
    if not rows:
        raise DataError(f"{layout} with {n_electrodes} electrodes gives no data; add electrodes")
    return np.array(rows, dtype=np.int64)


def line_survey(
    layout: str,
    x_start: float,
    x_end: float,
    spacing: float,
    n_rx_per_src: int,
    *,
    y: float | None = None,
    z: float = 0.0,
    name: str = "line",
) -> Survey:
    """A straight surface line along x; 2D (x, z) if ``y`` is None, else 3D at that y."""
    n = int(round((x_end - x_start) / spacing)) + 1
    x = x_start + spacing * np.arange(n)
    cols = [x] if y is None else [x, np.full(n, float(y))]
    electrodes = np.column_stack(cols + [np.full(n, float(z))])
    return Survey(electrodes, line_configurations(layout, n, n_rx_per_src), name=name)


def merge_surveys(surveys: list[Survey], name: str = "survey") -> Survey:
    """Concatenate surveys (geometry only), renumbering electrodes; shared positions are merged."""
    electrodes = np.vstack([s.electrodes for s in surveys])
    unique, inverse = np.unique(electrodes, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    rows, offset = [], 0
    for s in surveys:
        local = s.abmn.copy()
        mapped = inverse[offset + np.maximum(local, 0)]
        rows.append(np.where(local == REMOTE, REMOTE, mapped))
        offset += s.electrodes.shape[0]
    return Survey(unique, np.vstack(rows), name=name)
