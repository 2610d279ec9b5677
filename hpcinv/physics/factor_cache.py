"""Factorizations kept between calls, keyed on (tile digest, model digest).

SimPEG decides "same model" with ``allclose`` (rtol 1e-5) and refactors on every
``fields()`` call; here the key is an exact digest of the tile's model, so a finite-difference
step always refactors and a repeated model never does. The old entry of a tile is freed
*before* the new factorization is made, so a worker never holds two sets of factors of a tile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol, TypeVar

import numpy as np


class Freeable(Protocol):
    """A cached state that releases its memory (factors, fields) on ``free()``."""

    def free(self) -> None: ...


S = TypeVar("S", bound=Freeable)


def model_digest(m: np.ndarray) -> str:
    """An exact content digest of a float64 model vector."""
    return hashlib.blake2b(
        np.ascontiguousarray(m, dtype=np.float64).tobytes(), digest_size=16
    ).hexdigest()


class FactorCache:
    """Per-process cache of one model's factored state per tile, with counters.

    ``factorizations`` counts matrix factorizations (one per wavenumber in 2.5D); ``solves``
    counts right-hand-side columns solved; ``hits`` counts reuses of cached factors.
    """

    def __init__(self):
        self._entries: dict[str, tuple[str, Freeable]] = {}
        self.factorizations = 0
        self.solves = 0
        self.hits = 0

    def get(self, tile_digest: str, model_key: str, build: Callable[[], S]) -> S:
        """The cached state for this tile and model, else ``build()`` after freeing the old one."""
        entry = self._entries.get(tile_digest)
        if entry is not None and entry[0] == model_key:
            self.hits += 1
            return entry[1]  # type: ignore[return-value]  # the type build() made
        if entry is not None:
            self.drop(tile_digest)
        state = build()
        self._entries[tile_digest] = (model_key, state)
        return state

    def drop(self, tile_digest: str) -> None:
        entry = self._entries.pop(tile_digest, None)
        if entry is not None:
            entry[1].free()

    def clear(self) -> None:
        for digest in list(self._entries):
            self.drop(digest)

    def __len__(self) -> int:
        return len(self._entries)

    def counters(self) -> dict[str, int]:
        return {"factorizations": self.factorizations, "solves": self.solves, "hits": self.hits}
