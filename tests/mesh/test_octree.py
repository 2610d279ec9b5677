"""Octree meshes from a 3D survey: refinement, domain, air, draping, tiles, the model grid."""

import numpy as np
import pytest
from discretize import TreeMesh

from hpcinv.errors import DataError
from hpcinv.mesh.from_survey import largest_separation
from hpcinv.mesh.octree import (
    DEFAULT_MAX_MODEL_CELLS,
    default_grid_cell,
    drape_on_tree,
    model_grid_mesh,
    octree_from_survey,
    tile_octree,
    tree_active,
)

N_LINES, N_PER_LINE, DX, DY = 12, 16, 2.0, 4.0
H = 1.0  # half the electrode spacing: the builder's default finest cell


def relief(x, y):
    return 3.0 * np.sin(x / 15.0) + 0.1 * y


def dipole_dipole(n_lines, n_per_line, n_max=4):
    """abmn rows of a dipole-dipole (a = one spacing, n = 1..n_max) along every line."""
    line = [
        (a, a + 1, a + 1 + n, a + 2 + n)
        for a in range(n_per_line - 3)
        for n in range(1, n_max + 1)
        if a + 2 + n < n_per_line
    ]
    first = np.arange(n_lines)[:, None, None] * n_per_line
    return (np.array(line)[None] + first).reshape(-1, 4)


def electrode_xy():
    x, y = np.meshgrid(np.arange(N_PER_LINE) * DX, np.arange(N_LINES) * DY, indexing="xy")
    return np.c_[x.ravel(), y.ravel()]  # line by line, N_PER_LINE electrodes each


def topography_grid():
    x, y = np.meshgrid(np.arange(-30.0, 62.0, 2.0), np.arange(-30.0, 76.0, 2.0), indexing="ij")
    return np.c_[x.ravel(), y.ravel(), relief(x, y).ravel()]


@pytest.fixture(scope="module")
def survey():
    xy = electrode_xy()
    electrodes = np.c_[xy, relief(xy[:, 0], xy[:, 1])]
    return electrodes, dipole_dipole(N_LINES, N_PER_LINE), topography_grid()


@pytest.fixture(scope="module")
def built(survey):
    electrodes, abmn, topo = survey
    return octree_from_survey(electrodes, abmn, topography=topo)


@pytest.fixture(scope="module")
def flat_built(survey):
    electrodes, abmn, _ = survey
    flat = electrodes.copy()
    flat[:, 2] = 5.0
    return octree_from_survey(flat, abmn)


