"""The DIP-Inv optimisation loop: network weights learned against the physics' misfit.

Per iteration t (dropout on, as in the paper's training):
    m = G_w(z);  phi_d = DataMisfit(m);  loss = (1 - b_t) phi_d + b_t R(m - m_ref)
    w <- optimiser step on d(loss)/dw
The reported model is G_w(z) with dropout off. Hooks run after every iteration (progress,
summaries, checkpoints). A non-finite loss stops before the weights are touched, so the
last good state is what remains.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hpcinv.config import RunConfig
from hpcinv.errors import InversionError
from hpcinv.inversion.bridge import data_misfit
from hpcinv.inversion.lr_schedule import PlateauSchedule
from hpcinv.inversion.networks import Generator, build_generator
from hpcinv.inversion.objective import total_loss

log = logging.getLogger(__name__)

HISTORY_KEYS = ("phi_d", "chi", "beta", "loss", "seconds", "physics_seconds")


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InversionError("inversion.device = 'cuda' but no CUDA device is available; "
                             "use 'auto' or 'cpu'")
    if requested == "cuda":
        # The network is float32 on every device. Ampere and later GPUs would otherwise run
        # float32 convolutions in TF32 (10-bit mantissa): measured on an H200, CNN3D weight
        # gradients then differ from CPU ones by ~1e-3 relative. These networks are small
        # (20k weights), so full float32 costs little and keeps CPU and GPU runs comparable.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(requested)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    return {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
            "rmsprop": torch.optim.RMSprop}[name](params, lr=lr)


@dataclass
class IterationRecord:
    iteration: int
    phi_d: float
    chi: float
    beta: float
    loss: float
    seconds: float
    physics_seconds: float


@dataclass
class History:
    """Per-iteration series (lists of floats), as summary.json reports them."""

    phi_d: list = field(default_factory=list)
    chi: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    physics_seconds: list = field(default_factory=list)

    def append(self, rec: IterationRecord) -> None:
        for key in HISTORY_KEYS:
            getattr(self, key).append(float(getattr(rec, key)))

    def __len__(self) -> int:
        return len(self.phi_d)

    def as_dict(self) -> dict[str, list]:
        return {k: list(getattr(self, k)) for k in HISTORY_KEYS}


Hook = Callable[["DipInversion", IterationRecord], None]


class DipInversion:
    """A DIP inversion of ``problem`` through ``executor`` (any object with
    ``misfit_and_gradient``/``predict``)."""

    def __init__(self, problem, executor, config: RunConfig, device: torch.device | None = None):
        self.problem, self.executor, self.config = problem, executor, config
        self.cfg = config.inversion
        self.device = device or resolve_device(self.cfg.device)
        self.net: Generator = build_generator(config.network, problem.model_grid).to(self.device)
        self.optimizer = make_optimizer(self.cfg.optimizer, self.net.parameters(),
                                        self.cfg.learning_rate)
        self.lr_schedule = PlateauSchedule(self.cfg)
        # dropout draws from torch's global generator: seed it so runs are repeatable
        torch.manual_seed(config.network.seed + 1)
        # air cells (field data over topography) are fixed, not inverted: the network's output
        # there is replaced, so they get no gradient and the reference term skips them
        active = getattr(problem, "active", None)
        self._active = None if active is None else torch.as_tensor(active, device=self.device)
        self.history = History()
        self.iteration = 0  # iterations done
        self._chi_streak = 0

    @property
    def half_n(self) -> float:
        return self.problem.n_data / 2.0

    # --- stage 1 ------------------------------------------------------------------------
    def pretrain(self, cache_file: Path | None = None) -> int:
        """Stage 1 (the paper's stage_1.py): fit the network, dropout off, to m_ref with Adam on
        sum |m - m_ref| until rms(m - m_ref) < tolerance; weights cached in ``cache_file``."""
        if cache_file is not None and cache_file.exists():
            self._load_weights(cache_file)
            log.info("stage 1: loaded pretrained weights from %s", cache_file)
            return 0
        opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.pretrain_learning_rate)
        self.net.eval()
        for it in range(1, self.cfg.pretrain_max_iterations + 1):
            opt.zero_grad()
            r = self.net() - self.cfg.reference_model
            r.abs().sum().backward()
            opt.step()
            rms = float(r.detach().pow(2).mean().sqrt())
            if rms < self.cfg.pretrain_tolerance:
                break
        self.net.train()
        log.info("stage 1: rms(m - m_ref) = %.3g after %d iterations", rms, it)
        if cache_file is not None:
            arrays = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
            tmp = cache_file.with_suffix(".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(cache_file)
        return it

    def _load_weights(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            state = {k: torch.as_tensor(data[k]) for k in data.files}
        self.net.load_state_dict(state)

    # --- iterations ---------------------------------------------------------------------
    def step(self) -> IterationRecord:
        t = self.iteration
        t0 = time.perf_counter()
        self.net.train()
        m = self._fixed(self.net().double())
        p0 = time.perf_counter()
        phi_d = data_misfit(m, self.executor)
        physics = time.perf_counter() - p0
        loss, beta = total_loss(phi_d, m if self._active is None else m[self._active],
                                self.cfg, t)
        if not torch.isfinite(loss):
            raise InversionError(
                f"non-finite loss at iteration {t} (phi_d = {phi_d.item()}); the weights of "
                f"iteration {t} are kept. Lower inversion.learning_rate or check the data.")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        rec = IterationRecord(t, phi_d.item(), phi_d.item() / self.half_n, beta, loss.item(),
                              time.perf_counter() - t0, physics)
        self.history.append(rec)
        self._set_lr(self.lr_schedule.observe(rec.chi))
        return rec

    def _set_lr(self, lr: float) -> None:
        group = self.optimizer.param_groups[0]
        if lr != group["lr"]:
            log.info("learning rate %.3g -> %.3g after iteration %d (best chi %.3f, no %.0f%% "
                     "better in %d iterations)", group["lr"], lr, self.iteration,
                     self.lr_schedule.best, 100 * self.cfg.lr_threshold, self.cfg.lr_patience)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def restore_schedule(self) -> None:
        """After the history was restored (resume): the schedule's state and rate."""
        self._set_lr(self.lr_schedule.replay(self.history.chi))

    def run(self, iterations: int, hooks: list[Hook] = ()) -> str:
        """Run until ``iterations`` are done in total or the target chi holds; the reason."""
        while self.iteration < iterations:
            rec = self.step()
            for hook in hooks:
                hook(self, rec)
            if self.cfg.target_chi > 0:
                self._chi_streak = self._chi_streak + 1 if rec.chi <= self.cfg.target_chi else 0
                if self._chi_streak >= self.cfg.target_chi_patience:
                    return f"target chi {self.cfg.target_chi} reached"
        return "iterations done"

    def model(self) -> np.ndarray:
        """The reported model (dropout off), (n_cells,) float64 ln(S/m)."""
        self.net.eval()
        with torch.no_grad():
            m = self._fixed(self.net().double()).cpu().numpy()
        self.net.train()
        return m

    def _fixed(self, m: torch.Tensor) -> torch.Tensor:
        """m with the inactive (air) cells at the problem's fixed value."""
        if self._active is None:
            return m
        return torch.where(self._active, m, m.new_tensor(self.problem.inactive_value))
