"""What the benchmark scripts share: progress logging, peak memory, the machine's
description, timed iterations and the JSON report.

Only the standard library at the top level: Dask and ``multiprocessing`` workers import this
module too (they re-run a script as ``__mp_main__`` or unpickle a function from here), and
anything heavier, torch above all, would add to every worker's measured peak memory.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: one iteration; returns its sub-timings in seconds, e.g. {"physics_seconds": ...}
Step = Callable[[], dict]


def log(msg: str, tag: str = "bench") -> None:
    """Progress to stderr: ``[tag HH:MM:SS] msg``."""
    print(f"[{tag} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB."""
    # VmHWM: this process's own peak. ru_maxrss is not: it survives execve, so a spawned
    # process (a Dask worker, a multiprocessing child) reports the peak of the process it was
    # started from if that is larger (it read the same 855 MiB on every Dask worker).
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024.0


def machine_info() -> dict:
    """Host, Python, cores, thread settings, BLAS libraries and package versions."""
    import discretize
    import numpy as np
    import pymatsolver
    import scipy
    import simpeg

    blas = None
    try:  # before torch is imported here: the libraries the caller itself has loaded
        from threadpoolctl import threadpool_info

        blas = [
            {
                k: p.get(k)
                for k in ("internal_api", "version", "num_threads", "threading_layer", "filepath")
            }
            for p in threadpool_info()
        ]
    except ImportError:
        pass

    import torch

    import hpcinv

    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "env": {k: os.environ.get(k) for k in THREAD_ENV},
        "versions": {
            "hpcinv": hpcinv.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "torch": torch.__version__,
            "simpeg": simpeg.__version__,
            "discretize": discretize.__version__,
            "pymatsolver": pymatsolver.__version__,
        },
        "blas": blas,
    }


def timed_iterations(step: Step, warmup: int, iterations: int, label: str) -> dict:
    """Run ``step`` warmup + iterations times; summarise the timed ones.

    Returns {"seconds_median", "seconds_all", and "<key>_median", "<key>_all" for each
    sub-timing the step reports, "loadavg_before", "loadavg_after"}.
    """
    records = []
    loadavg_before = os.getloadavg()
    for i in range(warmup + iterations):
        t = time.perf_counter()
        parts = step()
        seconds = time.perf_counter() - t
        timed = i >= warmup
        if timed:
            records.append({"seconds": seconds, **parts})
        tag = f"{i - warmup + 1}/{iterations}" if timed else f"warm-up {i + 1}/{warmup}"
        detail = ", ".join(f"{k} {v:.3f}" for k, v in parts.items())
        log(f"  {label} {tag}: {seconds:.3f} s ({detail})")
    out = {}
    for key in records[0]:
        values = [r[key] for r in records]
        out[f"{key}_median"] = statistics.median(values)
        out[f"{key}_all"] = values
    out["loadavg_before"] = loadavg_before
    out["loadavg_after"] = os.getloadavg()
    return out


def emit(report, out: str | Path | None, **json_kwargs) -> str:
    """Print ``report`` as indented JSON and, when ``out`` is given, write it there too.

    ``json_kwargs`` go to ``json.dumps`` (e.g. ``default=float``). Returns the text.
    """
    text = json.dumps(report, indent=2, **json_kwargs)
    print(text)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return text


def finish(report: dict, started: float, out: str | Path | None, **json_kwargs) -> None:
    """Record the run's ``total_seconds`` (since ``started``, a ``time.perf_counter()``),
    ``emit`` the report and log the total."""
    report["total_seconds"] = time.perf_counter() - started
    emit(report, out, **json_kwargs)
    log(f"done in {report['total_seconds']:.0f} s")
