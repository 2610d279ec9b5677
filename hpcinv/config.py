"""Typed, validated run configuration: a TOML file becomes frozen dataclasses.

Every section is a frozen dataclass; every field may carry ``choices`` or bounds in its
metadata. Unknown sections or keys, wrong types and impossible values raise ``ConfigError``
naming the key (``physics.solver``) and what is allowed. No I/O beyond reading the file.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from hpcinv.errors import ConfigError

#: Built-in synthetic cases (``hpcinv.problem.cases`` implements exactly these).
CASE_NAMES = (
    "paper-1.1",
    "paper-1.2",
    "paper-1.3",
    "paper-2.1",
    "paper-2.2",
    "block-3d",
    "tiny-2d",
    "tiny-3d",
    "grid-3d",
)
#: simulation mesh kinds of surveys built like field data
MESH_KINDS = ("auto", "tensor", "octree")
#: the sparse direct solvers of the physics (``hpcinv.physics.solvers`` implements these)
SOLVER_NAMES = ("mumps", "superlu", "banded")
SOLVERS = ("auto", *SOLVER_NAMES)
NETWORKS = ("auto", "paper-cnn-2d", "cnn-3d")
#: how z, the dropout stream and the paper network's row order are drawn and laid out
Z_CONVENTIONS = ("hpcinv", "dip-inv")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LN_001 = -4.605170185988091  # ln(0.01 S/m), the paper's reference and background


def _choice(default, choices, doc):
    return field(default=default, metadata={"choices": choices, "doc": doc})


def _bounded(default, doc, *, gt=None, ge=None, le=None):
    return field(default=default, metadata={"gt": gt, "ge": ge, "le": le, "doc": doc})


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
    format: str = field(
        default="auto",
        metadata={"doc": "reader format of problem.data; 'auto' recognises it from the content"},
    )
    dimension: str = _choice(
        "auto",
        ("auto", "2d", "3d"),
        "'auto': electrodes on one straight line run as a 2.5D line on a 2D mesh in line "
        "coordinates, others in 3D; '3d' forces a 3D mesh",
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


@dataclass(frozen=True)
class PhysicsConfig:
    """How the forward and adjoint problems are solved."""

    solver: str = _choice(
        "auto",
        SOLVERS,
        "'auto' takes banded Cholesky for 2.5D lines (fastest on ~10^4 unknowns, measured) "
        "and MUMPS (symmetric mode) in 3D",
    )
    n_tiles: int = _bounded(
        0,
        "number of tiles (units of parallel work); 0: one for tensor meshes, and for "
        "octrees one per ~300 electrodes, more if the largest would not fit "
        "physics.tile_memory (planned from MUMPS's analysis). Never the number of workers: "
        "octree tiles have meshes of their own, so the count changes the numbers",
        ge=0,
    )
    tile_memory: str = field(
        default="4GiB",
        metadata={
            "doc": "physics.n_tiles = 0 with octrees: the memory a tile may plan for (a "
            "worker's own baseline included); SLURM's default worker memory",
            "memory": True,
        },
    )
    split: str = _choice(
        "auto",
        ("auto", "sources", "wavenumbers"),
        "what tiles divide: 'auto' takes wavenumbers for 2.5D lines (no two tiles factor the "
        "same matrix) and sources in 3D",
    )
    nky: int = _bounded(11, "wavenumbers of the 2.5D simulation", ge=3, le=64)
    local_meshes: bool = field(
        default=False,
        metadata={
            "doc": "3D: each tile solves on its own mesh, fine around its electrodes, coarse "
            "elsewhere (data within ~1% of the global mesh on block-3d, measured)"
        },
    )
    local_margin: float = _bounded(100.0, "fine region beyond a tile's electrodes, metres", ge=0.0)
    local_pad_factor: float = _bounded(
        2.0, "growth of local cells outside the fine region", gt=1.0, le=4.0
    )
    fields_memory: str = field(
        default="2GiB",
        metadata={
            "doc": "3D: the most solved fields a tile keeps between its forward and adjoint "
            "solves; a tile above it streams them in chunks (bounded memory, one more solve "
            "per electrode)",
            "memory": True,
        },
    )
    threads: int = _bounded(
        1,
        "BLAS threads of every tile's factorization and solves, wherever the tile runs "
        "(MUMPS's results depend on it in the last bits: fixed here so that a run file gives "
        "the same numbers on any layout; the workers' CPUs should be at least this)",
        ge=1,
    )


@dataclass(frozen=True)
class NetworkConfig:
    """The generator network m = G_w(z) (DIP-Inv)."""

    kind: str = _choice("auto", NETWORKS, "'auto': paper-cnn-2d on 2D grids, cnn-3d on 3D grids")
    seed: int = _bounded(0, "seed of z, the initial weights and dropout", ge=0)
    z_seed: int = _bounded(
        -1, "seed of z alone (-1: z comes from seed, with the weights); ensembles vary it", ge=-1
    )
    z_size: int = _bounded(8, "length of the fixed random input z", ge=1)
    z_std: float = _bounded(10.0, "standard deviation of z (the paper: 10)", gt=0.0)
    dropout: float = _bounded(
        0.1, "dropout probability before the last convolution", ge=0.0, le=0.9
    )
    channels: tuple[int, ...] = field(
        default=(64, 32, 8),
        metadata={"doc": "channels of the upsampling blocks", "min_len": 1, "ge": 1},
    )
    log_conductivity_min: float = _bounded(-8.0, "lower end of the output range, ln(S/m)")
    log_conductivity_max: float = _bounded(0.0, "upper end of the output range, ln(S/m)")
    threads: int = _bounded(
        1,
        "CPU threads of the network (torch); float32 results depend on the count, so it "
        "is fixed here rather than taken from the driver's cores",
        ge=1,
    )
    min_start_cells: int = _bounded(
        1,
        "cnn-3d: the coarsest grid has at least this many cells on an axis where the core "
        "has that many; such an axis is upsampled fewer times (1: every axis is upsampled "
        "in every block)",
        ge=1,
    )
    initial_weights: str = field(
        default="",
        metadata={
            "doc": "a torch state dict (.pt, read with weights_only=True) loaded into the "
            "network before the first iteration, in hpcinv's parameter names or the DIP-Inv "
            "authors' (b1.0 ... b5.0); stage 1 is skipped (these weights are the stage-1 "
            "network); z stays the run file's (seed, z_seed, z_convention)"
        },
    )
    z_convention: str = _choice(
        "hpcinv",
        Z_CONVENTIONS,
        "'hpcinv': z and the initial weights from a generator seeded with seed, dropout "
        "from torch's generator seeded with seed + 1; 'dip-inv': the DIP-Inv authors' "
        "train.py: torch's global generator seeded with seed gives z = normal(0, z_std, "
        "(1, z_size)), then the layers' default initialisation, then every dropout mask, and "
        "the paper network's image rows run from the deepest (their output's order)",
    )

    def __post_init__(self):
        if self.log_conductivity_min >= self.log_conductivity_max:
            raise ConfigError(
                f"network.log_conductivity_min = {self.log_conductivity_min} must be below "
                f"network.log_conductivity_max = {self.log_conductivity_max}"
            )


@dataclass(frozen=True)
class InversionConfig:
    """The optimisation: loss (1 - b_t) phi_d + b_t R(m - m_ref), optimiser, stopping."""

    kind: str = _choice(
        "dip",
        ("dip", "conventional"),
        "'dip': CNN reparameterisation; 'conventional': SimPEG sparse IRLS",
    )
    iterations: int = _bounded(2000, "optimiser iterations (DIP)", ge=0)
    optimizer: str = _choice("adam", OPTIMIZERS, "torch optimiser of the network weights")
    learning_rate: float = _bounded(1e-4, "optimiser learning rate", gt=0.0)
    lr_schedule: str = _choice(
        "constant",
        ("constant", "plateau", "backoff"),
        "'constant' (the paper); 'plateau': the rate times lr_factor whenever the best chi "
        "has not improved by lr_threshold (relative) for lr_patience iterations; 'backoff' "
        "(with relinearize_every > 1): times lr_factor whenever the exact chi of a renewal "
        "rose by more than lr_threshold over the previous one",
    )
    lr_patience: int = _bounded(100, "plateau: iterations without a better chi", ge=1)
    lr_factor: float = _bounded(0.5, "plateau: the rate is multiplied by this", gt=0.0, le=1.0)
    lr_threshold: float = _bounded(
        0.01, "plateau: relative chi improvement that counts", ge=0.0, le=1.0
    )
    lr_min: float = _bounded(1e-5, "plateau: the rate never goes below this", gt=0.0)
    reference_model: float | str = field(
        default=LN_001,
        metadata={
            "doc": "m_ref, ln(S/m); or 'halfspace' (field data): the best uniform half-space "
            "of the data, fitted when the problem is built (one more solve) and recorded in "
            "summary.json as reference_model"
        },
    )
    reference_norm: str = _choice(
        "l1", ("l1", "l2", "none"), "R(m - m_ref): sum |.| (paper), 0.5 sum (.)^2, or no term"
    )
    beta_schedule: str = _choice(
        "exponential",
        ("exponential", "constant"),
        "b_t = exp(-t / beta_tau) (paper) or a constant beta",
    )
    beta_tau: float = _bounded(1000.0, "decay of the exponential schedule, iterations", gt=0.0)
    beta: float = _bounded(0.0, "b for the constant schedule", ge=0.0, le=1.0)
    target_chi: float = _bounded(0.0, "stop once chi <= target_chi (0: never)", ge=0.0)
    target_chi_patience: int = _bounded(1, "consecutive iterations at the target", ge=1)
    pretrain: bool = field(
        default=False,
        metadata={"doc": "stage 1: fit the network to m_ref before the data term starts"},
    )
    pretrain_tolerance: float = _bounded(0.01, "stage 1 stops at rms(m - m_ref) below this", gt=0.0)
    pretrain_max_iterations: int = _bounded(5000, "stage 1 iteration limit", ge=1)
    pretrain_learning_rate: float = _bounded(1e-3, "stage 1 Adam learning rate", gt=0.0)
    pretrain_method: str = _choice(
        "adam",
        ("adam", "exact"),
        "stage 1: 'adam' fits the network to m_ref (the paper); 'exact' zeroes the output "
        "layer's weights and sets its bias so the network gives m_ref exactly, no iteration",
    )
    device: str = _choice(
        "auto", ("auto", "cpu", "cuda"), "where the network runs; 'auto' takes CUDA when available"
    )
    relinearize_every: int = _bounded(
        1,
        "1: every network step solves the physics (the paper). K > 1: the data and J at the "
        "current model every K steps, and the K - 1 steps between use the misfit of that "
        "linearisation (dense J held here: n_data x n_cells x 4 bytes)",
        ge=1,
    )
    relinearize_adaptive: bool = field(
        default=False,
        metadata={
            "doc": "with relinearize_every > 1: at each renewal the misfit the previous "
            "linearisation predicted for the new model is compared with the physics'; within "
            "relinearize_tolerance (relative) the next interval doubles (up to 16 x "
            "relinearize_every), off by more than 3 x that it halves (down to "
            "relinearize_every / 4); and a step whose linearised chi is at target_chi renews "
            "at once, so the physics decides the stop"
        },
    )
    relinearize_tolerance: float = _bounded(
        0.1, "relinearize_adaptive: relative misfit error that lets the interval grow", gt=0.0
    )
    precondition: str = _choice(
        "none",
        ("none", "sensitivity"),
        "'sensitivity': the data term's model-space gradient is scaled per cell by "
        "(D_ref / D_c)^precondition_power, D = diag(J^T W^2 J) at the reference model, D_ref "
        "its 99th percentile, so cells the data see weakly are not learned far slower",
    )
    precondition_power: float = _bounded(0.5, "exponent of the sensitivity scaling", gt=0.0)
    precondition_floor: float = _bounded(
        1e-3, "D_c / D_ref below this is taken as this (caps the scaling)", gt=0.0, le=1.0
    )
    coverage_taper: float = _bounded(
        0.0,
        "m = m_ref + t (G(z) - m_ref) with t = min(1, coverage / (coverage_taper x the largest "
        "coverage)) at the reference model: cells the data do not see stay at m_ref "
        "(0: off; e.g. 0.01)",
        ge=0.0,
        le=1.0,
    )

    def __post_init__(self) -> None:
        if isinstance(self.reference_model, str) and self.reference_model != "halfspace":
            raise ConfigError(
                f"inversion.reference_model = {self.reference_model!r}: give ln(S/m) as a "
                f"number (e.g. {LN_001:.3f} for 0.01 S/m) or 'halfspace'"
            )

    @property
    def reference_value(self) -> float:
        """m_ref in ln(S/m); 'halfspace' must have been resolved (``resolve_reference``)."""
        if isinstance(self.reference_model, str):
            raise ConfigError(
                "inversion.reference_model = 'halfspace' is fitted to the data when the "
                "problem is built; resolve it with hpcinv.driver's resolve_reference first"
            )
        return float(self.reference_model)


@dataclass(frozen=True)
class EnsembleConfig:
    """Uncertainty of a DIP model: members run together, and MC dropout."""

    members: int = _bounded(
        1,
        "DIP inversions of the problem run together on the same workers (1: a single run); "
        "member 0 is the run the file describes, the others vary as 'vary' says",
        ge=1,
    )
    vary: str = _choice(
        "both",
        ("seed", "z", "both"),
        "what member k > 0 changes: 'seed' the initial weights and dropout draws "
        "(network.seed + k, z kept), 'z' the input z alone (network.z_seed = seed + k), "
        "'both' all of them",
    )
    exceedance_resistivity: float = _bounded(
        0.0,
        "members > 1: result.npz gets P(resistivity < this, ohm m) per cell, the share of "
        "members below it (0: off)",
        ge=0.0,
    )

    mc_dropout_samples: int = _bounded(
        0,
        "after the run, this many forward passes of the network with dropout on (no physics): "
        "their mean and standard deviation per cell in result.npz (mc_dropout_mean, "
        "mc_dropout_std) and the exports; needs network.dropout > 0 (0: off)",
        ge=0,
    )


@dataclass(frozen=True)
class ConventionalConfig:
    """SimPEG's sparse (IRLS) Tikhonov inversion, the baseline (inversion.kind = conventional)."""

    norms: tuple[float, ...] = field(
        default=(0.0, 1.0, 1.0),
        metadata={
            "doc": "p_s, p_x, [p_y,] p_z of the sparse regularisation; in 3D three values "
            "(p_s, p_horizontal, p_z) set p_x = p_y",
            "min_len": 3,
            "max_len": 4,
            "ge": 0.0,
            "le": 2.0,
        },
    )
    alpha_s: float = _bounded(0.005, "smallness weight", ge=0.0)
    alpha_x: float = _bounded(0.5, "smoothness weight along x", ge=0.0)
    alpha_y: float = _bounded(0.5, "smoothness weight along y (3D)", ge=0.0)
    alpha_z: float = _bounded(0.5, "smoothness weight along z", ge=0.0)
    beta0_ratio: float = _bounded(10.0, "initial beta over the eigenvalue ratio", gt=0.0)
    max_iterations: int = _bounded(40, "Gauss-Newton iterations", ge=1)
    target_chi: float = _bounded(1.0, "target chi of the misfit", gt=0.0)


