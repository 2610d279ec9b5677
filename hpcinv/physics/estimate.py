"""What a tile will cost before it is solved: sizes, predicted peak memory and seconds.

3D tiles on MUMPS are planned from MUMPS's own analysis of the tile's matrix (the ordering
only, ~1 s at 10^5 unknowns): its in-core memory estimate and its flop count. Around them,
constants measured on this project's 2-core machines (``scripts/calibrate_plan.py``,
``benchmarks/calibrate-plan.json``):

* peak memory of a worker doing a tile = a worker's own baseline + the tile's operators
  (per node) + MUMPS's estimate + the fields kept (none when streamed) + the chunks of
  right-hand sides and gradient products in flight;
* factorization seconds = ordering (per node) + flops at a measured rate; solve seconds =
  solved columns x 4 flops per factor entry at a measured (memory-bound) rate.

2.5D lines (banded Cholesky after reverse Cuthill-McKee): n x (bandwidth + 1) doubles per
wavenumber, n b^2 flops at ~1.5 GFlop/s (measured ~5 ms per paper-grid matrix).
``analyse=False`` skips the analysis (tile-count searches): factor memory ~ n^(4/3) and time
~ n^2 from block-3d's tensor mesh (223 MB and 2 s at 74,925 nodes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hpcinv.errors import TileError
from hpcinv.physics.tile import CHUNK_BYTES
from hpcinv.tiles import TileSpec, tile_electrodes

MIB = 1024.0**2
_MEM_3D_MB_AT_REF, _TIME_3D_S_AT_REF, _NODES_REF = 223.0, 2.0, 74_925
#: a Dask worker's resident memory before any tile (Python, NumPy, SciPy, SimPEG,
#: distributed). Workers of ``hpcinv run`` do not import torch; a worker spawned from a
#: script that imports torch at its top level re-imports it (spawn re-runs ``__main__``)
#: and starts ~140 MiB higher (measured)
BASE_MIB = 150.0
#: the tile's operators and the mesh's own cached operators, bytes per node: a TreeMesh
#: keeps far more (hanging-node projections, face and edge maps) than a TensorMesh
OPS_BYTES_PER_NODE = {"octree": 2600.0, "tensor": 600.0}
#: chunks in flight at the peak (a right-hand-side block, its solution, MUMPS's copy)
CHUNKS_IN_FLIGHT = 3
#: MUMPS on one OpenBLAS thread here: ordering seconds per node, factorization flop rate,
#: and the (memory-bound) rate of the triangular solves
ORDER_SECONDS_PER_NODE = 1.0e-5
FACTOR_FLOPS_PER_SECOND = 9.0e9
SOLVE_FLOPS_PER_SECOND = 6.0e9


def tile_estimate(spec: TileSpec, *, analyse: bool = True) -> dict:
    """Sizes, predicted peak memory (MiB) of a worker doing this tile, and seconds of one
    factorization and of one iteration's solves."""
    mesh = spec.mesh.to_mesh()
    n = int(mesh.n_nodes)
    n_k = 1 if spec.ky_points is None else len(spec.ky_points)
    n_elec = len(tile_electrodes(spec))
    electrode_basis = n_elec <= 2 * spec.n_sources
    columns = n_elec if electrode_basis else spec.n_sources
    streamed = mesh.dim == 3 and 8.0 * n * columns * n_k > spec.max_fields_bytes
    # solved columns per iteration: forward, then the adjoint (source basis) or the
    # streamed gradient's eigenvector solves (electrode basis needs none when kept)
    solved = n_elec * 2 if streamed else (columns if electrode_basis else 2 * columns)
    fields_mib = 0.0 if streamed else n_k * 8.0 * n * columns / MIB
    analysis = None
    if mesh.dim == 3 and spec.solver == "mumps" and analyse:
        analysis = _analysis(spec)
        factor_mib = analysis["memory_bytes"] / MIB
        factor_s = ORDER_SECONDS_PER_NODE * n + analysis["flops"] / FACTOR_FLOPS_PER_SECOND
        solve_s = solved * 4.0 * analysis["factor_entries"] / SOLVE_FLOPS_PER_SECOND
    elif mesh.dim == 3:
        scale = n / _NODES_REF
        factor_mib = _MEM_3D_MB_AT_REF * scale ** (4.0 / 3.0)
        factor_s = _TIME_3D_S_AT_REF * scale**2
        solve_s = solved * 4.0 * factor_mib * MIB / 12.0 / SOLVE_FLOPS_PER_SECOND
    else:
        band = min(mesh.shape_nodes) + 1
        factor_mib = n_k * 8.0 * n * (band + 1) / MIB
        factor_s = n_k * n * band**2 / 1.5e9
        solve_s = n_k * solved * 4.0 * n * band / 1.5e9
    chunk_mib = min(CHUNK_BYTES, 8.0 * n * columns) / MIB
    ops_mib = OPS_BYTES_PER_NODE[spec.mesh.kind] * n / MIB
    peak = BASE_MIB + ops_mib + factor_mib + fields_mib + CHUNKS_IN_FLIGHT * chunk_mib
    return {
        "index": spec.index,
        "n_sources": spec.n_sources,
        "n_data": spec.n_data,
        "n_cells": int(mesh.n_cells),
        "n_nodes": n,
        "mesh_kind": spec.mesh.kind,
        "n_wavenumbers": n_k,
        "n_electrodes": n_elec,
        "local_mesh": spec.projection is not None,
        "streamed": bool(streamed),
        "mumps_analysis": analysis is not None,
        "factor_memory_mib": round(factor_mib, 1),
        "fields_memory_mib": round(fields_mib, 1),
        "estimated_memory_mib": round(peak, 1),
        "estimated_factor_seconds": round(factor_s, 3),
        "estimated_solve_seconds": round(solve_s, 3),
    }


def _analysis(spec: TileSpec) -> dict:
    from hpcinv.physics.operators import build_operators
    from hpcinv.physics.solvers import mumps_analysis

    ops = build_operators(spec)
    # the pattern is all the analysis reads; any positive conductivity gives it
    (A,) = ops.system_matrices(np.full(ops.n_cells, 0.01))
    return mumps_analysis(A)


def largest_tile_memory_mib(tiles: list[TileSpec]) -> float:
    """Predicted peak memory of the tile with the most nodes (one MUMPS analysis, not one
    per tile: tile-count searches build many candidates)."""
    largest = max(tiles, key=lambda t: t.mesh.to_mesh().n_nodes)
    return tile_estimate(largest)["estimated_memory_mib"]


#: tile counts a search tries, smallest first (a run's ``physics.n_tiles = 0`` and ``hpcinv
#: plan``'s suggestion both take the first that fits)
TILE_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def smallest_fitting_tile_count(
    make_tiles: Callable[[int], list[TileSpec]], budget_mib: float, least: int = 1
) -> tuple[int | None, float]:
    """(the smallest count of ``TILE_COUNTS``, at least ``least``, whose largest tile is
    planned within ``budget_mib``; that tile's MiB). (None, the last largest MiB) when none
    fits, or when ``make_tiles(n)`` refuses a count (``TileError``: more tiles than
    sources). Geometry only: no solve."""
    largest = 0.0
    for n in (n for n in TILE_COUNTS if n >= least):
        try:
            tiles = make_tiles(n)
        except TileError:
            break
        largest = largest_tile_memory_mib(tiles)
        if largest <= budget_mib:
            return n, largest
    return None, largest
