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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hpcinv.config import RunConfig
from hpcinv.errors import InversionError
from hpcinv.files import atomic_write
from hpcinv.inversion.bridge import data_misfit, known_misfit, sensitivity_scale
from hpcinv.inversion.initial_weights import load_initial_weights
from hpcinv.inversion.lr_schedule import PlateauSchedule
from hpcinv.inversion.networks import Generator, build_generator
from hpcinv.inversion.objective import total_loss

if TYPE_CHECKING:
    from hpcinv.engine.executor import Executor
    from hpcinv.problem import Problem

log = logging.getLogger(__name__)

HISTORY_KEYS = ("phi_d", "chi", "beta", "loss", "seconds", "physics_seconds", "exact")


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InversionError(
            "inversion.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'"
        )
    if requested == "cuda":
        # The network is float32 on every device. Ampere and later GPUs would otherwise run
        # float32 convolutions in TF32 (10-bit mantissa): measured on an H200, CNN3D weight
        # gradients then differ from CPU ones by ~1e-3 relative. These networks are small
        # (20k weights), so full float32 costs little and keeps CPU and GPU runs comparable.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(requested)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    return {
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "sgd": torch.optim.SGD,
        "rmsprop": torch.optim.RMSprop,
    }[name](params, lr=lr)


@dataclass
class IterationRecord:
    iteration: int
    phi_d: float
    chi: float
    beta: float
    loss: float
    seconds: float
    physics_seconds: float
    #: 1 when phi_d came from the physics at this model, 0 from a linearisation
    exact: float = 1.0


@dataclass
class History:
    """Per-iteration series (lists of floats), as summary.json reports them."""

    phi_d: list = field(default_factory=list)
    chi: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    physics_seconds: list = field(default_factory=list)
    exact: list = field(default_factory=list)

    def append(self, rec: IterationRecord) -> None:
        for key in HISTORY_KEYS:
            getattr(self, key).append(float(getattr(rec, key)))

    def __len__(self) -> int:
        return len(self.phi_d)

    def as_dict(self) -> dict[str, list]:
        return {k: list(getattr(self, k)) for k in HISTORY_KEYS}


Hook = Callable[["DipInversion", IterationRecord], None]


