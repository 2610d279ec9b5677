"""``build_problem``: the problem a run config describes, synthetic or from field data."""

from __future__ import annotations

from dataclasses import replace

from hpcinv.config import RunConfig, memory_bytes
from hpcinv.problem.field import field_problem
from hpcinv.problem.problem import Problem
from hpcinv.problem.synthetic import synthetic_problem


def build_problem(config: RunConfig, *, with_data: bool = True) -> Problem:
    """Build the problem a config describes; synthetic cases get their data simulated here.

    ``with_data=False`` builds geometry and tiles only, without a solve (``hpcinv plan``).
    """
    if config.problem.data:
        problem = field_problem(config, with_data=with_data)
    else:
        problem = synthetic_problem(config, with_data=with_data)
    budget = float(memory_bytes(config.physics.fields_memory, "physics.fields_memory"))
    if all(t.max_fields_bytes == budget for t in problem.tiles):
        return problem
    return replace(problem, tiles=[replace(t, max_fields_bytes=budget) for t in problem.tiles])
