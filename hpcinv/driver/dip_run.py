"""A DIP run of K >= 1 members into a run directory (``DipRun``): the stepper, the checkpoint
store and the callbacks (``driver.callbacks``); what it writes is ``driver.outputs``'s."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from hpcinv.checkpoint import CheckpointStore
from hpcinv.config import RunConfig
from hpcinv.driver.callbacks import (
    Accounting,
    Callback,
    Checkpointing,
    Hook,
    Progress,
    StopOnSignal,
    UserHooks,
)
from hpcinv.driver.outputs import dip_outputs
from hpcinv.driver.resolve import Resolved
from hpcinv.driver.signals import StopRequested, StopSignals
from hpcinv.engine import Executor
from hpcinv.errors import InversionError, RunInterrupted
from hpcinv.inversion import Stepper
from hpcinv.problem import Problem
from hpcinv.report.rundir import RunDirectory
from hpcinv.report.versions import versions

log = logging.getLogger("hpcinv")


class DipRun:
    """``config.ensemble.members`` DIP members of ``problem`` stepped by one ``Stepper``
    through ``executor``, checkpointed into ``run_dir``."""

    def __init__(
        self,
        problem: Problem,
        executor: Executor,
        config: RunConfig,
        run_dir: RunDirectory,
        t_start: float,
        before_rename: Callable[[], None] | None = None,
        resolved: Resolved | None = None,
    ):
        self.problem, self.executor, self.config = problem, executor, config
        self.run_dir, self.t_start = run_dir, t_start
        self.stepper = Stepper.build(config, problem, executor)
        cc = config.checkpoint
        self.store = CheckpointStore(
            run_dir.checkpoint_path,
            keep_last=cc.keep_last,
            keep_every=cc.keep_every,
            before_rename=before_rename,
        )
        self.versions = versions()
        #: what the run file left to the context, resolved (summary.json's ``resolved``)
        self.resolved = resolved or Resolved(config, {}, {})
        self.total = config.inversion.iterations
        self.accounting = Accounting()
        self.callbacks: list[Callback] = []

    @property
    def members(self):
        return self.stepper.members

    def fit(self, iterations: int | None, state: dict | None, hooks: Sequence[Hook] = ()) -> dict:
        """Run (or, with a checkpoint's ``state``, go on) until ``iterations`` steps in all
        or every member's target; the final summary."""
        self.total = self.config.inversion.iterations if iterations is None else iterations
        self._log_start()
        with StopSignals() as signals:
            stop = StopOnSignal(signals)
            self.callbacks = [
                self.accounting,
                Progress(self.config.output.progress),
                UserHooks(hooks),
                stop,
                Checkpointing(self.config.checkpoint.every),
            ]
            try:
                with signals.interruptible():
                    self._begin(state)
            except StopRequested:
                raise RunInterrupted(
                    f"received {signals.name} before the first iteration: nothing was "
                    f"lost (stage 1 is cached in {self.run_dir.path}); run it again"
                ) from None
            for cb in self.callbacks:
                cb.on_start(self)
            try:
                stopped = self._steps(signals, stop)
            except InversionError as exc:
                self._end(f"error: {exc}")
                self.save(final=True, stopped=f"error: {exc}")
                raise
            except RunInterrupted:
                self._end("interrupted")
                raise
            self._end(stopped)
            return self.save(final=True, stopped=stopped)

    def _begin(self, state: dict | None) -> None:
        if state is not None:
            self.load_state_dict(state)
            log.info("resumed at iteration %d", self.stepper.iteration)
            return
        stage1 = self.run_dir.stage1_file
        if len(self.members) == 1:
            self.stepper.start(lambda k: stage1)
        else:
            self.stepper.start(lambda k: stage1.with_name(f"{stage1.stem}-member{k}.npz"))

    def _steps(self, signals: StopSignals, stop: StopOnSignal) -> str:
        stepper = self.stepper
        while stepper.iteration < self.total and not all(stepper.done):
            try:
                with signals.interruptible():
                    step = stepper.step()
            except StopRequested:
                log.warning("%s during a step: that step is abandoned", signals.name)
                stop.stop(self)
            else:
                for cb in self.callbacks:
                    cb.on_step(self, step)
        return stepper.finish()

    def _end(self, stopped: str) -> None:
        for cb in self.callbacks:
            cb.on_end(self, stopped)

    def save(self, final: bool = False, stopped: str = "running") -> dict:
        """Checkpoint every member, then result.npz and summary.json (after every
        checkpoint; ``final``: with the exact misfit of the final model, its coverage and MC
        dropout)."""
        models = self.stepper.models()
        summary, arrays = dip_outputs(self, models, final, stopped)
        self.store.save(
            self.stepper.iteration,
            {**self.state_dict(), "model": arrays["model"]},
            self.config.raw,
            self.config.sha256,
        )
        self.run_dir.write_result(arrays)
        self.run_dir.write_summary(summary)
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.stepper.state_dict(),
            "z": self.members[0].net.z.detach().cpu().numpy(),
            "callbacks": {cb.key: cb.state_dict() for cb in self._stateful()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "members" not in state:  # a single run's checkpoint before 0.7: one member's state
            state = {
                "iteration": state["iteration"],
                "done": [0],
                "stopped": [""],
                "members": {"0": state},
            }
        self.stepper.load_state_dict(state)
        saved = state.get("callbacks", {})
        for cb in self._stateful():
            if cb.key in saved:
                cb.load_state_dict(saved[cb.key])

    def _stateful(self) -> list[Callback]:
        return [self.accounting]

    def _log_start(self) -> None:
        problem, member = self.problem, self.members[0]
        k = len(self.members)
        log.info(
            "DIP %s of %s: %d data, %d cells, %s network (%d weights) on %s, %d tile(s), "
            "solver %s, %d worker(s); threads: network %d, physics %d",
            "inversion" if k == 1 else f"ensemble ({k} members, vary {self.config.ensemble.vary})",
            problem.name,
            problem.n_data,
            problem.model_grid.n_cells,
            type(member.net).__name__,
            member.net.n_weights(),
            member.device,
            len(problem.tiles),
            problem.solver,
            self.executor.n_workers,
            self.config.network.threads,
            self.config.physics.threads,
        )

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start
