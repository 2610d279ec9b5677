"""Planning without solving: per-tile sizes and estimated factorization memory and time.

Estimates (calibrated on this project's 2-core machines, MUMPS on OpenBLAS; they are for
choosing tile counts and refusing impossible tiles, not promises):
* 3D nodal matrices, MUMPS with METIS: factor memory ~ n^(4/3) (223 MB at 74,925 nodes,
  112 MB at 43,400, from MUMPS's own INFOG(22)); time ~ n^2 (about 2 s at 74,925 nodes on two
  cores).
* 2.5D lines, banded Cholesky after reverse Cuthill-McKee: n x (bandwidth + 1) doubles per
  wavenumber, n b^2 flops at ~1.5 GFlop/s (measured ~5 ms per paper-grid matrix).
Fields kept per wavenumber: n_nodes x columns (electrodes or sources) doubles.
"""

from __future__ import annotations

import math

import numpy as np

from hpcinv.errors import TileError
from hpcinv.tiles import TileSpec

MIB = 1024.0**2
_MEM_3D_MB_AT_REF, _TIME_3D_S_AT_REF, _NODES_REF = 223.0, 2.0, 74_925
#: safety factor over the factor + fields estimate: solver workspace, temporaries, Python
_OVERHEAD = 1.5


def tile_estimate(spec: TileSpec) -> dict:
    """Sizes and estimated factor memory (MiB) and seconds of one tile, per model."""
    mesh = spec.mesh.to_mesh()
    n = int(mesh.n_nodes)
    n_k = 1 if spec.ky_points is None else len(spec.ky_points)
    points = np.vstack([spec.src_a, spec.src_b, spec.rx_m, spec.rx_n])
    n_elec = len(np.unique(points[~np.isnan(points).any(axis=1)], axis=0))
    columns = min(n_elec, 2 * spec.n_sources)  # electrode or source basis, whichever is fewer
    if mesh.dim == 3:
        scale = n / _NODES_REF
        factor_mib = _MEM_3D_MB_AT_REF * scale ** (4.0 / 3.0)
        factor_s = _TIME_3D_S_AT_REF * scale**2
    else:
        band = min(mesh.shape_nodes) + 1
        factor_mib = n_k * 8.0 * n * (band + 1) / MIB
        factor_s = n_k * n * band**2 / 1.5e9
    fields_mib = n_k * 8.0 * n * columns / MIB
    return {
        "index": spec.index,
        "n_sources": spec.n_sources,
        "n_data": spec.n_data,
        "n_cells": int(mesh.n_cells),
        "n_nodes": n,
        "n_wavenumbers": n_k,
        "n_electrodes": n_elec,
        "local_mesh": spec.projection is not None,
        "factor_memory_mib": round(factor_mib, 1),
        "fields_memory_mib": round(fields_mib, 1),
        "estimated_memory_mib": round(_OVERHEAD * (factor_mib + fields_mib), 1),
        "estimated_factor_seconds": round(factor_s, 3),
    }


def check_tiles_fit(tiles: list[TileSpec], worker_memory_bytes: float | None) -> None:
    """Raise ``TileError`` before any solve if a tile would not fit a worker's memory."""
    if not worker_memory_bytes:
        return
    limit_mib = worker_memory_bytes / MIB
    for spec in tiles:
        est = tile_estimate(spec)
        if est["estimated_memory_mib"] > limit_mib:
            raise TileError(
                f"tile {spec.index} ({est['n_nodes']} nodes, {est['n_sources']} sources) needs "
                f"an estimated {est['estimated_memory_mib'] / 1024:.2f} GiB but a worker has "
                f"{limit_mib / 1024:.2f} GiB; use more tiles with physics.local_meshes = true, "
                f"or workers with more memory (`hpcinv plan CONFIG --worker-memory ...` "
                f"suggests a tile count)"
            )


#: Speed-up of one MUMPS factorization from 2 BLAS threads over 1 on this project's machines
#: (3D nodal, 75k nodes: 1.4x); tiles on separate workers scale ~linearly instead.
_BLAS_TWO_THREAD_SPEEDUP = 1.4


def suggest_layout(tiles: list[dict], cores: int) -> dict:
    """Workers x BLAS threads for ``cores`` cores: more workers while there are tiles to
    spread (tiles in parallel scale ~linearly; BLAS threads only ~1.4x per doubling, measured),
    the remaining cores as BLAS threads of each worker."""
    n = len(tiles)
    workers = max(1, min(n, cores))
    threads = max(1, cores // workers)
    costs = sorted((t["estimated_factor_seconds"] for t in tiles), reverse=True)
    # longest-processing-time estimate of an iteration's factorization wall time
    loads = [0.0] * workers
    for c in costs:
        loads[loads.index(min(loads))] += c
    speedup = _BLAS_TWO_THREAD_SPEEDUP ** np.log2(threads) if threads > 1 else 1.0
    return {
        "cores": cores,
        "workers": workers,
        "threads_per_worker": threads,
        "estimated_factor_seconds_per_iteration": round(max(loads) / speedup, 3),
        "why": "one worker per tile up to the core count (tiles scale ~linearly); "
        "leftover cores become BLAS threads (~1.4x per doubling)",
    }


def plan(
    problem, worker_memory_bytes: float | None = None, make_tiles=None, cores: int | None = None
) -> dict:
    """The plan of ``problem``: its tiles' estimates and, for a worker memory, whether they
    fit and the smallest tile count that would (``make_tiles(n)`` builds n tiles)."""
    tiles = [tile_estimate(t) for t in problem.tiles]
    out = {
        "problem": problem.name,
        "dim": problem.dim,
        "n_data": problem.n_data,
        "n_cells": problem.model_grid.n_cells,
        "solver": problem.solver,
        "n_tiles": len(tiles),
        "tiles": tiles,
        "estimated_memory_mib_max": max(t["estimated_memory_mib"] for t in tiles),
        "estimated_factor_seconds_per_iteration_serial": round(
            sum(t["estimated_factor_seconds"] for t in tiles), 3
        ),
    }
    if cores:
        out["suggested_layout"] = suggest_layout(tiles, cores)
    if worker_memory_bytes:
        limit_mib = worker_memory_bytes / MIB
        out["worker_memory_mib"] = round(limit_mib, 1)
        out["fits"] = out["estimated_memory_mib_max"] <= limit_mib
        out["suggested_n_tiles"] = None
        if make_tiles is not None:
            n = 1
            while n <= min(256, problem.survey.n_sources):
                try:
                    candidate = make_tiles(n)
                except TileError:
                    break
                if max(tile_estimate(t)["estimated_memory_mib"] for t in candidate) <= limit_mib:
                    out["suggested_n_tiles"] = n
                    break
                n = n * 2 if n < 8 else int(math.ceil(n * 1.5))
    return out
