"""Typed, validated run configuration: a TOML file becomes frozen dataclasses.

Every section is a frozen dataclass; every field may carry ``choices`` or bounds in its
metadata. Unknown sections or keys, wrong types and impossible values raise ``ConfigError``
naming the key (``physics.solver``) and what is allowed. No I/O beyond reading the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from hpcinv.errors import ConfigError

#: Built-in synthetic cases (``hpcinv.cases`` implements exactly these).
CASE_NAMES = ("paper-1.1", "paper-1.2", "paper-1.3", "paper-2.1", "paper-2.2", "block-3d")
SOLVERS = ("auto", "mumps", "superlu", "banded")


def _choice(default, choices, doc):
    return field(default=default, metadata={"choices": choices, "doc": doc})


def _bounded(default, doc, *, gt=None, ge=None, le=None):
    return field(default=default, metadata={"gt": gt, "ge": ge, "le": le, "doc": doc})


@dataclass(frozen=True)
class ProblemConfig:
    """What is inverted: a built-in synthetic case (field data files come with readers)."""

    case: str = _choice(None, CASE_NAMES, "built-in synthetic case")
    noise_percent: float = _bounded(
        5.0, "Gaussian noise added to synthetic data, percent of |d|; also the uncertainty",
        ge=0.0, le=100.0)
    noise_floor: float = _bounded(
        0.0, "absolute floor added to the uncertainty of synthetic data, volts", ge=0.0)
    noise_seed: int = _bounded(20240, "seed of the synthetic noise", ge=0)


@dataclass(frozen=True)
class PhysicsConfig:
    """How the forward and adjoint problems are solved."""

    solver: str = _choice(
        "auto", SOLVERS,
        "'auto' takes banded Cholesky for 2.5D lines (fastest on ~10^4 unknowns, measured) "
        "and MUMPS (symmetric mode) in 3D")
    n_tiles: int = _bounded(1, "number of source tiles", ge=1)
    nky: int = _bounded(11, "wavenumbers of the 2.5D simulation", ge=3, le=64)


@dataclass(frozen=True)
class RunConfig:
    """A whole run file."""

    problem: ProblemConfig
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    #: sha256 of the file's canonical content (sections and keys sorted), for provenance.
    sha256: str = ""
    path: str | None = None


_SECTIONS: dict[str, type] = {"problem": ProblemConfig, "physics": PhysicsConfig}


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


def config_from_dict(raw: dict, path: str | None = None) -> RunConfig:
    """Validate a nested dict (as TOML gives it) into a ``RunConfig``."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a table of sections")
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(repr(u) for u in unknown)}; "
            f"allowed sections: {', '.join(_SECTIONS)}")
    if "problem" not in raw:
        raise ConfigError("missing section [problem] (set problem.case, e.g. case = \"paper-1.1\")")
    sections = {}
    for name, cls in _SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"'{name}' must be a table ([{name}]), got {type(table).__name__}")
        sections[name] = _parse_section(cls, table, name)
    return RunConfig(**sections, sha256=config_digest(raw), path=path)


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
            f"allowed keys in [{section}]: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        key = f"{section}.{name}"
        if name not in table:
            if f.default is None and f.metadata.get("choices"):
                raise ConfigError(
                    f"missing key {key}; allowed values: {', '.join(f.metadata['choices'])}")
            continue
        values[name] = _check_value(key, table[name], hints[name], f.metadata)
    return cls(**values)


def _check_value(key: str, value, hint, meta):
    allowed = _allowed_types(hint)
    # TOML integers are fine where a float is asked for; booleans are never numbers here.
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in allowed or not isinstance(value, tuple(allowed)):
        names = " or ".join(t.__name__ for t in allowed)
        raise ConfigError(f"{key} must be {names}, got {type(value).__name__} {value!r}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} = {value!r} is not allowed; allowed values: "
                          f"{', '.join(map(str, choices))}")
    for bound, ok, word in (("gt", lambda v, b: v > b, ">"), ("ge", lambda v, b: v >= b, ">="),
                            ("le", lambda v, b: v <= b, "<=")):
        b = meta.get(bound)
        if b is not None and not ok(value, b):
            raise ConfigError(f"{key} = {value!r} is impossible; it must be {word} {b}")
    return value


def _allowed_types(hint) -> list[type]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return [t for t in typing.get_args(hint) if t is not type(None)]
    return [hint]
