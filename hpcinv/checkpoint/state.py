"""What a checkpoint holds, as plain arrays and JSON: the full state of a ``DipInversion``.

Network weights (one array per tensor, z included as a buffer), Adam's state (one array per
tensor) and its param groups (JSON), torch's RNG state (which drives dropout; CUDA's too when
used), numpy's legacy RNG, the model on the model grid, the loss history and counters.
Restoring all of it makes the next iterate identical to an uninterrupted run on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from hpcinv.inversion.loop import HISTORY_KEYS, DipInversion


def capture_state(inv: DipInversion) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays by path, JSON-able metadata) of ``inv`` now."""
    arrays: dict[str, np.ndarray] = {}
    for name, tensor in inv.net.state_dict().items():
        arrays[f"weights/{name}"] = tensor.detach().cpu().numpy()
    opt = inv.optimizer.state_dict()
    for index, state in opt["state"].items():
        for key, value in state.items():
            arrays[f"optimizer/{index}/{key}"] = (value.detach().cpu().numpy()
                                                  if torch.is_tensor(value) else np.asarray(value))
    arrays["rng/torch"] = torch.get_rng_state().numpy()
    if torch.cuda.is_available():
        arrays["rng/cuda"] = torch.cuda.get_rng_state().numpy()
    np_state = np.random.get_state()
    arrays["rng/numpy_keys"] = np.asarray(np_state[1])
    arrays["model"] = inv.model()
    arrays["z"] = inv.net.z.detach().cpu().numpy()
    for key in HISTORY_KEYS:
        arrays[f"history/{key}"] = np.asarray(getattr(inv.history, key), dtype=np.float64)
    meta = {"iteration": inv.iteration, "chi_streak": inv._chi_streak,
            "param_groups": opt["param_groups"],
            "optimizer_state_keys": {str(i): sorted(s) for i, s in opt["state"].items()},
            "numpy_rng": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]}
    return arrays, meta


def restore_state(inv: DipInversion, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Put ``inv`` back exactly where the checkpoint was taken."""
    weights = {k[len("weights/"):]: torch.as_tensor(v) for k, v in arrays.items()
               if k.startswith("weights/")}
    inv.net.load_state_dict(weights)
    state = {}
    for index, keys in meta["optimizer_state_keys"].items():
        state[int(index)] = {
            key: torch.as_tensor(arrays[f"optimizer/{index}/{key}"]).to(
                inv.device if key != "step" else "cpu")
            for key in keys}
    inv.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(torch.as_tensor(arrays["rng/torch"], dtype=torch.uint8))
    if "rng/cuda" in arrays and torch.cuda.is_available():
        torch.cuda.set_rng_state(torch.as_tensor(arrays["rng/cuda"], dtype=torch.uint8))
    kind, pos, has_gauss, cached = meta["numpy_rng"]
    np.random.set_state((kind, arrays["rng/numpy_keys"].astype(np.uint32), pos, has_gauss, cached))
    for key in HISTORY_KEYS:
        setattr(inv.history, key, [float(x) for x in arrays[f"history/{key}"]])
    inv.iteration = int(meta["iteration"])
    inv._chi_streak = int(meta["chi_streak"])
    inv.restore_schedule()
