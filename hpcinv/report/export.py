"""Exports of a run's latest model, in the format the extension of the output names
(case-insensitive). Coordinates are metres in the data file's coordinates (the local origin
of field data added back).

Every export carries the model as ``log_conductivity`` (ln(S/m), what the inversion fits)
and as ``resistivity`` (ohm·m, exp(-log_conductivity)), and ``coverage`` when the run
recorded it: the cumulative sensitivity at the final model, sum over the data of
|d datum / d log_conductivity| / uncertainty (dimensionless; small where the data do not
see the model). Runs from before coverage was recorded export without it. Ensembles
(``ensemble.members`` > 1) export the members' mean as the model and add ``ensemble_std``
(ln(S/m)) [and ``ensemble_p_below``]; runs with ``ensemble.mc_dropout_samples`` add
``mc_dropout_mean`` and ``mc_dropout_std`` (ln(S/m)); after the others, in every format.

``.csv``   one row per ground cell centre: ``x,y,z,log_conductivity,resistivity[,coverage]``
           (2D: ``x,z,...``). Air cells are left out.
``.vtr``   VTK XML rectilinear grid (ParaView), built by discretize's ``to_vtk``; cell
           arrays ``log_conductivity``, ``resistivity`` [, ``coverage``]. 2D: the line's z
           is VTK's y axis (a flat x-z section).
``.vtk``   the same grid in VTK's legacy format (binary), for tools that read no XML.
``.msh``   UBC-GIF tensor mesh, 3D only, by discretize's ``write_UBC``/``write_model_UBC``:
           ``NAME.msh`` (the mesh), ``NAME.mod`` (resistivity, ohm·m),
           ``NAME_log_conductivity.mod`` [and ``NAME_coverage.mod``], one value per cell in
           UBC order (z down).
``.nc``    netCDF-4 (xarray, h5netcdf engine) and
``.zarr``  a Zarr store (xarray, Zarr format 3, consolidated metadata): one Dataset with
           coordinates ``x``, [``y``,] ``z`` (cell centres, ``units = "m"``), variables
           ``log_conductivity``, ``resistivity`` [, ``coverage``] on dims (z, [y,] x) (the
           last varies fastest, as GIS tools read grids) [and ``active``: true for ground
           cells], each with ``units`` and ``long_name``; global attributes
           ``hpcinv_version`` and, when known, ``run_dir``.

Grid formats hold every cell of the model grid: air cells (``active`` false: fixed, not
inverted) are NaN there, and -99999 (UBC-GIF's no-data value; UBC programs do not read NaN)
in the UBC model files. Other extensions are refused rather than written in another format
under that name. Files are written to a temporary name and renamed into place (a Zarr store:
a temporary sibling directory), so a reader never sees half an export.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from discretize import TensorMesh

from hpcinv.errors import HpcinvError
from hpcinv.files import atomic_write
from hpcinv.report.rundir import RunResult
from hpcinv.version import __version__

EXPORT_FORMATS = {
    ".csv": "CSV: x,[y,]z,log_conductivity,resistivity[,coverage] per ground cell centre",
    ".vtr": "VTK rectilinear grid for ParaView",
    ".vtk": "the same grid in VTK's legacy format",
    ".msh": "UBC-GIF NAME.msh with NAME.mod (resistivity) and NAME_<quantity>.mod, 3D only",
    ".nc": "netCDF-4 via xarray",
    ".zarr": "Zarr store via xarray",
}

#: what UBC-GIF programs read as "no value" (air) in a model file
UBC_NO_DATA = -99999.0

#: units and long names of the exported quantities (netCDF/Zarr attributes)
QUANTITIES = {
    "log_conductivity": ("ln(S/m)", "natural logarithm of electrical conductivity"),
    "resistivity": ("ohm m", "electrical resistivity"),
    "coverage": (
        "1",
        "cumulative sensitivity: sum over data of |d datum / d log_conductivity| / uncertainty",
    ),
    "ensemble_std": ("ln(S/m)", "standard deviation of the ensemble members' models"),
    "ensemble_p_below": (
        "1",
        "share of the ensemble members whose resistivity is below ensemble.exceedance_resistivity",
    ),
    "mc_dropout_mean": ("ln(S/m)", "mean of the network's models with dropout on (MC dropout)"),
    "mc_dropout_std": ("ln(S/m)", "standard deviation of those models (MC dropout)"),
}


def export_model(result: RunResult, path: str | Path, *, run_dir: str | Path | None = None) -> int:
    """Write ``result``'s model to ``path`` in the format its extension names (see the
    module docstring); the number of ground cells written. ``run_dir``: recorded in the
    netCDF/Zarr attributes and named in errors, when given."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        known = "; ".join(f"{ext} ({what})" for ext, what in EXPORT_FORMATS.items())
        raise HpcinvError(f"{path}: no export format for '{path.suffix}'; use {known}")
    values = _cell_values(result)
    active = result.get("active")
    ground = np.ones(len(result["model"]), bool) if active is None else active.astype(bool)
    if suffix == ".csv":
        _write_csv(result, values, ground, path)
        return int(ground.sum())
    mesh = model_grid_mesh(result, path, run_dir)
    if suffix == ".msh" and mesh.dim != 3:
        raise HpcinvError(
            f"{path}: UBC-GIF export is for 3D models and this run's model is 2D; "
            "export to .csv, .nc, .zarr or .vtr instead"
        )
    # air is no part of the model: no value there, in every grid format
    gridded = {name: np.where(ground, v, np.nan) for name, v in values.items()}
    if suffix in (".vtr", ".vtk"):
        _write_vtr(mesh, gridded, path, legacy=suffix == ".vtk")
    elif suffix == ".msh":
        _write_ubc(mesh, gridded, path)
    else:
        dataset = _dataset(mesh, gridded, None if active is None else ground, run_dir)
        if suffix == ".nc":
            atomic_write(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf"))
        else:
            _replace_directory(path, lambda tmp: _to_zarr(dataset, tmp))
    return int(ground.sum())


def _cell_values(result: RunResult) -> dict[str, np.ndarray]:
    """The exported quantities per model-grid cell, in discretize's cell order."""
    log_conductivity = np.asarray(result["model"], float)
    values = {"log_conductivity": log_conductivity, "resistivity": np.exp(-log_conductivity)}
    coverage = result.get("coverage")
    if coverage is not None:  # older runs did not record it
        values["coverage"] = np.asarray(coverage, float)
    for name in ("ensemble_std", "ensemble_p_below", "mc_dropout_mean", "mc_dropout_std"):
        if result.get(name) is not None:
            values[name] = np.asarray(result[name], float)
    return values


def model_grid_mesh(
    result: RunResult, path: str | Path, run_dir: str | Path | None = None
) -> TensorMesh:
    """The model grid as a TensorMesh in the data file's coordinates, from result.npz's
    ``grid_h*``/``grid_origin`` (plus ``origin`` for field data). Runs from before those were
    recorded fall back to the physics mesh (``mesh_h*``) where it is the model grid."""
    n_cells = len(result["model"])
    source = Path(run_dir, "result.npz") if run_dir is not None else "result.npz"
    h, origin = _widths(result, "grid")
    if h is None:
        h, origin = _widths(result, "mesh")
        if h is None or int(np.prod([len(w) for w in h])) != n_cells:
            raise HpcinvError(
                f"{path}: {source} predates the export of the model grid (no grid_h0.., and "
                "its physics mesh is not the model grid); export it to .csv, which needs no "
                "grid, or rerun it with this hpcinv version"
            )
    shift = result.get("origin")
    if shift is not None:  # field data: back to the file's coordinates
        origin = origin + np.asarray(shift, float)
    mesh = TensorMesh(h, origin=origin)
    if mesh.n_cells != n_cells:
        raise HpcinvError(
            f"{path}: {source} is inconsistent: its grid has {mesh.n_cells} cells and its "
            f"model {n_cells}; rerun the inversion to write it again"
        )
    return mesh


def _widths(result: RunResult, prefix: str) -> tuple[list[np.ndarray] | None, np.ndarray]:
    h = [result[f"{prefix}_h{i}"] for i in range(3) if result.get(f"{prefix}_h{i}") is not None]
    if not h or result.get(f"{prefix}_origin") is None:
        return None, np.zeros(0)
    return [np.asarray(w, float) for w in h], np.asarray(result[f"{prefix}_origin"], float)


def _write_csv(
    result: RunResult, values: dict[str, np.ndarray], ground: np.ndarray, path: Path
) -> None:
    centres = result["cell_centers"][ground]
    if result.get("origin") is not None:  # field data: back to the file's coordinates
        centres = centres + result["origin"]
    names = ["x", "z"] if centres.shape[1] == 2 else ["x", "y", "z"]
    # the first columns are the contract of docs/design.md; extra columns only follow them
    table = np.column_stack([centres] + [v[ground] for v in values.values()])
    atomic_write(
        path,
        lambda tmp: np.savetxt(
            tmp,
            table,
            delimiter=",",
            comments="",
            header=",".join(names + list(values)),
            fmt="%.8g",
        ),
    )


def _write_vtr(
    mesh: TensorMesh, values: dict[str, np.ndarray], path: Path, *, legacy: bool = False
) -> None:
    # discretize's write_vtk insists on a .vtr name, which the temporary file has not: its
    # grid goes through VTK's own writer, with write_vtk's settings (binary). ``legacy``:
    # the same grid in VTK's legacy format (.vtk), which older tools and meshio read
    from vtkmodules.vtkIOLegacy import vtkRectilinearGridWriter
    from vtkmodules.vtkIOXML import vtkXMLRectilinearGridWriter

    with warnings.catch_warnings():
        # the plain VTK object is all a file needs; pyvista is not a dependency
        warnings.filterwarnings("ignore", message=".*install `pyvista`", category=UserWarning)
        grid = mesh.to_vtk({name: np.ascontiguousarray(v) for name, v in values.items()})

    def write(tmp: Path) -> None:
        writer = vtkRectilinearGridWriter() if legacy else vtkXMLRectilinearGridWriter()
        if legacy:
            writer.SetFileTypeToBinary()
        else:
            writer.SetDataModeToBinary()
        writer.SetFileName(str(tmp))
        writer.SetInputDataObject(grid)
        if writer.Write() != 1:
            raise HpcinvError(f"{path}: VTK could not write the file; is the disk full?")

    atomic_write(path, write)


def _write_ubc(mesh: TensorMesh, values: dict[str, np.ndarray], path: Path) -> None:
    def model_file(name: str) -> Path:
        if name == "resistivity":  # the model file UBC-GIF programs pair with NAME.msh
            return path.with_suffix(".mod")
        return path.with_name(f"{path.stem}_{name}.mod")

    for name, v in values.items():
        in_ubc = np.where(np.isnan(v), UBC_NO_DATA, v)
        atomic_write(model_file(name), lambda tmp, m=in_ubc: mesh.write_model_UBC(str(tmp), m))
    atomic_write(path, lambda tmp: mesh.write_UBC(str(tmp)))


def _dataset(
    mesh: TensorMesh,
    values: dict[str, np.ndarray],
    ground: np.ndarray | None,
    run_dir: str | Path | None,
):
    import xarray as xr

    axes = ["x", "y", "z"] if mesh.dim == 3 else ["x", "z"]
    # discretize's order has x varying fastest: (nx, [ny,] nz) in Fortran order, transposed
    # to (z, [y,] x), where the last axis varies fastest
    dims = axes[::-1]

    def on_grid(v: np.ndarray) -> np.ndarray:
        return v.reshape(mesh.shape_cells, order="F").T

    coords = {
        axis: (
            axis,
            np.asarray(centres, float),
            {"units": "m", "long_name": f"cell centre {axis}", "axis": axis.upper()},
        )
        for axis, centres in zip(
            axes, [mesh.cell_centers_x, mesh.cell_centers_y, mesh.cell_centers_z][: mesh.dim]
        )
    }
    coords["z"][2]["positive"] = "up"
    variables = {
        name: (dims, on_grid(v), {"units": QUANTITIES[name][0], "long_name": QUANTITIES[name][1]})
        for name, v in values.items()
    }
    if ground is not None:
        variables["active"] = (
            dims,
            on_grid(ground),
            {"long_name": "ground cell (false: air, fixed and not inverted)"},
        )
    attrs = {"title": "hpcinv model", "hpcinv_version": __version__}
    if run_dir is not None:
        attrs["run_dir"] = str(Path(run_dir).resolve())
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _to_zarr(dataset, directory: Path) -> None:
    with warnings.catch_warnings():
        # consolidated metadata lets xarray.open_zarr open the store without a warning;
        # zarr-python warns that Zarr format 3 has not standardised it yet
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        dataset.to_zarr(directory, mode="w", consolidated=True)


def _replace_directory(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_dir)`` on a temporary directory next to ``path`` and rename it into
    place; a failed writer leaves ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's directory is private; an export is not
    try:
        write(tmp)
        # a directory cannot replace a non-empty one in one rename: move the old aside
        old = tmp.with_suffix(".old") if path.exists() else None
        if old is not None:
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
