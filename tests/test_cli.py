import subprocess
import sys

import numpy as np
import pytest

from hpcinv.cli import main


def test_forward_writes_csv_matching_the_problem(tmp_path, paper_problem):
    out = tmp_path / "data" / "p11.csv"
    assert main(["forward", "examples/paper-1.1.toml", "--out", str(out)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    assert header[:8] == ["a_x", "a_z", "b_x", "b_z", "m_x", "m_z", "n_x", "n_z"]
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    assert table.shape == (348, len(header))
    dobs = table[:, header.index("dobs")]
    assert np.allclose(dobs, paper_problem.dobs, rtol=1e-9)
    assert not list(tmp_path.glob("data/.*tmp"))  # no temporary left behind


def test_forward_npz(tmp_path, paper_problem):
    out = tmp_path / "p11.npz"
    assert main(["forward", "examples/paper-1.1.toml", "--out", str(out)]) == 0
    with np.load(out) as z:
        assert np.array_equal(z["dobs"], paper_problem.dobs)
        assert np.array_equal(z["uncertainty"], paper_problem.uncertainty)


@pytest.mark.parametrize(
    "toml, words",
    [
        ('[problem]\ncase = "paper-7"\n', ["problem.case", "paper-1.1"]),
        ('[problem]\ncase = "paper-1.1"\n[physics]\nsolver = 3\n', ["physics.solver", "str"]),
    ],
)
def test_bad_config_is_one_clear_line_and_exit_2(tmp_path, toml, words):
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml)
    out = tmp_path / "out.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "hpcinv.cli", "forward", str(cfg), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("hpcinv: error:")]
    assert len(lines) == 1 and str(cfg) in lines[0]
    for w in words:
        assert w in lines[0]
    assert not out.exists()


def test_bad_output_suffix(tmp_path, capsys):
    assert main(["forward", "examples/paper-1.1.toml", "--out", str(tmp_path / "x.txt")]) == 2
    assert ".csv or .npz" in capsys.readouterr().err
