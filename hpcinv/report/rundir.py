"""The files of a run directory and how they are written (atomically) and read.

DIR/config.toml     the run file, as given, after a comment line naming where it came
                    from (its relative paths, e.g. problem.data, are relative to there)
DIR/summary.json    metrics (contract in docs/design.md), rewritten after saves and at the end
DIR/result.npz      the latest model and what the report draws (NumPy, no pickles)
DIR/checkpoint.zarr the checkpoints (``hpcinv.checkpoint``)
DIR/stage1.npz      stage-1 (pretrained) network weights, when used
DIR/figures/*.png   drawn by ``hpcinv report``
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcinv.errors import HpcinvError
from hpcinv.files import atomic_write


@dataclass
class RunResult:
    """What result.npz holds. Arrays: model/true_model (n_cells,), cell_centers
    (n_cells, dim), core_mask (n_cells,), dobs/dpred/uncertainty (n_data,), electrodes,
    abmn, mesh_h{0,1,2}/mesh_origin, and the history series."""

    arrays: dict

    def __getitem__(self, key):
        return self.arrays[key]

    def get(self, key, default=None):
        return self.arrays.get(key, default)


class RunDirectory:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def result_file(self) -> Path:
        return self.path / "result.npz"

    @property
    def config_file(self) -> Path:
        return self.path / "config.toml"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.zarr"

    @property
    def stage1_file(self) -> Path:
        return self.path / "stage1.npz"

    def holds_a_run(self) -> bool:
        return (
            self.summary_file.exists() or self.result_file.exists() or self.checkpoint_path.exists()
        )

    def write_summary(self, summary: dict) -> None:
        atomic_write(
            self.summary_file, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n")
        )

    def read_summary(self) -> dict:
        if not self.summary_file.exists():
            raise HpcinvError(f"{self.summary_file}: no summary; is {self.path} a run directory?")
        return json.loads(self.summary_file.read_text())

    def write_result(self, arrays: dict) -> None:
        def write(tmp):
            with open(tmp, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items() if v is not None})

        atomic_write(self.result_file, write)

    def read_result(self) -> RunResult:
        if not self.result_file.exists():
            raise HpcinvError(
                f"{self.result_file}: no result yet; run `hpcinv run CONFIG "
                f"--out {self.path}` first"
            )
        with np.load(self.result_file, allow_pickle=False) as data:
            return RunResult({k: data[k] for k in data.files})

    def write_config(self, text: str, source: str | Path | None = None) -> None:
        """Copy the run file; ``source`` (its path) goes into a first comment line, so that
        ``hpcinv resume DIR`` resolves the file's relative paths as the run did."""
        if source is not None:
            text = f"{_SOURCE_PREFIX}{Path(source).resolve()}\n{text}"
        atomic_write(self.config_file, lambda tmp: tmp.write_text(text))

    def config_source(self) -> Path | None:
        """The run file this run directory's config.toml was copied from, if recorded."""
        if not self.config_file.exists():
            return None
        with open(self.config_file) as fh:
            first = fh.readline().rstrip("\n")
        return Path(first[len(_SOURCE_PREFIX) :]) if first.startswith(_SOURCE_PREFIX) else None


#: first line of DIR/config.toml: a TOML comment, so the copy parses (and hashes) as given
_SOURCE_PREFIX = "# hpcinv: copied from "
