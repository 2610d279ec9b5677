"""The layer order of DESIGN.md, enforced with import-linter (contract in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


def test_contract_catches_a_violation(tmp_path):
    # the contract must be able to fail: a copy of the package where a low layer imports a
    # higher one is reported broken
    import shutil

    pkg = tmp_path / "hpcinv"
    shutil.copytree(ROOT / "hpcinv", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    with open(pkg / "config.py", "a") as fh:
        fh.write("\nimport hpcinv.engine  # deliberate layer violation\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), str(tmp_path / "pyproject.toml")],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "hpcinv.config -> hpcinv.engine" in out.stdout
