"""Res2DInv index-based arrays (types 1 to 7), read from fixture files written from the
format's documentation (``fixtures/res2dinv/*.dat``): every datum's A, B, M, N against
positions computed here from the array's drawing, its value and uncertainty against the file,
the geometric factors against the manual's, the reading against pyGIMLi's (stored next to each
fixture by ``scripts/make_res2dinv_reference.py``), and malformed files refused with one line
naming the line and column."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.readers import detect_format, geometric_factors, read_survey, to_resistance
from hpcinv.survey import REMOTE

from readers_support import write

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "res2dinv"
FILES = sorted(FIXTURES.glob("*.dat"))
WITH_N = (3, 6, 7)


# --- the fixture as the documentation lays it out, read here without hpcinv -------------------


@dataclass
class Layout:
    array: int
    x_location: int
    rows: list[tuple[int, list[float]]]  # (line number, the row's numbers)
    error: int | None  # the type of error estimate, None without errors
    topography: np.ndarray | None


def _numbers(text: str) -> list[str]:
    return text.replace(",", " ").split()


def layout(path: Path) -> Layout:
    lines = [(k, t) for k, t in enumerate(path.read_text().splitlines(), 1) if t.strip()]
    array, n, x_location, ip = (int(lines[k][1]) for k in (2, 3, 4, 5))
    at = 6 + 3 * ip
    error = None
    if lines[at][1].startswith("Error estimate"):
        error, at = int(lines[at + 2][1]), at + 3
    rows = [(k, [float(v) for v in _numbers(t)]) for k, t in lines[at : at + n]]
    at += n
    topography = None
    if _numbers(lines[at][1]) == ["2"]:
        m = int(lines[at + 1][1])
        points = [[float(v) for v in _numbers(t)] for _, t in lines[at + 2 : at + 2 + m]]
        topography = np.array(points)
    return Layout(array, x_location, rows, error, topography)


def from_first_electrode(array: int, L: float, a: float, n: float):
    """A, B, M, N x (None: remote) with the leftmost electrode at L, as the manual draws each
    array (C1 = A, C2 = B, P1 = M, P2 = N)."""
    if array == 6:  # C1 P1 P2; reverse (n < 0): P2 P1 C1
        return (L, None, L + n * a, L + (n + 1) * a) if n > 0 else (L + (1 - n) * a, None, L + a, L)
    return {
        1: (L, L + 3 * a, L + a, L + 2 * a),  # C1 P1 P2 C2
        2: (L, None, L + a, None),  # C1 P1
        3: (L + a, L, L + (n + 1) * a, L + (n + 2) * a),  # C2 C1 P1 P2
        4: (L + a, L, L + 2 * a, L + 3 * a),  # C2 C1 P1 P2
        5: (L, L + 2 * a, L + a, L + 3 * a),  # C1 P1 C2 P2
        7: (L, L + (2 * n + 1) * a, L + n * a, L + (n + 1) * a),  # C1 P1 P2 C2
    }[array]


def from_midpoint(array: int, c: float, a: float, n: float):
    """The same, the array centred on c (x-location 1)."""
    return {
        1: (c - 1.5 * a, c + 1.5 * a, c - 0.5 * a, c + 0.5 * a),
        2: (c - 0.5 * a, None, c + 0.5 * a, None),
        3: (c - n * a / 2, c - n * a / 2 - a, c + n * a / 2, c + n * a / 2 + a),
        4: (c - 0.5 * a, c - 1.5 * a, c + 0.5 * a, c + 1.5 * a),
        5: (c - 1.5 * a, c + 0.5 * a, c - 0.5 * a, c + 1.5 * a),
        7: (c - (n + 0.5) * a, c + (n + 0.5) * a, c - 0.5 * a, c + 0.5 * a),
    }[array]


def expected_datum(lay: Layout, row: list[float]):
    """(A, B, M, N x, value, uncertainty or None) of a row."""
    x, a = row[0], row[1]
    n = row[2] if lay.array in WITH_N else 1.0
    value = row[3 if lay.array in WITH_N else 2]
    where = (from_first_electrode, from_midpoint)[lay.x_location](lay.array, x, a, n)
    error = None
    if lay.error is not None:
        error = row[-1] if lay.error == 0 else row[-1] / 100 * abs(value)
    return where, value, error


def elevation(lay: Layout, x: float) -> float:
    if lay.topography is None:
        return 0.0
    return float(np.interp(x, lay.topography[:, 0], lay.topography[:, 1]))


#: The manual's (Loke's) geometric factors, all positive, per array: k(a, |n|).
LOKE_K = {
    1: lambda a, n: 2 * np.pi * a,
    2: lambda a, n: 2 * np.pi * a,
    3: lambda a, n: np.pi * n * (n + 1) * (n + 2) * a,
    4: lambda a, n: 6 * np.pi * a,
    5: lambda a, n: 3 * np.pi * a,
    6: lambda a, n: 2 * np.pi * n * (n + 1) * a,
    7: lambda a, n: np.pi * n * (n + 1) * a,
}


# --- the fixtures -----------------------------------------------------------------------------


def test_the_fixtures_cover_every_array_and_the_documented_corner_cases():
    layouts = {path.name: layout(path) for path in FILES}
    per_array = Counter(lay.array for lay in layouts.values())
    assert sorted(per_array) == [1, 2, 3, 4, 5, 6, 7]
    assert min(per_array.values()) >= 3, per_array
    assert {lay.x_location for lay in layouts.values()} == {0, 1}
    assert {lay.error for lay in layouts.values()} == {None, 0, 1}
    assert sum(lay.topography is not None for lay in layouts.values()) >= 3
    signs = {np.sign(row[2]) for lay in layouts.values() if lay.array == 6 for _, row in lay.rows}
    assert signs == {-1.0, 1.0}  # pole-dipole forward and reverse
    texts = [path.read_text() for path in FILES]
    assert any("0,0,0,0" in text for text in texts)  # trailing lines of zeros
    assert any(text.splitlines()[5] == "1" for text in texts)  # IP flag 1


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_datum_where_the_array_puts_it(path):
    lay = layout(path)
    assert detect_format(path) == "res2dinv"
    data = read_survey(path)
    assert (data.format, data.data_type, data.dim) == ("res2dinv", "apparent_resistivity", 2)
    assert data.survey.n_data == len(lay.rows)
    electrodes, abmn = data.global_electrodes(), data.survey.abmn
    positions = set()
    for i, (line, row) in enumerate(lay.rows):
        where, value, error = expected_datum(lay, row)
        assert data.data_lines[i] == line
        assert data.survey.dobs[i] == value
        for k, x in enumerate(where):
            if x is None:
                assert abmn[i, k] == REMOTE, (line, k)
                continue
            np.testing.assert_allclose(
                electrodes[abmn[i, k]], [x, elevation(lay, x)], rtol=0, atol=1e-9
            )
            positions.add(round(x, 6))
        if error is None:
            assert data.survey.uncertainty is None
        else:
            np.testing.assert_allclose(data.survey.uncertainty[i], error, rtol=1e-15, atol=0)
    assert len(electrodes) == len(positions)  # one electrode per position, reached any way
    if lay.topography is None:
        assert data.topography is None and not np.ptp(electrodes[:, 1])
    else:
        np.testing.assert_array_equal(data.topography + data.origin, lay.topography)


@pytest.mark.parametrize(
    "path", [p for p in FILES if layout(p).topography is None], ids=lambda p: p.stem
)
def test_geometric_factors_are_the_manuals(path):
    """The current electrode nearer the potential dipole is A (C1): the factors come out as
    the manual's positive ones, and a positive apparent resistivity as a positive V/A."""
    lay = layout(path)
    data = read_survey(path)
    k = geometric_factors(data.survey.electrodes, data.survey.abmn)
    for i, (_, row) in enumerate(lay.rows):
        n = abs(row[2]) if lay.array in WITH_N else 1.0
        assert k[i] == pytest.approx(LOKE_K[lay.array](row[1], n), rel=1e-12)
    assert (to_resistance(data).dobs > 0).all()


