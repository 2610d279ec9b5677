"""What a reader returns: a survey as read from a field-data file, with what was dropped.

Conventions shared by every reader:

* electrodes are the distinct positions the file names, in order of first appearance
  (A, B, M, N of the first datum, then of the second, ...), except in pyGIMLi files, whose
  sensor block gives them explicitly (unused sensors included);
* coordinates are metres, z up (elevation); horizontal coordinates over 1e5 m in magnitude
  are shifted by a local origin so that float32 keeps centimetres (``FieldData.origin``);
* values and uncertainties stay in the units of ``data_type`` until ``to_resistance``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpcinv.config.names import DATA_FORMATS
from hpcinv.errors import DataError
from hpcinv.survey import Survey

#: File formats ``read_survey`` knows; ``write_survey`` writes the first four (``WRITABLE`` in
#: ``formats``), the others are instrument and exchange formats read only.
FORMATS = DATA_FORMATS

#: What the values of a file are: volts (with a current, else for 1 A), volts per ampere,
#: or apparent resistivity in ohm-metres.
DATA_TYPES = ("volts", "resistance", "apparent_resistivity")


@dataclass(frozen=True)
class DroppedRow:
    """A data row left out on purpose: ``line`` 1-based in the file, ``text`` the raw line."""

    line: int
    reason: str
    text: str


@dataclass(frozen=True, eq=False)
class FieldData:
    """A survey read from a file.

    survey: electrodes in local coordinates (global = local + ``origin``); dobs as read, in
        ``data_type`` units; uncertainty (one standard deviation, same units) or None when
        the file has none.
    path: the file read.  format: one of ``FORMATS``.  data_type: one of ``DATA_TYPES``.
    origin: (dim,) float64 metres subtracted from every electrode coordinate.
    dropped: rows left out (non-finite values, flagged invalid), with their file lines.
    notes: human-readable facts about the reading (variant, assumptions, conversions).
    current: (n_data,) float64 amperes when the file gave potentials and currents apart.
    data_lines: (n_data,) int64, the 1-based file line of each datum (for messages).
    geometric_factor: (n_data,) float64 metres, a geometric factor column of the file.
    topography: (n, dim) float64 surface points in local coordinates, when the file has them
        (pyGIMLi's topography block); a run uses them unless ``mesh.topography`` is given.
    """

    survey: Survey
    path: str
    format: str
    data_type: str
    origin: np.ndarray
    dropped: tuple[DroppedRow, ...]
    notes: tuple[str, ...]
    current: np.ndarray | None = None
    data_lines: np.ndarray | None = None
    geometric_factor: np.ndarray | None = None
    topography: np.ndarray | None = None

    def __post_init__(self):
        if self.format not in FORMATS:
            raise DataError(
                f"{self.path}: unknown format {self.format!r}; use one of {', '.join(FORMATS)}"
            )
        if self.data_type not in DATA_TYPES:
            raise DataError(
                f"{self.path}: unknown data type {self.data_type!r}; "
                f"use one of {', '.join(DATA_TYPES)}"
            )

    @property
    def dim(self) -> int:
        return self.survey.dim

    def global_electrodes(self) -> np.ndarray:
        """(n_electrodes, dim) float64 metres in the file's coordinates."""
        return self.survey.electrodes + self.origin

    def where(self, datum: int) -> str:
        """Where datum ``datum`` (0-based) came from, for messages: its file and line."""
        if self.data_lines is None:
            return f"{self.path}, datum {datum}"
        return f"{self.path}, line {int(self.data_lines[datum])}"
