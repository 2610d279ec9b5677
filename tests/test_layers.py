"""The import contracts of pyproject.toml (the layers of docs/design.md, no cycles among
siblings, no torch below the inversion, no Dask in it), enforced with import-linter; and
light imports."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_hold():
    out = subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    "module, line, broken",
    [
        ("config/run.py", "import hpcinv.engine", "Layers of docs/design.md"),
        ("problem/problem.py", "import hpcinv.problem.build", "No import cycles"),
        ("physics/tile.py", "import torch", "No torch below the inversion"),
        ("inversion/member.py", "import distributed", "No Dask in the inversion"),
    ],
)
def test_each_contract_can_fail(tmp_path, module, line, broken):
    # a copy of the package with one deliberate violation: its contract is reported broken
    pkg = tmp_path / "hpcinv"
    shutil.copytree(ROOT / "hpcinv", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    with open(pkg / module, "a") as fh:
        fh.write(f"\n{line}  # deliberate violation\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run(
        [str(LINT), "--config", str(tmp_path / "pyproject.toml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0
    verdicts = [ln for ln in out.stdout.splitlines() if ln.startswith(broken)]
    assert verdicts and " BROKEN" in verdicts[0], out.stdout


def test_errors_and_config_load_neither_simpeg_nor_torch():
    # a fresh interpreter: what `import hpcinv.errors` / `hpcinv.config` pull in
    code = (
        "import sys, hpcinv, hpcinv.errors, hpcinv.config; "
        "heavy = [m for m in ('simpeg', 'torch', 'scipy', 'discretize', 'distributed') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"
