"""A problem: survey with data, model grid, true model and tiles, built from a run config.

Built-in cases bring their mesh and simulate their data; field data (``problem.data``) are
read from a file, converted to V/A with uncertainties assigned, and get a mesh made from
their electrodes (``hpcinv.mesh.from_survey``), with air cells above the topography.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from discretize import TensorMesh

from hpcinv.problem.cases import build_case
from hpcinv.config import RunConfig
from hpcinv.errors import ConfigError, DataError
from hpcinv.mesh import MeshSpec, ModelGrid, check_electrodes_in_mesh
from hpcinv.physics import TilePhysics, choose_solver, wavenumber_quadrature
from hpcinv.survey import Survey
from hpcinv.tiles import TileSpec, make_tiles, with_local_mesh

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything an executor needs. Arrays are in the survey's data order.

    dobs, uncertainty: (n_data,) volts; true_model: (n_cells,) ln(S/m) on the model grid,
    or None for field data; tiles: the work split, each carrying its slice of the data.
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
    inactive_value: float = float(np.log(1e-8))
    #: (dim,) metres: add to local coordinates (electrodes, mesh) to get the file's
    #: coordinates; None for built-in cases (their coordinates are the local ones)
    origin: np.ndarray | None = None
    #: field data: what was read and decided (file, format, data type, uncertainty, mesh)
    notes: dict | None = None
    #: (n, 2) local (x, z) polylines drawn over a 2D section (interpreted geology), NaN rows
    #: between polylines; None without one
    overlay: np.ndarray | None = None

    @property
    def n_data(self) -> int:
        return self.survey.n_data

    @property
    def dobs(self) -> np.ndarray:
        return self.survey.dobs

    @property
    def uncertainty(self) -> np.ndarray:
        return self.survey.uncertainty

    @property
    def dim(self) -> int:
        return self.mesh.dim

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


def build_problem(config: RunConfig, *, with_data: bool = True) -> Problem:
    """Build the problem a config describes; synthetic cases get their data simulated here.

    ``with_data=False`` builds geometry and tiles only, without a solve (``hpcinv plan``).
    """
    pc = config.problem
    if pc.data:
        from hpcinv.problem.field import field_problem  # it builds on this module's functions

        return field_problem(config, with_data=with_data)
    if pc.noise_percent == 0 and pc.noise_floor == 0:
        raise ConfigError("problem.noise_percent and problem.noise_floor are both 0: the data "
                          "would have zero uncertainty; set either > 0")
    case = build_case(pc.case)
    physics = config.physics
    survey, clean = case.survey, None
    if with_data:
        log.info("simulating data of %s (%d data, %d sources)", case.name, case.survey.n_data,
                 case.survey.n_sources)
        clean = simulate(case.mesh, case.survey, case.true_model, solver=physics.solver,
                         nky=physics.nky)
        rng = np.random.default_rng(pc.noise_seed)
        rel = pc.noise_percent / 100.0
        dobs = clean + rel * np.abs(clean) * rng.standard_normal(clean.size)
        # the paper's weighting: W = 1 / (0.05 |dobs|), plus an optional absolute floor
        survey = survey.with_data(dobs, rel * np.abs(dobs) + pc.noise_floor)
    local = None
    if physics.local_meshes:
        if case.mesh.dim != 3:
            raise ConfigError("physics.local_meshes is for 3D surveys; a 2.5D line splits by "
                              "wavenumbers instead (physics.split)")
        local = (physics.local_margin, physics.local_pad_factor)
    return problem_from_survey(case.name, case.mesh, survey, n_tiles=physics.n_tiles, solver=physics.solver, nky=physics.nky,
                               split=physics.split, local_meshes=local,
                               true_model=case.true_model, clean_data=clean,
                               core_mask=case.core_mask)


def problem_from_survey(name: str, mesh: TensorMesh, survey: Survey, *, n_tiles: int = 1,
                        solver: str = "auto", nky: int = 11, split: str = "auto",
                        local_meshes: tuple[float, float] | None = None, true_model=None,
                        clean_data=None, core_mask=None, active=None,
                        inactive_value: float = float(np.log(1e-8)), origin=None,
                        notes=None, overlay=None) -> Problem:
    """A problem from a mesh (also the model grid) and a survey carrying data and uncertainties
    (or neither: a geometry-only problem for planning and forward modelling).

    ``local_meshes`` = (margin m, pad factor) gives every tile its own mesh (3D).
    ``active`` (n_cells,) bool marks the ground cells; the others stay at ``inactive_value``.
    """
    if (survey.dobs is None) != (survey.uncertainty is None):
        raise DataError(f"{survey.name}: observed data need uncertainties and vice versa")
    weights = None if survey.uncertainty is None else 1.0 / survey.uncertainty
    tiles = _tiles(mesh, survey, n_tiles, solver, nky, weights=weights, split=split)
    if local_meshes is not None:
        tiles = [with_local_mesh(t, *local_meshes) for t in tiles]
    if true_model is not None and np.shape(true_model) != (mesh.n_cells,):
        raise DataError(f"true model has shape {np.shape(true_model)}; the model grid has "
                        f"{mesh.n_cells} cells")
    if active is not None:
        active = np.asarray(active, bool)
        if active.shape != (mesh.n_cells,):
            raise DataError(f"active mask has shape {active.shape}; the model grid has "
                            f"{mesh.n_cells} cells")
        if active.all():
            active = None
    return Problem(name=name, survey=survey, mesh=mesh, model_grid=ModelGrid(mesh),
                   true_model=true_model, tiles=tiles, solver=tiles[0].solver,
                   clean_data=clean_data, core_mask=core_mask, active=active,
                   inactive_value=float(inactive_value),
                   origin=None if origin is None else np.asarray(origin, float), notes=notes,
                   overlay=overlay)


def _tiles(mesh, survey, n_tiles, solver, nky, weights=None, split="sources") -> list[TileSpec]:
    check_electrodes_in_mesh(mesh, survey.electrodes, what=survey.name)
    solver = choose_solver(solver, mesh.dim)
    ky_points = ky_weights = None
    if mesh.dim == 2:
        ky_points, ky_weights = wavenumber_quadrature(mesh, nky)
    return make_tiles(survey, MeshSpec.from_mesh(mesh), n_tiles, solver, ky_points=ky_points,
                      ky_weights=ky_weights, weights=weights, split=split)


def simulate(mesh: TensorMesh, survey: Survey, m: np.ndarray, *, solver: str = "auto",
             nky: int = 11, n_tiles: int = 1) -> np.ndarray:
    """Predicted data (n_data,) of model ``m`` (ln S/m per cell), volts for 1 A, serially."""
    d = np.zeros(survey.n_data)
    for spec in _tiles(mesh, survey, n_tiles, solver, nky):
        physics = TilePhysics(spec)
        d[spec.data_rows] += physics.predict(m)
        physics.free()
    return d
