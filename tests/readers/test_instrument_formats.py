"""Instrument and exchange formats read only (R2/R3t protocol.dat, Res2DInv general array,
Syscal Pro and ABEM Terrameter exports): each sample, written by hand as the instrument or
program writes it, reads to the same survey as the same data written in pyGIMLi's format
(electrodes with their origin, A B M N by position, values in V/A, uncertainties); each is
detected from its content, and near misses are refused naming the format."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.readers import FieldData, detect_format, read_survey, to_resistance, write_survey
from hpcinv.readers.formats import format_reasons
from hpcinv.readers.geometric import geometric_factors
from hpcinv.survey import REMOTE

from readers_support import write

# --- samples ----------------------------------------------------------------------------------

R2_PROTOCOL = """5
     1     1     2     3     4       12.345600    0.012300
     2     2     3     4     5        8.123400    0.008100
     3     1     7     3     4        4.567800    0.004600
     4     3     4     5     6       10.000000    0.010000
     5     1     7     2     7        3.141500    0.003100
"""

# ResIPy's elec.csv layout: a label, x y z, buried, remote (electrode 7 the remote pole)
R2_ELECTRODES = """label,x,y,z,buried,remote
1,0.0,0.0,100.0,0,0
2,2.0,0.0,100.12,0,0
3,4.0,0.0,100.25,0,0
4,6.0,0.0,100.31,0,0
5,8.0,0.0,100.2,0,0
6,10.0,0.0,100.05,0,0
7,-500.0,0.0,100.0,0,1
"""

# R3t: a string (borehole) number before each electrode number, two boreholes of 3
R3T_PROTOCOL = """4
1\t1 1\t1 2\t2 1\t2 2\t-51.2742
2\t1 2\t1 3\t2 2\t2 3\t-41.6543
3\t1 1\t2 1\t1 3\t2 3\t-0.0047858
4\t2 1\t2 3\t1 1\t1 2\t2.7590
"""

R3T_ELECTRODES = """label,X,Y,Z,buried
1 1,0,0.21,-0.074,0
1 2,0,0.21,-0.119,1
1 3,0,0.21,-0.164,1
2 1,0.41,0.21,-0.066,0
2 2,0.41,0.25,-0.111,1
2 3,0.41,0.25,-0.156,1
"""

# Res2DInv general array with 4-, 3- (pole-dipole) and 2-electrode (pole-pole) rows, flat
RES2DINV_RHOA = """Line 3, mixed arrays (general array format)
1.0
11
0
Type of measurement (0=app. resistivity,1=resistance)
0
6
1
0
4 0.0 0.0 1.0 0.0 2.0 0.0 3.0 0.0 104.73
4 0.0 0.0 1.0 0.0 3.0 0.0 4.0 0.0 98.21
4 1.0 0.0 2.0 0.0 3.0 0.0 4.0 0.0 101.66
3 0.0 0.0 2.0 0.0 3.0 0.0 110.05
3 5.0 0.0 3.0 0.0 2.0 0.0 95.4
2 1.0 0.0 3.0 0.0 120.5
0
0
0
0
"""

# resistances, comma separated, with elevations and a topography block after the data
RES2DINV_R = """Hillside line (general array, resistance)
2.0
11
0
Type of measurement (0=app. resistivity,1=resistance)
1
4
1
0
4,0.0,100.2,2.0,100.1,4.0,100.1,6.0,99.9,0.52
4,0.0,100.2,2.0,100.1,6.0,99.9,8.0,99.8,0.121
4,2.0,100.1,4.0,100.1,6.0,99.9,8.0,99.8,0.498
3,8.0,99.8,4.0,100.1,2.0,100.1,-0.215
Topography in separate list
2
5
0.0,100.2
2.0,100.1
4.0,100.1
6.0,99.9
8.0,99.8
1
0
0
0
0
"""

SYSCAL_HEADER = (
    ",El-array,Spa.1,Spa.2,Spa.3,Spa.4,Rho ,Dev., M  ,Sp  ,Vp  ,In  ,Time,Stack,Name,Date"
)
SYSCAL_ROWS = [
    ",Dipole Dipole,0.00,5.00,10.00,15.00,103.65,0.2,0.00,-6.4,98.771,512.48,1000,6,L1,"
    "23/01/2019 14:36:37",
    ",Dipole Dipole,5.00,10.00,15.00,20.00,98.12,0.4,0.00,-7.1,93.512,512.19,1000,6,L1,"
    "23/01/2019 14:36:45",
    ",Dipole Dipole,0.00,5.00,15.00,20.00,101.7,1.3,0.00,9.4,24.218,511.77,1000,3,L1,"
    "23/01/2019 14:37:02",
    ",Pole Dipole,10.00,9999999.00,15.00,20.00,-42.60,5.0,0.00,-6.4,1.199,87.52,1000,6,L1,"
    "23/01/2019 14:37:20",
    ",Pole Dipole,0.00,9999999.00,20.00,25.00,-1.05,4.9,0.00,-7.1,0.100,896.15,1000,6,L1,"
    "23/01/2019 14:37:31",
]
SYSCAL = "\n".join([SYSCAL_HEADER, *SYSCAL_ROWS]) + "\n"

# Prosys III, tab separated, 3D positions
SYSCAL_3D = (
    "\t".join(
        [
            "#",
            "xA (m)",
            "yA (m)",
            "zA (m)",
            "xB (m)",
            "yB (m)",
            "zB (m)",
            "xM (m)",
            "yM (m)",
            "zM (m)",
            "xN (m)",
            "yN (m)",
            "zN (m)",
            "Rho (Ohm.m)",
            "Dev. Rho (%)",
            "VMN (mV)",
            "IAB (mA)",
        ]
    )
    + "\n"
    + "1\t0.0\t0.0\t0.0\t2.0\t0.0\t0.0\t0.0\t2.0\t0.0\t2.0\t2.0\t0.0\t55.2\t0.3\t120.44\t250.1\n"
    + "2\t0.0\t0.0\t0.0\t2.0\t2.0\t0.0\t4.0\t0.0\t0.0\t4.0\t2.0\t0.0\t61.9\t0.8\t33.71\t249.7\n"
    + "3\t2.0\t0.0\t0.0\t4.0\t0.0\t0.0\t2.0\t2.0\t0.0\t4.0\t2.0\t0.0\t58.3\t0.5\t-88.02\t250.3\n"
)

ABEM_COLUMNS = (
    "Time MeasID DPID Channel A(x) A(y) A(z) B(x) B(y) B(z) M(x) M(y) M(z) N(x) N(y) N(z) "
    "F(x) F(y) F(z) Note I(mA) Uout(V) U(V) SP(V) R(O) Var(%) Rhoa Cycles Pint Pext(V) "
    "T(°C) Lat Long"
).split()


def abem_row(time, meas, a, b, m, n, current, voltage, var) -> str:
    r = voltage / (current * 1e-3)
    cells = [time, meas, 1, 1, *a, *b, *m, *n, 0, 0, 0, "", current, 99.9, voltage, 0.01]
    cells += [round(r, 6), var, 0.0, 2, 12.17, 12.43, 21.3, 0, 0]
    return "\t".join(str(c) for c in cells)


ABEM = (
    "Project: Hillside\tLS 2\n"
    + "\t".join(ABEM_COLUMNS)
    + "\n"
    + "\n".join(
        [
            abem_row(
                "2016-09-14 07:01:56",
                73,
                (0, 0, 1),
                (5, 0, 1.2),
                (10, 0, 1.3),
                (15, 0, 1.1),
                99.8757,
                0.0920761,
                0.2,
            ),
            abem_row(
                "2016-09-14 07:02:03",
                74,
                (0, 0, 1),
                (5, 0, 1.2),
                (15, 0, 1.1),
                (20, 0, 0.9),
                101.2,
                -0.0361,
                0.7,
            ),
            abem_row(
                "2016-09-14 07:02:11",
                75,
                (5, 0, 1.2),
                (10, 0, 1.3),
                (15, 0, 1.1),
                (20, 0, 0.9),
                98.4,
                0.0894,
                1.5,
            ),
        ]
    )
    + "\n"
)


def r2_dir(tmp_path, protocol=R2_PROTOCOL, electrodes=R2_ELECTRODES, name="electrodes.csv"):
    write(tmp_path, name, electrodes)
    return write(tmp_path, "protocol.dat", protocol)


# --- helpers ----------------------------------------------------------------------------------


def positions(data: FieldData) -> np.ndarray:
    """(n, 4, dim) global positions of A, B, M, N; NaN for a remote pole."""
    electrodes = data.global_electrodes()
    abmn = data.survey.abmn
    out = np.full((*abmn.shape, electrodes.shape[1]), np.nan)
    used = abmn != REMOTE
    out[used] = electrodes[abmn[used]]
    return out


def assert_equals_gimli(data: FieldData, tmp_path) -> FieldData:
    """Write ``data`` in pyGIMLi's format, read it back, compare; returns the copy."""
    path = tmp_path / "same.ohm"
    write_survey(data, path, "pygimli")
    back = read_survey(path)
    assert back.format == "pygimli" and back.data_type == data.data_type
    np.testing.assert_array_equal(back.global_electrodes(), data.global_electrodes())
    np.testing.assert_array_equal(back.origin, data.origin)
    np.testing.assert_array_equal(positions(back), positions(data))
    mine, theirs = to_resistance(data), to_resistance(back)
    np.testing.assert_allclose(theirs.dobs, mine.dobs, rtol=1e-13)
    if data.survey.uncertainty is None:
        assert back.survey.uncertainty is None
    else:
        np.testing.assert_allclose(theirs.uncertainty, mine.uncertainty, rtol=1e-13)
    return back


