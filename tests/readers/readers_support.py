"""Small helpers shared by the reader tests (the Century copy, writing test files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcinv.survey import REMOTE

CENTURY = Path(__file__).resolve().parents[2] / "examples" / "data" / "century"
CENTURY_3D = CENTURY / "dc3d.dat"
CENTURY_2D = CENTURY / "46800E" / "46800POT.OBS"


def write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def datum_locations(electrodes: np.ndarray, abmn: np.ndarray) -> np.ndarray:
    """(n, 4, dim) positions of A, B, M, N; a remote pole takes its partner's position (as
    UBC and SimPEG write poles)."""
    partner = {1: 0, 3: 2}
    out = np.empty((abmn.shape[0], 4, electrodes.shape[1]))
    for col in range(4):
        index = abmn[:, col]
        if col in partner:
            index = np.where(index == REMOTE, abmn[:, partner[col]], index)
        out[:, col] = electrodes[index]
    return out
