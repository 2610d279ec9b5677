"""SimPEG's view of hpcinv's tiles: a SimPEG simulation whose data and sensitivities come
from an ``Executor``, so SimPEG's own inversion machinery (the IRLS directives, projected
Gauss-Newton-CG, the eigenvalue beta estimate, the Jacobi preconditioner) runs unchanged on
the same tiles, meshes and workers as the DIP.

Before this, the conventional inversion ran one stock SimPEG simulation on the model grid in
the driver's process: on octree problems (whose model grid is the core with air at its top,
no padding) its data were wrong, and everywhere it had other hardware than the DIP.

The model SimPEG sees is ln(S/m) on the model grid's active cells (all cells without air);
the air cells stay at the problem's fixed value. ``fields(m)`` is lazy: SimPEG's line search
asks only for data (one ``predict`` call, every tile factored for the trial model), and the
accepted model's J comes from one ``jacobian`` call, which finds the trial's factors in the
tiles' caches. J is kept for one model at a time, dense (n_data x n_active), in float64 when
it fits in ``J_BUDGET_BYTES`` and float32 otherwise.
"""

from __future__ import annotations

import hashlib

import numpy as np
from simpeg.simulation import BaseSimulation
from simpeg.survey import BaseRx, BaseSrc, BaseSurvey

from hpcinv.engine import Executor
from hpcinv.physics.memory import check_fits

#: a dense J in float64 up to this size (Century: 942 x 89,376 = 0.67 GB), float32 above
J_BUDGET_BYTES = 2 * 2**30


class TileFields:
    """What SimPEG calls fields: the model, and its data once asked for."""

    def __init__(self, m: np.ndarray):
        self.m = np.array(m, dtype=np.float64)
        self.d: np.ndarray | None = None


class TileSimulation(BaseSimulation):
    """Data d(m) (n_data,) V/A in the problem's data order and J = dd/dm from ``executor``'s
    tiles, m (n_active,) ln(S/m) on the active cells of the problem's model grid."""

    def __init__(self, executor: Executor):
        problem = executor.problem
        receiver = BaseRx(np.zeros((problem.n_data, 1)))
        super().__init__(survey=BaseSurvey([BaseSrc([receiver])]))
        self.executor = executor
        self._grid = np.full(problem.model_grid.n_cells, problem.inactive_value)
        n_cells, active = problem.model_grid.n_cells, problem.active
        self._all_active = active is None
        self._active = np.arange(n_cells) if active is None else np.flatnonzero(active)
        itemsize = 8 if problem.n_data * self._active.size * 8 <= J_BUDGET_BYTES else 4
        self.j_dtype = np.dtype(np.float64 if itemsize == 8 else np.float32)
        # the executor assembles J on the whole grid, then the active columns are copied
        check_fits(
            "the conventional inversion's dense J",
            2 * problem.n_data * n_cells * itemsize,
            f"{problem.n_data} data x {n_cells} model-grid cells in {self.j_dtype.name}, "
            "twice while it is assembled",
        )
        self._J: np.ndarray | None = None
        self._J_key: bytes | None = None
        #: physics calls made: ``predict`` (data only) and ``jacobian`` (data and J)
        self.calls = {"predict": 0, "jacobian": 0}

    @property
    def n_active(self) -> int:
        return int(self._active.size)

    def on_grid(self, m: np.ndarray) -> np.ndarray:
        """The active-cell model m on the whole model grid, air at its fixed value."""
        grid = self._grid.copy()
        grid[self._active] = m
        return grid

    # --- what SimPEG calls -----------------------------------------------------------------
    def fields(self, m=None) -> TileFields:
        return TileFields(self.model if m is None else m)

    def dpred(self, m=None, f: TileFields | None = None) -> np.ndarray:
        if f is None:
            f = self.fields(m)
        if f.d is None:
            if _key(f.m) == self._J_key:
                f.d = self._d_at_J
            else:
                self.calls["predict"] += 1
                f.d = self.executor.predict([self.on_grid(f.m)])[0]
        return f.d

    def Jvec(self, m, v, f=None) -> np.ndarray:
        J = self.jacobian(m)
        return np.asarray(J @ np.asarray(v, dtype=J.dtype), dtype=np.float64)

    def Jtvec(self, m, v, f=None) -> np.ndarray:
        J = self.jacobian(m)
        return np.asarray(J.T @ np.asarray(v, dtype=J.dtype), dtype=np.float64)

    def getJtJdiag(self, m, W=None, f=None) -> np.ndarray:
        """diag(Jᵀ Wᵀ W J) for SimPEG's Jacobi preconditioner (W a diagonal matrix)."""
        J = self.jacobian(m)
        w = np.ones(J.shape[0]) if W is None else np.asarray(W.diagonal(), dtype=np.float64)
        out = np.zeros(J.shape[1])
        for start in range(0, J.shape[0], 256):  # rows in blocks: no second J in memory
            rows = J[start : start + 256].astype(np.float64) * w[start : start + 256, None]
            out += np.einsum("ij,ij->j", rows, rows)
        return out

    # --- J, kept for one model -------------------------------------------------------------
    def jacobian(self, m) -> np.ndarray:
        """J (n_data, n_active) at the active-cell model m, from the tiles once per model."""
        m = np.asarray(self.model if m is None else m, dtype=np.float64)
        key = _key(m)
        if key != self._J_key:
            self._J = None  # the old J goes before the new one is assembled
            self.calls["jacobian"] += 1
            d, J = self.executor.jacobian([self.on_grid(m)], dtype=self.j_dtype.name)[0]
            self._J = J if self._all_active else np.ascontiguousarray(J[:, self._active])
            self._d_at_J, self._J_key = d, key
        assert self._J is not None
        return self._J


def _key(m: np.ndarray) -> bytes:
    """A digest of m's exact values (SimPEG's own model-change test is allclose at 1e-5: too
    loose for a line search's short steps)."""
    return hashlib.blake2b(np.ascontiguousarray(m, dtype=np.float64).tobytes()).digest()