def refusal(path) -> dict[str, str]:
    """The refusal's reason per format tried (auto detection), as ``hpcinv data --why``
    lists them; the refusal itself is one line giving the most likely format's reason."""
    with pytest.raises(DataError) as info:
        detect_format(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not read as ") and "\n" not in message, message
    return format_reasons(path)


# --- R2 / R3t protocol.dat --------------------------------------------------------------------


@pytest.mark.parametrize("companion", ["electrodes.csv", "electrodes.txt", "elec.csv"])
def test_r2_protocol_reads_positions_from_its_companion(tmp_path, companion):
    data = read_survey(r2_dir(tmp_path, name=companion))
    assert (data.format, data.data_type, data.dim) == ("r2-protocol", "resistance", 2)
    np.testing.assert_array_equal(
        data.global_electrodes(),
        [[0.0, 100.0], [2.0, 100.12], [4.0, 100.25], [6.0, 100.31], [8.0, 100.2], [10.0, 100.05]],
    )
    np.testing.assert_array_equal(
        data.survey.abmn,
        [[0, 1, 2, 3], [1, 2, 3, 4], [0, REMOTE, 2, 3], [2, 3, 4, 5], [0, REMOTE, 1, REMOTE]],
    )
    np.testing.assert_array_equal(data.survey.dobs, [12.3456, 8.1234, 4.5678, 10.0, 3.1415])
    np.testing.assert_array_equal(data.survey.uncertainty, [0.0123, 0.0081, 0.0046, 0.01, 0.0031])
    np.testing.assert_array_equal(data.data_lines, [2, 3, 4, 5, 6])
    assert_equals_gimli(data, tmp_path)


def test_r2_protocol_with_a_plain_companion_and_no_error_column(tmp_path):
    protocol = "3\n1 1 2 3 4 0.5\n2 2 3 4 5 0.25\n3 1 2 4 5 0.125\n"
    data = read_survey(r2_dir(tmp_path, protocol, "0 0\n1 0\n2 0\n3 0\n4 0\n"))
    assert data.survey.uncertainty is None and data.dim == 2
    assert_equals_gimli(data, tmp_path)


def test_r3t_protocol_with_strings_reads_as_3d(tmp_path):
    path = r2_dir(tmp_path, R3T_PROTOCOL, R3T_ELECTRODES, "elec.csv")
    data = read_survey(path)
    assert (data.format, data.dim) == ("r2-protocol", 3)
    np.testing.assert_array_equal(
        data.survey.abmn, [[0, 1, 3, 4], [1, 2, 4, 5], [0, 3, 2, 5], [3, 5, 0, 1]]
    )
    np.testing.assert_array_equal(data.global_electrodes()[4], [0.41, 0.25, -0.111])
    assert_equals_gimli(data, tmp_path)


def test_r2_protocol_without_positions_names_the_file_to_create(tmp_path):
    path = write(tmp_path, "protocol.dat", R2_PROTOCOL)
    assert detect_format(path) == "r2-protocol"
    with pytest.raises(DataError) as info:
        read_survey(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line 1, column 1: a protocol.dat holds electrode")
    assert str(tmp_path / "electrodes.csv") in message


def test_r2_protocol_electrode_missing_from_the_companion(tmp_path):
    electrodes = "\n".join(R2_ELECTRODES.splitlines()[:6]) + "\n"  # no electrode 6, 7
    with pytest.raises(DataError, match=r"line 4, column 3 \(b\): electrode 7 is not in "):
        read_survey(r2_dir(tmp_path, electrodes=electrodes))


def test_r2_protocol_remote_current_electrode_is_an_error(tmp_path):
    protocol = R2_PROTOCOL.replace("     3     1     7", "     3     7     1")
    with pytest.raises(DataError, match=r"line 4, column 2 \(a\): electrode 7 is remote"):
        read_survey(r2_dir(tmp_path, protocol))


def _with_seventh_column(values) -> str:
    rows = R2_PROTOCOL.splitlines()
    return (
        "\n".join(
            [rows[0]] + [" ".join(r.split()[:6]) + f" {v:.6f}" for r, v in zip(rows[1:], values)]
        )
        + "\n"
    )


def test_r2_protocol_count_line_may_carry_text_as_r2_reads_it(tmp_path):
    protocol = R2_PROTOCOL.replace("5\n", "5   (removed low-quality data)\n", 1)
    data = read_survey(r2_dir(tmp_path, protocol))
    assert data.format == "r2-protocol" and data.survey.n_data == 5
    with pytest.raises(DataError, match=r"line 1, column 1 \(number of measurements\)"):
        read_survey(r2_dir(tmp_path, R2_PROTOCOL.replace("5\n", "5 2\n", 1)))


def test_r2_companion_with_a_quoted_header_and_cells(tmp_path):
    lines = R2_ELECTRODES.splitlines()
    quoted = [",".join(f'"{c}"' for c in line.split(",")) for line in lines]
    data = read_survey(r2_dir(tmp_path, electrodes="\n".join(quoted) + "\n"))
    np.testing.assert_array_equal(data.global_electrodes()[1], [2.0, 100.12])
    assert data.survey.n_data == 5


def test_r2_forward_output_is_refused_not_read_as_uncertainty(tmp_path):
    """R2_forward.dat's 7th column is the apparent resistivity: R x the geometric factor."""
    good = read_survey(r2_dir(tmp_path))  # the protocol with a real err column reads
    electrodes, abmn = good.global_electrodes(), good.survey.abmn
    rho_a = np.abs(geometric_factors(electrodes, abmn) * good.survey.dobs) * 1.01
    with pytest.raises(DataError) as info:
        read_survey(r2_dir(tmp_path, _with_seventh_column(rho_a)))
    message = str(info.value)
    assert "column 7" in message and "R2_forward.dat" in message and "apparent" in message


def test_r2_phase_or_oversized_column_is_refused_not_read_as_uncertainty(tmp_path):
    phase = [-3.2, -1.1, 0.0, -2.5, -0.7]  # cR2 writes mrad here
    with pytest.raises(DataError, match=r"line 2, column 7: -3.2 is no standard deviation.*cR2"):
        read_survey(r2_dir(tmp_path, _with_seventh_column(phase)))
    big = [50.0, 40.0, 30.0, 1.0, 20.0]  # larger than R on 4 of 5 rows, no geometric pattern
    with pytest.raises(DataError, match=r"column 7: larger than \|R\| on 4 of 5 rows"):
        read_survey(r2_dir(tmp_path, _with_seventh_column(big)))


# --- Res2DInv ---------------------------------------------------------------------------------


def test_res2dinv_apparent_resistivity_with_poles(tmp_path):
    data = read_survey(write(tmp_path, "line3.dat", RES2DINV_RHOA))
    assert (data.format, data.data_type, data.dim) == ("res2dinv", "apparent_resistivity", 2)
    np.testing.assert_array_equal(data.global_electrodes()[:, 0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(
        data.survey.abmn[3:], [[0, REMOTE, 2, 3], [5, REMOTE, 3, 2], [1, REMOTE, 3, REMOTE]]
    )
    np.testing.assert_array_equal(data.survey.dobs[-1], 120.5)
    assert data.survey.uncertainty is None
    assert_equals_gimli(data, tmp_path)
    # the pole-pole row's resistance: rho_a / (2 pi AM)
    assert to_resistance(data).dobs[-1] == pytest.approx(120.5 / (2 * np.pi * 2.0))


def test_res2dinv_resistance_with_topography_block(tmp_path):
    data = read_survey(write(tmp_path, "hill.dat", RES2DINV_R))
    assert (data.data_type, data.survey.n_data) == ("resistance", 4)
    np.testing.assert_array_equal(data.global_electrodes()[0], [0.0, 100.2])
    assert any("lines after the data" in note for note in data.notes)
    assert_equals_gimli(data, tmp_path)


def test_res2dinv_index_based_array_is_read(tmp_path):
    """Index-based arrays are read since issue 25 (tests/readers/test_res2dinv_arrays.py)."""
    text = "Wenner line\n1.0\n1\n3\n1\n0\n1.5 1.0 100.2\n2.5 1.0 101.3\n3.5 1.0 99.1\n0\n0\n"
    data = read_survey(write(tmp_path, "wenner.dat", text))
    assert (data.format, data.data_type) == ("res2dinv", "apparent_resistivity")
    np.testing.assert_array_equal(data.survey.dobs, [100.2, 101.3, 99.1])
    np.testing.assert_array_equal(data.global_electrodes()[:, 0], [0, 3, 1, 2, 4, 5])


def test_res2dinv_with_error_estimates_is_refused(tmp_path):
    lines = RES2DINV_RHOA.splitlines()
    lines.insert(9, "Error estimate for data present")
    path = write(tmp_path, "err.dat", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match="error estimates .* not read"):
        read_survey(path, "res2dinv")


# --- Syscal -----------------------------------------------------------------------------------


def test_syscal_values_are_vp_over_in(tmp_path):
    data = read_survey(write(tmp_path, "syscal.csv", SYSCAL))
    assert (data.format, data.data_type, data.dim) == ("syscal", "resistance", 2)
    vp = np.array([98.771, 93.512, 24.218, 1.199, 0.100])
    current = np.array([512.48, 512.19, 511.77, 87.52, 896.15])
    np.testing.assert_array_equal(data.survey.dobs, vp / current)
    dev = np.array([0.2, 0.4, 1.3, 5.0, 4.9])
    np.testing.assert_array_equal(data.survey.uncertainty, dev / 100 * np.abs(vp / current))
    np.testing.assert_array_equal(data.global_electrodes()[:, 0], [0, 5, 10, 15, 20, 25])
    np.testing.assert_array_equal(data.survey.abmn[3:], [[2, REMOTE, 3, 4], [0, REMOTE, 4, 5]])
    assert_equals_gimli(data, tmp_path)


def test_syscal_prosys3_3d_tab_separated(tmp_path):
    data = read_survey(write(tmp_path, "grid.txt", SYSCAL_3D))
    assert (data.format, data.dim) == ("syscal", 3)
    np.testing.assert_array_equal(data.survey.dobs[2], -88.02 / 250.3)
    assert_equals_gimli(data, tmp_path)


def test_syscal_with_a_zero_deviation_has_no_uncertainty(tmp_path):
    text = SYSCAL.replace(",103.65,0.2,", ",103.65,0.0,")
    data = read_survey(write(tmp_path, "syscal.csv", text))
    assert data.survey.uncertainty is None
    assert any("Dev <= 0" in note for note in data.notes)


# --- ABEM -------------------------------------------------------------------------------------


def test_abem_terrameter_export(tmp_path):
    data = read_survey(write(tmp_path, "hill.txt", ABEM))
    assert (data.format, data.data_type, data.dim) == ("abem", "resistance", 2)
    np.testing.assert_array_equal(data.survey.dobs[0], 0.0920761 / (99.8757 * 1e-3))
    np.testing.assert_allclose(data.survey.uncertainty[2], 0.015 * 0.0894 / 0.0984)
    np.testing.assert_array_equal(data.global_electrodes()[1], [5.0, 1.2])
    assert data.data_lines[0] == 3
    assert_equals_gimli(data, tmp_path)


# --- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, text",
    [
        ("r2-protocol", R2_PROTOCOL),
        ("r2-protocol", R3T_PROTOCOL),
        ("res2dinv", RES2DINV_RHOA),
        ("res2dinv", RES2DINV_R),
        ("syscal", SYSCAL),
        ("syscal", SYSCAL_3D),
        ("abem", ABEM),
    ],
)
def test_each_format_is_detected_from_a_neutral_suffix(tmp_path, fmt, text):
    write(tmp_path, "electrodes.csv", R3T_ELECTRODES if text == R3T_PROTOCOL else R2_ELECTRODES)
    path = write(tmp_path, "survey.txt", text)
    assert detect_format(path) == fmt
    assert read_survey(path).format == fmt


@pytest.mark.parametrize(
    "name, text, fmt, reason",
    [
        (
            "protocol.dat",
            R2_PROTOCOL.replace("5\n", "6\n", 1),
            "r2-protocol",
            "line 1, column 1 (number of measurements): promises 6 measurements but the "
            "file has 5 rows",
        ),
        (
            "protocol.dat",
            R2_PROTOCOL.replace("5\n", "4\n", 1),
            "r2-protocol",
            "line 6, column 1: a row after the 4 measurements promised on line 1",
        ),
        (
            "line3.dat",
            RES2DINV_RHOA.replace("\n6\n", "\n7\n", 1),
            "res2dinv",
            "line 16, column 1 (number of electrodes): '0' is not a data row",
        ),
        (
            "line3.dat",
            RES2DINV_RHOA.replace("\n6\n", "\n5\n", 1),
            "res2dinv",
            "line 15, column 1: a data row after the 5 data points promised on line 7",
        ),
        (
            "syscal.csv",
            SYSCAL.replace("Vp  ,", "V   ,", 1),
            "syscal",
            "line 1, column 17 (header): no Vp (potential, mV) column",
        ),
        (
            "syscal.txt",
            SYSCAL.replace("In  ,", "I   ,", 1),
            "syscal",
            "line 1, column 17 (header): no In (current, mA) column",
        ),
        (
            "hill.txt",
            ABEM.replace("U(V)", "Ux").replace("R(O)", "Rx"),
            "abem",
            "line 2, column 34 (header): no U(V) column and no R(O) column",
        ),
    ],
)
def test_near_misses_are_refused_naming_the_format(tmp_path, name, text, fmt, reason):
    path = write(tmp_path, name, text)
    reasons = refusal(path)
    assert reasons[fmt].startswith(reason), reasons[fmt]
    with pytest.raises(DataError, match=re.escape(reason)):
        read_survey(path, fmt)  # forced: the reader's own check


def test_a_protocol_is_still_no_ubc_file(tmp_path):
    path = write(tmp_path, "protocol.dat", R2_PROTOCOL)
    for fmt in ("ubc-2d", "ubc-3d"):
        with pytest.raises(DataError, match="protocol.dat"):
            read_survey(path, fmt)


def test_instrument_formats_are_not_written(tmp_path):
    data = read_survey(write(tmp_path, "syscal.csv", SYSCAL))
    with pytest.raises(DataError, match="reads syscal files but does not write them"):
        write_survey(data, tmp_path / "out.csv", "syscal")


@pytest.mark.parametrize(
    "name, text, where",
    [
        ("syscal.csv", SYSCAL.replace(",93.512,", ",9x.512,"), r"line 3, column 11 \(Vp\)"),
        (
            "line3.dat",
            RES2DINV_RHOA.replace("4 1.0 0.0 2.0", "4 1.0 0.0 2.O"),
            r"line 12, column 4",
        ),
        ("hill.txt", ABEM.replace("\t101.2\t", "\t\t"), r"line 4, column 21 \(I\(mA\)\)"),
        ("protocol.dat", R2_PROTOCOL.replace("8.123400", "8.12;400"), r"line 3, column 6 \(R\)"),
    ],
)
def test_bad_cells_name_the_line_and_column(tmp_path, name, text, where):
    write(tmp_path, "electrodes.csv", R2_ELECTRODES)
    path = write(tmp_path, name, text)
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}, {where}.*not a number"):
        read_survey(
            path, {"s": "syscal", "l": "res2dinv", "h": "abem", "p": "r2-protocol"}[name[0]]
        )
