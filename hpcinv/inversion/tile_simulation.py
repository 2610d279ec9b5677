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
accepted model's J is made by one ``keep_jacobian`` call, which finds the trial's factors in
the tiles' caches. J stays with the tiles (float64 when all of it fits in
``J_BUDGET_BYTES``, float32 otherwise): each J v and Jᵀ u of SimPEG's CG is one task per
tile, so only vectors travel.
"""

from __future__ import annotations

import numpy as np
from simpeg.simulation import BaseSimulation
from simpeg.survey import BaseRx, BaseSrc, BaseSurvey

from hpcinv.engine import Executor
from hpcinv.engine.executor import KeptJacobian
from hpcinv.engine.tasks import model_digest

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
        self._active = np.arange(n_cells) if active is None else np.flatnonzero(active)
        small = problem.n_data * n_cells * 8 <= J_BUDGET_BYTES
        self.j_dtype = np.dtype(np.float64 if small else np.float32)
        self._J: KeptJacobian | None = None
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
            if self._J is not None and model_digest(f.m) == self._J_key:
                f.d = self._J.d
            else:
                self.calls["predict"] += 1
                f.d = self.executor.predict([self.on_grid(f.m)])[0]
        return f.d

    def Jvec(self, m, v, f=None) -> np.ndarray:
        grid = np.zeros(self._grid.size)
        grid[self._active] = v
        return self.jacobian(m).jvec(grid)

    def Jtvec(self, m, v, f=None) -> np.ndarray:
        return self.jacobian(m).jtvec(v)[self._active]

    def getJtJdiag(self, m, W=None, f=None) -> np.ndarray:
        """diag(Jᵀ Wᵀ W J) for SimPEG's Jacobi preconditioner (W a diagonal matrix), from
        the tiles' kept rows of J."""
        n = self.survey.nD
        w = np.ones(n) if W is None else np.asarray(W.diagonal(), dtype=np.float64)
        return self.jacobian(m).sensitivity(w)["diag"][self._active]

    # --- J, kept by the tiles for one model ----------------------------------------------
    def jacobian(self, m) -> KeptJacobian:
        """J at the active-cell model m, kept by the tiles (made once per model)."""
        m = np.asarray(self.model if m is None else m, dtype=np.float64)
        key = model_digest(m)
        if self._J is None or key != self._J_key:
            self._J = None
            self.calls["jacobian"] += 1
            self._J = self.executor.keep_jacobian(self.on_grid(m), dtype=self.j_dtype.name)
            self._J_key = key
        return self._J
