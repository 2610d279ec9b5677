"""Observed data for a built-in case (``problem.observed``): a data file read in any format
hpcinv reads, matched datum by datum to the case's survey by electrode positions.

This is how a published study's own data are inverted on the case hpcinv builds: the
case's mesh, survey and true model stay, the data are the file's. Each datum of the file
must be a datum of the case: its A, B, M, N positions the positions of case electrodes
(within 1% of the closest electrode spacing), the same four electrodes in one of the
case's data. A datum written with A and B or M and N swapped is the same measurement with
the opposite sign and is matched as such. The file may hold a subset of the case's data
(rows removed as outliers); the survey is then the case's rows the file has, in the
case's order. Uncertainties are the paper's weighting, ``noise_percent`` of |dobs| plus
``noise_floor``: the DIP-Inv authors' training ignores the file's standard deviations.
"""

from __future__ import annotations

import logging

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.errors import ConfigError, DataError
from hpcinv.readers import read_survey, to_resistance
from hpcinv.readers.fielddata import FieldData
from hpcinv.survey import REMOTE, Survey

log = logging.getLogger(__name__)

#: positions match within this fraction of the smallest distance between case electrodes
POSITION_TOLERANCE = 0.01


def observed_survey(case_survey: Survey, config: RunConfig, case_name: str) -> tuple[Survey, dict]:
    """(the case's survey restricted to the file's data, carrying them as dobs in V/A with
    the paper's uncertainties; notes on what was read and matched)."""
    pc = config.problem
    path = config.resolve_path(pc.observed)
    fd = _read(path, pc.format, case_survey.dim, case_name)
    values = to_resistance(fd).dobs
    assert values is not None  # readers always give values
    rows, signs = match_data(fd, case_survey, case_name)
    kept = np.sort(rows)  # the case's order
    dobs = np.empty(case_survey.n_data)
    dobs[rows] = signs * values
    dobs = dobs[kept]
    uncertainty = _paper_weighting(fd, dobs, rows, kept, config)
    survey = Survey(
        case_survey.electrodes,
        case_survey.abmn[kept],
        dobs,
        uncertainty,
        name=f"{case_survey.name} ({path.name})",
    )
    notes = {
        "file": str(path),
        "format": fd.format,
        "data_type": fd.data_type,
        "n_data_file": int(fd.survey.n_data),
        "n_data_case": int(case_survey.n_data),
        "reversed_polarity": int((signs < 0).sum()),
        "uncertainty": f"{pc.noise_percent:g}% of |dobs| + {pc.noise_floor:g} V/A",
    }
    missing = case_survey.n_data - kept.size
    log.info(
        "observed data of %s: %d data from %s (%s), matched to the case's survey%s; uncertainty %s",
        case_name,
        kept.size,
        path,
        fd.format,
        f" ({missing} of the case's data not in the file)" if missing else "",
        notes["uncertainty"],
    )
    return survey, notes


def _read(path, format: str, dim: int, case_name: str) -> FieldData:
    """The file, read as a survey of the case's dimension."""
    if not path.exists():
        raise ConfigError(
            f"problem.observed: no such file {path} (paths are relative to the config "
            f"file's directory)"
        )
    fd = read_survey(path, format=format, dimension="2d" if dim == 2 else "3d")
    if fd.survey.dim != dim:
        raise DataError(
            f"{path}: a {fd.survey.dim}D survey; case {case_name} is {dim}D: give a file of "
            f"the case's survey"
        )
    return fd


def _paper_weighting(
    fd: FieldData, dobs: np.ndarray, rows: np.ndarray, kept: np.ndarray, config: RunConfig
) -> np.ndarray:
    """noise_percent of |dobs| plus noise_floor, or ``DataError`` naming the file line of
    the first datum that would get 0."""
    pc = config.problem
    uncertainty = pc.noise_percent / 100.0 * np.abs(dobs) + pc.noise_floor
    zero = np.flatnonzero(uncertainty <= 0)
    if zero.size:
        file_index = np.empty(rows.max() + 1, dtype=np.int64)
        file_index[rows] = np.arange(rows.size)
        raise DataError(
            f"{fd.where(int(file_index[kept[zero[0]]]))}: datum {dobs[zero[0]]:g} V/A gets "
            f"uncertainty 0 (problem.noise_percent of |d| plus problem.noise_floor); set "
            f"problem.noise_floor > 0"
        )
    return uncertainty


