"""Typed, validated run configuration: a TOML file becomes frozen dataclasses.

Every section is a frozen dataclass; every field may carry ``choices`` or bounds in its
metadata. Unknown sections or keys, wrong types and impossible values raise ``ConfigError``
naming the key (``physics.solver``) and what is allowed. No I/O beyond reading the file
(and checking that the electrode file ``problem.electrodes`` names exists).

Modules: ``names`` (the names a run file may use), ``schema`` (per-field validation),
``data``, ``compute`` and ``method`` (the sections), ``run`` (the whole file).
"""

from hpcinv.config.compute import CheckpointConfig, OutputConfig, PhysicsConfig, SlurmConfig
from hpcinv.config.data import MeshConfig, ProblemConfig, ReportConfig
from hpcinv.config.method import (
    ConventionalConfig,
    EnsembleConfig,
    InversionConfig,
    NetworkConfig,
)
from hpcinv.config.names import (
    CASE_NAMES,
    LN_001,
    MESH_KINDS,
    NETWORKS,
    OPTIMIZERS,
    SOLVER_NAMES,
    SOLVERS,
    Z_CONVENTIONS,
)
from hpcinv.config.run import (
    DEFAULTS_3D,
    HARMLESS_KEYS,
    RunConfig,
    config_changes,
    config_digest,
    config_from_dict,
    dump_toml,
    load_config,
    load_site_profile,
    slurm_settings,
    with_3d_defaults,
)
from hpcinv.config.schema import memory_bytes

__all__ = [
    "CASE_NAMES",
    "DEFAULTS_3D",
    "HARMLESS_KEYS",
    "LN_001",
    "MESH_KINDS",
    "NETWORKS",
    "OPTIMIZERS",
    "SOLVERS",
    "SOLVER_NAMES",
    "Z_CONVENTIONS",
    "CheckpointConfig",
    "ConventionalConfig",
    "EnsembleConfig",
    "InversionConfig",
    "MeshConfig",
    "NetworkConfig",
    "OutputConfig",
    "PhysicsConfig",
    "ProblemConfig",
    "ReportConfig",
    "RunConfig",
    "SlurmConfig",
    "config_changes",
    "config_digest",
    "config_from_dict",
    "dump_toml",
    "load_config",
    "load_site_profile",
    "memory_bytes",
    "slurm_settings",
    "with_3d_defaults",
]
