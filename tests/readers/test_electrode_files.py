"""Electrode files (issue 25): an R2/R3t protocol's positions found where ResIPy keeps them,
disagreeing files refused, blank z cells filled from the surface, and ``problem.electrodes``
naming the file of a protocol or giving a Syscal export its elevations."""

from __future__ import annotations

import numpy as np
import pytest

import hpcinv
from hpcinv.config import load_config
from hpcinv.config.run import COPIED_FROM
from hpcinv.errors import ConfigError, DataError
from hpcinv.readers import read_survey, summarize
from hpcinv.readers.columns import NO_ELEVATIONS
from hpcinv.readers.electrode_files import attach_electrodes, read_electrode_table
from hpcinv.readers.r2_protocol import read_r2_protocol
from hpcinv.survey import REMOTE

from readers_support import write

PROTOCOL = """4
1 1 2 3 4 12.5
2 2 3 4 5 8.25
3 1 2 4 5 4.125
4 1 7 2 3 3.0
"""

# ResIPy's elec.csv: label, x, y, z, remote, buried (electrode 7 a remote pole)
ELEC = """label,x,y,z,remote,buried
1,0.0,0.0,100.0,False,False
2,2.0,0.0,100.5,False,False
3,4.0,0.0,101.0,False,False
4,6.0,0.0,101.5,False,False
5,8.0,0.0,101.0,False,False
6,10.0,0.0,100.0,False,False
7,-999.0,0.0,0.0,True,False
"""

SYSCAL = (
    "\n".join(
        [
            ",El-array,Spa.1,Spa.2,Spa.3,Spa.4,Rho,Dev.,Vp,In",
            ",Dipole Dipole,0.00,5.00,10.00,15.00,103.6,0.2,98.771,512.48",
            ",Dipole Dipole,5.00,10.00,15.00,20.00,98.12,0.4,93.512,512.19",
            ",Pole Dipole,0.00,9999999.00,20.00,25.00,-1.05,4.9,0.100,896.15",
        ]
    )
    + "\n"
)

# a surveyed line: the Syscal positions (0 ... 25 m) within centimetres, one spare electrode
SURVEYED = """label,x,y,z
1,0.01,0,250.0
2,5.0,0,251.0
3,10.02,0,252.5
4,15.0,0,252.0
5,20.0,0,251.5
6,25.0,0,250.5
7,30.0,0,250.0
"""


