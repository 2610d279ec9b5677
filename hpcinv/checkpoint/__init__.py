"""Zarr (v3) checkpoints of a DIP inversion and exact resume."""

from hpcinv.checkpoint.state import capture_state, restore_state
from hpcinv.checkpoint.store import CheckpointStore

__all__ = ["CheckpointStore", "capture_state", "restore_state"]
