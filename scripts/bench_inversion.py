"""Benchmark one DIP-Inv iteration on ``paper-1.1``: hpcinv against the paper's own algorithm.

Both run in this one process, one after the other, on the same problem (mesh, survey, noisy
data and uncertainties from ``examples/paper-1.1.toml``) and an identically initialised network:

* **hpcinv**, as ``hpcinv run`` iterates: ``Stepper.build(config, problem,
  SerialExecutor(problem)).step()``, i.e. network forward (dropout on), physics misfit and
  gradient through the autograd bridge, backward, Adam step. Wall seconds of each
  ``step()`` call, and the physics part of it (``IterationRecord.physics_seconds``).
* **the paper's algorithm** (Xu & Heagy 2024, their ``train.py``), re-created on the same
  network weights (a second ``Member`` is built only for its freshly initialised
  ``net``). Each iteration:

      m = net()                                       # train mode, dropout on, float32
      sim = Simulation2DNodal(mesh, survey, sigmaMap=ExpMap(mesh), solver=SolverLU,
                              storeJ=True, nky=11)    # a new simulation every iteration
      d = sim.dpred(m); r = d - dobs; g = sim.Jtvec(m, W**2 * r)   # forms the full J
      loss = (1 - b_t) * sum(m * g) + b_t * ||m - m_ref||_1       # b_t = exp(-t / tau)
      Adam: zero_grad, backward, step

  The surrogate ``sum(m * g)`` has gradient g = d(0.5 ||W r||^2)/dm, so both algorithms take
  the same optimisation step. The whole iteration is timed; the simulation's construction
  (``build_seconds``: it optimises the wavenumber quadrature), the physics (dpred + Jtvec,
  ``physics_seconds``) and the rest (network forward, loss, backward, Adam:
  ``network_seconds``) are also timed separately so their shares are visible.

  Their published ``train.py`` differs in two ways, and this re-creation, if anything,
  understates its cost: it builds the simulation once and reuses it (no per-iteration
  ``build_seconds``; SimPEG still drops the stored J on every model change, so J is formed
  every iteration), but it evaluates the residual a second time per iteration for its log:
  one more forward solve over all wavenumbers, as long as ``dpred`` (about 2-3x the
  construction on paper-1.1). Its stored-J product is in float32; here float64.

Each algorithm does ``--warmup`` iterations (not counted) and then ``--iterations`` timed
ones; medians and every per-iteration time are reported, with the ratio of the medians
(paper / hpcinv). hpcinv is measured first: building a ``Member`` seeds torch's global
generator (dropout), so the second network is built only once hpcinv is done, and each
algorithm then sees the dropout stream of a fresh run.

Equivalence: for the model of the paper algorithm's first iteration, hpcinv's
``executor.misfit_and_gradient`` is compared with the paper's gradient and misfit
(``max_rel_grad_diff_first_iteration`` = max|g_hpcinv - g_paper| / max|g_paper|). A fresh
simulation per iteration, as here, is not affected by SimPEG's stale ``_MBC_sigma`` cache in
``Simulation2DNodal`` (which bites only simulations reused across models, as in their
``train.py``: its gradients drift slightly from the second iteration on; the cost is the same).

Thread counts are left at their defaults (torch's and BLAS's); the load average before and
after each measurement is recorded, since other processes on the machine skew the times.

Run from the repository root::

    .venv/bin/python scripts/bench_inversion.py                         # 2 warm-up + 20 timed
    .venv/bin/python scripts/bench_inversion.py --iterations 5 --out bench_inversion.json

One JSON document goes to stdout (and to ``--out`` if given); progress goes to stderr. Expect
a few minutes, nearly all of it in the paper's algorithm.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from benchkit import Step, finish, log, machine_info, timed_iterations

REPO = Path(__file__).resolve().parent.parent
CASE = "paper-1.1"
RUN_FILE = REPO / "examples" / "paper-1.1.toml"
TARGET_RATIO = 10


# --------------------------------------------------------------------------- the algorithms


def hpcinv_step(run) -> Step:
    """One step of a single run (a ``Stepper`` of one member), as ``hpcinv run`` iterates."""

    def step() -> dict:
        return {"physics_seconds": run.step().records[0].physics_seconds}

    return step


class PaperAlgorithm:
    """The paper's per-iteration algorithm (their ``train.py``) on a given network.

    ``first_iteration`` keeps (m, phi, g) of the first iteration for the equivalence check.
    """

    def __init__(self, problem, config, net: torch.nn.Module):
        from hpcinv.physics.simpeg_reference import simpeg_survey

        self.mesh = problem.mesh
        self.survey, order = simpeg_survey(problem.survey)  # just the survey: built once
        self.dobs = problem.dobs[order]
        self.w = 1.0 / problem.uncertainty[order]
        self.cfg = config.inversion
        self.net = net
        self.optimizer = torch.optim.Adam(net.parameters(), lr=self.cfg.learning_rate)
        self.iteration = 0
        self.first_iteration: tuple[np.ndarray, float, np.ndarray] | None = None

    def new_simulation(self):
        """A new stock simulation (one per iteration; see the module docstring)."""
        import pymatsolver
        import simpeg
        from simpeg.electromagnetics.static.resistivity import Simulation2DNodal

        return Simulation2DNodal(
            self.mesh,
            survey=self.survey,
            sigmaMap=simpeg.maps.ExpMap(self.mesh),
            solver=pymatsolver.SolverLU,
            storeJ=True,
            nky=11,
        )

    def step(self) -> dict:
        t0 = time.perf_counter()
        self.net.train()
        m = self.net()  # float32, dropout on
        m_np = m.detach().double().numpy()
        t1 = time.perf_counter()
        sim = self.new_simulation()
        t2 = time.perf_counter()
        r = sim.dpred(m_np) - self.dobs
        g = sim.Jtvec(m_np, self.w * self.w * r)  # storeJ: forms the full J
        t3 = time.perf_counter()
        b = np.exp(-self.iteration / self.cfg.beta_tau)
        m64 = m.double()
        phi_d_surrogate = (m64 * torch.as_tensor(g)).sum()  # gradient w.r.t. m: g
        loss = (1.0 - b) * phi_d_surrogate + b * (m64 - self.cfg.reference_value).abs().sum()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        t4 = time.perf_counter()
        if self.first_iteration is None:
            wr = self.w * r
            self.first_iteration = (m_np, 0.5 * float(wr @ wr), g)
        self.iteration += 1
        return {
            "build_seconds": t2 - t1,
            "physics_seconds": t3 - t2,
            "network_seconds": (t1 - t0) + (t4 - t3),
        }


def compare_first_iteration(executor, first: tuple[np.ndarray, float, np.ndarray]) -> dict:
    """hpcinv's misfit and gradient against the paper's, on the paper's first model."""
    m, phi_paper, g_paper = first
    phi, g = executor.misfit_and_gradient([m])[0]
    return {
        "max_rel_grad_diff": float(np.max(np.abs(g - g_paper)) / np.max(np.abs(g_paper))),
        "rel_phi_diff": abs(phi - phi_paper) / abs(phi_paper),
    }


