"""The independent reading of the Res2DInv index-based fixtures: pyGIMLi's importer reads each
``tests/readers/fixtures/res2dinv/*.dat`` and its reading is stored next to it as
``NAME.pygimli.json`` (per datum the x of A, B, M, N, null for a remote pole, the apparent
resistivity and the IP value; the topography points), which
``tests/readers/test_res2dinv_arrays.py`` compares with hpcinv's reading per datum.

Made with pyGIMLi 1.5.4 (``pygimli.physics.ert.importData.importRes2dInv``) in a venv of its
own, never the project's (hpcinv is not imported here)::

    python3.11 -m venv /tmp/gimli15-venv && /tmp/gimli15-venv/bin/pip install pygimli==1.5.4
    /tmp/gimli15-venv/bin/python scripts/make_res2dinv_reference.py

pyGIMLi 1.6.1, the newest release, is not used: its importer reads the first data row of an
index-based file before its loop over the rows, so every datum is shifted by one row and the
last comes from the line after the data. 1.5.4 reads them, with two limits that this script
works around on a copy of the file, each recorded in the JSON's ``given_to_pygimli``:

* it takes the line after the data for the topography flag with ``int()``, so a line of
  zeros written with commas (``0,0,0,0``) stops it: such lines are given as ``0``;
* it reads no error estimates in index-based files: the three error-estimate lines and each
  row's error column are left out (the test checks the uncertainties against the file).

pyGIMLi sorts the data by electrode (``sortSensorsIndex``); the test compares the two
readings as sorted lists of data. It names the leftmost current electrode A in dipole-dipole
and Wenner beta, where the manual's figure has C2 (the test swaps A and B there), and keeps
the electrodes at z = 0, the topography points apart.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from pathlib import Path

import pygimli as pg
from pygimli.physics.ert.importData import importRes2dInv

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "readers" / "fixtures" / "res2dinv"


def for_pygimli(text: str) -> tuple[str, list[str]]:
    """The file's text as pyGIMLi 1.5.4 can read it, and what was changed (see above)."""
    lines, changes = text.splitlines(), []
    if len(lines) > 6 and lines[6 + 3 * int(lines[5])].lower().startswith("error estimate"):
        start = 6 + 3 * int(lines[5])
        n = int(lines[3])
        rows = [re.split(r"[,\s]+", row.strip())[:-1] for row in lines[start + 3 : start + 3 + n]]
        lines = lines[:start] + [" ".join(row) for row in rows] + lines[start + 3 + n :]
        changes.append("error-estimate lines and the error column left out")
    zeros = [i for i, line in enumerate(lines) if re.fullmatch(r"0(\s*,\s*0)+", line.strip())]
    for i in zeros:
        lines[i] = "0"
    if zeros:
        changes.append("lines of zeros with commas given as '0'")
    return "\n".join(lines) + "\n", changes


def reading(path: Path) -> dict:
    text, changes = for_pygimli(path.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(text)
        data = importRes2dInv(str(copy))
    data_rows = []
    for i in range(data.size()):
        x = [int(data(name)[i]) for name in "abmn"]
        x = [None if k < 0 else float(data.sensorPosition(k)[0]) for k in x]
        ip = float(data["ip"][i]) if data.haveData("ip") else None
        data_rows.append([*x, float(data["rhoa"][i]), ip])
    topography = [[float(p[0]), float(p[1])] for p in data.additionalPoints()]
    return {
        "made_by": f"pygimli {pg.__version__}: pygimli.physics.ert.importData.importRes2dInv",
        "script": "scripts/make_res2dinv_reference.py",
        "file": path.name,
        "given_to_pygimli": changes or ["the file as it is"],
        "columns": ["a", "b", "m", "n", "rhoa", "ip"],
        "data": data_rows,
        "topography": topography or None,
    }


def dumps(result: dict) -> str:
    """JSON with one datum per line (small diffs when a reading changes)."""
    head = {key: value for key, value in result.items() if key not in ("data", "topography")}
    lines = [json.dumps(head, indent=1)[:-2] + ","]
    rows = ",\n".join(f"  {json.dumps(row)}" for row in result["data"])
    lines.append(f' "data": [\n{rows}\n ],')
    lines.append(f' "topography": {json.dumps(result["topography"])}\n}}')
    return "\n".join(lines) + "\n"


def main() -> int:
    for path in sorted(FIXTURES.glob("*.dat")):
        result = reading(path)
        if any(math.isnan(row[4]) for row in result["data"]):
            raise SystemExit(f"{path.name}: pyGIMLi read a value as NaN")
        out = path.with_suffix(".pygimli.json")
        out.write_text(dumps(result))
        print(f"{out.name}: {len(result['data'])} data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
