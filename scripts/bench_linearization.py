"""What a linearised step costs and how far its misfit and gradient are from the physics'.

On block-3d with the 3D defaults (serial), after ``--warmup`` network steps, each of the
next K steps is compared with the physics at the same model: the relative error of phi_d
and of the model-space gradient ||g_lin - g|| / ||g||, and the seconds of a linearised step
against an exact one (renewal: data + J) and against a step that solves the physics
(misfit_and_gradient, the paper's loop). Prints JSON.

    .venv/bin/python scripts/bench_linearization.py [--warmup 40] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from benchkit import emit

import hpcinv
from hpcinv.config import config_from_dict, with_3d_defaults
from hpcinv.inversion import Stepper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="block-3d")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    config, _ = with_3d_defaults(config_from_dict({"problem": {"case": args.case}}))
    problem = hpcinv.build_problem(config)
    executor = hpcinv.SerialExecutor(problem)
    run = Stepper.build(config, problem, executor)
    run.start()  # stage 1
    run.run(args.warmup)
    inv = run.members[0]
    K = config.inversion.relinearize_every
    rows = []
    for _ in range(K):
        rec = run.step().records[0]
        with torch.no_grad():
            m = inv._output()
        m_lin = m.clone().requires_grad_()
        phi_lin = inv.method.linearization.misfit(m_lin)
        phi_lin.backward()
        g_lin = m_lin.grad.numpy()
        t0 = time.perf_counter()
        phi, g = executor.misfit_and_gradient([m.numpy()])[0]
        exact_seconds = time.perf_counter() - t0
        rows.append(
            {
                # updates of the network since the model of the linearisation in use
                "updates_since_renewal": (inv.iteration - 1) % K + 1,
                "step_seconds": round(rec.seconds, 3),
                "physics_step_seconds": round(exact_seconds, 3),
                "phi_relative_error": float(abs(phi_lin.item() - phi) / phi),
                "gradient_relative_error": float(np.linalg.norm(g_lin - g) / np.linalg.norm(g)),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    renewal = [r for r in rows if r["updates_since_renewal"] == 1]  # its step renewed it
    report = {
        "case": args.case,
        "relinearize_every": K,
        "warmup_steps": args.warmup,
        "rows": rows,
        "median_linearised_step_seconds": float(
            np.median([r["step_seconds"] for r in rows if r["updates_since_renewal"] != 1])
        ),
        "renewal_step_seconds": renewal[0]["step_seconds"] if renewal else None,
        "median_physics_step_seconds": float(np.median([r["physics_step_seconds"] for r in rows])),
        "factorizations_per_step": 1.0 / K,
        "n_data": problem.n_data,
        "n_cells": problem.model_grid.n_cells,
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