@pytest.fixture(scope="module")
def tile(survey, built):
    electrodes, _, topo = survey
    half = np.arange(len(electrodes) // 2)  # the first six lines
    return half, tile_octree(built.mesh, topo, electrodes[half])


@pytest.fixture(scope="module")
def sparse_lifted():
    """Three lines 16 m apart whose electrodes are 3 m above the topography: the surface
    between the lines is refined by the surface rule alone, and draping moves every
    electrode down by about 3 m."""
    xy = np.c_[np.tile(np.arange(16) * DX, 3), np.repeat([0.0, 16.0, 32.0], 16)]
    electrodes = np.c_[xy, relief(xy[:, 0], xy[:, 1]) + 3.0]
    topo = topography_grid()
    built = octree_from_survey(electrodes, dipole_dipole(3, 16), topography=topo)
    return electrodes, topo, built


def cell_boxes(mesh):
    half = 0.5 * mesh.h_gridded
    return mesh.cell_centers - half, mesh.cell_centers + half


def touching(mesh, points, tol=1e-9):
    """(n_points, n_cells) bool: the cell's closed box contains the point."""
    lo, hi = cell_boxes(mesh)
    p = points[:, None, :]
    return np.all((lo[None] <= p + tol) & (p <= hi[None] + tol), axis=2)


def widest_touching(mesh, points):
    """(n_points, dim) the largest cell widths among the cells touching each point."""
    near = touching(mesh, points)
    assert near.any(axis=1).all()
    return np.where(near[..., None], mesh.h_gridded[None], 0.0).max(axis=1)


def assert_on_ground(mesh, active, draped, tol=1e-9):
    """Each point is on the top face of an active cell whose footprint contains it, and no
    active cell with such a footprint reaches above it (the cell above is air)."""
    lo, hi = cell_boxes(mesh)
    p = draped[:, None, :2]
    inside = np.all((lo[None, :, :2] <= p + tol) & (p <= hi[None, :, :2] + tol), axis=2)
    top_here = np.abs(hi[None, :, 2] - draped[:, None, 2]) <= tol
    assert np.all(np.any(inside & top_here & active[None], axis=1))
    above = inside & active[None] & (hi[None, :, 2] > draped[:, None, 2] + tol)
    assert not above.any()


def test_finest_cells_at_every_electrode(survey, built):
    for points in (survey[0], built.electrodes):
        np.testing.assert_allclose(widest_touching(built.mesh, points), H)


def test_surface_over_the_core_is_finest(survey, built):
    mesh = built.mesh
    lo, hi = cell_boxes(mesh)
    xy_min, xy_max = survey[0][:, :2].min(axis=0), survey[0][:, :2].max(axis=0)
    cc = mesh.cell_centers
    in_core = np.all((cc[:, :2] > xy_min) & (cc[:, :2] < xy_max), axis=1)
    z = relief(cc[:, 0], cc[:, 1])
    crossing = in_core & (lo[:, 2] < z) & (z < hi[:, 2])
    assert crossing.sum() > 1000
    np.testing.assert_allclose(mesh.h_gridded[crossing], H)


def test_surface_between_sparse_lines_is_finest(sparse_lifted):
    mesh = sparse_lifted[2].mesh
    lo, hi = cell_boxes(mesh)
    cc = mesh.cell_centers
    in_x = (cc[:, 0] > 0) & (cc[:, 0] < 30)
    between = in_x & ((np.abs(cc[:, 1] - 8.0) < 2) | (np.abs(cc[:, 1] - 24.0) < 2))
    z = relief(cc[:, 0], cc[:, 1])
    crossing = between & (lo[:, 2] < z) & (z < hi[:, 2])
    assert crossing.sum() > 100
    np.testing.assert_allclose(mesh.h_gridded[crossing], H)


def test_domain_covers_core_and_padding(survey, built):
    electrodes, abmn, _ = survey
    mesh = built.mesh
    start = mesh.origin
    end = start + np.array([w.sum() for w in mesh.h])
    xy_min, xy_max = electrodes[:, :2].min(axis=0), electrodes[:, :2].max(axis=0)
    padding = 2.0 * np.max(xy_max - xy_min)
    assert np.all(start[:2] <= xy_min - padding) and np.all(end[:2] >= xy_max + padding)
    core_depth = 0.4 * largest_separation(electrodes, abmn)
    assert start[2] <= electrodes[:, 2].min() - core_depth - padding
    for w in mesh.h:  # per axis a power of two of finest cells ...
        n = len(w)
        assert n & (n - 1) == 0 and np.allclose(w, H)
    # ... the smallest: half as many would not cover core and padding
    assert 0.5 * len(mesh.h[0]) * H < (xy_max - xy_min)[0] + 2 * padding


def test_top_is_the_highest_surface_point(survey, built):
    top = built.mesh.origin[2] + built.mesh.h[2].sum()
    assert top == pytest.approx(survey[2][:, 2].max(), abs=1e-9)


def test_cells_above_the_surface_are_air(survey, built):
    topo = survey[2]
    cc = built.mesh.cell_centers
    lo, hi = topo[:, :2].min(axis=0), topo[:, :2].max(axis=0)
    inside = np.all((cc[:, :2] >= lo) & (cc[:, :2] <= hi), axis=1)
    z = relief(cc[:, 0], cc[:, 1])
    # the linear interpolation of the 2 m grid is within 0.01 m of the relief
    assert not built.active[inside & (cc[:, 2] > z + 0.05)].any()
    assert built.active[inside & (cc[:, 2] < z - 0.05)].all()
    assert (~built.active).sum() > 1000 and not built.flat
    np.testing.assert_array_equal(built.active, tree_active(built.mesh, topo))


def test_draped_electrodes_sit_on_the_ground(survey, built):
    assert_on_ground(built.mesh, built.active, built.electrodes)
    np.testing.assert_allclose(built.electrodes[:, :2], survey[0][:, :2])
    np.testing.assert_allclose(built.moved, np.abs(built.electrodes[:, 2] - survey[0][:, 2]))
    assert 0 < built.max_move <= H


def test_electrodes_above_the_ground_are_draped_into_finest_cells(sparse_lifted):
    electrodes, topo, built = sparse_lifted
    assert_on_ground(built.mesh, built.active, built.electrodes)
    assert np.all(np.abs(built.moved - 3.0) < H)
    np.testing.assert_allclose(widest_touching(built.mesh, built.electrodes), H)
    line = np.arange(16, 32)  # the tile mesh refines where draping puts them too
    tile = tile_octree(built.mesh, topo, electrodes[line])
    draped = drape_on_tree(tile, tree_active(tile, topo), electrodes[line])
    np.testing.assert_allclose(draped, built.electrodes[line], atol=1e-12)
    np.testing.assert_allclose(widest_touching(tile, draped), H)


def test_flat_survey_has_no_air_and_nothing_moves(flat_built):
    assert flat_built.flat and flat_built.active.all()
    np.testing.assert_array_equal(flat_built.moved, 0.0)
    assert flat_built.mesh.origin[2] + flat_built.mesh.h[2].sum() == pytest.approx(5.0)


def test_tile_mesh_has_the_global_domain_and_fewer_cells(built, tile):
    _, mesh = tile
    np.testing.assert_array_equal(mesh.origin, built.mesh.origin)
    for ours, theirs in zip(mesh.h, built.mesh.h):
        np.testing.assert_array_equal(ours, theirs)
    assert mesh.n_cells < 0.8 * built.mesh.n_cells


def test_tile_mesh_is_finest_only_around_its_electrodes(survey, built, tile):
    half, mesh = tile
    ours = np.r_[survey[0][half], built.electrodes[half]]
    np.testing.assert_allclose(widest_touching(mesh, ours), H)
    # octree cells split in eights: a finest cell is there because its parent (a 2h cube on
    # the base grid) comes within the padding (2 cells) of an electrode
    fine = np.isclose(mesh.h_gridded[:, 0], H)
    parent_lo = mesh.origin + 2 * H * np.floor((mesh.cell_centers[fine] - mesh.origin) / (2 * H))
    gap = np.maximum(parent_lo[:, None] - ours[None], 0) + np.maximum(
        ours[None] - (parent_lo[:, None] + 2 * H), 0
    )
    assert np.linalg.norm(gap, axis=2).min(axis=1).max() <= 2 * H + 0.05  # 0.05: relief vs grid
    # two lines (8 m) beyond the tile the surface is two levels coarser
    far = survey[0][len(half) + N_PER_LINE :]
    np.testing.assert_allclose(mesh.h_gridded[mesh.point2index(far)], 4 * H)


def test_global_draped_electrodes_are_on_the_tile_ground(survey, built, tile):
    half, mesh = tile
    active = tree_active(mesh, survey[2])
    assert_on_ground(mesh, active, built.electrodes[half])
    np.testing.assert_allclose(
        drape_on_tree(mesh, active, survey[0][half]), built.electrodes[half], atol=1e-12
    )


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_model_grid_covers_the_mesh_with_an_aligned_uniform_core(survey, built, factor):
    electrodes = survey[0]
    mesh = built.mesh
    top = mesh.origin[2] + mesh.h[2].sum()
    core_min = np.r_[electrodes[:, :2].min(axis=0), electrodes[:, 2].min() - 5.0]
    core_max = np.r_[electrodes[:, :2].max(axis=0), top]
    cell = factor * H
    grid = model_grid_mesh(mesh, core_min, core_max, cell)
    np.testing.assert_array_equal(grid.origin, mesh.origin)
    for axis in range(3):
        np.testing.assert_allclose(grid.h[axis].sum(), mesh.h[axis].sum(), rtol=0, atol=1e-9)
        nodes = grid.origin[axis] + np.r_[0.0, np.cumsum(grid.h[axis])]
        uniform = np.flatnonzero(np.isclose(grid.h[axis], cell))
        assert np.all(np.diff(uniform) == 1)  # one contiguous core
        faces = nodes[uniform[0] : uniform[-1] + 2]
        assert faces[0] <= core_min[axis] + 1e-9 and faces[-1] >= core_max[axis] - 1e-9
        assert faces[0] > core_min[axis] - cell and faces[-1] < core_max[axis] + cell
        steps = (faces - mesh.origin[axis]) / cell  # on the base grid, a tree cell each
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
        pad = grid.h[axis][: uniform[0]][::-1]
        assert np.all(pad[:-1] > cell)  # growing padding (the last one takes the remainder)
    assert grid.nodes_z.max() == pytest.approx(top, abs=1e-9)


def test_model_grid_cell_must_be_a_multiple_of_the_finest(built):
    with pytest.raises(DataError, match="multiple"):
        model_grid_mesh(built.mesh, [0, 0, -10], [30, 44, 0], 1.5 * H)


def test_default_grid_cell_is_the_smallest_within_the_bound():
    core_min, core_max = np.zeros(3), np.array([200.0, 150.0, 60.0])
    cell = default_grid_cell(1.0, core_min, core_max)
    assert cell == 4.0  # 51 x 39 x 16 = 31,824 counted cells; 2 m: 101 x 76 x 31 = 237,956
    count = np.prod(np.ceil((core_max - core_min) / cell) + 1)
    finer = np.prod(np.ceil((core_max - core_min) / (cell / 2)) + 1)
    assert count <= DEFAULT_MAX_MODEL_CELLS < finer
    assert default_grid_cell(1.0, core_min, [10, 10, 10]) == 1.0


def test_building_twice_gives_the_same_tree(survey, built):
    electrodes, abmn, topo = survey
    again = octree_from_survey(electrodes, abmn, topography=topo)
    for key, value in built.mesh.cell_state.items():
        np.testing.assert_array_equal(again.mesh.cell_state[key], value)


def test_2d_survey_is_refused():
    electrodes = np.c_[np.arange(10.0), np.zeros(10)]
    abmn = np.array([[0, 1, 2, 3]])
    with pytest.raises(DataError, match="3D"):
        octree_from_survey(electrodes, abmn)


def test_tile_of_a_2d_mesh_is_refused():
    mesh = TreeMesh([np.ones(8), np.ones(8)], diagonal_balance=True)
    with pytest.raises(DataError, match="3D"):
        tile_octree(mesh, np.zeros((4, 2)), np.zeros((1, 2)))


def test_drape_names_the_electrode_it_cannot_place(built):
    outside = np.array([[0.0, 0.0, 0.0], [1e6, 0.0, 0.0]])
    with pytest.raises(DataError, match="electrode 1 .* outside"):
        drape_on_tree(built.mesh, built.active, outside)
    no_ground = np.zeros(built.mesh.n_cells, bool)
    with pytest.raises(DataError, match="electrode 0 .* no ground"):
        drape_on_tree(built.mesh, no_ground, outside[:1])
