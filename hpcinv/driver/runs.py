"""``hpcinv.run`` and ``hpcinv.resume``: a problem, an executor, an inversion, checkpoints and
the summary, wired once for the Python API and the command line alike.

A DIP run checkpoints every ``checkpoint.every`` iterations, on SIGTERM/SIGUSR1 (then it
stops with ``RunInterrupted``, exit code 75 on the command line) and at the end; after every
checkpoint it rewrites ``summary.json`` and ``result.npz``. ``resume`` continues from the
latest complete checkpoint exactly as an uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import numpy as np

from hpcinv.checkpoint import CheckpointStore
from hpcinv.config import (
    RunConfig,
    config_changes,
    config_from_dict,
    dump_toml,
    load_config,
    with_3d_defaults,
)
from hpcinv.driver.cluster import ClusterChoice, make_executor
from hpcinv.driver.progress import Progress
from hpcinv.driver.result import Result, result_arrays
from hpcinv.driver.signals import StopSignals
from hpcinv.engine import Executor, SerialExecutor
from hpcinv.errors import (
    CheckpointError,
    ConfigError,
    HpcinvError,
    InversionError,
    RunInterrupted,
)
from hpcinv.inversion import DipInversion, EnsembleInversion, IterationRecord
from hpcinv.inversion.ensemble import EnsembleHook
from hpcinv.problem import Problem, build_problem
from hpcinv.report.rundir import RunDirectory
from hpcinv.report.summary import build_summary, mae_core
from hpcinv.report.versions import versions

log = logging.getLogger("hpcinv")

Hook = Callable[[DipInversion, IterationRecord], None]


def run(
    config: RunConfig | str | Path,
    out: str | Path,
    *,
    iterations: int | None = None,
    workers: int = 0,
    threads_per_worker: int | None = None,
    scheduler_address: str | None = None,
    scheduler_file: str | None = None,
    client=None,
    cluster: ClusterChoice | None = None,
    overwrite: bool = False,
    hooks: Sequence[Hook] = (),
    before_checkpoint_rename: Callable[[], None] | None = None,
) -> Result:
    """Run the inversion ``config`` (a ``RunConfig`` or a run file's path) into the run
    directory ``out``; returns its ``Result``.

    Where tiles run: serially (``workers=0``), on a local Dask cluster of ``workers``
    processes with ``threads_per_worker`` CPUs each, on a running scheduler
    (``scheduler_address``/``scheduler_file``), on the workers of a Dask ``client`` you hold,
    or as ``cluster`` says (SLURM). None of these changes the numbers: the run file's
    ``physics.threads`` and ``network.threads`` fix what they depend on.
    ``iterations`` overrides inversion.iterations; ``overwrite`` replaces a run that ``out``
    holds; ``hooks`` are called after every DIP iteration with (inversion, record);
    ``before_checkpoint_rename`` between writing a checkpoint and renaming it into place.
    """
    config = _as_config(config)
    _check_iterations(iterations)
    run_dir = RunDirectory(out)
    choice = cluster or ClusterChoice(
        workers, threads_per_worker, scheduler_address, scheduler_file, client=client
    )
    choice.validate()
    choice.join_runner(run_dir.path)  # --slurm-runner: only the driver task goes on
    if run_dir.holds_a_run():
        if not overwrite:
            raise HpcinvError(
                f"{run_dir.path} already holds a run; choose another --out, "
                f"pass --resume to continue it or --overwrite to replace it"
            )
        clear_run(run_dir)
    t_start = time.perf_counter()
    problem = build_problem(config)
    config = resolve_reference(config, problem)
    _check_mc_dropout(config, problem)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(_config_text(config), source=config.path)
    if config.inversion.kind == "conventional":
        _run_conventional(problem, config, run_dir, t_start)
    else:
        _run_dip_on(
            problem,
            config,
            run_dir,
            choice,
            iterations,
            t_start,
            None,
            hooks,
            before_checkpoint_rename,
        )
    return Result(run_dir.path)


def resume(
    out: str | Path,
    *,
    iterations: int | None = None,
    force: bool = False,
    config: RunConfig | str | Path | None = None,
    workers: int = 0,
    threads_per_worker: int | None = None,
    scheduler_address: str | None = None,
    scheduler_file: str | None = None,
    client=None,
    cluster: ClusterChoice | None = None,
    hooks: Sequence[Hook] = (),
    before_checkpoint_rename: Callable[[], None] | None = None,
) -> Result:
    """Continue the run in ``out`` from its latest complete checkpoint until ``iterations``
    in total (default: the run file's); returns its ``Result``.

    The run file is DIR/config.toml (or ``config``); changes that alter the iterates since
    the checkpoint are refused, harmless ones (iterations, checkpoint cadence, tiles,
    thread counts, ...) need ``force``. Cluster arguments as for ``run``.
    """
    _check_iterations(iterations)
    run_dir = RunDirectory(out)
    choice = cluster or ClusterChoice(
        workers, threads_per_worker, scheduler_address, scheduler_file, client=client
    )
    choice.validate()
    choice.join_runner(run_dir.path)
    store = CheckpointStore(run_dir.checkpoint_path)
    if not store.exists():
        raise CheckpointError(
            f"{run_dir.path}: no checkpoint.zarr to resume from; start the "
            f"run with `hpcinv run CONFIG --out {run_dir.path}`"
        )
    store.clean_stale()
    state, attrs = store.load_latest()
    saved = config_from_dict(attrs["config"])
    current = _as_config(config) if config is not None else load_run_config(run_dir)
    matter, harmless = config_changes(saved, current)
    if matter:
        raise CheckpointError(
            "the configuration changed in ways that alter the inversion since the checkpoint: "
            + "; ".join(matter)
            + ". Start a new run (another --out) instead"
        )
    if harmless and not force:
        raise CheckpointError(
            "the configuration changed since the checkpoint: "
            + "; ".join(harmless)
            + ". These are harmless: pass --force "
            "to resume with them"
        )
    t_start = time.perf_counter()
    problem = build_problem(current)
    current = resolve_reference(current, problem)
    _check_mc_dropout(current, problem)
    _run_dip_on(
        problem,
        current,
        run_dir,
        choice,
        iterations,
        t_start,
        state,
        hooks,
        before_checkpoint_rename,
    )
    return Result(run_dir.path)


def _check_mc_dropout(config: RunConfig, problem: Problem) -> None:
    """MC dropout samples need dropout (before anything is written: one clear error)."""
    if config.inversion.kind != "dip" or not config.ensemble.mc_dropout_samples:
        return
    effective = with_3d_defaults(config)[0] if problem.dim == 3 else config
    if effective.network.dropout == 0:
        raise ConfigError(
            "ensemble.mc_dropout_samples > 0 needs network.dropout > 0: without dropout every "
            "sample is the same model (3D runs default to no dropout: set network.dropout, "
            "e.g. 0.1)"
        )


def resolve_reference(config: RunConfig, problem: Problem) -> RunConfig:
    """``config`` with ``inversion.reference_model = "halfspace"`` replaced by ln of the best
    uniform half-space conductivity of the problem's data (field data: fitted when the
    problem was built); unchanged otherwise. A function of the data and the run file, so a
    resumed run gets the same value."""
    inversion = config.inversion
    if inversion.reference_model != "halfspace":
        return config
    notes = problem.info.notes or {}
    sigma = notes.get("halfspace_conductivity")
    if sigma is None:
        raise ConfigError(
            f"inversion.reference_model = 'halfspace' needs field data whose best uniform "
            f"half-space could be fitted; {problem.name} has none (synthetic cases and data "
            f"that no positive conductivity fits): give m_ref in ln(S/m)"
        )
    value = float(np.log(sigma))
    log.info("reference model: the best uniform half-space, %.4g S/m (ln %.3f)", sigma, value)
    return dataclasses.replace(
        config, inversion=dataclasses.replace(inversion, reference_model=value)
    )


def load_run_config(run_dir: RunDirectory) -> RunConfig:
    """DIR/config.toml, with its relative paths (problem.data, mesh.topography,
    report.overlay) resolved against the run file it was copied from, as the run did."""
    config = load_config(run_dir.config_file)
    source = run_dir.config_source()
    return config if source is None else dataclasses.replace(config, path=str(source))


def clear_run(run_dir: RunDirectory) -> None:
    """Remove a previous run's outputs (only hpcinv's own files) from ``run_dir``."""
    for path in (run_dir.summary_file, run_dir.result_file, run_dir.stage1_file):
        path.unlink(missing_ok=True)
    shutil.rmtree(run_dir.checkpoint_path, ignore_errors=True)
    shutil.rmtree(run_dir.figures, ignore_errors=True)


def _as_config(config: RunConfig | str | Path) -> RunConfig:
    return config if isinstance(config, RunConfig) else load_config(config)


def _check_iterations(iterations: int | None) -> None:
    if iterations is not None and iterations < 0:
        raise HpcinvError(f"--iterations {iterations}: give 0 or more")


def _config_text(config: RunConfig) -> str:
    """The run file as given when ``config`` is that file's content, else its TOML."""
    if config.path is not None and Path(config.path).is_file():
        loaded = load_config(config.path)
        if loaded.sha256 == config.sha256:
            return Path(config.path).read_text()
    return dump_toml(config.raw)


