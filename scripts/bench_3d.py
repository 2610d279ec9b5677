"""3D DIP against the conventional inversion, from run files that name only the data (or
case), the method and the target. Prints JSON.

For each case and method, in one process after the other on the same cores:
* seconds from the start (problem built, data simulated or read) to the first *exact*
  chi <= 1.1 (DIP: a step whose misfit came from the physics, not a linearisation), and to
  the end; iterations; the final chi;
* core MAE against the true model (block-3d);
* coverage: the share of core cells with low coverage (< 1% of the largest cumulative
  sensitivity) that lie more than 2 ln units from the reference model;
* DIP: seconds per network step, per exact step, factorizations per exact step.

Both methods run on ``--workers`` local Dask workers, on the same tiles (the conventional
inversion is SimPEG's IRLS with its data and J from the tiles since 0.11.0; before, stock
SimPEG in this process).

``--ablation`` adds block-3d DIP runs with one setting changed from the 3D defaults each
(the paper's settings, no linearisation, no stage 1, ...; the options measured worse are
removed: README "Removed options").

    .venv/bin/python scripts/bench_3d.py [--cases block-3d century-3d] [--workers 2]
        [--ablation] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
import tomllib
from pathlib import Path

import numpy as np
from benchkit import emit, log

# Nothing that imports torch at the top level: Dask spawns its workers by re-running this
# module as __mp_main__ (see bench_large3d.py).
import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.report import mae_core
from hpcinv.report.anomaly import anomaly_measure

ROOT = Path(__file__).resolve().parent.parent
CENTURY = ROOT / "examples" / "data" / "century" / "dc3d.dat"
TARGET = 1.1
LOW_COVERAGE = 0.01
FAR = 2.0


#: the DIP's Gauss-Newton method (issue 24): the optimiser, the output that starts at m_ref
#: (so no stage 1), 1x1x1 kernels at full resolution (faster products and a better image
#: with Gauss-Newton; worse with Adam: README); everything else the 3D defaults
GAUSS_NEWTON = {
    "inversion": {"optimizer": "gauss-newton", "pretrain": False},
    "network": {"output": "reference-tanh", "finest_kernel": 1},
}


def run_file(case: str, method: str, extra: dict | None = None) -> dict:
    """What a user writes: the data (or case), the method, the target. ``method``:
    "conventional", "dip" (the 3D defaults: Adam on linearisations) or "dip-gn"."""
    problem = {"data": str(CENTURY)} if case == "century-3d" else {"case": case}
    kind = "dip" if method.startswith("dip") else method
    raw: dict = {"problem": problem, "inversion": {"kind": kind, "target_chi": 1.0}}
    if method == "dip-gn":
        extra = {
            section: {**GAUSS_NEWTON.get(section, {}), **(extra or {}).get(section, {})}
            for section in {*GAUSS_NEWTON, *(extra or {})}
        }
    for section, values in (extra or {}).items():
        raw.setdefault(section, {}).update(values)
    return raw


class IterationTimes(logging.Handler):
    """Seconds since ``t0`` at each 'conventional iteration k: chi X' log line, and the
    model of the first iteration at chi <= TARGET (its smooth model, before IRLS makes it
    sparse): the run writes each iteration's model after its line, so it is read from
    result.npz at the next line (or at the end)."""

    def __init__(self, t0: float, result: Path):
        super().__init__(logging.INFO)
        self.t0, self.result, self.marks = t0, result, []
        self.first_fit: np.ndarray | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        found = re.match(r"conventional iteration \d+: chi ([0-9.eE+-]+)", msg)
        if found:
            self.take_first_fit()
            self.marks.append((time.perf_counter() - self.t0, float(found.group(1))))

    def take_first_fit(self) -> None:
        hits = [chi <= TARGET for _, chi in self.marks]
        if self.first_fit is None and hits and hits[-1] and sum(hits) == 1:
            with np.load(self.result) as arrays:
                self.first_fit = arrays["model"].copy()


def _rounded(anomaly: dict | None) -> dict | None:
    if anomaly is None:
        return None
    return {kind: {k: round(v, 3) for k, v in m.items()} for kind, m in anomaly.items()}


def coverage_stats(result, reference: float) -> dict:
    arrays = result.arrays
    coverage = arrays["coverage"]
    core = arrays["core_mask"].astype(bool)
    if "active" in arrays.arrays:
        core &= arrays["active"].astype(bool)
    low = core & (coverage < LOW_COVERAGE * coverage.max())
    far = np.abs(result.model[low] - reference) > FAR
    return {
        "core_cells": int(core.sum()),
        "low_coverage_cells": int(low.sum()),
        "low_coverage_far_fraction": float(far.mean()) if low.any() else 0.0,
    }


def measure(name: str, raw: dict, out: Path, workers: int) -> dict:
    config = config_from_dict(raw)
    kind = config.inversion.kind
    log(f"{name}: {kind} ...")
    t0 = time.perf_counter()
    marks: list[tuple[float, float, int]] = []  # (seconds, chi, iteration) of exact steps
    kwargs: dict = {"overwrite": True, "workers": workers}
    if kind == "dip":

        def hook(inv, rec) -> None:
            if rec.exact:
                marks.append((time.perf_counter() - t0, rec.chi, inv.iteration))

        kwargs.update(hooks=[hook])
        result = hpcinv.run(config, out / name, **kwargs)
    else:
        handler = IterationTimes(t0, out / name / "result.npz")
        logger = logging.getLogger("hpcinv.inversion.conventional")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            result = hpcinv.run(config, out / name, **kwargs)
        finally:
            logger.removeHandler(handler)
        handler.take_first_fit()
        marks = [(s, chi, i + 1) for i, (s, chi) in enumerate(handler.marks)]
        first_fit = handler.first_fit
    wall = time.perf_counter() - t0
    s = result.summary
    hit = next((m for m in marks if m[1] <= TARGET), None)
    row = {
        "case": name,
        "kind": kind,
        "seconds_to_chi_1.1": None if hit is None else round(hit[0], 1),
        "iterations_to_chi_1.1": None if hit is None else hit[2],
        "seconds": round(wall, 1),
        "iterations": s["iterations"],
        "chi": round(s["chi"], 4),
        "mae_core": None if s.get("mae_core") is None else round(s["mae_core"], 4),
        "anomaly": _rounded(s.get("anomaly")),
        "stopped": s.get("stopped"),
        **coverage_stats(result, config.inversion.reference_value),
    }
    if kind == "dip":
        hist = result.history
        row["seconds_per_step_median"] = s["timing"]["seconds_per_iteration_median"]
        row["exact_steps"] = len(marks)
        row["defaults_3d"] = s.get("defaults_3d")
        row["factorizations_per_iteration_max"] = s["factorizations"]["per_iteration_max"]
        row["chi_history_exact"] = [round(m[1], 3) for m in marks]
        del hist
    else:
        row["chi_history"] = [round(m[1], 3) for m in marks]
        if hit is not None and "history_physics_calls" in result.arrays.arrays:
            # predictions (line search) and Jacobians, as the DIP's exact steps count them
            calls = result.arrays["history_physics_calls"]
            row["physics_calls_to_chi_1.1"] = int(calls[hit[2] - 1])
        row["physics_calls"] = s.get("physics_calls")
        if first_fit is not None and result.arrays.get("true_model") is not None:
            # the smooth model IRLS had at its first chi <= 1.1
            problem_arrays = result.arrays
            true, core = problem_arrays["true_model"], problem_arrays["core_mask"].astype(bool)
            row["first_fit"] = {
                "mae_core": round(mae_core(first_fit, true, core), 4),
                "anomaly": _rounded(anomaly_measure(first_fit, true, core)),
            }
    log(f"{name}: {json.dumps({k: v for k, v in row.items() if 'history' not in k})}")
    return row


#: block-3d DIP runs with one thing changed from the 3D defaults each
ABLATIONS = {
    "no linearisation (physics every step)": {"inversion": {"relinearize_every": 1}},
    "relinearise every 40": {"inversion": {"relinearize_every": 40}},
    "no stage 1": {"inversion": {"pretrain": False}},
    "paper's 2D settings": {
        "network": {"channels": [64, 32, 8], "dropout": 0.1, "min_start_cells": 1},
        "inversion": {
            "learning_rate": 1e-4,
            "beta_tau": 1000.0,
            "relinearize_every": 1,
            "pretrain_learning_rate": 1e-3,
        },
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["block-3d", "century-3d"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["conventional", "dip"],
        choices=["conventional", "dip", "dip-gn"],
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a run-file key for the dip-gn runs (a TOML value), e.g. inversion.iterations=40",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--ablation-iterations", type=int, default=600)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench_3d"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gn_extra: dict = {}
    for item in args.set:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        gn_extra.setdefault(section, {})[name] = tomllib.loads(f"v = {value}")["v"]
    rows = []
    for case in args.cases:
        for method in args.methods:
            extra = gn_extra if method == "dip-gn" else None
            rows.append(
                measure(f"{case}-{method}", run_file(case, method, extra), args.runs, args.workers)
            )
    ablation = []
    if args.ablation:
        for label, change in ABLATIONS.items():
            extra = {k: dict(v) for k, v in change.items()}
            extra.setdefault("inversion", {})["iterations"] = args.ablation_iterations
            row = measure(
                "block-3d-" + label.replace(" ", "-").replace("'", ""),
                run_file("block-3d", "dip", extra),
                args.runs,
                args.workers,
            )
            ablation.append({"change": label, **row})
    report = {
        "machine": {"cores": 2, "note": "shared; DIP on local Dask workers, 1 BLAS thread each"},
        "target_chi": TARGET,
        "runs": rows,
        "ablation": ablation,
    }
    for case in args.cases:
        runs = {r["case"][len(case) + 1 :]: r for r in rows if r["case"].startswith(case + "-")}
        conventional = (runs.get("conventional") or {}).get("seconds_to_chi_1.1")
        for method in ("dip", "dip-gn"):
            seconds = (runs.get(method) or {}).get("seconds_to_chi_1.1")
            if seconds and conventional:
                report.setdefault("ratios", {}).setdefault(case, {})[
                    f"conventional_over_{method}_seconds_to_chi_1.1"
                ] = round(conventional / seconds, 2)
    emit(report, args.out)


if __name__ == "__main__":
    main()
