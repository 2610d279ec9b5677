"""No silent misreads (issue 25): every field-data file in the repository, read with
``read_survey`` (format auto), has exactly the uncertainties its documented uncertainty
column states, or none where the file has no such column (or the reader's documented rule
says none, e.g. a zero deviation): no other column is silently taken as an uncertainty.

The expected uncertainties come from an independent parse here, per format (each datum's
file line from ``FieldData.data_lines``; for ``.bin`` files its record number):

* pyGIMLi: ``err`` (relative) x |value|;  CSV: the ``uncertainty`` column;
* UBC-GIF: the standard deviation after the value on a receiver line;
* R2/R3t protocol: the 7th (R3t 11th) field, ohm;
* Res2DInv: the error column after the value, type 0 absolute, type 1 percent of |value|;
* Syscal text: ``Dev.`` / 100 x |Vp / In| when every row has Dev > 0;
* Syscal .bin: Dev (byte 84) / 100 x |Vp / In|, the same rule (cross-checked with the
  reference readings beside the fixture);
* ABEM: ``Var(%)`` / 100 x |R| when every row has Var > 0;
* SuperSting: error (per mille) / 1000 x |V/I| when every row has an error > 0.

A file whose format has no rule here fails ("add the rule for this format")."""

from __future__ import annotations

import csv
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from hpcinv.readers import FieldData, read_survey, write_survey

from readers_support import write

ROOT = Path(__file__).resolve().parents[2]
SEARCHED = (ROOT / "tests" / "readers" / "fixtures", ROOT / "examples" / "data")
#: Files under SEARCHED that are no field data, with why (anything else is read).
NOT_FIELD_DATA = {
    "examples/data/century/readme-3d.txt": "the data set's description",
    "examples/data/century/geologic_section.csv": "a polyline (read_polyline), no survey",
    "examples/data/dipinv-paper/start_weights.pt": "network weights",
}
NOT_DATA_SUFFIXES = (".json", ".md")
NOT_DATA_NAMES = ("LICENSE",)


def _fixture_files() -> list[Path]:
    files = []
    for top in SEARCHED:
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if not path.is_file() or rel in NOT_FIELD_DATA:
                continue
            if path.suffix.lower() in NOT_DATA_SUFFIXES or path.name in NOT_DATA_NAMES:
                continue
            files.append(path)
    return files


FIXTURES = _fixture_files()

# --- independent parses -----------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def _line(path: Path, data: FieldData, i: int) -> str:
    assert data.data_lines is not None, f"{path}: no data_lines to check the datum against"
    return _lines(path)[int(data.data_lines[i]) - 1]


def _fields(text: str) -> list[str]:
    return [f for f in re.split(r"[\s,]+", text.strip()) if f]


def _number(text: str) -> float:
    return float(text.strip())


def _all_positive_or_none(rel: np.ndarray, magnitude: np.ndarray) -> np.ndarray | None:
    """The instrument rule: relative deviations apply only when every row has one > 0."""
    if np.all(rel > 0):
        return rel * magnitude
    return None


def _expect_ubc(path: Path, data: FieldData):
    lines = [line.split("!")[0] for line in _lines(path)]
    values, sds = [], []
    for i in range(data.survey.n_data):
        row = int(data.data_lines[i]) - 1
        fields = lines[row].split()
        ncoord = _ubc_coordinates(lines, row)
        values.append(_number(fields[ncoord]))
        sds.append(_number(fields[ncoord + 1]) if len(fields) > ncoord + 1 else None)
    return _column(path, values, sds)


def _ubc_coordinates(lines: list[str], row: int) -> int:
    """Coordinates on a receiver line: those of its source line (the nearest line above
    ending in a whole count of at least the receivers up to this one), 4 without one
    (the simple layout)."""
    receivers = 1
    for above in range(row - 1, -1, -1):
        fields = lines[above].split()
        if not fields:
            continue  # blank lines do not count
        if len(fields) in (3, 5, 7) and re.fullmatch(r"\d+", fields[-1]):
            if int(fields[-1]) >= receivers:
                return len(fields) - 1
        receivers += 1
    return 4


def _column(path: Path, values, sds):
    present = [s is not None for s in sds]
    assert all(present) or not any(present), f"{path}: some rows have the column, some not"
    expected = np.asarray(sds, dtype=float) if all(present) and sds else None
    return np.asarray(values, dtype=float), expected


def _expect_gimli(path: Path, data: FieldData):
    lines = _lines(path)
    n_sensors = int(lines[0].split("#")[0].split()[0])
    row = 2 + n_sensors  # count line, header, sensors
    while not lines[row].split("#")[0].strip():
        row += 1
    names = [n.split("/")[0].lower() for n in lines[row + 1].lstrip("#").split()]
    source = next(n for n in ("r", "u", "rhoa") if n in names)
    values, errs = [], []
    for i in range(data.survey.n_data):
        fields = _line(path, data, i).split("#")[0].split()
        values.append(_number(fields[names.index(source)]))
        errs.append(_number(fields[names.index("err")]) if "err" in names else None)
    values = np.asarray(values)
    if "err" not in names:
        return values, None
    return values, np.asarray(errs) * np.abs(values)


