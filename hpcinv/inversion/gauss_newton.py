"""Gauss-Newton (Levenberg-Marquardt) steps on the network's weights, solved in data space.

Each step linearises the physics at the step's model m0 = G_theta(z): the data d(m0) and
J = dd/dm there. With W = 1 / uncertainty, r = W (d(m0) - dobs) and A = W J J_theta (data x
weights: the physics' Jacobian through the network's), the step on the weights minimises
0.5 ||r + A dtheta||^2 + 0.5 lambda ||dtheta||^2:

    dtheta = A^T y,   (A A^T + lambda I) y = -r,

a system of the size of the data, solved by conjugate gradients: each iteration is one
vector-Jacobian product through the network (A^T y = J_theta^T (W J)^T y) and one
Jacobian-vector product (A v = W J (J_theta v)), never a matrix of the weights' size. This
is data-space Occam (Siripunvaraporn & Egbert 2000) with the network's tangent kernel
J_theta J_theta^T as the model covariance, and Gram-Gauss-Newton for networks (Cai et al.
2019). The damping lambda follows a trust-region rule on the physics itself: the next
step's misfit is the test; lower than the last accepted step's and the step stands (lambda
halves), higher and the weights go back to the last accepted ones and the step is solved
again from that linearisation with a larger lambda (no physics needed for that); an accepted
step's gain ratio (the physics' drop of the misfit over the linearisation's) sets the next
damping by Nielsen's rule.
A step whose model already meets the target chi moves nothing: the run stops there, on the
model the physics checked (the discrepancy principle).

The network runs with dropout off: a step's model must be the one its Jacobian describes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.func import functional_call, jvp, vjp

from hpcinv.inversion.needs import LinearizationNeed, Need
from hpcinv.inversion.update import Update

if TYPE_CHECKING:
    from hpcinv.inversion.member import Member

log = logging.getLogger(__name__)

Params = dict[str, torch.Tensor]

#: a step whose linearised misfit falls below this fraction of the target's is damped more
TOO_FAR = 0.9
#: at most this many doublings of the damping for one step
MAX_DAMPING_RAISES = 8


@dataclass
class _Anchor:
    """The last accepted step: its weights, misfit, residual r and W J."""

    weights: Params
    phi: float
    r: torch.Tensor
    WJ: torch.Tensor


class GaussNewton:
    """The Gauss-Newton method of a member (see the module docstring)."""

    train_mode = False  # dropout off

    def __init__(self, member: Member):
        self.cfg = member.cfg
        self.damping: float | None = None
        self.anchor: _Anchor | None = None
        self.rejected = 0
        self.cg_iterations: list[int] = []
        #: how much the linearisation predicted the last step to lower phi
        self.predicted_drop = 0.0
        #: the factor the next rejection raises the damping by
        self.growth = 2.0

    @property
    def learning_rate(self) -> float:
        return float("nan") if self.damping is None else self.damping

    @property
    def lr_cuts(self) -> list[int]:
        return []

    def need(self, member: Member, m: torch.Tensor) -> Need:
        return LinearizationNeed(m.detach().cpu().numpy().copy())

    def observe(self, chi: float, iteration: int) -> None:
        pass

    def update(self, member: Member, m: torch.Tensor, answer: Any) -> Update:
        t0 = time.perf_counter()
        d, J = answer
        problem, device = member.problem, member.device
        w = 1.0 / problem.uncertainty
        r = torch.as_tensor(w * (d - problem.dobs), dtype=torch.float64, device=device)
        phi = 0.5 * float(r @ r)
        if self.anchor is not None and phi > self.anchor.phi:
            # the last step went further than the linearisation held: back, and shorter
            self.rejected += 1
            # Nielsen's rule: rejections in a row raise the damping ever faster
            self.damping = self.growth * (self.damping or 1.0)
            self.growth *= 2.0
            _set_weights(member.net, self.anchor.weights)
            log.debug(
                "GN step rejected (phi %.4g > %.4g); damping %.3g",
                phi,
                self.anchor.phi,
                self.damping,
            )
        else:
            if self.anchor is not None and self.damping is not None:
                self.damping *= _damping_factor(self.anchor.phi - phi, self.predicted_drop)
                self.growth = 2.0
            J *= w.astype(np.float32)[:, None]
            self.anchor = _Anchor(_weights(member.net), phi, r, torch.as_tensor(J, device=device))
        target = self.cfg.target_chi * member.half_n
        if not phi <= target:  # at the target: the model the physics checked stays
            self._step(member)
        return Update(phi, phi, 0.0, True, time.perf_counter() - t0)

    def _step(self, member: Member) -> None:
        """Move the weights by the damped Gauss-Newton step at the anchor."""
        anchor = self.anchor
        assert anchor is not None
        net = member.net
        params = _weights(net)
        buffers = dict(net.named_buffers())

        def model(p: Params) -> torch.Tensor:
            return member.fixed(functional_call(net, (p, buffers), ()).double())

        _, pullback = vjp(model, params)
        WJ = anchor.WJ

        def At(y: torch.Tensor) -> Params:  # (n,) -> weights: J_theta^T (W J)^T y
            (g,) = pullback((WJ.T @ y.to(WJ.dtype)).to(torch.float64))
            return g

        def A(v: Params) -> torch.Tensor:  # weights -> (n,): W J (J_theta v)
            _, dm = jvp(model, (params,), (v,))
            return (WJ @ dm.to(WJ.dtype)).to(torch.float64)

        if self.damping is None:
            # the curvature of the data term along r, seen through the network: a scale
            # for the first damping (A A^T's Rayleigh quotient at r)
            g = At(anchor.r)
            self.damping = self.cfg.gn_damping * _dot(g, g) / float(anchor.r @ anchor.r)
        step, iterations = self._solve(A, At, anchor.r, member.half_n)
        self.cg_iterations.append(iterations)
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(anchor.weights[name] + step[name].to(p.dtype))

    def _solve(self, A, At, r: torch.Tensor, half_n: float) -> tuple[Params, int]:
        """The damped step and its CG iterations. A step the linearisation predicts to go
        below the target chi would fit the noise: the damping doubles until it does not
        (a few more CG solves, no physics), as Occam chooses its trade-off."""
        assert self.damping is not None
        target = self.cfg.target_chi * half_n
        for _ in range(MAX_DAMPING_RAISES + 1):
            damping = self.damping
            y, iterations = _cg(
                lambda y, d=damping: A(At(y)) + d * y, -r, self.cfg.gn_cg_iterations
            )
            step = At(y)
            predicted = r + A(step)
            phi_predicted = 0.5 * float(predicted @ predicted)
            if not phi_predicted < TOO_FAR * target:
                break
            self.damping *= 2.0
        self.predicted_drop = 0.5 * float(r @ r) - phi_predicted
        return step, iterations

    def state_dict(self) -> dict[str, Any]:
        a = self.anchor
        return {
            "gn_damping": -1.0 if self.damping is None else self.damping,
            "gn_rejected": self.rejected,
            "gn_predicted_drop": self.predicted_drop,
            "gn_growth": self.growth,
            "gn_cg_iterations": np.asarray(self.cg_iterations, dtype=np.int64),
            "gn_anchor": None
            if a is None
            else {"weights": dict(a.weights), "phi": a.phi, "r": a.r, "WJ": a.WJ},
        }

    def load_state_dict(self, state: dict[str, Any], member: Member) -> None:
        damping = float(state.get("gn_damping", -1.0))
        self.damping = None if damping < 0 else damping
        self.rejected = int(state.get("gn_rejected", 0))
        self.predicted_drop = float(state.get("gn_predicted_drop", 0.0))
        self.growth = float(state.get("gn_growth", 2.0))
        self.cg_iterations = [int(i) for i in state.get("gn_cg_iterations", [])]
        a = state.get("gn_anchor")
        device = member.device
        self.anchor = (
            None
            if a is None
            else _Anchor(
                {k: torch.as_tensor(v, device=device) for k, v in a["weights"].items()},
                float(a["phi"]),
                torch.as_tensor(a["r"], dtype=torch.float64, device=device),
                torch.as_tensor(a["WJ"], device=device),
            )
        )


def _damping_factor(actual: float, predicted: float) -> float:
    """Nielsen's rule (1999) on the gain ratio rho = actual / predicted drop of phi of an
    accepted step: max(1/3, 1 - (2 rho - 1)^3), i.e. a third of the damping where the
    linearisation held exactly (rho = 1), about as much where it held half (rho = 0.5),
    up to twice as much where it barely held. Smoother than the 1/3-or-2 rule, which on
    block-3d alternated between good and rejected steps."""
    rho = actual / predicted if predicted > 0 else 0.0
    return max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)


def _weights(net: torch.nn.Module) -> Params:
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def _set_weights(net: torch.nn.Module, weights: Params) -> None:
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(weights[name])


def _dot(a: Params, b: Params) -> float:
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


def _cg(
    apply, b: torch.Tensor, iterations: int, tolerance: float = 1e-3
) -> tuple[torch.Tensor, int]:
    """Conjugate gradients for the symmetric positive definite ``apply`` (x -> K x) on b;
    (x, iterations). Stops when ||b - K x|| <= tolerance ||b||."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = float(r @ r)
    stop = tolerance**2 * rr
    for k in range(1, iterations + 1):
        Kp = apply(p)
        alpha = rr / float(p @ Kp)
        x = x + alpha * p
        r = r - alpha * Kp
        rr_new = float(r @ r)
        if rr_new <= stop:
            return x, k
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, iterations
