"""Data uncertainties: the file's standard deviations, or a percentage plus a floor."""

from __future__ import annotations

import logging

import numpy as np

from hpcinv.errors import DataError
from hpcinv.survey import Survey

log = logging.getLogger("hpcinv.readers")


def assign_uncertainty(
    survey: Survey,
    *,
    percent: float,
    floor: float = 0.0,
    floor_percentile: float = 10.0,
    use_file: bool = True,
) -> tuple[Survey, dict]:
    """The survey with one standard deviation per datum, and a report of how it was set.

    With ``use_file`` and uncertainties in the survey, those are kept. Otherwise
    uncertainty = percent / 100 * |d| + floor, in the units of dobs; ``floor`` 0 means
    automatic: percent / 100 times the ``floor_percentile``-th percentile of |d|. The datum
    at that percentile then gets twice the percentage, larger data tend to the percentage
    and only smaller ones more (as 1/|d|), so near-zero data do not get vanishing
    uncertainties and huge weights while most data keep the percentage a user asked for.
    (Before 0.4.1 the floor was the percentile itself: on a 3D file of resistances from
    0.033 to 33 ohm at 3%, that made the median relative uncertainty 32% and the largest
    250%, so most data hardly counted; pyGIMLi and ResIPy likewise add a small absolute
    error to the percentage.)

    The report: source ("file" or "percent+floor"), percent, floor, floor_auto,
    floor_percentile, and uncertainty_min/median/max and relative_min/median/max
    (uncertainty / |d| over the nonzero data).
    """
    if survey.dobs is None:
        raise DataError(f"{survey.name}: the survey has no data to give uncertainties to")
    magnitude = np.abs(survey.dobs)
    if use_file and survey.uncertainty is not None:
        uncertainty = survey.uncertainty
        report = {
            "source": "file",
            "percent": None,
            "floor": None,
            "floor_auto": False,
            "floor_percentile": None,
        }
    else:
        floor, auto = _floor(survey.name, magnitude, percent, floor, floor_percentile)
        uncertainty = percent / 100.0 * magnitude + floor
        report = {
            "source": "percent+floor",
            "percent": float(percent),
            "floor": float(floor),
            "floor_auto": auto,
            "floor_percentile": float(floor_percentile) if auto else None,
        }
    report |= uncertainty_statistics(survey.dobs, uncertainty)
    log.info(
        "%s: uncertainties from %s (median %.3g)",
        survey.name,
        report["source"],
        report["uncertainty_median"],
    )
    return survey.with_data(survey.dobs, uncertainty), report


def _floor(name, magnitude, percent, floor, floor_percentile) -> tuple[float, bool]:
    if percent < 0 or floor < 0:
        raise DataError(f"{name}: percent {percent:g} and floor {floor:g} must not be negative")
    if floor > 0:
        return float(floor), False
    if not 0 <= floor_percentile <= 100:
        raise DataError(f"{name}: floor_percentile {floor_percentile:g} is not in 0..100")
    auto = percent / 100.0 * float(np.percentile(magnitude, floor_percentile))
    if auto == 0:
        raise DataError(
            f"{name}: the automatic floor ({percent:g}% of the {floor_percentile:g}th "
            f"percentile of |d|) is 0; give a floor > 0 or a higher floor_percentile"
        )
    return auto, True


def uncertainty_statistics(dobs: np.ndarray, uncertainty: np.ndarray) -> dict:
    """min/median/max of the uncertainty and of uncertainty / |d| (nonzero data only)."""
    nonzero = dobs != 0
    relative = uncertainty[nonzero] / np.abs(dobs[nonzero])
    out = {}
    for prefix, values in (("uncertainty", uncertainty), ("relative", relative)):
        for stat, fn in (("min", np.min), ("median", np.median), ("max", np.max)):
            out[f"{prefix}_{stat}"] = float(fn(values)) if values.size else None
    return out
