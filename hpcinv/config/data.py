"""What is inverted and how it is meshed and drawn: [problem], [mesh], [report]."""

from __future__ import annotations

from dataclasses import dataclass, field

from hpcinv.config.names import CASE_NAMES, DATA_FORMATS, MESH_KINDS
from hpcinv.config.schema import _bounded, _choice
from hpcinv.errors import ConfigError


@dataclass(frozen=True)
class ProblemConfig:
    """What is inverted: a built-in synthetic case or a field-data file (exactly one)."""

    case: str | None = field(
        default=None,
        metadata={
            "choices": CASE_NAMES,
            "optional": True,
            "doc": "built-in synthetic case (or give problem.data instead)",
        },
    )
    data: str = field(
        default="",
        metadata={
            "doc": "field-data file, relative to the config file's directory (or give "
            "problem.case instead)"
        },
    )
    electrodes: str = field(
        default="",
        metadata={
            "doc": "electrode file of problem.data, relative to the config file (rows x,z or "
            "x,y,z, or a header label,x,y,z as ResIPy's elec.csv; blank z filled from the "
            "surface): an R2/R3t protocol's positions ('': found beside the protocol or "
            "where ResIPy keeps it); for a file without elevations (Syscal), the z of each "
            "electrode, matched by x (and y) within 1% of the smallest spacing. Checked "
            "when the run file is loaded"
        },
    )
    format: str = _choice(
        "auto",
        ("auto", *DATA_FORMATS),
        "reader format of problem.data (and problem.observed); 'auto' recognises it from the "
        "content",
    )
    dimension: str = _choice(
        "auto",
        ("auto", "2d", "3d"),
        "'auto': electrodes along x (one y for all) run as a 2.5D line on a 2D mesh, others "
        "in 3D (a straight line not along x too: rotate it to x for 2.5D); '3d' forces a 3D "
        "mesh",
    )
    uncertainty_percent: float = _bounded(
        5.0,
        "field data: percent of |d| in the uncertainty when the file has none (or "
        "problem.use_file_uncertainty = false)",
        ge=0.0,
        le=100.0,
    )
    uncertainty_floor: float = _bounded(
        0.0,
        "field data: absolute floor of the uncertainty, V/A (0: automatic, "
        "uncertainty_percent of the uncertainty_floor_percentile-th percentile of |d|)",
        ge=0.0,
    )
    uncertainty_floor_percentile: float = _bounded(
        10.0,
        "field data: the automatic floor is uncertainty_percent of this percentile of |d|",
        ge=0.0,
        le=100.0,
    )
    uncertainty: str = _choice(
        "auto",
        ("auto", "reciprocal"),
        "field data: 'auto': the file's standard deviations, else uncertainty_percent plus a "
        "floor; 'reciprocal': normal/reciprocal pairs (A B M N and M N A B) averaged, pairs "
        "whose reciprocal error exceeds reciprocal_max_error dropped (and listed), every "
        "datum's standard deviation from |e| = a + b |R| fitted to the pairs (ResIPy's and "
        "pyGIMLi's model)",
    )
    reciprocal_max_error: float = _bounded(
        0.2, "uncertainty = 'reciprocal': relative reciprocal error that drops a pair", gt=0.0
    )
    use_file_uncertainty: bool = field(
        default=True,
        metadata={"doc": "field data: use the file's standard deviations where it has them"},
    )
    noise_percent: float = _bounded(
        5.0,
        "Gaussian noise added to synthetic data, percent of |d|; also the uncertainty",
        ge=0.0,
        le=100.0,
    )
    noise_floor: float = _bounded(
        0.0, "absolute floor added to the uncertainty of synthetic data, volts", ge=0.0
    )
    noise_seed: int = _bounded(20240, "seed of the synthetic noise", ge=0)
    observed: str = field(
        default="",
        metadata={
            "doc": "built-in cases: a data file (any format problem.format reads, relative "
            "to the config file) whose data replace the simulated ones: the case's mesh, "
            "survey and true model with these data, matched to the case's survey by "
            "electrode positions; uncertainties noise_percent of |dobs| plus noise_floor "
            "(the paper's weighting)"
        },
    )

    def __post_init__(self):
        if (self.case is None) == (not self.data):
            given = "both" if self.case is not None else "neither"
            raise ConfigError(
                f"[problem] gives {given} of problem.case and problem.data; set exactly one: "
                f"case = a built-in synthetic case ({', '.join(CASE_NAMES)}) or data = a "
                f"field-data file (relative to the config file)"
            )
        if self.electrodes and self.case is not None:
            raise ConfigError(
                "problem.electrodes names the electrode file of problem.data; a built-in "
                "case brings its own electrodes: drop problem.electrodes"
            )
        if self.observed and self.case is None:
            raise ConfigError(
                "problem.observed replaces a built-in case's simulated data; with "
                "problem.data the file itself is the data: drop problem.observed"
            )


