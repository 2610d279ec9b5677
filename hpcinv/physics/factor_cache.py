"""Factorizations kept between calls, keyed on (tile digest, model digest).

SimPEG decides "same model" with ``allclose`` (rtol 1e-5) and refactors on every
``fields()`` call; here the key is an exact digest of the tile's model, so a finite-difference
step always refactors and a repeated model never does. The old entry of a tile is freed
*before* the new factorization is made, so a worker never holds more sets of factors of a
tile than the cache's capacity (one, except for ensembles).
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
    """Per-process cache of factored states per tile, at most ``capacity`` models a tile
    (1 unless an ensemble asks for more: its members' models are all in flight at once),
    the least recently used freed first; with counters.

    ``factorizations`` counts matrix factorizations (one per wavenumber in 2.5D); ``solves``
    counts right-hand-side columns solved; ``hits`` counts reuses of cached factors.
    """

    def __init__(self, capacity: int = 1):
        #: per tile: {model key: state}, least recently used first
        self._entries: dict[str, dict[str, Freeable]] = {}
        self.capacity = capacity
        self.factorizations = 0
        self.solves = 0
        self.hits = 0

    def reserve(self, models: int) -> None:
        """Keep at least ``models`` models a tile from now on (never fewer than before)."""
        self.capacity = max(self.capacity, int(models))

    def get(self, tile_digest: str, model_key: str, build: Callable[[], S]) -> S:
        """The cached state for this tile and model, else ``build()`` after freeing what
        exceeds the capacity (the least recently used model first)."""
        states = self._entries.setdefault(tile_digest, {})
        state = states.pop(model_key, None)
        if state is not None:
            self.hits += 1
            states[model_key] = state  # most recently used now
            return state  # type: ignore[return-value]  # the type build() made
        while len(states) >= self.capacity:
            oldest = next(iter(states))
            states.pop(oldest).free()
        states[model_key] = build()
        return states[model_key]  # type: ignore[return-value]

    def drop(self, tile_digest: str) -> None:
        for state in self._entries.pop(tile_digest, {}).values():
            state.free()

    def clear(self) -> None:
        for digest in list(self._entries):
            self.drop(digest)

    def __len__(self) -> int:
        return sum(len(states) for states in self._entries.values())

    def counters(self) -> dict[str, int]:
        return {"factorizations": self.factorizations, "solves": self.solves, "hits": self.hits}
