"""Format detection is positive: a file is read as a format only when its content has that
format's structure; anything else is refused with one line naming the file, every format
tried with why it was rejected, and what to do. Foreign files that once slipped through (a
ResIPy/R2 protocol.dat read as UBC DCIP2D "simple": indices as positions, resistances as
uncertainties) are now read as what they are (a protocol with its companion positions file,
a Res2DInv general array), never as UBC, also when a UBC format is forced."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hpcinv.cli import main
from hpcinv.errors import DataError
from hpcinv.readers import detect_format, read_survey, write_survey
from hpcinv.readers.csv_format import check_csv
from hpcinv.readers.formats import format_reasons
from hpcinv.readers.gimli import check_gimli
from hpcinv.readers.ubc import check_ubc
from hpcinv.survey import REMOTE, Survey

from readers_support import CENTURY_2D, CENTURY_3D, write

TRIED = (
    "ubc-2d",
    "ubc-3d",
    "pygimli",
    "csv",
    "r2-protocol",
    "res2dinv",
    "syscal",
    "abem",
    "supersting",
)


def refusal(path, expected: str) -> dict[str, str]:
    """Read ``path`` (auto); check that the refusal is one short line of printable text
    naming the file and giving ``expected``'s reason first, then where to see the others;
    return every format's reason (``format_reasons``, as ``hpcinv data --why`` lists them)."""
    with pytest.raises(DataError) as info:
        read_survey(path)
    message = str(info.value)
    reasons = format_reasons(path)
    assert sorted(reasons) == sorted(TRIED) and None not in reasons.values()
    head = f"{path}: not read as {expected} ({reasons[expected]}); other formats: "
    assert message == head + f"hpcinv data {path} --why", message
    assert message.isprintable()  # one line, nothing quoted raw
    assert len(message) - len(reasons[expected]) - 2 * len(str(path)) < 100
    assert next(iter(reasons)) == expected  # --why lists the same format first
    with pytest.raises(DataError) as again:
        detect_format(path)
    assert str(again.value) == message
    return reasons


# --- foreign files ----------------------------------------------------------------------------


def r2_protocol(n_electrodes=12, error_column=False, count_line=True) -> str:
    """An R2 (ResIPy) 2D protocol.dat: N, then ``index a b m n R [err]`` for a dipole-dipole
    line, right-aligned as R2 writes it; resistances all positive, so that nothing but the
    structure can give it away."""
    rows = []
    for a in range(1, n_electrodes - 2):
        for level in (1, 2):
            m = a + 1 + level
            if m + 1 <= n_electrodes:
                rows.append((a, a + 1, m, m + 1))
    out = [f"{len(rows)}"] if count_line else []
    for i, (a, b, m, n) in enumerate(rows, start=1):
        r = 12.5 / (i + 0.5)
        extra = f" {0.02 * r + 0.001:10.6f}" if error_column else ""
        out.append(f"{i:6d} {a:5d} {b:5d} {m:5d} {n:5d} {r:14.6f}{extra}")
    return "\n".join(out) + "\n"


def r3t_protocol() -> str:
    """An R3t 3D protocol.dat: ``index sa a sb b sm m sn n R``, string (line) numbers before
    each electrode number."""
    rows = [
        (1, 1, 1, 2, 1, 3, 1, 4),
        (1, 1, 1, 2, 2, 1, 2, 2),
        (1, 2, 1, 3, 2, 3, 2, 4),
        (2, 1, 2, 2, 1, 1, 1, 2),
        (2, 2, 2, 3, 1, 3, 1, 4),
    ]
    out = [str(len(rows))]
    for i, row in enumerate(rows, start=1):
        out.append(f"{i} " + " ".join(map(str, row)) + f" {3.7 / i:.6f}")
    return "\n".join(out) + "\n"


RESIPY_CSV = """a,b,m,n,resist,recipMean,recipError,ip,irecip,reciprocalErrRel
1,2,3,4,12.3456,12.3401,0.0110,0.0,1,0.000891
1,2,4,5,4.1180,4.1207,-0.0054,0.0,2,0.001311
2,3,4,5,12.2870,12.2911,-0.0082,0.0,3,0.000667
2,3,5,6,4.0954,,,0.0,0,
"""

