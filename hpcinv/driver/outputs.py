"""What every kind of run writes beside its model: the final coverage, the exact chi of a
model, the MC dropout spread summary.json reports, the field-data notes."""

from __future__ import annotations

import logging
import time

import numpy as np

from hpcinv.engine import Executor
from hpcinv.problem import Problem

log = logging.getLogger("hpcinv")


def chi_of(dpred: np.ndarray, problem: Problem) -> float:
    r = (dpred - problem.dobs) / problem.uncertainty
    return float(r @ r) / problem.n_data


def spread_summary(mc_dropout: tuple[np.ndarray, np.ndarray], problem: Problem) -> dict:
    """summary.json's account of the MC dropout spread: its median and 90th percentile over
    the core cells (all ground cells without a core)."""
    std = mc_dropout[1]
    cells = np.ones(std.size, bool) if problem.core_mask is None else problem.core_mask.copy()
    if problem.active is not None:
        cells &= problem.active
    return {
        "std_median_core": float(np.median(std[cells])),
        "std_p90_core": float(np.percentile(std[cells], 90)),
    }


def final_coverage(executor: Executor, model: np.ndarray) -> np.ndarray:
    """The cumulative sensitivity of the final model (result.npz's ``coverage``), from the
    factors the final predict left in the tiles' caches."""
    t0 = time.perf_counter()
    coverage = executor.sensitivity(model)["coverage"]
    log.info("coverage (cumulative sensitivity) in %.1f s", time.perf_counter() - t0)
    return coverage


def field_notes(problem: Problem) -> dict:
    """summary.json's ``field_data``: what was read and decided (file, format, data type,
    uncertainties, mesh), for field-data problems."""
    notes = problem.info.notes
    return {"field_data": notes} if notes else {}
