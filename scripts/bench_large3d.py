"""Real-size 3D on this machine: the grid-3d case (576 electrodes, 4,224 data, 11 m of
relief) on octree tiles, against stock SimPEG on the same global octree. Prints JSON.

* planned peak memory per worker (``hpcinv plan``'s tile estimate; one tile per worker)
  and measured (each worker's VmHWM after the iterations); target <= 4 GiB;
* seconds of one DIP iteration (network + physics + Adam) with 2 workers x 1 BLAS thread,
  median over ``--iterations`` after a warm-up; target <= 20 s;
* stock SimPEG (``fields``, ``dpred``, ``Jtvec(f=)``, MUMPS, one process) on the global
  octree with the same survey: seconds per call, median over ``--repeats`` models; target
  ratio stock / DIP iteration >= 3;
* the tiles' data against the global octree's (true model): what tiling costs in accuracy;
* a projection to 5,184 electrodes, 50,400 data and 64 nodes: that survey's octrees and 64
  tiles built and planned for real, seconds scaled from this run's measurement (seconds
  per iteration and memory per node);
* ``--only-field-file``: grid-3d's data as a pyGIMLi file, run by ``hpcinv.run`` with 2
  workers from a run file that names only the file (what it picks, seconds per iteration).

    .venv/bin/python scripts/bench_large3d.py [--iterations 5] [--repeats 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

# Nothing that imports torch at the top level: Dask spawns its workers by re-running this
# module as __mp_main__, and torch there would add ~140 MiB to every worker's measured peak
# (workers of `hpcinv run` never import it).
from bench_physics import in_child, measure_stock
from benchkit import emit, log, peak_rss_mib, timed_iterations

import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.engine.cluster import local_cluster
from hpcinv.engine.dask_executor import DaskExecutor
from hpcinv.engine.plan import tile_estimate
from hpcinv.problem.cases import grid_3d_case, grid_survey
from hpcinv.problem.problem import AIR_LOG_CONDUCTIVITY
from hpcinv.problem.site import octree_site, octree_tiles, predict_on_tiles
from hpcinv.survey import Survey

GIB = 1024.0


def grid_config(n_tiles: int):
    return config_from_dict(
        {
            "problem": {"case": "grid-3d", "noise_percent": 3.0},
            "physics": {"n_tiles": n_tiles},
        }
    )


def dip_iterations(problem, config, iterations: int) -> dict:
    from bench_inversion import hpcinv_step  # imports torch: only here, not in the workers

    from hpcinv.inversion import Stepper

    handle = local_cluster(2, threads_per_worker=1, dashboard=False)
    try:
        executor = DaskExecutor(problem, handle.client)
        inv = Stepper.build(config, problem, executor)
        timed = timed_iterations(hpcinv_step(inv), 1, iterations, "grid-3d DIP, 2 workers")
        timed["peak_rss_mib_per_worker"] = sorted(handle.client.run(peak_rss_mib).values())
        timed["tile_seconds_last"] = {
            i: round(s["seconds"], 3) for i, s in executor.tile_stats.items()
        }
        timed["counters"] = executor.counters()
        return timed
    finally:
        handle.close()


def stock_on_global(problem, site, repeats: int) -> dict:
    """Stock SimPEG on the global octree, the model on its cells (air fixed), one process."""
    rng = np.random.default_rng(0)
    ms = [
        np.where(
            site.active,
            np.log(0.01) + 0.01 * rng.standard_normal(site.mesh.n_cells),
            AIR_LOG_CONDUCTIVITY,
        )
        for _ in range(repeats + 1)
    ]
    reference = SimpleNamespace(
        mesh=site.mesh, survey=problem.survey, dobs=problem.dobs, uncertainty=problem.uncertainty
    )
    out = in_child(measure_stock, reference, ms, "mumps", False)
    out.pop("results", None)
    out["seconds_median"] = statistics.median(out["seconds_all"])
    out["n_cells"] = int(site.mesh.n_cells)
    out["n_nodes"] = int(site.mesh.n_nodes)
    return out


def tiling_error(problem, site) -> dict:
    """Data of the true model on the tile octrees vs the global octree (both from the true
    model evaluated on their own cells)."""
    case = grid_3d_case()
    geometry = Survey(problem.survey.electrodes, problem.survey.abmn)
    one = octree_tiles(
        site, geometry, n_tiles=1, solver="mumps", inactive_value=AIR_LOG_CONDUCTIVITY
    )
    d_global = predict_on_tiles(one, problem.n_data, case.model)
    rel = np.abs(problem.clean_data - d_global) / np.abs(d_global)
    return {
        "median": float(np.median(rel)),
        "p95": float(np.percentile(rel, 95)),
        "max": float(rel.max()),
    }


def projection(config, measured: dict, tile_nodes_here: int) -> dict:
    """5,184 electrodes (72 lines of 72, grid-3d's spacing and surface), 50,400 data, 64
    nodes: the meshes and tiles are built and planned for real (geometry only, MUMPS's
    analysis of the largest tile), the seconds scaled from this run's measurement.

    One tile per node (64 tiles of ~81 electrodes, one BLAS thread each: conservative, a
    node's other cores left idle). Seconds per iteration = the largest tile's measured
    seconds here x its planned (factor + solve) seconds over those of this run's tiles, plus
    this run's overhead (network on a model grid capped at 60,000 core cells, Adam, round
    trips), which does not grow with the survey.
    """
    from hpcinv.physics.estimate import tile_estimate

    survey = grid_survey(72, 72, 2.0, 3.0)
    t = time.perf_counter()
    site = octree_site(survey.electrodes, survey.abmn, None, config.mesh)
    tiles = octree_tiles(
        site,
        Survey(site.electrodes, survey.abmn),
        n_tiles=64,
        solver="mumps",
        inactive_value=AIR_LOG_CONDUCTIVITY,
    )
    build = time.perf_counter() - t
    nodes = [t.mesh.to_mesh().n_nodes for t in tiles]
    largest = tile_estimate(tiles[int(np.argmax(nodes))])
    here = measured["planned_tiles"]
    here_seconds = max(p["estimated_factor_seconds"] + p["estimated_solve_seconds"] for p in here)
    scale = (largest["estimated_factor_seconds"] + largest["estimated_solve_seconds"]) / (
        here_seconds
    )
    tile_seconds = max(measured["tile_seconds_last"].values())
    overhead = measured["seconds_median"] - tile_seconds
    return {
        "electrodes": int(survey.electrodes.shape[0]),
        "data": int(survey.n_data),
        "nodes": 64,
        "tiles": len(tiles),
        "global_octree_cells": int(site.mesh.n_cells),
        "model_grid_cells": [int(n) for n in site.grid.shape_cells],
        "tile_nodes_min_max": [int(min(nodes)), int(max(nodes))],
        "tile_nodes_here_max": tile_nodes_here,
        "largest_tile": largest,
        "geometry_build_seconds": round(build, 1),
        "seconds_per_iteration": round(tile_seconds * scale + overhead, 2),
        "memory_per_node_gib": round(largest["estimated_memory_mib"] / GIB, 2),
        "why": "one tile per node; the largest tile's measured seconds scaled by its planned "
        "seconds, plus this run's overhead",
    }


def field_file_run(problem, iterations: int) -> dict:
    """grid-3d's data written as a pyGIMLi unified file, run from a run file that names only
    the file: what ``hpcinv run --workers 2`` picks (mesh kind, model grid, tiles) and the
    seconds of its iterations."""
    import tempfile

    from hpcinv.readers import write_survey

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "grid.ohm"
        write_survey(problem.survey, data, "pygimli")
        run_file = Path(tmp) / "grid.toml"
        run_file.write_text(f'[problem]\ndata = "{data.name}"\n')
        t = time.perf_counter()
        result = hpcinv.run(run_file, Path(tmp) / "out", iterations=iterations, workers=2)
        wall = time.perf_counter() - t
        summary = result.summary
        notes = summary.get("field_data", {})
    return {
        "run_file": "[problem] data = only",
        "mesh_kind": notes.get("mesh_kind"),
        "mesh_cells": notes.get("mesh_cells"),
        "model_grid_cells": notes.get("model_grid_cells"),
        "n_tiles": summary["n_tiles"],
        "n_tiles_why": notes.get("n_tiles"),
        "iterations": summary["iterations"],
        "chi_last": summary["chi"],
        "seconds_per_iteration_median": summary["timing"]["seconds_per_iteration_median"],
        "wall_seconds_with_setup": round(wall, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--only-field-file", action="store_true", help="just the field-file run (section 6)"
    )
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--projection-from",
        default="",
        help="redo only the projection from this script's earlier JSON (rewritten in place)",
    )
    args = parser.parse_args(argv)
    out: dict = {"case": "grid-3d"}
    if args.projection_from:
        out = json.loads(Path(args.projection_from).read_text())
        measured = {**out["dip_two_workers"], "planned_tiles": out["tiles"]}
        nodes_here = max(p["n_nodes"] for p in out["tiles"])
        out["projection"] = projection(grid_config(2), measured, nodes_here)
        Path(args.projection_from).write_text(json.dumps(out, indent=2, default=float) + "\n")
        print(json.dumps(out["projection"], indent=2, default=float))
        return 0
    if args.only_field_file:
        problem = hpcinv.build_problem(grid_config(2))
        out["field_file_run"] = field_file_run(problem, args.iterations)
        emit(out, args.out, default=float)
        return 0

    config = grid_config(2)
    t = time.perf_counter()
    problem = hpcinv.build_problem(config)
    out["build_seconds"] = round(time.perf_counter() - t, 2)
    out["n_data"] = problem.n_data
    out["n_electrodes"] = int(problem.survey.electrodes.shape[0])
    out["model_grid_cells"] = [int(n) for n in problem.model_grid.shape]
    log(f"built grid-3d in {out['build_seconds']} s")
    planned = [tile_estimate(spec) for spec in problem.tiles]
    out["tiles"] = planned
    out["planned_peak_mib_per_worker"] = max(p["estimated_memory_mib"] for p in planned)

    log("DIP iterations on 2 workers")
    out["dip_two_workers"] = dip_iterations(problem, config, args.iterations)
    out["measured_peak_mib_per_worker"] = max(out["dip_two_workers"]["peak_rss_mib_per_worker"])

    case = grid_3d_case()
    site = octree_site(case.survey.electrodes, case.survey.abmn, case.topography, config.mesh)
    out["global_octree_cells"] = int(site.mesh.n_cells)
    log("stock SimPEG on the global octree")
    out["stock_simpeg_global"] = stock_on_global(problem, site, args.repeats)
    log("tile meshes against the global octree")
    out["tile_data_error_vs_global"] = tiling_error(problem, site)

    dip = out["dip_two_workers"]["seconds_median"]
    physics = out["dip_two_workers"]["physics_seconds_median"]
    stock = out["stock_simpeg_global"]["seconds_median"]
    out["ratio_stock_over_dip_iteration"] = round(stock / dip, 2)
    out["ratio_stock_over_physics"] = round(stock / physics, 2)
    out["plan_memory_ratio"] = round(
        out["planned_peak_mib_per_worker"] / out["measured_peak_mib_per_worker"], 3
    )
    log("projection: planning a 5,184-electrode grid on 64 tiles")
    measured = {**out["dip_two_workers"], "planned_tiles": planned}
    out["projection"] = projection(config, measured, max(p["n_nodes"] for p in planned))
    out["targets"] = {
        "peak_gib_per_worker": 4.0,
        "dip_iteration_seconds": 20.0,
        "stock_over_dip_iteration": 3.0,
    }
    emit(out, args.out, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