def _folder(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def _one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message, message
    return message


# --- where a protocol's electrode file is found -------------------------------------------------


def test_protocol_in_resipy_invdir_reads_elec_csv_one_folder_up(tmp_path):
    # ResIPy runs R2 in WORKING_DIR/invdir (protocol.dat, R2.in, mesh.dat there); the
    # electrode positions are kept beside invdir
    invdir = _folder(tmp_path / "invdir")
    protocol = write(invdir, "protocol.dat", PROTOCOL)
    write(invdir, "R2.in", "R2.in holds mesh node numbers, not positions\n")
    write(tmp_path, "elec.csv", ELEC)
    data = read_survey(protocol)
    assert (data.format, data.dim) == ("r2-protocol", 2)
    np.testing.assert_array_equal(data.global_electrodes()[:, 0], [0, 2, 4, 6, 8, 10])
    np.testing.assert_array_equal(data.global_electrodes()[3], [6.0, 101.5])
    np.testing.assert_array_equal(data.survey.abmn[3], [0, REMOTE, 1, 2])
    assert (
        "electrode positions from ../elec.csv (one folder up): 7 electrodes, 1 remote"
        in summarize(data)["notes"]
    )


def test_time_lapse_reference_protocol_reads_elec_csv_above_invdir(tmp_path):
    ref = _folder(tmp_path / "invdir" / "ref")  # ResIPy's time-lapse reference
    protocol = write(ref, "protocol.dat", PROTOCOL)
    write(tmp_path, "elec.csv", ELEC)
    data = read_survey(protocol)
    assert data.survey.n_data == 4
    assert any("from ../../elec.csv (two folders up, above invdir)" in n for n in data.notes)


def test_protocol_prefers_the_file_beside_it_and_names_agreeing_others(tmp_path):
    invdir = _folder(tmp_path / "invdir")
    protocol = write(invdir, "protocol.dat", PROTOCOL)
    write(invdir, "electrodes.csv", ELEC)
    write(tmp_path, "elec.csv", ELEC)
    data = read_survey(protocol)
    note = next(n for n in data.notes if n.startswith("electrode positions from"))
    assert note.startswith("electrode positions from electrodes.csv (beside the protocol; ")
    assert "../elec.csv found too, with the same positions" in note


def test_disagreeing_electrode_files_are_refused_naming_them(tmp_path):
    invdir = _folder(tmp_path / "invdir")
    protocol = write(invdir, "protocol.dat", PROTOCOL)
    write(invdir, "electrodes.csv", ELEC)
    twelve = "x,z\n" + "".join(f"{2.0 * k},100\n" for k in range(12))
    write(tmp_path, "elec.csv", twelve)
    with pytest.raises(DataError) as info:
        read_survey(protocol)
    message = _one_line(info)
    assert message.startswith(f"{protocol}, line 1, column 1: the electrode files found disagree")
    assert f"{invdir / 'electrodes.csv'} (7 electrodes)" in message
    assert f"{tmp_path / 'elec.csv'} (12 electrodes)" in message
    assert message.endswith(
        "name the right one with problem.electrodes = FILE (or remove the others)"
    )
    # the same count at other positions disagrees too
    write(tmp_path, "elec.csv", ELEC.replace("4,6.0,0.0,101.5", "4,6.5,0.0,101.5"))
    with pytest.raises(DataError, match=r"7 electrodes, not at the same positions"):
        read_survey(protocol)
    # the file given is read alone: no search, no disagreement
    data = read_r2_protocol(protocol, None, electrodes=tmp_path / "elec.csv")
    np.testing.assert_array_equal(data.global_electrodes()[3], [6.5, 101.5])
    assert any(
        n.startswith(f"electrode positions from {tmp_path / 'elec.csv'} (given)")
        for n in data.notes
    )


def test_protocol_without_any_electrode_file_names_where_it_looked(tmp_path):
    invdir = _folder(tmp_path / "invdir")
    protocol = write(invdir, "protocol.dat", PROTOCOL)
    with pytest.raises(DataError) as info:
        read_survey(protocol)
    message = _one_line(info)
    assert message.startswith(f"{protocol}, line 1, column 1: a protocol.dat holds electrode")
    assert str(invdir / "electrodes.csv") in message and "problem.electrodes = FILE" in message


# --- blank z cells --------------------------------------------------------------------------


def test_blank_z_is_interpolated_along_the_line_from_the_electrodes_with_z(tmp_path):
    blank = """label,x,y,z,remote,buried
1,0.0,0.0,100.0,False,False
2,2.0,0.0,,False,False
3,4.0,0.0,,False,False
4,6.0,0.0,103.0,False,False
5,8.0,0.0,nan,False,False
6,10.0,0.0,101.0,False,False
7,-999.0,0.0,,True,False
8,12.0,0.0,,False,False
"""
    table = read_electrode_table(write(tmp_path, "elec.csv", blank))
    np.testing.assert_allclose(table.z, [100, 101, 102, 103, 102, 101, 0, 101])
    assert table.notes == [
        "4 electrodes had no z: filled from the 3 surface electrodes with z, linearly in x "
        "(each end's z beyond the ends)"
    ]
    # through the protocol reader: the note is what ``hpcinv data`` shows
    data = read_survey(write(tmp_path, "protocol.dat", PROTOCOL))
    assert table.notes[0] in summarize(data)["notes"]
    np.testing.assert_allclose(data.global_electrodes()[1:3, 1], [101.0, 102.0])


def test_blank_z_along_an_oblique_line_follows_the_distance(tmp_path):
    # a line at 3-4-5 to the axes: 5 m between electrodes, z known at both ends
    rows = [(0, 0, "10"), (3, 4, ""), (6, 8, ""), (9, 12, "13")]
    text = "x,y,z\n" + "".join(f"{x},{y},{z}\n" for x, y, z in rows)
    table = read_electrode_table(write(tmp_path, "elec.csv", text))
    np.testing.assert_allclose(table.z, [10, 11, 12, 13])
    assert "linearly in distance along the electrodes in file order" in table.notes[0]


def test_no_z_at_all_is_a_flat_surface(tmp_path):
    table = read_electrode_table(write(tmp_path, "elec.csv", "label,x,z\n1,0,\n2,1,\n3,2,\n"))
    np.testing.assert_array_equal(table.z, [0, 0, 0])
    assert table.notes == [
        "3 electrodes had no z: filled from the surface, z = 0 (no surface electrode of "
        "elec.csv has a z)"
    ]


@pytest.mark.parametrize(
    "row, column, name",
    [("2,,0.0,100.5", 2, "x"), ("2,2.0,,100.5", 3, "y"), ("2,nan,0.0,100.5", 2, "x")],
)
def test_blank_x_or_y_is_an_error_naming_the_row(tmp_path, row, column, name):
    text = "label,x,y,z\n1,0.0,0.0,100.0\n" + row + "\n3,4.0,0.0,101.0\n"
    path = write(tmp_path, "elec.csv", text)
    with pytest.raises(DataError) as info:
        read_electrode_table(path)
    message = _one_line(info)
    assert message.startswith(f"{path}, line 3, column {column} ({name}): ")
    assert f"every electrode needs its {name}" in message


def test_buried_electrode_without_z_is_an_error(tmp_path):
    text = "label,x,y,z,buried\n1,0,0,100,0\n2,0,0,,1\n"
    path = write(tmp_path, "elec.csv", text)
    with pytest.raises(DataError, match=r"line 3, column 4 \(z\): a buried electrode without z"):
        read_electrode_table(path)


# --- elevations for a Syscal export ---------------------------------------------------------


def test_syscal_with_an_electrode_file_takes_its_z_per_electrode(tmp_path):
    syscal = read_survey(write(tmp_path, "syscal.csv", SYSCAL))
    assert NO_ELEVATIONS in syscal.notes
    data = attach_electrodes(syscal, write(tmp_path, "surveyed.csv", SURVEYED))
    # the Syscal positions stay; each electrode gets the z of the file's at its x
    np.testing.assert_array_equal(
        data.global_electrodes(),
        [[0, 250.0], [5, 251.0], [10, 252.5], [15, 252.0], [20, 251.5], [25, 250.5]],
    )
    np.testing.assert_array_equal(data.survey.abmn, syscal.survey.abmn)
    np.testing.assert_array_equal(data.survey.dobs, syscal.survey.dobs)
    assert NO_ELEVATIONS not in data.notes
    assert (
        f"elevations from {tmp_path / 'surveyed.csv'} (given): 6 electrodes matched by x "
        f"within 0.05 m (1% of the smallest spacing)" in data.notes
    )


def test_syscal_electrode_without_a_match_is_refused_naming_it(tmp_path):
    syscal = read_survey(write(tmp_path, "syscal.csv", SYSCAL))
    moved = SURVEYED.replace("3,10.02,0,252.5", "3,10.2,0,252.5")
    path = write(tmp_path, "surveyed.csv", moved)
    with pytest.raises(DataError) as info:
        attach_electrodes(syscal, path)
    message = _one_line(info)
    assert message.startswith(
        f"{tmp_path / 'syscal.csv'}, line 2: electrode M at x = 10 has no electrode in {path} "
        f"within 0.05 m"
    )
    assert "the nearest is on line 4" in message


def test_a_file_with_elevations_of_its_own_is_not_given_others(tmp_path):
    write(tmp_path, "elec.csv", ELEC)
    data = read_survey(write(tmp_path, "protocol.dat", PROTOCOL))  # z of 100 m and more
    with pytest.raises(DataError, match="gives electrode elevations of its own"):
        attach_electrodes(data, write(tmp_path, "surveyed.csv", SURVEYED))


# --- problem.electrodes -----------------------------------------------------------------------


def _run_file(folder, data, electrodes):
    path = folder / "run.toml"
    path.write_text(f'[problem]\ndata = "{data}"\nelectrodes = "{electrodes}"\n')
    return path


def test_problem_electrodes_that_does_not_exist_is_refused_at_load(tmp_path):
    write(tmp_path, "syscal.csv", SYSCAL)
    run = _run_file(tmp_path, "syscal.csv", "surveyed.csv")
    with pytest.raises(ConfigError) as info:
        load_config(run)
    assert _one_line(info) == (
        f"{run}: problem.electrodes: no such file {tmp_path / 'surveyed.csv'} (paths are "
        f"relative to the config file's directory)"
    )
    write(tmp_path, "surveyed.csv", SURVEYED)
    assert load_config(run).problem.electrodes == "surveyed.csv"
    # a run directory's copy resolves the path against the run file it was copied from
    copy = _folder(tmp_path / "out") / "config.toml"
    copy.write_text(f"{COPIED_FROM}{run}\n{run.read_text()}")
    assert load_config(copy).problem.electrodes == "surveyed.csv"


def test_problem_electrodes_with_a_built_in_case_is_refused(tmp_path):
    from hpcinv.config import config_from_dict

    with pytest.raises(ConfigError, match="a built-in case brings its own electrodes"):
        config_from_dict({"problem": {"case": "tiny-2d", "electrodes": "elec.csv"}})


def test_problem_electrodes_reach_the_field_problem(tmp_path):
    data = _folder(tmp_path / "data")
    write(data, "syscal.csv", SYSCAL)
    write(data, "surveyed.csv", SURVEYED)
    run = _run_file(_folder(tmp_path / "run"), "../data/syscal.csv", "../data/surveyed.csv")
    problem = hpcinv.build_problem(load_config(run), with_data=False)
    notes = problem.info.notes["reader_notes"]
    assert any(n.startswith("elevations from ") for n in notes)
    # the surface is the electrodes' elevations: 2.5 m of relief, air above it
    assert problem.active is not None and (~problem.active).any()
    # an R2 protocol with its electrode file elsewhere
    write(data, "protocol.dat", PROTOCOL)
    write(data, "line-elec.csv", ELEC)
    run = _run_file(tmp_path / "run", "../data/protocol.dat", "../data/line-elec.csv")
    problem = hpcinv.build_problem(load_config(run), with_data=False)
    assert any("line-elec.csv (given)" in n for n in problem.info.notes["reader_notes"])


def test_hpcinv_data_electrodes_gives_a_syscal_export_its_elevations(tmp_path, capsys):
    """``hpcinv data FILE --electrodes EFILE`` reads as a run with problem.electrodes does:
    the summary's electrodes carry the file's z, and a protocol takes its positions."""
    import json

    from hpcinv.cli import main

    syscal = write(tmp_path, "syscal.csv", SYSCAL)
    surveyed = write(tmp_path, "surveyed.csv", SURVEYED)
    assert main(["data", str(syscal), "--electrodes", str(surveyed)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert any(note.startswith(f"elevations from {surveyed}") for note in summary["notes"])
    assert main(["data", str(syscal)]) == 0
    assert NO_ELEVATIONS in json.loads(capsys.readouterr().out)["notes"]
    assert main(["data", str(syscal), "--electrodes", str(tmp_path / "missing.csv")]) != 0
    assert "missing.csv: no such electrode file" in capsys.readouterr().err


def test_a_file_that_begins_with_a_byte_order_mark_is_read_as_without(tmp_path):
    """Windows tools write UTF-8 with a byte-order mark; it is not part of line 1's text."""
    plain = read_survey(write(tmp_path, "syscal.csv", SYSCAL))
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + SYSCAL.encode())
    marked = read_survey(path)
    np.testing.assert_array_equal(marked.survey.dobs, plain.survey.dobs)
    np.testing.assert_array_equal(marked.global_electrodes(), plain.global_electrodes())
