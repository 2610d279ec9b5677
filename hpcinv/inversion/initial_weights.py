"""Initial network weights from a file (``network.initial_weights``): a stage-1 network made
elsewhere, e.g. the DIP-Inv authors' ``start_weights.pt``.

The file is a torch state dict, read with ``weights_only=True`` (no code runs). Parameter
names are hpcinv's (``linear``, ``blocks.<i>``, ``head``) or the authors' (their
``NNDC`` classes in ``train/models/kernel_3.py``: ``b1.0`` the Linear layer, ``b2.1`` ...
``b<n+1>.1`` the upsampling blocks' convolutions, ``b<n+2>.0`` the last convolution).
Loading keeps the function the weights computed where they came from: the authors' network
lays its image out deepest row first, so for a network in hpcinv's layout (surface first)
the Linear layer's rows and every kernel are flipped vertically; bilinear upsampling and
unpadded convolutions commute with that flip, so the model is the same (to float32
rounding: the sums run in another order). ``z`` is never taken from the file: it is the run
file's (``network.seed``, ``z_seed``, ``z_convention``).
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path

import torch

from hpcinv.errors import ConfigError
from hpcinv.inversion.networks import Generator, PaperCNN2D

log = logging.getLogger(__name__)

KEY = "network.initial_weights"
_AUTHORS_NAME = re.compile(r"^b(\d+)\.(\d+)\.(weight|bias)$")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of the state dict in ``path`` (on the CPU); ``ConfigError`` naming the
    key and the fix for a missing file, a file that is not a state dict of tensors, or one
    that needs code to load (a whole pickled model)."""
    if not path.is_file():
        raise ConfigError(
            f"{KEY}: no such file {path} (paths are relative to the config file's directory)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        # weights_only refuses code (UnpicklingError); a truncated or foreign file fails
        # in the zip reader (RuntimeError) or the unpickler (EOFError, ValueError)
        # torch's messages run on with advice (weights_only=False runs the file's code):
        # its first sentence is the reason
        reason = (str(exc).strip() or type(exc).__name__).split(". ")[0].splitlines()[0]
        raise ConfigError(
            f"{KEY}: {path} is not a torch state dict that loads with weights_only=True "
            f"({reason}); save the network's weights with torch.save(model.state_dict(), "
            f"FILE)"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(
            f"{KEY}: {path} holds a {type(state).__name__}, not a state dict of tensors; "
            f"save the network's weights with torch.save(model.state_dict(), FILE)"
        )
    return state


def is_dip_inv_state(state: dict[str, torch.Tensor]) -> bool:
    """Whether the parameter names are the DIP-Inv authors' (b1.0.weight, ...)."""
    return bool(state) and all(_AUTHORS_NAME.match(k) for k in state)


def load_initial_weights(net: Generator, path: Path) -> str:
    """Load the weights in ``path`` into ``net`` (shapes checked); returns which naming the
    file used ("hpcinv" or "dip-inv")."""
    state, naming = initial_state(net, path)
    net.load_state_dict({**state, "z": net.z})
    log.info(
        "network: initial weights from %s (%s names%s)",
        path,
        naming,
        ", flipped to hpcinv's surface-first rows"
        if naming == "dip-inv" and not _depth_first(net)
        else "",
    )
    return naming


def initial_state(net: Generator, path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """(the state dict in ``path`` in ``net``'s names and row order, without z; the file's
    naming, "hpcinv" or "dip-inv"). Raises ``ConfigError`` naming the key, the parameter and
    the fix when the file does not fit ``net``; loads nothing."""
    state = read_state_dict(path)
    naming = "dip-inv" if is_dip_inv_state(state) else "hpcinv"
    if naming == "dip-inv":
        state = _from_dip_inv(state, net, path)
    if "z" in state:
        log.info("%s: the file's z is ignored; z is the run file's (network.seed)", KEY)
        state = {k: v for k, v in state.items() if k != "z"}
    own = {k: v for k, v in net.state_dict().items() if k != "z"}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(
            f"{KEY}: {path} does not fit the network ({type(net).__name__}): "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"not in the network {', '.join(unexpected)}" if unexpected else "",
                )
                if part
            )
            + f"; the network has {', '.join(own)} (network.kind, network.channels)"
        )
    for name, value in own.items():
        if tuple(state[name].shape) != tuple(value.shape):
            raise ConfigError(
                f"{KEY}: {path}: {name} has shape {tuple(state[name].shape)}, the network's "
                f"is {tuple(value.shape)}; set network.channels, network.z_size or the "
                f"model grid to those the weights were made for"
            )
    return state, naming


def _depth_first(net: Generator) -> bool:
    return bool(getattr(net, "depth_first", False))


def _from_dip_inv(
    state: dict[str, torch.Tensor], net: Generator, path: Path
) -> dict[str, torch.Tensor]:
    """The authors' names as hpcinv's, flipped into the network's row order."""
    if not isinstance(net, PaperCNN2D):
        raise ConfigError(
            f"{KEY}: {path} has the DIP-Inv authors' names, which fit the paper's 2D network "
            f"only; this run builds {type(net).__name__} (network.kind = 'paper-cnn-2d')"
        )
    convs = [i for i, m in enumerate(net.blocks) if isinstance(m, torch.nn.Conv2d)]
    names = {"b1.0": "linear", f"b{len(convs) + 2}.0": "head"}
    names.update({f"b{k + 2}.1": f"blocks.{i}" for k, i in enumerate(convs)})
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        layer, kind = key.rsplit(".", 1)
        if layer not in names:
            raise ConfigError(
                f"{KEY}: {path}: {key} is not a layer of the paper network with "
                f"{len(convs)} blocks (it has {', '.join(sorted(names))}); set "
                f"network.channels to the weights' channels"
            )
        out[f"{names[layer]}.{kind}"] = value
    if not _depth_first(net):
        out = _flip_rows(out, net)
    return out


def _flip_rows(state: dict[str, torch.Tensor], net: PaperCNN2D) -> dict[str, torch.Tensor]:
    """Weights whose network computes the row-flipped image of the original's: the Linear
    layer's outputs (an h0 x w0 image) reversed by rows, every kernel flipped vertically."""
    out = dict(state)
    h0, w0 = net.h0, net.w0
    for kind in ("weight", "bias"):
        key = f"linear.{kind}"
        if key in out and out[key].shape[0] == h0 * w0:
            v = out[key]
            out[key] = v.reshape(h0, w0, *v.shape[1:]).flip(0).reshape(v.shape)
    for key, v in state.items():
        if key.endswith(".weight") and v.dim() == 4:
            out[key] = v.flip(2)
    return out
