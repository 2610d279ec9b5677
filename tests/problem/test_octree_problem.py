"""Octree problems end to end: a pyGIMLi file over topography that names only its data runs
on octree tiles with a model grid; Dask equals serial with one factorization per tile per
model; ``mesh.kind = "auto"`` picks octrees where a tensor mesh would be too large; the
grid-3d case is a modern field grid."""

import math
from pathlib import Path

import numpy as np
import pytest

import hpcinv
from hpcinv.config import MeshConfig, config_from_dict, load_config
from hpcinv.engine.dask_executor import DaskExecutor
from hpcinv.errors import CheckpointError, SizeError
from hpcinv.problem.cases import grid_3d_case, grid_3d_model, grid_3d_surface
from hpcinv.problem.site import octree_site, octree_tiles, predict_on_tiles
from hpcinv.readers import write_survey
from hpcinv.survey import Survey, line_configurations

EASTING, NORTHING = 400_000.0, 7_000_000.0


def _surface(xy):
    return 3.0 * np.exp(-((xy[:, 0] - 8.0) ** 2 + (xy[:, 1] - 4.0) ** 2) / 40.0) + 0.2 * xy[:, 1]


def _site_survey():
    """4 lines x 10 electrodes (2 m along, 3 m between) on a small hill; dipole-dipole."""
    electrodes = np.array([[2.0 * i, 3.0 * j, 0.0] for j in range(4) for i in range(10)])
    electrodes[:, 2] = _surface(electrodes[:, :2])
    abmn = np.vstack([line_configurations("dipole-dipole", 10, 4) + 10 * j for j in range(4)])
    return electrodes, abmn


def _model(points):
    depth = _surface(points[:, :2]) - points[:, 2]
    m = np.full(len(points), np.log(0.01))
    m[(np.abs(points[:, 0] - 9.0) < 3) & (np.abs(points[:, 1] - 4.5) < 3) & (depth > 2)] = np.log(
        0.1
    )
    return m


@pytest.fixture(scope="module")
def site_file(tmp_path_factory):
    """A pyGIMLi unified file in file coordinates, data simulated on the site's octree."""
    tmp = tmp_path_factory.mktemp("site")
    electrodes, abmn = _site_survey()
    site = octree_site(electrodes, abmn, None, MeshConfig(kind="octree"))
    local = Survey(site.electrodes, abmn)
    (tile,) = octree_tiles(site, local, n_tiles=1, solver="mumps", inactive_value=np.log(1e-8))
    clean = predict_on_tiles([tile], local.n_data, _model)
    shifted = site.electrodes + [EASTING, NORTHING, 0.0]
    path = tmp / "data" / "hill.ohm"
    path.parent.mkdir()
    write_survey(Survey(shifted, abmn, clean, 0.03 * np.abs(clean)), path, "pygimli")
    config = tmp / "run" / "hill.toml"
    config.parent.mkdir()
    config.write_text(
        '[problem]\ndata = "../data/hill.ohm"\n[mesh]\nkind = "octree"\n'
        "[physics]\nn_tiles = 2\n[network]\nchannels = [8, 4]\n"
    )
    return config, clean


def test_field_file_runs_on_octree_tiles_with_a_model_grid(site_file, tmp_path):
    config_path, clean = site_file
    problem = hpcinv.build_problem(load_config(config_path))
    notes = problem.info.notes
    assert notes["mesh_kind"] == "octree" and notes["air_cells"] > 0
    assert problem.active is not None and (~problem.active).any()  # air on the grid too
    for tile in problem.tiles:
        assert tile.mesh.kind == "octree"
        assert tile.projection.shape == (tile.mesh.to_mesh().n_cells, problem.model_grid.n_cells)
        assert tile.active is not None and (~tile.active).any()
    # the two tile octrees give the data of the one global octree to ~1 % (the true model)
    np.testing.assert_allclose(problem.dobs, clean, rtol=1e-6)
    result = hpcinv.run(config_path, tmp_path / "out", iterations=3, workers=0)
    chi = result.history["chi"]
    assert len(chi) == 3 and all(math.isfinite(c) for c in chi)
    assert result.model.shape == (problem.model_grid.n_cells,)
    air = ~problem.active
    assert np.all(result.model[air] == problem.inactive_value)
    # another tile count meshes the tiles anew (the data change by ~1%): not a harmless
    # change on octrees, refused even with --force
    other = Path(config_path).with_name("one-tile.toml")  # beside it: the same data path
    other.write_text(Path(config_path).read_text().replace("n_tiles = 2", "n_tiles = 1"))
    with pytest.raises(CheckpointError, match="physics.n_tiles: 2 -> 1: this problem's tiles"):
        hpcinv.resume(tmp_path / "out", iterations=4, force=True, config=other)


def test_octree_dask_equals_serial_one_factorization_per_tile_per_model(site_file, two_workers):
    problem = hpcinv.build_problem(load_config(site_file[0]))
    m0 = problem.fix_inactive(np.full(problem.model_grid.n_cells, np.log(0.02)))
    models = [m0, m0 + 0.01 * problem.active]
    serial = hpcinv.SerialExecutor(problem)
    dask = DaskExecutor(problem, two_workers)
    for m in models:
        phi_s, g_s = serial.misfit_and_gradient([m])[0]
        phi_d, g_d = dask.misfit_and_gradient([m])[0]
        assert phi_d == phi_s and np.array_equal(g_d, g_s)
        serial.predict([m])[0]  # the same model again: no new factorization
    n_tiles = len(problem.tiles)
    assert serial.counters()["factorizations"] == n_tiles * len(models)
    assert dask.counters()["factorizations"] == n_tiles * len(models)


