"""Time one checkpoint write against an iteration, for paper-1.1 and block-3d; prints JSON.

The fraction reported is write seconds / (checkpoint.every x iteration seconds): the share
of run time spent checkpointing at the default interval (target < 2%).

    .venv/bin/python scripts/bench_checkpoint.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchkit import emit

import hpcinv
from hpcinv.checkpoint import CheckpointStore
from hpcinv.config import CheckpointConfig, config_from_dict
from hpcinv.inversion import Stepper


def measure(case: str, repeats: int) -> dict:
    cfg = config_from_dict({"problem": {"case": case}})
    problem = hpcinv.build_problem(cfg)
    inv = Stepper.build(cfg, problem, hpcinv.SerialExecutor(problem))  # a single run
    inv.step()  # warm-up
    iteration = []
    for _ in range(3):
        t = time.perf_counter()
        inv.step()
        iteration.append(time.perf_counter() - t)
    writes, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = CheckpointStore(Path(tmp) / "checkpoint.zarr", keep_last=2)
        for i in range(repeats):
            t = time.perf_counter()
            state = {**inv.state_dict(), "model": inv.members[0].model()}  # what a run saves
            store.save(inv.iteration + i, state, cfg.raw, cfg.sha256)
            writes.append(time.perf_counter() - t)
        sizes.append(
            sum(f.stat().st_size for f in (Path(tmp) / "checkpoint.zarr").rglob("*") if f.is_file())
            / 2
            / 1024**2
        )
    every = CheckpointConfig().every
    it, wr = statistics.median(iteration), statistics.median(writes)
    return {
        "iteration_seconds_median": it,
        "write_seconds_median": wr,
        "write_seconds_all": writes,
        "checkpoint_mib": sizes[0],
        "every": every,
        "fraction_at_default_interval": wr / (every * it),
        "target": 0.02,
        "meets_target": wr / (every * it) < 0.02,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    result = {case: measure(case, args.repeats) for case in ("paper-1.1", "block-3d")}
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
