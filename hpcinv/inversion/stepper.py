"""A run's K >= 1 members stepped together: one batched executor call per kind of need.

A step begins every running member's step (its model, dropout on, and what it needs of the
physics), makes one ``misfit_and_gradient`` call for all members needing a misfit, one
``jacobian`` call for all needing a linearisation and one ``predict`` call for all the models
members need the data of, and finishes each member's step with its
answer, in member order, as the answers come in (on Dask the workers still solve later
members' models while this process runs member 0's backward pass and update). A single run
is K = 1.

Dropout draws from torch's global generator: each member keeps its own generator state,
swapped in around its part of a step, so a member's iterates are bitwise those of the same
member run alone (tested), whatever the other members do. A member that reached the target
chi stops stepping; the run goes on until every member has stopped or the steps are done.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hpcinv.config import RunConfig
from hpcinv.engine.executor import Batch, Counts
from hpcinv.inversion.history import IterationRecord
from hpcinv.inversion.member import Member
from hpcinv.inversion.needs import LinearizationNeed, MisfitNeed, PredictionNeed

if TYPE_CHECKING:
    from hpcinv.engine.executor import Executor
    from hpcinv.problem import Problem


def member_config(config: RunConfig, k: int) -> RunConfig:
    """The run file of member ``k``: member 0 is ``config`` itself; member k > 0 changes
    network.seed (initial weights and dropout draws), network.z_seed (z) or both by k."""
    if k == 0:
        return config
    net, vary = config.network, config.ensemble.vary
    seed = net.seed + k if vary in ("seed", "both") else net.seed
    # z from the base seed's generator unless z varies ("seed" keeps it: z_seed pinned)
    z_seed = net.seed + k if vary in ("z", "both") else net.seed
    network = dataclasses.replace(net, seed=seed, z_seed=z_seed)
    return dataclasses.replace(config, network=network)


@dataclass
class Step:
    """One step of the run: each member's record (None for a member that had stopped),
    the step's number (1-based, after it) and what its executor calls cost (``Counts``;
    None when no member needed the physics)."""

    iteration: int
    records: list[IterationRecord | None]
    counts: Counts | None = None
    #: members that reached their target chi at this step
    reached: list[int] = field(default_factory=list)


class Stepper:
    """The members of a run and the executor their needs go to."""

    def __init__(
        self,
        members: Sequence[Member],
        executor: Executor,
        rng_states: Sequence[torch.Tensor] | None = None,
    ):
        self.members = list(members)
        self.executor = executor
        #: each member's torch generator state (``build``: the one its construction left)
        self._rng = list(rng_states or [torch.get_rng_state()] * len(self.members))
        self.done = [False] * len(self.members)
        self.stopped = [""] * len(self.members)
        self.iteration = 0  # steps taken

    @classmethod
    def build(cls, config: RunConfig, problem: Problem, executor: Executor, device=None) -> Stepper:
        """The ``ensemble.members`` members of ``config`` (``member_config``), each with the
        generator its own construction left."""
        members, states = [], []
        for k in range(config.ensemble.members):
            members.append(Member(problem, member_config(config, k), device))
            states.append(torch.get_rng_state())
        return cls(members, executor, states)

    @contextmanager
    def _generator_of(self, k: int) -> Iterator[None]:
        torch.set_rng_state(self._rng[k])
        try:
            yield
        finally:
            self._rng[k] = torch.get_rng_state()

    def start(self, cache_file: Callable[[int], Any] | None = None) -> None:
        """Every member's start: initial weights or stage 1 (``cache_file(k)``: where member
        k's stage-1 weights are cached)."""
        for k, member in enumerate(self.members):
            with self._generator_of(k):
                member.start(None if cache_file is None else cache_file(k))

    def step(self) -> Step:
        """One step of every running member. Whatever interrupts it (a stop signal while the
        workers solve, a non-finite loss) leaves every member as it was before the step: the
        last complete step is what a checkpoint then holds."""
        before = _clone(self.state_dict())
        try:
            return self._step()
        except BaseException:
            self.load_state_dict(before)
            raise

    def _step(self) -> Step:
        running = [k for k, done in enumerate(self.done) if not done]
        needs = {}
        for k in running:
            with self._generator_of(k):
                needs[k] = self.members[k].begin()
        records: list[IterationRecord | None] = [None] * len(self.members)
        counts = None
        for kind in (MisfitNeed, LinearizationNeed, PredictionNeed):
            batch_members = [k for k in running if isinstance(needs[k], kind)]
            if not batch_members:
                continue
            t0 = time.perf_counter()
            batch = self._call([needs[k] for k in batch_members])
            answers = _answers(batch, [needs[k] for k in batch_members])
            for k, answer in zip(batch_members, answers):
                # this member's answer, its tasks' time and others' overlapping
                seconds = time.perf_counter() - t0
                with self._generator_of(k):
                    records[k] = self.members[k].finish(answer, seconds)
            counts = batch.counts if counts is None else counts + batch.counts
        for k in running:
            if records[k] is None:
                with self._generator_of(k):
                    records[k] = self.members[k].finish()
        self.iteration += 1
        reached = []
        for k in running:
            rec = records[k]
            assert rec is not None
            if self.members[k].reached_target(rec):
                self.done[k] = True
                self.stopped[k] = f"target chi {self.members[k].cfg.target_chi} reached"
                reached.append(k)
        return Step(self.iteration, records, counts, reached)

    def _call(self, needs: list) -> Batch:
        """One executor call for needs of one kind (every member's predictions in one)."""
        if isinstance(needs[0], PredictionNeed):
            return self.executor.predict([m for need in needs for m in need.models])
        models = [need.model for need in needs]
        if isinstance(needs[0], MisfitNeed):
            return self.executor.misfit_and_gradient(models)
        if needs[0].keep:
            return self._kept_linearizations(needs)
        return self.executor.jacobian(models, needs[0].dtype)

    def _kept_linearizations(self, needs: list[LinearizationNeed]) -> Batch:
        """Each need's (d, KeptJacobian), made as its member takes it: a tile keeps one
        model's rows, so member k's are made once member k - 1 has finished its step with
        its own. The batch's counts include the products the members run."""
        counts = Counts()
        t0 = time.perf_counter()

        def made() -> Iterator[tuple[np.ndarray, Any]]:
            for need in needs:
                kept = self.executor.keep_jacobian(need.model, need.dtype, counts)
                counts.seconds = time.perf_counter() - t0
                yield kept.d, kept

        return Batch(made(), len(needs), counts)

    def run(self, iterations: int, on_step: Callable[[Step], None] | None = None) -> str:
        """Step until every member reached its target chi or ``iterations`` steps are done
        in total; ``on_step(step)`` after each; the reason it stopped."""
        while self.iteration < iterations and not all(self.done):
            step = self.step()
            if on_step is not None:
                on_step(step)
        return self.finish()

    def finish(self) -> str:
        """After the last step: why each member stopped, and why the run did."""
        for k, done in enumerate(self.done):
            if not done:
                self.stopped[k] = "iterations done"
        if len(self.members) == 1:
            return self.stopped[0]
        if all(s.startswith("target") for s in self.stopped):
            return f"every member reached its target chi ({len(self.members)} members)"
        return "iterations done"

    def models(self) -> np.ndarray:
        """(members, n_cells) the members' reported models (dropout off)."""
        return np.stack([member.model() for member in self.members])

    def state_dict(self) -> dict[str, Any]:
        """Every member's state (each with its own generator), the stop flags, the step."""
        states = {}
        for k, member in enumerate(self.members):
            with self._generator_of(k):
                states[str(k)] = member.state_dict()
        return {
            "iteration": self.iteration,
            "done": [int(d) for d in self.done],
            "stopped": list(self.stopped),
            "members": states,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, member in enumerate(self.members):
            member.load_state_dict(state["members"][str(k)])
            self._rng[k] = torch.get_rng_state()  # what the member's state put there
        self.iteration = int(state["iteration"])
        self.done = [bool(d) for d in state["done"]]
        self.stopped = [str(s) for s in state["stopped"]]


def _answers(batch: Batch, needs: list) -> Iterator[Any]:
    """Each need's answer from its call's batch, as soon as it is in: one result per need,
    or a prediction need's list of its models' data."""
    if not isinstance(needs[0], PredictionNeed):
        yield from batch
        return
    results = iter(batch)
    for need in needs:
        yield [next(results) for _ in range(len(need.models))]


def _clone(state: Any) -> Any:
    """A deep copy of a nested state (tensors and arrays copied, not shared)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, np.ndarray):
        return state.copy()
    if isinstance(state, dict):
        return {k: _clone(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_clone(v) for v in state]
    return state
