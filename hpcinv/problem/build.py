"""``build_problem``: the problem a run config describes, synthetic or from field data."""

from __future__ import annotations

import logging
from dataclasses import replace

from hpcinv.config import RunConfig, memory_bytes
from hpcinv.errors import SizeError
from hpcinv.physics.memory import ADVICE
from hpcinv.problem.field import field_problem
from hpcinv.problem.problem import Problem
from hpcinv.problem.synthetic import synthetic_problem

log = logging.getLogger(__name__)


def build_problem(config: RunConfig, *, with_data: bool = True) -> Problem:
    """Build the problem a config describes; synthetic cases get their data simulated here.

    ``with_data=False`` builds geometry and tiles only, without a solve (``hpcinv plan``).
    ``physics.n_tiles = 0`` is resolved here (``auto_tile_count``) and noted in the
    problem's notes.
    """
    if config.physics.n_tiles == 0:
        n_tiles, why = auto_tile_count(config)
        config = replace(config, physics=replace(config.physics, n_tiles=n_tiles))
        problem = build_problem(config, with_data=with_data)
        problem.info.notes["n_tiles"] = {"auto": n_tiles, "why": why}
        log.info("physics.n_tiles = 0: %d tile(s), %s", n_tiles, why)
        return problem
    if config.problem.data:
        problem = field_problem(config, with_data=with_data)
    else:
        problem = synthetic_problem(config, with_data=with_data)
    budget = float(memory_bytes(config.physics.fields_memory, "physics.fields_memory"))
    if all(t.max_fields_bytes == budget for t in problem.tiles):
        return problem
    return replace(problem, tiles=[replace(t, max_fields_bytes=budget) for t in problem.tiles])


#: octree tiles are cut to about this many electrodes at most: a tile's solves cost its
#: nodes x its electrodes, and its octree is fine only at its own electrodes, so smaller
#: tiles cost less in all until their meshes stop shrinking (grid-3d: one tile of 576
#: electrodes 5-6 s of tile work, two of 288 1.6 + 1.8 s, measured)
TILE_ELECTRODES = 300


def auto_tile_count(config: RunConfig) -> tuple[int, str]:
    """(tile count, why) for ``physics.n_tiles = 0``: one for tensor meshes (as before
    octrees); for octrees at least one tile per ``TILE_ELECTRODES`` electrodes, and then the
    fewest whose largest tile is planned within ``physics.tile_memory`` (geometry only, no
    solve). It depends on the problem and the run file only, never on the workers."""
    from hpcinv.physics.estimate import TILE_COUNTS, smallest_fitting_tile_count

    def geometry(n: int) -> Problem:
        physics = replace(config.physics, n_tiles=n)
        return build_problem(replace(config, physics=physics), with_data=False)

    first = geometry(1)
    if first.tiles[0].mesh.kind == "tensor":
        return 1, "tensor mesh: one tile"
    n_electrodes = first.survey.electrodes.shape[0]
    least = -(-n_electrodes // TILE_ELECTRODES)
    budget_mib = memory_bytes(config.physics.tile_memory, "physics.tile_memory") / 2**20
    n, largest_mib = smallest_fitting_tile_count(
        lambda k: (first if k == 1 else geometry(k)).tiles, budget_mib, least
    )
    if n is None:
        raise SizeError(
            f"no tile count up to {TILE_COUNTS[-1]} fits physics.tile_memory = "
            f"{config.physics.tile_memory} (the largest tile is planned at {largest_mib:.0f} "
            f"MiB); {ADVICE}"
        )
    return n, (
        f"octree tiles of at most ~{TILE_ELECTRODES} electrodes ({n_electrodes} in all), the "
        f"largest planned within physics.tile_memory ({largest_mib:.0f} MiB of "
        f"{budget_mib:.0f} MiB)"
    )
