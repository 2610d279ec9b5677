"""Worker-side physics: numpy, SciPy and SimPEG only (no dask, no torch).

``TilePhysics`` builds a tile's nodal DC operators from its ``TileSpec``, factors the system
matrix once per model (once per wavenumber in 2.5D) and serves forward data, the misfit and
its adjoint gradient from those factors. ``FactorCache`` keeps the factors between calls.
"""

from hpcinv.physics.factor_cache import FactorCache
from hpcinv.physics.quadrature import wavenumber_quadrature
from hpcinv.physics.solvers import SOLVER_NAMES, blas_threads, choose_solver, factorize
from hpcinv.physics.tile import TilePhysics

__all__ = [
    "FactorCache",
    "TilePhysics",
    "blas_threads",
    "choose_solver",
    "factorize",
    "wavenumber_quadrature",
    "SOLVER_NAMES",
]
