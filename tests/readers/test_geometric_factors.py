"""Geometric factors against textbook formulas, and conversion to resistance (V/A)."""

from __future__ import annotations

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.readers import FieldData, geometric_factors, read_survey, to_resistance, write_survey
from hpcinv.survey import REMOTE, Survey

A = 25.0  # electrode spacing, metres


def line(xs, dim=2, z=0.0):
    """Electrodes on a straight surface line at positions ``xs`` (metres)."""
    xs = np.asarray(xs, dtype=float)
    cols = [xs] if dim == 2 else [xs, np.full(xs.size, 40.0)]
    return np.column_stack(cols + [np.full(xs.size, z)])


@pytest.mark.parametrize("dim", [2, 3])
def test_wenner_is_2_pi_a(dim):
    k = geometric_factors(line([0, A, 2 * A, 3 * A], dim), [[0, 3, 1, 2]])
    np.testing.assert_allclose(k, 2 * np.pi * A, rtol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_dipole_dipole_is_pi_n_n1_n2_a(n):
    # B A M N: source dipole of length a, receiver dipole n*a beyond it
    xs = [0.0, A, A + n * A, A + (n + 1) * A]
    k = geometric_factors(line(xs), [[1, 0, 2, 3]])
    np.testing.assert_allclose(k, np.pi * n * (n + 1) * (n + 2) * A, rtol=1e-14)


@pytest.mark.parametrize("n", [1, 4])
def test_pole_dipole_is_2_pi_n_n1_a(n):
    k = geometric_factors(line([0.0, n * A, (n + 1) * A]), [[0, REMOTE, 1, 2]])
    np.testing.assert_allclose(k, 2 * np.pi * n * (n + 1) * A, rtol=1e-14)


def test_pole_pole_is_2_pi_a():
    k = geometric_factors(line([0.0, A], 3), [[0, REMOTE, 1, REMOTE]])
    np.testing.assert_allclose(k, 2 * np.pi * A, rtol=1e-14)


def test_buried_electrodes_use_the_image_source():
    # A at 10 m depth, M at 4 m depth, 30 m apart; a surface electrode fixes the surface at 0
    electrodes = [[0.0, -10.0], [30.0, -4.0], [100.0, 0.0]]
    k = geometric_factors(electrodes, [[0, REMOTE, 1, REMOTE]])
    direct, image = np.hypot(30.0, 6.0), np.hypot(30.0, 14.0)
    np.testing.assert_allclose(k, 4 * np.pi / (1 / direct + 1 / image), rtol=1e-14)


def test_symmetric_receiver_has_no_finite_factor():
    # M and N on the perpendicular bisector of AB: no potential difference in a half-space
    electrodes = [[0.0, 0.0, 0.0], [2 * A, 0.0, 0.0], [A, 10.0, 0.0], [A, 30.0, 0.0]]
    k = geometric_factors(electrodes, [[0, 1, 2, 3], [0, 2, 1, 3]])
    assert np.isinf(k[0]) and np.isfinite(k[1])


def flat_field_data(kind, values, uncertainty, **extra):
    survey = Survey(
        line([0, A, 2 * A, 3 * A, 4 * A]),
        [[0, 1, 2, 3], [1, 0, 3, 4], [0, REMOTE, 2, 3]],
        values,
        uncertainty,
    )
    return FieldData(
        survey=survey,
        path="memory.csv",
        format="csv",
        data_type=kind,
        origin=np.zeros(2),
        dropped=(),
        notes=(),
        data_lines=np.array([2, 3, 4]),
        **extra,
    )


def test_apparent_resistivity_back_to_resistance_through_a_file(tmp_path):
    resistance = np.array([0.8, -0.05, 0.3])
    sd = 0.05 * np.abs(resistance)
    reference = flat_field_data("resistance", resistance, sd).survey
    k = geometric_factors(reference.electrodes, reference.abmn)
    rhoa = flat_field_data("apparent_resistivity", k * resistance, np.abs(k) * sd)
    write_survey(rhoa, tmp_path / "rhoa.csv", "csv")
    converted = to_resistance(read_survey(tmp_path / "rhoa.csv"))
    np.testing.assert_allclose(converted.dobs, resistance, rtol=1e-14)
    np.testing.assert_allclose(converted.uncertainty, sd, rtol=1e-14)


def test_k_column_and_argument_take_precedence():
    rhoa = flat_field_data(
        "apparent_resistivity", [10.0, 20.0, 30.0], None, geometric_factor=np.array([2.0, 4.0, 5.0])
    )
    np.testing.assert_allclose(to_resistance(rhoa).dobs, [5.0, 5.0, 6.0])
    np.testing.assert_allclose(
        to_resistance(rhoa, k=np.array([1.0, 2.0, 3.0])).dobs, [10.0, 10.0, 10.0]
    )


def test_topography_without_k_needs_numeric_factors():
    survey = Survey([[0.0, 0.0], [A, 1.0], [2 * A, 2.0]], [[0, REMOTE, 1, 2]], [10.0])
    data = FieldData(
        survey=survey,
        path="topo.csv",
        format="csv",
        data_type="apparent_resistivity",
        origin=np.zeros(2),
        dropped=(),
        notes=(),
    )
    with pytest.raises(DataError, match="numeric geometric factors"):
        to_resistance(data)


def test_infinite_factor_names_the_file_line():
    data = flat_field_data(
        "apparent_resistivity",
        [10.0, 20.0, 30.0],
        None,
        geometric_factor=np.array([2.0, np.inf, 5.0]),
    )
    with pytest.raises(DataError, match=r"memory\.csv, line 3: geometric factor inf"):
        to_resistance(data)


def test_volts_are_divided_by_the_current():
    data = flat_field_data(
        "volts", [2.0, 4.0, 6.0], [0.2, 0.2, 0.2], current=np.array([2.0, 4.0, 0.5])
    )
    converted = to_resistance(data)
    np.testing.assert_allclose(converted.dobs, [1.0, 1.0, 12.0])
    np.testing.assert_allclose(converted.uncertainty, [0.1, 0.05, 0.4])
