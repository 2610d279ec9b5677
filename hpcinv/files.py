"""Writing files so that nobody ever reads half of one: the one atomic write of hpcinv."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(
    path: str | Path, write: Callable[[Path], object], *, mode: int | None = None
) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it into
    place (atomic on POSIX): readers see the old file or the whole new one, and a failed
    or killed writer leaves ``path`` untouched (its temporary is removed on failure).

    ``mode``: the file's permissions (e.g. 0o600 for a private key); by default the usual
    0o666 less the umask (``mkstemp`` alone would leave every file private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
