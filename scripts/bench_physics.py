"""Benchmark hpcinv's misfit-and-gradient against stock SimPEG on the same problems.

For each case (``paper-1.1``, 2.5D, and ``block-3d``, 3D) this measures, in one run:

* **hpcinv**: wall seconds of one ``SerialExecutor(problem).misfit_and_gradient(m)`` call;
  also factorizations, solves and factor/solve seconds per call (from
  ``executor.counters()``), the solver chosen (``problem.solver``) and the tile count.
* **stock SimPEG**, "the usual way", on the same mesh, survey, data and models::

      f = sim.fields(m); d = sim.dpred(m, f=f)
      r = W * (d - dobs); phi = 0.5 * r @ r; g = sim.Jtvec(m, W * r, f=f)

  with ``W = 1 / uncertainty`` and ``sim`` from
  ``hpcinv.physics.simpeg_reference.simpeg_simulation``; with MUMPS (SimPEG's recommended
  solver) for every case, and also with SuperLU for ``paper-1.1``.

  SimPEG 0.25's ``Simulation2DNodal`` does not clear its cached Robin-boundary derivative
  ``_MBC_sigma`` (built from ``sigmaDeriv``) when the model changes (``Simulation3DNodal``
  does), so a reused 2.5D simulation returns gradients that drift from the true ones (about
  5e-4 relative after two 1e-3 model steps). The stock step therefore drops that cache before
  each call (a few sparse products; a no-op in 3D, where SimPEG drops it itself);
  ``--stock-stale-cache`` keeps SimPEG's behaviour as is.

Every measurement does one warm-up call (not counted) and then ``--repeats`` timed calls, each
on a different model ``m0 + 1e-3 * i`` (m0 = ln 0.01 everywhere), so no factorization is reused
from a cache; the median is reported. Each measurement runs in its own freshly spawned child
process, which receives the already-built problem (so building it, which simulates the data, is
not counted) and reports its own peak RSS (``VmHWM``) in MiB; the measurements are therefore
independent of one another. The parent compares phi and g between hpcinv and each stock
variant (``max_rel_grad_diff`` = max over calls of max|g_hpcinv - g_stock| / max|g_hpcinv|)
and reports stock/hpcinv time ratios; the headline ratio uses the fastest stock variant.

Thread counts: stock SimPEG runs with the machine's default BLAS threads, hpcinv with
``physics.threads`` = ``os.cpu_count()`` (the same); the count and the thread environment
variables are recorded.

Run from the repository root::

    .venv/bin/python scripts/bench_physics.py                       # both cases, 5 repeats
    .venv/bin/python scripts/bench_physics.py --cases paper-1.1 --repeats 7 --out bench.json

One JSON document goes to stdout (and to ``--out`` if given); progress goes to stderr. Expect a
few minutes in total, most of it in ``block-3d``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from benchkit import finish, log, machine_info, peak_rss_mib

REPO = Path(__file__).resolve().parent.parent

#: case name -> (run file, stock solvers to time, target stock/hpcinv ratio)
CASES = {
    "paper-1.1": ("examples/paper-1.1.toml", ("mumps", "superlu"), 2.0),
    "block-3d": ("examples/block-3d.toml", ("mumps",), 1.1),
}
M0_SIGMA = 0.01  # starting conductivity, S/m
MODEL_STEP = 1e-3  # models m0 + MODEL_STEP * i, one per call


# --------------------------------------------------------------------------- problem set-up


def build_problem(case: str, n_tiles: int):
    """The case's problem from its example run file, with physics.n_tiles overridden and on
    the global mesh (this benchmark compares single-process physics on the same mesh as
    stock SimPEG; local tile meshes are the engine benchmark's subject)."""
    import hpcinv
    from hpcinv.config import config_from_dict

    path = REPO / CASES[case][0]
    raw = tomllib.loads(path.read_text())
    # the machine's BLAS threads, as stock SimPEG gets them (hpcinv's default is 1: a run
    # file fixes the count so results do not depend on the layout)
    raw.setdefault("physics", {}).update(
        n_tiles=n_tiles, local_meshes=False, threads=os.cpu_count() or 1
    )
    return hpcinv.build_problem(config_from_dict(raw, path=str(path)))


def models(n_cells: int, repeats: int) -> list[np.ndarray]:
    """repeats + 1 distinct models; the first is for the warm-up call."""
    m0 = np.full(n_cells, np.log(M0_SIGMA))
    return [m0 + MODEL_STEP * i for i in range(repeats + 1)]


# --------------------------------------------------------------------------- child processes


def _timed_calls(
    step, ms: list[np.ndarray], label: str, after_warmup=None
) -> tuple[list[float], list]:
    """Warm up with ms[0], call after_warmup(), then time step(m) for each of ms[1:].

    Returns (seconds, [(phi, g)]) of the timed calls.
    """
    t = time.perf_counter()
    step(ms[0])
    log(f"  {label}: warm-up {time.perf_counter() - t:.2f} s")
    if after_warmup is not None:
        after_warmup()
    seconds, results = [], []
    for i, m in enumerate(ms[1:], 1):
        t = time.perf_counter()
        phi, g = step(m)
        seconds.append(time.perf_counter() - t)
        results.append((float(phi), np.asarray(g, dtype=np.float64)))
        log(f"  {label}: call {i}/{len(ms) - 1} {seconds[-1]:.2f} s")
    return seconds, results


def measure_hpcinv(problem, ms: list[np.ndarray]) -> dict:
    """Run in a child: time SerialExecutor.misfit_and_gradient."""
    import hpcinv

    ex = hpcinv.SerialExecutor(problem)
    before = {}
    seconds, results = _timed_calls(
        ex.misfit_and_gradient, ms, "hpcinv", after_warmup=lambda: before.update(ex.counters())
    )
    after = ex.counters()
    n = len(seconds)
    per_call = {
        f"{k}_per_call": (after[k] - before[k]) / n
        for k in ("factorizations", "solves", "factor_seconds", "solve_seconds")
        if k in after
    }
    ex.close()
    return {
        "seconds_all": seconds,
        "results": results,
        "peak_rss_mib": peak_rss_mib(),
        "solver": problem.solver,
        "n_tiles": len(problem.tiles),
        **per_call,
    }


def measure_stock(problem, ms: list[np.ndarray], solver: str, clear_stale: bool) -> dict:
    """Run in a child: time stock SimPEG fields + dpred + Jtvec on the same problem."""
    from hpcinv.physics.simpeg_reference import simpeg_simulation

    sim, order = simpeg_simulation(problem.mesh, problem.survey, solver=solver)
    dobs = problem.dobs[order]
    w = 1.0 / problem.uncertainty[order]

    def step(m):
        if clear_stale:
            sim._MBC_sigma = None  # stale across models in Simulation2DNodal (see above)
        f = sim.fields(m)
        d = sim.dpred(m, f=f)
        r = w * (d - dobs)
        return 0.5 * float(r @ r), sim.Jtvec(m, w * r, f=f)

    seconds, results = _timed_calls(step, ms, f"stock {solver}")
    return {
        "seconds_all": seconds,
        "results": results,
        "peak_rss_mib": peak_rss_mib(),
        "solver": solver,
        "cleared_stale_MBC_sigma": clear_stale,
    }


def in_child(fn, *args) -> dict:
    """fn(*args) in a freshly spawned process (its own peak RSS, no shared caches).

    Its ``peak_rss_mib`` is VmHWM: the child's ru_maxrss would be this process's peak when
    that is larger (ru_maxrss survives the spawn's execve)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


# --------------------------------------------------------------------------- one case


def compare(ref: list, other: list) -> dict:
    """Max relative differences of phi and g over matching calls."""
    grad = max(
        float(np.max(np.abs(g1 - g2)) / np.max(np.abs(g1))) for (_, g1), (_, g2) in zip(ref, other)
    )
    phi = max(abs(p1 - p2) / abs(p1) for (p1, _), (p2, _) in zip(ref, other))
    return {"max_rel_grad_diff": grad, "max_rel_phi_diff": phi}


def summarize(measured: dict) -> dict:
    out = {k: v for k, v in measured.items() if k != "results"}
    out["seconds_median"] = statistics.median(measured["seconds_all"])
    return out


def run_case(case: str, repeats: int, n_tiles: int, clear_stale: bool) -> dict:
    _, stock_solvers, target = CASES[case]
    log(f"{case}: building the problem ({n_tiles} tile(s))")
    problem = build_problem(case, n_tiles)
    ms = models(problem.model_grid.n_cells, repeats)

    log(f"{case}: hpcinv ({problem.solver})")
    h = in_child(measure_hpcinv, problem, ms)
    out = {"n_data": problem.n_data, "n_cells": problem.model_grid.n_cells, "hpcinv": summarize(h)}
    ratios, diffs = {}, {}
    for solver in stock_solvers:
        log(f"{case}: stock SimPEG ({solver})")
        s = in_child(measure_stock, problem, ms, solver, clear_stale)
        key = f"stock_{solver}"
        out[key] = summarize(s)
        diffs[key] = compare(h["results"], s["results"])
        out[key].update(diffs[key])
        ratios[key] = out[key]["seconds_median"] / out["hpcinv"]["seconds_median"]
        log(
            f"{case}: {key} {out[key]['seconds_median']:.3f} s vs hpcinv "
            f"{out['hpcinv']['seconds_median']:.3f} s: ratio {ratios[key]:.2f}, "
            f"grad diff {diffs[key]['max_rel_grad_diff']:.2e}"
        )
    headline = min(ratios.values())  # the fastest stock variant
    out.update(
        {
            "ratio_stock_over_hpcinv": headline,
            "ratio_variant": min(ratios, key=ratios.get),
            "ratio_by_variant": ratios,
            "max_rel_grad_diff": max(d["max_rel_grad_diff"] for d in diffs.values()),
            "max_rel_phi_diff": max(d["max_rel_phi_diff"] for d in diffs.values()),
            "target_ratio": target,
            "meets_target": bool(headline >= target),
        }
    )
    return out


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per measurement")
    ap.add_argument("--tiles", type=int, default=1, help="physics.n_tiles for hpcinv")
    ap.add_argument("--out", type=Path, help="also write the JSON to this file")
    ap.add_argument(
        "--stock-stale-cache",
        action="store_true",
        help="keep SimPEG's stale _MBC_sigma across models (gradients drift in 2.5D)",
    )
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.tiles < 1:
        ap.error("--repeats and --tiles must be >= 1")

    t0 = time.perf_counter()
    report = {
        "machine": machine_info(),
        "repeats": args.repeats,
        "n_tiles": args.tiles,
        "cases": {},
    }
    for case in args.cases:
        report["cases"][case] = run_case(
            case, args.repeats, args.tiles, clear_stale=not args.stock_stale_cache
        )
    finish(report, t0, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
