"""A single DIP run into a run directory (``DipRun``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from hpcinv.checkpoint import CheckpointStore
from hpcinv.config import RunConfig
from hpcinv.driver.outputs import field_notes, final_coverage, spread_summary
from hpcinv.driver.progress import Progress
from hpcinv.driver.result import result_arrays
from hpcinv.driver.signals import StopSignals
from hpcinv.engine import Executor
from hpcinv.errors import InversionError, RunInterrupted
from hpcinv.inversion import DipInversion, IterationRecord
from hpcinv.problem import Problem
from hpcinv.report.rundir import RunDirectory
from hpcinv.report.summary import build_summary
from hpcinv.report.versions import versions

log = logging.getLogger("hpcinv")

Hook = Callable[[DipInversion, IterationRecord], None]


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
        else:
            inv.start(self.run_dir.stage1_file)
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
                **(
                    {}
                    if mc_dropout is None
                    else {"mc_dropout": spread_summary(mc_dropout, problem)}
                ),
                **field_notes(problem),
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
