"""Sparse direct factorizations of the symmetric nodal system matrix.

Both solvers factor eagerly (MUMPS would otherwise factor lazily on the first solve, which
would hide factorization time inside solve time) and free their memory on ``free()``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import reverse_cuthill_mckee

from hpcinv.config import SOLVER_NAMES


def choose_solver(requested: str, dim: int) -> str:
    """Resolve ``"auto"``: banded Cholesky for 2.5D lines, MUMPS (symmetric mode) in 3D.

    Measured here on ``paper-1.1`` (11 wavenumbers x 7,095 nodes, 29 right-hand sides): the
    11 factorizations took 0.06 s as banded Cholesky (reverse Cuthill-McKee ordering,
    bandwidth 33, one BLAS thread), 0.18 s with SuperLU and 0.23 s with MUMPS. A 3D nodal
    matrix has a bandwidth of a whole horizontal slice, where MUMPS (nested dissection,
    BLAS-3 fronts) wins by far.
    """
    if requested == "auto":
        return "banded" if dim == 2 else "mumps"
    if requested not in SOLVER_NAMES:
        raise ValueError(
            f"unknown solver {requested!r}; choose one of auto, {', '.join(SOLVER_NAMES)}"
        )
    return requested


class Factorization:
    """A factored symmetric matrix: ``solve(B)`` for (n,) or (n, k) right-hand sides."""

    def solve(self, rhs: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def free(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def __reduce__(self):
        raise TypeError(
            "factorizations are not picklable by design: they stay where they were made"
        )


class MumpsFactorization(Factorization):
    def __init__(self, A: sp.spmatrix):
        from pymatsolver import Mumps

        # pymatsolver's exact symmetry test fails on round-off asymmetry and would double
        # the fill: the nodal operator is symmetric by construction.
        # PORD ordering: Debian's MUMPS has no METIS, so pymatsolver's "metis" falls back to
        # SCOTCH, whose orderings vary from run to run (three factorizations of one matrix,
        # three results in the last bits, measured); PORD is deterministic and on a 126k-node
        # nodal matrix gave less fill (43.6M vs 52.2M entries) and a faster factorization
        # (3.9-4.5 s vs 4.9 s) than SCOTCH.
        self._solver = Mumps(
            A.tocsr(), ordering="pord", is_symmetric=True, is_positive_definite=False
        )
        self._solver.factor()

    def solve(self, rhs):
        return np.asarray(self._solver.solve(np.asarray(rhs, dtype=float)))

    def free(self):
        solver, self._solver = self._solver, None
        if solver is not None:
            solver.solver = None  # drops the MUMPS context, which releases the factors
            del solver


class SuperLUFactorization(Factorization):
    def __init__(self, A: sp.spmatrix):
        # A + A^T ordering suits the structurally symmetric nodal matrix; diagonal pivoting
        # keeps that symmetry (the matrix is an M-matrix-like SPD system).
        self._lu = spla.splu(
            A.tocsc(),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )

    def solve(self, rhs):
        return self._lu.solve(np.asarray(rhs, dtype=float))

    def free(self):
        self._lu = None


_blas_controller = None


def blas_threads(n: int):
    """A context running every BLAS library of this process (Debian's OpenBLAS under MUMPS,
    NumPy's and SciPy's own) with exactly ``n`` threads.

    Measured here: a MUMPS factorization of block-3d gives other last bits with 1, 2, 3 or
    4 OpenBLAS threads, and the same bits for the same count whatever cores the process may
    use (``taskset``); so the count is part of a tile (``TileSpec.blas_threads``), never
    left to the environment. The controller inspects the libraries only once (a fresh
    ``threadpool_limits`` re-reads /proc/self/maps: 4 ms a call, measured).
    """
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=n, user_api="blas")


def _one_blas_thread():
    return blas_threads(1)


class BandedCholeskyFactorization(Factorization):
    """LAPACK banded Cholesky (dpbtrf/dpbtrs) after a reverse Cuthill-McKee reordering.

    For 2D meshes the reordered bandwidth is one mesh column (~33 on the paper mesh), so the
    factorization costs n b^2 flops: a few milliseconds. Small banded kernels run fastest on
    one BLAS thread (several threads were 5-10x slower here), hence the thread limit.
    The nodal matrix is symmetric positive definite for every wavenumber k > 0; a matrix that
    is not (3D at k = 0 with Neumann boundaries) raises ``LinAlgError`` and the caller
    should use another solver.
    """

    _orderings: dict = {}

    def __init__(self, A: sp.spmatrix):
        A = A.tocsr()
        self._perm = self._ordering(A)
        Ap = A[self._perm][:, self._perm].tocoo()
        upper = Ap.row <= Ap.col
        i, j, v = Ap.row[upper], Ap.col[upper], Ap.data[upper]
        u = int((j - i).max())
        ab = np.zeros((u + 1, A.shape[0]))
        ab[u + i - j, j] = v
        with _one_blas_thread():
            self._cb = sla.cholesky_banded(ab, lower=False, check_finite=False)

    @classmethod
    def _ordering(cls, A: sp.csr_matrix) -> np.ndarray:
        # one ordering per sparsity pattern (all wavenumbers and models of a tile share it)
        key = (A.shape, A.nnz, hash(A.indptr.tobytes()), hash(A.indices.tobytes()))
        perm = cls._orderings.get(key)
        if perm is None:
            if len(cls._orderings) > 64:
                cls._orderings.clear()
            perm = cls._orderings[key] = reverse_cuthill_mckee(A, symmetric_mode=True)
        return perm

    def solve(self, rhs):
        rhs = np.asarray(rhs, dtype=float)
        with _one_blas_thread():
            x = sla.cho_solve_banded((self._cb, False), rhs[self._perm], check_finite=False)
        out = np.empty_like(x)
        out[self._perm] = x
        return out

    def free(self):
        self._cb = None


def factorize(A: sp.spmatrix, solver: str) -> Factorization:
    """Factor ``A`` now with ``solver`` ("mumps", "superlu" or "banded")."""
    if solver == "mumps":
        return MumpsFactorization(A)
    if solver == "superlu":
        return SuperLUFactorization(A)
    if solver == "banded":
        return BandedCholeskyFactorization(A)
    raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVER_NAMES)}")
