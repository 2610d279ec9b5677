"""One tile's forward data, misfit and adjoint gradient from one factorization per model.

Notation (per wavenumber k; 3D has a single k = 0 with weight 1):
    sigma = exp(P m)                       m on the model grid, ln(S/m)
    U_k = A_k(sigma)^-1 Q                  all sources of the tile in one block solve
    d_j = sum_k w_k (Pd U_k)[j, s(j)]      datum j of source s(j), volts for 1 A
    phi = 0.5 || W (d - dobs) ||^2
The adjoint: with v = W^2 (d - dobs) scattered into R = Pd^T S (S[j, s(j)] = v_j), the
matrix is symmetric, so Lambda_k = w_k A_k^-1 R reuses the forward factors, and

    dphi/dsigma = -sum_k [ Be^T rowsum(G U_k * G Lambda_k)
                           + (k^2 Bn + Bbc_k)^T rowsum(U_k * Lambda_k) ]

which is SimPEG's ``Jtvec`` for all sources at once, without its per-source loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from hpcinv.physics.factor_cache import FactorCache, model_digest
from hpcinv.physics.operators import TileOperators, build_operators
from hpcinv.physics.solvers import Factorization, factorize
from hpcinv.tiles import TileSpec

#: Source columns per chunk in the gradient's elementwise products: bounds the transient
#: (n_edges x chunk) arrays to ~100 MB on a 10^5-node mesh.
_COLUMN_CHUNK = 48


@dataclass(eq=False)
class TileState:
    """A tile's factors and forward fields for one model."""

    sigma: np.ndarray
    factors: list[Factorization]
    fields: list[np.ndarray]  # U_k: (n_nodes, n_src) per wavenumber
    data: np.ndarray

    def free(self):
        for f in self.factors:
            f.free()
        self.factors.clear()
        self.fields.clear()


@dataclass
class TileTimings:
    """Seconds spent, cumulative: building operators, factoring, solving, everything else."""

    build: float = 0.0
    factor: float = 0.0
    solve: float = 0.0
    other: float = 0.0
    calls: dict = field(default_factory=dict)


class TilePhysics:
    """The physics of one tile, built from its spec; factors cached in ``cache``."""

    def __init__(self, spec: TileSpec, cache: FactorCache | None = None):
        t0 = time.perf_counter()
        self.spec = spec
        self.ops: TileOperators = build_operators(spec)
        self.cache = cache if cache is not None else FactorCache()
        self.timings = TileTimings(build=time.perf_counter() - t0)

    # --- model handling ----------------------------------------------------------------
    def tile_model(self, m: np.ndarray) -> np.ndarray:
        """ln sigma on the tile's cells from the model grid."""
        m = np.asarray(m, dtype=np.float64)
        return m if self.ops.projection is None else self.ops.projection @ m

    def _to_grid(self, g_tile: np.ndarray) -> np.ndarray:
        return g_tile if self.ops.projection is None else self.ops.projection.T @ g_tile

    def state(self, m: np.ndarray) -> TileState:
        """Factors and fields for model ``m`` (grid), computed at most once per model."""
        m_tile = self.tile_model(m)
        return self.cache.get(self.spec.digest, model_digest(m_tile),
                              lambda: self._solve_forward(m_tile))

    def _solve_forward(self, m_tile: np.ndarray) -> TileState:
        ops = self.ops
        sigma = np.exp(m_tile)
        rhs = ops.Q.toarray()
        factors, fields = [], []
        data = np.zeros(ops.Pd.shape[0])
        rows = np.arange(ops.Pd.shape[0])
        for A, w in zip(ops.system_matrices(sigma), ops.ky_weights):
            t0 = time.perf_counter()
            factor = factorize(A, self.spec.solver)
            t1 = time.perf_counter()
            U = factor.solve(rhs).reshape(rhs.shape)
            self.timings.factor += t1 - t0
            self.timings.solve += time.perf_counter() - t1
            self.cache.factorizations += 1
            self.cache.solves += rhs.shape[1]
            factors.append(factor)
            fields.append(U)
            data += w * (ops.Pd @ U)[rows, ops.datum_source]
        return TileState(sigma=sigma, factors=factors, fields=fields, data=data)

    # --- public physics ----------------------------------------------------------------
    def predict(self, m: np.ndarray) -> np.ndarray:
        """(n_data,) predicted data of the tile's rows, volts for 1 A."""
        return self.state(m).data.copy()

    def jtvec(self, m: np.ndarray, v: np.ndarray) -> np.ndarray:
        """J^T v on the model grid, J = d(data)/d(m): one block adjoint solve per wavenumber."""
        ops = self.ops
        st = self.state(m)
        v = np.asarray(v, dtype=np.float64)
        S = sp.csc_matrix((v, (np.arange(v.size), ops.datum_source)),
                          shape=(v.size, self.spec.n_sources))
        R = (ops.Pd.T @ S).toarray()
        g_sigma = np.zeros(ops.n_cells)
        for i, (k, w) in enumerate(zip(ops.ky, ops.ky_weights)):
            t0 = time.perf_counter()
            Lam = st.factors[i].solve(R).reshape(R.shape)
            self.timings.solve += time.perf_counter() - t0
            self.cache.solves += R.shape[1]
            Lam *= w
            U = st.fields[i]
            edge_sum = np.zeros(ops.G.shape[0])
            node_sum = np.zeros(ops.n_nodes)
            for c in range(0, U.shape[1], _COLUMN_CHUNK):
                u, lam = U[:, c:c + _COLUMN_CHUNK], Lam[:, c:c + _COLUMN_CHUNK]
                edge_sum += np.einsum("ij,ij->i", ops.G @ u, ops.G @ lam)
                node_sum += np.einsum("ij,ij->i", u, lam)
            g_sigma -= ops.Be.T @ edge_sum + ops.Bbc[i].T @ node_sum
            if ops.Bn is not None:
                g_sigma -= k * k * (ops.Bn.T @ node_sum)
        return self._to_grid(st.sigma * g_sigma)

    def jvec(self, m: np.ndarray, dm: np.ndarray) -> np.ndarray:
        """J dm (n_data,) for a model-grid perturbation ``dm``; used by adjoint tests."""
        ops = self.ops
        st = self.state(m)
        dsigma = st.sigma * self.tile_model(dm)
        rows = np.arange(ops.Pd.shape[0])
        out = np.zeros(ops.Pd.shape[0])
        be = ops.Be @ dsigma
        for i, (k, w) in enumerate(zip(ops.ky, ops.ky_weights)):
            U = st.fields[i]
            diag = ops.Bbc[i] @ dsigma
            if ops.Bn is not None:
                diag = diag + k * k * (ops.Bn @ dsigma)
            dA_U = ops.GT @ (be[:, None] * (ops.G @ U)) + diag[:, None] * U
            dU = -st.factors[i].solve(dA_U).reshape(U.shape)
            self.cache.solves += U.shape[1]
            out += w * (ops.Pd @ dU)[rows, ops.datum_source]
        return out

    def misfit_and_gradient(self, m: np.ndarray) -> tuple[float, np.ndarray]:
        """phi = 0.5 ||W (d - dobs)||^2 of this tile and dphi/dm (n_grid,) on the model grid."""
        spec = self.spec
        if spec.dobs is None or spec.weights is None:
            raise ValueError(f"tile {spec.index} carries no observed data")
        d = self.state(m).data
        r = spec.weights * (d - spec.dobs)
        phi = 0.5 * float(r @ r)
        return phi, self.jtvec(m, spec.weights * r)

    def free(self) -> None:
        self.cache.drop(self.spec.digest)
