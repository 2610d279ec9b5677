"""What changes an inversion's numbers, and by how much: variants of one run file after N
iterations, each against the same file run serially.

For paper-1.1 (2.5D, the example run file, stage 1 included) and tiny-3d (3D, MUMPS), one
run per variant of N iterations (default 100); for each: the largest |m - m_ref| over the
model grid (ln S/m), chi and its relative change, and the core MAE change. Variants that
must change nothing (2 workers) are checked to be bitwise equal. Prints JSON (and writes it
to --out).

    .venv/bin/python scripts/what_changes_results.py --iterations 100 \
        --out benchmarks/what-changes-results.json
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
from benchkit import emit

import hpcinv
from hpcinv.config import config_from_dict

REPO = Path(__file__).resolve().parents[1]

BASES = {
    "paper-1.1": tomllib.loads((REPO / "examples" / "paper-1.1.toml").read_text()),
    "tiny-3d": {
        "problem": {"case": "tiny-3d"},
        "physics": {"n_tiles": 1},
        "network": {"channels": [16, 8]},
        "inversion": {"learning_rate": 5e-3},
    },
}
#: (name, changes to the run file, run options); "layout" variants must change nothing
VARIANTS = {
    "paper-1.1": [
        ("2 workers (layout)", {}, {"workers": 2}),
        ("physics.n_tiles 2 (wavenumbers 6 + 5)", {"physics": {"n_tiles": 2}}, {}),
        ("physics.solver superlu (banded by default)", {"physics": {"solver": "superlu"}}, {}),
        ("network.threads 2", {"network": {"threads": 2}}, {}),
    ],
    "tiny-3d": [
        ("2 workers (layout)", {"physics": {"n_tiles": 1}}, {"workers": 2}),
        ("physics.n_tiles 2 (sources)", {"physics": {"n_tiles": 2}}, {}),
        ("physics.threads 2", {"physics": {"threads": 2}}, {}),
        ("network.threads 2", {"network": {"threads": 2}}, {}),
    ],
}


def merged(base: dict, changes: dict) -> dict:
    raw = copy.deepcopy(base)
    for section, table in changes.items():
        raw.setdefault(section, {}).update(table)
    return raw


def outcome(raw: dict, iterations: int, out: Path, options: dict) -> dict:
    t0 = time.perf_counter()
    result = hpcinv.run(
        config_from_dict(raw, path=str(REPO / "examples" / "x.toml")),
        out,
        iterations=iterations,
        **options,
    )
    s = result.summary
    return {
        "model": result.model,
        "chi": s["chi"],
        "mae_core": s["mae_core"],
        "history_phi_d": np.asarray(result.arrays["history_phi_d"]),
        "seconds": time.perf_counter() - t0,
    }


def compare(base: dict, other: dict) -> dict:
    dm = np.abs(base["model"] - other["model"])
    return {
        "bitwise_equal": bool(
            np.array_equal(base["model"], other["model"])
            and np.array_equal(base["history_phi_d"], other["history_phi_d"])
        ),
        "max_abs_dm": float(dm.max()),
        "median_abs_dm": float(np.median(dm)),
        "chi": other["chi"],
        "chi_relative_change": other["chi"] / base["chi"] - 1.0,
        "mae_core_change": (
            None if base["mae_core"] is None else other["mae_core"] - base["mae_core"]
        ),
        "first_differing_iteration": _first_difference(
            base["history_phi_d"], other["history_phi_d"]
        ),
        "seconds": other["seconds"],
    }


def _first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    diff = np.flatnonzero(a != b)
    return int(diff[0]) + 1 if diff.size else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--cases", nargs="+", default=list(BASES))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    report: dict = {"iterations": args.iterations, "hpcinv_version": hpcinv.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            base_raw = BASES[case]
            base = outcome(base_raw, args.iterations, Path(tmp) / f"{case}-base", {})
            entry = {
                "baseline": {
                    "chi": base["chi"],
                    "mae_core": base["mae_core"],
                    "seconds": base["seconds"],
                },
                "variants": {},
            }
            for i, (name, changes, options) in enumerate(VARIANTS[case]):
                print(f"{case}: {name}", file=sys.stderr)
                other = outcome(
                    merged(base_raw, changes), args.iterations, Path(tmp) / f"{case}-{i}", options
                )
                entry["variants"][name] = compare(base, other)
            report[case] = entry
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
