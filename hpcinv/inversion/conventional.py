"""The conventional baseline: SimPEG's sparse-norm (IRLS) Tikhonov inversion, same problem,
on the same tiles and workers as the DIP (``TileSimulation``).

The paper's best settings: case 1 p = [0, 1, 1], case 2 p = [0, 2, 2]; alpha_s 0.005,
alpha_x = alpha_z = 0.5; beta from the eigenvalue estimate; target chi = 1. The model is ln
sigma on the mesh, the reference model m_ref, the start m_ref.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.engine import Executor
from hpcinv.errors import ConfigError
from hpcinv.inversion.tile_simulation import TileSimulation

log = logging.getLogger(__name__)


def sparse_norms(norms: tuple[float, ...], dim: int) -> list[float]:
    """SimPEG's norms (p_s, p_x, [p_y,] p_z) from ``conventional.norms``: 3 values in 2D;
    4 values, or 3 (p_s, p_horizontal, p_z: p_y = p_x) in 3D, so the default suits both."""
    norms = [float(p) for p in norms]
    if len(norms) == dim + 1:
        return norms
    if dim == 3 and len(norms) == 3:
        return [norms[0], norms[1], norms[1], norms[2]]
    raise ConfigError(
        f"conventional.norms has {len(norms)} values {norms}, but the problem is {dim}D: give "
        + ("3 (p_s, p_x, p_z)" if dim == 2 else "4 (p_s, p_x, p_y, p_z) or 3 (p_s, p_xy, p_z)")
    )


def conventional_target_chi(config: RunConfig) -> float:
    """conventional.target_chi, or inversion.target_chi when only that one is given (a run
    file that names the method and its target writes it under [inversion])."""
    given = config.raw.get("conventional", {})
    if "target_chi" not in given and config.inversion.target_chi > 0:
        return config.inversion.target_chi
    return config.conventional.target_chi


def run_conventional(problem, config: RunConfig, executor: Executor, on_iteration=None) -> dict:
    """Run SimPEG's IRLS inversion with its data and sensitivities from ``executor``'s tiles
    (``TileSimulation``); returns {model, dpred, history, seconds, iterations, calls}.
    ``on_iteration(model, history)`` after every Gauss-Newton iteration: the model on the
    whole grid (air included) and the history so far (what a run directory writes then;
    raising there stops the inversion)."""
    from simpeg import (
        data,
        data_misfit,
        directives,
        inverse_problem,
        inversion,
        optimization,
        regularization,
    )

    cc = config.conventional
    mesh = problem.model_grid.mesh
    sim = TileSimulation(executor)
    dobj = data.Data(sim.survey, dobs=problem.dobs, standard_deviation=problem.uncertainty)
    dmis = data_misfit.L2DataMisfit(data=dobj, simulation=sim)
    m_ref = np.full(sim.n_active, config.inversion.reference_value)
    alphas = {"alpha_s": cc.alpha_s, "alpha_x": cc.alpha_x}
    if mesh.dim == 2:  # SimPEG's 2D meshes call the vertical axis y
        alphas["alpha_y"] = cc.alpha_z
    else:
        alphas.update(alpha_y=cc.alpha_y, alpha_z=cc.alpha_z)
    reg = regularization.Sparse(mesh, reference_model=m_ref, active_cells=problem.active, **alphas)
    reg.norms = sparse_norms(cc.norms, mesh.dim)
    # SimPEG 0.25's names for maxIterCG and tolCG (removed in 0.26): ProjectedGNCG took tolCG
    # as an absolute tolerance with no relative one, so the same CG is cg_atol, cg_rtol = 0
    opt = optimization.ProjectedGNCG(
        maxIter=cc.max_iterations, cg_maxiter=30, cg_atol=1e-4, cg_rtol=0.0
    )
    inv_prob = inverse_problem.BaseInvProblem(dmis, reg, opt)
    history: dict[str, list] = {
        "phi_d": [],
        "chi": [],
        "beta": [],
        "seconds": [],
        "physics_calls": [],
    }
    n = problem.n_data

    class Record(directives.InversionDirective):
        def endIter(self):
            phi_d = 0.5 * self.invProb.phi_d  # hpcinv's phi_d = 0.5 ||W r||^2
            history["phi_d"].append(float(phi_d))
            history["chi"].append(float(phi_d / (n / 2)))
            history["beta"].append(float(self.invProb.beta))
            history["seconds"].append(time.perf_counter() - t0)
            history["physics_calls"].append(sum(sim.calls.values()))
            log.info(
                "conventional iteration %d: chi %.3f, beta %.3g, %.1f s, %d CG iterations, "
                "%d physics calls",
                len(history["chi"]),
                history["chi"][-1],
                history["beta"][-1],
                history["seconds"][-1]
                - (history["seconds"][-2] if len(history["seconds"]) > 1 else 0.0),
                int(getattr(self.opt, "cg_count", 0)),
                history["physics_calls"][-1],
            )
            if on_iteration is not None:
                on_iteration(sim.on_grid(self.invProb.model), _per_iteration(history))

    directive_list = [
        directives.UpdateIRLS(
            chifact_target=conventional_target_chi(config),
            max_irls_iterations=cc.max_iterations,
            verbose=False,
        ),
        directives.BetaEstimate_ByEig(beta0_ratio=cc.beta0_ratio, random_seed=0),
        directives.UpdatePreconditioner(),
        Record(),
    ]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = inversion.BaseInversion(inv_prob, directiveList=directive_list).run(m_ref.copy())
    seconds = time.perf_counter() - t0
    return {
        "model": sim.on_grid(m),  # the model on the whole grid, air included
        "dpred": sim.dpred(m),
        "history": _per_iteration(history),
        "seconds": seconds,
        "iterations": len(history["chi"]),
        "calls": dict(sim.calls),
    }


def _per_iteration(history: dict) -> dict:
    """The history with per-iteration seconds (it records cumulative ones)."""
    cumulative = np.array(history["seconds"])
    return {**history, "seconds": np.diff(np.r_[0.0, cumulative]).tolist()}