def _run_dip_on(
    problem: Problem,
    config: RunConfig,
    run_dir: RunDirectory,
    choice: ClusterChoice,
    iterations: int | None,
    t_start: float,
    state: dict | None,
    hooks: Sequence[Hook],
    before_rename: Callable[[], None] | None,
) -> dict:
    filled: dict = {}
    if problem.dim == 3:
        config, filled = with_3d_defaults(config)
        if filled:
            log.info(
                "3D defaults for what the run file leaves out: %s",
                ", ".join(f"{k} = {v}" for k, v in filled.items()),
            )
    executor, handle = make_executor(problem, choice, run_dir.path, config.physics.threads)
    try:
        kind = EnsembleRun if config.ensemble.members > 1 else DipRun
        dip = kind(problem, executor, config, run_dir, t_start, before_rename=before_rename)
        dip.defaults_3d = filled
        return dip.run(iterations, state, hooks)
    finally:
        executor.close()
        if handle is not None:
            handle.close()


class DipRun:
    """One DIP run into a run directory: checkpoint cadence, signals, factorization
    accounting, result.npz and summary.json."""

    def __init__(
        self,
        problem: Problem,
        executor: Executor,
        config: RunConfig,
        run_dir: RunDirectory,
        t_start: float,
        before_rename: Callable[[], None] | None = None,
    ):
        self.problem = problem
        self.executor = executor
        self.config = config
        self.run_dir = run_dir
        self.t_start = t_start
        self.inv = self._inversion()
        cc = config.checkpoint
        self.store = CheckpointStore(
            run_dir.checkpoint_path,
            keep_last=cc.keep_last,
            keep_every=cc.keep_every,
            before_rename=before_rename,
        )
        self.factorizations_per_iteration: list[int] = []
        self.factorizations_per_tile: list[int] = []
        self._last_counts: tuple[int, dict] = (0, {})
        self.versions = versions()
        #: {"section.key": value} the 3D defaults filled in (summary.json's ``defaults_3d``)
        self.defaults_3d: dict = {}

    def _inversion(self) -> DipInversion:
        return DipInversion(self.problem, self.executor, self.config)

    def run(self, iterations: int | None, state: dict | None, hooks: Sequence[Hook]) -> dict:
        inv, problem = self.inv, self.problem
        log.info(
            "DIP inversion of %s: %d data, %d cells, %s network (%d weights) on %s, "
            "%d tile(s), solver %s, %d worker(s); threads: network %d, physics %d",
            problem.name,
            problem.n_data,
            problem.model_grid.n_cells,
            type(inv.net).__name__,
            inv.net.n_weights(),
            inv.device,
            len(problem.tiles),
            problem.solver,
            self.executor.n_workers,
            self.config.network.threads,
            self.config.physics.threads,
        )
        if state is not None:
            inv.load_state_dict(state)
            log.info("resumed at iteration %d", inv.iteration)
        elif self.config.inversion.pretrain:
            inv.pretrain(self.run_dir.stage1_file)
        total = self.config.inversion.iterations if iterations is None else iterations
        every = self.config.checkpoint.every
        with StopSignals() as signals:

            def checkpoint(inv: DipInversion, rec: IterationRecord) -> None:
                if signals.received is not None:
                    self.save(rec, stopped=f"interrupted by {signals.name}")
                    raise RunInterrupted(
                        f"received {signals.name}: checkpointed at iteration {inv.iteration} "
                        f"in {self.store.path}; continue with `hpcinv resume "
                        f"{self.run_dir.path}`"
                    )
                if inv.iteration % every == 0 and inv.iteration < total:
                    self.save(rec)

            progress = Progress(self.config.output.progress, total, inv.iteration)
            try:
                stopped = inv.run(
                    total, hooks=[self._count_factorizations, progress, *hooks, checkpoint]
                )
            except InversionError as exc:
                progress.close()
                self.save(None, final=True, stopped=f"error: {exc}")
                raise
            finally:
                progress.close()
            return self.save(None, final=True, stopped=stopped)

    def _count_factorizations(self, inv: DipInversion, rec: IterationRecord) -> None:
        counts = self.executor.counters()
        total, per_tile = counts["factorizations"], counts["per_tile_factorizations"]
        last_total, last_tiles = self._last_counts
        self.factorizations_per_iteration.append(total - last_total)
        self.factorizations_per_tile.append(
            max((per_tile[i] - last_tiles.get(i, 0) for i in per_tile), default=0)
        )
        self._last_counts = (total, dict(per_tile))

    def save(
        self, rec: IterationRecord | None, final: bool = False, stopped: str = "running"
    ) -> dict:
        """Checkpoint, then result.npz and summary.json (after every checkpoint)."""
        inv, problem = self.inv, self.problem
        model = inv.model()
        self.store.save(
            inv.iteration,
            {**inv.state_dict(), "model": model, "z": inv.net.z.detach().cpu().numpy()},
            self.config.raw,
            self.config.sha256,
        )
        coverage = mc_dropout = None
        if final:
            dpred = self.executor.predict(model)
            r = (dpred - problem.dobs) / problem.uncertainty
            phi_d = 0.5 * float(r @ r)
            coverage = final_coverage(self.executor, model)
            mc_dropout = self._mc_dropout(inv)
        else:  # between saves: the misfit of the last (dropout-on) iterate
            dpred = np.full(problem.n_data, np.nan)
            phi_d = rec.phi_d if rec is not None else float("nan")
        counts = self.executor.counters()
        history = inv.history.as_dict()
        summary = build_summary(
            kind="dip",
            iterations=inv.iteration,
            phi_d=phi_d,
            n_data=problem.n_data,
            history=history,
            model=model,
            true_model=problem.true_model,
            core_mask=problem.core_mask,
            n_tiles=len(problem.tiles),
            n_workers=self.executor.n_workers,
            device=str(inv.device),
            config_sha256=self.config.sha256,
            solve_seconds=float(counts["factor_seconds"] + counts["solve_seconds"]),
            factorizations_per_iteration=self.factorizations_per_iteration,
            factorizations_per_tile_per_iteration=self.factorizations_per_tile,
            stopped=stopped,
            wall_seconds=time.perf_counter() - self.t_start,
            extra={
                "network": type(inv.net).__name__,
                "n_weights": inv.net.n_weights(),
                "problem": problem.name,
                "checkpoint_iteration": inv.iteration,
                "threads": self._threads(),
                "learning_rate": {
                    "schedule": self.config.inversion.lr_schedule,
                    "final": inv.optimizer.param_groups[0]["lr"],
                    "cut_after_iterations": list(inv.lr_schedule.cuts),
                },
                "versions": self.versions,
                "defaults_3d": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in self.defaults_3d.items()
                },
                "reference_model": self.config.inversion.reference_value,
                **({} if mc_dropout is None else {"mc_dropout": _spread(mc_dropout, problem)}),
                **_field_notes(problem),
            },
        )
        summary["timing"]["per_tile_seconds_last_iteration"] = {
            str(i): round(t, 4) for i, t in self.executor.last_seconds.get("per_tile", {}).items()
        }
        self.run_dir.write_result(
            result_arrays(problem, model, dpred, history, coverage, mc_dropout)
        )
        self.run_dir.write_summary(summary)
        return summary

    def _mc_dropout(self, inv: DipInversion) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, std) of ensemble.mc_dropout_samples dropout-on passes of ``inv``'s network
        (None when the run asks for none)."""
        samples = self.config.ensemble.mc_dropout_samples
        if not samples:
            return None
        t0 = time.perf_counter()
        mc_dropout = inv.mc_dropout(samples, seed=self.config.network.seed + 2)
        log.info(
            "MC dropout: %d samples in %.1f s, median std %.3g ln(S/m)",
            samples,
            time.perf_counter() - t0,
            float(np.median(mc_dropout[1])),
        )
        return mc_dropout

    def _threads(self) -> dict:
        """What the numbers depend on, recorded: the network's and the tiles' threads."""
        return {"network": self.config.network.threads, "physics": self.config.physics.threads}


class EnsembleRun(DipRun):
    """``ensemble.members`` DIP inversions run together into one run directory: one
    checkpoint store holding every member's state, result.npz with the members' models, their
    mean (``model``), standard deviation and exceedance probability, summary.json with each
    member's chi. ``hooks`` get (the EnsembleInversion, the step's records)."""

    def _inversion(self) -> DipInversion:
        self.ensemble = EnsembleInversion(self.problem, self.executor, self.config)
        return self.ensemble.members[0]

    def run(self, iterations: int | None, state: dict | None, hooks: Sequence[Hook]) -> dict:
        ensemble, problem = self.ensemble, self.problem
        members = len(ensemble.members)
        log.info(
            "DIP ensemble of %s: %d members (vary %s), %d data, %d cells, %s network on %s, "
            "%d tile(s), %d worker(s)",
            problem.name,
            members,
            self.config.ensemble.vary,
            problem.n_data,
            problem.model_grid.n_cells,
            type(self.inv.net).__name__,
            self.inv.device,
            len(problem.tiles),
            self.executor.n_workers,
        )
        if state is not None:
            ensemble.load_state_dict(state)
            log.info("resumed at ensemble step %d", ensemble.iteration)
        elif self.config.inversion.pretrain:
            stage1 = self.run_dir.stage1_file
            ensemble.pretrain(lambda k: stage1.with_name(f"{stage1.stem}-member{k}{stage1.suffix}"))
        total = self.config.inversion.iterations if iterations is None else iterations
        every = self.config.checkpoint.every
        with StopSignals() as signals:

            def checkpoint(ens: EnsembleInversion, records: list) -> None:
                if signals.received is not None:
                    self.save(None, stopped=f"interrupted by {signals.name}")
                    raise RunInterrupted(
                        f"received {signals.name}: checkpointed at ensemble step "
                        f"{ens.iteration} in {self.store.path}; continue with `hpcinv resume "
                        f"{self.run_dir.path}`"
                    )
                if ens.iteration % every == 0 and ens.iteration < total:
                    self.save(None)

            progress = Progress(self.config.output.progress, total, ensemble.iteration)

            def show(ens: EnsembleInversion, records: list) -> None:
                shown = next((r for r in records if r is not None), None)
                if shown is not None:
                    progress(_Step(ens.iteration), shown)

            def count(ens: EnsembleInversion, records: list) -> None:
                self._count_factorizations(self.inv, records[0])

            try:
                # an ensemble's hooks take (EnsembleInversion, records): see the class
                user_hooks = cast(Sequence[EnsembleHook], hooks)
                stopped = ensemble.run(total, hooks=[count, show, *user_hooks, checkpoint])
            except InversionError as exc:
                progress.close()
                self.save(None, final=True, stopped=f"error: {exc}")
                raise
            finally:
                progress.close()
            return self.save(None, final=True, stopped=stopped)

    def save(
        self, rec: IterationRecord | None, final: bool = False, stopped: str = "running"
    ) -> dict:
        """Checkpoint every member, then result.npz and summary.json of the ensemble."""
        ensemble, problem = self.ensemble, self.problem
        models = ensemble.models()
        model = models.mean(axis=0)
        self.store.save(
            ensemble.iteration,
            {**ensemble.state_dict(), "model": model},
            self.config.raw,
            self.config.sha256,
        )
        chi = []
        for member in ensemble.members:
            h = member.history
            chi.append(h.chi[-1] if len(h) else float("nan"))
        coverage = mc_dropout = None
        if final:
            # member 0's network: a single run's MC dropout, beside the ensemble's spread
            mc_dropout = self._mc_dropout(ensemble.members[0])
            dpred = self.executor.predict(model)
            r = (dpred - problem.dobs) / problem.uncertainty
            phi_d = 0.5 * float(r @ r)
            coverage = final_coverage(self.executor, model)
            chi = [
                _chi_of(self.executor.predict(m_k), problem) if not np.isnan(c) else c
                for m_k, c in zip(models, chi)
            ]
        else:
            dpred = np.full(problem.n_data, np.nan)
            phi_d = 0.5 * problem.n_data * float(np.nanmean(chi)) if chi else float("nan")
        history = self.inv.history.as_dict()
        std = models.std(axis=0)
        threshold = self.config.ensemble.exceedance_resistivity
        p_below = None
        if threshold > 0:  # resistivity < threshold  <=>  ln(S/m) > -ln(threshold)
            p_below = (models > -np.log(threshold)).mean(axis=0)
        target = self.config.inversion.target_chi
        limit = 1.5 * max(target, 1.0)
        not_fitting = [k for k, c in enumerate(chi) if not c <= limit]
        if final and not_fitting:
            log.warning(
                "ensemble members %s end at chi %s, above %.2f: they did not fit the data; "
                "weigh the mean and spread with that in mind",
                not_fitting,
                [round(chi[k], 3) for k in not_fitting],
                limit,
            )
        counts = self.executor.counters()
        cells = np.ones(model.size, bool) if problem.core_mask is None else problem.core_mask.copy()
        if problem.active is not None:
            cells &= problem.active
        summary = build_summary(
            kind="dip",
            iterations=ensemble.iteration,
            phi_d=phi_d,
            n_data=problem.n_data,
            history=history,
            model=model,
            true_model=problem.true_model,
            core_mask=problem.core_mask,
            n_tiles=len(problem.tiles),
            n_workers=self.executor.n_workers,
            device=str(self.inv.device),
            config_sha256=self.config.sha256,
            solve_seconds=float(counts["factor_seconds"] + counts["solve_seconds"]),
            factorizations_per_iteration=self.factorizations_per_iteration,
            factorizations_per_tile_per_iteration=self.factorizations_per_tile,
            stopped=stopped,
            wall_seconds=time.perf_counter() - self.t_start,
            extra={
                "network": type(self.inv.net).__name__,
                "n_weights": self.inv.net.n_weights(),
                "problem": problem.name,
                "checkpoint_iteration": ensemble.iteration,
                "threads": self._threads(),
                "versions": self.versions,
                "reference_model": self.config.inversion.reference_value,
                "ensemble": {
                    "members": len(ensemble.members),
                    "vary": self.config.ensemble.vary,
                    "model": "the mean of the members' models",
                    "history": "member 0's (every member's chi in member_chi)",
                    "member_chi": chi,
                    "member_iterations": [len(m.history) for m in ensemble.members],
                    "member_stopped": list(ensemble.stopped),
                    "member_mae_core": [
                        mae_core(m_k, problem.true_model, problem.core_mask) for m_k in models
                    ],
                    "not_fitting": not_fitting,
                    "std_median_core": float(np.median(std[cells])),
                    "std_p90_core": float(np.percentile(std[cells], 90)),
                },
                **(
                    {}
                    if mc_dropout is None
                    else {"mc_dropout": {"member": 0, **_spread(mc_dropout, problem)}}
                ),
                **_field_notes(problem),
            },
        )
        arrays = result_arrays(problem, model, dpred, history, coverage, mc_dropout)
        arrays |= {
            "ensemble_models": models,
            "ensemble_std": std,
            "ensemble_chi": np.asarray(chi, float),
            "ensemble_p_below": p_below,
        }
        self.run_dir.write_result(arrays)
        self.run_dir.write_summary(summary)
        return summary


class _Step:
    """What the progress display reads of an inversion: the step count."""

    def __init__(self, iteration: int):
        self.iteration = iteration


def _chi_of(dpred: np.ndarray, problem: Problem) -> float:
    r = (dpred - problem.dobs) / problem.uncertainty
    return float(r @ r) / problem.n_data


def _spread(mc_dropout: tuple[np.ndarray, np.ndarray], problem: Problem) -> dict:
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


def _field_notes(problem: Problem) -> dict:
    """summary.json's ``field_data``: what was read and decided (file, format, data type,
    uncertainties, mesh), for field-data problems."""
    notes = problem.info.notes
    return {"field_data": notes} if notes else {}


def _run_conventional(
    problem: Problem, config: RunConfig, run_dir: RunDirectory, t_start: float
) -> dict:
    from hpcinv.inversion.conventional import run_conventional

    log.info(
        "conventional (SimPEG IRLS) inversion of %s, norms %s",
        problem.name,
        list(config.conventional.norms),
    )
    out = run_conventional(problem, config)
    r = (out["dpred"] - problem.dobs) / problem.uncertainty
    summary = build_summary(
        kind="conventional",
        iterations=out["iterations"],
        phi_d=0.5 * float(r @ r),
        n_data=problem.n_data,
        history=out["history"],
        model=out["model"],
        true_model=problem.true_model,
        core_mask=problem.core_mask,
        n_tiles=1,
        n_workers=1,
        device="cpu",
        config_sha256=config.sha256,
        solve_seconds=0.0,
        factorizations_per_iteration=[],
        factorizations_per_tile_per_iteration=[],
        stopped="SimPEG IRLS finished",
        wall_seconds=time.perf_counter() - t_start,
        extra={
            "problem": problem.name,
            "versions": versions(),
            "reference_model": config.inversion.reference_value,
            **_field_notes(problem),
        },
    )
    executor = SerialExecutor(problem)
    try:
        coverage = final_coverage(executor, out["model"])
    finally:
        executor.close()
    run_dir.write_result(
        result_arrays(problem, out["model"], out["dpred"], out["history"], coverage)
    )
    run_dir.write_summary(summary)
    return summary
