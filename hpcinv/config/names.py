"""The names a run file may use: built-in cases, solvers, networks, conventions."""

from __future__ import annotations

#: Built-in synthetic cases (``hpcinv.problem.cases`` implements exactly these).
CASE_NAMES = (
    "paper-1.1",
    "paper-1.2",
    "paper-1.3",
    "paper-2.1",
    "paper-2.2",
    "block-3d",
    "tiny-2d",
    "tiny-3d",
    "grid-3d",
)
#: simulation mesh kinds of surveys built like field data
MESH_KINDS = ("auto", "tensor", "octree")
#: the sparse direct solvers of the physics (``hpcinv.physics.solvers`` implements these)
SOLVER_NAMES = ("mumps", "superlu", "banded")
SOLVERS = ("auto", *SOLVER_NAMES)
NETWORKS = ("auto", "paper-cnn-2d", "cnn-3d")
#: how z, the dropout stream and the paper network's row order are drawn and laid out
Z_CONVENTIONS = ("hpcinv", "dip-inv")
OPTIMIZERS = ("adam", "gauss-newton")
#: field-data file formats ``hpcinv.readers`` reads (its ``FORMATS``)
DATA_FORMATS = (
    "ubc-3d",
    "ubc-2d",
    "pygimli",
    "csv",
    "r2-protocol",
    "res2dinv",
    "syscal",
    "syscal-binary",
    "abem",
    "supersting",
)
LN_001 = -4.605170185988091  # ln(0.01 S/m), the paper's reference and background