def _expect_csv(path: Path, data: FieldData):
    rows = [line for line in _lines(path) if line.strip() and not line.lstrip().startswith("#")]
    header = [h.strip().lower() for h in next(csv.reader([rows[0]]))]
    values, sds = [], []
    for i in range(data.survey.n_data):
        cells = next(csv.reader([_line(path, data, i)]))
        values.append(_number(cells[header.index("value")]))
        sd = cells[header.index("uncertainty")].strip() if "uncertainty" in header else ""
        sds.append(sd)
    if not any(sds):
        return np.asarray(values), None
    return np.asarray(values), np.asarray([_number(s) for s in sds])


def _expect_r2(path: Path, data: FieldData):
    values, errs = [], []
    for i in range(data.survey.n_data):
        fields = _line(path, data, i).split()
        assert len(fields) in (6, 7, 10, 11), f"{path}: a protocol row of {len(fields)} fields"
        value_at = 5 if len(fields) <= 7 else 9
        values.append(_number(fields[value_at]))
        errs.append(_number(fields[value_at + 1]) if len(fields) in (7, 11) else None)
    return _column(path, values, errs)


def _expect_res2dinv(path: Path, data: FieldData):
    lines = _lines(path)
    array = int(_fields(lines[2])[0])
    if array == 11:  # the general array has no error column (the reader refuses one)
        values = [_number(_fields(_line(path, data, i))[-1]) for i in range(data.survey.n_data)]
        ip = int(_fields(lines[8])[0])
        if ip:
            values = [_number(_fields(_line(path, data, i))[-2]) for i in range(data.survey.n_data)]
        return np.asarray(values), None
    error = None
    if lines[6].strip().lower().startswith("error estimate"):
        error = int(_fields(lines[8])[0])
    value_at = 2 if array in (1, 2, 4, 5) else 3
    values, errs = [], []
    for i in range(data.survey.n_data):
        fields = _fields(_line(path, data, i))
        values.append(_number(fields[value_at]))
        errs.append(_number(fields[value_at + 1]) if error is not None else None)
    values = np.asarray(values)
    if error is None:
        return values, None
    errs = np.asarray(errs)
    return values, errs if error == 0 else errs / 100.0 * np.abs(values)


def _split_header(line: str) -> tuple[list[str], str | None]:
    for sep in ("\t", ","):
        if sep in line:
            return [c.strip() for c in line.split(sep)], sep
    return line.split(), None


