"""Planning without solving: every tile's predicted memory and seconds
(``hpcinv.physics.estimate``), whether the tiles fit a worker, the smallest tile count that
would, and a layout of workers and threads for a number of cores. Ensembles add a second
axis: members x tiles tasks a step, placed as the Dask executor places them (tile i's
replica r on worker i + r T, member k on replica k mod R).
"""

from __future__ import annotations

import numpy as np

from hpcinv.engine.placement import replica_homes, replica_of
from hpcinv.errors import SizeError
from hpcinv.physics.estimate import MIB, smallest_fitting_tile_count, tile_estimate
from hpcinv.tiles import TileSpec

__all__ = ["check_tiles_fit", "plan", "suggest_layout", "tile_estimate"]


def check_tiles_fit(tiles: list[TileSpec], worker_memory_bytes: float | None) -> None:
    """Raise ``SizeError`` before any solve if a tile would not fit a worker's memory."""
    if not worker_memory_bytes:
        return
    limit_mib = worker_memory_bytes / MIB
    for spec in tiles:
        est = tile_estimate(spec)
        if est["estimated_memory_mib"] > limit_mib:
            raise SizeError(
                f"tile {spec.index} ({est['n_nodes']} nodes, {est['n_sources']} sources) needs "
                f"an estimated {est['estimated_memory_mib'] / 1024:.2f} GiB but a worker has "
                f"{limit_mib / 1024:.2f} GiB; use more tiles (physics.n_tiles; tensor meshes "
                f"also physics.local_meshes = true), a coarser mesh (mesh.cell_size), or "
                f"workers with more memory (`hpcinv plan CONFIG --worker-memory ...` "
                f"suggests a tile count)"
            )


#: Speed-up of one MUMPS factorization from 2 BLAS threads over 1 on this project's machines
#: (3D nodal, 75k nodes: 1.4x); tiles on separate workers scale ~linearly instead.
_BLAS_TWO_THREAD_SPEEDUP = 1.4


def suggest_layout(tiles: list[dict], cores: int, members: int = 1) -> dict:
    """Workers x BLAS threads for ``cores`` cores: more workers while there are tasks to
    spread (members x tiles a step: tiles and members in parallel scale ~linearly; BLAS
    threads only ~1.4x per doubling, measured), the remaining cores as BLAS threads of each
    worker. The step's factorization time and each worker's memory follow the executor's
    placement: with more workers than tiles each tile gets workers // tiles replicas and
    member k's tasks go to replica k mod R, whose worker keeps that member's factors."""
    n = len(tiles)
    tasks = n * members
    workers = max(1, min(tasks, cores))
    threads = max(1, cores // workers)
    homes = replica_homes(n, workers)
    replicas = len(homes[0])
    loads = [0.0] * workers
    memory = [0.0] * workers
    for tile, tile_homes in zip(tiles, homes):
        held = [0] * replicas  # models each replica of the tile keeps factors for
        for k in range(members):
            held[replica_of(k, replicas)] += 1
        for r, w in enumerate(tile_homes):
            loads[w] += held[r] * tile["estimated_factor_seconds"]
            # the tile's estimate is its operators and one model's factors: a replica keeps
            # the factors of every member it serves (an upper bound)
            memory[w] += held[r] * tile.get("estimated_memory_mib", 0.0)
    speedup = _BLAS_TWO_THREAD_SPEEDUP ** np.log2(threads) if threads > 1 else 1.0
    seconds = max(loads) / speedup
    out = {
        "cores": cores,
        "workers": workers,
        "threads_per_worker": threads,
        "estimated_factor_seconds_per_iteration": round(seconds, 3),
        "why": "one worker per task (members x tiles) up to the core count (tasks scale "
        "~linearly); leftover cores become BLAS threads (~1.4x per doubling)",
    }
    if members > 1:
        out |= {
            "members": members,
            "tasks_per_step": tasks,
            "replicas_per_tile": replicas,
            "estimated_memory_mib_per_worker_max": round(max(memory), 1),
            "estimated_member_iterations_per_second_factor_bound": round(
                members / max(seconds, 1e-9), 3
            ),
        }
    return out


def plan(
    problem,
    worker_memory_bytes: float | None = None,
    make_tiles=None,
    cores: int | None = None,
    members: int = 1,
) -> dict:
    """The plan of ``problem``: its tiles' estimates and, for a worker memory, whether they
    fit and the smallest tile count that would (``make_tiles(n)`` builds n tiles); with
    ``cores``, a layout of workers for ``members`` ensemble members."""
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
        out["suggested_layout"] = suggest_layout(tiles, cores, members)
    if worker_memory_bytes:
        limit_mib = worker_memory_bytes / MIB
        out["worker_memory_mib"] = round(limit_mib, 1)
        out["fits"] = out["estimated_memory_mib_max"] <= limit_mib
        out["suggested_n_tiles"] = None
        if make_tiles is not None:  # the search a run's physics.n_tiles = 0 makes
            out["suggested_n_tiles"] = smallest_fitting_tile_count(make_tiles, limit_mib)[0]
    return out