# --- against pyGIMLi ----------------------------------------------------------------------


def _sorted_data(rows) -> list[tuple]:
    def key(row):
        return tuple(-np.inf if v is None else v for v in row)

    return sorted((tuple(row) for row in rows), key=key)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_equals_pygimlis_reading(path):
    """Per datum, A B M N x and the value equal pyGIMLi's (1.5.4) reading, compared as sorted
    lists (pyGIMLi sorts its data). pyGIMLi names the leftmost current electrode of a
    dipole-dipole and Wenner beta A, where the manual draws C2: A and B swapped back here."""
    reference = json.loads(path.with_suffix(".pygimli.json").read_text())
    assert reference["columns"] == ["a", "b", "m", "n", "rhoa", "ip"]
    lay = layout(path)
    data = read_survey(path)
    electrodes, abmn = data.global_electrodes(), data.survey.abmn
    mine = []
    for i in range(data.survey.n_data):
        x = [None if e == REMOTE else float(electrodes[e, 0]) for e in abmn[i]]
        mine.append((*x, float(data.survey.dobs[i])))
    theirs = [row[:5] for row in reference["data"]]
    if lay.array in (3, 4):
        theirs = [(b, a, m, n, v) for a, b, m, n, v in theirs]
    assert len(mine) == len(theirs) == len(lay.rows)
    for ours, pygimli in zip(_sorted_data(mine), _sorted_data(theirs)):
        assert [v is None for v in ours] == [v is None for v in pygimli]
        got = [v for v in ours if v is not None]
        want = [v for v in pygimli if v is not None]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    if reference["topography"] is None:
        assert data.topography is None
    else:
        np.testing.assert_array_equal(data.topography + data.origin, reference["topography"])


