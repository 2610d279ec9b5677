"""`hpcinv export` by extension: CSV, VTK (.vtr, legacy .vtk), UBC-GIF (.msh/.mod), netCDF
(.nc) and Zarr (.zarr), each read back with its own library, on small result.npz files
written here (no inversion runs)."""

from pathlib import Path

import numpy as np
import pytest
from discretize import TensorMesh

from hpcinv.errors import HpcinvError
from hpcinv.report.export import UBC_NO_DATA, export_model
from hpcinv.report.rundir import RunDirectory, RunResult

#: a field survey's local-origin shift, UTM-sized (exports add it back)
SHIFT_3D = np.array([500_000.0, 4_000_000.0, 12.5])
SHIFT_2D = np.array([500_000.0, 12.5])


def _mesh_3d():
    # non-uniform widths, distinct cell counts per axis, origin off zero: a transposed,
    # flipped or unshifted export cannot pass
    return TensorMesh([[4.0, 2.0, 1.0, 3.0], [1.0, 2.0, 5.0], [3.0, 1.5]], origin=[-10, -5, -4.5])


def _mesh_2d():
    return TensorMesh([[4.0, 2.0, 1.0, 3.0, 2.5], [3.0, 1.5, 1.0]], origin=[-10, -5.5])


def _run(tmp_path, mesh, shift, *, coverage=True, grid=True, physics_mesh=None) -> RunResult:
    """result.npz as a run writes it (result_arrays' keys), read back through RunDirectory;
    the top layer partly air."""
    rng = np.random.default_rng(7)
    n = mesh.n_cells
    active = np.ones(n, bool)
    active[-3:] = False  # the last cells in discretize's order: top layer, largest x
    arrays = {
        "model": rng.uniform(-7, -1, n),
        "cell_centers": mesh.cell_centers,
        "active": active,
        "coverage": rng.uniform(0.1, 5, n) if coverage else None,
        "origin": shift,
    }
    physics = physics_mesh if physics_mesh is not None else mesh
    arrays["mesh_origin"] = physics.origin
    for i, h in enumerate(physics.h):
        arrays[f"mesh_h{i}"] = h
    if grid:
        arrays["grid_origin"] = mesh.origin
        for i, h in enumerate(mesh.h):
            arrays[f"grid_h{i}"] = h
    run = RunDirectory(tmp_path / "run")
    run.path.mkdir()
    run.write_result(arrays)
    return run.read_result()


def _on_grid(values, mesh, active):
    """(nx, [ny,] nz) in discretize's order, NaN in the air."""
    return np.where(active, values, np.nan).reshape(mesh.shape_cells, order="F")


@pytest.fixture
def run_3d(tmp_path):
    return _run(tmp_path, _mesh_3d(), SHIFT_3D)


def test_csv_keeps_its_columns_and_adds_resistivity_and_coverage(tmp_path, run_3d):
    out = tmp_path / "model.csv"
    assert export_model(run_3d, out) == 21  # 24 cells, 3 of them air
    assert out.read_text().splitlines()[0] == "x,y,z,log_conductivity,resistivity,coverage"
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    ground = run_3d["active"]
    np.testing.assert_allclose(table[:, :3], run_3d["cell_centers"][ground] + SHIFT_3D)
    np.testing.assert_allclose(table[:, 3], run_3d["model"][ground], rtol=1e-7)
    np.testing.assert_allclose(table[:, 4], np.exp(-run_3d["model"][ground]), rtol=1e-7)
    np.testing.assert_allclose(table[:, 5], run_3d["coverage"][ground], rtol=1e-7)


