"""The paper's five cases against the DIP-Inv authors' own data files (examples/data/
dipinv-paper, MIT): hpcinv's true models and physics make the data the authors inverted.

Each file holds noisy data d (5% Gaussian noise) and, as its standard deviations, 0.05 times
the authors' noise-free data. So two checks, one loose and one tight:
- d against hpcinv's noise-free data: within the noise (median ratio within 1%, 95th
  percentile of |ratio - 1| at most 12%, i.e. about two standard deviations of 5% noise);
- the file's standard deviations against 0.05 |hpcinv's noise-free data|: equal to the file's
  7 printed digits (this is what showed 1.2 and 1.3's true models to be wrong before 0.7:
  their 95th percentiles were 52% and 32%).
"""

from pathlib import Path

import numpy as np
import pytest

from hpcinv.config import config_from_dict
from hpcinv.errors import ConfigError, DataError
from hpcinv.problem import build_problem
from hpcinv.problem.cases import build_case
from hpcinv.problem.observed import observed_survey
from hpcinv.readers import read_survey

ROOT = Path(__file__).resolve().parents[2]
AUTHORS = ROOT / "examples" / "data" / "dipinv-paper"
CASES = ("1.1", "1.2", "1.3", "2.1", "2.2")


def authors_file(case: str) -> Path:
    return AUTHORS / f"case-{case}" / "dc_data.obs"


def observed_problem(case: str, **problem):
    config = config_from_dict(
        {"problem": {"case": f"paper-{case}", "observed": str(authors_file(case)), **problem}}
    )
    return build_problem(config)


@pytest.mark.parametrize("case", CASES)
def test_noise_free_data_are_the_authors(case):
    problem = observed_problem(case)
    assert problem.n_data == 348
    ratio = problem.dobs / problem.clean_data
    assert abs(np.median(ratio) - 1.0) <= 0.01
    assert np.percentile(np.abs(ratio - 1.0), 95) <= 0.12
    # the file's standard deviations are 0.05 |the authors' noise-free data|, printed to 7
    # digits. SimPEG's 2.5D wavenumbers come from an optimisation whose result moves with
    # the platform's floating-point kernels: 1e-6 held on one machine, 1.5e-5 on the next
    # (same packages; numpy 2.3.5 there: 2.6e-5). A wrong model or survey is off by percents
    fd = read_survey(authors_file(case))
    rows = match_rows(problem, fd)
    assert np.allclose(fd.survey.uncertainty, 0.05 * np.abs(problem.clean_data[rows]), rtol=1e-4)


def match_rows(problem, fd):
    """The problem's row of each datum of the file (the same electrode positions)."""
    key = {
        tuple(problem.survey.electrodes[row].ravel()): i
        for i, row in enumerate(problem.survey.abmn)
    }
    return np.array([key[tuple(fd.survey.electrodes[row].ravel())] for row in fd.survey.abmn])


def test_dike_of_cases_1_2_and_1_3_follows_the_authors_notebook():
    """The dike lies between z = s (x + 100) and z = s (x + 125) below the 15 m layer."""
    for case, slope in (("paper-1.2", 0.7), ("paper-1.3", 1.2), ("paper-1.1", 1.0)):
        c = build_case(case)
        x, z = c.mesh.cell_centers.T
        dike = np.isclose(c.true_model, np.log(0.1))
        expected = (z < -15.0) & (slope * (x + 100.0) <= z) & (z <= slope * (x + 125.0))
        assert np.array_equal(dike, expected) and dike.sum() > 50


def test_observed_uses_the_papers_weighting_and_keeps_the_case():
    problem = observed_problem("2.2", noise_percent=10.0, noise_floor=1e-6)
    assert np.allclose(problem.uncertainty, 0.1 * np.abs(problem.dobs) + 1e-6)
    assert problem.true_model is not None and problem.mesh.n_cells == 6848
    notes = problem.info.notes["observed"]
    assert notes["n_data_file"] == 348 and notes["format"] == "ubc-2d"


def write_subset(tmp_path, lines_out, swap_first=False):
    """The authors' 1.1 file rewritten as a simple per-datum CSV (hpcinv's own survey CSV),
    without some rows, optionally with M and N of the first datum swapped."""
    fd = read_survey(authors_file("1.1"))
    s = fd.survey
    rows = ["a_x,a_z,b_x,b_z,m_x,m_z,n_x,n_z,value,uncertainty,type"]
    for i, (a, b, m, n) in enumerate(s.abmn):
        if i in lines_out:
            continue
        d = s.dobs[i]
        if swap_first and i == 0:
            m, n, d = n, m, -d
        pts = ",".join(f"{v:.6f}" for e in (a, b, m, n) for v in s.electrodes[e])
        rows.append(f"{pts},{d:.9e},{s.uncertainty[i]:.6e},resistance")
    path = tmp_path / "subset.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, s


def test_a_subset_in_another_format_and_polarity_is_matched(tmp_path):
    path, original = write_subset(tmp_path, lines_out={5, 100}, swap_first=True)
    config = config_from_dict({"problem": {"case": "paper-1.1", "observed": str(path)}})
    survey, notes = observed_survey(build_case("paper-1.1").survey, config, "paper-1.1")
    assert survey.n_data == 346 and notes["reversed_polarity"] == 1
    keep = np.setdiff1d(np.arange(348), [5, 100])  # the authors' order is the case's
    assert np.allclose(survey.dobs, original.dobs[keep], rtol=1e-8)


def test_data_of_another_survey_are_refused_naming_the_datum(tmp_path):
    path, _ = write_subset(tmp_path, lines_out=set())
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[0] = "-337.5"  # the third datum's A moved off the electrodes
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    config = config_from_dict({"problem": {"case": "paper-1.1", "observed": str(path)}})
    with pytest.raises(DataError, match=r"line 4: datum A=\(-337.5, 0\).*no electrode of the case"):
        observed_survey(build_case("paper-1.1").survey, config, "paper-1.1")


def test_observed_needs_a_case_and_an_existing_file(tmp_path):
    with pytest.raises(ConfigError, match="problem.observed replaces a built-in case"):
        config_from_dict({"problem": {"data": "x.csv", "observed": "y.csv"}})
    config = config_from_dict(
        {"problem": {"case": "paper-1.1", "observed": str(tmp_path / "none.obs")}}
    )
    with pytest.raises(ConfigError, match="problem.observed: no such file"):
        build_problem(config)
