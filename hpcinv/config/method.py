"""The inversion method: [network], [inversion], [ensemble], [conventional]."""

from __future__ import annotations

from dataclasses import dataclass, field

from hpcinv.config.names import LN_001, NETWORKS, OPTIMIZERS, Z_CONVENTIONS
from hpcinv.config.schema import _bounded, _choice
from hpcinv.errors import ConfigError


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
    finest_kernel: int = _choice(
        3,
        (3, 1),
        "cnn-3d: the kernel of the convolutions at full resolution (the last block's and the "
        "head's): 3 (3x3x3) or 1 (1x1x1, as the deep decoder: the finest structure comes "
        "from the trilinear upsampling alone)",
    )
    output: str = _choice(
        "sigmoid",
        ("sigmoid", "reference-tanh"),
        "the network's output: 'sigmoid': ln(S/m) in (log_conductivity_min, "
        "log_conductivity_max) (the paper; a stage 1 brings it to m_ref); 'reference-tanh': "
        "m_ref + output_scale tanh(u - u0), u0 the initial last layer's output, so the "
        "network starts at m_ref exactly (no stage 1) and no cell is pinned at a bound",
    )
    output_scale: float = _bounded(
        4.0, "'reference-tanh': the most ln(S/m) the model may move from m_ref", gt=0.0
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
    optimizer: str = _choice(
        "adam",
        OPTIMIZERS,
        "how the weights move: 'adam' (the paper; on linearisations with relinearize_every "
        "> 1); 'gauss-newton': Levenberg-Marquardt steps on the weights solved in a Krylov "
        "space of network Jacobian-vector products, the damping chosen by the misfit it "
        "aims at, two aims tried in one batched prediction, the winner linearised next "
        "(dropout off; no stage 1 needed with network.output = 'reference-tanh')",
    )
    learning_rate: float = _bounded(1e-4, "optimiser learning rate", gt=0.0)
    lr_schedule: str = _choice(
        "constant",
        ("constant", "plateau"),
        "'constant' (the paper); 'plateau': the rate times lr_factor whenever the best chi "
        "has not improved by lr_threshold (relative) for lr_patience iterations",
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
            "doc": "m_ref, ln(S/m); or 'halfspace': the best uniform half-space of field data, "
            "fitted when the problem is built (one more solve) and recorded in summary.json as "
            "reference_model. Field data take 'halfspace' when the run file gives none"
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
    device: str = _choice(
        "auto", ("auto", "cpu", "cuda"), "where the network runs; 'auto' takes CUDA when available"
    )
    gn_krylov_iterations: int = _bounded(
        30,
        "gauss-newton: Golub-Kahan iterations per linearisation (at most; each one network "
        "Jacobian-vector and one vector-Jacobian product)",
        ge=1,
    )
    gn_first_aim: float = _bounded(
        0.1,
        "gauss-newton: the first step aims its linearised misfit at target + q (misfit - "
        "target) with this q, and tries sqrt(q) beside it; later steps follow the trial "
        "that won",
        gt=0.0,
        le=1.0,
    )
    gn_reference_ratio: float = _bounded(
        1.0,
        "gauss-newton: the L2 reference term mu/2 ||m - m_ref||^2 as rows of each step, mu "
        "first this times the data term's curvature over the reference term's along the "
        "gradient, then quartered whenever the data cannot reach a step's aim (0: no term)",
        ge=0.0,
    )
    relinearize_every: int = _bounded(
        1,
        "1: every network step solves the physics (the paper). K > 1: the data and J at the "
        "current model every K steps, and the K - 1 steps between use the misfit of that "
        "linearisation (dense J held here: n_data x n_cells x 4 bytes)",
        ge=1,
    )

    def __post_init__(self) -> None:
        if isinstance(self.reference_model, str) and self.reference_model != "halfspace":
            raise ConfigError(
                f"inversion.reference_model = {self.reference_model!r}: give ln(S/m) as a "
                f"number (e.g. {LN_001:.3f} for 0.01 S/m) or 'halfspace'"
            )

    @property
    def reference_value(self) -> float:
        """m_ref in ln(S/m); 'halfspace' must have been resolved (``resolve_config``)."""
        if isinstance(self.reference_model, str):
            raise ConfigError(
                "inversion.reference_model = 'halfspace' is fitted to the data when the "
                "problem is built; resolve it with hpcinv.driver.resolve.resolve_config first"
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
