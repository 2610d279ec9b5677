"""Syscal Pro binary files (``.bin``): fixtures written with this project's own numbers in the
layout of ``hpcinv/readers/syscal_binary.py`` (``scripts/make_syscal_binary_reference.py``),
read per datum against two public readers' readings stored beside them (ResIPy, reda), and
against the text export Prosys would write of the same records (read by ``syscal``); corrupt
or foreign files refused with one line naming the file, the byte or record and the fix."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from hpcinv.errors import DataError
from hpcinv.readers.columns import NO_ELEVATIONS
from hpcinv.readers.syscal import REMOTE_SENTINELS, read_syscal
from hpcinv.readers.syscal_binary import (
    FORMAT,
    HEADER_SIZE,
    check_syscal_binary,
    looks_like_syscal_binary,
    read_syscal_binary,
)
from hpcinv.survey import REMOTE

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "syscal_binary"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.bin"))
WITH_TEXT = sorted(p.stem for p in FIXTURES.glob("*.csv"))
FIX = "export it from Prosys as text"


def reference(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.reference.json").read_text())


def _number(value) -> float:
    return float(value)  # "nan", "inf" and "-inf" are stored as strings


def readings(name: str) -> dict[str, np.ndarray]:
    """Each reader that read the fixture: (n_records, 16) xA..zN, Vp, In, Dev., R."""
    return {
        reader: np.array([[_number(v) for v in row] for row in value["data"]])
        for reader, value in reference(name)["readings"].items()
        if "data" in value
    }


def test_every_fixture_has_an_independent_reading_of_every_record():
    assert len(NAMES) >= 5
    for name in NAMES:
        ref = reference(name)
        got = readings(name)
        assert got, f"{name}: no reader read it"
        for table in got.values():
            assert table.shape == (ref["written"]["records"], 16)
        if len(got) > 1:
            assert ref["readers_agree"], name


@pytest.mark.parametrize("name", NAMES)
def test_each_datum_is_the_independent_readers(name):
    ref = reference(name)
    data = read_syscal_binary(FIXTURES / f"{name}.bin", None)
    survey = data.survey
    n = ref["written"]["records"]
    dropped = {row.line for row in data.dropped}
    assert survey.n_data + len(dropped) == n
    assert set(data.data_lines.tolist()).isdisjoint(dropped)
    assert set(ref["written"]["flagged_records"]) <= dropped
    electrodes = data.global_electrodes()
    for reader, table in readings(name).items():
        for i, k in enumerate(data.data_lines):  # k: the 1-based record number
            row = table[k - 1]
            xyz = row[:12].reshape(3, 4)
            for e in range(4):
                where = f"{reader}, record {k}, electrode {'ABMN'[e]}"
                if survey.abmn[i, e] == REMOTE:
                    assert abs(xyz[0, e]) in REMOTE_SENTINELS, where
                    continue
                mine = electrodes[survey.abmn[i, e]]
                theirs = xyz[:, e] if data.dim == 3 else xyz[[0, 2], e]
                np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6, err_msg=where)
            assert survey.dobs[i] == pytest.approx(row[15], rel=1e-12), (reader, k)
            assert survey.dobs[i] == pytest.approx(row[12] / row[13], rel=1e-12)
            if survey.uncertainty is not None:
                expected = row[14] / 100 * abs(row[15])
                assert survey.uncertainty[i] == pytest.approx(expected, rel=1e-6), (reader, k)
        for k in dropped - set(ref["written"]["flagged_records"]):
            assert not np.isfinite(table[k - 1, 15]), (reader, k)
        # the readers count remote poles as electrodes at their sentinel positions
        sentinels = {float(v) for v in table[:, :4].ravel() if abs(v) in REMOTE_SENTINELS}
        assert ref["readings"][reader]["electrodes"] == len(electrodes) + len(sentinels)


def _text_columns(path: Path) -> dict[str, list[str]]:
    """The cells of a text export by column name (blanks dropped, lower case)."""
    with path.open() as f:
        rows = list(csv.reader(f))
    names = ["".join(h.split()).lower() for h in rows[0]]
    return {name: [row[c] for row in rows[1:]] for c, name in enumerate(names)}


def _numbers_and_half_units(cells: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of a column and half a unit of each one's last decimal."""
    half = [0.5 * 10.0 ** -len(cell.partition(".")[2]) for cell in cells]
    return np.array([float(c) for c in cells]), np.array(half)


