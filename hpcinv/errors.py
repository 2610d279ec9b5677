"""The errors a user can cause, as one small hierarchy.

Each subclasses a built-in so callers that only know Python still catch them sensibly; the
CLI turns any ``HpcinvError`` into one message and a non-zero exit code.
"""


class HpcinvError(Exception):
    """Base class of every error hpcinv raises on purpose."""


class ConfigError(HpcinvError, ValueError):
    """A run configuration is malformed: unknown key, wrong type, impossible value."""


class DataError(HpcinvError, ValueError):
    """Survey, data or geometry is unusable: NaN data, bad uncertainty, bad electrodes."""


class TileError(HpcinvError, ValueError):
    """Tiling failed: an empty tile, a tile that cannot be built."""


class CheckpointError(HpcinvError, RuntimeError):
    """A checkpoint store is missing, corrupt or incompatible with the run."""


class InversionError(HpcinvError, RuntimeError):
    """The inversion cannot go on: a non-finite loss, a diverging optimiser."""


class RunInterrupted(HpcinvError):
    """A signal (SIGTERM, SIGUSR1) stopped the run after a checkpoint: resume it."""

    exit_code = 75  # EX_TEMPFAIL: try again (hpcinv resume)


class SizeError(HpcinvError, MemoryError):
    """A problem (a tile, a whole-mesh solve) needs more memory than there is: the message
    says how much it needs, how much there is, and what to change."""
