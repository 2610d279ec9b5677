"""Seconds per forward + backward pass of a case's generator network, on CPU and on CUDA.

The network is the only part of an iteration that a GPU can speed up (physics is float64 on
CPU workers). Prints JSON; run on a GPU machine to fill README's CUDA numbers.

    python scripts/bench_network.py examples/block-3d.toml --repeats 20
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from hpcinv.config import load_config
from hpcinv.inversion import build_generator
from hpcinv.problem import build_problem


def seconds_per_pass(net, device: torch.device, repeats: int) -> float:
    net = net.to(device).train()

    def one():
        out = net()
        out.square().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):
        one()
    t0 = time.perf_counter()
    for _ in range(repeats):
        one()
    return (time.perf_counter() - t0) / repeats


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="examples/block-3d.toml")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    grid = build_problem(cfg, with_data=False).model_grid
    net = build_generator(cfg.network, grid)
    result = {
        "config": args.config,
        "model_cells": grid.n_cells,
        "weights": sum(p.numel() for p in net.parameters()),
        "cpu_threads": torch.get_num_threads(),
        "cpu_s": seconds_per_pass(net, torch.device("cpu"), args.repeats),
    }
    if torch.cuda.is_available():
        result["cuda_device"] = torch.cuda.get_device_name()
        result["cuda_s"] = seconds_per_pass(net, torch.device("cuda"), args.repeats)
        result["cpu_over_cuda"] = result["cpu_s"] / result["cuda_s"]
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
