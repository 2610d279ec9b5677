import numpy as np
import pytest
from problems import paper_config

import hpcinv
from hpcinv.errors import DataError
from hpcinv.mesh import check_electrodes_in_mesh
from hpcinv.problem.cases import build_case, paper_mesh, paper_survey
from hpcinv.survey import REMOTE, Survey, line_configurations, line_survey, merge_surveys


def test_paper_survey_counts():
    # docs/design.md, the paper: 26 sources, 348 voltages, electrodes every 25 m from -350 to 350 m
    s = paper_survey()
    assert (s.n_sources, s.n_data, s.electrodes.shape) == (26, 348, (29, 2))
    assert np.bincount(s.source_of_datum).max() == 24


def test_paper_mesh_and_models():
    mesh = paper_mesh()
    assert mesh.n_cells == 6848 and mesh.shape_cells == (214, 32)
    assert mesh.nodes[:, 1].max() == 0.0
    x, z = mesh.cell_centers.T
    m11 = build_case("paper-1.1").true_model
    assert np.allclose(m11[z >= -15], np.log(0.02))
    dike = (z < -15) & (x + 100 <= z) & (z <= x + 125)
    assert dike.any() and np.allclose(m11[dike], np.log(0.1))
    assert np.allclose(m11[~dike & (z < -15)], np.log(0.01))
    m22 = build_case("paper-2.2").true_model
    assert np.isclose(m22[np.argmin((x + 30) ** 2 + (z + 40) ** 2)], np.log(0.1))
    assert np.isclose(m22[np.argmin((x - 30) ** 2 + (z + 60) ** 2)], np.log(0.1))


def test_block_3d_is_as_documented():
    case = build_case("block-3d")
    assert 50_000 <= case.mesh.n_cells <= 100_000
    assert 100 <= case.survey.n_sources <= 200
    assert len(np.unique(case.survey.electrodes[:, 1])) >= 4  # parallel lines


@pytest.mark.parametrize(
    "layout, n_data",
    [
        # 11 electrodes, up to 4 receivers per source, receivers down the line from the source
        ("dipole-dipole", 4 * 5 + 3 + 2 + 1),
        ("pole-dipole", 4 * 6 + 3 + 2 + 1),
        ("pole-pole", 4 * 7 + 3 + 2 + 1),
    ],
)
def test_layouts_are_valid_surveys(layout, n_data):
    s = line_survey(layout, 0.0, 100.0, 10.0, 4)
    assert s.n_data == n_data
    pole_src = layout != "dipole-dipole"
    assert np.all((s.abmn[:, 1] == REMOTE) == pole_src)
    assert np.all((s.abmn[:, 3] == REMOTE) == (layout == "pole-pole"))
    # every receiver lies beyond its source along the line
    assert np.all(s.abmn[:, 2] > np.maximum(s.abmn[:, 0], s.abmn[:, 1]))


def test_merge_renumbers_and_shares_electrodes():
    a = line_survey("dipole-dipole", 0.0, 50.0, 10.0, 2, y=0.0)
    b = line_survey("dipole-dipole", 0.0, 50.0, 10.0, 2, y=20.0)
    c = merge_surveys([a, b, a])
    assert c.electrodes.shape == (12, 3)
    assert c.n_data == 3 * a.n_data
    pos = c.electrodes[c.abmn[:, 0]]
    assert np.allclose(pos[: a.n_data], a.electrodes[a.abmn[:, 0]])