@pytest.mark.parametrize("name", WITH_TEXT)
def test_same_survey_as_its_text_export_but_for_the_rounding(name):
    binary = read_syscal_binary(FIXTURES / f"{name}.bin", None)
    text_path = FIXTURES / f"{name}.csv"
    text = read_syscal(text_path, None)
    assert binary.format == FORMAT and text.format == "syscal"
    assert binary.data_type == text.data_type == "resistance"
    assert binary.dim == text.dim == 2
    np.testing.assert_array_equal(binary.survey.abmn, text.survey.abmn)
    np.testing.assert_array_equal(binary.survey.electrodes[:, 0], text.survey.electrodes[:, 0])
    columns = _text_columns(text_path)
    if "za(m)" in columns:  # Prosys II's Spa.1 ... exports have no z
        np.testing.assert_array_equal(binary.survey.electrodes, text.survey.electrodes)
    vp, vp_half = _numbers_and_half_units(columns.get("vmn(mv)") or columns["vp"])
    cur, cur_half = _numbers_and_half_units(columns.get("iab(ma)") or columns["in"])
    dev, dev_half = _numbers_and_half_units(columns.get("dev.rho(%)") or columns["dev."])
    r = binary.survey.dobs
    bound = 1.001 * np.abs(r) * (vp_half / np.abs(vp) + cur_half / np.abs(cur))
    diff = np.abs(text.survey.dobs - r)
    assert np.all(diff <= bound)
    u_bound = 1.001 * (dev_half / 100 * np.abs(r) + dev / 100 * bound)
    assert np.all(np.abs(text.survey.uncertainty - binary.survey.uncertainty) <= u_bound)
    assert np.max(diff / np.abs(r)) > 1e-4  # the text does round


def test_the_small_current_the_text_rounds():
    """Record 31's 0.2137 mA is 0.214 in the Prosys III export (its -0.1105 mV is -0.111):
    R is 0.28 % off there, and exactly the independent readers' Vp/In here."""
    name = "dipole_dipole_wenner_2d"
    binary = read_syscal_binary(FIXTURES / f"{name}.bin", None)
    text = read_syscal(FIXTURES / f"{name}.csv", None)
    i = int(np.argmax(np.abs(text.survey.dobs / binary.survey.dobs - 1)))
    assert binary.data_lines[i] == 31
    row = readings(name)["resipy"][30]
    assert row[13] == pytest.approx(0.2137, rel=1e-6)
    assert binary.survey.dobs[i] == row[12] / row[13] == row[15]
    columns = _text_columns(FIXTURES / f"{name}.csv")
    vp, cur = columns["vmn(mv)"][i], columns["iab(ma)"][i]
    assert (vp, cur) == ("-0.111", "0.214")
    assert text.survey.dobs[i] == float(vp) / float(cur)
    assert abs(text.survey.dobs[i] / binary.survey.dobs[i] - 1) > 0.0025


def test_a_line_at_z_zero_reads_as_without_elevations():
    data = read_syscal_binary(FIXTURES / "dipole_dipole_wenner_2d.bin", None)
    assert data.dim == 2 and NO_ELEVATIONS in data.notes
    assert data.current is None and data.geometric_factor is None  # as the text reader
    assert data.data_lines.tolist() == list(range(1, 49))
    assert any("1-based record number" in note for note in data.notes)
    assert data.where(3) == f"{FIXTURES / 'dipole_dipole_wenner_2d.bin'}, line 4"


def test_the_sign_of_vp_is_kept():
    """The fixture's Vp has the sign of the half-space potential (V(M) - V(N), current into
    A): positive in Wenner, negative in dipole-dipole with A B M N in a row, positive again
    where record 26 has M and N swapped."""
    data = read_syscal_binary(FIXTURES / "dipole_dipole_wenner_2d.bin", None)
    sign = dict(zip(data.data_lines.tolist(), np.sign(data.survey.dobs).tolist()))
    assert all(sign[k] == 1 for k in range(1, 19))  # Wenner alpha
    assert all(sign[k] == -1 for k in range(19, 49) if k != 26)  # dipole-dipole
    assert sign[26] == 1


def test_poles_are_remote_and_elevations_kept():
    data = read_syscal_binary(FIXTURES / "pole_dipole_remote.bin", None)
    abmn = data.survey.abmn
    assert np.all(abmn[:, 1] == REMOTE)
    assert np.sum(abmn[:, 3] == REMOTE) == 3
    assert data.dim == 2 and NO_ELEVATIONS not in data.notes
    assert data.survey.electrodes[:, 1].max() == pytest.approx(102.0)
    assert "21 data with a remote pole (sentinel x)" in data.notes


