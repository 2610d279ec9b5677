"""The Century field data (examples/data/century): counts, and the same data and geometry as
SimPEG's own UBC readers give (after removing the 1990s header lines SimPEG does not read)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from simpeg.utils.io_utils import read_dcip2d_ubc, read_dcip3d_ubc

from hpcinv.readers import read_survey, write_survey
from hpcinv.survey import REMOTE

from readers_support import CENTURY_2D, CENTURY_3D, datum_locations


def without_header(path, tmp_path, n_lines: int):
    """A copy without the title and count lines (SimPEG reads neither)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    copy = tmp_path / path.name
    copy.write_text("\n".join(lines[n_lines:]) + "\n")
    return copy


def simpeg_locations(data, dim):
    s = data.survey
    return np.stack([s.locations_a, s.locations_b, s.locations_m, s.locations_n], axis=1)[..., :dim]


def test_3d_counts_match_the_provenance():
    data = read_survey(CENTURY_3D)
    s = data.survey
    assert (data.format, s.dim, s.n_sources, s.n_data, len(s.electrodes)) == (
        "ubc-3d",
        3,
        141,
        942,
        177,
    )
    assert data.data_type == "resistance" and not data.dropped
    assert not np.any(s.abmn == REMOTE)  # 100 m dipoles throughout
    assert np.all(s.electrodes[:, 2] == 0.0)


def test_2d_counts():
    data = read_survey(CENTURY_2D)
    s = data.survey
    assert (data.format, s.dim, s.n_sources, s.n_data, len(s.electrodes)) == (
        "ubc-2d",
        2,
        27,
        151,
        33,
    )
    assert data.survey.uncertainty is not None and not data.dropped


def test_3d_equals_simpeg(tmp_path):
    ours = read_survey(CENTURY_3D)
    theirs = read_dcip3d_ubc(without_header(CENTURY_3D, tmp_path, 2), "volt")
    np.testing.assert_array_equal(
        datum_locations(ours.global_electrodes(), ours.survey.abmn), simpeg_locations(theirs, 3)
    )
    np.testing.assert_array_equal(ours.survey.dobs, theirs.dobs)
    np.testing.assert_array_equal(ours.survey.uncertainty, theirs.standard_deviation)
    assert theirs.survey.nSrc == ours.survey.n_sources


def test_2d_equals_simpeg_surface_format(tmp_path):
    ours = read_survey(CENTURY_2D)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SimPEG warns that it put elevations at 9999 m
        theirs = read_dcip2d_ubc(without_header(CENTURY_2D, tmp_path, 2), "volt", "surface")
    locations = datum_locations(ours.global_electrodes(), ours.survey.abmn)
    np.testing.assert_array_equal(locations[..., 0], simpeg_locations(theirs, 1)[..., 0])
    assert np.all(locations[..., 1] == 0.0)  # surface format: z = 0 here, 9999 in SimPEG
    np.testing.assert_array_equal(ours.survey.dobs, theirs.dobs)
    np.testing.assert_array_equal(ours.survey.uncertainty, theirs.standard_deviation)


@pytest.mark.parametrize(
    "path, fmt, reader",
    [
        (CENTURY_3D, "ubc-3d", lambda p: read_dcip3d_ubc(p, "volt")),
        (CENTURY_2D, "ubc-2d", lambda p: read_dcip2d_ubc(p, "volt", "general")),
    ],
)
def test_what_we_write_simpeg_reads(tmp_path, path, fmt, reader):
    ours = read_survey(path)
    out = tmp_path / "written.obs"
    write_survey(ours, out, fmt)
    theirs = reader(out)
    np.testing.assert_array_equal(
        datum_locations(ours.global_electrodes(), ours.survey.abmn),
        simpeg_locations(theirs, ours.dim),
    )
    np.testing.assert_array_equal(ours.survey.dobs, theirs.dobs)
    np.testing.assert_array_equal(ours.survey.uncertainty, theirs.standard_deviation)
