"""A checkpoint's state as plain arrays and JSON values, and back.

The inversion gives its state as nested dicts (``Stepper.state_dict``); a checkpoint
stores every array leaf (tensors as numpy arrays) under its path (``weights/head.bias``,
``optimizer/state/0/exp_avg``) and every other leaf (numbers, strings, lists) as a JSON value
under its path. Dict keys become strings: whoever loads a state converts the keys it needs.
Nothing here knows what the state means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: format 1 (hpcinv 0.1): a fixed layout written from the inversion's attributes
FORMAT_1 = "hpcinv-checkpoint-1"
#: format 2 (hpcinv 0.2): any nested state, flattened by ``flatten_state``
FORMAT_2 = "hpcinv-checkpoint-2"


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or hasattr(value, "detach")  # numpy or torch


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
        return value.detach().cpu().numpy()
    return np.asarray(value)


def flatten_state(state: dict, prefix: str = "") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays by path, JSON values by path) of a nested dict."""
    arrays: dict[str, np.ndarray] = {}
    values: dict[str, Any] = {}
    for key, value in state.items():
        path = f"{prefix}{key}"
        if "/" in str(key):
            raise ValueError(f"state key {path!r}: '/' separates levels and cannot be in a key")
        if isinstance(value, dict) and value:
            sub_arrays, sub_values = flatten_state(value, path + "/")
            arrays.update(sub_arrays)
            values.update(sub_values)
        elif _is_array(value):
            arrays[path] = _as_array(value)
        elif isinstance(value, np.generic):
            values[path] = value.item()
        else:
            values[path] = value
    return arrays, values


def unflatten_state(arrays: dict[str, np.ndarray], values: dict[str, Any]) -> dict:
    """The nested dict ``flatten_state`` was given (keys as strings)."""
    state: dict = {}
    for path, value in [*values.items(), *arrays.items()]:
        node = state
        *parents, leaf = path.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return state


def state_from_format_1(arrays: dict[str, np.ndarray], meta: dict) -> dict:
    """The state of a format-1 checkpoint (hpcinv 0.1) in format 2's nesting, so that runs
    checkpointed by 0.1 resume."""

    def under(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    optimizer_state = {
        index: {key: arrays[f"optimizer/{index}/{key}"] for key in keys}
        for index, keys in meta["optimizer_state_keys"].items()
    }
    kind, pos, has_gauss, cached = meta["numpy_rng"]
    rng: dict[str, Any] = {
        "torch": arrays["rng/torch"],
        "numpy": {
            "kind": kind,
            "keys": arrays["rng/numpy_keys"],
            "pos": pos,
            "has_gauss": has_gauss,
            "cached_gaussian": cached,
        },
    }
    if "rng/cuda" in arrays:
        rng["cuda"] = arrays["rng/cuda"]
    return {
        "iteration": meta["iteration"],
        "chi_streak": meta["chi_streak"],
        "weights": under("weights/"),
        "optimizer": {"state": optimizer_state, "param_groups": meta["param_groups"]},
        "rng": rng,
        "history": under("history/"),
        "model": arrays["model"],
        "z": arrays["z"],
    }