@dataclass(frozen=True)
class OutputConfig:
    """What a run writes while it runs."""

    progress: str = _choice(
        "auto",
        ("auto", "bar", "log", "none"),
        "'auto': a progress bar on a terminal, log lines otherwise",
    )


@dataclass(frozen=True)
class CheckpointConfig:
    """Zarr checkpoints in DIR/checkpoint.zarr (DIP runs)."""

    every: int = _bounded(
        100, "checkpoint every k iterations (and at the end, and on SIGTERM/SIGUSR1)", ge=1
    )
    keep_last: int = _bounded(2, "keep the last k checkpoints", ge=1)
    keep_every: int = _bounded(0, "also keep every m-th iteration's checkpoint (0: none)", ge=0)


@dataclass(frozen=True)
class SlurmConfig:
    """SLURM settings for ``--slurm`` worker jobs and ``hpcinv submit`` driver jobs.

    Precedence: command-line flags, then this section, then a site profile (``--site FILE``
    or ``$HPCINV_SITE``: a TOML file with the same ``[slurm]`` table), then these defaults.
    """

    partition: str = field(
        default="", metadata={"doc": "partition of the jobs ('' : Slurm's default)"}
    )
    account: str = field(default="", metadata={"doc": "account charged ('' : none given)"})
    worker_memory: str = field(
        default="4GiB", metadata={"doc": "memory per worker job", "memory": True}
    )
    worker_walltime: str = field(
        default="01:00:00",
        metadata={"doc": "time limit per worker job; workers leave (staggered) 5 min before it"},
    )
    directives: tuple[str, ...] = field(
        default=(),
        metadata={"doc": "extra #SBATCH directives of every job, e.g. ['--constraint=cpu']"},
    )
    prologue: tuple[str, ...] = field(
        default=(),
        metadata={"doc": "shell lines run before hpcinv in every job (module load, venv activate)"},
    )
    wait_seconds: float = _bounded(
        300.0, "give up when the workers have not joined by then", gt=0.0
    )
    scheduler_host: str = field(
        default="",
        metadata={
            "doc": "address the Dask scheduler binds ('' : this host's; 127.0.0.1 on one node)"
        },
    )
    tls: bool = field(
        default=True,
        metadata={
            "doc": "TLS with per-run certificates (plain TCP lets anyone reaching the port run "
            "code as you)"
        },
    )
    driver_memory: str = field(
        default="8GiB", metadata={"doc": "memory of the driver job", "memory": True}
    )
    driver_walltime: str = field(
        default="12:00:00",
        metadata={
            "doc": "time limit of the driver job (hpcinv submit); it requeues itself until done"
        },
    )
    driver_cpus: int = _bounded(2, "CPUs of the driver job (the network, the reduction)", ge=1)
    signal_lead_seconds: int = _bounded(
        300,
        "the driver gets SIGUSR1 this long before its walltime, checkpoints and requeues "
        "(Slurm may send it up to a minute early)",
        ge=10,
    )
    gpu_directive: str = field(
        default="--gres=gpu:1",
        metadata={"doc": "#SBATCH directive that asks for one GPU (hpcinv submit --gpu)"},
    )


