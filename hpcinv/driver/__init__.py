"""The run driver: ``run`` and ``resume`` wire a problem, an executor, an inversion,
checkpoints and the summary; the Python API and the command line both call them."""

from hpcinv.driver.cluster import ClusterChoice
from hpcinv.driver.result import Result
from hpcinv.driver.runs import load_run_config, resume, run

__all__ = ["ClusterChoice", "Result", "load_run_config", "resume", "run"]
