"""Torch on top of the executor interface: generators, the autograd bridge, the loop.

No dask here: executors come in through their ``misfit_and_gradient`` interface.
"""

from hpcinv.inversion.bridge import DataMisfit, data_misfit
from hpcinv.inversion.ensemble import EnsembleInversion, member_config
from hpcinv.inversion.initial_weights import initial_state, load_initial_weights
from hpcinv.inversion.loop import DipInversion, History, IterationRecord, resolve_device
from hpcinv.inversion.networks import CNN3D, PaperCNN2D, build_generator

__all__ = [
    "DataMisfit",
    "data_misfit",
    "DipInversion",
    "EnsembleInversion",
    "member_config",
    "History",
    "IterationRecord",
    "resolve_device",
    "CNN3D",
    "PaperCNN2D",
    "build_generator",
    "initial_state",
    "load_initial_weights",
]
