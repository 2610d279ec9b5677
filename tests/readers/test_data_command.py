"""`hpcinv data FILE`: the JSON summary of the Century files; a line is reported as the run
will treat it."""

from __future__ import annotations

import argparse
import json

import pytest

from hpcinv.cli.data import add_parser, data
from hpcinv.errors import DataError

from readers_support import CENTURY_2D, CENTURY_3D, write


def run(capsys, *argv) -> dict:
    parser = argparse.ArgumentParser(prog="hpcinv")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *map(str, argv)])
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def test_century_3d_summary(capsys):
    summary = run(capsys, CENTURY_3D)
    assert (
        summary
        | {
            "format": "ubc-3d",
            "dimension": "3D",
            "n_electrodes": 177,
            "n_sources": 141,
            "n_data": 942,
            "data_type": "resistance",
            "dropped": [],
            "origin": [0.0, 0.0, 0.0],
        }
        == summary
    )
    assert summary["uncertainty"]["uncertainty_min"] > 0
    assert any("DCIP3D general" in note for note in summary["notes"])


def test_century_2d_summary_with_explicit_format(capsys):
    summary = run(capsys, CENTURY_2D, "--format", "ubc-2d", "--dimension", "2d")
    assert (
        summary["dimension"],
        summary["n_sources"],
        summary["n_data"],
        summary["n_electrodes"],
    ) == ("2D line", 27, 151, 33)


def test_dropped_rows_are_reported(capsys, tmp_path):
    path = write(
        tmp_path,
        "d.ohm",
        "3\n# x z\n0 0\n1 0\n2 0\n2\n# a b m n u i valid\n1 0 2 3 0.5 1.0 1\n2 0 1 3 0.2 2.0 0\n",
    )
    summary = run(capsys, path)
    assert summary["dropped"] == [{"line": 9, "reason": "flagged invalid (valid=0)"}]
    assert summary["data_type"] == "volts" and summary["uncertainty"] is None
    assert summary["to_resistance"] == "divided by the file's currents"


def test_bad_file_raises_a_data_error(tmp_path):
    path = write(tmp_path, "bad.csv", "a_x,a_z\n")
    with pytest.raises(DataError, match="missing column"):
        data(
            argparse.Namespace(
                file=str(path), format="auto", dimension="auto", why=False, electrodes=None
            )
        )


def test_the_installed_command_prints_json_and_bad_input_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "hpcinv", "data", str(CENTURY_3D)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_data"] == 942
    bad = write(tmp_path, "bad.dat", "! a DCIP3D file\n0 0 0 10 0 0 2\n20 0 0 30 0 0 0.5 x\n")
    out = subprocess.run(
        [sys.executable, "-m", "hpcinv", "data", str(bad), "--format", "ubc-3d"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("hpcinv: error:")]
    assert len(errors) == 1 and "line 3" in errors[0] and "bad.dat" in errors[0], out.stderr


def test_a_file_without_uncertainties_shows_what_a_run_assigns(capsys, tmp_path):
    rows = [f"{i},0,{i + 1},0,{i + 2},0,{i + 3},0,{0.1 * (i + 1)},resistance" for i in range(20)]
    path = write(
        tmp_path, "bare.csv", "a_x,a_z,b_x,b_z,m_x,m_z,n_x,n_z,value,type\n" + "\n".join(rows)
    )
    summary = run(capsys, path, "--uncertainty-percent", "3")
    assert summary["uncertainty"] is None
    assigned = summary["uncertainty_assigned"]
    assert assigned["percent"] == 3.0 and assigned["floor_auto"]
    # 3% of the 10th percentile of |d| (0.29 V/A)
    assert assigned["floor"] == pytest.approx(0.03 * 0.29)
    assert assigned["relative_min"] == pytest.approx(0.03 + 0.03 * 0.29 / 2.0)
    with_floor = run(capsys, path, "--uncertainty-floor", "0.5")
    assert with_floor["uncertainty_assigned"]["floor"] == 0.5
    assert "uncertainty_assigned" not in run(capsys, CENTURY_3D)  # the file has them


LINE = """6
# x y z
0 0 0
5 0 0
10 0 0
15 0 0
20 0 0
25 0 0
3
# a b m n r
1 2 3 4 0.5
2 3 4 5 0.2
3 4 5 6 0.1
"""


@pytest.mark.parametrize(
    "y, z, note",
    [
        ("0", "0", "all at y = 0: a line, y the elevation (pyGIMLi 2D)"),  # pyGIMLi's flat line
        ("12.5", "{k}", "all at y = 12.5: a line (x, z)"),  # a line along x, with elevations
    ],
)
def test_a_straight_pygimli_line_is_a_2d_line_as_a_run_treats_it(capsys, tmp_path, y, z, note):
    rows = [f"{5 * k} {y} {z.format(k=0.1 * k)}" for k in range(6)]
    text = "\n".join(LINE.splitlines()[:2] + rows + LINE.splitlines()[8:]) + "\n"
    summary = run(capsys, write(tmp_path, "line.dat", text))
    assert summary["dimension"] == "2D line" and len(summary["extent"]["min"]) == 2
    assert any(note in n and "a run simulates it in 2.5D" in n for n in summary["notes"])
    assert run(capsys, tmp_path / "line.dat", "--dimension", "3d")["dimension"] == "3D"


def test_a_pygimli_line_off_the_x_axis_stays_3d_and_says_so(capsys, tmp_path):
    rows = [f"{3 * k} {4 * k} 0.{k}" for k in range(6)]
    text = "\n".join(LINE.splitlines()[:2] + rows + LINE.splitlines()[8:]) + "\n"
    summary = run(capsys, write(tmp_path, "diagonal.dat", text))
    assert summary["dimension"] == "3D"
    assert any("one straight line that is not along x" in n for n in summary["notes"])
