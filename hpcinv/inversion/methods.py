"""How a member's weights move each step: the optimiser seam.

A method says what the physics must answer for the step (``need``) and, given the answer,
moves the weights (``update``). Adding an optimiser is a class here and a name in
``make_method``; the member, the stepper and the driver stay as they are.

* ``AdamOnPhysics`` (``relinearize_every = 1``, the paper): every step the misfit and its
  gradient at the step's model, then an Adam step on (1 - b_t) phi_d + b_t R(m - m_ref).
* ``AdamOnLinearizations`` (``relinearize_every = K``, 3D): every K-th step the data and J
  at the step's model (a renewal), the steps between on that linearisation's misfit; only
  renewals count as exact (the target-chi stop reads them alone).
* ``GaussNewton`` (``optimizer = "gauss-newton"``, ``hpcinv.inversion.gauss_newton``):
  every step the data and J at its model, then a damped Gauss-Newton step on the weights
  solved in data space by conjugate gradients.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from hpcinv.errors import InversionError
from hpcinv.inversion.bridge import physics_misfit
from hpcinv.inversion.gauss_newton import GaussNewton
from hpcinv.inversion.linearization import Linearization
from hpcinv.inversion.lr_schedule import PlateauSchedule
from hpcinv.inversion.needs import LinearizationNeed, MisfitNeed, Need
from hpcinv.inversion.objective import total_loss
from hpcinv.inversion.update import Update

if TYPE_CHECKING:
    from hpcinv.inversion.member import Member

log = logging.getLogger(__name__)


class Method(Protocol):
    """An optimiser strategy of a member (see the module docstring)."""

    #: whether the network runs with dropout on in a step
    train_mode: bool

    @property
    def learning_rate(self) -> float: ...

    @property
    def lr_cuts(self) -> list[int]: ...

    def need(self, member: Member, m: torch.Tensor) -> Need | None: ...

    def update(self, member: Member, m: torch.Tensor, answer: Any) -> Update: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any], member: Member) -> None: ...

    def observe(self, chi: float, iteration: int) -> None: ...


class AdamSteps:
    """Adam on the DIP loss with the run file's learning-rate schedule; subclasses give the
    data term."""

    train_mode = True  # dropout on, as in the paper's training

    def __init__(self, member: Member):
        cfg = member.cfg
        self.cfg = cfg
        self.optimizer = torch.optim.Adam(member.net.parameters(), lr=cfg.learning_rate)
        self.schedule = PlateauSchedule(cfg)

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def lr_cuts(self) -> list[int]:
        return list(self.schedule.cuts)

    def data_term(self, member: Member, m: torch.Tensor, answer: Any) -> tuple[torch.Tensor, bool]:
        raise NotImplementedError

    def update(self, member: Member, m: torch.Tensor, answer: Any) -> Update:
        t = member.iteration
        p0 = time.perf_counter()
        phi_d, exact = self.data_term(member, m, answer)
        data_seconds = time.perf_counter() - p0
        loss, beta = total_loss(phi_d, member.active_cells(m), self.cfg, t)
        if not torch.isfinite(loss):
            raise InversionError(
                f"non-finite loss at iteration {t} (phi_d = {phi_d.item()}); the weights of "
                f"iteration {t} are kept. Lower inversion.learning_rate or check the data."
            )
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return Update(phi_d.item(), loss.item(), beta, exact, data_seconds)

    def observe(self, chi: float, iteration: int) -> None:
        """After the step's record: the schedule's rate for the next step."""
        self._set_lr(self.schedule.observe(chi), iteration)

    def _set_lr(self, lr: float, iteration: int) -> None:
        group = self.optimizer.param_groups[0]
        if lr != group["lr"]:
            log.info(
                "learning rate %.3g -> %.3g after iteration %d (best chi %.3f, no %.0f%% "
                "better in %d iterations)",
                group["lr"],
                lr,
                iteration,
                self.schedule.best,
                100 * self.cfg.lr_threshold,
                self.cfg.lr_patience,
            )
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any], member: Member) -> None:
        """Adam's state (a checkpoint may give its per-parameter keys as strings; Adam's step
        stays on the CPU); the rate replayed from the member's restored history."""
        opt = state["optimizer"]
        per_param = {
            int(index): {
                key: torch.as_tensor(value).to("cpu" if key == "step" else member.device)
                for key, value in entries.items()
            }
            for index, entries in opt["state"].items()
        }
        self.optimizer.load_state_dict({"state": per_param, "param_groups": opt["param_groups"]})
        self._set_lr(self.schedule.replay(member.history.chi), member.iteration)


class AdamOnPhysics(AdamSteps):
    """The physics' misfit and gradient at every step's model (the paper)."""

    def need(self, member: Member, m: torch.Tensor) -> Need:
        return MisfitNeed(m.detach().to(device="cpu", dtype=torch.float64).numpy())

    def data_term(self, member: Member, m: torch.Tensor, answer: Any) -> tuple[torch.Tensor, bool]:
        phi, g = answer
        return physics_misfit(m, phi, g), True


class AdamOnLinearizations(AdamSteps):
    """Steps on a linearisation renewed every ``relinearize_every`` steps at the step's
    model. Its model and the next renewal are checkpointed; a resumed run rebuilds the
    linearisation at the saved model (one J) and goes on exactly."""

    def __init__(self, member: Member):
        super().__init__(member)
        self.every = self.cfg.relinearize_every
        #: the model of the linearisation in use, and the iteration of the next renewal
        self.model: np.ndarray | None = None
        self.next_renewal = 0
        self.linearization: Linearization | None = None
        self._renewing = False

    def need(self, member: Member, m: torch.Tensor) -> Need | None:
        self._renewing = self.model is None or member.iteration >= self.next_renewal
        if self._renewing:
            return LinearizationNeed(m.detach().cpu().numpy().copy())
        if self.linearization is None:  # resumed between two renewals
            assert self.model is not None
            return LinearizationNeed(self.model)
        return None

    def data_term(self, member: Member, m: torch.Tensor, answer: Any) -> tuple[torch.Tensor, bool]:
        if self._renewing:
            self.model = m.detach().cpu().numpy().copy()
            self.next_renewal = member.iteration + self.every
        if answer is not None:
            assert self.model is not None
            d, J = answer
            problem = member.problem
            self.linearization = Linearization.from_jacobian(
                self.model, d, J, problem.dobs, problem.uncertainty, member.device
            )
        assert self.linearization is not None
        return self.linearization.misfit(m), self._renewing

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "linearization_model": self.model,
            "linearization_next": self.next_renewal,
        }

    def load_state_dict(self, state: dict[str, Any], member: Member) -> None:
        super().load_state_dict(state, member)
        model = state.get("linearization_model")
        self.model = None if model is None else np.asarray(model, np.float64)
        self.linearization = None
        # checkpoints before 0.5 renewed every relinearize_every steps, at multiples of it
        default = -(-member.iteration // self.every) * self.every
        self.next_renewal = int(state.get("linearization_next", default))


def make_method(member: Member) -> Method:
    """The method the run file asks for (``inversion.optimizer``, ``relinearize_every``)."""
    if member.cfg.optimizer == "gauss-newton":
        return GaussNewton(member)
    if member.cfg.relinearize_every > 1:
        return AdamOnLinearizations(member)
    return AdamOnPhysics(member)