RES2DINV_GENERAL = """Mixed array, line 3 (general array, with elevations)
1.0
11
0
Type of measurement (0=app. resistivity,1=resistance)
0
4
2
0
4 0.0 100.2 1.0 100.1 2.0 100.1 3.0 99.9 104.73
4 0.0 100.2 1.0 100.1 3.0 99.9 4.0 99.8 98.21
4 1.0 100.1 2.0 100.1 3.0 99.9 4.0 99.8 101.66
4 0.0 100.2 3.0 99.9 1.0 100.1 2.0 100.1 110.05
0
0
0
0
"""

UBC_3D = """! DCIP3D general, potentials per ampere
0 0 0 10 0 0 2
20 0 0 30 0 0 0.5 0.01
30 0 0 40 0 0 0.25 0.01

10 0 0 20 0 0 2
30 0 0 40 0 0 0.1 0.01
40 0 0 50 0 0 0.05 0.01
"""


@pytest.mark.parametrize("variant", ["plain", "error column"])
def test_r2_protocol_is_read_as_a_protocol_never_as_ubc(tmp_path, variant):
    path = write(tmp_path, "protocol.dat", r2_protocol(error_column=variant == "error column"))
    assert detect_format(path) == "r2-protocol"
    with pytest.raises(DataError, match=r"protocol\.dat, line [12], column 1"):
        check_ubc(path, 2)
    with pytest.raises(DataError, match="line 2 is not a '# x y z' sensor header"):
        check_gimli(path)
    with pytest.raises(DataError, match="no header with a_x"):
        check_csv(path)
    # the positions are not in the protocol: without its companion file it is not read ...
    with pytest.raises(DataError, match=r"protocol\.dat, line 1, column 1: a protocol\.dat holds"):
        read_survey(path)
    # ... with it, the indices are electrode numbers and the values resistances
    write(tmp_path, "electrodes.csv", "".join(f"{2.0 * k} 0\n" for k in range(12)))
    data = read_survey(path)
    assert (data.format, data.data_type, data.survey.n_data) == ("r2-protocol", "resistance", 17)
    np.testing.assert_array_equal(data.global_electrodes()[data.survey.abmn[0], 0], [0, 2, 4, 6])
    assert (data.survey.uncertainty is not None) == (variant == "error column")


def test_r2_protocol_without_its_count_line_is_refused(tmp_path):
    reasons = refusal(write(tmp_path, "protocol.dat", r2_protocol(count_line=False)), "r2-protocol")
    assert "column 1 counts 1, 2, 3" in reasons["ubc-2d"]
    assert "protocol.dat" in reasons["ubc-2d"]
    assert "no sensor-count line" in reasons["pygimli"]
    assert reasons["r2-protocol"].startswith("line 1, column 1 (number of measurements): no ")


@pytest.mark.parametrize("count_line", [True, False])
@pytest.mark.parametrize("fmt", ["ubc-2d", "ubc-3d"])
def test_forcing_a_ubc_format_does_not_misread_a_protocol(tmp_path, fmt, count_line):
    path = write(tmp_path, "protocol.dat", r2_protocol(count_line=count_line))
    with pytest.raises(DataError, match=r"protocol\.dat, line [12], column 1"):
        read_survey(path, fmt)
    with pytest.raises(DataError, match="protocol.dat"):
        read_survey(path, dimension="2d")


def test_r3t_protocol_is_read_as_a_protocol(tmp_path):
    path = write(tmp_path, "protocol.dat", r3t_protocol())
    for dim in (2, 3):
        with pytest.raises(DataError, match="the first data line has 10 fields"):
            check_ubc(path, dim)
    assert detect_format(path) == "r2-protocol"
    labels = [(s, e) for s in (1, 2) for e in (1, 2, 3, 4)]
    write(
        tmp_path,
        "elec.csv",
        "label,x,y,z\n" + "".join(f"{s} {e},{e - 1.0},{2.0 * s},0\n" for s, e in labels),
    )
    data = read_survey(path)
    assert (data.format, data.dim, data.survey.n_data) == ("r2-protocol", 3, 5)
    np.testing.assert_array_equal(
        data.global_electrodes()[data.survey.abmn[1]][:, :2], [[0, 2], [1, 2], [0, 4], [1, 4]]
    )


@pytest.mark.parametrize("name", ["survey.csv", "survey_export.txt"])
def test_resipy_csv_export_is_refused(tmp_path, name):
    reasons = refusal(write(tmp_path, name, RESIPY_CSV), "csv")
    assert reasons["csv"].startswith("line 1, column 1 (header): no header with a_x")
    assert "a second line of text" in reasons["ubc-2d"]
    assert "no sensor-count line" in reasons["pygimli"]