def _survey(**changes):
    base = dict(
        electrodes=np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]]),
        abmn=np.array([[0, 1, 2, 3], [0, 1, 3, 2]]),
        dobs=np.array([1e-3, -1e-3]),
        uncertainty=np.array([1e-4, 1e-4]),
        name="test",
    )
    base.update(changes)
    return Survey(**base)


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(dobs=np.array([1e-3, np.nan])), ["row 1", "dobs", "nan"]),
        (dict(dobs=np.array([np.inf, 1.0])), ["row 0", "dobs", "inf"]),
        (dict(uncertainty=np.array([1e-4, 0.0])), ["row 1", "uncertainty", "not positive"]),
        (dict(uncertainty=np.array([-1.0, 1e-4])), ["row 0", "not positive"]),
        (dict(abmn=np.array([[0, 0, 2, 3], [0, 1, 3, 2]])), ["row 0", "A=B"]),
        (dict(abmn=np.array([[0, 1, 2, 3], [0, 1, 3, 3]])), ["row 1", "M=N"]),
        (dict(abmn=np.array([[0, 1, 2, 7], [0, 1, 3, 2]])), ["row 0", "N index 7", "out of range"]),
        (dict(abmn=np.array([[-1, 1, 2, 3], [0, 1, 3, 2]])), ["row 0", "A index -1"]),
        (dict(dobs=np.array([1e-3, 1e-3, 2e-3])), ["3 values", "2 data rows"]),
        (
            dict(electrodes=np.array([[0.0, 0.0], [0.0, 0.0], [20.0, 0.0], [30.0, 0.0]])),
            ["row 0", "same place"],
        ),
        (dict(abmn=np.zeros((0, 4)), dobs=None, uncertainty=None), ["empty"]),
    ],
)
def test_bad_survey_names_the_row(changes, words):
    with pytest.raises(DataError) as err:
        _survey(**changes)
    for w in words:
        assert w in str(err.value)


def test_bad_layout_and_tiny_line():
    with pytest.raises(DataError, match="unknown survey layout"):
        line_configurations("wenner-schlumberger-x", 10, 3)
    with pytest.raises(DataError, match="gives no data"):
        line_configurations("dipole-dipole", 3, 3)


def test_electrodes_outside_or_above_the_mesh():
    mesh = paper_mesh()
    ok = np.array([[0.0, 0.0], [100.0, -10.0]])
    check_electrodes_in_mesh(mesh, ok)
    with pytest.raises(DataError, match="electrode 1 .* above the surface"):
        check_electrodes_in_mesh(mesh, np.array([[0.0, 0.0], [0.0, 5.0]]))
    with pytest.raises(DataError, match="electrode 0 .* outside the mesh"):
        check_electrodes_in_mesh(mesh, np.array([[5000.0, 0.0]]))
    with pytest.raises(DataError, match="3D but the mesh is 2D"):
        check_electrodes_in_mesh(mesh, np.zeros((1, 3)))


def test_problem_from_survey_rejects_electrodes_outside():
    from hpcinv.problem import problem_from_survey

    s = _survey(electrodes=np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [3000.0, 0.0]]))
    with pytest.raises(DataError, match="electrode 3"):
        problem_from_survey("x", paper_mesh(), s)


def test_zero_noise_rejected():
    from hpcinv.config import config_from_dict
    from hpcinv.errors import ConfigError

    cfg = config_from_dict({"problem": {"case": "paper-1.1", "noise_percent": 0.0}})
    with pytest.raises(ConfigError, match="zero uncertainty"):
        hpcinv.build_problem(cfg)


def test_build_problem_public_api(paper_problem):
    p = paper_problem
    assert p.n_data == 348 and p.dobs.shape == p.uncertainty.shape == (348,)
    assert p.model_grid.n_cells == 6848 and p.true_model.shape == (6848,)
    assert np.allclose(p.uncertainty, 0.05 * np.abs(p.dobs))
    # 5% noise with a fixed seed: the relative noise has about 5% spread and is reproducible
    rel = (p.dobs - p.clean_data) / np.abs(p.clean_data)
    assert 0.035 < rel.std() < 0.065
    again = hpcinv.build_problem(paper_config())
    assert np.array_equal(again.dobs, p.dobs)
    assert sum(t.n_data for t in p.tiles) == p.n_data
