"""How far one Gauss-Newton step on the network's weights can reach at the first anchor, and
how far its linearisation holds (issue 24). Prints JSON.

At the first anchor of the Gauss-Newton DIP (the 3D defaults with ``optimizer =
"gauss-newton"``, ``output = "reference-tanh"``, ``finest_kernel = 1``; J kept by the tiles
on ``--workers`` local Dask workers), for each Krylov depth k: the undamped step's
linearised data misfit (the least any damping of that space reaches) and the seconds the
space took; then, from the deepest space, steps aimed at target' + q (phi0 - target') and
their true misfits from the physics (where they differ, the linearisation does not hold
that far).

    .venv/bin/python scripts/krylov_depth.py [--case block-3d] [--depths 10 20 30 60]
        [--reference-ratio R] [--workers 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from benchkit import emit, log, machine_info

import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.driver.resolve import resolve_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="block-3d")
    ap.add_argument("--depths", type=int, nargs="+", default=[10, 20, 30, 60])
    ap.add_argument("--aims", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    ap.add_argument(
        "--reference-ratio",
        type=float,
        help="inversion.gn_reference_ratio (0: no reference rows; default: the run file's)",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()

    import torch
    from torch.func import functional_call

    from hpcinv.engine.cluster import local_cluster
    from hpcinv.engine.dask_executor import DaskExecutor
    from hpcinv.inversion import Member
    from hpcinv.inversion.gauss_newton import TARGET_MARGIN, _unflatten

    raw = {
        "problem": {"case": args.case},
        "network": {"output": "reference-tanh", "finest_kernel": 1},
        "inversion": {
            "kind": "dip",
            "optimizer": "gauss-newton",
            "pretrain": False,
            "target_chi": 1.0,
        },
    }
    if args.reference_ratio is not None:
        raw["inversion"]["gn_reference_ratio"] = args.reference_ratio
    config = config_from_dict(raw)
    problem = hpcinv.build_problem(config)
    config = resolve_config(config, problem).config
    cluster = local_cluster(args.workers, threads_per_worker=1, dashboard=False)
    executor = DaskExecutor(problem, cluster.client)

    def phi_of(d: np.ndarray) -> float:
        r = (d - problem.dobs) / problem.uncertainty
        return 0.5 * float(r @ r)

    member = Member(problem, config)
    member.start()
    need = member.begin()
    t0 = time.perf_counter()
    kept = executor.keep_jacobian(need.model, need.dtype)
    jacobian_seconds = time.perf_counter() - t0
    member.finish((kept.d, kept))  # the anchor, mu calibrated as in a run
    method = member.method
    phi0 = method.anchor.phi
    floor = TARGET_MARGIN * config.inversion.target_chi * problem.n_data / 2
    depths = []
    for k in args.depths:
        method.cfg = dataclasses.replace(method.cfg, gn_krylov_iterations=k)
        t0 = time.perf_counter()
        projected = method._krylov(member, 0.0)  # no early stop: the whole depth
        depths.append(
            {
                "krylov_iterations": k,
                "undamped_linearised_phi": projected.phi(0.0),
                "seconds": time.perf_counter() - t0,
            }
        )
        log(f"{args.case}: depth {k}: {depths[-1]}")
    net = member.net
    buffers = dict(net.named_buffers())
    weights = method.anchor.weights
    steps, models = [], []
    for q in [None, *args.aims]:  # None: the undamped step
        aim = projected.phi(0.0) if q is None else floor + q * (phi0 - floor)
        damping = 0.0 if q is None else projected.damping_for(aim)
        dtheta = _unflatten(projected.step(damping), weights)
        trial = {k: weights[k] + dtheta[k] for k in weights}
        with torch.no_grad():
            out = functional_call(net, (trial, buffers), ())
            models.append(member.fixed(out.double()).cpu().numpy())
        steps.append({"q": q, "linearised_phi": projected.phi(damping)})
    for step, d in zip(steps, executor.predict(models)):
        step["true_phi"] = phi_of(d)
    cluster.close()
    emit(
        {
            "script": "scripts/krylov_depth.py",
            "machine": machine_info(),
            "case": args.case,
            "gn_reference_ratio": config.inversion.gn_reference_ratio,
            "n_data": problem.n_data,
            "n_weights": sum(p.numel() for p in weights.values()),
            "phi0": phi0,
            "target_floor": floor,
            "reference_weight": method.reference_weight,
            "jacobian_seconds": jacobian_seconds,
            "depths": depths,
            "steps_from_deepest": steps,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
