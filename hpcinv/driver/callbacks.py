"""The parts of a DIP run that are not the inversion, each owning its state (as Lightning's
``Callback`` does): progress, accounting, checkpoint cadence, stop signals, user hooks.

A callback is told when the run starts (``on_start``), after every step (``on_step``) and
when it ends (``on_end``). One with state to keep across a restart has a ``key``: its
``state_dict`` goes into every checkpoint under ``callbacks/<key>`` and comes back through
``load_state_dict`` on resume. A new callback is a class here and a line in
``DipRun.callbacks``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpcinv.driver.signals import StopSignals
from hpcinv.errors import RunInterrupted
from hpcinv.inversion import IterationRecord, Member, Step

if TYPE_CHECKING:
    from hpcinv.driver.dip_run import DipRun

log = logging.getLogger("hpcinv")

#: what ``hooks=[...]`` of ``hpcinv.run`` are called with after every step: each member
#: that stepped and its record
Hook = Callable[[Member, IterationRecord], None]


class Callback:
    """Does nothing; subclasses override what they need."""

    #: the callback's entry in checkpoints ("" for a callback without state)
    key = ""

    def on_start(self, run: DipRun) -> None:
        pass

    def on_step(self, run: DipRun, step: Step) -> None:
        pass

    def on_end(self, run: DipRun, stopped: str) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Progress(Callback):
    """A bar on a terminal, a log line every ~5% in batch jobs, and at least every
    ``LOG_SECONDS`` where steps are slow (``output.progress``: "bar", "log", "none" or
    "auto")."""

    #: a batch job's log says something at least this often (a 3D step can take a minute)
    LOG_SECONDS = 30.0

    def __init__(self, mode: str):
        self.mode = "bar" if mode == "auto" and sys.stderr.isatty() else mode
        if self.mode == "auto":
            self.mode = "log"
        self.bar: Any = None
        self.total = self.every = 0
        self.logged = time.monotonic()

    def on_start(self, run: DipRun) -> None:
        self.total = run.total
        self.every = max(1, self.total // 20)
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                initial=run.stepper.iteration,
                unit="it",
                file=sys.stderr,
                dynamic_ncols=True,
            )

    def on_step(self, run: DipRun, step: Step) -> None:
        rec = next((r for r in step.records if r is not None), None)
        if rec is None:
            return
        if self.bar is not None:
            self.bar.set_postfix(chi=f"{rec.chi:.3f}", s_per_it=f"{rec.seconds:.2f}", refresh=False)
            self.bar.update(1)
        elif self.mode == "log" and (
            step.iteration % self.every == 0
            or step.iteration == self.total
            or time.monotonic() - self.logged >= self.LOG_SECONDS
        ):
            self.logged = time.monotonic()
            log.info(
                "iteration %d/%d: chi %.3f, beta %.3g, %.2f s/it",
                step.iteration,
                self.total,
                rec.chi,
                rec.beta,
                rec.seconds,
            )

    def on_end(self, run: DipRun, stopped: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Accounting(Callback):
    """What each step cost, from the counts its executor calls carried: factorizations in
    all and on the busiest tile, and each tile's seconds in the last step that solved."""

    key = "accounting"

    def __init__(self):
        self.factorizations: list[int] = []
        self.tile_factorizations: list[int] = []
        self.last_tile_seconds: dict[int, float] = {}

    def on_step(self, run: DipRun, step: Step) -> None:
        counts = step.counts
        self.factorizations.append(0 if counts is None else counts.factorizations)
        self.tile_factorizations.append(0 if counts is None else counts.max_tile_factorizations)
        if counts is not None and counts.per_tile_seconds:
            self.last_tile_seconds = dict(counts.per_tile_seconds)

    def state_dict(self) -> dict[str, Any]:
        return {
            "factorizations": np.asarray(self.factorizations, dtype=np.int64),
            "tile_factorizations": np.asarray(self.tile_factorizations, dtype=np.int64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.factorizations = [int(x) for x in state.get("factorizations", [])]
        self.tile_factorizations = [int(x) for x in state.get("tile_factorizations", [])]


class StopOnSignal(Callback):
    """SIGTERM/SIGUSR1 (``driver.signals``): after a step, or at once inside one (the step
    is abandoned, its members put back), the run checkpoints what it has and raises
    ``RunInterrupted`` (exit 75); during stage 1 it stops with nothing to checkpoint."""

    def __init__(self, signals: StopSignals):
        self.signals = signals

    def on_step(self, run: DipRun, step: Step) -> None:
        if self.signals.received is not None:
            self.stop(run)

    def stop(self, run: DipRun) -> None:
        run.save(stopped=f"interrupted by {self.signals.name}")
        message = (
            f"received {self.signals.name}: checkpointed at iteration "
            f"{run.stepper.iteration} in {run.store.path}; continue with `hpcinv resume "
            f"{run.run_dir.path}`"
        )
        # said now: closing the cluster after it may not finish before a job's SIGKILL
        log.warning(message)
        raise RunInterrupted(message)


class Checkpointing(Callback):
    """A checkpoint (and summary.json, result.npz) every ``checkpoint.every`` steps; the
    last one is the end's."""

    def __init__(self, every: int):
        self.every = every

    def on_step(self, run: DipRun, step: Step) -> None:
        if step.iteration % self.every == 0 and step.iteration < run.total:
            run.save()


class UserHooks(Callback):
    """``hooks`` of ``hpcinv.run``: ``hook(member, record)`` for each member that stepped."""

    def __init__(self, hooks: Sequence[Hook]):
        self.hooks = list(hooks)

    def on_step(self, run: DipRun, step: Step) -> None:
        for member, rec in zip(run.stepper.members, step.records):
            if rec is not None:
                for hook in self.hooks:
                    hook(member, rec)
