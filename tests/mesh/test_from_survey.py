"""Meshes made from surveys: sizes from the electrodes, padding, topography, air, draping."""

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.mesh.from_survey import (
    drape,
    largest_separation,
    mesh_from_survey,
    nearest_spacing,
    straight_line,
    surface_function,
)
from hpcinv.mesh.tensor import core_mask, core_slices, padding_cells
from hpcinv.survey import line_survey, merge_surveys


def _grid_survey(spacing=20.0):
    lines = [line_survey("dipole-dipole", 0.0, 200.0, spacing, 4, y=y) for y in (0.0, 60.0)]
    return merge_surveys(lines)


def test_spacing_and_separation():
    s = _grid_survey()
    assert nearest_spacing(s.electrodes) == pytest.approx(20.0)
    # dipole-dipole, n up to 4: A to N spans 1 + 4 + 1 = 6 spacings
    assert largest_separation(s.electrodes, s.abmn) == pytest.approx(120.0)


def test_core_cells_and_core_extent_3d():
    s = _grid_survey()
    made = mesh_from_survey(s.electrodes, s.abmn)
    mesh = made.mesh
    for axis in range(3):
        h = mesh.h[axis]
        assert h.min() == pytest.approx(10.0)  # half the 20 m spacing, vertically too
    # the core (10 m cells) covers the electrodes plus a two-cell margin
    for axis, (lo, hi) in enumerate([(0.0, 200.0), (0.0, 60.0)]):
        nodes = np.r_[0.0, np.cumsum(mesh.h[axis])] + mesh.origin[axis]
        fine = np.flatnonzero(np.isclose(mesh.h[axis], 10.0))
        assert nodes[fine[0]] <= lo - 20.0 + 1e-9 and nodes[fine[-1] + 1] >= hi + 20.0 - 1e-9
    # vertical core: top at the (flat) surface, 0.4 x 120 m = 48 m deep -> 5 cells of 10 m
    assert mesh.nodes_z.max() == pytest.approx(0.0)
    assert np.isclose(mesh.h[2], 10.0).sum() == 5
    assert made.flat and made.active.all() and made.max_move == 0.0


def test_explicit_sizes_and_padding_reach_the_distance():
    s = _grid_survey()
    made = mesh_from_survey(
        s.electrodes,
        s.abmn,
        cell_size=5.0,
        cell_size_z=2.5,
        core_depth=30.0,
        padding_distance=1000.0,
        pad_factor=1.3,
    )
    mesh = made.mesh
    assert mesh.h[0].min() == 5.0 and mesh.h[2].min() == 2.5
    assert np.isclose(mesh.h[2], 2.5).sum() == 12
    lo, hi = mesh.nodes.min(axis=0), mesh.nodes.max(axis=0)
    assert lo[0] <= 0.0 - 1000.0 and hi[0] >= 200.0 + 1000.0
    assert lo[1] <= 0.0 - 1000.0 and hi[1] >= 60.0 + 1000.0
    assert lo[2] <= -30.0 - 1000.0
    # the padding stops once it reaches the distance: without its last cell it falls short
    pad = padding_cells(5.0, 1.3, reach=1000.0)
    assert pad.sum() >= 1000.0 > pad[:-1].sum()
    assert np.allclose(pad[1:] / pad[:-1], 1.3)


def test_sloping_topography_air_cells_and_draping_2d():
    # a 2D line on a 10% slope: z = 0.1 x
    x = np.arange(0.0, 201.0, 20.0)
    survey = line_survey("dipole-dipole", 0.0, 200.0, 20.0, 4)
    electrodes = np.column_stack([x, 0.1 * x])
    made = mesh_from_survey(electrodes, survey.abmn, cell_size=5.0)
    mesh = made.mesh
    assert mesh.dim == 2 and not made.flat
    cx, cz = mesh.cell_centers.T
    ground = 0.1 * np.clip(cx, 0.0, 200.0)  # constant beyond the line's ends
    assert np.array_equal(made.active, cz < ground)
    assert (~made.active).sum() > 100  # there is air to speak of
    assert mesh.nodes_y.max() == pytest.approx(20.0)  # the top is the highest point
    # draped: each electrode on the top face of the highest ground cell of its column (a
    # cell is ground when its centre is below the surface: within half a cell of it)
    moved = made.electrodes[:, 1] - electrodes[:, 1]
    assert np.all(np.abs(moved) <= 2.5 + 1e-9) and np.abs(moved).max() > 0
    assert made.max_move == pytest.approx(np.abs(moved).max())
    for ex, ez in made.electrodes:
        column = np.isclose(
            cx, mesh.cell_centers_x[np.searchsorted(mesh.nodes_x, ex, side="right") - 1]
        )
        top_ground = cz[column & made.active].max() + 2.5
        assert ez == pytest.approx(top_ground)