def test_res2dinv_general_array_is_read(tmp_path):
    path = write(tmp_path, "line3.dat", RES2DINV_GENERAL)
    with pytest.raises(DataError, match="line 3, column 1: the first data line has 1 field;"):
        check_ubc(path, 2)
    with pytest.raises(DataError, match="no sensor-count line: line 1 is 'Mixed array"):
        check_gimli(path)
    data = read_survey(path)
    assert (data.format, data.data_type, data.survey.n_data) == (
        "res2dinv",
        "apparent_resistivity",
        4,
    )
    np.testing.assert_array_equal(data.survey.dobs, [104.73, 98.21, 101.66, 110.05])
    np.testing.assert_array_equal(data.global_electrodes()[0], [0.0, 100.2])


@pytest.mark.parametrize(
    "line, new, reason",
    [
        # a source promising more receivers than follow it: the next source line comes first ...
        (
            2,
            "0 0 0 10 0 0 3",
            "line 2, column 7 (n): the source promises 3 receiver lines but "
            "line 6 looks like the next source line after 2",
        ),
        # ... or the end of the file
        (
            6,
            "10 0 0 20 0 0 4",
            "line 6, column 7 (n): the source promises 4 receiver lines but the file ends after 2",
        ),
    ],
)
def test_ubc_with_a_wrong_receiver_count_is_refused(tmp_path, line, new, reason):
    lines = UBC_3D.splitlines()
    lines[line - 1] = new
    path = write(tmp_path, "obs.dat", "\n".join(lines) + "\n")
    assert refusal(path, "ubc-3d")["ubc-3d"].startswith(reason)
    with pytest.raises(DataError, match=re.escape(reason)):
        read_survey(path, "ubc-3d")  # forced: the reader's own check


def test_ubc_with_a_wrong_legacy_count_is_refused(tmp_path):
    survey = Survey(
        [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]],
        [[0, 1, 2, 3], [1, 0, 2, 3], [0, 1, 3, 2]],
        [0.5, 0.25, 0.4],
        [0.01] * 3,
    )
    path = tmp_path / "obs.dat"
    write_survey(survey, path, "ubc-2d")
    text = path.read_text().replace("\n3\n", "\n4\n", 1)  # the COMMON_CURRENT source count
    assert "\n4\n" in text
    reasons = refusal(write(tmp_path, "obs.dat", text), "ubc-2d")
    assert re.match(
        r"line 3, column 1 \(number of sources\): the header says 4 but the file "
        r"has 3 source blocks",
        reasons["ubc-2d"],
    )


def test_century_cut_after_its_first_block_is_refused(tmp_path):
    lines = CENTURY_3D.read_text().splitlines()
    reasons = refusal(write(tmp_path, "cut.dat", "\n".join(lines[:13]) + "\n"), "ubc-3d")
    assert re.match(
        r"line 3, column 1 \(number of sources\): the header says 141 but the file "
        r"has 1 source blocks",
        reasons["ubc-3d"],
    )


def gimli_text(tmp_path, dim=2) -> str:
    survey = Survey(
        np.array([[0.0, 0.0], [5.0, 0.2], [10.0, 0.3], [15.0, 0.1]])
        if dim == 2
        else np.array([[0.0, 0.0, 0.0], [5.0, 1.0, 0.2], [10.0, 0.0, 0.3], [15.0, 2.0, 0.1]]),
        [[0, 1, 2, 3], [0, REMOTE, 2, 3], [1, 2, 3, REMOTE]],
        [0.5, 0.4, 0.3],
        [0.01, 0.02, 0.03],
    )
    path = tmp_path / "full.dat"
    write_survey(survey, path, "pygimli")
    return path.read_text()


@pytest.mark.parametrize("name", ["survey.dat", "survey.ohm"])
@pytest.mark.parametrize(
    "keep, reason",
    [
        # cut in the data rows, after the sensors, in the sensor rows
        (-1, "line 7, column 1 (number of data): promises 3 data rows but the file ends after 2"),
        (6, "line 6, column 1 (number of data): no data block"),
        (
            4,
            "line 1, column 1 (number of sensors): promises 4 sensors rows but the file ends "
            "after 2",
        ),
    ],
)
def test_truncated_pygimli_is_refused(tmp_path, name, keep, reason):
    text = "\n".join(gimli_text(tmp_path).splitlines()[:keep]) + "\n"
    reasons = refusal(write(tmp_path, name, text), "pygimli")
    assert reasons["pygimli"].startswith(reason), reasons["pygimli"]


