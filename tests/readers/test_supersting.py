"""AGI SuperSting ``.stg`` files, read from fixtures written from AGI's description of the
columns (``fixtures/supersting/*.stg``): every datum's A, B, M, N against the coordinates read
here without hpcinv, its value and uncertainty against the file, the file's apparent
resistivities against hpcinv's geometric factors, the reading against ResIPy's (stored next to
each fixture by ``scripts/make_supersting_reference.py``), the signature against other formats'
files, and malformed files refused with one line naming the line and column.

ABEM Lund/SAS "OHM" files are not read (no documented layout was found), so none are here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.readers import formats, geometric_factors, read_survey, write_survey
from hpcinv.readers.supersting import FORMAT, check_supersting, read_supersting
from hpcinv.survey import REMOTE

from readers_support import write

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "supersting"
FILES = sorted(FIXTURES.glob("*.stg"))
RES2DINV = sorted((Path(__file__).resolve().parent / "fixtures" / "res2dinv").glob("*.dat"))


# --- the fixture as AGI's column list lays it out, read here without hpcinv -------------------


@dataclass
class Row:
    line: int
    value: float  # V/I, ohm
    error: float  # tenths of a percent
    rhoa: float
    points: np.ndarray  # (4, 3) x y z of A, B, M, N
    cells: int


def layout(path: Path) -> tuple[list[str], list[Row]]:
    lines = path.read_text().splitlines()
    rows = []
    for number, text in enumerate(lines[3:], start=4):
        cells = [c.strip() for c in text.split(",")]
        points = np.array([float(c) for c in cells[9:21]]).reshape(4, 3)
        rows.append(
            Row(number, float(cells[4]), float(cells[5]), float(cells[7]), points, len(cells))
        )
    return lines[:3], rows


def positions(data) -> np.ndarray:
    """(n, 4, dim) file coordinates of each datum's A, B, M, N (no remote poles here)."""
    assert (data.survey.abmn != REMOTE).all()
    return data.global_electrodes()[data.survey.abmn]


def test_the_fixtures_cover_the_layouts_and_corner_cases():
    assert len(FILES) >= 3
    headers, rows = zip(*(layout(p) for p in FILES))
    titles = {h[0].split(" SuperSting")[0].split(" (AGI)")[0] for h in headers}
    assert titles == {"Advanced Geosciences, Inc.", "Advanced Geosciences Inc."}  # both variants
    assert any(h[1].startswith("A trimmed data set by AGI EarthImager") for h in headers)
    assert all(h[2] == "Unit: meter" for h in headers)
    flat = [np.array([r.points for r in file]) for file in rows]
    assert any(np.ptp(p[..., 1]) > 0 for p in flat)  # a 3D layout
    assert any(np.ptp(p[..., 2]) > 0 for p in flat)  # a line with elevations
    assert any(np.abs(p).max() > 100 for p in flat)  # remote poles recorded far away
    assert any(any(r.error == 0 for r in file) for file in rows)  # no error stated
    assert all(all(r.error > 0 for r in file) for file in rows[:1])
    assert {r.cells for file in rows for r in file} >= {21, 27, 37}  # bare, settings, IP


