"""Zarr (v3) checkpoints of a run's state and exact resume."""

from hpcinv.checkpoint.state import flatten_state, unflatten_state
from hpcinv.checkpoint.store import CheckpointStore

__all__ = ["CheckpointStore", "flatten_state", "unflatten_state"]
