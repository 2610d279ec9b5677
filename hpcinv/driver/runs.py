"""``hpcinv run``: problem -> executor -> inversion -> summary.json and result.npz."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.engine import SerialExecutor
from hpcinv.problem import build_problem
from hpcinv.errors import CheckpointError, HpcinvError, InversionError, RunInterrupted
from hpcinv.report.rundir import RunDirectory
from hpcinv.report.summary import build_summary

log = logging.getLogger("hpcinv")


def result_arrays(problem, model, dpred, history: dict) -> dict:
    """What result.npz holds (see ``RunDirectory``)."""
    arrays = {
        "model": model, "dpred": dpred, "dobs": problem.dobs,
        "uncertainty": problem.uncertainty, "cell_centers": problem.model_grid.cell_centers,
        "electrodes": problem.survey.electrodes, "abmn": problem.survey.abmn,
        "mesh_origin": problem.mesh.origin, "true_model": problem.true_model,
        "core_mask": problem.core_mask,
        # field data: add origin to local coordinates for the file's; air cells are inactive
        "origin": problem.origin, "active": problem.active, "overlay": problem.overlay,
    }
    for i, h in enumerate(problem.mesh.h):
        arrays[f"mesh_h{i}"] = h
    for key, values in history.items():
        arrays[f"history_{key}"] = np.asarray(values, float)
    return arrays


class _Progress:
    """A progress bar on a terminal, a log line every ~5% otherwise (batch jobs)."""

    def __init__(self, mode: str, total: int, start: int):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode, self.total = mode, total
        self.every = max(1, total // 20)
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="it", file=sys.stderr,
                            dynamic_ncols=True)

    def __call__(self, inv, rec) -> None:
        if self.bar is not None:
            self.bar.set_postfix(chi=f"{rec.chi:.3f}", s_per_it=f"{rec.seconds:.2f}",
                                 refresh=False)
            self.bar.update(1)
        elif self.mode == "log" and (inv.iteration % self.every == 0
                                     or inv.iteration == self.total):
            log.info("iteration %d/%d: chi %.3f, beta %.3g, %.2f s/it", inv.iteration,
                     self.total, rec.chi, rec.beta, rec.seconds)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def slurm_settings_from_args(args, config: RunConfig | None, *, worker_flags: bool = True):
    """The SLURM settings for this command: flags over the config over the site profile.

    ``worker_flags=False`` leaves out --slurm-directive/--slurm-prologue (worker-job lines),
    for the driver job of ``hpcinv submit``."""
    from hpcinv.config import load_site_profile, slurm_settings

    site_path = getattr(args, "site", None) or os.environ.get("HPCINV_SITE")
    site = load_site_profile(site_path) if site_path else None
    overrides = {
        "partition": getattr(args, "slurm_partition", None),
        "account": getattr(args, "slurm_account", None),
        "worker_memory": getattr(args, "slurm_memory", None),
        "worker_walltime": getattr(args, "slurm_walltime", None),
        "directives": tuple(getattr(args, "slurm_directive", ()) or ()) if worker_flags else (),
        "prologue": tuple(getattr(args, "slurm_prologue", ()) or ()) if worker_flags else (),
        "wait_seconds": getattr(args, "slurm_wait_seconds", None),
        "scheduler_host": getattr(args, "slurm_scheduler_host", None),
        "tls": False if getattr(args, "slurm_no_tls", False) else None,
    }
    return slurm_settings(config, site, overrides)


@dataclass
class ClusterChoice:
    """Where tiles run: serial (workers 0), a local cluster, an existing scheduler, SLURM
    worker jobs (``slurm``) or the tasks of one allocation (``runner``)."""

    workers: int = 0
    threads_per_worker: int | None = None
    scheduler_address: str | None = None
    scheduler_file: str | None = None
    connect_timeout: float = 60.0
    #: submit the workers as SLURM jobs with these ``SlurmWorkers`` settings (``--slurm``)
    slurm: dict | None = None
    #: ``--slurm-runner``: {"tls": bool, "wait_seconds": float}
    runner: dict | None = None
    #: a cluster joined before the run started (the driver task of ``--slurm-runner``)
    handle: object | None = None

    @classmethod
    def from_args(cls, args, config: RunConfig | None = None) -> "ClusterChoice":
        slurm = runner = None
        wants_slurm = getattr(args, "slurm", False)
        wants_runner = getattr(args, "slurm_runner", False)
        if wants_slurm or wants_runner:
            s = slurm_settings_from_args(args, config)
            if wants_slurm:
                slurm = {"partition": s.partition or None, "account": s.account or None,
                         "memory": s.worker_memory, "walltime": s.worker_walltime,
                         "job_directives": s.directives, "prologue": s.prologue,
                         "wait_seconds": s.wait_seconds,
                         "scheduler_host": s.scheduler_host or None, "tls": s.tls}
            if wants_runner:
                runner = {"tls": s.tls, "wait_seconds": s.wait_seconds}
        return cls(getattr(args, "workers", 0) or 0, getattr(args, "threads_per_worker", None),
                   getattr(args, "scheduler_address", None),
                   getattr(args, "scheduler_file", None),
                   getattr(args, "connect_timeout", 60.0), slurm, runner)

    def validate(self) -> None:
        if self.workers < 0:
            raise HpcinvError(f"--workers {self.workers}: give 0 (serial) or more")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise HpcinvError(f"--threads-per-worker {self.threads_per_worker}: give 1 or more")
        chosen = [bool(self.workers), bool(self.scheduler_address), bool(self.scheduler_file),
                  self.runner is not None]
        if sum(chosen) > 1:
            raise HpcinvError("choose one of --workers, --scheduler-address, --scheduler-file, "
                              "--slurm-runner (the runner's workers are the srun tasks)")
        if self.slurm is not None and self.workers < 1:
            raise HpcinvError("--slurm needs --workers N (the number of worker jobs, >= 1)")

    def join_runner(self, run_path) -> None:
        """``--slurm-runner``: the scheduler and worker tasks serve here and exit; the driver
        task returns with the cluster joined. Call before touching the run directory."""
        if self.runner is None or self.handle is not None:
            return
        from hpcinv.engine.slurm_runner import slurm_runner

        self.handle = slurm_runner(run_path, **self.runner)


def make_executor(problem, choice: ClusterChoice, run_path=None):
    """(executor, cluster handle or None) for ``choice``; SLURM's TLS certificates go to
    ``run_path`` (shared with the compute nodes)."""
    choice.validate()
    if choice.runner is not None:
        choice.join_runner(run_path)
    if choice.handle is None and not (choice.workers or choice.scheduler_address
                                      or choice.scheduler_file):
        return SerialExecutor(problem), None
    from hpcinv.engine.cluster import SlurmWorkers, connect, local_cluster, slurm_cluster
    from hpcinv.engine.dask_executor import DaskExecutor

    if choice.handle is not None:
        handle = choice.handle
    elif choice.slurm is not None:
        spec = SlurmWorkers(jobs=choice.workers, cores=choice.threads_per_worker or 1,
                            log_directory=str(Path(run_path or ".") / "slurm-logs"),
                            **choice.slurm)
        handle = slurm_cluster(spec, shared_directory=str(run_path or "."))
    elif choice.workers:
        handle = local_cluster(choice.workers, choice.threads_per_worker)
    else:
        handle = connect(choice.scheduler_address, choice.scheduler_file,
                         timeout=choice.connect_timeout)
    print(f"hpcinv: Dask dashboard: {handle.dashboard_link}", file=sys.stderr)
    try:
        return DaskExecutor(problem, handle.client), handle
    except BaseException:
        handle.close()
        raise


def run_inversion(config: RunConfig, run_dir: RunDirectory, *, iterations: int | None = None,
                  config_text: str = "", cluster: ClusterChoice | None = None) -> dict:
    """Run the configured inversion into ``run_dir``; returns the final summary."""
    t_start = time.perf_counter()
    problem = build_problem(config)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(config_text, source=config.path)
    if config.inversion.kind == "conventional":
        return _run_conventional(problem, config, run_dir, t_start)
    executor, handle = make_executor(problem, cluster or ClusterChoice(), run_dir.path)
    try:
        return _run_dip(problem, executor, config, run_dir, iterations, t_start)
    finally:
        executor.close()
        if handle is not None:
            handle.close()


_early_signals: list[int] = []


def catch_walltime_signal_early() -> None:
    """Record SIGUSR1 from process start on: its default action kills the process, and a
    batch job's walltime warning may arrive while the problem is still being built. The
    inversion loop acts on it at its first iteration."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, lambda signum, frame: _early_signals.append(signum))


