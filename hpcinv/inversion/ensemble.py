"""Ensembles of DIP inversions: K members of one problem stepped together.

Each member is a ``DipInversion`` with its own network, optimiser, schedules and history;
they differ in the initial weights, the input z or both (``ensemble.vary``), and member 0 is
the single run the run file describes. A step begins every member's step (its model, dropout
on), sends all the models that need the physics to the executor at once
(``misfit_and_gradient_many``, pipelined: on Dask the members' tile tasks fill the workers
together while this process computes the next member's network pass or the previous one's
update) and finishes each member's step with its misfit and gradient. Members with
linearised steps (``relinearize_every`` > 1) that renew their linearisations in the same
step get their Jacobians together (``jacobian_many``); their other steps need no physics.

Dropout draws from torch's global generator: each member keeps its own generator state,
swapped in around its part of a step, so a member's iterates are bitwise those of the same
member run alone (tested), whatever the other members do. A member that reached the target
chi stops stepping; the ensemble runs until every member has stopped or the iterations are
done.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hpcinv.config import RunConfig
from hpcinv.inversion.loop import DipInversion, IterationRecord

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


EnsembleHook = Callable[["EnsembleInversion", list], None]


class EnsembleInversion:
    """``members`` DIP inversions of ``problem`` through one ``executor``."""

    def __init__(
        self,
        problem: Problem,
        executor: Executor,
        config: RunConfig,
        device: torch.device | None = None,
    ):
        self.problem, self.executor, self.config = problem, executor, config
        self.members: list[DipInversion] = []
        self._rng: list[torch.Tensor] = []
        for k in range(config.ensemble.members):
            member = DipInversion(problem, executor, member_config(config, k), device)
            self._rng.append(torch.get_rng_state())  # the generator member k seeded
            self.members.append(member)
        self.done = [False] * len(self.members)
        self.stopped = [""] * len(self.members)
        self.iteration = 0  # ensemble steps taken

    @contextmanager
    def _generator_of(self, k: int) -> Iterator[None]:
        torch.set_rng_state(self._rng[k])
        try:
            yield
        finally:
            self._rng[k] = torch.get_rng_state()

    def start(self, cache_file: Callable[[int], Any] | None = None) -> None:
        """Every member's start: initial weights or stage 1 (``DipInversion.start``;
        ``cache_file(k)``: where member k's stage-1 weights are cached)."""
        for k, member in enumerate(self.members):
            with self._generator_of(k):
                member.start(None if cache_file is None else cache_file(k))

    def step(self) -> list[IterationRecord | None]:
        """One step of every member still running (None for those that stopped). Members
        whose steps need the physics are pipelined through ``misfit_and_gradient_many``:
        member k+1's network pass runs here while member k's tile tasks run on the workers,
        and member k's backward pass and update while later members' tasks still run."""
        running = [k for k, done in enumerate(self.done) if not done]
        records: list[IterationRecord | None] = [None] * len(self.members)
        batch = [k for k in running if self.members[k].wants_physics]
        begun: dict[int, tuple[torch.Tensor, float]] = {}
        sent: dict[int, float] = {}

        def models() -> Iterator[np.ndarray]:
            for k in batch:
                with self._generator_of(k):
                    begun[k] = self.members[k].begin_step()
                m = begun[k][0].detach().to(device="cpu", dtype=torch.float64).numpy()
                sent[k] = time.perf_counter()
                yield m

        def finish(i: int, phi: float, g: np.ndarray) -> None:
            k = batch[i]
            with self._generator_of(k):
                m, t0 = begun[k]
                seconds = time.perf_counter() - sent[k]  # its tasks, others' overlapping
                records[k] = self.members[k].finish_step(m, t0, (phi, g), seconds)

        if batch:
            self.executor.misfit_and_gradient_many(models(), count=len(batch), consume=finish)
        # linearised members: those renewing now get their Jacobians together (the tiles'
        # tasks of all of them fill the workers at once), the others step on their own
        linearised = [k for k in running if k not in batch]
        renewing = [k for k in linearised if self.members[k].renewal_due]
        if len(renewing) > 1:
            for k in renewing:
                with self._generator_of(k):
                    begun[k] = self.members[k].begin_step()
            t0 = time.perf_counter()
            jacobians = self.executor.jacobian_many(
                [begun[k][0].detach().cpu().numpy() for k in renewing]
            )
            seconds = time.perf_counter() - t0
            for k, jacobian in zip(renewing, jacobians):
                with self._generator_of(k):
                    m, t_begin = begun[k]
                    records[k] = self.members[k].finish_step(
                        m, t_begin, physics_seconds=seconds, jacobian=jacobian
                    )
        for k in linearised:
            if records[k] is None:
                with self._generator_of(k):
                    records[k] = self.members[k].step()
        self.iteration += 1
        return records

    def run(self, iterations: int, hooks: list[EnsembleHook] = ()) -> str:
        """Step until every member reached its target chi or ``iterations`` are done."""
        while self.iteration < iterations and not all(self.done):
            records = self.step()
            for k, rec in enumerate(records):
                if rec is not None and self.members[k].reached_target(rec):
                    self.done[k] = True
                    self.stopped[k] = f"target chi {self.members[k].cfg.target_chi} reached"
            for hook in hooks:
                hook(self, records)
        for k, done in enumerate(self.done):
            if not done:
                self.stopped[k] = "iterations done"
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
