import subprocess
import sys

import numpy as np
import pytest

from hpcinv.cli import main


def test_forward_csv_is_read_back_by_hpcinvs_own_reader(tmp_path, paper_problem):
    """What ``forward`` writes, ``run`` reads: the same data at the same electrodes."""
    from hpcinv.readers.formats import read_survey

    out = tmp_path / "data" / "p11.csv"
    assert main(["forward", "examples/paper-1.1.toml", "--out", str(out)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    assert header[:8] == ["a_x", "a_z", "b_x", "b_z", "m_x", "m_z", "n_x", "n_z"]
    assert header[8:] == ["value", "uncertainty", "type", "noise_free"]
    read = read_survey(out)
    assert read.format == "csv" and read.data_type == "resistance"
    assert np.array_equal(read.survey.dobs, paper_problem.dobs)
    assert np.array_equal(read.survey.uncertainty, paper_problem.uncertainty)

    def positions(survey, origin):
        return survey.electrodes[survey.abmn] + origin  # (n_data, 4, dim)

    origin = paper_problem.info.origin
    np.testing.assert_allclose(
        positions(read.survey, read.origin),
        positions(paper_problem.survey, 0.0 if origin is None else origin),
        atol=1e-9,
    )
    noise_free = np.loadtxt(out, delimiter=",", skiprows=1, usecols=len(header) - 1)
    assert np.allclose(noise_free, paper_problem.clean_data, rtol=1e-12)
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
