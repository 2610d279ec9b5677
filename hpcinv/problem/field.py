"""Problems from field data: read the file, convert to V/A, assign uncertainties, make a mesh.

``problem.data`` and every other path of the config are relative to the config file's
directory; ``problem.electrodes`` names the electrode file of an R2/R3t protocol, or of a
file without elevations (``hpcinv.readers.electrode_files``). The mesh comes from the
electrodes (``hpcinv.mesh.from_survey``); electrodes are draped onto its ground surface.
Apparent resistivities over topography are converted with numeric geometric factors,
k = 1 / (data of a 1 S/m half-space under the same topography). The best uniform half-space
is reported too (one more solve on the same factors): it is where a reference model should
start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hpcinv.config import RunConfig
from hpcinv.errors import ConfigError, DataError
from hpcinv.mesh.from_survey import mesh_from_survey
from hpcinv.mesh.tensor import core_mask
from hpcinv.physics import choose_solver
from hpcinv.problem.problem import (
    Problem,
    ProblemInfo,
    problem_from_survey,
    simulate,
)
from hpcinv.problem.site import (
    OCTREE_ABOVE_CELLS,
    octree_site,
    octree_tiles,
    predict_on_tiles,
)
from hpcinv.readers import (
    FieldData,
    assign_uncertainty,
    halfspace_response,
    read_polyline,
    read_survey,
    read_topography,
    to_resistance,
)
from hpcinv.readers.reciprocal import reciprocal_field_data
from hpcinv.survey import Survey

log = logging.getLogger(__name__)


def field_problem(config: RunConfig, *, with_data: bool = True) -> Problem:
    """The problem of ``config.problem.data`` (see the module docstring)."""
    pc, mc, physics = config.problem, config.mesh, config.physics
    path = config.resolve_path(pc.data)
    if not path.exists():
        raise ConfigError(
            f"problem.data: no such file {path} (paths are relative to the config file's directory)"
        )
    fd = _read(config, path)
    reciprocal = None
    if pc.uncertainty == "reciprocal":
        fd, reciprocal = reciprocal_field_data(fd, max_relative_error=pc.reciprocal_max_error)
    dim = fd.survey.dim
    origin = np.zeros(dim) if fd.origin is None else np.asarray(fd.origin, float)
    topography = None
    if mc.topography:
        topography = read_topography(config.resolve_path(mc.topography), origin, dim)
    elif fd.topography is not None and fd.topography.shape[1] == dim:
        topography = fd.topography
        log.info("ground surface: the %d topography points of %s", len(topography), path.name)
    air = float(np.log(mc.air_conductivity))
    name = path.stem
    made = site = None
    kind = mc.kind
    if kind == "octree" and dim != 3:
        raise ConfigError(
            'mesh.kind = "octree" is for 3D surveys; this survey is a 2.5D line: use '
            '"tensor" or "auto"'
        )
    if kind in ("auto", "tensor"):
        made = mesh_from_survey(
            fd.survey.electrodes,
            fd.survey.abmn,
            cell_size=mc.cell_size,
            cell_size_z=mc.cell_size_z,
            core_depth=mc.core_depth,
            core_margin=mc.core_margin,
            padding_distance=mc.padding_distance,
            pad_factor=mc.pad_factor,
            topography=topography,
        )
        if kind == "auto" and dim == 3 and made.mesh.n_cells > OCTREE_ABOVE_CELLS:
            log.info(
                "mesh.kind = auto: a tensor mesh fine enough at the electrodes would have "
                "%d cells (> %d), so the simulation meshes are octrees",
                made.mesh.n_cells,
                OCTREE_ABOVE_CELLS,
            )
            made = None
    if made is None:
        site = octree_site(fd.survey.electrodes, fd.survey.abmn, topography, mc)
        geometry = Survey(site.electrodes, fd.survey.abmn, name=name)
        tiles = octree_tiles(
            site,
            geometry,
            n_tiles=physics.n_tiles,
            solver=choose_solver(physics.solver, 3),
            inactive_value=air,
            blas_threads=physics.threads,
        )
        mesh, active, flat, moved = site.grid, site.grid_active, site.flat, site.moved
        mesh_notes = {
            "mesh_kind": "octree",
            "mesh_cells": int(site.mesh.n_cells),
            "finest_cell": site.finest,
            "model_grid_cells": [int(n) for n in mesh.shape_cells],
            "air_cells": int((~site.active).sum()),
        }

        def unit_data() -> np.ndarray:
            # 1 S/m ground under the air, on the tiles' own octrees
            return predict_on_tiles(tiles, geometry.n_data, np.zeros(mesh.n_cells))
    else:
        mesh, active, flat, moved = made.mesh, made.active, made.flat, made.moved
        geometry = Survey(made.electrodes, fd.survey.abmn, name=name)
        tiles = None
        mesh_notes = {
            "mesh_kind": "tensor",
            "mesh_cells": [int(n) for n in mesh.shape_cells],
            "air_cells": int((~active).sum()),
        }
        unit_model = np.where(active, 0.0, air)  # 1 S/m ground under the air

        def unit_data() -> np.ndarray:
            return simulate(
                mesh,
                geometry,
                unit_model,
                solver=physics.solver,
                nky=physics.nky,
                blas_threads=physics.threads,
            )

    for note in fd.notes:  # what the reader assumed or changed belongs in the run log too
        log.info("%s: %s", path.name, note)
    max_move = float(moved.max()) if moved.size else 0.0
    notes = {
        "file": str(path),
        "format": fd.format,
        "data_type": fd.data_type,
        "n_data": int(geometry.n_data),
        "dropped": len(fd.dropped),
        "reader_notes": list(fd.notes) if fd.notes else [],
        **mesh_notes,
        "max_electrode_move": max_move,
    }
    if reciprocal is not None:
        notes["reciprocal"] = {
            "a": reciprocal.model.a,
            "b": reciprocal.model.b,
            "pairs": reciprocal.n_pairs,
            "unpaired": reciprocal.n_unpaired,
            "pairs_dropped": int(reciprocal.dropped_rows.shape[0]),
            "max_relative_error": reciprocal.max_relative_error,
        }
    if max_move > 0:
        log.info("electrodes draped onto the mesh's ground surface: largest move %.3g m", max_move)
    survey = geometry
    if with_data:
        survey, data_notes = _field_data(fd, geometry, unit_data, flat, config)
        notes.update(data_notes)
    overlay = None
    if config.report.overlay:
        if dim == 2:
            overlay = read_polyline(config.resolve_path(config.report.overlay), origin)
        else:
            log.warning(
                "report.overlay is drawn over 2D sections only; this survey is 3D, "
                "so it is left out"
            )
    return problem_from_survey(
        name,
        mesh,
        survey,
        physics,
        core_mask=core_mask(mesh) & active,
        active=active,
        inactive_value=air,
        info=ProblemInfo(origin=origin, notes=notes, overlay=overlay),
        tiles=tiles,
    )


def _read(config: RunConfig, path: Path) -> FieldData:
    """``problem.data`` as read, with the electrode file ``problem.electrodes`` (if given):
    an R2/R3t protocol's positions, else the elevations of a file without them."""
    pc = config.problem
    electrodes = config.resolve_path(pc.electrodes) if pc.electrodes else None
    if electrodes is not None and not electrodes.is_file():
        # load_config checked it; config_from_dict does not
        raise ConfigError(
            f"problem.electrodes: no such file {electrodes} (paths are relative to the "
            f"config file's directory)"
        )
    return read_survey(path, format=pc.format, dimension=pc.dimension, electrodes=electrodes)


