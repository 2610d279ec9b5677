"""Geometric factors of four-electrode configurations, and conversion of field data to the
resistances (V/A) the inversion fits.

The apparent resistivity of a datum is rho_a = k * dV / I with, for point electrodes in a
homogeneous half-space under a flat surface at elevation z0,

    k = 4 pi / sum_{s in A,B; r in M,N} sign(s) sign(r) (1 / |r - s| + 1 / |r - s'|)

where s' is the mirror image of s above the surface (sign +1 for A and M, -1 for B and N). For
electrodes on the surface s' = s and this is the textbook 2 pi / (1/AM - 1/BM - 1/AN + 1/BN).
A remote pole electrode (``REMOTE``) contributes no term.
"""

from __future__ import annotations

import logging

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.fielddata import FieldData
from hpcinv.survey import REMOTE, Survey

log = logging.getLogger("hpcinv.readers")


def halfspace_response(electrodes: np.ndarray, abmn: np.ndarray) -> np.ndarray:
    """(n_data,) V/A of a homogeneous 1 ohm m half-space: the potential difference per ampere,
    1 / k, with k the geometric factor (see the module docstring and ``geometric_factors``).

    A configuration whose terms cancel gives 0 (its geometric factor is infinite).
    """
    return _image_sum(electrodes, abmn) / (4.0 * np.pi)


def _image_sum(electrodes: np.ndarray, abmn: np.ndarray) -> np.ndarray:
    """sum over s in A,B and r in M,N of sign(s) sign(r) (1/|r - s| + 1/|r - s'|): the one
    half-space formula behind the geometric factors and the half-space response."""
    points = _as_3d(np.asarray(electrodes, dtype=float))
    abmn = np.asarray(abmn, dtype=np.int64).reshape(-1, 4)
    surface = points[:, 2].max()
    total = np.zeros(abmn.shape[0])
    for s_col, s_sign in ((0, 1.0), (1, -1.0)):
        for r_col, r_sign in ((2, 1.0), (3, -1.0)):
            use = (abmn[:, s_col] != REMOTE) & (abmn[:, r_col] != REMOTE)
            source, receiver = points[abmn[use, s_col]], points[abmn[use, r_col]]
            image = source.copy()
            image[:, 2] = 2.0 * surface - source[:, 2]
            direct = np.linalg.norm(receiver - source, axis=1)
            if np.any(direct == 0):
                row = int(np.flatnonzero(use)[np.flatnonzero(direct == 0)[0]])
                raise DataError(
                    f"datum {row}: a potential electrode is at a current "
                    f"electrode, where the potential is infinite; remove the row"
                )
            mirrored = np.linalg.norm(receiver - image, axis=1)
            total[use] += s_sign * r_sign * (1.0 / direct + 1.0 / mirrored)
    return total


def geometric_factors(electrodes: np.ndarray, abmn: np.ndarray) -> np.ndarray:
    """(n_data,) float64 metres: analytic half-space geometric factors, 1 / the half-space
    response.

    electrodes: (n, 2) line positions (x, z), taken as points (x, 0, z) of a 3D half-space,
    or (n, 3) positions (x, y, z); z up. The surface is flat at the highest electrode's
    elevation; buried electrodes get the image-source term. abmn: (n_data, 4) indices,
    ``REMOTE`` for a pole's B or N. A configuration whose potential terms cancel (e.g. M and
    N equidistant from A and B) has no finite factor: ``inf`` there.
    """
    with np.errstate(divide="ignore"):
        return 4.0 * np.pi / _image_sum(electrodes, abmn)


def _as_3d(electrodes: np.ndarray) -> np.ndarray:
    if electrodes.shape[1] == 3:
        return electrodes
    return np.column_stack([electrodes[:, 0], np.zeros(len(electrodes)), electrodes[:, 1]])


def is_flat(survey: Survey) -> bool:
    """Every electrode at the same elevation (the analytic factors are then exact)."""
    return bool(np.ptp(survey.electrodes[:, -1]) == 0)


def resistance_conversion(data: FieldData) -> str:
    """How ``to_resistance`` turns ``data`` into V/A, in words (for notes and summaries)."""
    if data.data_type == "resistance":
        return "none: the values are V/A"
    if data.data_type == "volts":
        return (
            "divided by the file's currents"
            if data.current is not None
            else "none: volts for a current of 1 A are V/A"
        )
    if data.geometric_factor is not None:
        return "divided by the file's geometric factors (k column)"
    if is_flat(data.survey):
        return "divided by analytic half-space geometric factors (flat surface)"
    return (
        "needs numeric geometric factors (electrodes at different elevations): the "
        "problem builder computes them with a homogeneous half-space simulation"
    )


def to_resistance(data: FieldData, k: np.ndarray | None = None) -> Survey:
    """The survey with dobs and uncertainty in V/A ("resistance"), what the inversion fits.

    Volts are divided by the current (1 A when the file gave none); apparent resistivity by
    the geometric factor: ``k`` ((n_data,) metres) when given, else the file's ``k`` column,
    else the analytic factor when every electrode is at the same elevation. With topography
    and no ``k`` this raises: numeric factors are needed (the problem builder computes them
    with a homogeneous half-space simulation).
    """
    survey = data.survey
    if data.data_type == "resistance":
        return survey
    if data.data_type == "volts":
        divisor = np.ones(survey.n_data) if data.current is None else data.current
        how = resistance_conversion(data)
    else:
        divisor, how = _factors(data, k)
    log.info("%s: %s to V/A: %s", data.path, data.data_type.replace("_", " "), how)
    uncertainty = None if survey.uncertainty is None else survey.uncertainty / np.abs(divisor)
    return survey.with_data(survey.dobs / divisor, uncertainty)


def _factors(data: FieldData, k: np.ndarray | None) -> tuple[np.ndarray, str]:
    if k is not None:
        factors, how = np.asarray(k, dtype=float), "divided by the given geometric factors"
        if factors.shape != (data.survey.n_data,):
            raise DataError(
                f"{data.path}: {factors.size} geometric factors for "
                f"{data.survey.n_data} data; give one per datum"
            )
    elif data.geometric_factor is not None or is_flat(data.survey):
        how = resistance_conversion(data)
        factors = (
            data.geometric_factor
            if data.geometric_factor is not None
            else geometric_factors(data.survey.electrodes, data.survey.abmn)
        )
    else:
        raise DataError(
            f"{data.path}: apparent resistivities with electrodes at different "
            f"elevations need numeric geometric factors; pass k (the problem "
            f"builder computes them with a homogeneous half-space simulation)"
        )
    bad = np.flatnonzero(~np.isfinite(factors) | (factors == 0))
    if bad.size:
        raise DataError(
            f"{data.where(int(bad[0]))}: geometric factor {factors[bad[0]]:g} "
            f"({bad.size} such data): the apparent resistivity cannot be "
            f"converted; remove the datum or give its resistance"
        )
    return factors, how
