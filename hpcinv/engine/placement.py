"""Where tile tasks go: the one placement rule the Dask executor follows and ``hpcinv plan``
predicts. Tile i's replica r lives on worker (i + r T) mod W (T tiles, W workers, round
robin); with more workers than tiles each tile gets W // T replicas, and model k of a batch
(an ensemble's member k) goes to replica k mod R, which keeps that model's factors."""

from __future__ import annotations


def replica_homes(n_tiles: int, n_workers: int) -> list[list[int]]:
    """For each tile, the worker index of each of its replicas (at least one)."""
    replicas = max(1, n_workers // n_tiles)
    return [[(i + r * n_tiles) % n_workers for r in range(replicas)] for i in range(n_tiles)]


def replica_of(model: int, replicas: int) -> int:
    """Which replica of a tile serves model ``model`` of a batch."""
    return model % replicas
