"""summary.json: the metrics outside tools read (contract in docs/design.md)."""

from __future__ import annotations

import numpy as np

from hpcinv.version import __version__


def mae_core(model, true_model, core_mask) -> float | None:
    """mean |m_pred - m_true| over the core cells (all cells without a mask); None without
    a true model."""
    if true_model is None:
        return None
    mask = np.ones(len(true_model), bool) if core_mask is None else np.asarray(core_mask, bool)
    return float(np.mean(np.abs(np.asarray(model)[mask] - np.asarray(true_model)[mask])))


def build_summary(
    *,
    kind: str,
    iterations: int,
    phi_d: float,
    n_data: int,
    history: dict,
    model,
    true_model,
    core_mask,
    n_tiles: int,
    n_workers: int,
    device: str,
    config_sha256: str,
    solve_seconds: float,
    factorizations_per_iteration,
    factorizations_per_tile_per_iteration,
    stopped: str,
    wall_seconds: float,
    extra: dict | None = None,
) -> dict:
    """The summary dict. ``history`` holds per-iteration lists phi_d, chi, beta, seconds and
    (DIP) physics_seconds; overhead_fraction is the share of iteration time spent outside
    the physics call (network, optimiser, bookkeeping; for Dask also scheduling)."""
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
        "chi": float(phi_d / (n_data / 2.0)),
        "n_data": int(n_data),
        "mae_core": mae_core(model, true_model, core_mask),
        "history": {
            k: [float(x) for x in history.get(k, [])] for k in ("phi_d", "chi", "beta", "seconds")
        },
        "timing": {
            "seconds_per_iteration_median": float(np.median(seconds)) if seconds.size else None,
            "solve_seconds": float(solve_seconds),
            "overhead_fraction": overhead,
            "wall_seconds": float(wall_seconds),
        },
        "factorizations": {
            "per_iteration_max": _max_or_none(factorizations_per_iteration),
            "per_tile_per_iteration_max": _max_or_none(factorizations_per_tile_per_iteration),
        },
        "n_tiles": int(n_tiles),
        "n_workers": int(n_workers),
        "device": device,
        "config_sha256": config_sha256,
        "hpcinv_version": __version__,
        "stopped": stopped,
    }
    if extra:
        summary.update(extra)
    return summary


def _max_or_none(values):
    values = list(values)
    return int(max(values)) if values else None
