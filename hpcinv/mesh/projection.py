"""The map from the model grid to a simulation mesh: volume averaging of ln(sigma).

A plain sparse matrix P (n_mesh_cells, n_grid_cells) that travels with a tile: the tile's
model is ``P m`` on its ground cells; its gradient on the grid is ``P^T g`` (the exact
adjoint, since the map is linear). Both meshes cover the same domain.

Air is fixed, not averaged: ln(1e-8 S/m) = -18.4 next to ground values of -3 would make a
mixed cell anything in between. So a ground cell of the mesh averages over the ground cells
of the grid only (weights renormalised to sum to one), and a mesh cell in the air gets no
row at all (the tile sets it to the air value). A ground cell of the mesh that overlaps no
ground cell of the grid (a fine cell under the surface where the coarser grid cell's centre
is above it) takes the nearest ground cell of the grid.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def grid_to_mesh(
    grid,
    mesh,
    *,
    grid_active: np.ndarray | None = None,
    mesh_active: np.ndarray | None = None,
) -> sp.csr_matrix:
    """P (mesh.n_cells, grid.n_cells): volume averaging from ``grid`` (a TensorMesh) to
    ``mesh`` (TensorMesh or TreeMesh) restricted to ground cells (module docstring).

    ``grid_active``, ``mesh_active``: (n_cells,) bool, True below the surface; None: all.
    Each row of a ground cell sums to one; rows of air cells are empty.
    """
    from discretize.utils import volume_average

    P = sp.csr_matrix(volume_average(grid, mesh))
    if grid_active is None and mesh_active is None:
        return P
    n_mesh, n_grid = P.shape
    g_act = np.ones(n_grid, bool) if grid_active is None else np.asarray(grid_active, bool)
    m_act = np.ones(n_mesh, bool) if mesh_active is None else np.asarray(mesh_active, bool)
    P = sp.diags(m_act.astype(float)) @ P @ sp.diags(g_act.astype(float))
    P = sp.csr_matrix(P)
    P.eliminate_zeros()
    sums = np.asarray(P.sum(axis=1)).ravel()
    orphans = np.flatnonzero(m_act & (sums <= 0))
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    P = sp.csr_matrix(sp.diags(scale) @ P)
    if orphans.size:
        from scipy.spatial import cKDTree

        ground = np.flatnonzero(g_act)
        _, nearest = cKDTree(grid.cell_centers[ground]).query(mesh.cell_centers[orphans])
        P = P + sp.csr_matrix(
            (np.ones(orphans.size), (orphans, ground[nearest])), shape=(n_mesh, n_grid)
        )
    return sp.csr_matrix(P)