class Linearization:
    """The data misfit near a model m0 from the data and J there:
    phi(m) ~ 0.5 || r0 + W J (m - m0) ||^2, r0 = W (d(m0) - dobs), W = 1 / uncertainty.
    Exact at m0 (value and gradient, J in float32); a network step on it costs two
    products with the dense W J instead of a forward and an adjoint solve per tile."""

    def __init__(self, m0: torch.Tensor, r0: torch.Tensor, WJ: torch.Tensor):
        self.m0, self.r0, self.WJ = m0, r0, WJ
        #: the physics' misfit at m0
        self.phi0 = 0.5 * float(r0 @ r0)

    @classmethod
    def at(
        cls,
        m0: np.ndarray,
        executor: Executor,
        device: torch.device,
        jacobian: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Linearization:
        """The linearisation at m0 (``jacobian``: (d, J) at m0 in float32, already computed,
        e.g. for several ensemble members at once; J is scaled in place)."""
        t0 = time.perf_counter()
        problem = executor.problem
        d, J = executor.jacobian(m0, "float32") if jacobian is None else jacobian
        w = 1.0 / problem.uncertainty
        J *= w.astype(np.float32)[:, None]
        r0 = w * (d - problem.dobs)
        log.debug(
            "linearised at chi %.4g in %.2f s",
            float(r0 @ r0) / problem.n_data,
            time.perf_counter() - t0,
        )
        return cls(
            torch.as_tensor(m0, dtype=torch.float64, device=device),
            torch.as_tensor(r0, dtype=torch.float64, device=device),
            torch.as_tensor(J, device=device),
        )

    def misfit(self, m: torch.Tensor) -> torch.Tensor:
        dm = (m - self.m0).to(self.WJ.dtype)
        r = self.r0 + (self.WJ @ dm).to(self.r0.dtype)
        return 0.5 * (r * r).sum()


def set_network_threads(n: int) -> None:
    """Run torch's CPU operators on exactly ``n`` threads. The float32 network's results
    depend on the count (stage 1 ended 0.014 apart in weights with 1 vs 2 threads) but not on
    the cores the process may use (measured with ``taskset``), so the run file fixes it."""
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class DipInversion:
    """A DIP inversion of ``problem`` through ``executor`` (an ``Executor``)."""

    def __init__(
        self,
        problem: Problem,
        executor: Executor,
        config: RunConfig,
        device: torch.device | None = None,
    ):
        self.problem, self.executor, self.config = problem, executor, config
        self.cfg = config.inversion
        self.device = device or resolve_device(self.cfg.device)
        set_network_threads(config.network.threads)
        self.net: Generator = build_generator(config.network, problem.model_grid).to(self.device)
        self.optimizer = make_optimizer(
            self.cfg.optimizer, self.net.parameters(), self.cfg.learning_rate
        )
        self.lr_schedule = PlateauSchedule(self.cfg)
        if config.network.z_convention != "dip-inv":
            # dropout draws from torch's global generator: seed it so runs are repeatable
            # (the DIP-Inv convention continues the stream that drew z and the layers)
            torch.manual_seed(config.network.seed + 1)
        # air cells (field data over topography) are fixed, not inverted: the network's output
        # there is replaced, so they get no gradient and the reference term skips them
        active = getattr(problem, "active", None)
        self._active = None if active is None else torch.as_tensor(active, device=self.device)
        self.history = History()
        self.iteration = 0  # iterations done
        self._chi_streak = 0
        # from the sensitivities at the reference model (``prepare``): a function of the
        # problem and the run file only, so a resumed run recomputes the very same arrays
        self._scale: np.ndarray | None = None
        self._taper: torch.Tensor | None = None
        self._prepared = False
        #: relinearize_every > 1: the model of the current linearisation and what it holds
        self._lin_model: np.ndarray | None = None
        self._lin: Linearization | None = None
        #: steps from one renewal to the next (grows and shrinks with relinearize_adaptive)
        self._interval = self.cfg.relinearize_every
        self._next_renewal = 0

    @property
    def half_n(self) -> float:
        return self.problem.n_data / 2.0

    # --- stage 1 ------------------------------------------------------------------------
    def start(self, cache_file: Path | None = None) -> None:
        """Before the first step of a new run: the weights of ``network.initial_weights``
        (a stage-1 network made elsewhere, so stage 1 is skipped), else stage 1 when
        ``inversion.pretrain`` asks for it (weights cached in ``cache_file``)."""
        weights = self.config.network.initial_weights
        if weights:
            load_initial_weights(self.net, self.config.resolve_path(weights))
            if self.cfg.pretrain:
                log.info("stage 1 skipped: network.initial_weights are the stage-1 network")
        elif self.cfg.pretrain:
            self.pretrain(cache_file)

    def pretrain(self, cache_file: Path | None = None) -> int:
        """Stage 1 (the paper's stage_1.py): fit the network, dropout off, to m_ref with Adam on
        sum |m - m_ref| until rms(m - m_ref) < tolerance; weights cached in ``cache_file``."""
        if cache_file is not None and cache_file.exists():
            self._load_weights(cache_file)
            log.info("stage 1: loaded pretrained weights from %s", cache_file)
            return 0
        if self.cfg.pretrain_method == "exact":
            self.net.output_constant(self.cfg.reference_value)
            log.info(
                "stage 1: output layer set to give m_ref = %.4g exactly", self.cfg.reference_value
            )
            return 0
        opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.pretrain_learning_rate)
        self.net.eval()
        for it in range(1, self.cfg.pretrain_max_iterations + 1):  # noqa: B007 - logged below
            opt.zero_grad()
            r = self.net() - self.cfg.reference_value
            r.abs().sum().backward()
            opt.step()
            rms = float(r.detach().pow(2).mean().sqrt())
            if rms < self.cfg.pretrain_tolerance:
                break
        self.net.train()
        log.info("stage 1: rms(m - m_ref) = %.3g after %d iterations", rms, it)
        if cache_file is not None:
            arrays = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)

            atomic_write(cache_file, write)
        return it

    def _load_weights(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            state = {k: torch.as_tensor(data[k]) for k in data.files}
        self.net.load_state_dict(state)

    # --- sensitivities -------------------------------------------------------------------
    def prepare(self) -> None:
        """The preconditioner (``precondition``) and the coverage taper (``coverage_taper``)
        from the exact sensitivities at the reference model; once, before the first step."""
        if self._prepared:
            return
        self._prepared = True
        cfg = self.cfg
        if cfg.precondition == "none" and cfg.coverage_taper == 0:
            return
        t0 = time.perf_counter()
        m_ref = np.full(self.problem.model_grid.n_cells, cfg.reference_value)
        sens = self.executor.sensitivity(m_ref)
        active = getattr(self.problem, "active", None)
        if cfg.precondition == "sensitivity":
            self._scale = sensitivity_scale(
                sens["diag"], active, cfg.precondition_power, cfg.precondition_floor
            )
        if cfg.coverage_taper > 0:
            coverage = sens["coverage"]
            largest = float(coverage.max())
            taper = np.minimum(1.0, coverage / (cfg.coverage_taper * largest))
            self._taper = torch.as_tensor(taper, dtype=torch.float64, device=self.device)
        log.info(
            "sensitivities at the reference model in %.1f s: %s%s",
            time.perf_counter() - t0,
            ""
            if self._scale is None
            else f"gradient scaled by 1 to {self._scale.max():.3g} "
            f"(median {np.median(self._scale):.3g}); ",
            ""
            if self._taper is None
            else f"{int((self._taper < 1).sum())} cells below {cfg.coverage_taper:g} of the "
            "largest coverage tapered to the reference",
        )

    def _output(self) -> torch.Tensor:
        """The model from the network (float64): tapered to m_ref where the data do not see,
        air cells at their fixed value."""
        m = self.net().double()
        if self._taper is not None:
            m_ref = self.cfg.reference_value
            m = m_ref + self._taper * (m - m_ref)
        return self._fixed(m)

    # --- iterations ---------------------------------------------------------------------
    def _data_term(
        self,
        m: torch.Tensor,
        t: int,
        physics: tuple[float, np.ndarray] | None = None,
        jacobian: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[torch.Tensor, bool]:
        """(phi_d, exact): from the physics every step (``physics``: (phi, g) already
        computed at m), or from the linearisation that is renewed at the current model every
        ``relinearize_every`` steps (or, adaptive, after an interval that follows how well
        the last linearisation predicted the physics; ``jacobian``: (d, J) at m already
        computed for a renewal due now)."""
        if self.cfg.relinearize_every == 1:
            if physics is not None:
                return known_misfit(m, *physics, self._scale), True
            return data_misfit(m, self.executor, self._scale), True
        renew = self.renewal_due
        if renew:
            previous = self._previous_linearization()
            self._lin_model = m.detach().cpu().numpy().copy()
            self._lin = Linearization.at(self._lin_model, self.executor, self.device, jacobian)
            if previous is not None:
                with torch.no_grad():
                    self._adapt_interval(previous.misfit(m.detach()).item(), self._lin.phi0)
            self._next_renewal = t + self._interval
        if self._lin is None:  # resumed between two renewals
            assert self._lin_model is not None
            self._lin = Linearization.at(self._lin_model, self.executor, self.device)
        if self._scale is not None:
            m = m.clone()
            scale = torch.as_tensor(self._scale, dtype=m.dtype, device=m.device)
            m.register_hook(lambda g: g * scale)
        return self._lin.misfit(m), renew

    @property
    def renewal_due(self) -> bool:
        """Whether this step renews the linearisation (``relinearize_every`` > 1) at its
        model: what an ensemble batches across the members renewing in the same step."""
        if self.cfg.relinearize_every == 1:
            return False
        return (
            self._lin_model is None
            or self.iteration >= self._next_renewal
            or self._at_target_guess()
        )

    def _at_target_guess(self) -> bool:
        """Adaptive renewals: the last step's linearised chi reached the target, so the
        physics is asked now rather than at the end of the interval."""
        cfg, h = self.cfg, self.history
        return (
            cfg.relinearize_adaptive
            and cfg.target_chi > 0
            and len(h) > 0
            and not h.exact[-1]
            and h.chi[-1] <= cfg.target_chi
        )

    def _previous_linearization(self) -> Linearization | None:
        """The linearisation a renewal replaces (adaptive intervals compare it with the
        physics); rebuilt when a resumed run renews before using it."""
        if not self.cfg.relinearize_adaptive or self._lin_model is None:
            return None
        if self._lin is None:
            self._lin = Linearization.at(self._lin_model, self.executor, self.device)
        return self._lin

    def _adapt_interval(self, predicted: float, actual: float) -> None:
        """Trust-region rule on the interval between renewals: the linearisation held over
        the last interval (its misfit at the new model within ``relinearize_tolerance`` of
        the physics') -> twice as many steps; far off -> half as many."""
        base, tol = self.cfg.relinearize_every, self.cfg.relinearize_tolerance
        error = abs(predicted - actual) / max(actual, 1e-300)
        before = self._interval
        if error <= tol:
            self._interval = min(2 * self._interval, 16 * base)
        elif error > 3 * tol:
            self._interval = max(self._interval // 2, max(1, base // 4))
        log.debug(
            "renewal: linearised chi %.4g vs physics %.4g (error %.2g): interval %d -> %d",
            predicted / self.half_n,
            actual / self.half_n,
            error,
            before,
            self._interval,
        )

    def step(self) -> IterationRecord:
        m, t0 = self.begin_step()
        return self.finish_step(m, t0)

    @property
    def wants_physics(self) -> bool:
        """Whether every step needs the physics at its model (no linearisation): what an
        ensemble batches across its members."""
        return self.cfg.relinearize_every == 1

    def begin_step(self) -> tuple[torch.Tensor, float]:
        """This step's model (dropout on, its graph kept) and the step's start time."""
        self.prepare()
        t0 = time.perf_counter()
        self.net.train()
        return self._output(), t0

    def finish_step(
        self,
        m: torch.Tensor,
        t0: float,
        physics: tuple[float, np.ndarray] | None = None,
        physics_seconds: float = 0.0,
        jacobian: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> IterationRecord:
        """The rest of the step begun by ``begin_step``: the data term (``physics``: (phi, g)
        already computed at m, which took ``physics_seconds``; ``jacobian``: (d, J) at m for
        a renewal due now), the loss, the update."""
        t = self.iteration
        p0 = time.perf_counter()
        phi_d, exact = self._data_term(m, t, physics, jacobian)
        physics_time = time.perf_counter() - p0 + physics_seconds
        loss, beta = total_loss(phi_d, m if self._active is None else m[self._active], self.cfg, t)
        if not torch.isfinite(loss):
            raise InversionError(
                f"non-finite loss at iteration {t} (phi_d = {phi_d.item()}); the weights of "
                f"iteration {t} are kept. Lower inversion.learning_rate or check the data."
            )
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        rec = IterationRecord(
            t,
            phi_d.item(),
            phi_d.item() / self.half_n,
            beta,
            loss.item(),
            time.perf_counter() - t0,
            physics_time,
            float(exact),
        )
        self.history.append(rec)
        self._set_lr(self.lr_schedule.observe(rec.chi, bool(rec.exact)))
        return rec

    def _set_lr(self, lr: float) -> None:
        group = self.optimizer.param_groups[0]
        if lr != group["lr"]:
            log.info(
                "learning rate %.3g -> %.3g after iteration %d (best chi %.3f, no %.0f%% "
                "better in %d iterations)",
                group["lr"],
                lr,
                self.iteration,
                self.lr_schedule.best,
                100 * self.cfg.lr_threshold,
                self.cfg.lr_patience,
            )
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def restore_schedule(self) -> None:
        """After the history was restored (resume): the schedule's state and rate."""
        self._set_lr(self.lr_schedule.replay(self.history.chi, self.history.exact))

    def run(self, iterations: int, hooks: list[Hook] = ()) -> str:
        """Run until ``iterations`` are done in total or the target chi holds; the reason."""
        while self.iteration < iterations:
            rec = self.step()
            for hook in hooks:
                hook(self, rec)
            if self.reached_target(rec):
                return f"target chi {self.cfg.target_chi} reached"
        return "iterations done"

    def reached_target(self, rec: IterationRecord) -> bool:
        """Count ``rec`` (the step just taken) toward the target chi; True once the target
        held for ``target_chi_patience`` exact steps in a row."""
        if self.cfg.target_chi > 0 and rec.exact:  # a linearisation's chi is a guess
            self._chi_streak = self._chi_streak + 1 if rec.chi <= self.cfg.target_chi else 0
            return self._chi_streak >= self.cfg.target_chi_patience
        return False

    def model(self) -> np.ndarray:
        """The reported model (dropout off), (n_cells,) float64 ln(S/m)."""
        self.prepare()
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
        self.prepare()
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
        plain values: network weights (z included, a buffer), the optimiser's state, torch's
        and numpy's RNG states (dropout draws from torch's), the history and the counters."""
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
        return {
            "iteration": self.iteration,
            "chi_streak": self._chi_streak,
            "weights": dict(self.net.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "history": {
                k: np.asarray(v, dtype=np.float64) for k, v in self.history.as_dict().items()
            },
            # relinearize_every > 1: the model of the linearisation in use (rebuilt on resume)
            "linearization_model": self._lin_model,
            "linearization_interval": self._interval,
            "linearization_next": self._next_renewal,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put this inversion exactly where ``state`` (from ``state_dict``) was taken; the
        learning-rate schedule is replayed from the history."""
        self.net.load_state_dict({k: torch.as_tensor(v) for k, v in state["weights"].items()})
        opt = state["optimizer"]
        # a checkpoint may give the per-parameter keys as strings; Adam's step stays on the CPU
        per_param = {
            int(index): {
                key: torch.as_tensor(value).to("cpu" if key == "step" else self.device)
                for key, value in entries.items()
            }
            for index, entries in opt["state"].items()
        }
        self.optimizer.load_state_dict({"state": per_param, "param_groups": opt["param_groups"]})
        rng = state["rng"]
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
        n = len(state["history"]["chi"])
        for key in HISTORY_KEYS:
            # checkpoints before 0.4 have no "exact": every step solved the physics then
            values = state["history"].get(key, np.ones(n))
            setattr(self.history, key, [float(x) for x in values])
        lin_model = state.get("linearization_model")
        self._lin_model = None if lin_model is None else np.asarray(lin_model, np.float64)
        self._lin = None
        self.iteration = int(state["iteration"])
        # checkpoints before 0.5 renewed every relinearize_every steps, at multiples of it
        base = self.cfg.relinearize_every
        self._interval = int(state.get("linearization_interval", base))
        self._next_renewal = int(state.get("linearization_next", -(-self.iteration // base) * base))
        self._chi_streak = int(state["chi_streak"])
        self.restore_schedule()

    def _fixed(self, m: torch.Tensor) -> torch.Tensor:
        """m with the inactive (air) cells at the problem's fixed value."""
        if self._active is None:
            return m
        return torch.where(self._active, m, m.new_tensor(self.problem.inactive_value))
