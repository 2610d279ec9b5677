"""How much memory a factorization may use here, and the one error when it would not fit.

Every factorization checks its need against what this process may still use *before* the
numeric factorization starts, so a problem too large for a worker stops with one line
(``SizeError``) instead of a solver traceback or the out-of-memory killer. The need is
MUMPS's own estimate from its analysis phase (INFOG(17), in-core, MB) plus the fields the
tile keeps; what there is: the limit set for this process (a Dask worker's memory limit, set
by the worker plugin, or ``physics.memory`` style limits) minus what the process already
holds, or else the memory the machine has available.
"""

from __future__ import annotations

import os

from hpcinv.errors import SizeError

GIB = 1024.0**3

#: bytes this process may use in all (None: whatever the machine has available)
_limit_bytes: float | None = None

#: what to change, in every size message
ADVICE = (
    "use more tiles (physics.n_tiles), a coarser mesh or model grid (mesh.cell_size, "
    "mesh.model_cell_size), or workers with more memory"
)


def set_memory_limit(limit_bytes: float | None) -> None:
    """Bytes this process may use in all (a Dask worker's memory limit); None: no limit
    beyond the machine's available memory."""
    global _limit_bytes
    _limit_bytes = float(limit_bytes) if limit_bytes else None


def memory_limit() -> float | None:
    return _limit_bytes


def resident_bytes() -> int:
    """This process's resident memory (RSS), bytes."""
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process(os.getpid()).memory_info().rss)


def available_bytes() -> float:
    """What this process may still allocate: its limit minus its resident memory, never
    more than the machine has available."""
    import psutil

    machine = float(psutil.virtual_memory().available)
    if _limit_bytes is None:
        return machine
    return max(0.0, min(machine, _limit_bytes - resident_bytes()))


def check_fits(what: str, need_bytes: float, detail: str = "") -> None:
    """Raise ``SizeError`` if ``need_bytes`` exceed what this process may still use."""
    have = available_bytes()
    if need_bytes > have:
        where = " within this worker's memory limit" if _limit_bytes else ""
        raise SizeError(
            f"{what} needs {need_bytes / GIB:.2f} GiB{f' ({detail})' if detail else ''} but "
            f"{have / GIB:.2f} GiB are available{where}; {ADVICE}"
        )


def out_of_memory(what: str, error: Exception) -> SizeError:
    """The ``SizeError`` for a solver that ran out of memory despite the check."""
    return SizeError(
        f"{what} ran out of memory in the solver ({error}) with "
        f"{available_bytes() / GIB:.2f} GiB available; {ADVICE}"
    )
