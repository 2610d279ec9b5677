"""How a section of a run file is validated: per-field choices, bounds and types."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import field

from hpcinv.errors import ConfigError


def _choice(default, choices, doc):
    return field(default=default, metadata={"choices": choices, "doc": doc})


def _bounded(default, doc, *, gt=None, ge=None, le=None):
    return field(default=default, metadata={"gt": gt, "ge": ge, "le": le, "doc": doc})


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