def test_sloping_topography_3d_from_a_file_and_air():
    s = _grid_survey()
    topo_xy = np.array([[x, y] for x in (-50.0, 250.0) for y in (-50.0, 110.0)])
    topo = np.column_stack([topo_xy, 0.05 * topo_xy[:, 1]])  # rising to the north
    electrodes = s.electrodes.copy()
    electrodes[:, 2] = 0.05 * electrodes[:, 1]
    made = mesh_from_survey(electrodes, s.abmn, cell_size=10.0, topography=topo)
    cc = made.mesh.cell_centers
    # inside the topography's hull the surface is the plane z = 0.05 y
    inside = (cc[:, 0] > -50) & (cc[:, 0] < 250) & (cc[:, 1] > -50) & (cc[:, 1] < 110)
    assert np.array_equal(made.active[inside], (cc[:, 2] < 0.05 * cc[:, 1])[inside])
    assert (~made.active[inside]).sum() > 50
    assert made.max_move <= 5.0 + 1e-9


def test_surface_function_flat_line_and_area():
    flat = surface_function(np.array([[0.0, 0.0, 3.0], [10.0, 5.0, 3.0]]))
    assert np.all(flat(np.array([[100.0, -4.0]])) == 3.0)
    line = surface_function(np.array([[0.0, 0.0], [10.0, 10.0]]))
    assert line(np.array([[5.0], [20.0]])).tolist() == [5.0, 10.0]


def test_drape_refuses_an_electrode_outside_the_mesh():
    s = line_survey("dipole-dipole", 0.0, 100.0, 20.0, 2)
    made = mesh_from_survey(s.electrodes, s.abmn)
    with pytest.raises(DataError, match="outside the mesh"):
        drape(made.mesh, made.active, np.array([[1e6, 0.0]]))


def test_straight_line_recognised():
    t = np.linspace(0.0, 300.0, 13)
    points = np.column_stack([1000.0 + 0.6 * t, 2000.0 + 0.8 * t, np.zeros_like(t)])
    origin, direction = straight_line(points)
    assert np.allclose(origin, [1000.0, 2000.0]) and np.allclose(direction, [0.6, 0.8])
    bent = points.copy()
    bent[5, 0] += 1.0  # one electrode a metre off the line
    assert straight_line(bent) is None
    assert straight_line(_grid_survey().electrodes) is None


def test_padding_by_count_reach_and_fill():
    assert np.allclose(padding_cells(2.0, 1.5, count=3), [3.0, 4.5, 6.75])
    fill = padding_cells(1.0, 2.0, fill=13.0)  # 2 + 4 = 6, then 8 would pass 13 - 6 = 7 left
    assert fill.sum() == pytest.approx(13.0) and np.allclose(fill[:2], [2.0, 4.0])
    assert np.allclose(padding_cells(1.0, 2.0, fill=6.5), [2.0, 4.5])  # 0.5 < 2: merged
    assert padding_cells(1.0, 2.0, fill=0.0).size == 0
    with pytest.raises(ValueError):
        padding_cells(1.0, 2.0, count=2, reach=3.0)


def test_core_is_the_run_of_finest_cells():
    from discretize import TensorMesh

    mesh = TensorMesh([[4.0, 2.0, 1.0, 1.0, 1.0, 2.0], [3.0, 1.0, 1.0]])
    assert core_slices(mesh) == (slice(2, 5), slice(1, 3))
    mask = core_mask(mesh).reshape(mesh.shape_cells, order="F")
    assert mask.sum() == 6 and mask[2:5, 1:3].all()
