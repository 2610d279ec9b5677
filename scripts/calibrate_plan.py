"""Plan against measurement: for tiles of several sizes, what ``hpcinv plan`` predicts (peak
memory of a worker doing the tile's work, factorization seconds, solve seconds) and what
one iteration's work (forward + gradient) measures on a fresh local Dask worker. Prints
JSON; the constants of ``hpcinv.physics.estimate`` come from these numbers.

    python scripts/calibrate_plan.py [--cases grid-3d:1,grid-3d:2,block-3d:1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchkit import emit, peak_rss_mib


def _work_on_worker(spec) -> dict:
    """One iteration's work of ``spec`` (forward, then the gradient) on this worker, and the
    worker's peak memory (VmHWM, not ru_maxrss: a process started by fork + exec inherits
    its parent's ru_maxrss)."""
    import numpy as np

    from hpcinv.physics import TilePhysics

    n_model = (
        spec.projection.shape[1] if spec.projection is not None else spec.mesh.to_mesh().n_cells
    )
    physics = TilePhysics(spec)
    m = np.full(n_model, np.log(0.01))
    t0 = time.perf_counter()
    d = physics.predict(m)
    physics.jtvec(m, np.ones_like(d))
    seconds = time.perf_counter() - t0
    return {
        "peak_mib": peak_rss_mib(),
        "factor_seconds": physics.timings.factor,
        "solve_seconds": physics.timings.solve,
        "iteration_seconds": seconds,
        "streamed": physics.streamed,
        "basis": physics.basis,
    }


def measure(spec) -> dict:
    """What a fresh Dask worker (one thread, as hpcinv runs them) measures doing ``spec``'s
    work for one model: its peak memory, baseline included, and the seconds."""
    from hpcinv.engine.cluster import local_cluster

    handle = local_cluster(1, threads_per_worker=1, dashboard=False)
    try:
        return handle.client.submit(_work_on_worker, spec, pure=False).result()
    finally:
        handle.close()


def main(argv=None) -> int:
    import hpcinv
    from hpcinv.config import config_from_dict
    from hpcinv.engine.plan import tile_estimate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="grid-3d:1,grid-3d:2,grid-3d:4,block-3d:1,block-3d:2")
    parser.add_argument("--fields-memory", default="", help="physics.fields_memory, e.g. 64MiB")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    rows = []
    for item in args.cases.split(","):
        case, n_tiles = item.split(":")
        physics = {"n_tiles": int(n_tiles)}
        if case == "block-3d" and int(n_tiles) > 1:
            physics["local_meshes"] = True
        if args.fields_memory:
            physics["fields_memory"] = args.fields_memory
        config = config_from_dict({"problem": {"case": case}, "physics": physics})
        spec = hpcinv.build_problem(config, with_data=False).tiles[0]
        plan = tile_estimate(spec)
        got = measure(spec)
        rows.append(
            {
                "case": case,
                "n_tiles": int(n_tiles),
                **{k: plan[k] for k in ("n_nodes", "n_electrodes", "n_sources", "streamed")},
                "planned_memory_mib": plan["estimated_memory_mib"],
                "measured_peak_mib": round(got["peak_mib"], 1),
                "memory_ratio": round(plan["estimated_memory_mib"] / got["peak_mib"], 3),
                "planned_factor_seconds": plan["estimated_factor_seconds"],
                "measured_factor_seconds": round(got["factor_seconds"], 3),
                "factor_ratio": round(plan["estimated_factor_seconds"] / got["factor_seconds"], 3),
                "planned_solve_seconds": plan["estimated_solve_seconds"],
                "measured_solve_seconds": round(got["solve_seconds"], 3),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    emit({"tiles": rows}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
