"""The commands that only read or print start at once: nothing imports torch, Dask or
SimPEG until a command needs them (each `hpcinv data` call took 3.6-6.4 s in 0.7.0, nearly
all of it importing torch and Dask before the file was opened)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "distributed", "dask", "simpeg", "zarr", "matplotlib")
CENTURY = Path(__file__).resolve().parents[2] / "examples" / "data" / "century" / "dc3d.dat"

PROBE = """
import contextlib, io, json, sys
from hpcinv.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["data", str(CENTURY)],
        ["data", str(CENTURY), "--why"],
        ["data", "--help"],
    ],
)
def test_reading_and_printing_commands_import_no_heavy_module(argv):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_the_probe_sees_a_heavy_import():
    """The probe is not blind: importing the driver's run loop brings torch."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, hpcinv.driver.runs; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "True"


#: what `hpcinv plan`'s work needs, so it imports them when it runs: SimPEG for the 2.5D
#: wavenumbers and the tiles' boundary conditions (SimPEG itself brings matplotlib and
#: pandas), Dask's ``parse_bytes`` for memory sizes. Never torch, distributed or zarr.
PLAN_USES = ("dask", "simpeg", "matplotlib")


def test_plan_imports_no_heavy_module_it_does_not_use(tmp_path):
    """`hpcinv plan` on a tiny 3D problem (two tiles, a MUMPS analysis each)."""
    config = tmp_path / "tiny.toml"
    config.write_text('[problem]\ncase = "tiny-3d"\n[physics]\nsolver = "mumps"\nn_tiles = 2\n')
    argv = ["plan", str(config)]
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(json.loads(out.strip().splitlines()[-1])) <= set(PLAN_USES)


def test_plan_imports_nothing_heavy_before_its_work():
    """What `hpcinv plan` imports to start (its command, the plan, the problem builder)
    brings none of them: only the work that needs SimPEG or Dask imports it."""
    code = (
        "import json, sys\n"
        "import hpcinv.cli.commands, hpcinv.engine.plan, hpcinv.problem\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