def test_pygimli_without_electrode_columns_is_refused(tmp_path):
    text = gimli_text(tmp_path).replace("# a b m n", "# c1 c2 p1 p2")
    reasons = refusal(write(tmp_path, "survey.ohm", text), "pygimli")
    assert reasons["pygimli"].startswith(
        "line 8, column 1 (header): the data header names no a b m n column"
    )


@pytest.mark.parametrize("name", ["survey.dat", "survey.ohm", "survey.txt"])
def test_pygimli_read_at_once_gives_what_detection_then_reading_gives(tmp_path, name):
    # read_survey reads a likely pyGIMLi file with its reader at once (parsed once, not twice)
    path = write(tmp_path, name, gimli_text(tmp_path, dim=3))
    assert detect_format(path) == "pygimli"
    auto, forced = read_survey(path), read_survey(path, "pygimli")
    np.testing.assert_array_equal(auto.survey.abmn, forced.survey.abmn)
    assert auto.notes == forced.notes
    # a value the reader refuses: its own message, as after detection
    bad = write(tmp_path, name, gimli_text(tmp_path).replace("\n1 2 3 4 ", "\n1 2 3 9 ", 1))
    with pytest.raises(DataError, match=r"line 9, column 4 \(n\): electrode index 9 is out"):
        read_survey(bad)


def test_an_empty_file_is_one_line(tmp_path):
    path = write(tmp_path, "empty.dat", "\n  \n")
    with pytest.raises(DataError, match=r"empty\.dat, line 1, column 1: the file is empty"):
        read_survey(path)


# --- positive controls ------------------------------------------------------------------------


def small_survey(dim: int) -> Survey:
    electrodes = np.array(
        [[0.0, 0.0, 0.0], [10.0, 1.0, 0.5], [20.0, 0.0, 0.25], [30.0, 2.0, 0.0], [40.0, 1.0, -0.5]]
    )
    electrodes = electrodes[:, [0, 2]] if dim == 2 else electrodes
    abmn = [[0, 1, 2, 3], [0, 1, 3, 4], [1, 2, 3, 4], [0, REMOTE, 2, 3], [2, 3, 4, REMOTE]]
    dobs = np.array([0.0123, -0.0045, 0.0071, 0.25, 0.031])
    return Survey(electrodes, abmn, dobs, 0.05 * np.abs(dobs))


@pytest.mark.parametrize("suffix", [".txt", ".dat", ".obs"])
@pytest.mark.parametrize(
    "dim, fmt",
    [(2, "ubc-2d"), (3, "ubc-3d"), (2, "pygimli"), (3, "pygimli"), (2, "csv"), (3, "csv")],
)
def test_each_written_format_is_detected_as_itself(tmp_path, dim, fmt, suffix):
    survey = small_survey(dim)
    path = tmp_path / f"survey{suffix}"
    write_survey(survey, path, fmt)
    assert detect_format(path) == ("ubc" if fmt.startswith("ubc") else fmt)
    data = read_survey(path)
    assert (data.format, data.dim) == (fmt, dim)
    np.testing.assert_array_equal(data.survey.dobs, survey.dobs)


@pytest.mark.parametrize("fmt, suffix", [("pygimli", ".ohm"), ("pygimli", ".shm"), ("csv", ".csv")])
def test_formats_named_by_their_suffix_are_detected(tmp_path, fmt, suffix):
    path = tmp_path / f"survey{suffix}"
    write_survey(small_survey(3), path, fmt)
    assert detect_format(path) == fmt and read_survey(path).format == fmt


@pytest.mark.parametrize("path, fmt", [(CENTURY_3D, "ubc-3d"), (CENTURY_2D, "ubc-2d")])
def test_century_layouts_are_detected(path, fmt):
    assert detect_format(path) == "ubc"
    assert read_survey(path).format == fmt


