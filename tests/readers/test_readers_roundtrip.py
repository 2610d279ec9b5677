"""Write a survey in each format and read it back: identical geometry, data, uncertainty."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcinv.readers import FieldData, read_survey, write_survey
from hpcinv.survey import REMOTE, Survey

FORMATS_BY_DIM = {2: ("ubc-2d", "pygimli", "csv"), 3: ("ubc-3d", "pygimli", "csv")}
SETTINGS = settings(max_examples=30, deadline=None)


def random_survey(seed: int, dim: int, large: bool, with_sd: bool) -> Survey:
    """Distinct electrodes at full-precision random positions, a mix of dipoles and poles,
    renumbered in order of first appearance (the readers' convention) so that the indices
    themselves must round trip."""
    rng = np.random.default_rng(seed)
    n_electrodes, n_data = int(rng.integers(2, 9)), int(rng.integers(1, 15))
    electrodes = rng.uniform(-500.0, 500.0, (n_electrodes, dim))
    if rng.random() < 0.5:
        electrodes[:, -1] = 0.0  # a flat surface, the common case
    if large:
        electrodes[:, :-1] += rng.choice([-1.0, 1.0]) * 5e5  # beyond float32's reach
    rows = []
    for _ in range(n_data):
        a, b = rng.choice(n_electrodes, 2, replace=False)
        m, n = rng.choice(n_electrodes, 2, replace=False)
        rows.append(
            (a, b if rng.random() < 0.7 else REMOTE, m, n if rng.random() < 0.7 else REMOTE)
        )
    abmn = np.array(rows)
    order = list(dict.fromkeys(i for i in abmn.ravel() if i != REMOTE))
    rank = {old: new for new, old in enumerate(order)}
    abmn = np.vectorize(lambda i: rank.get(i, REMOTE))(abmn)
    dobs = rng.choice([-1.0, 1.0], n_data) * 10.0 ** rng.uniform(-5, 2, n_data)
    sd = np.abs(dobs) * rng.uniform(0.01, 0.1, n_data) if with_sd else None
    return Survey(electrodes[order], abmn, dobs, sd)


def assert_same(read: FieldData, survey: Survey, fmt: str) -> None:
    np.testing.assert_array_equal(read.global_electrodes(), survey.electrodes)
    np.testing.assert_array_equal(read.survey.abmn, survey.abmn)
    np.testing.assert_array_equal(read.survey.dobs, survey.dobs)
    if survey.uncertainty is None:
        assert read.survey.uncertainty is None
    elif fmt == "pygimli":
        # pyGIMLi stores err = sd / |d|; sd = err |d| comes back within two roundings.
        np.testing.assert_allclose(read.survey.uncertainty, survey.uncertainty, rtol=1e-15)
    else:
        np.testing.assert_array_equal(read.survey.uncertainty, survey.uncertainty)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    dim=st.sampled_from([2, 3]),
    large=st.booleans(),
    with_sd=st.booleans(),
    which=st.integers(0, 2),
)
def test_write_then_read_gives_the_same_survey(tmp_path_factory, seed, dim, large, with_sd, which):
    survey = random_survey(seed, dim, large, with_sd)
    fmt = FORMATS_BY_DIM[dim][which]
    path = tmp_path_factory.mktemp("rt") / ("survey.csv" if fmt == "csv" else "survey.dat")
    write_survey(survey, path, fmt)
    read = read_survey(path, fmt)
    assert_same(read, survey, fmt)
    assert read.format == fmt and read.data_type == "resistance"
    assert read.origin.any() == large
    # float32 keeps centimetres of the local coordinates, whatever the map coordinates
    local = read.survey.electrodes
    assert np.abs(local.astype(np.float32) - local).max() < 0.01


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    dim=st.sampled_from([2, 3]),
    fmt=st.sampled_from(["pygimli", "csv"]),
)
def test_volts_with_currents_round_trip(tmp_path_factory, seed, dim, fmt):
    survey = random_survey(seed, dim, False, True)
    current = np.random.default_rng(seed).uniform(0.1, 2.0, survey.n_data)
    data = FieldData(
        survey=survey,
        path="memory",
        format=fmt,
        data_type="volts",
        origin=np.zeros(dim),
        dropped=(),
        notes=(),
        current=current,
    )
    path = tmp_path_factory.mktemp("rt") / "survey.txt"
    write_survey(data, path, fmt)
    read = read_survey(path, fmt)
    assert_same(read, survey, fmt)
    assert read.data_type == "volts"
    np.testing.assert_array_equal(read.current, current)


@pytest.mark.parametrize("dim", [2, 3])
def test_format_is_detected_from_content(tmp_path, dim):
    survey = random_survey(7, dim, False, True)
    for fmt in FORMATS_BY_DIM[dim]:
        path = tmp_path / f"{fmt}.txt"
        write_survey(survey, path, fmt)
        assert read_survey(path).format == fmt


def test_pygimli_keeps_unused_sensors_and_their_order(tmp_path):
    survey = Survey(
        [[5.0, 0.0], [0.0, 0.0], [9.0, -1.0], [1.0, 0.0]], [[3, 1, 0, REMOTE]], [0.5], [0.01]
    )
    path = tmp_path / "s.ohm"
    write_survey(survey, path, "pygimli")
    assert_same(read_survey(path), survey, "pygimli")


def test_writing_a_fielddata_as_another_type_is_refused(tmp_path):
    survey = random_survey(3, 2, False, False)
    data = FieldData(
        survey=survey,
        path="memory",
        format="csv",
        data_type="apparent_resistivity",
        origin=np.zeros(2),
        dropped=(),
        notes=(),
    )
    with pytest.raises(Exception, match="to_resistance"):
        write_survey(data, tmp_path / "x.dat", "ubc-2d")
    with pytest.raises(Exception, match="to_resistance"):
        write_survey(data, tmp_path / "x.csv", "csv", data_type="resistance")
