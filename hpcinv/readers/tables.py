"""Plain tables a run file may name besides the data: topography points and polylines.

Both are read in the data file's coordinates and returned in local ones (``origin`` removed),
like the electrodes of the survey they go with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcinv.errors import ConfigError, DataError


def read_topography(path: Path, origin: np.ndarray, dim: int) -> np.ndarray:
    """(n, dim) surface points in local coordinates from a CSV of x,[y,]z in file
    coordinates (a header line is allowed)."""
    try:
        with open(path) as fh:
            first = fh.readline()
        skip = 1 if any(c.isalpha() for c in first) else 0
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except FileNotFoundError:
        raise ConfigError(f"mesh.topography: no such file {path}") from None
    except ValueError as exc:
        raise DataError(
            f"{path}: not a CSV of numbers x,{'y,' if dim == 3 else ''}z ({exc})"
        ) from None
    if table.shape[1] != dim or len(table) == 0:
        raise DataError(
            f"{path}: topography needs {dim} columns (x,{'y,' if dim == 3 else ''}z) "
            f"like the data's electrodes, got {table.shape[1]}"
        )
    if not np.isfinite(table).all():
        row = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])
        raise DataError(f"{path}: row {row + skip + 1} has a non-finite value")
    return table - np.asarray(origin, float)


def read_polyline(path: Path, origin: np.ndarray) -> np.ndarray:
    """(n, 2) local (x, z) points of a Leapfrog polyline file (comma-separated rows whose
    first and third columns are x and z, ``End`` between polylines, ``#`` comments), NaN
    rows between polylines: for drawing over a 2D section."""
    points = []
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise ConfigError(f"report.overlay: no such file {path}") from None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.lower() == "end":
            points.append((np.nan, np.nan))
            continue
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise DataError(
                f"{path}, line {number}: expected comma-separated numbers "
                f"(x, y, z, ...) or End, got {text[:60]!r}"
            ) from None
        if len(values) < 3:
            raise DataError(f"{path}, line {number}: a point needs x, y, z")
        points.append((values[0], values[2]))
    if not points:
        raise DataError(f"{path}: no polyline points")
    origin = np.asarray(origin, float)
    return np.array(points) - np.array([origin[0], origin[-1]])
