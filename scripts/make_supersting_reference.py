"""The independent reading of the SuperSting ``.stg`` fixtures: ResIPy's parser reads each
``tests/readers/fixtures/supersting/*.stg`` and its reading is stored next to it as
``NAME.resipy.json`` (per datum the x, y, z of A, B, M, N and the V/I value), which
``tests/readers/test_supersting.py`` compares with hpcinv's reading per datum.

Made with ResIPy 3.6.6 (``resipy.parsers.stingParser``) in a venv of its own, never the
project's (hpcinv is not imported here)::

    python3.11 -m venv /tmp/resipy-venv && /tmp/resipy-venv/bin/pip install resipy==3.6.6
    /tmp/resipy-venv/bin/python scripts/make_supersting_reference.py

pyGIMLi (1.5.4) has no ``.stg`` importer, so ResIPy is the one independent reader. What it
does that the comparison has to know (none of it is copied into hpcinv):

* it skips exactly three header lines and reads the rest with pandas, columns by position
  (V/I from the 5th, the coordinates from the 10th to the 21st); it reads no error column;
* it sorts the electrodes (by x, then y, then z) and numbers them from 1, so the reading is
  compared by position, not by electrode number;
* it drops rows whose electrodes coincide and sets coordinates beyond +-9999 m to +-999999
  after indexing (no fixture has either);
* it tries to read IP from the 25th to the 30th column and sets 0 when that fails (not
  compared).

The ABEM Lund/SAS "OHM" files have no reader in hpcinv (no documented layout was found: see
the report of issue 25), so this script makes no reference for them.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from importlib.metadata import version
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "readers" / "fixtures" / "supersting"


def reading(path: Path) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):  # resipy prints about wine on import
        from resipy.parsers import stingParser

        elec, df = stingParser(str(path))
    rows = []
    for _, datum in df.iterrows():
        xyz = [[float(c) for c in elec[int(datum[e]) - 1]] for e in "abmn"]
        rows.append([*(c for point in xyz for c in point), float(datum["resist"])])
    return {
        "made_by": f"resipy {version('resipy')}: resipy.parsers.stingParser",
        "script": "scripts/make_supersting_reference.py",
        "file": path.name,
        "given_to_resipy": ["the file as it is"],
        "columns": [f"{e}_{axis}" for e in "abmn" for axis in "xyz"] + ["resist"],
        "electrodes": len(elec),
        "data": rows,
    }


def dumps(result: dict) -> str:
    """JSON with one datum per line (small diffs when a reading changes)."""
    head = {key: value for key, value in result.items() if key != "data"}
    rows = ",\n".join(f"  {json.dumps(row)}" for row in result["data"])
    return json.dumps(head, indent=1)[:-2] + f',\n "data": [\n{rows}\n ]\n}}\n'


def main() -> int:
    for path in sorted(FIXTURES.glob("*.stg")):
        result = reading(path)
        out = path.with_suffix(".resipy.json")
        out.write_text(dumps(result))
        print(f"{out.name}: {len(result['data'])} data, {result['electrodes']} electrodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
