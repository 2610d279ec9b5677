"""Wall time of ``hpcinv data FILE`` on a field-sized file (issue 25: under 1.5 s for 16k data).

Writes a 3D grid survey (electrodes on a grid with gentle topography, dipole-dipole data
along the rows and columns, a fifth of them read again as reciprocals, no uncertainties, so
that the summary also fits the reciprocal error model and shows what a run would assign),
runs the installed command on it ``--runs`` times as a user would and prints JSON: the
median and every run's seconds, the datum count and the load average before and after.

    python scripts/bench_data_command.py --n-data 16000 --runs 5 [--format csv] [--keep FILE]

Run it on an idle machine (the load average is in the report); it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hpcinv.readers import write_survey
from hpcinv.survey import Survey

SPACING = 5.0  # metres between electrodes
RECIPROCAL_SHARE = 0.2  # of the data read again with current and potential dipoles swapped


def grid_survey(n_data: int, seed: int = 0) -> Survey:
    """``n_data`` dipole-dipole data on a square grid of electrodes, resistances in V/A."""
    rng = np.random.default_rng(seed)
    side = 32
    x, y = np.meshgrid(np.arange(side) * SPACING, np.arange(side) * SPACING, indexing="ij")
    z = 2.0 * np.sin(x / 40.0) + 1.5 * np.cos(y / 55.0)  # gentle topography
    electrodes = np.column_stack([x.ravel(), y.ravel(), z.ravel()])
    normal = _dipole_dipole(side)
    n_normal = int(round(n_data / (1.0 + RECIPROCAL_SHARE)))
    if n_normal > len(normal):
        raise SystemExit(f"at most {int(len(normal) * (1 + RECIPROCAL_SHARE))} data on this grid")
    normal = normal[rng.choice(len(normal), n_normal, replace=False)]
    again = normal[rng.choice(n_normal, n_data - n_normal, replace=False)][:, [2, 3, 0, 1]]
    abmn = np.vstack([normal, again])
    values = _halfspace_resistance(electrodes, abmn, rho=100.0)
    values *= 1.0 + 0.02 * rng.standard_normal(len(values))
    return Survey(electrodes, abmn, values)


def _dipole_dipole(side: int, levels: int = 10) -> np.ndarray:
    """(n, 4) A B M N of dipole-dipole arrays along every row and column of the grid."""
    index = np.arange(side * side).reshape(side, side)
    rows = []
    for line in (*index, *index.T):
        for a in range(side - 3):
            for n in range(1, levels + 1):
                m = a + 1 + n
                if m + 1 < side:
                    rows.append(line[[a, a + 1, m, m + 1]])
    return np.array(rows, dtype=np.int64)


def _halfspace_resistance(electrodes, abmn, rho: float) -> np.ndarray:
    a, b, m, n = (electrodes[abmn[:, k]] for k in range(4))

    def inv(p, q):
        return 1.0 / np.linalg.norm(p - q, axis=1)

    return rho / (2 * np.pi) * (inv(a, m) - inv(b, m) - inv(a, n) + inv(b, n))


def hpcinv_command() -> list[str]:
    """The installed console script next to this Python, else ``python -m hpcinv``."""
    script = Path(sys.executable).with_name("hpcinv")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hpcinv"]


def time_runs(path: Path, runs: int) -> list[float]:
    """Seconds of each ``hpcinv data path`` run (output discarded, as ``> /dev/null``)."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [*hpcinv_command(), "data", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"hpcinv data failed: {done.stderr.strip()}")
    return seconds


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-data", type=int, default=16000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--format", default="pygimli", choices=("pygimli", "csv"))
    ap.add_argument("--keep", help="also copy the file written here")
    args = ap.parse_args(argv)
    survey = grid_survey(args.n_data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("grid.dat" if args.format == "pygimli" else "grid.csv")
        write_survey(survey, path, args.format)
        if args.keep:
            shutil.copyfile(path, args.keep)
        load_before = os.getloadavg()
        seconds = time_runs(path, args.runs)
        report = {
            "command": " ".join([*hpcinv_command(), "data", path.name]),
            "format": args.format,
            "n_data": survey.n_data,
            "n_electrodes": int(survey.electrodes.shape[0]),
            "file_bytes": path.stat().st_size,
            "median_s": statistics.median(seconds),
            "runs_s": [round(s, 4) for s in seconds],
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "cpu_count": os.cpu_count(),
            # set, every run compiles hpcinv's modules again (no __pycache__): ~0.1 s more
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
