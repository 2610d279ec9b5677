"""How a section of a run file is validated: per-field choices, bounds and types."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import field

from hpcinv.errors import ConfigError


def _choice(default, choices, doc):
    return field(default=default, metadata={"choices": choices, "doc": doc})


def _bounded(default, doc, *, gt=None, ge=None, le=None):
    return field(default=default, metadata={"gt": gt, "ge": ge, "le": le, "doc": doc})


#: Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
SLURM_TIME = re.compile(r"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+(:\d{1,2}){0,2})$")

#: keys and values that were options once and are refused now, with the release that removed
#: them and why (README "Removed options": each lost its measurement or was never used)
REMOVED_KEYS = {
    "inversion.relinearize_adaptive": ("0.7.0", "measured worse on block-3d"),
    "inversion.relinearize_tolerance": ("0.7.0", "it tuned relinearize_adaptive"),
    "inversion.precondition": ("0.7.0", "measured worse on block-3d"),
    "inversion.precondition_power": ("0.7.0", "it tuned precondition"),
    "inversion.precondition_floor": ("0.7.0", "it tuned precondition"),
    "inversion.pretrain_method": ("0.7.0", "'exact' was measured worse; stage 1 is Adam's"),
    "inversion.coverage_taper": ("0.7.0", "never measured"),
    "inversion.gn_cg_iterations": ("0.8.0", "now gn_krylov_iterations: one Krylov space a step"),
    "inversion.gn_damping": ("0.8.0", "the damping is chosen by its aim: gn_first_aim"),
}
REMOVED_VALUES = {
    ("inversion.lr_schedule", "backoff"): ("0.7.0", "measured worse on block-3d"),
    ("inversion.optimizer", "adamw"): ("0.7.0", "used by nothing"),
    ("inversion.optimizer", "sgd"): ("0.7.0", "used by nothing"),
    ("inversion.optimizer", "rmsprop"): ("0.7.0", "used by nothing"),
}


def _refuse_removed(table: dict, section: str) -> None:
    """One line for a key or value a release removed: which release, why, what to do."""
    for name, value in table.items():
        key = f"{section}.{name}"
        if key in REMOVED_KEYS:
            release, why = REMOVED_KEYS[key]
            raise ConfigError(
                f'{key} was removed in hpcinv {release} ({why}; README "Removed options"); '
                f"delete it from the run file"
            )
        if isinstance(value, str) and (key, value) in REMOVED_VALUES:
            release, why = REMOVED_VALUES[(key, value)]
            raise ConfigError(
                f'{key} = {value!r} was removed in hpcinv {release} ({why}; README "Removed '
                f'options"); leave {key} out for its default'
            )


def _parse_section(cls, table: dict, section: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _refuse_removed(table, section)
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
    if meta.get("walltime") and not SLURM_TIME.match(str(value)):
        raise ConfigError(
            f"{key} = {value!r} is not a Slurm time limit; write MM, MM:SS, HH:MM:SS or "
            f"D-HH[:MM[:SS]], e.g. 01:30:00"
        )
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
