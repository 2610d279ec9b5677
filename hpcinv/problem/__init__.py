"""What is solved: built-in synthetic cases and field data become a ``Problem`` (survey with
data and uncertainties, model grid, tiles, true model if known). No dask, no torch."""

from hpcinv.problem.build import build_problem
from hpcinv.problem.problem import (
    Problem,
    ProblemInfo,
    problem_from_survey,
    problem_tiles,
    simulate,
)

__all__ = [
    "Problem",
    "ProblemInfo",
    "build_problem",
    "problem_from_survey",
    "problem_tiles",
    "simulate",
]
