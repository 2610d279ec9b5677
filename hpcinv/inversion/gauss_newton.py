"""Gauss-Newton (Levenberg-Marquardt) steps on the network's weights, solved in data space.

At an anchor, a model m0 = G_theta(z) the physics linearised (its data d(m0) and J = dd/dm),
with W = 1 / uncertainty, r = W (d(m0) - dobs) and A = W J J_theta (data x weights: the
physics' Jacobian through the network's), a damped step minimises

    0.5 ||r + A dtheta||^2 + 0.5 lambda ||dtheta||^2.

For every lambda the step lies in the same Krylov space of A^T A and A^T r (shifts leave
Krylov spaces alone), so one Golub-Kahan bidiagonalisation of A started at r serves them all:
k iterations build orthonormal bases U (data) and V (weights) with A V_k = U_{k+1} B_k, each
iteration one Jacobian-vector product through the network (A v = W J (J_theta v)) and one
vector-Jacobian product (A^T u = J_theta^T (W J)^T u), never a matrix of the weights' size.
On the projected problem min ||B_k y + beta_1 e_1||^2 + lambda ||y||^2 (k x k, from B_k's
SVD) the linearised misfit of any lambda is known in closed form, so the damping is chosen by
the misfit it aims at, as Occam chooses its trade-off (Constable et al. 1987; data-space
Occam, Siripunvaraporn & Egbert 2000, with the network's tangent kernel J_theta J_theta^T as
the model covariance; Gram-Gauss-Newton for networks, Cai et al. 2019), not by trial and
error on the physics.

The linearisation of a network on a nonlinear physics holds only so far, so each step tries
two aims at once: the linearised misfit at target' + q (phi0 - target') and at
target' + sqrt(q) (phi0 - target') (target' = 0.9 x the target's misfit: aiming below the
target would fit the noise). Their models go to the physics in one batched prediction (on
two workers at the cost of one) and the lower true misfit wins, if it is below phi0; the next
step's q follows the winner (the bolder won: bolder still; the cautious one: as cautious;
neither: both more cautious and tried again from the same anchor, no new linearisation). The
winner is linearised for the next step. A trial that meets the target chi ends the run on
that model, the one the physics checked (the discrepancy principle).

A step of the run is one physics call: the linearisation of an anchor (J) or the prediction
of the trials (data only, about half its cost). The network runs with dropout off: a step's
model must be the one its Jacobian describes.

J stays where it is made (``LinearizationNeed(keep=True)``): each tile keeps its rows, and
the Krylov iterations' products with W J and its transpose run as tasks on the workers; only
vectors travel. J is needed only while the anchor's Krylov space is built, in the step that
linearised it (a retrial from the same anchor reuses the space), so a checkpoint holds the
space, not J.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.func import functional_call, jvp, vjp

from hpcinv.inversion.needs import LinearizationNeed, Need, PredictionNeed
from hpcinv.inversion.update import Update

if TYPE_CHECKING:
    from hpcinv.inversion.member import Member

log = logging.getLogger(__name__)

Params = dict[str, torch.Tensor]

#: the aims stop short of the target's misfit by this factor (below it is the noise)
TARGET_MARGIN = 0.9
#: the boldest and the most cautious q (the share of the excess misfit a step aims to keep)
Q_MIN, Q_MAX = 1e-3, 0.95
#: the Krylov space is deep enough once its undamped misfit is this share of the boldest aim
KRYLOV_DEPTH = 0.5
#: a Golub-Kahan coefficient this small against the first says the space is exhausted
BREAKDOWN = 1e-9
#: the reference weight is cut by this while the data cannot reach the aim, at most so often
REFERENCE_CUT, MAX_REFERENCE_CUTS = 0.5, 12
#: the trials' steps are cut by this after the most cautious aims failed
SHRINK = 0.25


class _WeightedJacobian:
    """The products of W J (W = 1 / uncertainty) at an anchor, float64 in and out: from the
    rows the tiles kept (``KeptJacobian``: tasks where the rows are) or a dense J here."""

    def __init__(self, J: Any, w: np.ndarray, device: torch.device):
        self.w, self.device = w, device
        if isinstance(J, np.ndarray):
            J *= w.astype(J.dtype)[:, None]
            self.dense: torch.Tensor | None = torch.as_tensor(J, device=device)
            self.kept = None
        else:
            self.dense, self.kept = None, J

    def __call__(self, dm: torch.Tensor) -> torch.Tensor:
        """W J dm for dm (n_cells,) on the model grid."""
        if self.dense is not None:
            return (self.dense @ dm.to(self.dense.dtype)).to(torch.float64)
        return self._tensor(self.w * self.kept.jvec(dm.detach().cpu().numpy()))

    def T(self, u: torch.Tensor) -> torch.Tensor:
        """(W J)^T u for u (n_data,): (n_cells,), zero at the inactive cells."""
        if self.dense is not None:
            return (self.dense.T @ u.to(self.dense.dtype)).to(torch.float64)
        return self._tensor(self.kept.jtvec(self.w * u.detach().cpu().numpy()))

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float64, device=self.device)


@dataclass
class _Anchor:
    """The model the physics last linearised: its weights, misfit and residual r, and W J
    (None once the step that linearised it is over: see the module docstring)."""

    weights: Params
    phi: float
    r: torch.Tensor
    WJ: _WeightedJacobian | None


@dataclass
class _Projected:
    """The anchor's step problem in the Krylov basis: steps are V y(lambda), with
    B_k = P diag(s) Q^T and c = P^T (beta_1 e_1); ``rest`` = ||r||^2 - ||c||^2 (the part of
    the residual outside the Krylov space, no step removes it)."""

    V: torch.Tensor  # (n_weights, k) float64, orthonormal columns
    P: torch.Tensor  # (k + 1, k)
    s: torch.Tensor  # (k,)
    Q: torch.Tensor  # (k, k)
    c: torch.Tensor  # (k,)
    rest: float
    #: the data rows of the Krylov basis U_{k+1} (n_data, k + 1)
    U_data: torch.Tensor
    #: the data rows of the residual outside the Krylov space (n_data,)
    outside: torch.Tensor

    def phi(self, damping: float) -> float:
        """The linearised data misfit 0.5 ||r + A dtheta||^2 of the step of ``damping``:
        the data rows of the residual U_{k+1} P diag(lambda / (s^2 + lambda)) c + outside."""
        kept = damping / (self.s**2 + damping) * self.c
        residual = self.U_data @ (self.P @ kept) + self.outside
        return 0.5 * float(residual @ residual)

    def step(self, damping: float) -> torch.Tensor:
        """dtheta (n_weights,) of ``damping``: V Q diag(s / (s^2 + lambda)) (-c)."""
        return -self.V @ (self.Q @ (self.s / (self.s**2 + damping) * self.c))

    def damping_for(self, aim: float) -> float:
        """The damping whose linearised misfit is ``aim`` (phi is increasing in it; bisection
        on log lambda), or the least damping scanned where even that keeps more."""
        top = float(self.s.max()) ** 2
        lo, hi = math.log(top * 1e-12), math.log(top * 1e6)
        if self.phi(math.exp(lo)) >= aim:
            return math.exp(lo)
        if self.phi(math.exp(hi)) <= aim:
            return math.exp(hi)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.phi(math.exp(mid)) < aim else (lo, mid)
        return math.exp(hi)


class GaussNewton:
    """The Gauss-Newton method of a member (see the module docstring)."""

    train_mode = False  # dropout off

    def __init__(self, member: Member):
        self.cfg = member.cfg
        self.q = self.cfg.gn_first_aim
        self.anchor: _Anchor | None = None
        self.projected: _Projected | None = None
        #: the trials' weights and models (empty: the next step linearises)
        self.trials: list[Params] = []
        self.trial_models: np.ndarray | None = None
        self.trial_q: list[float] = []
        self.krylov_iterations: list[int] = []
        self.rejected = 0
        #: the factor on the trials' steps (below 1 after the most cautious aims failed)
        self.shrink = 1.0
        #: mu of the reference rows (None: not yet estimated; 0: no reference rows)
        self.reference_weight: float | None = None if self.cfg.gn_reference_ratio > 0 else 0.0

    @property
    def learning_rate(self) -> float:
        return self.q

    @property
    def lr_cuts(self) -> list[int]:
        return []

    def need(self, member: Member, m: torch.Tensor) -> Need:
        if self.trials:
            assert self.trial_models is not None
            return PredictionNeed(self.trial_models)
        return LinearizationNeed(m.detach().cpu().numpy().copy(), keep=True)

    def observe(self, chi: float, iteration: int) -> None:
        pass

    def update(self, member: Member, m: torch.Tensor, answer: Any) -> Update:
        t0 = time.perf_counter()
        if self.trials:
            phi = self._judge(member, [self._phi(member, d) for d in answer])
        else:
            phi = self._anchor_at(member, *answer)
            if phi > self._target(member):
                self._make_trials(member)
        return Update(phi, phi, 0.0, True, time.perf_counter() - t0)

    # --- the steps -----------------------------------------------------------------------
    def _target(self, member: Member) -> float:
        return self.cfg.target_chi * member.half_n

    @staticmethod
    def _phi(member: Member, d: np.ndarray) -> float:
        r = (d - member.problem.dobs) / member.problem.uncertainty
        return 0.5 * float(r @ r)

    def _anchor_at(self, member: Member, d: np.ndarray, J: Any) -> float:
        """The current weights' linearisation becomes the anchor; its misfit. ``J``: the
        rows the tiles kept (``KeptJacobian``) or a dense (n_data, n_cells) array."""
        problem, device = member.problem, member.device
        w = 1.0 / problem.uncertainty
        r = torch.as_tensor(w * (d - problem.dobs), dtype=torch.float64, device=device)
        self.anchor = _Anchor(
            _weights(member.net), 0.5 * float(r @ r), r, _WeightedJacobian(J, w, device)
        )
        self.projected = None
        return self.anchor.phi

    def _judge(self, member: Member, phis: list[float]) -> float:
        """The trials' true misfits in: the best below the anchor's becomes the weights (and
        the next anchor); none, and the trials are made again more cautiously."""
        anchor = self.anchor
        assert anchor is not None
        # at the target: the most cautious trial there (the least fitted model that fits)
        fits = [i for i, phi in enumerate(phis) if phi <= self._target(member)]
        best = fits[-1] if fits else int(np.argmin(phis))
        log.debug("GN trials q %s: phi %s (anchor %.4g)", self.trial_q, phis, anchor.phi)
        if phis[best] < anchor.phi:
            _set_weights(member.net, self.trials[best])
            self.shrink = 1.0
            # the winner's q, bolder still when the bolder trial won
            self.q = max(Q_MIN, self.trial_q[best] ** (2.0 if best == 0 else 1.0))
            self.trials, self.trial_models, self.trial_q = [], None, []
            return phis[best]
        self.rejected += 1
        if self.trial_q[-1] >= Q_MAX:
            # the most cautious aims failed too: the same aims again would be the same
            # trials, so the steps are shortened instead (a backtracking line search)
            self.shrink *= SHRINK
        self.q = min(Q_MAX, math.sqrt(self.trial_q[-1]))
        self._make_trials(member)
        return anchor.phi

    def _make_trials(self, member: Member) -> None:
        """The trials of aims q and sqrt(q) from the anchor, from the anchor's Krylov space
        (built once). Where even the undamped step cannot reach the cautious aim the
        reference term holds the data back: its weight halves for the next anchor (at the
        first anchor, until the rebuilt space reaches the aim or stops gaining); Occam's
        rule, the regularisation weakens only as far as the data ask."""
        anchor = self.anchor
        assert anchor is not None
        floor = TARGET_MARGIN * self._target(member)
        qs = [self.q, math.sqrt(self.q)]
        aims = [floor + q * (anchor.phi - floor) for q in qs]
        reach = math.inf  # the undamped step's data misfit before the last cut
        # at the first anchor mu is calibrated (cut and the space rebuilt while that buys
        # reach); later a mu the data outgrow is cut for the next anchor, no rebuild
        cuts = MAX_REFERENCE_CUTS if not self.krylov_iterations else 0
        fresh = self.projected is None  # not a retrial from the same anchor
        for cut in range(cuts + 1 if fresh else 0):
            if self.projected is None:
                self.projected = self._krylov(member, KRYLOV_DEPTH * aims[0])
            undamped = self.projected.phi(0.0)
            if (
                self.reference_weight == 0.0
                or undamped <= aims[-1]
                or undamped > 0.9 * reach  # the cut bought little: the space, not mu, limits
            ):
                break
            reach = undamped
            log.debug(
                "GN: undamped phi %.4g with reference weight %.3g: cut",
                undamped,
                self.reference_weight,
            )
            self.reference_weight *= REFERENCE_CUT
            if cut < cuts:
                self.projected = None
        assert self.projected is not None
        undamped = self.projected.phi(0.0)
        log.debug(
            "GN anchor phi %.4g: reference weight %.3g, %d Krylov iterations, undamped "
            "linearised phi %.4g, aims %s",
            anchor.phi,
            self.reference_weight,
            self.krylov_iterations[-1],
            self.projected.phi(0.0),
            [round(a, 1) for a in aims],
        )
        if undamped >= aims[-1]:
            # both aims out of reach: the least damped step, and one halfway (in log phi)
            # back to the anchor, not the same step twice
            aims = [undamped, math.sqrt(undamped * anchor.phi)]
        models, trials = [], []
        params = anchor.weights
        names = list(params)
        for aim in aims:
            step = self.shrink * self.projected.step(self.projected.damping_for(aim))
            trial = _unflatten(step, params)
            trials.append({k: params[k] + trial[k].to(params[k].dtype) for k in names})
            models.append(self._model_of(member, trials[-1]))
        self.trials, self.trial_q = trials, qs
        self.trial_models = np.stack(models)

    @staticmethod
    def _model_of(member: Member, weights: Params) -> np.ndarray:
        net = member.net
        with torch.no_grad():
            out = functional_call(net, (weights, dict(net.named_buffers())), ())
            return member.fixed(out.double()).cpu().numpy()

    def _krylov(self, member: Member, enough: float) -> _Projected:
        """Golub-Kahan bidiagonalisation (full reorthogonalisation: k is small) of the
        stacked operator [A; sqrt(mu) J_theta] from the residual [r; sqrt(mu) (m - m_ref)]
        (the reference rows: the L2 reference term mu/2 ||m - m_ref||^2 over the active
        cells), until the undamped projected data misfit is below ``enough`` or
        ``gn_krylov_iterations``."""
        anchor = self.anchor
        assert anchor is not None
        net = member.net
        params = anchor.weights
        buffers = dict(net.named_buffers())

        def model(p: Params) -> tuple[torch.Tensor, torch.Tensor]:  # all cells, active ones
            m = member.fixed(functional_call(net, (p, buffers), ()).double())
            return m, member.active_cells(m)

        (_, m0), pullback = vjp(model, params)
        WJ = anchor.WJ
        if WJ is None:
            raise RuntimeError(
                "the Gauss-Newton anchor's J is gone (a resumed run): its Krylov space should "
                "have been in the checkpoint"
            )
        n = anchor.r.shape[0]
        if self.reference_weight is None:
            self.reference_weight = self._first_reference_weight(
                model, params, pullback, WJ, anchor.r
            )
        root = math.sqrt(self.reference_weight)

        def At(u: torch.Tensor) -> torch.Tensor:  # (n + active cells,) -> (n_weights,)
            (g,) = pullback((WJ.T(u[:n]), root * u[n:]))
            return _flatten(g)

        def A(v: torch.Tensor) -> torch.Tensor:  # (n_weights,) -> (n + active cells,)
            _, (dm, dm_active) = jvp(model, (params,), (_unflatten(v, params),))
            return torch.cat([WJ(dm), root * dm_active])

        b = torch.cat([anchor.r, root * (m0 - self.cfg.reference_value)])
        beta1 = float(torch.linalg.norm(b))
        U = [b / beta1]
        V: list[torch.Tensor] = []
        alphas: list[float] = []
        betas: list[float] = []
        for _ in range(self.cfg.gn_krylov_iterations):
            v = _orthogonalised(At(U[-1]) - (betas[-1] * V[-1] if V else 0.0), V)
            alpha = float(torch.linalg.norm(v))
            if alphas and alpha <= BREAKDOWN * alphas[0]:
                break  # the space is exhausted (A's rank, or all of the weights)
            V.append(v / alpha)
            alphas.append(alpha)
            u = _orthogonalised(A(V[-1]) - alpha * U[-1], U)
            beta = float(torch.linalg.norm(u))
            betas.append(beta)
            U.append(u / beta)
            projected = _project(torch.stack(V, 1), U, alphas, betas, beta1, n)
            if projected.phi(0.0) <= enough or beta <= BREAKDOWN * alphas[0]:
                break
        self.krylov_iterations.append(len(V))
        return projected

    def _first_reference_weight(self, model, params, pullback, WJ, r) -> float:
        """mu at the first anchor: ``gn_reference_ratio`` x the data term's curvature over
        the reference term's along the gradient direction g = A^T r (the way SimPEG's
        BetaEstimate compares its two terms): ratio ||A g||^2 / ||J_theta g||^2."""
        (g,) = pullback((WJ.T(r), torch.zeros_like(model(params)[1])))
        _, (dm, dm_active) = jvp(model, (params,), (g,))
        Ag = WJ(dm)
        return self.cfg.gn_reference_ratio * float(Ag @ Ag) / float(dm_active @ dm_active)

    # --- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        a, p = self.anchor, self.projected
        return {
            "gn_q": self.q,
            "gn_reference_weight": -1.0 if self.reference_weight is None else self.reference_weight,
            "gn_rejected": self.rejected,
            "gn_shrink": self.shrink,
            "gn_krylov_iterations": np.asarray(self.krylov_iterations, dtype=np.int64),
            # not J: it is needed only in the step that made it (the module docstring)
            "gn_anchor": None
            if a is None
            else {"weights": dict(a.weights), "phi": a.phi, "r": a.r},
            "gn_projected": None
            if p is None
            else {
                "V": p.V,
                "P": p.P,
                "s": p.s,
                "Q": p.Q,
                "c": p.c,
                "rest": p.rest,
                "U_data": p.U_data,
                "outside": p.outside,
            },
            "gn_trials": {str(i): dict(t) for i, t in enumerate(self.trials)},
            "gn_trial_models": self.trial_models,
            "gn_trial_q": np.asarray(self.trial_q, dtype=np.float64),
        }

    def load_state_dict(self, state: dict[str, Any], member: Member) -> None:
        device = member.device

        def tensor(x, dtype=None) -> torch.Tensor:
            return torch.as_tensor(x, dtype=dtype, device=device)

        self.q = float(state.get("gn_q", self.cfg.gn_first_aim))
        mu = float(state.get("gn_reference_weight", -1.0))
        self.reference_weight = None if mu < 0 else mu
        self.rejected = int(state.get("gn_rejected", 0))
        self.shrink = float(state.get("gn_shrink", 1.0))
        self.krylov_iterations = [int(i) for i in state.get("gn_krylov_iterations", [])]
        a = state.get("gn_anchor")
        self.anchor = (
            None
            if a is None
            else _Anchor(
                {k: tensor(v) for k, v in a["weights"].items()},
                float(a["phi"]),
                tensor(a["r"], torch.float64),
                None,  # checkpoints before 0.12.0 hold W J too: not needed
            )
        )
        p = state.get("gn_projected")
        self.projected = (
            None
            if p is None
            else _Projected(
                *(tensor(p[k]) for k in ("V", "P", "s", "Q", "c")),
                float(p["rest"]),
                tensor(p["U_data"]),
                tensor(p["outside"]),
            )
        )
        trials = state.get("gn_trials") or {}
        self.trials = [
            {k: tensor(v) for k, v in trials[str(i)].items()} for i in range(len(trials))
        ]
        models = state.get("gn_trial_models")
        self.trial_models = None if models is None else np.asarray(models)
        self.trial_q = [float(q) for q in state.get("gn_trial_q", [])]


def _project(
    V: torch.Tensor, U: list[torch.Tensor], alphas, betas, beta1: float, n_data: int
) -> _Projected:
    """The projected problem of k Golub-Kahan steps: B_k (k + 1 x k) lower bidiagonal with
    alphas on the diagonal and betas below it; the right-hand side beta_1 e_1 (beta_1 U[0]
    the whole residual, data and reference rows)."""
    k = len(alphas)
    B = torch.zeros(k + 1, k, dtype=torch.float64, device=V.device)
    idx = torch.arange(k)
    B[idx, idx] = torch.tensor(alphas, dtype=torch.float64, device=V.device)
    B[idx + 1, idx] = torch.tensor(betas, dtype=torch.float64, device=V.device)
    P, s, Qt = torch.linalg.svd(B, full_matrices=False)
    c = beta1 * P[0]
    U_data = torch.stack([u[:n_data] for u in U[: k + 1]], 1)
    # the residual's part no damping touches: beta_1 e_1 - P P^T beta_1 e_1, in data rows
    e1 = torch.zeros(k + 1, dtype=torch.float64, device=V.device)
    e1[0] = beta1
    outside = U_data @ (e1 - P @ c)
    return _Projected(V, P, s, Qt.T, c, max(0.0, beta1**2 - float(c @ c)), U_data, outside)


def _orthogonalised(x: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    """x without its components along ``basis`` (orthonormal), twice (Gram-Schmidt twice
    is enough; once is not in finite precision)."""
    if not basis:
        return x
    B = torch.stack(basis, 1)
    for _ in range(2):
        x = x - B @ (B.T @ x)
    return x


def _flatten(p: Params) -> torch.Tensor:
    return torch.cat([v.reshape(-1).to(torch.float64) for v in p.values()])


def _unflatten(x: torch.Tensor, like: Params) -> Params:
    out, start = {}, 0
    for name, p in like.items():
        out[name] = x[start : start + p.numel()].reshape(p.shape).to(p.dtype)
        start += p.numel()
    return out


def _weights(net: torch.nn.Module) -> Params:
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def _set_weights(net: torch.nn.Module, weights: Params) -> None:
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(weights[name])
