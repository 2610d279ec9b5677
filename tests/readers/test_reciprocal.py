"""Reciprocal error model: pairing, error model recovery, outlier pairs, too few pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.readers.reciprocal import (
    ABS_DIFFERENCE_TO_SIGMA,
    describe,
    find_reciprocal_pairs,
    fit_error_model,
    reciprocal_errors,
    reciprocal_uncertainty,
)
from hpcinv.survey import REMOTE

R = REMOTE

# row: A B M N                  what it is
HAND_MADE = np.array(
    [
        (0, 1, 2, 3),  # 0  normal
        (2, 3, 0, 1),  # 1  its reciprocal M N A B: sign +1
        (4, 5, 6, 7),  # 2  normal
        (7, 6, 4, 5),  # 3  N M A B: sign -1
        (8, 9, 10, 11),  # 4  normal
        (10, 11, 9, 8),  # 5  M N B A: sign -1
        (12, 13, 14, 15),  # 6  normal
        (15, 14, 13, 12),  # 7  N M B A: both dipoles turned round, sign +1
        (0, 1, 2, 3),  # 8  repeat of row 0, whose reciprocal is taken: unpaired
        (20, 21, 22, 23),  # 9  read twice, never reciprocally: unpaired
        (20, 21, 23, 22),  # 10 the repeat with reversed polarity: still a repeat, unpaired
        (30, R, 31, 32),  # 11 pole-dipole
        (31, 32, 30, R),  # 12 its reciprocal: dipole-pole, sign +1
        (33, R, 34, R),  # 13 pole-pole
        (34, R, 33, R),  # 14 its reciprocal, sign +1
        (40, 41, 42, 43),  # 15 no partner
        (42, 43, 40, 44),  # 16 almost a reciprocal of 15: no partner
        (52, 53, 50, 51),  # 17 the reciprocal read first: row 17 is the "normal"
        (50, 51, 52, 53),  # 18 pairs with 17, sign +1
        (60, 61, 62, 63),  # 19 two readings each way pair one-to-one in file order
        (60, 61, 62, 63),  # 20
        (62, 63, 60, 61),  # 21 pairs with 19
        (63, 62, 60, 61),  # 22 pairs with 20, sign -1
        (70, R, 71, 72),  # 23 pole-dipole whose "reciprocal" has a real B: no partner
        (71, 72, 70, 73),  # 24
    ]
)
EXPECTED_PAIRS = [
    (0, 1, 1),
    (2, 3, -1),
    (4, 5, -1),
    (6, 7, 1),
    (11, 12, 1),
    (13, 14, 1),
    (17, 18, 1),
    (19, 21, 1),
    (20, 22, -1),
]
EXPECTED_UNPAIRED = [8, 9, 10, 15, 16, 23, 24]


def test_pairs_signs_repeats_and_poles():
    normal, reciprocal, sign = find_reciprocal_pairs(HAND_MADE)
    assert list(zip(normal.tolist(), reciprocal.tolist(), sign.tolist())) == EXPECTED_PAIRS
    paired = set(normal.tolist()) | set(reciprocal.tolist())
    assert sorted(set(range(len(HAND_MADE))) - paired) == EXPECTED_UNPAIRED


def test_pairing_does_not_depend_on_row_order():
    rng = np.random.default_rng(3)
    permutation = rng.permutation(len(HAND_MADE))
    normal, reciprocal, sign = find_reciprocal_pairs(HAND_MADE[permutation])
    found = {
        frozenset((int(permutation[i]), int(permutation[j]))): int(s)
        for i, j, s in zip(normal, reciprocal, sign)
    }
    # Which repeat pairs with which can change with the order; who pairs with whom elsewhere,
    # and the signs, cannot.
    for i, j, s in EXPECTED_PAIRS:
        if i not in (19, 20):
            assert found[frozenset((i, j))] == s
    assert len(found) == len(EXPECTED_PAIRS)


def test_an_index_below_remote_is_a_data_error():
    with pytest.raises(DataError, match="electrode index -2"):
        find_reciprocal_pairs(np.array([[0, -2, 1, 2]]))


def test_reciprocal_errors_put_the_reciprocal_in_the_normal_polarity():
    normal, reciprocal, sign = find_reciprocal_pairs(HAND_MADE)
    values = np.zeros(len(HAND_MADE))
    values[normal] = 1.0
    values[reciprocal] = sign * 1.2  # the reciprocal reads 1.2 in its own polarity
    mean, error = reciprocal_errors(values, normal, reciprocal, sign)
    np.testing.assert_allclose(mean, 1.1)
    np.testing.assert_allclose(error, 0.2)


# --------------------------------------------------------------------------------------------
# a synthetic survey with a known error model


def dipole_dipole_line(n_electrodes=60, spacings=(1, 2, 3, 4), separations=range(1, 9)):
    """A B M N of a dipole-dipole line, 0-based: 1,400 quadrupoles on 60 electrodes."""
    rows = [
        (a, a + s, a + s + k * s, a + 2 * s + k * s)
        for s in spacings
        for k in separations
        for a in range(n_electrodes)
        if a + 2 * s + k * s < n_electrodes
    ]
    return np.array(rows)


def synthetic_readings(a, b, seed, low=0.01, high=100.0):
    """Every dipole-dipole quadrupole and its reciprocal, shuffled; true |R| log-uniform over
    [low, high] with random polarity; each reading R + N(0, (a + b |R|)^2), independently."""
    rng = np.random.default_rng(seed)
    normal = dipole_dipole_line()
    n = normal.shape[0]
    true = rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(np.log10(low), np.log10(high), n)
    sigma = a + b * np.abs(true)
    abmn = np.vstack([normal, normal[:, [2, 3, 0, 1]]])
    readings = np.concatenate([true + rng.normal(0.0, sigma), true + rng.normal(0.0, sigma)])
    shuffle = rng.permutation(2 * n)
    return abmn[shuffle], readings[shuffle], np.concatenate([true, true])[shuffle]


@pytest.mark.parametrize("a, b", [(0.002, 0.03), (0.05, 0.01)])
def test_the_error_model_of_single_readings_is_recovered(a, b):
    abmn, readings, _ = synthetic_readings(a, b, seed=1)
    normal, reciprocal, sign = find_reciprocal_pairs(abmn)
    assert normal.size == abmn.shape[0] // 2  # every quadrupole found its reciprocal
    mean, error = reciprocal_errors(readings, normal, reciprocal, sign)
    model = fit_error_model(mean, error)
    assert model.a == pytest.approx(a, rel=0.1)
    assert model.b == pytest.approx(b, rel=0.1)
    assert model.n_pairs == normal.size and model.n_bins_used == 20

    # the whole step, with no pair rejected, fits the same model
    result = reciprocal_uncertainty(abmn, readings, max_relative_error=np.inf)
    assert (result.model.a, result.model.b) == (model.a, model.b)
    assert result.n_pairs == normal.size and result.n_unpaired == 0
    np.testing.assert_array_equal(result.keep_rows, np.sort(normal))
    # pair means average two readings: sigma / sqrt(2)
    np.testing.assert_allclose(
        result.uncertainty, (model.a + model.b * np.abs(result.values)) / math.sqrt(2.0)
    )


def test_the_bins_hold_the_scaled_mean_reciprocal_error():
    abmn, readings, _ = synthetic_readings(0.002, 0.03, seed=1)
    mean, error = reciprocal_errors(readings, *find_reciprocal_pairs(abmn))
    model = fit_error_model(mean, error, n_bins=10)
    by_size = np.argsort(np.abs(mean))
    first_bin = by_size[: by_size.size // 10]
    assert model.bin_abs_values[0] == pytest.approx(np.abs(mean[first_bin]).mean())
    assert model.bin_sigmas[0] == pytest.approx(ABS_DIFFERENCE_TO_SIGMA * error[first_bin].mean())
    assert np.all(np.diff(model.bin_abs_values) > 0)


def test_negative_intercept_and_slope_are_refitted_at_zero():
    abs_values = np.linspace(1.0, 10.0, 200)
    # |e| / ABS_DIFFERENCE_TO_SIGMA so that the bins hold exactly these sigmas
    through_origin = fit_error_model(abs_values, 0.05 * abs_values / ABS_DIFFERENCE_TO_SIGMA)
    assert through_origin.a == pytest.approx(0.0, abs=1e-12)
    assert through_origin.b == pytest.approx(0.05)
    below_origin = fit_error_model(abs_values, (0.05 * abs_values - 0.04) / ABS_DIFFERENCE_TO_SIGMA)
    assert below_origin.a == 0.0 and below_origin.b > 0.0
    decreasing = fit_error_model(abs_values, (1.0 - 0.05 * abs_values) / ABS_DIFFERENCE_TO_SIGMA)
    assert decreasing.b == 0.0 and decreasing.a > 0.0


# --------------------------------------------------------------------------------------------
# outliers, unpaired rows, too few pairs


def test_outlier_pairs_are_dropped_and_listed_the_rest_are_means():
    # small noise: no pair comes near the 20 % threshold by chance
    abmn, readings, _ = synthetic_readings(0.0002, 0.01, seed=2, low=0.1)
    normal, reciprocal, sign = find_reciprocal_pairs(abmn)
    corrupted = np.array([3, 100, 250, 600, 1000])  # pair numbers
    readings = readings.copy()
    readings[reciprocal[corrupted]] *= 3.0
    # two unpaired rows at the end: a repeat, and a quadrupole read one way only
    abmn = np.vstack([abmn, abmn[:1], [[0, 1, 58, 59]]])
    readings = np.concatenate([readings, [readings[0] * 1.01, 0.5]])

    result = reciprocal_uncertainty(abmn, readings)

    expected_dropped = np.stack([normal[corrupted], reciprocal[corrupted]], axis=1)
    np.testing.assert_array_equal(result.dropped_rows, expected_dropped)
    # |R - 3R| / |2R| = 1, give or take the 1 % noise
    np.testing.assert_allclose(result.dropped_relative_errors, 1.0, rtol=0.05)
    kept_pairs = np.setdiff1d(np.arange(normal.size), corrupted)
    unpaired = [abmn.shape[0] - 2, abmn.shape[0] - 1]
    np.testing.assert_array_equal(
        result.keep_rows, np.sort(np.concatenate([normal[kept_pairs], unpaired]))
    )
    assert result.n_pairs == normal.size and result.n_unpaired == 2
    assert result.model.n_pairs == kept_pairs.size

    row_value = dict(zip(result.keep_rows.tolist(), result.values))
    pair_means = 0.5 * (readings[normal] + sign * readings[reciprocal])
    for pair in kept_pairs:
        assert row_value[int(normal[pair])] == pytest.approx(pair_means[pair])
    assert row_value[unpaired[0]] == readings[0] * 1.01
    assert row_value[unpaired[1]] == 0.5
    # unpaired rows are single readings: the model's sigma, not divided by sqrt(2)
    single = ~result.averaged
    np.testing.assert_array_equal(result.keep_rows[single], unpaired)
    np.testing.assert_allclose(
        result.uncertainty[single], result.model.uncertainty(result.values[single])
    )
    np.testing.assert_allclose(
        result.uncertainty[~single],
        result.model.uncertainty(result.values[~single]) / math.sqrt(2.0),
    )

    lines = describe(result)
    assert lines[0] == f"reciprocal pairs: 1,400 of {abmn.shape[0]:,} data (2 unpaired)"
    assert "from 1,395 pairs in 20 bins" in lines[1]
    first = expected_dropped[0]
    assert lines[2].startswith(
        f"5 pairs dropped (reciprocal error > 20%), first: rows {first[0]}/{first[1]} ("
    )


def test_a_zero_mean_with_a_difference_is_an_outlier():
    abmn, readings, _ = synthetic_readings(0.0002, 0.01, seed=2, low=0.1)
    normal, reciprocal, sign = find_reciprocal_pairs(abmn)
    readings = readings.copy()
    readings[normal[0]], readings[reciprocal[0]] = 0.1, -0.1 * sign[0]
    result = reciprocal_uncertainty(abmn, readings)
    np.testing.assert_array_equal(result.dropped_rows, [[normal[0], reciprocal[0]]])
    assert np.isinf(result.dropped_relative_errors[0])
    assert "(undefined)" in describe(result)[2]


@pytest.mark.parametrize("n_pairs", [0, 7, 39])
def test_too_few_pairs_is_a_data_error_naming_the_count(n_pairs):
    quadrupoles = dipole_dipole_line()[:n_pairs]
    abmn = np.vstack([quadrupoles, quadrupoles[:, [2, 3, 0, 1]], [[0, 1, 2, 3]] * 3])
    readings = np.ones(abmn.shape[0])
    with pytest.raises(DataError, match=rf"only {n_pairs} normal/reciprocal pair.*percent"):
        reciprocal_uncertainty(abmn, readings)


def test_too_few_pairs_after_dropping_outliers_says_how_many_were_dropped():
    quadrupoles = dipole_dipole_line()[:50]
    abmn = np.vstack([quadrupoles, quadrupoles[:, [2, 3, 0, 1]]])
    readings = np.ones(abmn.shape[0])
    readings[60:75] = 3.0  # 15 reciprocals far off: 35 good pairs left of 50
    with pytest.raises(DataError, match=r"only 35 .* 50 pairs found, 15 dropped .*> 20%"):
        reciprocal_uncertainty(abmn, readings)


def test_sixteen_thousand_data_are_paired():
    rng = np.random.default_rng(4)
    quadrupoles = np.unique(rng.integers(0, 200, size=(9000, 4)), axis=0)
    distinct = np.array([len(set(row)) == 4 for row in quadrupoles.tolist()])
    quadrupoles = quadrupoles[distinct][:8000]
    abmn = np.vstack([quadrupoles, quadrupoles[:, [2, 3, 0, 1]]])
    shuffle = rng.permutation(abmn.shape[0])
    normal, reciprocal, _ = find_reciprocal_pairs(abmn[shuffle])
    # a random quadrupole may be another's reciprocal, so some pair across the two halves;
    # either way every row is paired
    assert normal.size == abmn.shape[0] // 2
    assert np.unique(np.concatenate([normal, reciprocal])).size == abmn.shape[0]
