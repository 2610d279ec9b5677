"""The serial executor: every tile in this process, one after another. The reference."""

from __future__ import annotations

import time

import numpy as np

from hpcinv.problem.problem import Problem
from hpcinv.physics import FactorCache, TilePhysics


def pairwise_reduce(items: list, add):
    """Sum ``items`` in the pairing every executor uses: (0+1), (2+3), ... level by level,
    an odd last item carried up. Floating-point sums depend on their order; one order for
    all executors makes the Dask executor's results bitwise equal to the serial one's."""
    items = list(items)
    while len(items) > 1:
        paired = [add(a, b) for a, b in zip(items[::2], items[1::2])]
        items = paired + ([items[-1]] if len(items) % 2 else [])
    return items[0]


def check_model(problem: Problem, m) -> np.ndarray:
    """m as float64 (n_cells,) with the inactive (air) cells at their fixed value, or
    ValueError naming what is wrong."""
    m = np.asarray(m, dtype=np.float64)
    n = problem.model_grid.n_cells
    if m.shape != (n,):
        raise ValueError(f"model has shape {m.shape}; the model grid has {n} cells")
    if not np.all(np.isfinite(m)):
        raise ValueError("model contains non-finite values")
    return problem.fix_inactive(m)


def residuals(problem: Problem, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """r = W (d - dobs) and v = W r = dphi/dd, W = 1 / uncertainty."""
    w = 1.0 / problem.uncertainty
    r = w * (d - problem.dobs)
    return r, w * r


class SerialExecutor:
    """Forward data and the misfit gradient of a ``Problem``, tile by tile in this process.

    ``predict(m) -> d`` and ``misfit_and_gradient(m) -> (phi, g)`` with m: (n_cells,) float64
    ln(S/m) on the model grid, d: (n_data,) volts in the survey's order,
    phi = 0.5 ||W (d - dobs)||^2 with W = 1/uncertainty, g = dphi/dm (n_cells,).
    Each tile is factored once per model; its factors serve both calls for the same model.
    """

    def __init__(self, problem: Problem):
        self.problem = problem
        self.cache = FactorCache()
        self._physics: dict[int, TilePhysics] = {}
        self.last_seconds: dict[str, float] = {}

    @property
    def n_workers(self) -> int:
        return 1

    def _tile(self, spec) -> TilePhysics:
        physics = self._physics.get(spec.index)
        if physics is None:
            physics = self._physics[spec.index] = TilePhysics(spec, self.cache)
        return physics

    def _check(self, m) -> np.ndarray:
        return check_model(self.problem, m)

    def predict(self, m: np.ndarray) -> np.ndarray:
        m = self._check(m)
        d = np.zeros(self.problem.n_data)
        for spec in self.problem.tiles:  # wavenumber tiles add partial sums into the same rows
            d[spec.data_rows] += self._tile(spec).predict(m)
        return d

    def misfit_and_gradient(self, m: np.ndarray) -> tuple[float, np.ndarray]:
        m = self._check(m)
        t0 = time.perf_counter()
        per_tile = {}
        partial = any(spec.partial_data for spec in self.problem.tiles)
        if partial:
            # residuals need every wavenumber's contribution: forward everywhere first; the
            # gradient round then reuses each tile's cached factors and fields
            r, v = residuals(self.problem, self.predict(m))
        results = []
        for spec in self.problem.tiles:
            t = time.perf_counter()
            physics = self._tile(spec)
            if partial:
                results.append((0.0, physics.jtvec(m, v[spec.data_rows])))
            else:
                results.append(physics.misfit_and_gradient(m))
            per_tile[spec.index] = time.perf_counter() - t
        phi, g = pairwise_reduce(results, lambda a, b: (a[0] + b[0], a[1] + b[1]))
        if partial:
            phi = 0.5 * float(r @ r)
        self.last_seconds = {"total": time.perf_counter() - t0, "per_tile": per_tile}
        return phi, self.problem.mask_gradient(g)

    def counters(self) -> dict:
        """Factorizations, solves and seconds, summed over tiles, since this executor began."""
        out = self.cache.counters()
        out["factor_seconds"] = sum(p.timings.factor for p in self._physics.values())
        out["solve_seconds"] = sum(p.timings.solve for p in self._physics.values())
        out["per_tile_factorizations"] = {i: p.factorizations for i, p in self._physics.items()}
        return out

    def close(self) -> None:
        self.cache.clear()
        self._physics.clear()
