"""Benchmark the distributed engine on this machine and print JSON.

block-3d (one ``misfit_and_gradient``, median over ``--repeats`` models, each new so every
tile refactors):
  (a) stock SimPEG on the global mesh, one process (fields, dpred, Jtvec; MUMPS);
  (b) hpcinv serial, global mesh, one tile;
  (c) hpcinv on 2 local Dask workers x 1 BLAS thread, global mesh, 2 source tiles;
  (d) hpcinv on 2 workers x 1 thread with local tile meshes (2 and 4 tiles);
  ratios a/c and a/d, the overhead fraction (wall time not covered by the busiest worker's
  tile work), the peak memory of each worker, and the local meshes' data error against the
  global mesh (true model).
paper-1.1 (one DIP iteration, network + physics + Adam, median):
  hpcinv on 1 and on 2 workers (wavenumber tiles) against the paper's own per-iteration
  algorithm (a new SimPEG simulation with SuperLU and storeJ=True, Jtvec, surrogate loss).
oversubscribed: block-3d, 16 local tiles on 8 workers (4 per core here): the overhead
  fraction shows what the scheduler costs when there are many more tasks than cores.

    .venv/bin/python scripts/bench_engine.py [--repeats 3] [--out runs/bench_engine.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from bench_inversion import PaperAlgorithm, hpcinv_step
from bench_physics import in_child, measure_stock
from benchkit import emit, log, peak_rss_mib, timed_iterations

import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.engine.cluster import local_cluster
from hpcinv.engine.dask_executor import DaskExecutor
from hpcinv.engine.plan import tile_estimate
from hpcinv.inversion import Member, Stepper


def block_config(n_tiles: int, local: bool):
    return config_from_dict(
        {"problem": {"case": "block-3d"}, "physics": {"n_tiles": n_tiles, "local_meshes": local}}
    )


def models(n_cells: int, repeats: int) -> list[np.ndarray]:
    return [np.full(n_cells, np.log(0.01)) + 1e-3 * i for i in range(repeats + 1)]


def time_serial(problem, ms) -> dict:
    ex = hpcinv.SerialExecutor(problem)
    ex.misfit_and_gradient([ms[0]])[0]
    seconds = []
    for m in ms[1:]:
        t = time.perf_counter()
        ex.misfit_and_gradient([m])[0]
        seconds.append(time.perf_counter() - t)
    return {
        "seconds_median": statistics.median(seconds),
        "seconds_all": seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def time_dask(problem, client, ms, label) -> dict:
    ex = DaskExecutor(problem, client)
    ex.misfit_and_gradient([ms[0]])[0]  # warm-up: builds every tile on its worker
    seconds, overheads = [], []
    for m in ms[1:]:
        t = time.perf_counter()
        ex.misfit_and_gradient([m])[0]
        wall = time.perf_counter() - t
        busy: dict[str, float] = {}
        for stats in ex.tile_stats.values():
            busy[stats["worker"]] = busy.get(stats["worker"], 0.0) + stats["seconds"]
        seconds.append(wall)
        overheads.append(max(0.0, 1.0 - max(busy.values()) / wall))
        log(f"  {label}: {wall:.2f} s, overhead {overheads[-1]:.3f}")
    rss = client.run(peak_rss_mib)
    tiles = [tile_estimate(t) for t in problem.tiles]
    return {
        "seconds_median": statistics.median(seconds),
        "seconds_all": seconds,
        "overhead_fraction_median": statistics.median(overheads),
        "peak_rss_mib_per_worker": sorted(rss.values()),
        "n_tiles": len(problem.tiles),
        "tile_nodes": [t["n_nodes"] for t in tiles],
        "tile_seconds_last": {i: round(s["seconds"], 3) for i, s in ex.tile_stats.items()},
    }


def block_3d(repeats: int) -> dict:
    out = {}
    glob = hpcinv.build_problem(block_config(1, False))
    ms = models(glob.model_grid.n_cells, repeats)
    log("block-3d (a) stock SimPEG")
    stock = in_child(measure_stock, glob, ms, "mumps", True)
    out["a_stock_simpeg"] = {
        "seconds_median": statistics.median(stock["seconds_all"]),
        "seconds_all": stock["seconds_all"],
        "peak_rss_mib": stock["peak_rss_mib"],
    }
    log("block-3d (b) hpcinv serial")
    out["b_hpcinv_serial"] = in_child(time_serial, glob, ms)
    handle = local_cluster(2, threads_per_worker=1, dashboard=False)
    try:
        log("block-3d (c) 2 workers, global mesh")
        out["c_two_workers_global"] = time_dask(
            hpcinv.build_problem(block_config(2, False)), handle.client, ms, "(c)"
        )
        for n in (2, 4):
            log(f"block-3d (d) 2 workers, local meshes, {n} tiles")
            local = hpcinv.build_problem(block_config(n, True))
            out[f"d_two_workers_local_{n}_tiles"] = time_dask(local, handle.client, ms, f"(d{n})")
            d_local = hpcinv.SerialExecutor(local).predict([glob.true_model])[0]
            rel = np.abs(d_local - glob.clean_data) / np.abs(glob.clean_data)
            out[f"d_two_workers_local_{n}_tiles"]["data_error_vs_global"] = {
                "median": float(np.median(rel)),
                "p95": float(np.percentile(rel, 95)),
                "max": float(rel.max()),
            }
    finally:
        handle.close()
    a = out["a_stock_simpeg"]["seconds_median"]
    best_d = min((v["seconds_median"], k) for k, v in out.items() if k.startswith("d_"))
    out["ratio_a_over_b"] = a / out["b_hpcinv_serial"]["seconds_median"]
    out["ratio_a_over_c"] = a / out["c_two_workers_global"]["seconds_median"]
    out["ratio_a_over_d"] = a / best_d[0]
    out["best_d"] = best_d[1]
    out["ratio_c_over_b_seconds"] = (
        out["c_two_workers_global"]["seconds_median"] / out["b_hpcinv_serial"]["seconds_median"]
    )
    out["targets"] = {"a_over_d": 4.0, "overhead_fraction": 0.05}
    return out


def paper_iteration(iterations: int, warmup: int) -> dict:
    out = {}
    for workers in (1, 2):
        cfg = config_from_dict(
            {
                "problem": {"case": "paper-1.1"},
                "physics": {"n_tiles": workers, "split": "wavenumbers"},
                "network": {"dropout": 0.1},
            }
        )
        problem = hpcinv.build_problem(cfg)
        handle = local_cluster(workers, threads_per_worker=1, dashboard=False)
        try:
            inv = Stepper.build(cfg, problem, DaskExecutor(problem, handle.client))
            out[f"hpcinv_{workers}_workers"] = timed_iterations(
                hpcinv_step(inv), warmup, iterations, f"paper-1.1 {workers} worker(s)"
            )
        finally:
            handle.close()
    cfg = config_from_dict({"problem": {"case": "paper-1.1"}, "network": {"dropout": 0.1}})
    problem = hpcinv.build_problem(cfg)
    net = Member(problem, cfg).net
    paper = PaperAlgorithm(problem, cfg, net)
    out["paper_algorithm"] = timed_iterations(paper.step, 1, max(3, iterations // 4), "paper")
    p = out["paper_algorithm"]["seconds_median"]
    one = out["hpcinv_1_workers"]["seconds_median"]
    two = out["hpcinv_2_workers"]["seconds_median"]
    out["ratio_paper_over_2_workers"] = p / two
    out["ratio_1_over_2_workers"] = one / two
    out["targets"] = {"paper_over_2_workers": 18.0, "one_over_two_workers": 1.7}
    return out


def oversubscribed(repeats: int) -> dict:
    problem = hpcinv.build_problem(block_config(16, True))
    ms = models(problem.model_grid.n_cells, repeats)
    handle = local_cluster(8, threads_per_worker=1, dashboard=False)
    try:
        return time_dask(problem, handle.client, ms, "16 tiles / 8 workers")
    finally:
        handle.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=12, help="timed DIP iterations")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    t0 = time.time()
    result = {
        "machine": {"cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg()},
        "block_3d": block_3d(args.repeats),
        "paper_1_1": paper_iteration(args.iterations, 2),
        "oversubscribed_16_tiles_8_workers": oversubscribed(args.repeats),
    }
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["total_seconds"] = time.time() - t0
    emit(result, args.out, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
