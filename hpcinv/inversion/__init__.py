"""Torch on top of the executor interface: generators, the autograd bridge, members and
their methods, the stepper that batches their needs.

No dask here: executors come in through their batched calls (``misfit_and_gradient``,
``jacobian``).
"""

from hpcinv.inversion.bridge import PhysicsMisfit, physics_misfit
from hpcinv.inversion.device import resolve_device, set_network_threads
from hpcinv.inversion.history import History, IterationRecord
from hpcinv.inversion.initial_weights import initial_state, load_initial_weights
from hpcinv.inversion.member import Member
from hpcinv.inversion.needs import LinearizationNeed, MisfitNeed, Need, PredictionNeed
from hpcinv.inversion.networks import CNN3D, PaperCNN2D, build_generator
from hpcinv.inversion.stepper import Step, Stepper, member_config

__all__ = [
    "CNN3D",
    "History",
    "IterationRecord",
    "LinearizationNeed",
    "Member",
    "MisfitNeed",
    "PredictionNeed",
    "Need",
    "PaperCNN2D",
    "PhysicsMisfit",
    "Step",
    "Stepper",
    "build_generator",
    "initial_state",
    "load_initial_weights",
    "member_config",
    "physics_misfit",
    "resolve_device",
    "set_network_threads",
]