@dataclass(frozen=True)
class MeshConfig:
    """The mesh made from field data (ignored by built-in cases, which bring their own).

    Zeros mean automatic: sizes from the electrode spacing and the survey's extent.
    """

    kind: str = _choice(
        "auto",
        MESH_KINDS,
        "simulation mesh: 'auto' takes an octree for 3D surveys whose tensor mesh would "
        "pass 200,000 cells or that have topography, a tensor mesh otherwise (2.5D lines "
        "always); 'octree' refines at the electrodes and the surface and coarsens with "
        "distance, each tile on its own octree",
    )
    cell_size: float = _bounded(
        0.0,
        "horizontal core cell width, m (the finest octree cells; 0: half the median "
        "distance from an electrode to its nearest neighbour)",
        ge=0.0,
    )
    model_cell_size: float = _bounded(
        0.0,
        "octree meshes: cell width of the regular model grid the inversion's model lives "
        "on, m (0: the finest cell size doubled until the grid's core has at most 60,000 "
        "cells)",
        ge=0.0,
    )
    cell_size_z: float = _bounded(
        0.0, "vertical core cell height, m (0: as the horizontal)", ge=0.0
    )
    core_depth: float = _bounded(
        0.0,
        "depth of the core below the lowest electrode, m (0: 0.4 x the largest "
        "electrode separation of a datum)",
        ge=0.0,
    )
    core_margin: float = _bounded(
        0.0, "horizontal core beyond the outermost electrodes, m (0: two core cells)", ge=0.0
    )
    padding_distance: float = _bounded(
        0.0,
        "padding reaches at least this far beyond the core, sideways and below, m "
        "(0: 3 x the survey's largest horizontal extent)",
        ge=0.0,
    )
    pad_factor: float = _bounded(1.5, "growth of padding cells", gt=1.0, le=3.0)
    topography: str = field(
        default="",
        metadata={
            "doc": "CSV of x,[y,]z surface points (file coordinates), relative to the config "
            "file ('': the electrode elevations, interpolated)"
        },
    )
    air_conductivity: float = _bounded(
        1e-8,
        "conductivity of the air cells above the topography, S/m (fixed, never inverted)",
        gt=0.0,
    )
    correct_data: bool = field(
        default=False,
        metadata={
            "doc": "flat ground: scale each datum by (this mesh's / the analytic) half-space "
            "response, a numeric geometric factor that removes most of the mesh's error "
            "at short offsets (measured on Century, 50 m cells: 18% at n = 1 -> 0)"
        },
    )


@dataclass(frozen=True)
class ReportConfig:
    """What ``hpcinv report`` draws beyond the defaults."""

    overlay: str = field(
        default="",
        metadata={
            "doc": "Leapfrog polyline CSV (x = distance along the line in file coordinates, "
            "z = elevation) drawn over a 2D section, relative to the config file"
        },
    )
