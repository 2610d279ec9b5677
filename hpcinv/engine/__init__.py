"""Running tiles: building a problem from a config and executing its tiles.

``SerialExecutor`` is the reference every other executor must match exactly.
"""

from hpcinv.engine.problem import Problem, build_problem, problem_from_survey, simulate
from hpcinv.engine.serial import SerialExecutor

__all__ = ["Problem", "build_problem", "problem_from_survey", "simulate", "SerialExecutor"]
