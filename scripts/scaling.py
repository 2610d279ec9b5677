"""Strong scaling: seconds per DIP iteration on 1, 2, 4, 8 workers; a table, a plot, JSON.

The problem stays fixed (block-3d by default: 8 source tiles, each on its own local mesh, so
no two workers factor the same matrix) while the number of workers grows. Each point starts
a fresh cluster (a local one, or SLURM worker jobs with ``--slurm``), warms up (tiles built,
caches filled) and takes the median of timed iterations. Parallel efficiency is
t(1) / (n * t(n)). The machine's core count is recorded: workers beyond it are
oversubscribed, and their points measure the scheduler, not the physics.

    .venv/bin/python scripts/scaling.py [--config examples/block-3d.toml] [--tiles 8]
        [--workers 1 2 4 8] [--iterations 3] [--slurm] [--out benchmarks/scaling]

Writes OUT.json, OUT.md (the table) and OUT.png (the plot); prints the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from bench_inversion import hpcinv_step
from benchkit import log, timed_iterations

import hpcinv
from hpcinv.config import load_config
from hpcinv.engine.cluster import SlurmWorkers, local_cluster, slurm_cluster
from hpcinv.engine.dask_executor import DaskExecutor
from hpcinv.inversion import Stepper


def start_cluster(workers: int, slurm: bool, run_dir: Path):
    if not slurm:
        return local_cluster(workers, threads_per_worker=1, dashboard=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = SlurmWorkers(
        jobs=workers,
        cores=1,
        memory="2GiB",
        walltime="00:30:00",
        wait_seconds=300,
        scheduler_host=os.environ.get("HPCINV_SCHEDULER_HOST", "127.0.0.1"),
        log_directory=str(run_dir / "slurm-logs"),
    )
    return slurm_cluster(spec, shared_directory=str(run_dir))


def measure(problem, config, workers: int, args) -> dict:
    # worker-job logs and TLS files go to a scratch run directory, not next to the results
    handle = start_cluster(workers, args.slurm, Path("runs/scaling"))
    try:
        executor = DaskExecutor(problem, handle.client)
        inv = Stepper.build(config, problem, executor)
        timing = timed_iterations(
            hpcinv_step(inv), args.warmup, args.iterations, f"{workers} worker(s)"
        )
        executor.close()
    finally:
        handle.close()
    return {
        "workers": workers,
        "seconds_per_iteration": timing["seconds_median"],
        "physics_seconds": timing["physics_seconds_median"],
        "seconds_all": timing["seconds_all"],
        "loadavg_after": timing["loadavg_after"],
    }


def table(points: list[dict], cores: int) -> str:
    rows = [
        "| workers | s/iteration | speed-up | parallel efficiency | note |",
        "|---:|---:|---:|---:|---|",
    ]
    for p in points:
        note = "oversubscribed: more workers than cores" if p["workers"] > cores else ""
        rows.append(
            f"| {p['workers']} | {p['seconds_per_iteration']:.2f} | "
            f"{p['speedup']:.2f} | {p['efficiency']:.2f} | {note} |"
        )
    return "\n".join(rows) + "\n"


def plot(points: list[dict], cores: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [p["workers"] for p in points]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax1.plot(n, [p["seconds_per_iteration"] for p in points], "o-", label="measured")
    ax1.plot(n, [points[0]["seconds_per_iteration"] / k for k in n], "k--", lw=0.8, label="ideal")
    ax1.set(xscale="log", yscale="log", xlabel="workers", ylabel="seconds per iteration")
    ax2.plot(n, [p["efficiency"] for p in points], "o-")
    ax2.set(xscale="log", xlabel="workers", ylabel="parallel efficiency", ylim=(0, 1.1))
    for ax in (ax1, ax2):
        ax.set_xticks(n, [str(k) for k in n])
        ax.grid(alpha=0.3)
        if max(n) > cores:  # shade the points with more workers than cores
            ax.axvspan(cores + 0.5, max(n) * 1.2, color="0.9", zorder=0)
    ax1.legend()
    if max(n) > cores:
        ax2.text(cores + 0.6, 0.05, "oversubscribed", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="examples/block-3d.toml")
    p.add_argument("--tiles", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--slurm", action="store_true", help="workers as SLURM jobs")
    p.add_argument("--out", default="benchmarks/scaling")
    args = p.parse_args()

    config = load_config(args.config)
    config = dataclasses.replace(
        config,
        physics=dataclasses.replace(config.physics, n_tiles=args.tiles),
        inversion=dataclasses.replace(config.inversion, pretrain=False),
    )
    problem = hpcinv.build_problem(config)
    cores = os.cpu_count() or 1
    log(f"{problem.name}: {len(problem.tiles)} tiles; {cores} cores here", tag="scaling")
    points = [measure(problem, config, n, args) for n in args.workers]
    base = points[0]["seconds_per_iteration"] * points[0]["workers"]
    for pt in points:
        pt["speedup"] = points[0]["seconds_per_iteration"] / pt["seconds_per_iteration"]
        pt["efficiency"] = base / (pt["workers"] * pt["seconds_per_iteration"])
        pt["oversubscribed"] = pt["workers"] > cores
    result = {
        "problem": problem.name,
        "config": args.config,
        "n_tiles": len(problem.tiles),
        "cluster": "slurm" if args.slurm else "local",
        "cores": cores,
        "threads_per_worker": 1,
        "iterations_timed": args.iterations,
        "points": points,
        "note": f"{cores} cores: points with more workers than cores are oversubscribed",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(table(points, cores))
    plot(
        points,
        cores,
        out.with_suffix(".png"),
        f"{problem.name}, {len(problem.tiles)} tiles, {result['cluster']} cluster, {cores} cores",
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
