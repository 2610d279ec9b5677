"""The image measure (summary.json ``anomaly``): IoU of the thresholded bodies, by hand."""

import numpy as np
import pytest

from hpcinv.report.anomaly import anomaly_measure

BACKGROUND, CONDUCTOR, RESISTOR = np.log(0.01), np.log(0.1), np.log(0.002)


def blocks():
    """A 20-cell line: background, a conductor in cells 4-7, a resistor in cells 12-15."""
    true = np.full(20, BACKGROUND)
    true[4:8] = CONDUCTOR
    true[12:16] = RESISTOR
    return true


def test_the_truth_scores_one_and_the_background_zero():
    true = blocks()
    exact = anomaly_measure(true, true, None)
    assert exact["conductive"]["iou"] == 1.0 and exact["resistive"]["iou"] == 1.0
    assert exact["conductive"]["false"] == 0.0
    flat = anomaly_measure(np.full(20, BACKGROUND), true, None)
    assert flat["conductive"] == {
        "iou": 0.0,
        "recovered": 0.0,
        "false": 0.0,
        "threshold": pytest.approx(0.5 * (BACKGROUND + CONDUCTOR)),
    }


def test_a_shifted_and_smeared_body_by_hand():
    true = blocks()
    image = np.full(20, BACKGROUND)
    image[6:10] = BACKGROUND + 0.6 * (CONDUCTOR - BACKGROUND)  # beyond the midpoint
    image[10] = BACKGROUND + 0.4 * (CONDUCTOR - BACKGROUND)  # short of it
    image[12:14] = RESISTOR  # half the resistor
    got = anomaly_measure(image, true, None)
    # conductor: recovered 6-9, true 4-7: both 6, 7; either 4-9
    assert got["conductive"]["iou"] == pytest.approx(2 / 6)
    assert got["conductive"]["recovered"] == pytest.approx(2 / 4)
    assert got["conductive"]["false"] == pytest.approx(2 / 4)
    assert got["resistive"]["iou"] == pytest.approx(2 / 4)
    assert got["resistive"]["false"] == 0.0


def test_only_core_cells_count_and_no_truth_gives_none():
    true = blocks()
    image = true.copy()
    image[0] = CONDUCTOR  # a false body outside the core
    core = np.ones(20, bool)
    core[0] = False
    assert anomaly_measure(image, true, core)["conductive"]["iou"] == 1.0
    assert anomaly_measure(image, true, None)["conductive"]["iou"] == pytest.approx(4 / 5)
    assert anomaly_measure(image, None, None) is None