def _key(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def _table(path: Path, data: FieldData, header_row: int):
    """(names, cells of each datum's row) of a column table whose header is header_row."""
    names, sep = _split_header(_lines(path)[header_row])
    names = [_key(n) for n in names]
    rows = []
    for i in range(data.survey.n_data):
        line = _line(path, data, i)
        cells = [c.strip() for c in line.split(sep)] if sep else line.split()
        if sep is None and "time" in names and len(cells) == len(names) + 1:
            cells = [f"{cells[0]} {cells[1]}", *cells[2:]]  # ABEM's "date time" cell
        rows.append(cells)
    return names, rows


def _pick(names: list[str], *wanted: str) -> int | None:
    for name in wanted:
        if _key(name) in names:
            return names.index(_key(name))
    return None


def _expect_syscal(path: Path, data: FieldData):
    names, rows = _table(path, data, 0)
    vp, current = _pick(names, "Vp", "VMN (mV)"), _pick(names, "In", "IAB (mA)")
    dev = _pick(names, "Dev.", "Dev. Rho (%)")
    values = np.asarray([_number(r[vp]) / _number(r[current]) for r in rows])
    if dev is None:
        return values, None
    rel = np.asarray([_number(r[dev]) / 100.0 for r in rows])
    return values, _all_positive_or_none(rel, np.abs(values))


def _expect_abem(path: Path, data: FieldData):
    lines = _lines(path)
    header = next(k for k, line in enumerate(lines[:300]) if "a(x)" in _key(line))
    names, rows = _table(path, data, header)
    u, i_ma = _pick(names, "U(V)", "Voltage(V)"), _pick(names, "I(mA)")
    if u is not None and i_ma is not None:
        values = np.asarray([_number(r[u]) / (_number(r[i_ma]) * 1e-3) for r in rows])
    else:
        r_col = _pick(names, "R(O)", "R(Ohm)", "Res.(ohm)")
        values = np.asarray([_number(r[r_col]) for r in rows])
    var = _pick(names, "Var(%)", "Error(%)")
    if var is None:
        return values, None
    rel = np.asarray([_number(r[var]) / 100.0 for r in rows])
    return values, _all_positive_or_none(rel, np.abs(values))


def _expect_supersting(path: Path, data: FieldData):
    cells = [_line(path, data, i).split(",") for i in range(data.survey.n_data)]
    values = np.asarray([_number(c[4]) for c in cells])
    rel = np.asarray([_number(c[5]) / 1000.0 for c in cells])
    return values, _all_positive_or_none(rel, np.abs(values))


def _bin_records(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    records, at = [], 1029
    while at < len(raw):
        more = struct.unpack_from("<h", raw, at + 2)[0]
        size = {0: 280, 1: 280, 2: 296, 3: 304}[more]
        records.append(raw[at : at + size])
        at += size
    return records


def _expect_syscal_binary(path: Path, data: FieldData):
    records = _bin_records(path)
    picked = [records[int(k) - 1] for k in data.data_lines]
    vp = np.asarray([struct.unpack_from("<f", r, 68)[0] for r in picked], dtype=float)
    current = np.asarray([struct.unpack_from("<f", r, 72)[0] for r in picked], dtype=float)
    dev = np.asarray([struct.unpack_from("<f", r, 84)[0] for r in picked], dtype=float)
    flags = [r[249] & 0b1001 for r in picked]
    assert not any(flags), f"{path}: a record flagged overload/gap-filler was kept"
    _check_bin_reference(path, data, vp, current, dev)
    values = vp / current
    return values, _all_positive_or_none(dev / 100.0, np.abs(values))


def _check_bin_reference(path, data, vp, current, dev) -> None:
    """The deviations agree with ResIPy's and reda's readings beside the fixture."""
    reference = path.with_suffix(".reference.json")
    if not reference.exists():
        return
    doc = json.loads(reference.read_text())
    columns = doc["columns"]
    for reading in doc["readings"].values():
        if "data" not in reading:
            continue  # a reader that failed on this file (the reference says why)
        rows = np.asarray(reading["data"], dtype=float)
        if rows.shape[0] != len(_bin_records(path)):
            continue  # a reading without the flagged records: not indexed by record
        kept = rows[np.asarray(data.data_lines) - 1]
        for name, ours in (("vp_mV", vp), ("in_mA", current), ("dev_percent", dev)):
            np.testing.assert_allclose(
                kept[:, columns.index(name)], ours, rtol=1e-6, err_msg=f"{reference}: {name}"
            )


RULES = {
    "ubc-2d": _expect_ubc,
    "ubc-3d": _expect_ubc,
    "pygimli": _expect_gimli,
    "csv": _expect_csv,
    "r2-protocol": _expect_r2,
    "res2dinv": _expect_res2dinv,
    "syscal": _expect_syscal,
    "syscal-binary": _expect_syscal_binary,
    "abem": _expect_abem,
    "supersting": _expect_supersting,
}

# --- the check --------------------------------------------------------------------------------


def check_no_misread(path: Path, data: FieldData, name: str) -> None:
    rule = RULES.get(data.format)
    if rule is None:
        pytest.fail(
            f"{name}: read as {data.format!r}, a format this test has no rule for; add the "
            f"rule for this format to RULES in {Path(__file__).name}"
        )
    values, expected = rule(path, data)
    survey = data.survey
    assert survey.dobs is not None and survey.n_data > 0, f"{name}: no data read"
    dobs = np.asarray(survey.dobs, dtype=float)
    assert np.all(np.isfinite(dobs)), f"{name}: non-finite values"
    assert np.all(dobs != 0), f"{name}: zero values"
    # the values come from the documented value column (the sign may follow the reader's
    # A/B convention, e.g. Res2DInv's C1 nearer the potential dipole)
    np.testing.assert_allclose(
        np.abs(dobs), np.abs(values), rtol=1e-6, err_msg=f"{name}: values misread"
    )
    got = survey.uncertainty
    if expected is None:
        assert got is None, (
            f"{name}: the file states no uncertainty ({data.format} rule), but the reader "
            f"gives {np.asarray(got)[:5]}..."
        )
        return
    assert got is not None, (
        f"{name}: the file states uncertainties {expected[:5]}..., the reader gives none"
    )
    got = np.asarray(got, dtype=float)
    assert got.shape == expected.shape, f"{name}: {got.shape} uncertainties, {expected.shape}"
    assert np.all(np.isfinite(got)) and np.all(got > 0), f"{name}: uncertainties not > 0"
    bad = ~np.isclose(got, expected, rtol=1e-6, atol=0)
    assert not bad.any(), (
        f"{name}: uncertainty misread at data {np.flatnonzero(bad)[:10].tolist()} (file lines "
        f"{np.asarray(data.data_lines)[bad][:10].tolist()}): reader {got[bad][:5]}, file "
        f"states {expected[bad][:5]}"
    )


@pytest.mark.parametrize("path", FIXTURES, ids=[p.relative_to(ROOT).as_posix() for p in FIXTURES])
def test_fixture_uncertainties_are_what_the_file_states(path):
    check_no_misread(path, read_survey(path), path.relative_to(ROOT).as_posix())


def test_every_fixture_directory_is_covered():
    assert FIXTURES, "no fixture found"
    for top in SEARCHED:
        for folder in (p for p in top.rglob("*") if p.is_dir()):
            files = [f for f in folder.iterdir() if f.is_file()]
            data = [f for f in files if f in FIXTURES]
            skipped = [f for f in files if f not in FIXTURES]
            assert data or all(
                f.suffix in NOT_DATA_SUFFIXES
                or f.name in NOT_DATA_NAMES
                or f.relative_to(ROOT).as_posix() in NOT_FIELD_DATA
                for f in skipped
            ), folder


# --- files the instrument tests write (regenerated here) ---------------------------------------


def _generated() -> dict[str, tuple[str, str, str | None, str | None]]:
    """name -> (file name, text, companion name, companion text)."""
    import test_instrument_formats as s

    syscal_no_dev = s.SYSCAL.replace(",103.65,0.2,", ",103.65,0.0,")
    return {
        "r2_protocol_err": ("protocol.dat", s.R2_PROTOCOL, "electrodes.csv", s.R2_ELECTRODES),
        "r2_protocol_plain": (
            "protocol.dat",
            "3\n1 1 2 3 4 0.5\n2 2 3 4 5 0.25\n3 1 2 4 5 0.125\n",
            "electrodes.csv",
            "0 0\n1 0\n2 0\n3 0\n4 0\n",
        ),
        "r3t_protocol": ("protocol.dat", s.R3T_PROTOCOL, "elec.csv", s.R3T_ELECTRODES),
        "res2dinv_general_rhoa": ("line3.dat", s.RES2DINV_RHOA, None, None),
        "res2dinv_general_r": ("hill.dat", s.RES2DINV_R, None, None),
        "syscal": ("syscal.csv", s.SYSCAL, None, None),
        "syscal_zero_dev": ("syscal.csv", syscal_no_dev, None, None),
        "syscal_3d": ("grid.txt", s.SYSCAL_3D, None, None),
        "abem": ("hill.txt", s.ABEM, None, None),
    }


GENERATED = list(_generated())


@pytest.mark.parametrize("case", GENERATED, ids=[f"generated/{c}" for c in GENERATED])
def test_generated_sample_uncertainties_are_what_the_file_states(case, tmp_path):
    name, text, companion, companion_text = _generated()[case]
    if companion is not None:
        write(tmp_path, companion, companion_text)
    path = write(tmp_path, name, text)
    check_no_misread(path, read_survey(path), f"generated/{case}")


@pytest.mark.parametrize("fmt", ["pygimli", "csv", "ubc-2d"])
@pytest.mark.parametrize("case", ["syscal", "syscal_zero_dev"])
def test_written_files_keep_exactly_the_uncertainties(fmt, case, tmp_path):
    """What hpcinv writes (a Syscal sample with and without deviations) reads back with the
    uncertainties its own uncertainty column states."""
    name, text, _, _ = _generated()[case]
    data = read_survey(write(tmp_path, name, text))
    suffix = {"pygimli": ".ohm", "csv": ".csv", "ubc-2d": ".dat"}[fmt]
    out = tmp_path / f"written{suffix}"
    write_survey(data, out, fmt)
    again = read_survey(out)
    check_no_misread(out, again, f"written/{case}{suffix}")
    if data.survey.uncertainty is None:
        assert again.survey.uncertainty is None
    else:
        np.testing.assert_allclose(again.survey.uncertainty, data.survey.uncertainty, rtol=1e-6)


def test_unknown_format_fails_asking_for_a_rule(tmp_path, monkeypatch):
    path = write(tmp_path, "syscal.csv", _generated()["syscal"][1])
    data = read_survey(path)
    monkeypatch.delitem(RULES, "syscal")
    with pytest.raises(pytest.fail.Exception, match="add the rule for this format"):
        check_no_misread(path, data, "syscal.csv")


def test_the_check_catches_a_column_taken_as_uncertainty(tmp_path):
    """A reader that took another column (Rho) for the deviation would be caught."""
    path = write(tmp_path, "syscal.csv", _generated()["syscal"][1])
    data = read_survey(path)
    wrong = np.abs(np.asarray(data.survey.dobs)) * 0.5
    import dataclasses

    bad = dataclasses.replace(data, survey=dataclasses.replace(data.survey, uncertainty=wrong))
    with pytest.raises(AssertionError, match="misread"):
        check_no_misread(path, bad, "syscal.csv")
