"""A whole run file: ``RunConfig``, loading and validating it, comparing two of them,
the 3D defaults, site profiles, memory sizes and the canonical TOML and digest."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from hpcinv.config.compute import CheckpointConfig, OutputConfig, PhysicsConfig, SlurmConfig
from hpcinv.config.data import MeshConfig, ProblemConfig, ReportConfig
from hpcinv.config.method import ConventionalConfig, EnsembleConfig, InversionConfig, NetworkConfig
from hpcinv.config.schema import _parse_section
from hpcinv.errors import ConfigError


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


SECTIONS: dict[str, type] = {
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
    for section in SECTIONS:
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
        config = config_from_dict(raw, path=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _check_files(config, _source(path, text))
    return config


#: The first line ``hpcinv.report.rundir`` writes into a run directory's copy of the run
#: file: the file it was copied from, whose folder its relative paths are relative to.
COPIED_FROM = "# hpcinv: copied from "


def _source(path: Path, text: str) -> Path:
    """The run file whose folder ``path``'s relative paths are relative to: the original
    of a run directory's copy (its first line names it), else ``path``."""
    first = text.split("\n", 1)[0]
    return Path(first[len(COPIED_FROM) :]) if first.startswith(COPIED_FROM) else path


def _check_files(config: RunConfig, source: Path) -> None:
    """The input files a run file names that must exist before anything is read; one line
    naming the key and the path otherwise."""
    name = config.problem.electrodes
    if not name:
        return
    path = dataclasses.replace(config, path=str(source)).resolve_path(name)
    if not path.is_file():
        raise ConfigError(
            f"{config.path}: problem.electrodes: no such file {path} (paths are relative to "
            f"the config file's directory)"
        )


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
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(repr(u) for u in unknown)}; "
            f"allowed sections: {', '.join(SECTIONS)}"
        )
    if "problem" not in raw:
        raise ConfigError(
            'missing section [problem] (set problem.case, e.g. case = "paper-1.1", '
            "or problem.data, a field-data file)"
        )
    sections = {}
    for name, cls in SECTIONS.items():
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