@pytest.mark.parametrize("suffix", [".vtr", ".vtk"])
def test_vtk_files_read_back_in_vtk_with_the_mesh_and_values(tmp_path, run_3d, suffix):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOLegacy import vtkRectilinearGridReader
    from vtkmodules.vtkIOXML import vtkXMLRectilinearGridReader

    mesh = _mesh_3d()
    out = tmp_path / f"model{suffix}"
    export_model(run_3d, out)
    reader = vtkXMLRectilinearGridReader() if suffix == ".vtr" else vtkRectilinearGridReader()
    reader.SetFileName(str(out))
    reader.Update()
    grid = reader.GetOutput()
    assert grid.GetNumberOfCells() == mesh.n_cells
    assert grid.GetDimensions() == (5, 4, 3)  # nodes per axis
    low, high = mesh.origin + SHIFT_3D, mesh.origin + SHIFT_3D + [h.sum() for h in mesh.h]
    np.testing.assert_allclose(grid.GetBounds(), np.column_stack([low, high]).ravel())
    model, active = run_3d["model"], run_3d["active"]
    cells = grid.GetCellData()
    for name, expected in [
        ("log_conductivity", model),
        ("resistivity", np.exp(-model)),
        ("coverage", run_3d["coverage"]),
    ]:
        got = vtk_to_numpy(cells.GetArray(name))
        np.testing.assert_allclose(got, np.where(active, expected, np.nan))  # NaN == NaN
    # one cell by its (i, j, k), away from every symmetry: discretize's order is VTK's
    resistivity = _on_grid(np.exp(-model), mesh, active)
    got = vtk_to_numpy(cells.GetArray("resistivity"))[grid.ComputeCellId([3, 1, 0])]
    assert got == pytest.approx(resistivity[3, 1, 0])


def test_a_2d_line_is_an_x_z_section_in_vtk(tmp_path):
    from vtkmodules.vtkIOXML import vtkXMLRectilinearGridReader

    mesh = _mesh_2d()
    run = _run(tmp_path, mesh, SHIFT_2D)
    out = tmp_path / "line.vtr"
    export_model(run, out)
    reader = vtkXMLRectilinearGridReader()
    reader.SetFileName(str(out))
    reader.Update()
    grid = reader.GetOutput()
    assert grid.GetNumberOfCells() == mesh.n_cells
    x0, z0 = mesh.origin + SHIFT_2D
    np.testing.assert_allclose(
        grid.GetBounds(), [x0, x0 + mesh.h[0].sum(), z0, z0 + mesh.h[1].sum(), 0, 0]
    )


def test_ubc_mesh_and_model_files_read_back_in_discretize(tmp_path, run_3d):
    mesh = _mesh_3d()
    out = tmp_path / "model.msh"
    export_model(run_3d, out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "model.mod",
        "model.msh",
        "model_coverage.mod",
        "model_log_conductivity.mod",
    ]
    back = TensorMesh.read_UBC(out)
    for h_back, h in zip(back.h, mesh.h):
        np.testing.assert_allclose(h_back, h)
    np.testing.assert_allclose(back.origin, mesh.origin + SHIFT_3D, atol=1e-6)  # %.6f
    model, active = run_3d["model"], run_3d["active"]
    # the air: UBC-GIF's no-data value, as UBC programs cannot read NaN
    resistivity = back.read_model_UBC(str(tmp_path / "model.mod"))
    np.testing.assert_allclose(resistivity, np.where(active, np.exp(-model), UBC_NO_DATA))
    log_conductivity = back.read_model_UBC(str(tmp_path / "model_log_conductivity.mod"))
    np.testing.assert_allclose(log_conductivity, np.where(active, model, UBC_NO_DATA))
    coverage = back.read_model_UBC(str(tmp_path / "model_coverage.mod"))
    np.testing.assert_allclose(coverage, np.where(active, run_3d["coverage"], UBC_NO_DATA))


def _open_nc(path):
    import xarray as xr

    return xr.open_dataset(path, engine="h5netcdf")


def _open_zarr(path):
    import xarray as xr

    return xr.open_zarr(path)


