"""Across hosts against one host: seconds per DIP iteration and bytes on the wire, with the
same workers, on the three-host Slurm of this machine (``bash slurm/local-cluster.sh start
--nodes 3``). Prints JSON.

paper-1.1 in ``--tiles`` tiles (3: one per worker) on three single-thread worker jobs, the
scheduler in this process on the bridge (198.18.0.1). Placements, each a fresh cluster,
interleaved ``--repeats`` times (the machine is shared: compare within a repeat):

- ``three_hosts``: one worker job a host (``--exclusive``), each tile's traffic crosses
  the bridge between namespaces;
- ``one_host``: all three jobs on hpcinv-n1 (``--nodelist``); their traffic to the
  scheduler crosses the same veth, so both placements pay one network hop: what differs is
  one host's link shared by three workers against a link each.

Bytes are the hosts' veth counters (rx + tx, the host side of ``hpcinv-vI``) over the timed
iterations, per iteration and per worker: the model in, the gradient out, Dask's task
messages, heartbeats and TLS. What one machine cannot show: a real interconnect's latency
and bandwidth, and cores not shared between the hosts (here all three share the machine's).

The projection's driver link: at N nodes of 16 single-thread workers, one member per
``tiles`` workers (README's weak-scaling projection), each step moves members x tiles x
(bytes per worker-iteration) through the driver's link; the seconds that takes at
``--link-gbps`` are printed beside the projected step.

    .venv/bin/python scripts/bench_multihost.py [--iterations 10] [--warmup 2]
        [--repeats 2] [--tiles 3] [--link-gbps 10] [--out benchmarks/bench_multihost.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

from bench_inversion import hpcinv_step
from benchkit import emit, log, machine_info, timed_iterations

import hpcinv
from hpcinv.config import load_config
from hpcinv.engine.cluster import SlurmWorkers, slurm_cluster
from hpcinv.engine.dask_executor import DaskExecutor
from hpcinv.inversion import Stepper

HOSTS = ("hpcinv-n1", "hpcinv-n2", "hpcinv-n3")
BRIDGE_ADDR = "198.18.0.1"
PLACEMENTS = {
    "three_hosts": ("--exclusive",),
    "one_host": ("--nodelist=hpcinv-n1",),
}


def veth_bytes() -> dict[str, int]:
    """rx + tx bytes of each host's veth (host side)."""
    out = {}
    for i, host in enumerate(HOSTS, 1):
        base = Path(f"/sys/class/net/hpcinv-v{i}/statistics")
        out[host] = sum(int((base / f).read_text()) for f in ("rx_bytes", "tx_bytes"))
    return out


def measure(problem, config, placement: str, args) -> dict:
    import socket

    run_dir = Path("runs/bench_multihost") / placement
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = SlurmWorkers(
        jobs=3,
        cores=1,
        memory="1GiB",
        walltime="00:09:00",
        wait_seconds=120,
        scheduler_host=BRIDGE_ADDR,
        job_directives=PLACEMENTS[placement],
        log_directory=str(run_dir / "slurm-logs"),
    )
    handle = slurm_cluster(spec, shared_directory=str(run_dir))
    try:
        hosts = sorted(handle.client.run(socket.gethostname).values())
        executor = DaskExecutor(problem, handle.client)
        inv = Stepper.build(config, problem, executor)
        step = hpcinv_step(inv)
        for _ in range(args.warmup):
            step()
        before = veth_bytes()
        timing = timed_iterations(step, 0, args.iterations, placement)
        after = veth_bytes()
        executor.close()
    finally:
        handle.close()
    moved = {h: after[h] - before[h] for h in HOSTS if after[h] > before[h]}
    return {
        "placement": placement,
        "worker_hosts": hosts,
        "seconds_per_iteration": round(timing["seconds_median"], 4),
        "physics_seconds": round(timing["physics_seconds_median"], 4),
        "seconds_all": [round(s, 4) for s in timing["seconds_all"]],
        "bytes_per_iteration_per_worker": round(sum(moved.values()) / args.iterations / 3),
        "bytes_per_host": moved,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="examples/paper-1.1.toml")
    p.add_argument("--tiles", type=int, default=3)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--link-gbps", type=float, default=10.0)
    p.add_argument("--nodes", type=int, nargs="+", default=[4, 16, 64])
    p.add_argument("--out", default=None)
    args = p.parse_args()

    config = load_config(args.config)
    config = dataclasses.replace(
        config,
        physics=dataclasses.replace(config.physics, n_tiles=args.tiles),
        inversion=dataclasses.replace(config.inversion, pretrain=False),
    )
    problem = hpcinv.build_problem(config)
    runs = []
    for repeat in range(args.repeats):
        for placement in PLACEMENTS:
            log(f"repeat {repeat + 1}: {placement}")
            runs.append({"repeat": repeat + 1, **measure(problem, config, placement, args)})
    per = {
        name: statistics.median(r["seconds_per_iteration"] for r in runs if r["placement"] == name)
        for name in PLACEMENTS
    }
    wire = statistics.median(
        r["bytes_per_iteration_per_worker"] for r in runs if r["placement"] == "three_hosts"
    )
    link = []
    for n in args.nodes:
        members = n * 16 // args.tiles
        moved = members * args.tiles * wire
        link.append(
            {
                "nodes": n,
                "members": members,
                "bytes_per_step": round(moved),
                "seconds_at_link": round(moved * 8 / (args.link_gbps * 1e9), 4),
            }
        )
    report = {
        "script": "scripts/bench_multihost.py",
        "machine": machine_info(),
        "case": args.config,
        "tiles": args.tiles,
        "workers": 3,
        "iterations_timed": args.iterations,
        "runs": runs,
        "seconds_per_iteration_median": per,
        "three_hosts_over_one_host": round(per["three_hosts"] / per["one_host"], 3),
        "bytes_per_iteration_per_worker": wire,
        "driver_link": {"gbps": args.link_gbps, "projection": link},
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
