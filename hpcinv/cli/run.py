"""``hpcinv run``: problem -> executor -> inversion -> summary.json and result.npz."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.engine import SerialExecutor, build_problem
from hpcinv.errors import HpcinvError, InversionError
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


@dataclass
class ClusterChoice:
    """Where tiles run: serial (workers 0), a local cluster, or an existing scheduler."""

    workers: int = 0
    threads_per_worker: int | None = None
    scheduler_address: str | None = None
    scheduler_file: str | None = None
    connect_timeout: float = 60.0

    @classmethod
    def from_args(cls, args) -> "ClusterChoice":
        return cls(getattr(args, "workers", 0) or 0, getattr(args, "threads_per_worker", None),
                   getattr(args, "scheduler_address", None),
                   getattr(args, "scheduler_file", None),
                   getattr(args, "connect_timeout", 60.0))

    def validate(self) -> None:
        if self.workers < 0:
            raise HpcinvError(f"--workers {self.workers}: give 0 (serial) or more")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise HpcinvError(f"--threads-per-worker {self.threads_per_worker}: give 1 or more")
        chosen = [bool(self.workers), bool(self.scheduler_address), bool(self.scheduler_file)]
        if sum(chosen) > 1:
            raise HpcinvError("choose one of --workers, --scheduler-address, --scheduler-file")


def make_executor(problem, choice: ClusterChoice):
    """(executor, cluster handle or None) for ``choice``."""
    choice.validate()
    if not (choice.workers or choice.scheduler_address or choice.scheduler_file):
        return SerialExecutor(problem), None
    from hpcinv.engine.cluster import connect, local_cluster
    from hpcinv.engine.dask_executor import DaskExecutor

    if choice.workers:
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
    run_dir.write_config(config_text)
    if config.inversion.kind == "conventional":
        return _run_conventional(problem, config, run_dir, t_start)
    executor, handle = make_executor(problem, cluster or ClusterChoice())
    try:
        return _run_dip(problem, executor, config, run_dir, iterations, t_start)
    finally:
        executor.close()
        if handle is not None:
            handle.close()


def _run_dip(problem, executor, config, run_dir, iterations, t_start) -> dict:
    from hpcinv.inversion import DipInversion

    inv = DipInversion(problem, executor, config)
    log.info("DIP inversion of %s: %d data, %d cells, %s network (%d weights) on %s, "
             "%d tile(s), solver %s", problem.name, problem.n_data, problem.model_grid.n_cells,
             type(inv.net).__name__, inv.net.n_weights(), inv.device, len(problem.tiles),
             problem.solver)
    if config.inversion.pretrain:
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

    def save(inv, rec, final=False, stopped="running"):
        model = inv.model()
        if final:
            dpred = executor.predict(model)
        else:  # between saves the reported data are those of the last (dropout-on) model
            dpred = np.full(problem.n_data, np.nan)
        phi_d = rec.phi_d if rec is not None else float("nan")
        if final:
            r = (dpred - problem.dobs) / problem.uncertainty
            phi_d = 0.5 * float(r @ r)
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
                   "problem": problem.name})
        run_dir.write_result(result_arrays(problem, model, dpred, inv.history.as_dict()))
        run_dir.write_summary(summary)
        return summary

    def periodic_save(inv, rec):
        if inv.iteration % config.output.save_every == 0 and inv.iteration < total:
            save(inv, rec)

    progress = _Progress(config.output.progress, total, inv.iteration)
    try:
        stopped = inv.run(total, hooks=[count_factorizations, progress, periodic_save])
    except InversionError as exc:
        progress.close()
        save(inv, None, final=True, stopped=f"error: {exc}")
        raise
    progress.close()
    return save(inv, None, final=True, stopped=stopped)


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
        extra={"problem": problem.name})
    run_dir.write_result(result_arrays(problem, out["model"], out["dpred"], out["history"]))
    run_dir.write_summary(summary)
    return summary
