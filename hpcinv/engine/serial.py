"""The serial executor: every tile in this process, one after another. The reference."""

from __future__ import annotations

import time

import numpy as np

from hpcinv.engine.problem import Problem
from hpcinv.physics import FactorCache, TilePhysics


def check_model(problem: Problem, m) -> np.ndarray:
    """m as float64 (n_cells,), or ValueError naming what is wrong."""
    m = np.asarray(m, dtype=np.float64)
    n = problem.model_grid.n_cells
    if m.shape != (n,):
        raise ValueError(f"model has shape {m.shape}; the model grid has {n} cells")
    if not np.all(np.isfinite(m)):
        raise ValueError("model contains non-finite values")
    return m


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
        g = np.zeros_like(m)
        if any(spec.partial_data for spec in self.problem.tiles):
            # residuals need every wavenumber's contribution: forward everywhere first; the
            # gradient round then reuses each tile's cached factors and fields
            r, v = residuals(self.problem, self.predict(m))
            phi = 0.5 * float(r @ r)
            for spec in self.problem.tiles:
                t = time.perf_counter()
                g += self._tile(spec).jtvec(m, v[spec.data_rows])
                per_tile[spec.index] = time.perf_counter() - t
        else:
            phi = 0.0
            for spec in self.problem.tiles:
                t = time.perf_counter()
                phi_i, g_i = self._tile(spec).misfit_and_gradient(m)
                phi += phi_i
                g += g_i
                per_tile[spec.index] = time.perf_counter() - t
        self.last_seconds = {"total": time.perf_counter() - t0, "per_tile": per_tile}
        return phi, g

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