@pytest.mark.parametrize("layout", ["simple", "surface", "general"])
def test_simpeg_dcip2d_layouts_are_detected(tmp_path, layout):
    from simpeg.data import Data
    from simpeg.electromagnetics.static.utils import generate_survey_from_abmn_locations
    from simpeg.utils.io_utils import write_dcip2d_ubc

    flat = np.zeros(4)
    survey = generate_survey_from_abmn_locations(
        locations_a=np.c_[[0, 0, 10, 10], flat],
        locations_b=np.c_[[10, 10, 20, 20], flat],
        locations_m=np.c_[[20, 30, 30, 40], flat],
        locations_n=np.c_[[30, 40, 40, 50], flat],
        data_type="volt",
    )
    data = Data(survey, dobs=np.array([0.5, 0.25, 0.4, 0.2]), standard_deviation=np.full(4, 0.01))
    path = tmp_path / f"{layout}.obs"
    write_dcip2d_ubc(str(path), data, "volt", "dobs", format_type=layout)
    assert detect_format(path) == "ubc"
    read = read_survey(path)
    assert read.format == "ubc-2d" and f"UBC DCIP2D {layout} format" in read.notes
    np.testing.assert_array_equal(np.sort(read.survey.dobs), [0.2, 0.25, 0.4, 0.5])


@pytest.mark.parametrize("layout", ["general", "surface"])
def test_simpeg_dcip3d_layouts_are_detected(tmp_path, layout):
    from simpeg.data import Data
    from simpeg.electromagnetics.static.utils import generate_survey_from_abmn_locations
    from simpeg.utils.io_utils import write_dcip3d_ubc

    z = np.zeros(4)
    survey = generate_survey_from_abmn_locations(
        locations_a=np.c_[[0, 0, 10, 10], z, z],
        locations_b=np.c_[[10, 10, 20, 20], z, z],
        locations_m=np.c_[[20, 30, 30, 40], z + 5, z],
        locations_n=np.c_[[30, 40, 40, 50], z + 5, z],
        data_type="volt",
    )
    data = Data(survey, dobs=np.array([0.5, 0.25, 0.4, 0.2]), standard_deviation=np.full(4, 0.01))
    path = tmp_path / f"{layout}.obs"
    write_dcip3d_ubc(
        str(path), data, "volt", "dobs", format_type=layout, comment_lines="Century-style comment\n"
    )
    assert detect_format(path) == "ubc"
    # the 3D surface layout's 5-field source lines are also DCIP2D general: say which
    read = read_survey(path, dimension="3d" if layout == "surface" else "auto")
    assert read.format == "ubc-3d" and f"UBC DCIP3D {layout} format" in read.notes


def test_a_simple_file_whose_first_column_counts_is_still_read(tmp_path):
    # xA = 1, 2, 3 alone is no index column: the values are no whole numbers
    path = write(
        tmp_path,
        "simple.obs",
        "! simple FORMAT\n1 5 9 13 0.0125 0.001\n2 6 10 14 0.0081 0.001\n3 7 11 15 0.0042 0.001\n",
    )
    assert read_survey(path).survey.n_data == 3


# --- through the command line -----------------------------------------------------------------