def _field_data(
    fd: FieldData,
    geometry: Survey,
    unit_data: Callable[[], np.ndarray],
    flat: bool,
    config: RunConfig,
) -> tuple[Survey, dict]:
    """(survey with dobs and uncertainty in V/A on the draped electrodes, notes).

    ``unit_data()`` simulates the data of a 1 S/m ground under the air on the problem's own
    simulation meshes (numeric geometric factors, the best half-space, data correction).
    """
    pc = config.problem
    d_unit = None
    k = None
    if fd.data_type == "apparent_resistivity" and not flat:
        d_unit = unit_data()
        if np.any(d_unit == 0):
            row = int(np.flatnonzero(d_unit == 0)[0])
            raise DataError(
                f"{fd.path}: row {row}: a 1 S/m half-space gives zero voltage "
                f"(a null array); its geometric factor is infinite: drop the row"
            )
        k = 1.0 / d_unit  # numeric geometric factor: rho_a = k V/I at 1 ohm m
        log.info("numeric geometric factors from a 1 S/m half-space under the topography")
    survey = to_resistance(fd, k=k)
    survey, info = assign_uncertainty(
        survey,
        percent=pc.uncertainty_percent,
        floor=pc.uncertainty_floor,
        floor_percentile=pc.uncertainty_floor_percentile,
        # 'reciprocal' put the error model's standard deviations in the data already
        use_file=pc.use_file_uncertainty or pc.uncertainty == "reciprocal",
    )
    log.info("uncertainties: %s", info)
    survey = Survey(
        geometry.electrodes, geometry.abmn, survey.dobs, survey.uncertainty, geometry.name
    )
    if d_unit is None:
        d_unit = unit_data()
    notes: dict = {}
    if config.mesh.correct_data:
        survey, notes["data_correction"] = _correct(survey, d_unit, flat)
    dobs, sd = survey.dobs, survey.uncertainty
    assert dobs is not None and sd is not None  # assigned above
    w2 = 1.0 / sd**2
    # data of a uniform sigma are d_unit / sigma (air aside): least squares for 1 / sigma
    inv_sigma = float(np.sum(w2 * d_unit * dobs) / np.sum(w2 * d_unit**2))
    notes["uncertainty"] = _plain(info)
    if inv_sigma > 0:
        r = (d_unit * inv_sigma - dobs) / sd
        chi = float(r @ r) / survey.n_data
        notes["halfspace_conductivity"] = 1.0 / inv_sigma
        notes["halfspace_chi"] = chi
        log.info(
            "best uniform half-space: %.4g S/m (ln %.3f), chi %.1f; a reference model "
            "near it starts the inversion close to the data",
            1.0 / inv_sigma,
            -np.log(inv_sigma),
            chi,
        )
    return survey, notes