def test_flagged_records_are_dropped_and_listed():
    data = read_syscal_binary(FIXTURES / "stacks_deviations.bin", None)
    assert [(row.line, row.reason) for row in data.dropped] == [
        (10, "flagged overload or gap-filler (byte 249)"),
        (15, "flagged overload or gap-filler (byte 249)"),
    ]
    assert data.dropped[0].text == f"record 10 at byte {HEADER_SIZE + 9 * 280}"
    assert data.survey.n_data == 23
    repeated = data.survey.abmn[data.data_lines == 25][0]
    assert (data.survey.abmn == repeated).all(axis=1).sum() == 2  # measured twice, both kept


def test_corner_cases_3d_dev_zero_nan_and_zero_current():
    data = read_syscal_binary(FIXTURES / "corner_3d_variant0.bin", None)
    assert data.dim == 3 and data.survey.uncertainty is None
    assert any("Dev <= 0" in note for note in data.notes)
    assert [(row.line, row.reason) for row in data.dropped] == [
        (5, "value is nan"),
        (7, "value is -inf"),
    ]
    assert data.survey.electrodes[:, 1].tolist().count(0.35) > 0  # 0.35 m, not 0.3499999940


def test_constant_y_is_a_line_and_variants_are_read_per_record():
    data = read_syscal_binary(FIXTURES / "mixed_variants.bin", None)
    assert data.dim == 2 and "constant y: read as a line (x, z)" in data.notes
    assert data.survey.n_data == 9


def test_dimension_asked_for():
    three = read_syscal_binary(FIXTURES / "pole_dipole_remote.bin", 3)
    assert three.dim == 3 and np.all(three.survey.electrodes[:, 1] == 0)
    path = FIXTURES / "corner_3d_variant0.bin"
    with pytest.raises(DataError) as err:
        read_syscal_binary(path, 2)
    assert str(err.value) == (
        f"{path}, record 1 (byte {HEADER_SIZE + 32 + 4}): the electrodes vary in x and y, "
        f"which is no line; read the file as 3D"
    )


# --- refusals ---------------------------------------------------------------------------------


def _fixture_bytes(name: str = "stacks_deviations") -> bytearray:
    return bytearray((FIXTURES / f"{name}.bin").read_bytes())


def _refusal(tmp_path, data: bytes, name: str = "survey.bin") -> str:
    path = tmp_path / name
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        check_syscal_binary(path)
    with pytest.raises(DataError) as again:
        read_syscal_binary(path, None)
    message = str(err.value)
    assert str(again.value) == message
    assert message.startswith(f"{path}, ") and "\n" not in message
    return message[len(str(path)) + 2 :]


@pytest.mark.parametrize("name", NAMES)
def test_the_fixtures_pass_the_check(name):
    check_syscal_binary(FIXTURES / f"{name}.bin")


@pytest.mark.parametrize("name", WITH_TEXT)
def test_a_text_export_is_refused_as_text_without_quoting_it(tmp_path, name):
    text = (FIXTURES / f"{name}.csv").read_bytes()
    why = _refusal(tmp_path, text)
    assert why == (
        "byte 0: text, not a Syscal Pro binary (.bin) file; read a Prosys text export with "
        "the syscal format"
    )
    assert _refusal(tmp_path, "xA;yA é\n".encode("latin-1")).startswith("byte 0: text")


def test_a_truncated_record_names_the_record_and_its_byte(tmp_path):
    data = _fixture_bytes()[:-100]
    at = HEADER_SIZE + 24 * 280
    assert _refusal(tmp_path, data) == (
        f"record 25 (byte {at}): the file ends 180 bytes into this 280-byte record "
        f"(truncated); copy the whole file from the instrument again or {FIX} (the syscal "
        f"format reads that)"
    )
    short = _fixture_bytes()[: HEADER_SIZE + 30]
    assert _refusal(tmp_path, short).startswith(
        f"record 1 (byte {HEADER_SIZE}): the file ends 30 bytes into this record (truncated)"
    )


