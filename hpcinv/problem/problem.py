"""A problem: survey with data, model grid, true model and tiles; built from a run config.

``build_problem`` (``hpcinv.problem.build``) makes one from a config: built-in cases bring
their mesh and simulate their data (``hpcinv.problem.synthetic``); field data are read from
a file, converted to V/A with uncertainties assigned, and get a mesh made from their
electrodes (``hpcinv.problem.field``). What only reports and exports need (the
file's origin, notes, an overlay) is kept apart in ``ProblemInfo``: the engine and the
inversion never read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from discretize import TensorMesh

from hpcinv.config import PhysicsConfig
from hpcinv.errors import ConfigError, DataError
from hpcinv.mesh import MeshSpec, ModelGrid, check_electrodes_in_mesh
from hpcinv.physics import TilePhysics, choose_solver, wavenumber_quadrature
from hpcinv.survey import Survey
from hpcinv.tiles import TileSpec, make_tiles, with_local_mesh

log = logging.getLogger(__name__)

#: ln(S/m) of air cells unless a run file says otherwise (mesh.air_conductivity)
AIR_LOG_CONDUCTIVITY = float(np.log(1e-8))


@dataclass(frozen=True, eq=False)
class ProblemInfo:
    """What reports, exports and summaries show about a problem, never what it solves.

    origin: (dim,) metres to add to local coordinates (electrodes, mesh) for the data file's
    coordinates, None for built-in cases; notes: what was read and decided (file, format,
    data type, uncertainty, mesh); overlay: (n, 2) local (x, z) polylines drawn over a 2D
    section, NaN rows between polylines, or None.
    """

    origin: np.ndarray | None = None
    notes: dict = field(default_factory=dict)
    overlay: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything an executor and an inversion need. Arrays are in the survey's data order.

    dobs, uncertainty: (n_data,) V/A; true_model: (n_cells,) ln(S/m) on the model grid, or
    None for field data; tiles: the work split, each carrying its slice of the data.
    """

    name: str
    survey: Survey
    mesh: TensorMesh
    model_grid: ModelGrid
    true_model: np.ndarray | None
    tiles: list[TileSpec]
    solver: str
    clean_data: np.ndarray | None = None
    #: (n_cells,) bool: the cells the MAE scores (field data: the mesh's core, for figures);
    #: None scores every cell
    core_mask: np.ndarray | None = None
    #: (n_cells,) bool: cells below the ground; the others (air) stay at ``inactive_value``
    #: whatever the model says, and their gradient is zero. None: every cell is active.
    active: np.ndarray | None = None
    #: ln(S/m) of the inactive (air) cells
    inactive_value: float = AIR_LOG_CONDUCTIVITY
    info: ProblemInfo = field(default_factory=ProblemInfo)

    @property
    def n_data(self) -> int:
        return self.survey.n_data

    @property
    def dobs(self) -> np.ndarray:
        if self.survey.dobs is None:
            raise DataError(f"{self.name}: this problem was built without data")
        return self.survey.dobs

    @property
    def uncertainty(self) -> np.ndarray:
        if self.survey.uncertainty is None:
            raise DataError(f"{self.name}: this problem was built without data")
        return self.survey.uncertainty

    @property
    def dim(self) -> int:
        return int(self.mesh.dim)

    def fix_inactive(self, m: np.ndarray) -> np.ndarray:
        """m (n_cells,) with the inactive (air) cells set to ``inactive_value`` (a copy when
        any cell is inactive; m itself otherwise)."""
        if self.active is None:
            return m
        return np.where(self.active, m, self.inactive_value)

    def mask_gradient(self, g: np.ndarray) -> np.ndarray:
        """dphi/dm with zeros at the inactive cells (their value is fixed, not inverted)."""
        if self.active is None:
            return g
        return np.where(self.active, g, 0.0)