@dataclass(frozen=True)
class RunConfig:
    """A whole run file."""

    problem: ProblemConfig
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    inversion: InversionConfig = field(default_factory=InversionConfig)
    conventional: ConventionalConfig = field(default_factory=ConventionalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    #: the file's content as parsed (for copies into run directories and resume checks)
    raw: dict = field(default_factory=dict, compare=False)
    #: sha256 of the file's canonical content (sections and keys sorted), for provenance.
    sha256: str = ""
    path: str | None = None

    def resolve_path(self, name: str) -> Path:
        """``name`` (a path the run file gives) relative to the run file's directory; as
        given when absolute or when the config came from no file."""
        path = Path(name).expanduser()
        if path.is_absolute() or self.path is None:
            return path
        return Path(self.path).parent / path


_SECTIONS: dict[str, type] = {
    "problem": ProblemConfig,
    "physics": PhysicsConfig,
    "network": NetworkConfig,
    "inversion": InversionConfig,
    "conventional": ConventionalConfig,
    "output": OutputConfig,
    "checkpoint": CheckpointConfig,
    "slurm": SlurmConfig,
    "mesh": MeshConfig,
    "report": ReportConfig,
    "ensemble": EnsembleConfig,
}

#: Keys a resumed run may change (with --force): they do not alter the iterates.
#: physics.solver, .n_tiles, .split and .threads and network.threads change results only in
#: the last bits (another factorization or summation order).
HARMLESS_KEYS = (
    "inversion.iterations",
    "inversion.target_chi",
    "inversion.target_chi_patience",
    "inversion.device",
    "output.*",
    "checkpoint.*",
    "physics.n_tiles",
    "physics.split",
    "physics.solver",
    "physics.threads",
    "network.threads",
    "slurm.*",
    "report.*",
    "ensemble.mc_dropout_samples",
)


def config_changes(old: RunConfig, new: RunConfig) -> tuple[list[str], list[str]]:
    """(changes that matter, harmless changes) between two configs, as 'key: a -> b'."""
    matter, harmless = [], []
    for section in _SECTIONS:
        a, b = getattr(old, section), getattr(new, section)
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if va == vb:
                continue
            name = f"{section}.{f.name}"
            line = f"{name}: {va!r} -> {vb!r}"
            if name in HARMLESS_KEYS or f"{section}.*" in HARMLESS_KEYS:
                harmless.append(line)
            else:
                matter.append(line)
    return matter, harmless


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run file.

    Raises ``ConfigError`` naming the file and the offending key.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return config_from_dict(raw, path=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


#: DIP settings of 3D problems for the keys a run file leaves out. The defaults above are
#: the paper's, for its 2D grids; in 3D they need thousands of iterations. These were
#: measured on block-3d and Century 3D (README, "3D DIP"): a smaller network without
#: dropout (the physics, not the network, bounds an iteration's cost), a fast-decaying
#: reference term, the paper's stage 1, and the physics linearised every 20 network steps.
DEFAULTS_3D: dict[str, dict[str, typing.Any]] = {
    "network": {"channels": (16, 8, 4), "dropout": 0.0, "min_start_cells": 4},
    "inversion": {
        "relinearize_every": 20,
        "learning_rate": 5e-3,
        "lr_schedule": "plateau",
        "lr_patience": 60,
        "lr_threshold": 0.02,
        "lr_min": 5e-4,
        "beta_tau": 20.0,
        "pretrain": True,
    },
}


def with_3d_defaults(config: RunConfig) -> tuple[RunConfig, dict[str, typing.Any]]:
    """(config with ``DEFAULTS_3D`` for every key its run file leaves out, {"section.key":
    value} of what was filled). Depends on the run file only, so a resume fills the same."""
    filled: dict[str, typing.Any] = {}
    sections = {}
    for name, defaults in DEFAULTS_3D.items():
        given = config.raw.get(name, {})
        values = {k: v for k, v in defaults.items() if k not in given}
        if values:
            sections[name] = dataclasses.replace(getattr(config, name), **values)
            filled.update({f"{name}.{k}": v for k, v in values.items()})
    return dataclasses.replace(config, **sections), filled


def config_from_dict(raw: dict, path: str | None = None) -> RunConfig:
    """Validate a nested dict (as TOML gives it) into a ``RunConfig``."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a table of sections")
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(repr(u) for u in unknown)}; "
            f"allowed sections: {', '.join(_SECTIONS)}"
        )
    if "problem" not in raw:
        raise ConfigError(
            'missing section [problem] (set problem.case, e.g. case = "paper-1.1", '
            "or problem.data, a field-data file)"
        )
    sections = {}
    for name, cls in _SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"'{name}' must be a table ([{name}]), got {type(table).__name__}")
        sections[name] = _parse_section(cls, table, name)
    return RunConfig(**sections, raw=copy.deepcopy(raw), sha256=config_digest(raw), path=path)


def load_site_profile(path: str | Path) -> dict:
    """The ``[slurm]`` table of a site profile (a TOML file a cluster's users share)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such site profile") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - {"slurm"})
    if unknown:
        raise ConfigError(
            f"{path}: a site profile holds only a [slurm] table, found {', '.join(unknown)}"
        )
    try:
        _parse_section(SlurmConfig, raw.get("slurm", {}), "slurm")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return dict(raw.get("slurm", {}))


def slurm_settings(
    config: RunConfig | None, site: dict | None = None, overrides: dict | None = None
) -> SlurmConfig:
    """SLURM settings: ``overrides`` (command-line flags; None = not given) over the run's
    ``[slurm]`` over the site profile's over the defaults. List flags add to the lists."""
    merged = {**(site or {}), **(config.raw.get("slurm", {}) if config else {})}
    for key, value in (overrides or {}).items():
        if value is None or value == ():
            continue
        if isinstance(value, tuple):
            merged[key] = list(merged.get(key, [])) + list(value)
        else:
            merged[key] = value
    return _parse_section(SlurmConfig, merged, "slurm")


def memory_bytes(text: str, key: str = "memory") -> int:
    """Bytes of a memory size: '4GiB' (4 x 2^30), '512MiB', '8GB' and '8G' (8 x 10^9), as
    Dask and dask-jobqueue read the same strings (``dask.utils.parse_bytes``); else
    ``ConfigError`` naming ``key``."""
    from dask.utils import parse_bytes  # a pure function; dask's core, not distributed

    if isinstance(text, (int, float)) or str(text).strip().replace(".", "", 1).isdigit():
        # Dask reads a bare number as bytes, Slurm as MiB: ask for the unit
        raise ConfigError(f"{key} = {text!r} has no unit; write e.g. {text}MiB or 4GiB")
    try:
        value = parse_bytes(text)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{key} = {text!r} is not a memory size; write e.g. 4GiB, 512MiB or 8GB"
        ) from None
    if value <= 0:
        raise ConfigError(f"{key} = {text!r} must be more than 0 bytes")
    return int(value)


def dump_toml(raw: dict) -> str:
    """TOML text of a config dict (sections of scalars and lists, as run files are), so a
    config built in Python can be copied into a run directory and resumed."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v) if not isinstance(v, float) or v == v else "nan"
        if isinstance(v, str):
            return json.dumps(v)  # JSON's string escapes are valid in TOML basic strings
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) as TOML")

    lines = []
    for section, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"'{section}' must be a table, got {type(table).__name__}")
        lines.append(f"[{section}]")
        lines += [f"{key} = {value(v)}" for key, v in table.items()]
        lines.append("")
    return "\n".join(lines)


def config_digest(raw: dict) -> str:
    """sha256 of a config dict, independent of key order and formatting."""
    return hashlib.sha256(_canonical(raw).encode()).hexdigest()


def _canonical(value) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{_canonical(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    return repr(value)


def _parse_section(cls, table: dict, section: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(f'{section}.{u}' for u in unknown)}; "
            f"allowed keys in [{section}]: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        key = f"{section}.{name}"
        if name not in table:
            if f.default is None and f.metadata.get("choices") and not f.metadata.get("optional"):
                raise ConfigError(
                    f"missing key {key}; allowed values: {', '.join(f.metadata['choices'])}"
                )
            continue
        values[name] = _check_value(key, table[name], hints[name], f.metadata)
    return cls(**values)


def _check_value(key: str, value, hint, meta):
    if typing.get_origin(hint) is tuple:
        return _check_tuple(key, value, typing.get_args(hint)[0], meta)
    allowed = _allowed_types(hint)
    # TOML integers are fine where a float is asked for; booleans are never numbers here.
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in allowed or not isinstance(value, tuple(allowed)):
        names = " or ".join(t.__name__ for t in allowed)
        raise ConfigError(f"{key} must be {names}, got {type(value).__name__} {value!r}")
    if meta.get("memory"):
        memory_bytes(str(value), key)
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(
            f"{key} = {value!r} is not allowed; allowed values: {', '.join(map(str, choices))}"
        )
    for bound, ok, word in (
        ("gt", lambda v, b: v > b, ">"),
        ("ge", lambda v, b: v >= b, ">="),
        ("le", lambda v, b: v <= b, "<="),
    ):
        b = meta.get(bound)
        if b is not None and not ok(value, b):
            raise ConfigError(f"{key} = {value!r} is impossible; it must be {word} {b}")
    return value


def _check_tuple(key: str, value, item_type, meta) -> tuple:
    if not isinstance(value, list):
        raise ConfigError(
            f"{key} must be a list of {item_type.__name__}, got {type(value).__name__} {value!r}"
        )
    if len(value) < meta.get("min_len", 0):
        raise ConfigError(f"{key} needs at least {meta['min_len']} values, got {len(value)}")
    if len(value) > meta.get("max_len", len(value)):
        raise ConfigError(f"{key} takes at most {meta['max_len']} values, got {len(value)}")
    item_meta = {k: meta.get(k) for k in ("ge", "le", "gt")}
    return tuple(_check_value(f"{key}[{i}]", v, item_type, item_meta) for i, v in enumerate(value))


def _allowed_types(hint) -> list[type]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return [t for t in typing.get_args(hint) if t is not type(None)]
    return [hint]