# --- other layouts read -----------------------------------------------------------------------

DD = "Dipole-dipole\n1.0\n3\n3\n0\n0\n0 1 1 100.5\n1 1 1 101.5\n0 1 2 102.5\n"


def test_a_file_may_end_with_its_last_row_or_name_its_topography(tmp_path):
    data = read_survey(write(tmp_path, "dd.dat", DD), "res2dinv")
    assert data.survey.n_data == 3 and data.topography is None
    topography = "Topography in separate list\n2\n2\n-1 10\n5 13\n1\n0\n"
    data = read_survey(write(tmp_path, "dd.dat", DD + topography))
    np.testing.assert_allclose(
        data.global_electrodes()[:, 1], 10 + 0.5 * (1 + data.global_electrodes()[:, 0])
    )


def test_a_row_with_a_nan_value_is_dropped_and_listed(tmp_path):
    data = read_survey(write(tmp_path, "dd.dat", DD.replace("101.5", "nan") + "0\n"))
    assert data.survey.n_data == 2
    assert [(row.line, row.reason) for row in data.dropped] == [(8, "value is nan")]


# --- refused ----------------------------------------------------------------------------------

WENNER = "Wenner\n1.0\n1\n2\n0\n0\n0 1 100\n1 1 101\n0\n"
TOPO = "2\n2\n0 10\n2 11\n1\n0\n"


