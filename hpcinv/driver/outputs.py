"""What a run writes, made in one place: summary.json (``report.summary``) and result.npz
(``driver.result``) of a DIP run of K >= 1 members (``dip_outputs``; K = 1 gives the single
run's keys, K > 1 adds ``ensemble`` and the members' arrays) and of a conventional run
(``conventional_outputs``). Both formats are contracts (docs/design.md)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.driver.result import result_arrays
from hpcinv.engine import Executor
from hpcinv.problem import Problem
from hpcinv.report.summary import RunFacts, build_summary, mae_core

if TYPE_CHECKING:
    from hpcinv.driver.dip_run import DipRun

log = logging.getLogger("hpcinv")


def chi_of(dpred: np.ndarray, problem: Problem) -> float:
    r = (dpred - problem.dobs) / problem.uncertainty
    return float(r @ r) / problem.n_data


def core_cells(problem: Problem) -> np.ndarray:
    """The cells spreads are summarised over: the core's ground cells (all ground cells
    without a core)."""
    n = problem.model_grid.n_cells
    cells = np.ones(n, bool) if problem.core_mask is None else problem.core_mask.copy()
    if problem.active is not None:
        cells &= problem.active
    return cells


def spread_summary(std: np.ndarray, problem: Problem) -> dict:
    """summary.json's account of a spread (n_cells,): its median and 90th percentile over
    the core's ground cells."""
    cells = core_cells(problem)
    return {
        "std_median_core": float(np.median(std[cells])),
        "std_p90_core": float(np.percentile(std[cells], 90)),
    }


def final_coverage(executor: Executor, model: np.ndarray) -> np.ndarray:
    """The cumulative sensitivity of the final model (result.npz's ``coverage``), from the
    factors the final predict left in the tiles' caches."""
    t0 = time.perf_counter()
    coverage = executor.sensitivity([model])[0]["coverage"]
    log.info("coverage (cumulative sensitivity) in %.1f s", time.perf_counter() - t0)
    return coverage


def problem_notes(problem: Problem) -> dict:
    """summary.json's ``field_data`` (what was read and decided of a field-data file) or
    ``observed`` (the file whose data a built-in case inverts)."""
    notes = dict(problem.info.notes)
    observed = notes.pop("observed", None)
    out = {"field_data": notes} if notes else {}
    if observed is not None:
        out["observed"] = observed
    return out


def run_facts(run: DipRun) -> RunFacts:
    problem, executor, member = run.problem, run.executor, run.members[0]
    counts = executor.counters()
    return RunFacts(
        problem=problem,
        config=run.config,
        n_workers=executor.n_workers,
        device=str(member.device),
        solve_seconds=float(counts["factor_seconds"] + counts["solve_seconds"]),
        wall_seconds=run.elapsed(),
        factorizations=run.accounting.factorizations,
        tile_factorizations=run.accounting.tile_factorizations,
    )


def dip_outputs(
    run: DipRun, models: np.ndarray, final: bool, stopped: str
) -> tuple[dict, dict[str, np.ndarray | None]]:
    """(summary.json, result.npz's arrays) of ``run`` with the members' ``models``
    (members, n_cells): the model is member 0's (K = 1) or the members' mean."""
    problem, config = run.problem, run.config
    members, k = run.members, len(run.members)
    model = models[0] if k == 1 else models.mean(axis=0)
    coverage = mc_dropout = None
    dpred, phi_d, chi = _misfits(run, models, model, final)
    if final:
        coverage = final_coverage(run.executor, model)
        mc_dropout = _mc_dropout(members[0], config)
    history = members[0].history.as_dict()
    method = members[0].method
    extra = {
        "network": type(members[0].net).__name__,
        "n_weights": members[0].net.n_weights(),
        "problem": problem.name,
        "checkpoint_iteration": run.stepper.iteration,
        "threads": {"network": config.network.threads, "physics": config.physics.threads},
        "learning_rate": {
            "schedule": config.inversion.lr_schedule,
            "final": method.learning_rate,
            "cut_after_iterations": method.lr_cuts,
        },
        "versions": run.versions,
        "defaults_3d": {
            key: list(v) if isinstance(v, tuple) else v
            for key, v in run.resolved.defaults_3d.items()
        },
        "resolved": run.resolved.summary(),
        "reference_model": config.inversion.reference_value,
        **({} if mc_dropout is None else {"mc_dropout": _mc_summary(mc_dropout, problem, k)}),
        **problem_notes(problem),
    }
    arrays = result_arrays(problem, model, dpred, history, coverage, mc_dropout)
    if k > 1:
        extra["ensemble"] = _ensemble_summary(run, models, chi, final)
        arrays |= _ensemble_arrays(config, models, chi)
    summary = build_summary(
        run_facts(run),
        kind="dip",
        iterations=run.stepper.iteration,
        phi_d=phi_d,
        history=history,
        model=model,
        stopped=stopped,
        extra=extra,
    )
    summary["timing"]["per_tile_seconds_last_iteration"] = {
        str(i): round(t, 4) for i, t in run.accounting.last_tile_seconds.items()
    }
    return summary, arrays


