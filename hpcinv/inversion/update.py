"""What a method's step did (``Update``): what the member records of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Update:
    """What a step did: the data misfit it used, the loss, b_t, and whether phi_d came from
    the physics at this step's model (not from a linearisation)."""

    phi_d: float
    loss: float
    beta: float
    exact: bool
    #: seconds of the data term (a linearisation's products; the physics came before)
    data_seconds: float = 0.0