def match_data(fd: FieldData, case: Survey, case_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(row of the case's survey, +1 or -1) for every datum of ``fd``: the case datum with the
    same four electrode positions, -1 where A-B or M-N are swapped an odd number of times.
    Raises ``DataError`` naming the first datum of the file that matches none, and the
    first case datum given twice."""
    electrode_of = _match_electrodes(fd, case, case_name)
    case_keys = {_key(row)[0]: i for i, row in enumerate(case.abmn)}
    rows = np.empty(fd.survey.n_data, dtype=np.int64)
    signs = np.empty(fd.survey.n_data)
    first_at: dict[int, int] = {}
    for i, row in enumerate(fd.survey.abmn):
        mapped = np.array([electrode_of[j] if j != REMOTE else REMOTE for j in row])
        key, sign = _key(mapped)
        if (mapped[[0, 2]] < 0).any() or (mapped[[1, 3]] < REMOTE).any() or key not in case_keys:
            raise DataError(
                f"{fd.where(i)}: datum {_describe(fd, i)} is not a datum of case "
                f"{case_name}'s survey ({_why(fd, i, mapped)}); problem.observed must hold "
                f"data of the case's survey"
            )
        row_in_case = case_keys[key]
        if row_in_case in first_at:
            raise DataError(
                f"{fd.where(i)}: datum {_describe(fd, i)} is the same measurement as "
                f"{fd.where(first_at[row_in_case])}; give each datum once"
            )
        first_at[row_in_case] = i
        rows[i], signs[i] = row_in_case, sign
    return rows, signs


def _match_electrodes(fd: FieldData, case: Survey, case_name: str) -> np.ndarray:
    """(n_file_electrodes,) index of the case electrode at each file electrode's position,
    -2 where there is none."""
    positions = fd.global_electrodes()
    ref = case.electrodes
    gaps = np.linalg.norm(ref[:, None, :] - ref[None, :, :], axis=-1)
    spacing = gaps[gaps > 0].min() if (gaps > 0).any() else 1.0
    distance = np.linalg.norm(positions[:, None, :] - ref[None, :, :], axis=-1)
    nearest = distance.argmin(axis=1)
    close = distance[np.arange(len(positions)), nearest] <= POSITION_TOLERANCE * spacing
    return np.where(close, nearest, -2)


def _key(abmn: np.ndarray) -> tuple[tuple[int, int, int, int], float]:
    """A measurement's electrodes up to the order within each dipole, and the sign that
    order costs: (A, B, M, N) and (B, A, M, N) measure -d of each other."""
    a, b, m, n = (int(v) for v in abmn)
    sign = 1.0
    if b != REMOTE and b < a:
        a, b, sign = b, a, -sign
    if n != REMOTE and n < m:
        m, n, sign = n, m, -sign
    return (a, b, m, n), sign


def _describe(fd: FieldData, i: int) -> str:
    positions = fd.global_electrodes()
    parts = []
    for label, j in zip("ABMN", fd.survey.abmn[i]):
        if j == REMOTE:
            continue
        parts.append(f"{label}=({', '.join(f'{v:g}' for v in positions[j])})")
    return " ".join(parts)


def _why(fd: FieldData, i: int, mapped: np.ndarray) -> str:
    positions = fd.global_electrodes()
    for label, j, k in zip("ABMN", fd.survey.abmn[i], mapped):
        if j != REMOTE and k < 0:
            where = ", ".join(f"{v:g}" for v in positions[j])
            return f"no electrode of the case at {label} = ({where})"
    return "the case has electrodes there but no datum with these four"
