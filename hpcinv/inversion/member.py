"""One DIP inversion (a member of a run of K >= 1): its network, method, history and state.

Per step t (dropout on, as in the paper's training):
    m = G_w(z);  the member says what it needs of the physics at m (``begin``);
    given the answer, its method moves the weights on (1 - b_t) phi_d + b_t R(m - m_ref)
    (``finish``), and the step is recorded.
The reported model is G_w(z) with dropout off. A member never calls the physics itself: the
stepper (``hpcinv.inversion.stepper``) batches every member's needs. A non-finite loss stops
before the weights are touched, so the last good state is what remains.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hpcinv.config import RunConfig
from hpcinv.errors import InversionError
from hpcinv.inversion.device import resolve_device, set_network_threads
from hpcinv.inversion.history import History, IterationRecord
from hpcinv.inversion.methods import make_method
from hpcinv.inversion.needs import Need
from hpcinv.inversion.networks import Generator, build_generator
from hpcinv.inversion.stage_one import start_network

if TYPE_CHECKING:
    from hpcinv.problem import Problem

log = logging.getLogger(__name__)


class Member:
    """A DIP inversion of ``problem`` as ``config`` describes it, on ``device``."""

    def __init__(self, problem: Problem, config: RunConfig, device: torch.device | None = None):
        self.problem, self.config = problem, config
        self.cfg = config.inversion
        self.device = device or resolve_device(self.cfg.device)
        set_network_threads(config.network.threads)
        self.net: Generator = build_generator(
            config.network, problem.model_grid, reference=self.cfg.reference_value
        ).to(self.device)
        self.method = make_method(self)
        if config.network.z_convention != "dip-inv":
            # dropout draws from torch's global generator: seed it so runs are repeatable
            # (the DIP-Inv convention continues the stream that drew z and the layers)
            torch.manual_seed(config.network.seed + 1)
        # air cells (field data over topography) are fixed, not inverted: the network's output
        # there is replaced, so they get no gradient and the reference term skips them
        active = problem.active
        self._active = None if active is None else torch.as_tensor(active, device=self.device)
        self.history = History()
        self.iteration = 0  # steps done
        self._chi_streak = 0
        self._step: tuple[torch.Tensor, float] | None = None

    @property
    def half_n(self) -> float:
        return self.problem.n_data / 2.0

    def start(self, cache_file: Path | None = None) -> None:
        """Before the first step of a new run: initial weights or stage 1 (``stage_one``)."""
        start_network(self.net, self.config, cache_file)

    # --- a step ------------------------------------------------------------------------
    def begin(self) -> Need | None:
        """Start a step: the model (dropout on, its graph kept) and what its method needs of
        the physics at it (None: nothing)."""
        t0 = time.perf_counter()
        self.net.train(self.method.train_mode)
        m = self._output()
        self._step = (m, t0)
        return self.method.need(self, m)

    def finish(self, answer: Any = None, physics_seconds: float = 0.0) -> IterationRecord:
        """End the step ``begin`` started with the physics' answer to its need (which took
        ``physics_seconds``): the update, the record, the learning rate for the next step."""
        if self._step is None:
            raise InversionError("Member.finish without Member.begin")
        (m, t0), self._step = self._step, None
        update = self.method.update(self, m, answer)
        physics_time = physics_seconds + update.data_seconds
        t = self.iteration
        self.iteration += 1
        rec = IterationRecord(
            t,
            update.phi_d,
            update.phi_d / self.half_n,
            update.beta,
            update.loss,
            time.perf_counter() - t0,
            physics_time,
            float(update.exact),
        )
        self.history.append(rec)
        self.method.observe(rec.chi, self.iteration)
        return rec

    def reached_target(self, rec: IterationRecord) -> bool:
        """Count ``rec`` (the step just taken) toward the target chi; True once the target
        held for ``target_chi_patience`` exact steps in a row."""
        if self.cfg.target_chi > 0 and rec.exact:  # a linearisation's chi is a guess
            self._chi_streak = self._chi_streak + 1 if rec.chi <= self.cfg.target_chi else 0
            return self._chi_streak >= self.cfg.target_chi_patience
        return False

    # --- models ------------------------------------------------------------------------
    def _output(self) -> torch.Tensor:
        """The model from the network (float64), air cells at their fixed value."""
        return self.fixed(self.net().double())

    def fixed(self, m: torch.Tensor) -> torch.Tensor:
        """m (n_cells,) with the inactive (air) cells at the problem's fixed value."""
        if self._active is None:
            return m
        return torch.where(self._active, m, m.new_tensor(self.problem.inactive_value))

    def active_cells(self, m: torch.Tensor) -> torch.Tensor:
        """The cells the reference term counts (air cells are fixed)."""
        return m if self._active is None else m[self._active]

    def model(self) -> np.ndarray:
        """The reported model (dropout off), (n_cells,) float64 ln(S/m)."""
        self.net.eval()
        with torch.no_grad():
            m = self._output().cpu().numpy()
        self.net.train()
        return m

    def mc_dropout(self, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per cell of ``samples`` models from the network with dropout on, as in
        training (Gal & Ghahramani's MC dropout: a cheap spread, network only, no physics).
        Seeded by ``seed``; torch's global generator (which the run's dropout and checkpoints
        use) is put back as it was, so the run is the same with or without it."""
        if samples < 1:
            raise InversionError(f"mc_dropout: samples = {samples}; give at least 1")
        state = torch.get_rng_state()
        torch.manual_seed(seed)
        self.net.train()
        total = np.zeros(self.problem.model_grid.n_cells)
        squares = np.zeros_like(total)
        try:
            with torch.no_grad():
                for _ in range(samples):
                    m = self._output().cpu().numpy()
                    total += m
                    squares += m * m
        finally:
            torch.set_rng_state(state)
        mean = total / samples
        variance = np.maximum(squares / samples - mean * mean, 0.0)  # rounding can dip below 0
        return mean, np.sqrt(variance)

    # --- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the next iterate depends on, as nested dicts of tensors, arrays and
        plain values: network weights (z included, a buffer), the method's state (Adam's,
        the linearisation's model), torch's and numpy's RNG states (dropout draws from
        torch's), the history and the counters."""
        return {
            "iteration": self.iteration,
            "chi_streak": self._chi_streak,
            "weights": dict(self.net.state_dict()),
            "rng": _rng_state(),
            "history": {
                k: np.asarray(v, dtype=np.float64) for k, v in self.history.as_dict().items()
            },
            **self.method.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put this member exactly where ``state`` (from ``state_dict``) was taken; the
        learning-rate schedule is replayed from the history."""
        self.net.load_state_dict({k: torch.as_tensor(v) for k, v in state["weights"].items()})
        _set_rng_state(state["rng"])
        self.history.load(state["history"])
        self.iteration = int(state["iteration"])
        self._chi_streak = int(state["chi_streak"])
        self._step = None
        self.method.load_state_dict(state, self)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": np_state[0],
            "keys": np.asarray(np_state[1]),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    return rng


def _set_rng_state(rng: dict[str, Any]) -> None:
    torch.set_rng_state(torch.as_tensor(rng["torch"], dtype=torch.uint8))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(torch.as_tensor(rng["cuda"], dtype=torch.uint8))
    n = rng["numpy"]
    np.random.set_state(
        (
            n["kind"],
            np.asarray(n["keys"], dtype=np.uint32),
            int(n["pos"]),
            int(n["has_gauss"]),
            float(n["cached_gaussian"]),
        )
    )