class _Signals:
    """SIGTERM and SIGUSR1 (what SLURM sends before the walltime with --signal) set a flag;
    the loop checkpoints after the current iteration and stops cleanly."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.received: int | None = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        if _early_signals:
            self.received = _early_signals.pop()
        return self

    def _handle(self, signum, frame):
        self.received = signum

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _run_dip(problem, executor, config, run_dir, iterations, t_start, resume=None) -> dict:
    from hpcinv.checkpoint import CheckpointStore, capture_state, restore_state
    from hpcinv.inversion import DipInversion

    inv = DipInversion(problem, executor, config)
    log.info("DIP inversion of %s: %d data, %d cells, %s network (%d weights) on %s, "
             "%d tile(s), solver %s", problem.name, problem.n_data, problem.model_grid.n_cells,
             type(inv.net).__name__, inv.net.n_weights(), inv.device, len(problem.tiles),
             problem.solver)
    cc = config.checkpoint
    store = CheckpointStore(run_dir.checkpoint_path, keep_last=cc.keep_last,
                            keep_every=cc.keep_every)
    pause = float(os.environ.get("HPCINV_CHECKPOINT_PAUSE", "0") or 0)
    if pause:  # crash-safety tests: widen the window between writing and renaming
        store.before_rename = lambda: time.sleep(pause)
    if resume is not None:
        restore_state(inv, resume[0], resume[1]["meta"])
        log.info("resumed at iteration %d", inv.iteration)
    elif config.inversion.pretrain:
        inv.pretrain(run_dir.stage1_file)
    total = config.inversion.iterations if iterations is None else iterations
    fact_per_it, fact_per_tile = [], []
    last = {"total": 0, "tiles": {}}

    def count_factorizations(inv, rec):
        c = executor.counters()
        fact_per_it.append(c["factorizations"] - last["total"])
        per_tile = c["per_tile_factorizations"]
        fact_per_tile.append(max(per_tile[i] - last["tiles"].get(i, 0) for i in per_tile))
        last["total"], last["tiles"] = c["factorizations"], dict(per_tile)

    def save(rec, final=False, stopped="running"):
        """Checkpoint, then result.npz and summary.json (DESIGN: after every checkpoint)."""
        arrays, meta = capture_state(inv)
        store.save(inv.iteration, arrays, meta, config.raw, config.sha256)
        model = arrays["model"]
        if final:
            dpred = executor.predict(model)
            r = (dpred - problem.dobs) / problem.uncertainty
            phi_d = 0.5 * float(r @ r)
        else:  # between saves: the misfit of the last (dropout-on) iterate
            dpred = np.full(problem.n_data, np.nan)
            phi_d = rec.phi_d if rec is not None else float("nan")
        summary = build_summary(
            kind="dip", iterations=inv.iteration, phi_d=phi_d, n_data=problem.n_data,
            history=inv.history.as_dict(), model=model, true_model=problem.true_model,
            core_mask=problem.core_mask, n_tiles=len(problem.tiles),
            n_workers=executor.n_workers, device=str(inv.device),
            config_sha256=config.sha256, solve_seconds=_solve_seconds(executor),
            factorizations_per_iteration=fact_per_it,
            factorizations_per_tile_per_iteration=fact_per_tile, stopped=stopped,
            wall_seconds=time.perf_counter() - t_start,
            extra={"network": type(inv.net).__name__, "n_weights": inv.net.n_weights(),
                   "problem": problem.name, "checkpoint_iteration": inv.iteration,
                   "learning_rate": {"schedule": config.inversion.lr_schedule,
                                     "final": inv.optimizer.param_groups[0]["lr"],
                                     "cut_after_iterations": list(inv.lr_schedule.cuts)},
                   **_field_notes(problem)})
        summary["timing"]["per_tile_seconds_last_iteration"] = {
            str(i): round(t, 4)
            for i, t in getattr(executor, "last_seconds", {}).get("per_tile", {}).items()}
        run_dir.write_result(result_arrays(problem, model, dpred, inv.history.as_dict()))
        run_dir.write_summary(summary)
        return summary

    with _Signals() as signals:
        def checkpoint_hook(inv, rec):
            if signals.received is not None:
                name = signal.Signals(signals.received).name
                save(rec, stopped=f"interrupted by {name}")
                raise RunInterrupted(
                    f"received {name}: checkpointed at iteration {inv.iteration} in "
                    f"{store.path}; continue with `hpcinv resume {run_dir.path}`")
            if inv.iteration % cc.every == 0 and inv.iteration < total:
                save(rec)

        progress = _Progress(config.output.progress, total, inv.iteration)
        try:
            stopped = inv.run(total, hooks=[count_factorizations, progress, checkpoint_hook])
        except InversionError as exc:
            progress.close()
            save(None, final=True, stopped=f"error: {exc}")
            raise
        finally:
            progress.close()
        return save(None, final=True, stopped=stopped)


def load_run_config(run_dir: RunDirectory) -> RunConfig:
    """DIR/config.toml, with its relative paths (problem.data, mesh.topography,
    report.overlay) resolved against the run file it was copied from, as the run did."""
    import dataclasses

    from hpcinv.config import load_config

    config = load_config(run_dir.config_file)
    source = run_dir.config_source()
    return config if source is None else dataclasses.replace(config, path=str(source))


def resume_run(run_dir: RunDirectory, *, config: RunConfig | None = None,
               iterations: int | None = None, force: bool = False,
               cluster: ClusterChoice | None = None) -> dict:
    """Continue the run in ``run_dir`` from its latest complete checkpoint."""
    from hpcinv.checkpoint import CheckpointStore
    from hpcinv.config import config_changes, config_from_dict, load_config

    store = CheckpointStore(run_dir.checkpoint_path)
    if not store.exists():
        raise CheckpointError(f"{run_dir.path}: no checkpoint.zarr to resume from; start the "
                              f"run with `hpcinv run CONFIG --out {run_dir.path}`")
    store.clean_stale()
    arrays, attrs = store.load_latest()
    saved = config_from_dict(attrs["config"])
    current = config or load_run_config(run_dir)
    matter, harmless = config_changes(saved, current)
    if matter:
        raise CheckpointError(
            "the configuration changed in ways that alter the inversion since the checkpoint: "
            + "; ".join(matter) + ". Start a new run (another --out) instead")
    if harmless and not force:
        raise CheckpointError("the configuration changed since the checkpoint: "
                              + "; ".join(harmless) + ". These are harmless: pass --force "
                              "to resume with them")
    t_start = time.perf_counter()
    problem = build_problem(current)
    executor, handle = make_executor(problem, cluster or ClusterChoice(), run_dir.path)
    try:
        return _run_dip(problem, executor, current, run_dir, iterations, t_start,
                        resume=(arrays, attrs))
    finally:
        executor.close()
        if handle is not None:
            handle.close()


def _field_notes(problem) -> dict:
    """summary.json's ``field_data``: what was read and decided (file, format, data type,
    uncertainties, mesh), for field-data problems."""
    notes = getattr(problem, "notes", None)
    return {"field_data": notes} if notes else {}


def _solve_seconds(executor) -> float:
    c = executor.counters()
    return float(c.get("factor_seconds", 0.0) + c.get("solve_seconds", 0.0))


def _run_conventional(problem, config, run_dir, t_start) -> dict:
    from hpcinv.inversion.conventional import run_conventional

    log.info("conventional (SimPEG IRLS) inversion of %s, norms %s", problem.name,
             list(config.conventional.norms))
    out = run_conventional(problem, config)
    r = (out["dpred"] - problem.dobs) / problem.uncertainty
    summary = build_summary(
        kind="conventional", iterations=out["iterations"], phi_d=0.5 * float(r @ r),
        n_data=problem.n_data, history=out["history"], model=out["model"],
        true_model=problem.true_model, core_mask=problem.core_mask, n_tiles=1, n_workers=1,
        device="cpu", config_sha256=config.sha256, solve_seconds=0.0,
        factorizations_per_iteration=[], factorizations_per_tile_per_iteration=[],
        stopped="SimPEG IRLS finished", wall_seconds=time.perf_counter() - t_start,
        extra={"problem": problem.name, **_field_notes(problem)})
    run_dir.write_result(result_arrays(problem, out["model"], out["dpred"], out["history"]))
    run_dir.write_summary(summary)
    return summary