def test_wrong_headers(tmp_path):
    data = _fixture_bytes()
    assert _refusal(tmp_path, b"") == "byte 0: the file is empty; give a Syscal Pro .bin file"
    assert _refusal(tmp_path, data[:500]).startswith(
        "byte 500: the file ends inside the 1029-byte header of a Syscal Pro .bin file"
    )
    foreign = bytearray(data)
    foreign[0:4] = struct.pack("<I", 0x00345678)
    assert _refusal(tmp_path, foreign) == (
        f"byte 0: not a Syscal Pro .bin file: version is not 0x80000000 to 0x80000002; "
        f"give a Syscal Pro .bin file or {FIX} (the syscal format reads that)"
    )
    for version in (0x80000003, 0x80000004):
        disputed = bytearray(data)
        disputed[0:4] = struct.pack("<I", version)
        assert _refusal(tmp_path, disputed).startswith(
            f"byte 0: Syscal .bin version {version:#010x}, whose header the public readers "
            f"lay out differently"
        )
    newer = bytearray(data)
    newer[0:4] = struct.pack("<I", 0x80000009)
    assert "version 0x80000009 is not" in _refusal(tmp_path, newer)
    kid = bytearray(data)
    kid[4] = 2
    assert _refusal(tmp_path, kid) == (
        f"byte 4: instrument type 2 is not of the Syscal Pro family (3, 4, 5, 8, 9, 11), "
        f"whose records hpcinv reads; {FIX} (the syscal format reads that)"
    )


def test_a_record_of_another_layout_names_the_record_and_its_byte(tmp_path):
    data = _fixture_bytes()
    at = HEADER_SIZE + 2 * 280
    variant = bytearray(data)
    variant[at + 2 : at + 4] = struct.pack("<h", 7)
    assert _refusal(tmp_path, variant).startswith(
        f"record 3 (byte {at + 2}): record variant (MoreTMesure) 7 is none of 0 to 3"
    )
    kid = bytearray(data)
    kid[at + 12 : at + 14] = struct.pack("<h", 0)
    assert _refusal(tmp_path, kid).startswith(f"record 3 (byte {at + 12}): TypeCpXyz is 0, not 1")
    longer = bytearray(data)  # a record that claims 16 more bytes: the next one is misplaced
    longer[at + 2 : at + 4] = struct.pack("<h", 2)
    assert _refusal(tmp_path, longer).startswith("record 4 (byte ")


def test_binx_is_refused_by_name(tmp_path):
    why = _refusal(tmp_path, _fixture_bytes(), name="survey.binx")
    assert why == (
        f"byte 0: a Syscal .binx file (Prosys III), whose layout hpcinv does not read; {FIX} "
        f"(the syscal format reads that)"
    )


def test_a_remote_a_is_refused_naming_the_record(tmp_path):
    data = _fixture_bytes("dipole_dipole_wenner_2d")
    at = HEADER_SIZE + 4 * 296
    data[at + 16 : at + 20] = struct.pack("<f", -99999.0)
    path = tmp_path / "survey.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        read_syscal_binary(path, None)
    assert str(err.value).startswith(
        f"{path}, record 5 (byte {at + 16}): xA at the remote sentinel -99999; only B and N "
        f"can be remote poles"
    )


def test_a_header_without_records_is_an_empty_survey(tmp_path):
    path = tmp_path / "survey.bin"
    path.write_bytes(bytes(_fixture_bytes()[:HEADER_SIZE]))
    check_syscal_binary(path)
    with pytest.raises(DataError) as err:
        read_syscal_binary(path, None)
    assert str(err.value) == (
        f"{path}, byte {HEADER_SIZE}: the survey is empty: no usable data rows; add data rows"
    )


def test_a_missing_file(tmp_path):
    path = tmp_path / "absent.bin"
    with pytest.raises(DataError, match="cannot read the data file"):
        check_syscal_binary(path)


def test_recognised_by_content_not_by_name(tmp_path):
    path = tmp_path / "survey.dat"
    path.write_bytes((FIXTURES / "mixed_variants.bin").read_bytes())
    check_syscal_binary(path)
    assert read_syscal_binary(path, None).survey.n_data == 9


def test_another_binary_file_is_refused_without_quoting_it(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(2000)
    assert _refusal(tmp_path, png) == (
        f"byte 0: not a Syscal Pro .bin file: version is not 0x80000000 to 0x80000002; "
        f"give a Syscal Pro .bin file or {FIX} (the syscal format reads that)"
    )


def test_the_quick_look_at_the_header(tmp_path):
    for name in NAMES:
        assert looks_like_syscal_binary(FIXTURES / f"{name}.bin")
    assert not looks_like_syscal_binary(FIXTURES / f"{WITH_TEXT[0]}.csv")
    assert not looks_like_syscal_binary(tmp_path / "absent.bin")
    data = _fixture_bytes()
    for version, kind, expected in (
        (0x80000004, 8, True),
        (0x80000005, 8, False),
        (0x80000002, 2, False),
    ):
        data[0:5] = struct.pack("<IB", version, kind)
        path = tmp_path / "survey.bin"
        path.write_bytes(bytes(data))
        assert looks_like_syscal_binary(path) is expected
    path.write_bytes(bytes(data[:4]))
    assert not looks_like_syscal_binary(path)