def _correct(survey: Survey, d_unit: np.ndarray, flat: bool) -> tuple[Survey, dict]:
    """Data times (analytic / mesh) half-space response: what the mesh would give for what
    the ground gave (a numeric geometric factor; exact for a uniform half-space)."""
    on_top = np.ptp(survey.electrodes[:, -1]) == 0  # draped onto flat ground: one level
    if not (flat and on_top):
        log.warning(
            "mesh.correct_data needs flat ground with the electrodes on it; the "
            "data are left as read"
        )
        return survey, {"applied": False}
    analytic = halfspace_response(survey.electrodes, survey.abmn)
    # arrays whose analytic response nearly cancels (|V| < 1e-3 of the median) keep their
    # value: their ratio is round-off
    usable = np.abs(analytic) > 1e-3 * np.median(np.abs(analytic))
    factor = np.where(usable, d_unit / np.where(usable, analytic, 1.0), 1.0)
    if np.any(factor <= 0):
        row = int(np.flatnonzero(factor <= 0)[0])
        raise DataError(
            f"{survey.name}: row {row}: the mesh's half-space response has the "
            f"wrong sign (mesh too coarse for this array); refine mesh.cell_size"
        )
    change = np.abs(factor - 1.0)
    log.info(
        "mesh.correct_data: data scaled by the mesh's / analytic half-space response "
        "(median change %.2f%%, largest %.1f%%)",
        100 * np.median(change),
        100 * change.max(),
    )
    corrected = Survey(
        survey.electrodes,
        survey.abmn,
        survey.dobs * factor,
        survey.uncertainty * factor,
        survey.name,
    )
    return corrected, {
        "applied": True,
        "median_change": float(np.median(change)),
        "max_change": float(change.max()),
    }


def _plain(value):
    """JSON-friendly copy of the uncertainty info (numpy scalars to floats)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