# --------------------------------------------------------------------------- main


def run(iterations: int, warmup: int, threads: int) -> dict:
    import dataclasses

    import hpcinv
    from hpcinv.inversion import Member, Stepper

    log(f"{CASE}: building the problem")
    cfg = hpcinv.load_config(str(RUN_FILE))
    # the same threads for both algorithms: the network's (torch, also the paper's network,
    # which runs in this process after the member set them) and hpcinv's tiles' BLAS
    cfg = dataclasses.replace(
        cfg,
        network=dataclasses.replace(cfg.network, threads=threads),
        physics=dataclasses.replace(cfg.physics, threads=threads),
    )
    problem = hpcinv.build_problem(cfg)
    ex = hpcinv.SerialExecutor(problem)
    report = {
        "machine": machine_info(),
        "case": CASE,
        "threads": threads,
        "n_cells": problem.model_grid.n_cells,
        "n_data": problem.n_data,
        "warmup": warmup,
        "iterations": iterations,
    }

    log(f"hpcinv ({problem.solver})")
    inv = Stepper.build(cfg, problem, ex)
    report["hpcinv"] = {
        "solver": problem.solver,
        **timed_iterations(hpcinv_step(inv), warmup, iterations, "hpcinv"),
    }

    log("paper algorithm (new Simulation2DNodal per iteration, SolverLU, storeJ)")
    # built only now: its constructor re-seeds torch's global generator (dropout)
    net = Member(problem, cfg).net
    paper = PaperAlgorithm(problem, cfg, net)
    with warnings.catch_warnings():  # SimPEG's solver-choice and CSC-conversion notes
        warnings.simplefilter("ignore")
        report["paper_algorithm"] = timed_iterations(paper.step, warmup, iterations, "paper")

    check = compare_first_iteration(ex, paper.first_iteration)
    ratio = report["paper_algorithm"]["seconds_median"] / report["hpcinv"]["seconds_median"]
    report.update(
        {
            "ratio_paper_over_hpcinv": ratio,
            "target_ratio": TARGET_RATIO,
            "meets_target": bool(ratio >= TARGET_RATIO),
            "max_rel_grad_diff_first_iteration": check["max_rel_grad_diff"],
            "rel_phi_diff_first_iteration": check["rel_phi_diff"],
        }
    )
    log(
        f"paper {report['paper_algorithm']['seconds_median']:.3f} s vs hpcinv "
        f"{report['hpcinv']['seconds_median']:.3f} s per iteration: ratio {ratio:.2f}; "
        f"first-iteration gradient diff {check['max_rel_grad_diff']:.2e}"
    )
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=20, help="timed iterations per algorithm")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up iterations, not counted")
    ap.add_argument("--out", type=Path, help="also write the JSON to this file")
    ap.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch and BLAS threads of both algorithms (default: the cores)",
    )
    args = ap.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0:
        ap.error("--iterations must be >= 1 and --warmup >= 0")

    t0 = time.perf_counter()
    report = run(args.iterations, args.warmup, args.threads)
    finish(report, t0, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
