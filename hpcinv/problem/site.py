"""Octree problems: a survey over a site gets octree simulation meshes and a model grid.

For a real-size 3D survey a tensor mesh fine enough at the electrodes is fine everywhere (a
577-electrode field file planned 2.9 M cells and 45 GB a tile). Here instead:

* one global octree (``hpcinv.mesh.octree``): finest cells at the electrodes and along the
  surface, coarsening with distance and depth; its draped electrodes are the survey's;
* a model grid of its own: a regular TensorMesh over the core at ``mesh.model_cell_size``
  (coarser than the finest cells), with a few padding cells out to the same domain; the
  CNN's output lives there;
* each tile solves on its own octree (finest only at its own electrodes, the rest of the
  surface coarser) and carries the sparse volume-averaging map from the grid to its cells
  (``hpcinv.mesh.projection``) and its air cells.

Every solve outside the inversion (synthetic data, numeric geometric factors) runs on the
tiles' own meshes, so it obeys the same memory rules as the inversion's solves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from discretize import TensorMesh, TreeMesh

from hpcinv.config import MeshConfig
from hpcinv.mesh import MeshSpec, core_mask
from hpcinv.mesh.from_survey import largest_separation, nearest_spacing
from hpcinv.mesh.octree import (
    default_grid_cell,
    model_grid_mesh,
    octree_from_survey,
    tile_octree,
    tree_active,
)
from hpcinv.mesh.projection import grid_to_mesh
from hpcinv.physics import TilePhysics
from hpcinv.survey import Survey
from hpcinv.tiles import TileSpec, make_tiles, tile_electrodes, with_mesh

log = logging.getLogger(__name__)

#: a tensor mesh above this many cells makes ``mesh.kind = "auto"`` take an octree: a 3D
#: MUMPS factorization grows ~n^2 in time, and 200k cells already take ~40 s and ~3 GB
#: per factorization here (measured, DESIGN.md numerics rules)
OCTREE_ABOVE_CELLS = 200_000


@dataclass(frozen=True, eq=False)
class OctreeSite:
    """The meshes of an octree problem.

    mesh: the global octree (TreeMesh); active: (n_cells,) its ground cells; grid: the
    model grid (TensorMesh) and grid_active its ground cells; surface: (n, 3) the surface
    points every tile mesh refines along; electrodes: (n_electrodes, 3) draped positions;
    moved: how far each moved, m; finest: the finest cell width, m; core_depth: depth of the
    core below the lowest electrode, m; flat: no topography.
    """

    mesh: TreeMesh
    active: np.ndarray
    grid: TensorMesh
    grid_active: np.ndarray
    surface: np.ndarray
    electrodes: np.ndarray
    moved: np.ndarray
    finest: float
    core_depth: float
    flat: bool

    @property
    def grid_core_mask(self) -> np.ndarray:
        """(n_grid_cells,) the grid's uniform core below the surface: the cells scored."""
        return core_mask(self.grid) & self.grid_active


def octree_site(
    electrodes: np.ndarray,
    abmn: np.ndarray,
    topography: np.ndarray | None,
    config: MeshConfig,
) -> OctreeSite:
    """Build the global octree and the model grid of a 3D survey (local metres)."""
    electrodes = np.asarray(electrodes, float)
    surface = electrodes if topography is None else np.asarray(topography, float)
    made = octree_from_survey(
        electrodes,
        abmn,
        cell_size=config.cell_size,
        core_depth=config.core_depth,
        padding_distance=config.padding_distance,
        topography=topography,
    )
    mesh = made.mesh
    finest = float(min(np.min(h) for h in mesh.h))
    core_depth = config.core_depth or 0.4 * largest_separation(electrodes, abmn)
    margin = config.core_margin or 2.0 * (config.cell_size or 0.5 * nearest_spacing(electrodes))
    top = float(np.max(mesh.nodes[:, -1]))
    core_min = np.r_[electrodes[:, :2].min(axis=0) - margin, electrodes[:, 2].min() - core_depth]
    core_max = np.r_[electrodes[:, :2].max(axis=0) + margin, top]
    cell = config.model_cell_size or default_grid_cell(finest, core_min, core_max)
    grid = model_grid_mesh(mesh, core_min, core_max, cell)
    grid_active = tree_active(grid, surface) if not made.flat else np.ones(grid.n_cells, bool)
    log.info(
        "octree mesh: %d cells (finest %.3g m, %d air), model grid %s cells of %.3g m in the core",
        mesh.n_cells,
        finest,
        int((~made.active).sum()),
        " x ".join(str(n) for n in grid.shape_cells),
        cell,
    )
    return OctreeSite(
        mesh=mesh,
        active=made.active,
        grid=grid,
        grid_active=grid_active,
        surface=surface,
        electrodes=made.electrodes,
        moved=made.moved,
        finest=finest,
        core_depth=core_depth,
        flat=made.flat,
    )


def octree_tiles(
    site: OctreeSite,
    survey: Survey,
    *,
    n_tiles: int,
    solver: str,
    inactive_value: float,
    weights: np.ndarray | None = None,
    blas_threads: int = 1,
) -> list[TileSpec]:
    """The tiles of ``survey`` (on the site's draped electrodes), each on its own octree
    (the global one for a single tile) with the map from the model grid."""
    base = make_tiles(
        survey,
        MeshSpec.from_mesh(site.grid),
        n_tiles,
        solver,
        weights=weights,
        blas_threads=blas_threads,
    )
    tiles = []
    for spec in base:
        if n_tiles == 1:
            mesh, active = site.mesh, site.active
        else:
            mesh = tile_octree(
                site.mesh, site.surface, tile_electrodes(spec), core_depth=site.core_depth
            )
            active = np.ones(mesh.n_cells, bool) if site.flat else tree_active(mesh, site.surface)
        projection = grid_to_mesh(site.grid, mesh, grid_active=site.grid_active, mesh_active=active)
        tiles.append(
            with_mesh(
                spec,
                MeshSpec.from_mesh(mesh),
                projection,
                None if active.all() else active,
                inactive_value,
            )
        )
    return tiles


def predict_on_tiles(tiles: list[TileSpec], n_data: int, model) -> np.ndarray:
    """Data (n_data,) of every tile in this process, one tile at a time (its factors freed
    before the next): ``model`` is a grid model (n_grid_cells,) or a function of cell
    centres (n, 3) -> ln(S/m), evaluated on each tile's own cells (synthetic data without
    the grid's averaging)."""
    d = np.zeros(n_data)
    for spec in tiles:
        if callable(model):
            spec_on_mesh = replace(spec, projection=None)
            physics = TilePhysics(spec_on_mesh)
            m = model(spec.mesh.to_mesh().cell_centers)
        else:
            physics = TilePhysics(spec)
            m = model
        d[spec.data_rows] += physics.predict(m)
        physics.free()
    return d
