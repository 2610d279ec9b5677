"""What is solved: built-in synthetic cases and field data become a ``Problem`` (survey with
data and uncertainties, model grid, tiles, true model if known). No dask, no torch."""

from hpcinv.problem.problem import Problem, build_problem, problem_from_survey, simulate

__all__ = ["Problem", "build_problem", "problem_from_survey", "simulate"]
