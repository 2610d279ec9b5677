"""Bad input: every message names the file, the 1-based line and the column; rows that
cannot be used are dropped and listed, never silently."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.readers import read_survey
from hpcinv.survey import REMOTE

from readers_support import CENTURY_3D, write

UBC_3D = """! a small DCIP3D general file
0 0 0 10 0 0 2
20 0 0 30 0 0 0.5 0.01
30 0 0 40 0 0 0.25 0.01

10 0 0 20 0 0 1
30 0 0 40 0 0 0.1 0.01
"""

GIMLI = """4
# x y z
0 0 0
1 0 0
2 0 0
3 0 0
3
# a b m n r err valid
1 2 3 4 0.5 0.02 1
1 0 3 4 0.4 0.03 1
2 1 4 3 0.3 0.02 1
"""

CSV = """a_x,a_z,b_x,b_z,m_x,m_z,n_x,n_z,value,uncertainty,type
0,0,10,0,20,0,30,0,0.5,0.01,resistance
0,0,,,20,0,30,0,0.4,0.01,resistance
"""


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.splitlines()
    lines[number - 1] = new
    return "\n".join(lines) + "\n"


def assert_error(path, line: int, column: str, fmt="auto", match=None) -> str:
    with pytest.raises(DataError) as info:
        read_survey(path, fmt)
    message = str(info.value)
    assert str(path) in message
    assert re.search(rf"\bline {line}\b", message), message
    assert column in message, message
    if match:
        assert re.search(match, message), message
    return message


# --- truncated files ------------------------------------------------------------------------


def test_ubc_block_cut_short_names_the_source_line_and_its_count(tmp_path):
    lines = CENTURY_3D.read_text().splitlines()
    path = write(tmp_path, "cut.dat", "\n".join(lines[:10]) + "\n")  # 2 of 6 receivers
    assert_error(path, 6, "column 7 (n)", match="promises 6 receiver lines but the file ends")


def test_ubc_cut_at_a_block_boundary_is_caught_by_the_header_count(tmp_path):
    lines = CENTURY_3D.read_text().splitlines()
    path = write(tmp_path, "cut.dat", "\n".join(lines[:13]) + "\n")  # the first block only
    assert_error(path, 3, "column 1 (number of sources)", match="says 141 but .* 1 source")


def test_pygimli_missing_data_rows(tmp_path):
    path = write(tmp_path, "cut.ohm", replace_line(GIMLI, 7, "5"))
    assert_error(path, 7, "column 1 (number of data)", match="promises 5 data rows")


def test_pygimli_missing_sensor_rows(tmp_path):
    path = write(tmp_path, "cut.ohm", replace_line(GIMLI, 1, "6"))
    assert_error(path, 1, "column 1 (number of sensors)", match="looks like the next count")


def test_pygimli_more_rows_than_the_count(tmp_path):
    path = write(tmp_path, "long.ohm", replace_line(GIMLI, 7, "2"))
    assert_error(path, 11, "column 1", match="correct the count")


# --- wrong column counts and text in number fields ------------------------------------------


@pytest.mark.parametrize(
    "name, text, line, new, column",
    [
        ("a.dat", UBC_3D, 4, "30 0 0 40 0 0", "column 7 (missing)"),
        ("a.ohm", GIMLI, 10, "1 0 3 4 0.4 0.03", "column 7 (missing)"),
        ("a.csv", CSV, 3, "0,0,,,20,0,30,0,0.4,0.01,resistance,7", "column 12"),
        ("b.csv", CSV, 2, "0,0,10,0,20,0,30,0,0.5,0.01", "column 11"),
    ],
)
def test_wrong_column_count(tmp_path, name, text, line, new, column):
    path = write(tmp_path, name, replace_line(text, line, new))
    assert_error(path, line, column, match="expected")


@pytest.mark.parametrize(
    "name, text, line, new, column",
    [
        ("a.dat", UBC_3D, 4, "30 0 0 40 0 0 0.25x 0.01", "column 7 (v)"),
        ("b.dat", UBC_3D, 6, "10 0 0 20 0 zero 1", "column 6 (zB)"),
        ("a.ohm", GIMLI, 9, "1 2 3 4 half 0.02 1", "column 5 (r)"),
        ("b.ohm", GIMLI, 4, "1 0 O", "column 3 (z)"),
        ("a.csv", CSV, 2, "0,0,10,0,20,0,3O,0,0.5,0.01,resistance", "column 7 (n_x)"),
    ],
)
def test_text_in_a_number_field(tmp_path, name, text, line, new, column):
    path = write(tmp_path, name, replace_line(text, line, new))
    assert_error(path, line, column, match="is not a number")


# --- electrodes -----------------------------------------------------------------------------


def test_pygimli_sensors_at_one_position_are_one_electrode(tmp_path):

    path = write(tmp_path, "dup.ohm", replace_line(GIMLI, 5, "0 0 0"))  # sensor 3 = sensor 1
    read = read_survey(path)
    assert len(read.survey.electrodes) == 3
    np.testing.assert_array_equal(read.survey.abmn, [[0, 1, 0, 2], [0, REMOTE, 0, 2], [1, 0, 2, 0]])
    np.testing.assert_array_equal(read.survey.electrodes[:, 0] + read.origin[0], [0, 1, 3])
    assert read.survey.n_data == 3  # every datum kept
    (note,) = [n for n in read.notes if "merged" in n]
    assert "sensor 3 (line 5) = sensor 1 (line 3)" in note and "3 electrodes from 4" in note


def test_pygimli_dipole_on_merged_sensors_is_refused(tmp_path):
    # sensor 4 at sensor 3's position: the first datum's M and N become one electrode
    path = write(tmp_path, "dup.ohm", replace_line(GIMLI, 6, "2 0 0"))
    assert_error(path, 9, "column 4 (n)", match="same position")


@pytest.mark.parametrize(
    "line, new, column",
    [(9, "1 2 3 5 0.5 0.02 1", "column 4 (n)"), (10, "0 2 3 4 0.4 0.03 1", "column 1 (a)")],
)
def test_pygimli_index_out_of_range(tmp_path, line, new, column):
    path = write(tmp_path, "range.ohm", replace_line(GIMLI, line, new))
    assert_error(path, line, column, match="out of range")


def test_csv_dipole_at_one_position(tmp_path):
    path = write(
        tmp_path, "same.csv", replace_line(CSV, 2, "0,0,10,0,20,0,20,0,0.5,0.01,resistance")
    )
    assert_error(path, 2, "column 7 (n_x)", match="same position")


# --- uncertainties --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, line, new, column",
    [
        ("a.dat", UBC_3D, 7, "30 0 0 40 0 0 0.1 0", "column 8 (sd)"),
        ("a.ohm", GIMLI, 10, "1 0 3 4 0.4 0 1", "column 6 (err)"),
        ("a.csv", CSV, 3, "0,0,,,20,0,30,0,0.4,-0.01,resistance", "column 10 (uncertainty)"),
    ],
)
def test_zero_or_negative_uncertainty(tmp_path, name, text, line, new, column):
    path = write(tmp_path, name, replace_line(text, line, new))
    assert_error(path, line, column, match="not positive")


# --- mixed units ----------------------------------------------------------------------------


def test_csv_mixed_data_types(tmp_path):
    text = CSV + "0,0,10,0,30,0,40,0,7.5,0.2,apparent_resistivity\n"
    path = write(tmp_path, "mixed.csv", replace_line(text, 3, "0,0,,,20,0,30,0,0.4,,volts"))
    assert_error(
        path,
        2,
        "column 11 (type)",
        match=r"resistance \(first on line 2\), volts \(first on line 3\), "
        r"apparent_resistivity \(first on line 4\)",
    )


# --- empty surveys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, line, column",
    [
        ("e.csv", CSV.splitlines()[0] + "\n", 1, "column 1"),
        (
            "e.ohm",
            "\n".join(GIMLI.splitlines()[:6] + ["0", "# a b m n r"]) + "\n",
            7,
            "column 1 (number of data)",
        ),
        ("e.dat", "COMMON_CURRENT\n0\n", 2, "column"),
    ],
)
def test_empty_survey(tmp_path, name, text, line, column):
    path = write(tmp_path, name, text)
    assert_error(path, line, column, match="empty")


# --- other refusals -------------------------------------------------------------------------


def test_ubc_ip_file_is_refused(tmp_path):
    path = write(tmp_path, "ip.dat", "IPTYPE=1\n" + UBC_3D)
    assert_error(path, 1, "column 1 (IPTYPE)", match="IP")


def test_ubc_five_field_layout_needs_the_dimension(tmp_path):
    path = write(tmp_path, "five.dat", "0 0 10 0 1\n20 0 30 0 0.5 0.01\n")
    assert_error(path, 1, "column 1", match="ubc-2d or ubc-3d")
    assert read_survey(path, "ubc-3d").survey.electrodes.tolist()[1] == [10.0, 0.0, 0.0]
    assert read_survey(path, "ubc-2d").survey.electrodes.tolist()[1] == [10.0, 0.0]


# --- rows dropped, listed and logged --------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, line, new, reason",
    [
        ("a.dat", UBC_3D, 3, "20 0 0 30 0 0 nan 0.01", "value is nan"),
        ("b.dat", UBC_3D, 7, "30 0 0 40 0 0 0.1 inf", "uncertainty is inf"),
        ("a.ohm", GIMLI, 11, "2 1 4 3 0.3 0.02 0", "flagged invalid (valid=0)"),
        ("a.csv", CSV, 2, "0,0,10,0,20,0,30,0,-inf,0.01,resistance", "value is -inf"),
        ("b.csv", CSV, 3, "0,0,,,20,nan,30,0,0.4,0.01,resistance", "M coordinate is not finite"),
    ],
)
def test_unusable_rows_are_dropped_and_listed(tmp_path, caplog, name, text, line, new, reason):
    path = write(tmp_path, name, replace_line(text, line, new))
    full = read_survey(write(tmp_path, "full_" + name, text))
    with caplog.at_level(logging.WARNING, logger="hpcinv.readers"):
        data = read_survey(path)
    assert [(d.line, d.reason, d.text) for d in data.dropped] == [(line, reason, new)]
    assert data.survey.n_data == full.survey.n_data - 1
    assert line not in data.data_lines
    assert f"dropped 1 data rows: 1 {reason}" in caplog.text


def test_every_row_dropped_is_an_empty_survey(tmp_path):
    text = replace_line(
        replace_line(CSV, 2, "0,0,10,0,20,0,30,0,nan,0.01,resistance"),
        3,
        "0,0,,,20,0,30,0,nan,0.01,resistance",
    )
    assert_error(write(tmp_path, "nan.csv", text), 3, "column 1", match="2 rows dropped")


# --- large coordinates ----------------------------------------------------------------------


def test_large_coordinates_get_an_exact_local_origin(tmp_path):
    text = (
        "a_x,a_y,a_z,b_x,b_y,b_z,m_x,m_y,m_z,n_x,n_y,n_z,value,uncertainty,type\n"
        "512345.25,7123456.5,310.75,512355.25,7123456.5,310.5,512365.125,7123460.0,311.0,"
        "512375.78,7123460.0,311.0,0.5,0.01,resistance\n"
    )
    data = read_survey(write(tmp_path, "utm.csv", text))
    np.testing.assert_array_equal(data.origin, [512000.0, 7123000.0, 0.0])
    # binary-exact coordinates stay exact locally ...
    np.testing.assert_array_equal(
        data.survey.electrodes[:3],
        [[345.25, 456.5, 310.75], [355.25, 456.5, 310.5], [365.125, 460.0, 311.0]],
    )
    # ... and every local coordinate plus the origin is the file's number, bit for bit
    assert data.survey.electrodes[3, 0] + data.origin[0] == 512375.78
    assert any("local origin" in note for note in data.notes)
    local = data.survey.electrodes
    assert np.abs(local.astype(np.float32) - local).max() < 1e-4
