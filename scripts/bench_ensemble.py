"""Ensemble throughput: K DIP members of one problem on the same workers, stepped together
(their physics in one batch), against K = 1. Prints JSON.

For each case and K: wall seconds of ``--iterations`` ensemble steps after the first step
(setup and the first factorizations behind; no stage 1), and the throughput in
member-iterations per second; the ratio to K = 1. Run files name only the case, so 3D
cases take the 3D defaults (linearised steps, renewed every 20). Members run on
``--workers`` local Dask workers (1 BLAS thread each), the networks in this process.

    .venv/bin/python scripts/bench_ensemble.py [--cases paper-1.1 block-3d] [--members 1 4 8]
        [--iterations 20] [--workers 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

# Nothing that imports torch at the top level: Dask spawns its workers by re-running this
# module as __mp_main__ (see bench_large3d.py).
import hpcinv
from hpcinv.config import config_from_dict


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measure(case: str, members: int, iterations: int, workers: int, runs: Path) -> dict:
    raw = {
        "problem": {"case": case},
        # stage 1 is network-only and the same per member: left out of a throughput test
        "inversion": {"iterations": iterations + 1, "pretrain": False},
        "ensemble": {"members": members},
        "checkpoint": {"every": 10_000},
        "output": {"progress": "none"},
    }
    marks: list[float] = []

    def hook(ensemble, records) -> None:
        marks.append(time.perf_counter())

    t0 = time.perf_counter()
    if members == 1:  # a plain run: its hooks get (inversion, record)
        result = hpcinv.run(
            config_from_dict(raw),
            runs / f"{case}-{members}",
            overwrite=True,
            workers=workers,
            hooks=[lambda inv, rec: marks.append(time.perf_counter())],
        )
    else:
        result = hpcinv.run(
            config_from_dict(raw),
            runs / f"{case}-{members}",
            overwrite=True,
            workers=workers,
            hooks=[hook],
        )
    wall = time.perf_counter() - t0
    # from the end of the first step (stage 1, caches and the first factorizations behind)
    seconds = marks[-1] - marks[0]
    row = {
        "case": case,
        "members": members,
        "steps_timed": len(marks) - 1,
        "seconds": round(seconds, 2),
        "member_iterations_per_second": round(members * (len(marks) - 1) / seconds, 3),
        "wall_with_setup": round(wall, 1),
        "chi": result.summary["chi"],
    }
    log(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["paper-1.1", "block-3d"])
    parser.add_argument("--members", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench_ensemble"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = [
        measure(case, k, args.iterations, args.workers, args.runs)
        for case in args.cases
        for k in args.members
    ]
    ratios = {}
    for case in args.cases:
        base = next(r for r in rows if r["case"] == case and r["members"] == 1)
        ratios[case] = {
            str(r["members"]): round(
                r["member_iterations_per_second"] / base["member_iterations_per_second"], 2
            )
            for r in rows
            if r["case"] == case
        }
    report = {
        "script": "scripts/bench_ensemble.py",
        "machine": {"cores": 2, "workers": args.workers, "note": "shared machine, one run"},
        "iterations_timed": args.iterations,
        "runs": rows,
        "throughput_over_one_member": ratios,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