@pytest.mark.parametrize("name, open_", [("model.nc", _open_nc), ("model.zarr", _open_zarr)])
def test_xarray_dataset_has_the_grid_values_and_units(tmp_path, run_3d, name, open_):
    from hpcinv.version import __version__

    mesh = _mesh_3d()
    out = tmp_path / name
    export_model(run_3d, out, run_dir=tmp_path / "run")
    model, active = run_3d["model"], run_3d["active"]
    with open_(out) as ds:
        ds = ds.load()
    centres = [mesh.cell_centers_x, mesh.cell_centers_y, mesh.cell_centers_z]
    for axis, along, shift in zip("xyz", centres, SHIFT_3D):
        np.testing.assert_allclose(ds[axis].values, along + shift)
        assert ds[axis].attrs["units"] == "m"
    assert ds["log_conductivity"].dims == ("z", "y", "x")
    expected = {
        "log_conductivity": (model, "ln(S/m)"),
        "resistivity": (np.exp(-model), "ohm m"),
        "coverage": (run_3d["coverage"], "1"),
    }
    for variable, (values, units) in expected.items():
        got = ds[variable].transpose("x", "y", "z").values
        np.testing.assert_allclose(got, _on_grid(values, mesh, active))
        assert ds[variable].attrs["units"] == units and ds[variable].attrs["long_name"]
    np.testing.assert_array_equal(
        ds["active"].transpose("x", "y", "z").values, active.reshape((4, 3, 2), order="F")
    )
    # one cell found by its coordinates, not by any reshaping
    cell = 3 + 4 * 1 + 12 * 0  # (i, j, k) = (3, 1, 0)
    x, y, z = mesh.cell_centers[cell] + SHIFT_3D
    assert float(ds["log_conductivity"].sel(x=x, y=y, z=z)) == pytest.approx(model[cell])
    # air: the top layer's far corner
    assert np.isnan(float(ds["resistivity"].sel(x=x, y=ds.y[-1], z=ds.z[-1])))
    assert ds.attrs["hpcinv_version"] == __version__
    assert ds.attrs["run_dir"] == str((tmp_path / "run").resolve())


def test_zarr_export_replaces_an_earlier_one_whole(tmp_path, run_3d):
    out = tmp_path / "model.zarr"
    export_model(run_3d, out)
    older = RunResult({**run_3d.arrays, "model": run_3d["model"] - 1})
    older.arrays.pop("coverage")
    export_model(older, out)
    with _open_zarr(out) as ds:
        assert "coverage" not in ds  # nothing left of the earlier store
        np.testing.assert_allclose(
            ds["log_conductivity"].transpose("x", "y", "z").values,
            _on_grid(older["model"], _mesh_3d(), run_3d["active"]),
        )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_extensions_are_case_insensitive(tmp_path, run_3d):
    out = tmp_path / "MODEL.NC"
    export_model(run_3d, out)
    with _open_nc(out) as ds:
        assert ds["resistivity"].shape == (2, 3, 4)


def test_a_2d_line_exports_as_csv_and_netcdf_not_ubc(tmp_path):
    mesh = _mesh_2d()
    run = _run(tmp_path, mesh, SHIFT_2D)
    csv = tmp_path / "line.csv"
    assert export_model(run, csv) == mesh.n_cells - 3
    assert csv.read_text().splitlines()[0] == "x,z,log_conductivity,resistivity,coverage"
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, :2], mesh.cell_centers[run["active"]] + SHIFT_2D)
    nc = tmp_path / "line.nc"
    export_model(run, nc)
    with _open_nc(nc) as ds:
        assert ds["log_conductivity"].dims == ("z", "x")
        np.testing.assert_allclose(ds.z.values, mesh.cell_centers_y + SHIFT_2D[1])
        np.testing.assert_allclose(
            ds["log_conductivity"].transpose("x", "z").values,
            _on_grid(run["model"], mesh, run["active"]),
        )
    msh = tmp_path / "line.msh"
    with pytest.raises(HpcinvError, match=r"line\.msh: UBC-GIF export is for 3D models.*2D"):
        export_model(run, msh)
    assert not msh.exists() and not (tmp_path / "line.mod").exists()