def problem_from_survey(
    name: str,
    mesh: TensorMesh,
    survey: Survey,
    physics: PhysicsConfig | None = None,
    *,
    true_model: np.ndarray | None = None,
    clean_data: np.ndarray | None = None,
    core_mask: np.ndarray | None = None,
    active: np.ndarray | None = None,
    inactive_value: float = AIR_LOG_CONDUCTIVITY,
    info: ProblemInfo | None = None,
    tiles: list[TileSpec] | None = None,
) -> Problem:
    """A problem from a mesh (also the model grid) and a survey carrying data and uncertainties
    (or neither: a geometry-only problem for planning and forward modelling).

    ``physics`` (the run file's [physics]; defaults when None) says how the survey is cut
    into tiles (``n_tiles``, ``split``, ``solver``, ``nky``, BLAS ``threads``, 3D
    ``local_meshes``). ``active`` (n_cells,) bool marks the ground cells; the others stay at
    ``inactive_value``. ``tiles``: tiles made elsewhere (octree problems,
    ``hpcinv.problem.site``); they get the survey's data here.
    """
    if (survey.dobs is None) != (survey.uncertainty is None):
        raise DataError(f"{survey.name}: observed data need uncertainties and vice versa")
    weights = None if survey.uncertainty is None else 1.0 / survey.uncertainty
    if tiles is not None:
        if survey.dobs is not None and weights is not None:
            tiles = [t.with_data(survey.dobs, weights) for t in tiles]
    else:
        tiles = _tiles_of(mesh, survey, physics or PhysicsConfig(), weights)
    if true_model is not None and np.shape(true_model) != (mesh.n_cells,):
        raise DataError(
            f"true model has shape {np.shape(true_model)}; the model grid has {mesh.n_cells} cells"
        )
    if active is not None:
        active = np.asarray(active, bool)
        if active.shape != (mesh.n_cells,):
            raise DataError(
                f"active mask has shape {active.shape}; the model grid has {mesh.n_cells} cells"
            )
        if active.all():
            active = None
    return Problem(
        name=name,
        survey=survey,
        mesh=mesh,
        model_grid=ModelGrid(mesh),
        true_model=true_model,
        tiles=tiles,
        solver=tiles[0].solver,
        clean_data=clean_data,
        core_mask=core_mask,
        active=active,
        inactive_value=float(inactive_value),
        info=info or ProblemInfo(),
    )


def _tiles_of(
    mesh: TensorMesh, survey: Survey, physics: PhysicsConfig, weights: np.ndarray | None
) -> list[TileSpec]:
    """The survey's tiles on ``mesh`` as [physics] says, each on a mesh of its own when
    ``physics.local_meshes`` (3D)."""
    tiles = problem_tiles(
        mesh,
        survey,
        n_tiles=physics.n_tiles,
        solver=physics.solver,
        nky=physics.nky,
        split=physics.split,
        weights=weights,
        blas_threads=physics.threads,
    )
    local = local_mesh_settings(physics, mesh.dim)
    return tiles if local is None else [with_local_mesh(t, *local) for t in tiles]


def problem_tiles(
    mesh: TensorMesh,
    survey: Survey,
    *,
    n_tiles: int = 1,
    solver: str = "auto",
    nky: int = 11,
    split: str = "auto",
    weights: np.ndarray | None = None,
    blas_threads: int = 1,
) -> list[TileSpec]:
    """The tiles of ``survey`` on ``mesh`` (the model grid), after checking the electrodes."""
    check_electrodes_in_mesh(mesh, survey.electrodes, what=survey.name)
    solver = choose_solver(solver, mesh.dim)
    ky_points = ky_weights = None
    if mesh.dim == 2:
        ky_points, ky_weights = wavenumber_quadrature(mesh, nky)
    return make_tiles(
        survey,
        MeshSpec.from_mesh(mesh),
        n_tiles,
        solver,
        ky_points=ky_points,
        ky_weights=ky_weights,
        weights=weights,
        split=split,
        blas_threads=blas_threads,
    )


def local_mesh_settings(physics: PhysicsConfig, dim: int) -> tuple[float, float] | None:
    """(margin, pad factor) of per-tile meshes, or None when tiles solve on the model grid."""
    if not physics.local_meshes:
        return None
    if dim != 3:
        raise ConfigError(
            "physics.local_meshes is for 3D surveys; a 2.5D line splits by "
            "wavenumbers instead (physics.split)"
        )
    return physics.local_margin, physics.local_pad_factor


def simulate(
    mesh: TensorMesh,
    survey: Survey,
    m: np.ndarray,
    *,
    solver: str = "auto",
    nky: int = 11,
    n_tiles: int = 1,
    blas_threads: int = 1,
) -> np.ndarray:
    """Predicted data (n_data,) of model ``m`` (ln S/m per cell), V/A, in this process."""
    d = np.zeros(survey.n_data)
    for spec in problem_tiles(
        mesh, survey, n_tiles=n_tiles, solver=solver, nky=nky, blas_threads=blas_threads
    ):
        physics = TilePhysics(spec)
        d[spec.data_rows] += physics.predict(m)
        physics.free()
    return d