@pytest.mark.parametrize(
    "text, where, says",
    [
        (DD.replace("101.5", "10x.5"), "line 8, column 4 (value)", "not a number"),
        (DD.replace("1 1 1 101.5", "1 1 101.5"), "line 8, column 4 (missing)", "row 2 of the 3"),
        (DD.replace("\n3\n0\n", "\n5\n0\n", 1), "line 4, column 1 (number of data", "ends after 3"),
        (DD.replace("\n3\n0\n", "\n2\n0\n", 1), "line 9, column 1: a data row after", "line 4"),
        (DD.replace("0 1 1 100.5", "0 0 1 100.5"), "line 7, column 2 (a)", "positive"),
        (DD.replace("0 1 1 100.5", "0 -1 1 100.5"), "line 7, column 2 (a)", "sign of n"),
        (DD.replace("0 1 1 100.5", "0 1 0 100.5"), "line 7, column 3 (n)", "positive"),
        (
            DD.replace("\n3\n3\n", "\n7\n3\n").replace("0 1 2", "0 1 -2"),
            "line 9, column 3 (n)",
            "positive",
        ),
        (
            DD.replace("\n3\n3\n", "\n6\n3\n").replace("0 1 1 1", "0 1 0 1"),
            "line 7, column 3",
            "not 0",
        ),
        (DD.replace("\n3\n3\n0\n", "\n6\n3\n1\n"), "line 5, column 1 (type of x", "midpoint"),
        (DD.replace("\n3\n0\n", "\n3\n2\n", 1), "line 5, column 1 (type of x-location)", "0 or 1"),
        (DD.replace("\n3\n0\n0\n", "\n3\n0\n2\n"), "line 6, column 1 (IP flag)", "0 or 1"),
        (DD.replace("\n3\n3\n", "\n8\n3\n"), "line 3, column 1 (array type)", "1 to 7"),
        (
            "Pole-pole\n1.0\n2\nRemote electrodes included\n0\n0\n",
            "line 4, column 1 (number of data points)",
            "general array",
        ),
        (
            WENNER.replace("0\n0\n0 1", "0\n0\nError estimate for data present\nType\n1\n0 1")
            .replace(" 100\n", " 100 2\n")
            .replace(" 101\n", " 101 2\n"),
            "line 9, column 1 (type of error estimate)",
            "1=percent",
        ),
        (
            WENNER.replace("0\n0\n0 1", "0\n0\nError estimate for data present\nType\n0\n0 1")
            .replace(" 100\n", " 100 0\n")
            .replace(" 101\n", " 101 2\n"),
            "line 10, column 4 (error)",
            "not positive",
        ),
        (
            WENNER.replace("\n0\n0\n0 1", "\n0\n1\nCharge\nmV/V\n0.1,1\nError estimate\nT\n0\n0 1"),
            "line 10, column 1",
            "IP",
        ),
        (WENNER.replace("1 101\n0\n", "1 101\n1\n2\n0 1\n4 1\n"), "line 9, column 1 (topo", "2)"),
        (WENNER.replace("1 101\n0\n", "1 101\n" + TOPO), "line 7, column 1 (x)", "x = 3 m"),
        (
            WENNER.replace("1 101\n0\n", "1 101\n2\n2\n0 1\n0 2\n"),
            "line 12, column 1 (x)",
            "increase",
        ),
        (
            WENNER.replace("1 101\n0\n", "1 101\n2\n3\n0 1\n9 2\n"),
            "line 10, column 1 (number",
            "3 points",
        ),
        ("Wenner\n1.0\n1\n", "line 3, column 1", "header of 6 lines"),
        (WENNER.replace("\n2\n0\n0\n", "\n-2\n0\n0\n"), "line 4, column 1 (number", "-2"),
        (WENNER.replace("1 101\n0\n", "1 101\n2\n1\n0 1\n"), "line 10, column 1", "2"),
    ],
)
def test_malformed_files_are_refused_naming_line_and_column(tmp_path, text, where, says):
    path = write(tmp_path, "line.dat", text)
    with pytest.raises(DataError) as info:
        read_survey(path, "res2dinv")
    message = str(info.value)
    assert message.startswith(f"{path}, {where}"), message
    assert says in message and "\n" not in message, message


def test_a_line_is_not_read_as_3d(tmp_path):
    with pytest.raises(DataError, match=r"line 1, column 1: a Res2DInv file holds a 2D line"):
        read_survey(write(tmp_path, "dd.dat", DD), "res2dinv", dimension="3d")
