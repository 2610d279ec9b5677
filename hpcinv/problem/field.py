"""Problems from field data: read the file, convert to V/A, assign uncertainties, make a mesh.

``problem.data`` and every other path of the config are relative to the config file's
directory. The mesh comes from the electrodes (``hpcinv.mesh.from_survey``); electrodes are draped
onto its ground surface. Apparent resistivities over topography are converted with numeric
geometric factors, k = 1 / (data of a 1 S/m half-space under the same topography). The best
uniform half-space is reported too (one more solve on the same factors): it is where a
reference model should start.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.errors import ConfigError, DataError
from hpcinv.mesh.from_survey import mesh_from_survey
from hpcinv.survey import Survey

log = logging.getLogger(__name__)


def config_relative(config: RunConfig, name: str) -> Path:
    """``name`` relative to the config file's directory (as given when absolute or when the
    config did not come from a file)."""
    path = Path(name).expanduser()
    if path.is_absolute() or config.path is None:
        return path
    return Path(config.path).parent / path


def read_topography(path: Path, origin: np.ndarray, dim: int) -> np.ndarray:
    """(n, dim) surface points in local coordinates from a CSV of x,[y,]z in file
    coordinates (a header line is allowed)."""
    try:
        with open(path) as fh:
            first = fh.readline()
        skip = 1 if any(c.isalpha() for c in first) else 0
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except FileNotFoundError:
        raise ConfigError(f"mesh.topography: no such file {path}") from None
    except ValueError as exc:
        raise DataError(f"{path}: not a CSV of numbers x,{'y,' if dim == 3 else ''}z ({exc})"
                        ) from None
    if table.shape[1] != dim or len(table) == 0:
        raise DataError(f"{path}: topography needs {dim} columns (x,{'y,' if dim == 3 else ''}z) "
                        f"like the data's electrodes, got {table.shape[1]}")
    if not np.isfinite(table).all():
        row = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])
        raise DataError(f"{path}: row {row + skip + 1} has a non-finite value")
    return table - np.asarray(origin, float)


def read_polyline(path: Path, origin: np.ndarray) -> np.ndarray:
    """(n, 2) local (x, z) points of a Leapfrog polyline file (comma-separated rows whose
    first and third columns are x and z, ``End`` between polylines, ``#`` comments), NaN
    rows between polylines: for drawing over a 2D section."""
    points = []
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise ConfigError(f"report.overlay: no such file {path}") from None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.lower() == "end":
            points.append((np.nan, np.nan))
            continue
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise DataError(f"{path}, line {number}: expected comma-separated numbers "
                            f"(x, y, z, ...) or End, got {text[:60]!r}") from None
        if len(values) < 3:
            raise DataError(f"{path}, line {number}: a point needs x, y, z")
        points.append((values[0], values[2]))
    if not points:
        raise DataError(f"{path}: no polyline points")
    origin = np.asarray(origin, float)
    return np.array(points) - np.array([origin[0], origin[-1]])


def field_problem(config: RunConfig, *, with_data: bool = True):
    """The problem of ``config.problem.data`` (see the module docstring)."""
    from hpcinv.problem.problem import problem_from_survey
    from hpcinv.readers import read_survey

    pc, mc, physics = config.problem, config.mesh, config.physics
    path = config_relative(config, pc.data)
    if not path.exists():
        raise ConfigError(f"problem.data: no such file {path} (paths are relative to the "
                          f"config file's directory)")
    fd = read_survey(path, format=pc.format, dimension=pc.dimension)
    dim = fd.survey.dim
    origin = np.zeros(dim) if fd.origin is None else np.asarray(fd.origin, float)
    topography = None
    if mc.topography:
        topography = read_topography(config_relative(config, mc.topography), origin, dim)
    made = mesh_from_survey(fd.survey.electrodes, fd.survey.abmn, cell_size=mc.cell_size,
                            cell_size_z=mc.cell_size_z, core_depth=mc.core_depth,
                            core_margin=mc.core_margin, padding_distance=mc.padding_distance,
                            pad_factor=mc.pad_factor, topography=topography)
    mesh, active = made.mesh, made.active
    air = float(np.log(mc.air_conductivity))
    name = path.stem
    geometry = Survey(made.electrodes, fd.survey.abmn, name=name)
    notes = {"file": str(path), "format": fd.format, "data_type": fd.data_type,
             "n_data": int(geometry.n_data), "dropped": len(fd.dropped),
             "reader_notes": list(fd.notes) if fd.notes else [],
             "mesh_cells": [int(n) for n in mesh.shape_cells],
             "air_cells": int((~active).sum()), "max_electrode_move": made.max_move}
    if made.max_move > 0:
        log.info("electrodes draped onto the mesh's ground surface: largest move %.3g m",
                 made.max_move)
    survey = geometry
    if with_data:
        survey, info = _field_data(fd, geometry, mesh, active, air, made.flat, pc, physics,
                                   correct=mc.correct_data)
        notes.update(info)
    local = None
    if physics.local_meshes:
        if dim != 3:
            raise ConfigError("physics.local_meshes is for 3D surveys; a 2.5D line splits by "
                              "wavenumbers instead (physics.split)")
        local = (physics.local_margin, physics.local_pad_factor)
    overlay = None
    if config.report.overlay:
        if dim == 2:
            overlay = read_polyline(config_relative(config, config.report.overlay), origin)
        else:
            log.warning("report.overlay is drawn over 2D sections only; this survey is 3D, "
                        "so it is left out")
    return problem_from_survey(
        name, mesh, survey, n_tiles=physics.n_tiles, solver=physics.solver, nky=physics.nky,
        split=physics.split, local_meshes=local, core_mask=_core(mesh) & active,
        active=active, inactive_value=air, origin=origin, notes=notes, overlay=overlay)


def _field_data(fd, geometry, mesh, active, air, flat, pc, physics, correct=False):
    """(survey with dobs and uncertainty in V/A on the draped electrodes, notes)."""
    from hpcinv.problem.problem import simulate
    from hpcinv.readers import assign_uncertainty, to_resistance

    unit_model = np.where(active, 0.0, air)  # 1 S/m ground under the air
    d_unit = None
    k = None
    if fd.data_type == "apparent_resistivity" and not flat:
        d_unit = simulate(mesh, geometry, unit_model, solver=physics.solver, nky=physics.nky)
        if np.any(d_unit == 0):
            row = int(np.flatnonzero(d_unit == 0)[0])
            raise DataError(f"{fd.path}: row {row}: a 1 S/m half-space gives zero voltage "
                            f"(a null array); its geometric factor is infinite: drop the row")
        k = 1.0 / d_unit  # numeric geometric factor: rho_a = k V/I at 1 ohm m
        log.info("numeric geometric factors from a 1 S/m half-space under the topography")
    survey = to_resistance(fd, k=k)
    survey, info = assign_uncertainty(
        survey, percent=pc.uncertainty_percent, floor=pc.uncertainty_floor,
        floor_percentile=pc.uncertainty_floor_percentile, use_file=pc.use_file_uncertainty)
    log.info("uncertainties: %s", info)
    survey = Survey(geometry.electrodes, geometry.abmn, survey.dobs, survey.uncertainty,
                    geometry.name)
    if d_unit is None:
        d_unit = simulate(mesh, geometry, unit_model, solver=physics.solver, nky=physics.nky)
    notes = {}
    if correct:
        survey, notes["data_correction"] = _correct(survey, d_unit, flat, mesh)
    w2 = 1.0 / survey.uncertainty ** 2
    # data of a uniform sigma are d_unit / sigma (air aside): least squares for 1 / sigma
    inv_sigma = float(np.sum(w2 * d_unit * survey.dobs) / np.sum(w2 * d_unit ** 2))
    notes["uncertainty"] = _plain(info)
    if inv_sigma > 0:
        r = (d_unit * inv_sigma - survey.dobs) / survey.uncertainty
        chi = float(r @ r) / survey.n_data
        notes["halfspace_conductivity"] = 1.0 / inv_sigma
        notes["halfspace_chi"] = chi
        log.info("best uniform half-space: %.4g S/m (ln %.3f), chi %.1f; a reference model "
                 "near it starts the inversion close to the data", 1.0 / inv_sigma,
                 -np.log(inv_sigma), chi)
    return survey, notes


def halfspace_response(survey: Survey) -> np.ndarray:
    """(n_data,) V/A of a 1 S/m half-space for electrodes on its (flat) surface:
    V = 1 / (2 pi r) per electrode pair, remote poles left out."""
    e, abmn = survey.electrodes, survey.abmn
    d = np.zeros(survey.n_data)
    for i, j, sign in ((0, 2, 1.0), (1, 2, -1.0), (0, 3, -1.0), (1, 3, 1.0)):
        ok = (abmn[:, i] >= 0) & (abmn[:, j] >= 0)
        r = np.linalg.norm(e[abmn[ok, i]] - e[abmn[ok, j]], axis=1)
        d[ok] += sign / (2.0 * np.pi * r)
    return d


def _correct(survey: Survey, d_unit: np.ndarray, flat: bool, mesh) -> tuple[Survey, dict]:
    """Data times (analytic / mesh) half-space response: what the mesh would give for what
    the ground gave (a numeric geometric factor; exact for a uniform half-space)."""
    on_top = np.allclose(survey.electrodes[:, -1], mesh.nodes[:, -1].max())
    if not (flat and on_top):
        log.warning("mesh.correct_data needs flat ground with the electrodes on it; the "
                    "data are left as read")
        return survey, {"applied": False}
    analytic = halfspace_response(survey)
    # arrays whose analytic response nearly cancels (|V| < 1e-3 of the median) keep their
    # value: their ratio is round-off
    usable = np.abs(analytic) > 1e-3 * np.median(np.abs(analytic))
    factor = np.where(usable, d_unit / np.where(usable, analytic, 1.0), 1.0)
    if np.any(factor <= 0):
        row = int(np.flatnonzero(factor <= 0)[0])
        raise DataError(f"{survey.name}: row {row}: the mesh's half-space response has the "
                        f"wrong sign (mesh too coarse for this array); refine mesh.cell_size")
    change = np.abs(factor - 1.0)
    log.info("mesh.correct_data: data scaled by the mesh's / analytic half-space response "
             "(median change %.2f%%, largest %.1f%%)", 100 * np.median(change),
             100 * change.max())
    corrected = Survey(survey.electrodes, survey.abmn, survey.dobs * factor,
                       survey.uncertainty * factor, survey.name)
    return corrected, {"applied": True, "median_change": float(np.median(change)),
                       "max_change": float(change.max())}


def _core(mesh) -> np.ndarray:
    """(n_cells,) bool: cells of the finest width on every axis (the mesh's core)."""
    masks = []
    for axis, h in enumerate(mesh.h):
        fine = np.isclose(h, h.min(), rtol=1e-6)
        idx = np.flatnonzero(fine)
        inside = np.zeros(len(h), bool)
        inside[idx[0]:idx[-1] + 1] = True
        masks.append(inside)
    grids = np.meshgrid(*masks, indexing="ij")
    return np.logical_and.reduce([g.ravel(order="F") for g in grids])


def _plain(value):
    """JSON-friendly copy of the uncertainty info (numpy scalars to floats)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