@pytest.mark.parametrize("name", ["model.txt", "model.vtu", "model"])
def test_an_unknown_extension_is_refused_and_nothing_written(tmp_path, run_3d, name):
    out = tmp_path / name
    with pytest.raises(HpcinvError, match=rf"{name}: no export format for .*; use \.csv .*\.zarr"):
        export_model(run_3d, out)
    assert not out.exists()


def test_a_run_without_coverage_exports_without_it(tmp_path):
    run = _run(tmp_path, _mesh_3d(), SHIFT_3D, coverage=False)
    csv = tmp_path / "model.csv"
    export_model(run, csv)
    assert csv.read_text().splitlines()[0] == "x,y,z,log_conductivity,resistivity"
    export_model(run, tmp_path / "model.nc")
    with _open_nc(tmp_path / "model.nc") as ds:
        assert set(ds.data_vars) == {"log_conductivity", "resistivity", "active"}


def test_an_older_run_falls_back_to_its_physics_mesh_when_that_is_the_grid(tmp_path):
    mesh = _mesh_3d()
    run = _run(tmp_path, mesh, None, grid=False)
    out = tmp_path / "model.nc"
    export_model(run, out)
    with _open_nc(out) as ds:
        np.testing.assert_allclose(ds.x.values, mesh.cell_centers_x)


def test_an_older_octree_run_exports_as_csv_only(tmp_path):
    physics = TensorMesh([[1.0] * 8, [1.0] * 8, [1.0] * 8])  # not the model grid
    run = _run(tmp_path, _mesh_3d(), SHIFT_3D, grid=False, physics_mesh=physics)
    out = tmp_path / "model.vtr"
    with pytest.raises(HpcinvError, match=r"predates the export of the model grid.*\.csv"):
        export_model(run, out, run_dir=tmp_path / "run")
    assert not out.exists()
    assert export_model(run, tmp_path / "model.csv") == 21


def test_result_arrays_record_the_model_grid_for_the_exports(tmp_path):
    import hpcinv
    from hpcinv.config import config_from_dict
    from hpcinv.driver.result import result_arrays

    problem = hpcinv.build_problem(config_from_dict({"problem": {"case": "tiny-3d"}}))
    grid = problem.model_grid.mesh
    model = np.linspace(-6, -2, grid.n_cells)
    arrays = result_arrays(problem, model, problem.dobs, {"chi": [1.0]})
    for i, h in enumerate(grid.h):
        np.testing.assert_array_equal(arrays[f"grid_h{i}"], h)
    np.testing.assert_array_equal(arrays["grid_origin"], grid.origin)
    run = RunDirectory(tmp_path / "run")
    run.write_result(arrays)
    out = tmp_path / "model.nc"
    export_model(run.read_result(), out)
    with _open_nc(out) as ds:
        assert ds["log_conductivity"].shape == tuple(grid.shape_cells)[::-1]
        np.testing.assert_allclose(ds.x.values, grid.cell_centers_x)
        np.testing.assert_allclose(
            ds["log_conductivity"].transpose("x", "y", "z").values.ravel(order="F"),
            model if arrays["active"] is None else np.where(arrays["active"], model, np.nan),
        )


def test_nothing_but_the_exports_is_left_in_the_folder(tmp_path, run_3d):
    out = tmp_path / "exports"
    for name in ["m.csv", "m.vtr", "m.msh", "m.nc", "m.zarr"]:
        export_model(run_3d, out / name)
    assert sorted(p.name for p in Path(out).iterdir()) == sorted(
        [
            "m.csv",
            "m.vtr",
            "m.msh",
            "m.mod",
            "m_log_conductivity.mod",
            "m_coverage.mod",
            "m.nc",
            "m.zarr",
        ]
    )