# --- every datum --------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_positions_values_and_uncertainties_per_datum(path):
    header, rows = layout(path)
    data = read_supersting(path, None)
    assert (data.format, data.data_type) == (FORMAT, "resistance")
    assert data.survey.n_data == len(rows) and not data.dropped
    np.testing.assert_array_equal(data.data_lines, [r.line for r in rows])
    want = np.array([r.points for r in rows])
    three_d = np.ptp(want[..., 1]) > 0
    assert data.dim == (3 if three_d else 2)
    want = want if three_d else want[..., [0, 2]]
    np.testing.assert_allclose(positions(data), want, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(data.survey.dobs, [r.value for r in rows])
    if all(r.error > 0 for r in rows):
        expected = [r.error / 1000 * abs(r.value) for r in rows]
        np.testing.assert_allclose(data.survey.uncertainty, expected, rtol=1e-15)
    else:
        assert data.survey.uncertainty is None
        assert any("no uncertainties read" in note for note in data.notes)
    assert data.current is None and data.geometric_factor is None


def flat(path: Path) -> bool:
    return np.ptp([r.points[:, 2] for r in layout(path)[1]]) == 0


@pytest.mark.parametrize("path", [p for p in FILES if flat(p)], ids=lambda p: p.stem)
def test_the_files_apparent_resistivity_is_k_times_v_over_i(path):
    """The instrument's apparent resistivity column is k V/I: with hpcinv's half-space factors
    of the positions read (the fixtures with a flat surface; remote poles count at their
    recorded positions)."""
    _, rows = layout(path)
    data = read_supersting(path, None)
    k = geometric_factors(data.survey.electrodes, data.survey.abmn)
    np.testing.assert_allclose(k * data.survey.dobs, [r.rhoa for r in rows], rtol=2e-5)


def test_remote_poles_are_electrodes_at_their_recorded_positions_and_noted():
    data = read_supersting(FIXTURES / "pole_dipole_3d.stg", None)
    far = [[-2.5, 180.0, 0.0], [210.0, -35.0, 0.0]]
    electrodes = data.global_electrodes().tolist()
    assert all(point in electrodes for point in far)
    b = data.global_electrodes()[data.survey.abmn[:, 1]]
    np.testing.assert_array_equal(b, np.tile(far[0], (data.survey.n_data, 1)))
    (note,) = [n for n in data.notes if "extent of the A and M electrodes" in n]
    assert note.startswith("2 electrodes") and "[210.0, -35.0, 0.0]" in note


def _sorted(rows) -> list[tuple]:
    return sorted(tuple(float(v) for v in row) for row in rows)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_equals_resipys_reading(path):
    """Per datum, A B M N x y z and V/I equal ResIPy's (3.6.6) reading, compared as sorted
    lists (ResIPy numbers its electrodes sorted by position); a 2D line's y is 0."""
    reference = json.loads(path.with_suffix(".resipy.json").read_text())
    assert reference["columns"][-1] == "resist" and len(reference["columns"]) == 13
    data = read_supersting(path, None)
    where = positions(data)
    if data.dim == 2:
        where = np.stack([where[..., 0], np.zeros_like(where[..., 0]), where[..., 1]], axis=-1)
    mine = [[*where[i].ravel(), data.survey.dobs[i]] for i in range(data.survey.n_data)]
    theirs = reference["data"]
    assert len(mine) == len(theirs) == data.survey.n_data
    assert reference["electrodes"] == data.survey.electrodes.shape[0]
    np.testing.assert_allclose(_sorted(mine), _sorted(theirs), rtol=0, atol=1e-9)


# --- other readings --------------------------------------------------------------------------

HEADER = (
    "Advanced Geosciences, Inc. SuperSting R8-IP Resistivity meter. S/N: SS0000999 Type: 3D\n"
    "Firmware version: 01.33.74E Survey period: 20250101 Records: 3\n"
    "Unit: meter\n"
)


def stg_row(record: int, value: str, error: str, xs: tuple[float, ...], z: float = 0.0) -> str:
    cells = [f"{record:4d}", "USER   ", "20250101", "12:00:00", value, error, "250"]
    cells += [" 1.00000E+02", "T1       "]
    for x in xs:
        cells += [f"{x:12.5E}", f"{0.0:12.5E}", f"{z:12.5E}"]
    return ",".join(cells)


ROWS = [
    stg_row(1, " 1.20000E+00", "   3", (2.0, 0.0, 4.0, 6.0)),
    stg_row(2, " 4.00000E-01", "   5", (2.0, 0.0, 6.0, 8.0)),
    stg_row(3, " 9.50000E-01", "   4", (4.0, 2.0, 6.0, 8.0)),
]
SAMPLE = HEADER + "\n".join(ROWS) + "\n"
SHORT = HEADER + ROWS[0] + "\n" + ",".join(ROWS[1].split(",")[:12]) + "\n"


def test_a_small_file_reads_with_its_numbers(tmp_path):
    data = read_supersting(write(tmp_path, "s.stg", SAMPLE), None)
    np.testing.assert_array_equal(data.survey.dobs, [1.2, 0.4, 0.95])
    np.testing.assert_allclose(data.survey.uncertainty, [0.0036, 0.002, 0.0038], rtol=1e-12)
    np.testing.assert_array_equal(positions(data)[0], [[2, 0], [0, 0], [4, 0], [6, 0]])
    np.testing.assert_array_equal(data.data_lines, [4, 5, 6])
    assert not any("Records" in note for note in data.notes)


def test_feet_are_converted_to_metres(tmp_path):
    path = write(tmp_path, "f.stg", SAMPLE.replace("Unit: meter", "Unit: feet"))
    data = read_supersting(path, None)
    np.testing.assert_allclose(positions(data)[0, :, 0], [0.6096, 0.0, 1.2192, 1.8288])
    assert any("feet" in note for note in data.notes)


def test_a_records_count_unlike_the_rows_is_noted(tmp_path):
    path = write(tmp_path, "r.stg", SAMPLE.replace("Records: 3", "Records: 5"))
    data = read_supersting(path, None)
    assert any("Records: 5, the file has 3 data rows" in note for note in data.notes)


def test_a_row_with_a_nan_value_is_dropped_and_listed(tmp_path):
    text = SAMPLE.replace(" 4.00000E-01", "nan")
    data = read_supersting(write(tmp_path, "n.stg", text), None)
    assert data.survey.n_data == 2
    assert [(row.line, row.reason) for row in data.dropped] == [(5, "value is nan")]


def test_dimension_3_keeps_y_and_2_refuses_a_3d_layout(tmp_path):
    data = read_supersting(write(tmp_path, "s.stg", SAMPLE), 3)
    assert data.dim == 3 and (data.survey.electrodes[:, 1] == 0).all()
    with pytest.raises(DataError, match="which is no line; read the file as 3D"):
        read_supersting(FIXTURES / "pole_dipole_3d.stg", 2)


# --- the signature ------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_signature_accepts_the_fixtures_and_no_other_format_does(path):
    check_supersting(path)
    lines = formats.numbered_lines(path)
    for name, check in formats.SIGNATURES.items():
        if name == FORMAT:
            continue
        with pytest.raises(DataError):
            check(path, lines)


def other_formats(tmp_path) -> list[Path]:
    """Files of the other formats: written by hpcinv from a fixture's survey, a Syscal and a
    Terrameter header table, and Res2DInv files."""
    data = read_supersting(FIXTURES / "dipole_dipole_2d.stg", None)
    files = []
    for name, fmt in (("d.ohm", "pygimli"), ("d.csv", "csv"), ("d.obs", "ubc-2d")):
        write_survey(data, tmp_path / name, fmt)
        files.append(tmp_path / name)
    syscal = ",El-array,Spa.1,Spa.2,Spa.3,Spa.4,Rho,Dev.,Vp,In\n,DD,0,5,10,15,103.7,0.2,98.7,512\n"
    abem = "A(x)\tB(x)\tM(x)\tN(x)\tU(V)\tI(mA)\n0\t5\t10\t15\t0.09\t99.9\n"
    files += [write(tmp_path, "s.txt", syscal), write(tmp_path, "a.txt", abem)]
    return files + RES2DINV[:3]


def test_the_signature_refuses_other_formats_files_naming_line_and_column(tmp_path):
    for path in other_formats(tmp_path):
        with pytest.raises(DataError) as info:
            check_supersting(path)
        message = str(info.value)
        assert message.startswith(f"{path}, line ") and ", column " in message
        assert "\n" not in message and "Advanced Geosciences" in message


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_detected_and_read_by_read_survey(path):
    assert formats.detect_format(path) == FORMAT
    assert read_survey(path).survey.n_data == len(layout(path)[1])


# --- refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, where, says",
    [
        (SAMPLE.replace(" 6.00000E+00", " 6.0x0000E+00", 1), "line 4, column 19 (N x)", "number"),
        (SAMPLE.replace(" 1.20000E+00", "1.2 ohm"), "line 4, column 5 (V/I (ohm))", "number"),
        (SAMPLE.replace("   5,250", "  a5,250"), "line 5, column 6 (error (per", "number"),
        (SAMPLE.replace("   2,USER", " 2.5,USER"), "line 5, column 1 (record)", "whole"),
        (
            SHORT,
            "line 5, column 13 (missing)",
            "found 12 comma-separated cells, expected at least 21",
        ),
        (SAMPLE.replace("Unit: meter", "Unit: furlong"), "line 3, column 1 (Unit)", "meter"),
        (SAMPLE.replace("Unit: meter", "Units of length"), "line 1, column 1 (header)", "Unit:"),
        (SAMPLE.replace("Advanced Geo", "Geo"), "line 1, column 1 (header)", "Advanced Geo"),
        (HEADER, "line 3, column 1", "the survey is empty"),
        (SAMPLE.replace("2.00000E+00", "0.00000E+00", 1), "line 4, column 13 (B x)", "same"),
        ("", "line 1, column 1", "empty"),
    ],
    ids=[
        "coordinate",
        "value",
        "error",
        "record",
        "short row",
        "unit",
        "no unit",
        "title",
        "no rows",
        "A at B",
        "empty",
    ],
)
def test_malformed_files_are_refused_with_one_line_naming_line_and_column(
    tmp_path, text, where, says
):
    path = write(tmp_path, "bad.stg", text)
    with pytest.raises(DataError) as info:
        read_supersting(path, None)
    message = str(info.value)
    assert message.startswith(f"{path}, {where}"), message
    assert says in message and "\n" not in message
