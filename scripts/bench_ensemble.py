"""Ensemble throughput: K DIP members of one problem on the same workers, stepped together
(their physics in one batch), against K = 1. Prints JSON.

For each case and K: wall seconds of ``--iterations`` ensemble steps after the first step
(setup and the first factorizations behind; no stage 1), and the throughput in
member-iterations per second; the ratio to K = 1. Run files name only the case, so 3D
cases take the 3D defaults (linearised steps, renewed every 20). Members run on
``--workers`` local Dask workers (1 BLAS thread each), the networks in this process.

A weak-scaling projection to ``--nodes`` (default up to 64) follows from the per-task costs
K = 1 measures: the workers' seconds of tile tasks per member-step (MUMPS's factor and solve
counters), the round trip (a step's physics wall time beyond its tasks) and the driver's
seconds of network per member-step. At N nodes of ``--cores-per-node`` single-thread
workers, K = N x cores / tiles members fill them (members x tiles tasks a step); with the
driver's network passes pipelined against the tasks, a step takes
max(K x network, K x task seconds / workers + round trip) + one network pass. Printed for
the driver's CPU (measured here) and for a GPU (the H200's seconds per network pass from
benchmarks/bench_network_h200_*.json, one member at a time, not batched).

    .venv/bin/python scripts/bench_ensemble.py [--cases paper-1.1 block-3d] [--members 1 4 8]
        [--iterations 20] [--workers 2] [--nodes 1 4 16 64] [--cores-per-node 16] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

from benchkit import emit, log

# Nothing that imports torch at the top level: Dask spawns its workers by re-running this
# module as __mp_main__ (see bench_large3d.py).
import hpcinv
from hpcinv.config import config_from_dict


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
    records: list = []  # K = 1: each step's record
    first: list = []  # member 0, the first member a hook sees

    def hook(member, rec) -> None:  # called for each member's record: mark member 0's
        if not first:
            first.append(member)
        if member is first[0]:
            marks.append(time.perf_counter())
            if members == 1:
                records.append(rec)

    t0 = time.perf_counter()
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
    if records:  # per-task costs for the projection, from the steps after the first
        timed = records[1:]
        steps = len(timed)
        # worker seconds of the tile tasks per step (factorizations and solves, every step
        # alike: the first builds the tiles besides, which these seconds leave out)
        task = result.summary["timing"]["solve_seconds"] / len(records)
        physics = sum(r.physics_seconds for r in timed) / steps
        tiles = result.summary["n_tiles"]
        row["costs_per_member_step"] = {
            "task_worker_seconds": round(task, 4),
            # beyond the tasks themselves (spread over min(tiles, workers) workers)
            "round_trip_seconds": round(max(physics - task / min(tiles, workers), 0.0), 4),
            "network_seconds": round(
                statistics.median(r.seconds - r.physics_seconds for r in timed), 4
            ),
            "tiles": tiles,
        }
    log(json.dumps(row))
    return row


def project(costs: dict, nodes: list[int], cores_per_node: int, gpu_network: float | None):
    """Weak scaling from per-task costs (see the module docstring)."""
    tiles = costs["tiles"]
    rows = []
    base: dict[str, float] = {}
    for n in nodes:
        workers = n * cores_per_node
        members = max(1, workers // tiles)
        physics = members * costs["task_worker_seconds"] / workers + costs["round_trip_seconds"]
        row = {"nodes": n, "workers": workers, "members": members}
        drivers = {"cpu": costs["network_seconds"]}
        if gpu_network is not None:
            drivers["gpu"] = gpu_network
        for name, net in drivers.items():
            step = max(members * net, physics) + net
            rate = members / step
            base.setdefault(name, rate / n)
            row[f"{name}_driver"] = {
                "step_seconds": round(step, 3),
                "member_iterations_per_second": round(rate, 2),
                "efficiency": round(rate / (n * base[name]), 3),
                "bound_by": "driver network passes" if members * net > physics else "physics",
            }
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["paper-1.1", "block-3d"])
    parser.add_argument("--members", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench_ensemble"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--nodes", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--cores-per-node", type=int, default=16)
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
    projection = {}
    for case in args.cases:
        base = next(r for r in rows if r["case"] == case and r["members"] == 1)
        gpu_file = (
            Path(__file__).resolve().parents[1]
            / "benchmarks"
            / (f"bench_network_h200_{case.replace('paper-1.1', 'paper11').replace('-', '')}.json")
        )
        gpu = json.loads(gpu_file.read_text())["cuda_s"] if gpu_file.exists() else None
        projection[case] = {
            "costs_per_member_step": base["costs_per_member_step"],
            "gpu_network_seconds": gpu,
            "weak_scaling": project(
                base["costs_per_member_step"], args.nodes, args.cores_per_node, gpu
            ),
        }
    report = {
        "script": "scripts/bench_ensemble.py",
        "machine": {"cores": 2, "workers": args.workers, "note": "shared machine, one run"},
        "iterations_timed": args.iterations,
        "runs": rows,
        "throughput_over_one_member": ratios,
        "projection": {
            "cores_per_node": args.cores_per_node,
            "model": "members = workers // tiles; step = max(members x network, members x "
            "task / workers + round trip) + network",
            "cases": projection,
        },
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
