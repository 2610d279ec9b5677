"""Reproduce the DIP-Inv paper's five synthetic cases and tabulate them against the paper.

Runs ``hpcinv run examples/paper-<case>.toml`` (the paper's settings: 2,000 Adam iterations,
lr 1e-4, b_t = exp(-t / tau), dropout 0.1 / 0.05) for each case into ``--runs/<case>``,
then writes a markdown table (case, chi, MAE over the 5,000 core cells, wall time, the
published DIP-Inv and conventional values, and whether the acceptance holds: chi in
[0.8, 1.3] and MAE within +10% of the published DIP-Inv MAE) to ``--table`` and stdout.

    .venv/bin/python scripts/reproduce_paper.py                     # all five, 2 at a time
    .venv/bin/python scripts/reproduce_paper.py --cases 1.1 --iterations 500 --jobs 1

``--conventional`` also runs the SimPEG IRLS baseline of each case (a few minutes each).
Runs whose summary.json already exists with the requested iterations are reused
(``--force`` reruns them).

``--seeds K`` judges the paper over seeds: each case runs as an ensemble of K members
(``[ensemble] members = K``, each member its own network seed and z; member 0 is the run
above) with ``--mc-dropout S`` MC dropout samples of member 0, and the table reports per
case the median and interquartile range of the members' chi and core MAE, the MAE of the
ensemble mean, the calibration (the share of core cells whose true value lies within
mean +- 2 std, for the ensemble and for member 0's MC dropout), the MAE of the background
alone (the reference model, no image at all), and the acceptance by the median. JSON of
the same goes to RUNS/seeds.json.

    .venv/bin/python scripts/reproduce_paper.py --seeds 5 --cases 2.2 1.3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ("1.1", "1.2", "1.3", "2.1", "2.2")
#: Table of the paper: (conventional MAE, DIP-Inv MAE, DIP-Inv chi)
PUBLISHED = {
    "1.1": (0.186, 0.150, 1.08),
    "1.2": (0.183, 0.152, 1.10),
    "1.3": (0.169, 0.156, 1.03),
    "2.1": (0.131, 0.100, 0.93),
    "2.2": (0.053, 0.058, 0.85),
}
#: Acceptance: the published DIP-Inv MAE + 10%, as the DIP-Inv issue states them
MAE_LIMITS = {"1.1": 0.165, "1.2": 0.168, "1.3": 0.172, "2.1": 0.110, "2.2": 0.064}


def run_case(
    case: str,
    kind: str,
    runs: Path,
    iterations: int | None,
    force: bool,
    threads: int,
    seeds: int = 1,
    mc_dropout: int = 0,
) -> dict:
    suffix = {"dip": "", "conventional": "-conventional"}[kind] + (
        f"-seeds{seeds}" if seeds > 1 else ""
    )
    out = runs / f"paper-{case}{suffix}"
    summary_file = out / "summary.json"
    if summary_file.exists() and not force:
        summary = json.loads(summary_file.read_text())
        if kind != "dip" or iterations is None or summary["iterations"] == iterations:
            print(f"[reproduce] reusing {out}", file=sys.stderr)
            return summary
    config = ROOT / "examples" / f"paper-{case}.toml"
    cmd = [sys.executable, "-m", "hpcinv.cli", "run", str(config), "--out", str(out), "--overwrite"]
    if kind == "conventional":
        text = config.read_text().replace('kind = "dip"', 'kind = "conventional"')
        config = runs / f"paper-{case}-conventional.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text)
        cmd[4] = str(config)
    else:
        if seeds > 1:
            config = runs / f"paper-{case}{suffix}.toml"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(
                (ROOT / "examples" / f"paper-{case}.toml").read_text()
                + f"\n[ensemble]\nmembers = {seeds}\nmc_dropout_samples = {mc_dropout}\n"
            )
            cmd[4] = str(config)
        if iterations is not None:
            cmd += ["--iterations", str(iterations)]
    log = runs / f"paper-{case}{suffix}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"[reproduce] {case} {kind}: {' '.join(cmd)}", file=sys.stderr)
    # concurrent cases share the cores: one BLAS/torch thread each avoids oversubscription
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    with open(log, "w") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    print(f"[reproduce] {case} {kind} done in {time.time() - t0:.0f} s", file=sys.stderr)
    return json.loads(summary_file.read_text())


def table(results: dict) -> str:
    rows = [
        "| case | chi | MAE (core) | wall time | s/iteration | paper DIP-Inv chi | "
        "paper DIP-Inv MAE | MAE limit (+10%) | acceptance | conventional MAE (ours / paper) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case, res in results.items():
        s = res["dip"]
        conv_paper, dip_mae, dip_chi = PUBLISHED[case]
        limit = MAE_LIMITS[case]
        ok = 0.8 <= s["chi"] <= 1.3 and s["mae_core"] <= limit
        conv = res.get("conventional")
        conv_txt = f"{conv['mae_core']:.3f} / {conv_paper:.3f}" if conv else f"- / {conv_paper:.3f}"
        wall = s["timing"].get("wall_seconds") or 0.0
        rows.append(
            f"| {case} | {s['chi']:.2f} | {s['mae_core']:.4f} | {wall / 60:.1f} min | "
            f"{s['timing']['seconds_per_iteration_median']:.3f} | {dip_chi:.2f} | "
            f"{dip_mae:.3f} | {limit:.3f} | {'yes' if ok else 'NO'} | {conv_txt} |"
        )
    return "\n".join(rows) + "\n"


def seed_statistics(case: str, run: Path, summary: dict) -> dict:
    """The case judged over its ensemble's members: median and IQR of chi and core MAE, the
    ensemble mean's MAE, calibration of the ensemble and of member 0's MC dropout."""
    with np.load(run / "result.npz") as r:
        arrays = {k: r[k] for k in r.files}
    core = arrays["core_mask"]
    truth = arrays["true_model"][core]

    def calibration(mean: np.ndarray, std: np.ndarray) -> float:
        return float(np.mean(np.abs(truth - mean[core]) <= 2.0 * std[core]))

    ens = summary["ensemble"]
    chi = np.asarray(ens["member_chi"], float)
    mae = np.asarray(ens["member_mae_core"], float)
    out = {
        "case": case,
        "members": len(chi),
        "member_chi": chi.tolist(),
        "member_mae_core": mae.tolist(),
        "chi_median": float(np.median(chi)),
        "chi_iqr": [float(np.percentile(chi, 25)), float(np.percentile(chi, 75))],
        "mae_median": float(np.median(mae)),
        "mae_iqr": [float(np.percentile(mae, 25)), float(np.percentile(mae, 75))],
        "mae_of_mean": float(np.mean(np.abs(arrays["model"][core] - truth))),
        "calibration_ensemble": calibration(arrays["model"], arrays["ensemble_std"]),
        "std_median_ensemble": float(np.median(arrays["ensemble_std"][core])),
        # the reference model alone (ln 0.01 S/m, the background): what no image scores
        "mae_background_alone": float(np.mean(np.abs(np.log(0.01) - truth))),
        "wall_seconds": summary["timing"].get("wall_seconds"),
    }
    if "mc_dropout_std" in arrays:
        out["calibration_mc_dropout"] = calibration(
            arrays["mc_dropout_mean"], arrays["mc_dropout_std"]
        )
        out["std_median_mc_dropout"] = float(np.median(arrays["mc_dropout_std"][core]))
    target = np.abs(truth - np.log(0.01)) > 1e-9  # the cells of the bodies (and layer)
    for name, cells in (("target", target), ("background", ~target)):
        out[f"mae_{name}_cells_median"] = float(
            np.median(
                [np.mean(np.abs(m[core][cells] - truth[cells])) for m in arrays["ensemble_models"]]
            )
        )
    out["target_cells"] = int(target.sum())
    out["accepted_by_median"] = bool(
        0.8 <= out["chi_median"] <= 1.3 and out["mae_median"] <= MAE_LIMITS[case]
    )
    return out


def seeds_table(stats: list[dict]) -> str:
    rows = [
        "| case | members | chi median [IQR] | MAE median [IQR] | MAE of the mean | "
        "MAE limit | accepted (median) | calibration ensemble / MC dropout | "
        "MAE target / background cells | background alone | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in stats:
        mc = s.get("calibration_mc_dropout")
        rows.append(
            f"| {s['case']} | {s['members']} | {s['chi_median']:.2f} "
            f"[{s['chi_iqr'][0]:.2f}, {s['chi_iqr'][1]:.2f}] | {s['mae_median']:.4f} "
            f"[{s['mae_iqr'][0]:.4f}, {s['mae_iqr'][1]:.4f}] | {s['mae_of_mean']:.4f} | "
            f"{MAE_LIMITS[s['case']]:.3f} | {'yes' if s['accepted_by_median'] else 'NO'} | "
            f"{s['calibration_ensemble']:.1%} / {'-' if mc is None else f'{mc:.1%}'} | "
            f"{s['mae_target_cells_median']:.3f} / {s['mae_background_cells_median']:.3f} | "
            f"{s['mae_background_alone']:.4f} | {(s['wall_seconds'] or 0) / 60:.0f} min |"
        )
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--iterations", type=int, help="override the paper's 2,000 iterations")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "reproduce")
    ap.add_argument(
        "--table", type=Path, default=None, help="markdown file (default RUNS/table.md)"
    )
    ap.add_argument("--jobs", type=int, default=2, help="cases run at the same time")
    ap.add_argument("--conventional", action="store_true", help="also run the IRLS baseline")
    ap.add_argument("--force", action="store_true", help="rerun cases that have a summary")
    ap.add_argument(
        "--seeds", type=int, default=1, help="members per case (K > 1: the paper over seeds)"
    )
    ap.add_argument(
        "--mc-dropout", type=int, default=100, help="with --seeds: MC dropout samples of member 0"
    )
    args = ap.parse_args(argv)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    if args.seeds > 1:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {
                c: pool.submit(
                    run_case,
                    c,
                    "dip",
                    args.runs,
                    args.iterations,
                    args.force,
                    threads,
                    args.seeds,
                    args.mc_dropout,
                )
                for c in args.cases
            }
            stats = [
                seed_statistics(c, args.runs / f"paper-{c}-seeds{args.seeds}", f.result())
                for c, f in futures.items()
            ]
        (args.runs / "seeds.json").write_text(json.dumps(stats, indent=2))
        text = seeds_table(stats)
        (args.table or args.runs / "seeds.md").write_text(text)
        print(text)
        return 0
    tasks = [(c, "dip") for c in args.cases]
    if args.conventional:
        tasks += [(c, "conventional") for c in args.cases]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            t: pool.submit(run_case, t[0], t[1], args.runs, args.iterations, args.force, threads)
            for t in tasks
        }
        results: dict = {}
        for (case, kind), fut in futures.items():
            results.setdefault(case, {})[kind] = fut.result()
    text = table({c: results[c] for c in args.cases})
    (args.table or args.runs / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
