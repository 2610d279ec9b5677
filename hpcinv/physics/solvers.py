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
from hpcinv.physics.memory import GIB, check_fits, out_of_memory


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


def mumps_analysis(A: sp.spmatrix) -> dict:
    """MUMPS's analysis of ``A`` (symmetric mode, PORD ordering), without factoring:
    ``memory_bytes`` (in-core estimate, INFOG(17)), ``flops`` of the factorization
    (RINFOG(1)) and ``factor_entries``. Costs an ordering: ~1 s at 10^5 unknowns."""
    from mumps import Context

    ctx = Context()
    ctx.set_matrix(A.tocsr(), symmetric=True)
    ctx.analyze(ordering="pord")
    stats = ctx.analysis_stats
    return {
        "memory_bytes": float(stats.est_mem_incore) * 1e6,
        "flops": float(stats.est_flops),
        "factor_entries": int(stats.est_nonzeros),
    }


class MumpsFactorization(Factorization):
    """MUMPS (python-mumps) in symmetric mode: analysis, a memory check against MUMPS's own
    estimate, then the numeric factorization.

    ``what`` names the matrix in messages; ``extra_bytes`` is what the caller will hold next
    to the factors (the fields), counted in the check. ``analysis`` keeps MUMPS's estimates:
    ``memory_bytes`` (in-core, INFOG(17)), ``flops`` (RINFOG(1)), ``factor_entries``.
    """

    def __init__(self, A: sp.spmatrix, what: str = "a matrix", extra_bytes: float = 0.0):
        from mumps import Context, MUMPSError

        # pymatsolver's exact symmetry test fails on round-off asymmetry and would double
        # the fill: the nodal operator is symmetric by construction, so only its upper
        # triangle goes to MUMPS (symmetric mode, LDL^T).
        # PORD ordering: Debian's MUMPS has no METIS, so "metis" falls back to SCOTCH, whose
        # orderings vary from run to run (three factorizations of one matrix, three results
        # in the last bits, measured); PORD is deterministic and on a 126k-node nodal matrix
        # gave less fill (43.6M vs 52.2M entries) and a faster factorization (3.9-4.5 s vs
        # 4.9 s) than SCOTCH.
        self._ctx = Context()
        try:
            self._ctx.set_matrix(A.tocsr(), symmetric=True)
            self._ctx.analyze(ordering="pord")
            stats = self._ctx.analysis_stats
            self.analysis = {
                "memory_bytes": float(stats.est_mem_incore) * 1e6,
                "flops": float(stats.est_flops),
                "factor_entries": int(stats.est_nonzeros),
            }
            check_fits(
                f"factoring {what} ({A.shape[0]:,} unknowns)",
                self.analysis["memory_bytes"] + extra_bytes,
                f"MUMPS's estimate {self.analysis['memory_bytes'] / GIB:.2f} GiB for the "
                f"factors, {extra_bytes / GIB:.2f} GiB for the fields",
            )
            self._ctx.factor(ordering="pord", reuse_analysis=True, pivot_tol=0.01)
        except MUMPSError as error:
            self._ctx = None
            if error.error in _MUMPS_MEMORY_ERRORS:
                raise out_of_memory(f"factoring {what}", error) from error
            raise

    def solve(self, rhs):
        self._ctx.mumps_instance.icntl[9] = 1  # A x = b (not the transpose)
        return np.asarray(self._ctx.solve(np.asarray(rhs, dtype=float)))

    def free(self):
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.mumps_instance = None  # drops the MUMPS instance, which releases the factors
            del ctx


#: MUMPS INFOG(1) codes of memory failures: workspace too small (-8, -9, -14, -15, -17,
#: -20), allocation failed (-13), integer overflow of sizes (-19, -22 are others' codes)
_MUMPS_MEMORY_ERRORS = frozenset({-8, -9, -13, -14, -15, -17, -19, -20})


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


def factorize(
    A: sp.spmatrix, solver: str, *, what: str = "a matrix", extra_bytes: float = 0.0
) -> Factorization:
    """Factor ``A`` now with ``solver`` ("mumps", "superlu" or "banded").

    MUMPS checks its estimated memory plus ``extra_bytes`` against what this process may
    still use before factoring (``SizeError`` names ``what``); the 2.5D solvers' matrices are
    small (10^4 unknowns) and are not checked.
    """
    if solver == "mumps":
        return MumpsFactorization(A, what, extra_bytes)
    if solver == "superlu":
        return SuperLUFactorization(A)
    if solver == "banded":
        return BandedCholeskyFactorization(A)
    raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVER_NAMES)}")