def test_auto_picks_an_octree_only_where_a_tensor_mesh_would_be_too_large(tmp_path):
    electrodes, abmn = _site_survey()
    path = tmp_path / "hill.ohm"
    write_survey(Survey(electrodes, abmn, np.ones(len(abmn)), np.ones(len(abmn))), path, "pygimli")

    def kind(cell_size):
        config = config_from_dict(
            {
                "problem": {"data": str(path)},
                "mesh": {"cell_size": cell_size, "padding_distance": 40.0},
            }
        )
        return hpcinv.build_problem(config, with_data=False).info.notes["mesh_kind"]

    assert kind(1.0) == "tensor"  # 2 cells per electrode spacing: ~40k cells
    assert kind(0.25) == "octree"  # 8 cells per spacing: a tensor mesh of > 200k cells


def test_tiles_too_large_for_a_worker_stop_with_one_line(site_file):
    from hpcinv.engine.plan import check_tiles_fit, tile_estimate

    problem = hpcinv.build_problem(load_config(site_file[0]), with_data=False)
    need = max(tile_estimate(t)["estimated_memory_mib"] for t in problem.tiles)
    check_tiles_fit(problem.tiles, 2 * need * 2**20)
    with pytest.raises(SizeError, match=r"needs an estimated .* GiB but a worker has"):
        check_tiles_fit(problem.tiles, 0.5 * need * 2**20)


def test_grid_3d_is_a_modern_field_grid():
    case = grid_3d_case()
    survey = case.survey
    xy = survey.electrodes[:, :2]
    assert survey.electrodes.shape[0] >= 500 and len(np.unique(xy[:, 1])) >= 20
    along = np.diff(np.sort(xy[xy[:, 1] == 0.0, 0]))
    assert along.max() <= 2.0
    assert survey.n_data >= 4000
    e = survey.electrodes
    ab = np.linalg.norm(e[survey.abmn[:, 0]] - e[survey.abmn[:, 1]], axis=1)
    mn = np.linalg.norm(e[survey.abmn[:, 2]] - e[survey.abmn[:, 3]], axis=1)
    # dipole-dipole (AB = MN = one spacing) and multiple-gradient (AB of 16 m and more)
    assert (np.abs(ab - mn) < 1.5).sum() > 2000 and (ab >= 16.0).sum() > 1000
    assert np.ptp(survey.electrodes[:, 2]) >= 10.0
    # a conductive sphere (centre 10 m deep) and a resistive box (3-10 m deep)
    centres = np.array([[12.0, 20.0], [32.0, 50.0]])
    depths = np.array([10.0, 6.0])
    points = np.c_[centres, grid_3d_surface(centres) - depths]
    sphere, box = grid_3d_model(points)
    assert sphere > np.log(0.01) > box


def test_auto_tile_count_from_electrodes_and_memory(site_file, monkeypatch):
    import dataclasses

    import hpcinv.problem.build as build

    config = load_config(site_file[0])
    auto = dataclasses.replace(config, physics=dataclasses.replace(config.physics, n_tiles=0))
    problem = hpcinv.build_problem(auto, with_data=False)
    assert len(problem.tiles) == 1 and problem.info.notes["n_tiles"]["auto"] == 1  # 40 < 300
    monkeypatch.setattr(build, "TILE_ELECTRODES", 15)  # 40 electrodes: at least 3 tiles
    n, why = build.auto_tile_count(auto)
    assert n == 3 and "at most ~15 electrodes" in why
    import hpcinv.physics.estimate as estimate

    monkeypatch.setattr(estimate, "TILE_COUNTS", (1, 2, 3, 4))
    tiny = dataclasses.replace(auto, physics=dataclasses.replace(auto.physics, tile_memory="64MiB"))
    with pytest.raises(SizeError, match=r"no tile count up to 4 fits physics.tile_memory"):
        build.auto_tile_count(tiny)


def test_a_conventional_run_solves_on_the_octree_tiles_dask_as_serial(
    site_file, tmp_path, two_workers
):
    """The conventional inversion once ran SimPEG on an octree problem's model grid (no
    padding, air at its top): wrong data (grid-3d at m_ref: chi 1.5e11 against 5 on the
    tiles). It runs on the tiles now, on the workers as serially, to the same numbers."""
    config_path, _ = site_file
    conventional = Path(config_path).with_name("conventional.toml")
    conventional.write_text(
        Path(config_path).read_text()
        + '[inversion]\nkind = "conventional"\n[conventional]\nmax_iterations = 2\n'
    )
    problem = hpcinv.build_problem(load_config(conventional))
    m_ref = problem.fix_inactive(np.full(problem.model_grid.n_cells, np.log(0.01)))
    phi_ref = hpcinv.SerialExecutor(problem).misfit_and_gradient([m_ref])[0][0]
    chi_ref = phi_ref / (problem.n_data / 2)
    serial = hpcinv.run(conventional, tmp_path / "serial", workers=0)
    dask = hpcinv.run(conventional, tmp_path / "dask", client=two_workers)
    chi = serial.history["chi"]
    assert len(chi) == 2 and chi[1] < chi[0] < chi_ref  # from the tiles' chi at m_ref
    np.testing.assert_allclose(dask.history["chi"], chi, rtol=1e-9)
    np.testing.assert_allclose(dask.model, serial.model, rtol=1e-9, atol=1e-12)
    assert np.all(serial.model[~problem.active] == problem.inactive_value)
    s = dask.summary
    assert s["kind"] == "conventional" and s["n_tiles"] == 2 and s["n_workers"] == 2
    assert s["chi"] == pytest.approx(chi[-1], rel=1e-6)  # the data at the end: the tiles'