def test_hpcinv_data_refuses_a_protocol_with_exit_2_and_one_line(tmp_path, capsys):
    path = write(tmp_path, "protocol.dat", r2_protocol(count_line=False))
    assert main(["data", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hpcinv: error: {path}: not read as r2-protocol (line 1, ")
    assert lines[0].endswith(f"other formats: hpcinv data {path} --why")
    # with its count line it is a protocol, whose positions are in a companion file
    write(tmp_path, "protocol.dat", r2_protocol())
    assert main(["data", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert str(tmp_path / "electrodes.csv") in err


def test_why_lists_every_format_most_likely_first(tmp_path, capsys):
    path = write(tmp_path, "protocol.dat", r2_protocol(count_line=False))
    assert main(["data", str(path), "--why"]) == 2
    out, err = capsys.readouterr()
    head, *tried, advice = out.strip().splitlines()
    n = len(TRIED)
    assert head == (
        f"{path}: not read by any of the {n} formats; why each refused, most likely first:"
    )
    assert [line.split(":")[0].strip() for line in tried] == list(format_reasons(path))
    assert sorted(line.split(":")[0].strip() for line in tried) == sorted(TRIED)
    assert tried[0].startswith("  r2-protocol: line 1, column 1 (number of measurements)")
    assert advice.endswith(
        "convert it to one of: ubc-2d, ubc-3d, pygimli, csv (see README, Field data)"
    )


def test_why_names_the_format_that_reads_the_file_and_those_that_refused(capsys):
    assert main(["data", str(CENTURY_3D), "--why"]) == 0
    head, *others = capsys.readouterr().out.strip().splitlines()
    assert head == f"{CENTURY_3D}: read as ubc-3d; the other formats:"
    assert sorted(line.split(":")[0].strip() for line in others) == sorted(
        name for name in TRIED if name != "ubc-3d"
    )
    assert others[0].startswith("  ubc-2d: line 6, column 1: the first data line has 7 fields")


def test_why_says_when_the_layout_matches_but_reading_fails(tmp_path, capsys):
    path = write(tmp_path, "protocol.dat", r2_protocol())  # no companion positions file
    assert main(["data", str(path), "--why"]) == 2
    head = capsys.readouterr().out.splitlines()[0]
    assert head.startswith(f"{path}: not read: laid out as r2-protocol, but reading it failed: ")


# --- files that are not text -------------------------------------------------------------------

BINARY = bytes(range(256)) * 8 + b"\x00\x00spa.1 Vp In\n"


@pytest.mark.parametrize(
    "name, kind",
    [
        (
            "survey.bin",
            "(Syscal Pro .bin/.binx?); hpcinv reads text exports: export it from Prosys",
        ),
        ("survey.binx", "(Syscal Pro .bin/.binx?)"),
        ("survey.xlsx", "(an Excel workbook?); hpcinv reads text exports: save the sheet as CSV"),
        ("survey.dat", "(not text); hpcinv reads text exports: export the data as text"),
    ],
)
def test_a_binary_file_is_named_as_such_without_its_bytes(tmp_path, capsys, name, kind):
    path = tmp_path / name
    path.write_bytes(BINARY)
    for fmt in ("auto", "syscal", "ubc-3d"):  # an explicit format too: no reader sees it
        with pytest.raises(DataError) as info:
            read_survey(path, fmt)
        message = str(info.value)
        assert message.startswith(f"{path}: a binary file {kind}"), message
        assert message.isprintable() and "\\x" not in message and len(message) < 250
    assert main(["data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"hpcinv: error: {message}\n"
    assert main(["data", str(path), "--why"]) == 2
    head, *tried = capsys.readouterr().out.strip().splitlines()
    assert head == message and tried == [f"  {name}: not tried" for name in TRIED]


def test_control_bytes_without_nul_are_binary_but_a_stray_one_is_not(tmp_path):
    path = tmp_path / "noise.dat"
    path.write_bytes(bytes(b % 31 + 1 for b in range(4096)))  # no NUL, mostly control bytes
    with pytest.raises(DataError, match=r"noise\.dat: a binary file \(not text\)"):
        read_survey(path)
    text = gimli_text(tmp_path).replace("# x y z", "# x y z \x07", 1)  # a bell in a comment
    data = read_survey(write(tmp_path, "bell.dat", text))
    assert data.format == "pygimli"


def test_utf16_text_is_named(tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes(gimli_text(tmp_path).encode("utf-16"))
    with pytest.raises(DataError, match=r"export\.txt: UTF-16 text .* save it as UTF-8"):
        read_survey(path)


def test_a_text_format_hpcinv_does_not_read_is_named_by_its_extension(tmp_path):
    path = write(tmp_path, "line1.amp", "Filename: line1\nInstrument ID: SAS4000\n")
    with pytest.raises(DataError) as info:
        read_survey(path)
    assert str(info.value).startswith(
        f"{path}: an ABEM Multi Purpose (.amp) file, which hpcinv does not read; convert it"
    )
    assert str(info.value).endswith(f"hpcinv data {path} --why")


# heads of the rarer instruments' text files, as their documented layouts begin (made here)
RARER = {
    "lippmann": (
        "* Lippmann 4-point light hp *\n* Electrode positions *\n"
        "El1 = 0 0 0\nEl2 = 1 0 0\n* Remote electrode positions *\n",
        "a Lippmann 4point light (.tx0) file",
    ),
    "ares": (
        "Name: line1\nElectrode distance 2.00 m\nMeasured data\n"
        "C1[el] C2[el] P1[el] P2[el] I[mA] V[mV] R[Ohm]\n1 4 2 3 50.1 12.2 0.24\n",
        "a GF Instruments ARES II (.2dm) file",
    ),
    "prime": (
        "no_of_electrodes: 4\n1 0 0 0\n2 1 0 0\n3 2 0 0\n4 3 0 0\ndata:\n1 2 3 4 0.5\n",
        "a BGS PRIME / ResIMGR (.tab) file",
    ),
    "das1": (
        "#Project: test\n#elec_start\n!Cbl# El# Elec-X Elec-Y Elec-Z\n1,1 0 0 0\n"
        "#elec_end\n#data_start\n#data_end\n",
        "an ERTLab DAS-1 file",
    ),
    "electra": (
        "# Total electrodes\n4\n# XYZ\n1 0 0 0\n2 1 0 0\n# Meas.\n1 2 3 4 0.5\n",
        "a MoHo Electra file",
    ),
    "ohmpi": (
        "time,a,b,m,n,vmn_[mV],iab_[mA],r_[Ohm],r_std_[%]\n"
        "2024-01-01 10:00,1,4,2,3,12.2,50.1,0.2435,0.1\n",
        "an OhmPi CSV file (no electrode positions)",
    ),
}


@pytest.mark.parametrize("kind", sorted(RARER))
def test_a_rarer_instruments_text_file_is_named_by_its_own_marks(tmp_path, kind):
    text, name = RARER[kind]
    path = write(tmp_path, "line1.txt" if kind != "ohmpi" else "line1.csv", text)
    with pytest.raises(DataError) as info:
        read_survey(path)
    assert str(info.value).startswith(f"{path}: {name}, which hpcinv does not read; convert")
    assert str(info.value).endswith(f"hpcinv data {path} --why")


@pytest.mark.parametrize(
    "suffix, name",
    [
        (".tx0", "a Lippmann 4point light (.tx0) file"),
        (".2dm", "a GF Instruments ARES II (.2dm) file"),
        (".tab", "a BGS PRIME / ResIMGR (.tab) file"),
    ],
)
def test_a_rarer_instruments_extension_names_it(tmp_path, suffix, name):
    path = write(tmp_path, f"line1{suffix}", "1 2 3\nsomething else\n")
    with pytest.raises(DataError, match=re.escape(f"{path}: {name}, which hpcinv does not")):
        read_survey(path)


def test_marks_of_a_rarer_format_in_a_file_hpcinv_reads_change_nothing(tmp_path):
    # a pyGIMLi file hpcinv reads, with a trailing comment naming OhmPi's columns: read
    text = gimli_text(tmp_path) + "# vmn_[mV] iab_[mA] from an OhmPi export\n"
    expected = read_survey(write(tmp_path, "plain.dat", gimli_text(tmp_path)))
    data = read_survey(write(tmp_path, "survey.dat", text))
    assert np.array_equal(data.survey.dobs, expected.survey.dobs)


# --- the most likely format first ------------------------------------------------------------


SYSCAL = (
    ",El-array,Spa.1,Spa.2,Spa.3,Spa.4,Rho ,Dev., M  ,Sp  ,Vp  ,In  \n"
    ",Dipole Dipole,0.00,5.00,10.00,15.00,103.65,0.2,0.00,-6.4,98.771,512.48\n"
    ",Dipole Dipole,5.00,10.00,15.00,20.00,98.12,0.4,0.00,-7.1,93.512,512.19\n"
)
ABEM = "\t".join(f"{e}({a})" for e in "ABMN" for a in "xyz") + "\tI(mA)\tU(V)\tVar(%)\n"
ABEM += "\t".join(map(str, [0, 0, 1, 5, 0, 1, 10, 0, 1, 15, 0, 1, 99.8, 0.092, 0.2])) + "\n"


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("syscal.csv", SYSCAL.replace("Vp  ,", "V   ,"), "syscal"),  # a CSV header too
        ("syscal.txt", SYSCAL.replace("In  ", "I   "), "syscal"),
        ("hill.txt", ABEM.replace("U(V)", "Ux"), "abem"),
        ("line3.dat", RES2DINV_GENERAL.replace("\n0\n4\n2\n", "\n0\n5\n2\n"), "res2dinv"),
        ("data.dat", r2_protocol().replace("17\n", "18\n", 1), "r2-protocol"),  # by content
        ("protocol.dat", r2_protocol().replace("17\n", "16\n", 1), "r2-protocol"),
        ("obs.txt", UBC_3D.replace("0 0 0 10 0 0 2", "0 0 0 10 0 0 3"), "ubc-3d"),
    ],
)
def test_the_most_likely_format_is_named_first(tmp_path, name, text, expected):
    assert text not in (SYSCAL, ABEM, RES2DINV_GENERAL, r2_protocol(), UBC_3D)
    refusal(write(tmp_path, name, text), expected)
