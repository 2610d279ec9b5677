"""summary.json: the metrics outside tools read (contract in docs/design.md).

``build_summary`` makes the keys every run has from the run's facts (``RunFacts``: the
problem, the run file, where it ran and what it cost) and its outcome; each kind of run adds
its own keys through ``extra`` (``hpcinv.driver.outputs``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hpcinv.report.anomaly import anomaly_measure
from hpcinv.version import __version__

if TYPE_CHECKING:
    from hpcinv.config import RunConfig
    from hpcinv.problem import Problem


def mae_core(model, true_model, core_mask) -> float | None:
    """mean |m_pred - m_true| over the core cells (all cells without a mask); None without
    a true model."""
    if true_model is None:
        return None
    mask = np.ones(len(true_model), bool) if core_mask is None else np.asarray(core_mask, bool)
    return float(np.mean(np.abs(np.asarray(model)[mask] - np.asarray(true_model)[mask])))


@dataclass
class RunFacts:
    """What a summary says of the run besides its outcome: the problem and run file, where
    it ran (workers, device), what the physics cost (factor and solve seconds; per step the
    factorizations in all and on the busiest tile) and the wall time."""

    problem: Problem
    config: RunConfig
    n_workers: int = 1
    device: str = "cpu"
    solve_seconds: float = 0.0
    wall_seconds: float = 0.0
    factorizations: list[int] = field(default_factory=list)
    tile_factorizations: list[int] = field(default_factory=list)
    #: None: the problem's tile count
    n_tiles: int | None = None


def build_summary(
    facts: RunFacts,
    *,
    kind: str,
    iterations: int,
    phi_d: float,
    history: dict,
    model,
    stopped: str,
    extra: dict | None = None,
) -> dict:
    """The summary dict. ``history`` holds per-iteration lists phi_d, chi, beta, seconds and
    (DIP) physics_seconds; overhead_fraction is the share of iteration time spent outside
    the physics call (network, optimiser, bookkeeping; for Dask also scheduling)."""
    problem = facts.problem
    seconds = np.asarray(history.get("seconds", []), float)
    physics = np.asarray(history.get("physics_seconds", []), float)
    total = float(seconds.sum())
    overhead = None
    if total > 0 and physics.size == seconds.size:
        overhead = float(max(0.0, 1.0 - physics.sum() / total))
    summary = {
        "kind": kind,
        "iterations": int(iterations),
        "phi_d": float(phi_d),
        "chi": float(phi_d / (problem.n_data / 2.0)),
        "n_data": int(problem.n_data),
        "mae_core": mae_core(model, problem.true_model, problem.core_mask),
        "anomaly": anomaly_measure(model, problem.true_model, problem.core_mask),
        "history": {
            k: [float(x) for x in history.get(k, [])] for k in ("phi_d", "chi", "beta", "seconds")
        },
        "timing": {
            "seconds_per_iteration_median": float(np.median(seconds)) if seconds.size else None,
            "solve_seconds": float(facts.solve_seconds),
            "overhead_fraction": overhead,
            "wall_seconds": float(facts.wall_seconds),
        },
        "factorizations": {
            "per_iteration_max": _max_or_none(facts.factorizations),
            "per_tile_per_iteration_max": _max_or_none(facts.tile_factorizations),
        },
        "n_tiles": int(len(problem.tiles) if facts.n_tiles is None else facts.n_tiles),
        "n_workers": int(facts.n_workers),
        "device": facts.device,
        "config_sha256": facts.config.sha256,
        "hpcinv_version": __version__,
        "stopped": stopped,
    }
    if extra:
        summary.update(extra)
    return summary


def _max_or_none(values):
    values = list(values)
    return int(max(values)) if values else None
