"""One tile's forward data, misfit and adjoint gradient from one factorization per model.

Notation (per wavenumber k; 3D has a single k = 0 with weight 1; operators in operators.py):
    sigma = exp(P m)                       m on the model grid, ln(S/m)
    U_k = A_k(sigma)^-1 Q                  fields of all the tile's sources
    d_j = sum_k w_k (Pd U_k)[j, s(j)]      datum j of source s(j), volts for 1 A
    phi = 0.5 || W (d - dobs) ||^2
With v = W^2 (d - dobs) and S[j, s(j)] = v_j, the adjoint fields are
Lambda_k = w_k A_k^-1 Pd^T S (A_k is symmetric: the forward factors serve), and

    dphi/dsigma = -sum_k [ Be^T rowsum(G U_k * G Lambda_k)
                           + (k^2 Bn + Bbc_k)^T rowsum(U_k * Lambda_k) ]

which is SimPEG's ``Jtvec`` for all sources at once, without its per-source loop.

Two ways to get U and Lambda from the one factorization, chosen per tile by which needs
fewer solved columns:
* source basis: solve Q (n_src columns) forward and Pd^T S (n_src columns) in the adjoint;
* electrode basis (reciprocity): solve E_k = A_k^-1 Ie^T once (n_elec columns). Then
  U_k = E_k C and Lambda_k = w_k E_k V with V = R S, so the adjoint needs no solve at all and
  rowsum(G U * G Lambda) = w_k rowsum((G E_k M) * G E_k) with the small M = C V^T. Surveys
  reuse electrodes (a line of n electrodes carries ~n sources), so this halves the solves.
* streamed (3D, when the fields would pass ``TileSpec.max_fields_bytes``): the electrode
  basis without keeping E. The forward solves E in column chunks and keeps only the
  transfer T = Ie E (n_elec x n_elec). The gradient only sees the symmetric part of M:
  rowsum((G E M) * G E) = sum_i lam_i (G E q_i)^2 with M + M^T = 2 Q diag(lam) Q^T, so it
  solves E q_i in chunks (n_elec more solves) and never holds more than a chunk. Memory is
  then bounded by the factors and one chunk, whatever the number of electrodes.

Right-hand sides are solved in column chunks of at most ``CHUNK_BYTES`` (dense copies of all
of them at once would triple the fields' memory: measured 740 MB peak for 125 MB of fields).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hpcinv.physics.factor_cache import FactorCache, model_digest
from hpcinv.physics.operators import TileOperators, build_operators
from hpcinv.physics.solvers import Factorization, blas_threads, factorize
from hpcinv.tiles import TileSpec

#: bytes of one chunk of right-hand sides or of the gradient's (rows x columns) products
CHUNK_BYTES = 32 * 1024**2

BASES = ("auto", "electrode", "source")


@dataclass(eq=False)
class TileState:
    """A tile's factors and solved fields for one model.

    fields: per wavenumber, E_k (n_nodes, n_elec) in the electrode basis, U_k (n_nodes, n_src)
    in the source basis.
    """

    sigma: np.ndarray
    factors: list[Factorization]
    fields: list[np.ndarray]
    data: np.ndarray

    def free(self):
        for f in self.factors:
            f.free()
        self.factors.clear()
        self.fields.clear()

    def __reduce__(self):
        raise TypeError(
            "a tile's factors and fields never leave their process; ship the TileSpec and rebuild"
        )


@dataclass
class TileTimings:
    """Cumulative seconds: building operators, factoring, solving."""

    build: float = 0.0
    factor: float = 0.0
    solve: float = 0.0


def _weighted_rowsums(
    G: sp.csr_matrix | None, X: np.ndarray, Y: np.ndarray, M: np.ndarray | None = None
) -> np.ndarray:
    """rowsum((G X M) * (G Y)) (G = identity if None; M = identity if None), computed in row
    chunks so no (n_rows, n_columns) temporary is ever whole: on block-3d, G X alone is
    222k edges x 124 electrodes = 220 MB."""
    n_rows = X.shape[0] if G is None else G.shape[0]
    out = np.empty(n_rows)
    chunk = max(256, CHUNK_BYTES // (8 * max(1, X.shape[1])))
    for r in range(0, n_rows, chunk):
        rows = slice(r, min(r + chunk, n_rows))
        gx = X[rows] if G is None else G[rows] @ X
        gy = gx if Y is X else (Y[rows] if G is None else G[rows] @ Y)
        out[rows] = np.einsum("ij,ij->i", gx if M is None else gx @ M, gy)
    return out


class TilePhysics:
    """The physics of one tile, built from its spec; factors cached in ``cache``."""

    def __init__(self, spec: TileSpec, cache: FactorCache | None = None, basis: str = "auto"):
        t0 = time.perf_counter()
        self.spec = spec
        self.ops: TileOperators = build_operators(spec)
        self.cache = cache if cache is not None else FactorCache()
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        if basis == "auto":
            basis = "electrode" if self.ops.n_electrodes <= 2 * spec.n_sources else "source"
        columns = self.ops.n_electrodes if basis == "electrode" else spec.n_sources
        fields_bytes = 8.0 * self.ops.n_nodes * columns * len(self.ops.ky)
        #: streamed: fields never kept whole (module docstring); 3D only (one wavenumber)
        self.streamed = spec.dim == 3 and fields_bytes > spec.max_fields_bytes
        if self.streamed:
            basis = "electrode"
        self.basis = basis
        self.factorizations = 0  # this tile's own count (the cache's counts all tiles)
        self.timings = TileTimings(build=time.perf_counter() - t0)
        self._rows = np.arange(spec.n_data)

    def __reduce__(self):
        # a simulation holding factorizations does not pickle, and must not travel: tasks
        # ship the TileSpec and the worker rebuilds (docs/design.md, numerics rules)
        raise TypeError(
            f"TilePhysics of tile {self.spec.index} is not picklable by design; "
            f"ship its TileSpec instead"
        )

    # --- model handling ----------------------------------------------------------------
    def tile_model(self, m: np.ndarray) -> np.ndarray:
        """ln sigma on the tile's cells from the model grid (air cells at their fixed value)."""
        m = np.asarray(m, dtype=np.float64)
        m_tile = m if self.ops.projection is None else self.ops.projection @ m
        if self.spec.active is not None:
            m_tile = np.where(self.spec.active, m_tile, self.spec.inactive_value)
        return m_tile

    def _to_grid(self, g_tile: np.ndarray) -> np.ndarray:
        """The adjoint of ``tile_model``'s linear part: fixed cells pass no gradient."""
        if self.spec.active is not None:
            g_tile = np.where(self.spec.active, g_tile, 0.0)
        return g_tile if self.ops.projection is None else self.ops.projection.T @ g_tile

    def state(self, m: np.ndarray) -> TileState:
        """Factors and fields for model ``m`` (grid), computed at most once per model."""
        m_tile = self.tile_model(m)
        with blas_threads(self.spec.blas_threads):
            return self.cache.get(
                self.spec.digest + self.basis,
                model_digest(m_tile),
                lambda: self._solve_forward(m_tile),
            )

    def _chunk_columns(self) -> int:
        return max(1, int(CHUNK_BYTES // (8 * self.ops.n_nodes)))

    def _solve(self, factor: Factorization, rhs) -> np.ndarray:
        """A^-1 rhs for a dense or sparse (n_nodes, n_cols) block, in column chunks."""
        t0 = time.perf_counter()
        out = np.empty(rhs.shape)
        step = self._chunk_columns()
        for c in range(0, rhs.shape[1], step):
            cols = slice(c, min(c + step, rhs.shape[1]))
            block = rhs[:, cols]
            block = block.toarray() if sp.issparse(block) else np.asarray(block)
            out[:, cols] = factor.solve(block).reshape(block.shape)
        self.timings.solve += time.perf_counter() - t0
        self.cache.solves += rhs.shape[1]
        return out

    def _solve_chunks(self, factor: Factorization, rhs):
        """(columns, A^-1 rhs[:, columns]) chunk by chunk: never more than one chunk held."""
        step = self._chunk_columns()
        for c in range(0, rhs.shape[1], step):
            cols = slice(c, min(c + step, rhs.shape[1]))
            yield cols, self._solve(factor, rhs[:, cols])

    def _solve_forward(self, m_tile: np.ndarray) -> TileState:
        ops = self.ops
        sigma = np.exp(m_tile)
        rhs = (ops.Ie.T if self.basis == "electrode" else ops.Q).tocsc()
        kept_columns = 0 if self.streamed else rhs.shape[1]
        factors, fields = [], []
        # electrode basis: transfer T = sum_k w_k Ie E_k between electrodes; source basis: data
        transfer = np.zeros((ops.n_electrodes, ops.n_electrodes))
        data = np.zeros(self.spec.n_data)
        for A, w in zip(ops.system_matrices(sigma), ops.ky_weights):
            t0 = time.perf_counter()
            factor = factorize(
                A,
                self.spec.solver,
                what=f"tile {self.spec.index}",
                extra_bytes=8.0
                * ops.n_nodes
                * (kept_columns * len(ops.ky) + self._chunk_columns()),
            )
            self.timings.factor += time.perf_counter() - t0
            self.cache.factorizations += 1
            self.factorizations += 1
            factors.append(factor)
            if self.streamed:
                for cols, Y in self._solve_chunks(factor, rhs):
                    transfer[:, cols] += w * (ops.Ie @ Y)
                continue
            X = self._solve(factor, rhs)
            fields.append(X)
            if self.basis == "electrode":
                transfer += w * (ops.Ie @ X)
            else:
                data += w * (ops.Pd @ X)[self._rows, ops.datum_source]
        if self.basis == "electrode":
            data = self._pick(transfer @ ops.C.toarray())
        return TileState(sigma=sigma, factors=factors, fields=fields, data=data)

    def _pick(self, per_source: np.ndarray) -> np.ndarray:
        """d_j = R[:, j] . per_source[:, s(j)], for per-source electrode potentials
        per_source: (n_elec, n_src)."""
        R = self.ops.R.tocsc()
        cols = per_source[:, self.ops.datum_source]
        return np.asarray(R.multiply(cols).sum(axis=0)).ravel()

    # --- public physics ----------------------------------------------------------------
    def predict(self, m: np.ndarray) -> np.ndarray:
        """(n_data,) predicted data of the tile's rows, volts for 1 A."""
        return self.state(m).data.copy()

    def jtvec(self, m: np.ndarray, v: np.ndarray) -> np.ndarray:
        """J^T v (n_grid,) with J = d(data)/d(m); no solve in the electrode basis."""
        with blas_threads(self.spec.blas_threads):
            return self._jtvec(m, v)

    def _jtvec(self, m: np.ndarray, v: np.ndarray) -> np.ndarray:
        ops = self.ops
        st = self.state(m)
        v = np.asarray(v, dtype=np.float64)
        S = sp.csc_matrix((v, (self._rows, ops.datum_source)), shape=(v.size, self.spec.n_sources))
        if self.basis == "electrode":
            M = (ops.C @ (ops.R @ S).T).toarray()  # (n_elec, n_elec)
        else:
            adjoint_rhs = (ops.Pd.T @ S).toarray()
        g_sigma = np.zeros(ops.n_cells)
        if self.streamed:
            # rowsum((G E M) * G E) = sum_i lam_i (G E q_i)^2 (module docstring)
            lam, Qv = np.linalg.eigh(0.5 * (M + M.T))
            w = ops.ky_weights[0]
            edge_sum, node_sum = np.zeros(ops.G.shape[0]), np.zeros(ops.n_nodes)
            rhs = ops.Ie.T @ Qv
            for cols, Y in self._solve_chunks(st.factors[0], rhs):
                scale = np.diag(w * lam[cols])
                edge_sum += _weighted_rowsums(ops.G, Y, Y, scale)
                node_sum += _weighted_rowsums(None, Y, Y, scale)
            g_sigma -= ops.Be.T @ edge_sum + ops.Bbc[0].T @ node_sum
            return self._to_grid(st.sigma * g_sigma)
        for i, (k, w) in enumerate(zip(ops.ky, ops.ky_weights)):
            X = st.fields[i]
            if self.basis == "electrode":
                edge_sum = w * _weighted_rowsums(ops.G, X, X, M)
                node_sum = w * _weighted_rowsums(None, X, X, M)
            else:
                Lam = w * self._solve(st.factors[i], adjoint_rhs)
                edge_sum = _weighted_rowsums(ops.G, X, Lam)
                node_sum = _weighted_rowsums(None, X, Lam)
            g_sigma -= ops.Be.T @ edge_sum + ops.Bbc[i].T @ node_sum
            if ops.Bn is not None:
                g_sigma -= k * k * (ops.Bn.T @ node_sum)
        return self._to_grid(st.sigma * g_sigma)

    def jvec(self, m: np.ndarray, dm: np.ndarray) -> np.ndarray:
        """J dm (n_data,) for a model-grid perturbation ``dm``; used by adjoint tests."""
        with blas_threads(self.spec.blas_threads):
            return self._jvec(m, dm)

    def _jvec(self, m: np.ndarray, dm: np.ndarray) -> np.ndarray:
        ops = self.ops
        st = self.state(m)
        dm_tile = np.asarray(dm, dtype=np.float64)
        if self.ops.projection is not None:
            dm_tile = self.ops.projection @ dm_tile
        if self.spec.active is not None:
            dm_tile = np.where(self.spec.active, dm_tile, 0.0)
        dsigma = st.sigma * dm_tile
        out = np.zeros(self.spec.n_data)
        if self.streamed:
            # E^T dA E, a chunk of columns at a time: Ie A^-1 (dA E_b) (A is symmetric)
            w = ops.ky_weights[0]
            ET_dA_E = np.empty((ops.n_electrodes, ops.n_electrodes))
            for cols, E_b in self._solve_chunks(st.factors[0], ops.Ie.T.tocsc()):
                ET_dA_E[:, cols] = ops.Ie @ self._solve(st.factors[0], ops.dA_times(0, dsigma, E_b))
            return -w * self._pick(ET_dA_E @ ops.C.toarray())
        for i, w in enumerate(ops.ky_weights):
            X = st.fields[i]
            dA_X = ops.dA_times(i, dsigma, X)
            if self.basis == "electrode":
                # reciprocity: r_j^T Ie A^-1 = (E r_j)^T, so J needs no solve either
                out -= w * self._pick((X.T @ dA_X) @ ops.C.toarray())
            else:
                dU = -self._solve(st.factors[i], dA_X)
                out += w * (ops.Pd @ dU)[self._rows, ops.datum_source]
        return out

    def sensitivity_blocks(self, m: np.ndarray):
        """J^T on the model grid, a block of data at a time: yields (rows, Jt) with rows a
        slice of the tile's data and Jt (n_grid, rows) = d(data[rows])/dm, the tile's share
        of it when the tile holds only some wavenumbers (``partial_data``).

        Datum j of source s: dd_j/dsigma = -sum_k w_k (A_k^-1 Pd_j^T)^T dA_k (A_k^-1 Q_s),
        so a column needs the source's and the receiver's fields: taken from the kept
        electrode fields (E C, E R: no solve), else solved (one more solve per datum and,
        streamed, per datum's source). Meant for once per run (coverage, preconditioners):
        the data chunk is sized so edges x chunk stays within ``CHUNK_BYTES``."""
        with blas_threads(self.spec.blas_threads):
            yield from self._sensitivity_blocks(m)

    def _sensitivity_blocks(self, m: np.ndarray):
        ops = self.ops
        st = self.state(m)
        n_data = self.spec.n_data
        step = max(1, int(CHUNK_BYTES // (8 * ops.G.shape[0])))
        # Electrode basis: each column of C and R is +-1 at one or two electrodes, so the
        # source and receiver fields are sparse combinations of E's columns. They read rows
        # of E^T: a row-major copy once (block-3d: J in 2.8 s instead of 4.4 s with dense
        # E @ C), unless the copy would pass 8 chunks; then dense products per chunk.
        kept = self.basis == "electrode" and not self.streamed
        fields_T = (
            [np.ascontiguousarray(E.T) for E in st.fields]
            if kept and sum(E.nbytes for E in st.fields) <= 8 * CHUNK_BYTES
            else None
        )
        for r in range(0, n_data, step):
            rows = slice(r, min(r + step, n_data))
            src = ops.datum_source[rows]
            Jt_sigma = np.zeros((ops.n_cells, src.size))
            for i, (k, w) in enumerate(zip(ops.ky, ops.ky_weights)):
                if fields_T is not None:
                    Us = (ops.C[:, src].T @ fields_T[i]).T
                    Ur = (ops.R[:, rows].T @ fields_T[i]).T
                elif kept:
                    Us = st.fields[i] @ ops.C[:, src].toarray()
                    Ur = st.fields[i] @ ops.R[:, rows].toarray()
                else:
                    if self.streamed:
                        Us = self._solve(st.factors[i], ops.Q[:, src])
                    else:
                        Us = st.fields[i][:, src]
                    Ur = self._solve(st.factors[i], ops.Pd[rows].T.tocsc())
                node = Us * Ur
                Jt_sigma -= w * (ops.Be.T @ ((ops.G @ Us) * (ops.G @ Ur)) + ops.Bbc[i].T @ node)
                if ops.Bn is not None:
                    Jt_sigma -= w * k * k * (ops.Bn.T @ node)
            Jt_sigma *= st.sigma[:, None]
            if self.spec.active is not None:
                Jt_sigma[~self.spec.active] = 0.0
            yield rows, (Jt_sigma if ops.projection is None else ops.projection.T @ Jt_sigma)

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
        self.cache.drop(self.spec.digest + self.basis)
