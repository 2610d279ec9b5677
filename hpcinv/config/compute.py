"""Where and how the physics runs and what a run writes: [physics], [output],
[checkpoint], [slurm]."""

from __future__ import annotations

from dataclasses import dataclass, field

from hpcinv.config.names import SOLVERS
from hpcinv.config.schema import _bounded, _choice


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
        metadata={
            "doc": "time limit per worker job; workers leave (staggered) 5 min before it",
            "walltime": True,
        },
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
    interface: str = field(
        default="",
        metadata={
            "doc": "network interface the Dask scheduler and workers listen on, e.g. 'ib0' for "
            "a cluster's high-speed network ('' : the address of each host's name; an "
            "explicit scheduler_host still places the scheduler)"
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
            "doc": "time limit of the driver job (hpcinv submit); it requeues itself until done",
            "walltime": True,
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