def _misfits(
    run: DipRun, models: np.ndarray, model: np.ndarray, final: bool
) -> tuple[np.ndarray, float, list[float]]:
    """(dpred, phi_d of the model, each member's chi): at the end the exact ones of the
    models (dropout off); between saves those of the last (dropout-on) iterates, dpred NaN."""
    problem, members = run.problem, run.members
    chi = [m.history.chi[-1] if len(m.history) else float("nan") for m in members]
    if not final:
        last = [m.history.phi_d[-1] for m in members if len(m.history)]
        phi_d = float(np.mean(last)) if last else float("nan")
        return np.full(problem.n_data, np.nan), phi_d, chi
    k = len(members)
    dpred, *member_data = run.executor.predict([model, *(models if k > 1 else [])])
    r = (dpred - problem.dobs) / problem.uncertainty
    if k > 1:
        chi = [c if np.isnan(c) else chi_of(d, problem) for d, c in zip(member_data, chi)]
    return dpred, 0.5 * float(r @ r), chi


def _mc_dropout(member, config: RunConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) of ensemble.mc_dropout_samples dropout-on passes of ``member``'s network
    (None when the run asks for none)."""
    samples = config.ensemble.mc_dropout_samples
    if not samples:
        return None
    t0 = time.perf_counter()
    mc = member.mc_dropout(samples, seed=config.network.seed + 2)
    log.info(
        "MC dropout: %d samples in %.1f s, median std %.3g ln(S/m)",
        samples,
        time.perf_counter() - t0,
        float(np.median(mc[1])),
    )
    return mc


def _mc_summary(mc_dropout: tuple[np.ndarray, np.ndarray], problem: Problem, k: int) -> dict:
    # an ensemble draws member 0's: a single run's MC dropout beside the ensemble's spread
    return {**({"member": 0} if k > 1 else {}), **spread_summary(mc_dropout[1], problem)}


def _ensemble_summary(run: DipRun, models: np.ndarray, chi: list[float], final: bool) -> dict:
    problem, config, stepper = run.problem, run.config, run.stepper
    limit = 1.5 * max(config.inversion.target_chi, 1.0)
    not_fitting = [k for k, c in enumerate(chi) if not c <= limit]
    if final and not_fitting:
        log.warning(
            "ensemble members %s end at chi %s, above %.2f: they did not fit the data; "
            "weigh the mean and spread with that in mind",
            not_fitting,
            [round(chi[k], 3) for k in not_fitting],
            limit,
        )
    return {
        "members": len(models),
        "vary": config.ensemble.vary,
        "model": "the mean of the members' models",
        "history": "member 0's (every member's chi in member_chi)",
        "member_chi": chi,
        "member_iterations": [len(m.history) for m in stepper.members],
        "member_stopped": list(stepper.stopped),
        "member_mae_core": [mae_core(m, problem.true_model, problem.core_mask) for m in models],
        "not_fitting": not_fitting,
        **spread_summary(models.std(axis=0), problem),
    }


def _ensemble_arrays(config: RunConfig, models: np.ndarray, chi: list[float]) -> dict:
    threshold = config.ensemble.exceedance_resistivity
    p_below = None
    if threshold > 0:  # resistivity < threshold  <=>  ln(S/m) > -ln(threshold)
        p_below = (models > -np.log(threshold)).mean(axis=0)
    return {
        "ensemble_models": models,
        "ensemble_std": models.std(axis=0),
        "ensemble_chi": np.asarray(chi, float),
        "ensemble_p_below": p_below,
    }


def conventional_outputs(
    problem: Problem,
    config: RunConfig,
    out: dict,
    coverage: np.ndarray | None,
    wall_seconds: float,
    stopped: str = "SimPEG IRLS finished",
    n_workers: int = 1,
    solve_seconds: float = 0.0,
) -> tuple[dict, dict[str, np.ndarray | None]]:
    """(summary.json, result.npz's arrays) of a conventional run's ``out`` (model, dpred,
    iterations, history from ``run_conventional``; between iterations dpred is NaN and
    phi_d the last iteration's)."""
    from hpcinv.report.versions import versions

    r = (out["dpred"] - problem.dobs) / problem.uncertainty
    phi_d = 0.5 * float(r @ r) if np.isfinite(r).all() else out["history"]["phi_d"][-1]
    facts = RunFacts(
        problem=problem,
        config=config,
        wall_seconds=wall_seconds,
        n_workers=n_workers,
        solve_seconds=solve_seconds,
    )
    summary = build_summary(
        facts,
        kind="conventional",
        iterations=out["iterations"],
        phi_d=phi_d,
        history=out["history"],
        model=out["model"],
        stopped=stopped,
        extra={
            "problem": problem.name,
            "versions": versions(),
            "reference_model": config.inversion.reference_value,
            # the tiles' predictions (line search) and Jacobians (one per accepted model)
            "physics_calls": out.get("calls"),
            **problem_notes(problem),
        },
    )
    arrays = result_arrays(problem, out["model"], out["dpred"], out["history"], coverage)
    return summary, arrays
