"""Exports of a run's latest model.

CSV (``.csv``): one row per active cell centre, ``x,y,z,log_conductivity`` in 3D and
``x,z,log_conductivity`` along a 2D line, in the data file's coordinates (the local origin
added back), ln(S/m). Other extensions are refused rather than written as CSV under another
name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcinv.errors import HpcinvError
from hpcinv.files import atomic_write
from hpcinv.report.rundir import RunResult

EXPORT_FORMATS = {".csv": "CSV: x,[y,]z,log_conductivity per cell centre"}


def export_model(result: RunResult, path: str | Path) -> int:
    """Write ``result``'s model to ``path`` in the format its extension names; the rows
    written."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_FORMATS:
        known = "; ".join(f"{ext} ({what})" for ext, what in EXPORT_FORMATS.items())
        raise HpcinvError(f"{path}: no export format for '{path.suffix}'; use {known}")
    centres, model = result["cell_centers"], result["model"]
    active = result.get("active")
    if active is not None:  # air cells are fixed, not part of the model
        keep = active.astype(bool)
        centres, model = centres[keep], model[keep]
    if result.get("origin") is not None:  # field data: back to the file's coordinates
        centres = centres + result["origin"]
    names = ["x", "z"] if centres.shape[1] == 2 else ["x", "y", "z"]
    table = np.column_stack([centres, model])
    atomic_write(
        path,
        lambda tmp: np.savetxt(
            tmp,
            table,
            delimiter=",",
            comments="",
            header=",".join(names + ["log_conductivity"]),
            fmt="%.8g",
        ),
    )
    return len(model)
