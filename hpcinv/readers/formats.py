"""``read_survey`` and ``write_survey``: pick the format (from the name, the extension or the
content) and hand over to its module."""

from __future__ import annotations

from pathlib import Path

from hpcinv.errors import DataError
from hpcinv.files import atomic_write
from hpcinv.readers.csv_format import read_csv, write_csv
from hpcinv.readers.fielddata import DATA_TYPES, FORMATS, FieldData
from hpcinv.readers.gimli import read_gimli, write_gimli
from hpcinv.readers.textlines import numbered_lines
from hpcinv.readers.ubc import read_ubc, write_ubc
from hpcinv.survey import Survey

DIMENSIONS = {"auto": None, "2d": 2, "3d": 3}
SUFFIXES = {".csv": "csv", ".ohm": "pygimli", ".shm": "pygimli"}


def read_survey(path, format: str = "auto", *, dimension: str = "auto") -> FieldData:
    """Read a field-data file.

    format: one of ``FORMATS`` or "auto" (by extension: .csv, .ohm/.shm; else by content: a
    CSV header with a_x, a pyGIMLi '# a b m n ...' header, else UBC-GIF, whose 2D/3D layout
    is recognised from its lines). dimension: "auto", "2d" (a line, (x, z)) or "3d".
    Bad input raises ``DataError`` naming the file, the 1-based line and the column.
    """
    dim = _dimension(dimension)
    if format == "auto":
        kind = detect_format(path)
    elif format in FORMATS:
        kind = "ubc" if format.startswith("ubc") else format
        dim = _ubc_dimension(format, dim) if kind == "ubc" else dim
    else:
        raise DataError(f"{path}: unknown format {format!r}; use auto or one of "
                        f"{', '.join(FORMATS)}")
    reader = {"csv": read_csv, "pygimli": read_gimli, "ubc": read_ubc}[kind]
    return reader(path, dim)


def detect_format(path) -> str:
    """"csv", "pygimli" or "ubc" (whose variant the UBC reader then finds)."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    lines = numbered_lines(path)
    content = [ln for ln in lines if not ln.text.lstrip().startswith("#")]
    if content and "," in content[0].text and "a_x" in content[0].text.lower():
        return "csv"
    for line in lines:
        text = line.text.lstrip()
        if text.startswith("#") and {"a", "b", "m", "n"} <= set(text[1:].lower().split()):
            return "pygimli"
    return "ubc"


def _dimension(dimension: str) -> int | None:
    if dimension.lower() not in DIMENSIONS:
        raise DataError(f"unknown dimension {dimension!r}; use auto, 2d or 3d")
    return DIMENSIONS[dimension.lower()]


def _ubc_dimension(format: str, dim: int | None) -> int:
    wanted = 2 if format == "ubc-2d" else 3
    if dim not in (None, wanted):
        raise DataError(f"format {format} holds {wanted}D data but dimension {dim}d was asked "
                        f"for; drop one of the two")
    return wanted


def write_survey(data: FieldData | Survey, path, format: str, *,
                 data_type: str | None = None) -> None:
    """Write a survey with data in ``format`` (one of ``FORMATS``), atomically.

    data_type: what the values are; a ``FieldData`` carries its own (giving another is an
    error: convert with ``to_resistance``), a ``Survey``'s dobs are "resistance" (V/A) unless
    said otherwise. UBC files hold V/A only. A ``FieldData`` is written in its file
    coordinates (local + origin), with its currents and geometric factors where the format
    has columns for them.
    """
    survey, electrodes, kind, current, k = _unpack(data, data_type)
    if survey.dobs is None:
        raise DataError(f"{path}: the survey has no data to write; simulate or read data first")
    if format not in FORMATS:
        raise DataError(f"{path}: unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if format.startswith("ubc"):
        _check_ubc(path, format, survey, kind)

    def write(tmp: Path) -> None:
        if format.startswith("ubc"):
            write_ubc(tmp, electrodes, survey.abmn, survey.dobs, survey.uncertainty)
        elif format == "pygimli":
            write_gimli(tmp, electrodes, survey.abmn, survey.dobs, survey.uncertainty, kind,
                        current, k)
        else:
            write_csv(tmp, electrodes, survey.abmn, survey.dobs, survey.uncertainty, kind,
                      current)
    atomic_write(Path(path), write)  # readers never see a half-written file


def _unpack(data, data_type):
    if isinstance(data, FieldData):
        if data_type not in (None, data.data_type):
            raise DataError(f"{data.path}: holds {data.data_type}, not {data_type}; convert "
                            f"with to_resistance first")
        return (data.survey, data.global_electrodes(), data.data_type, data.current,
                data.geometric_factor)
    kind = data_type or "resistance"
    if kind not in DATA_TYPES:
        raise DataError(f"unknown data type {kind!r}; use one of {', '.join(DATA_TYPES)}")
    return data, data.electrodes, kind, None, None


def _check_ubc(path, format: str, survey: Survey, kind: str) -> None:
    if kind != "resistance":
        raise DataError(f"{path}: UBC files hold V/A, not {kind}; convert with "
                        f"to_resistance first or write pygimli or csv")
    wanted = 2 if format == "ubc-2d" else 3
    if survey.dim != wanted:
        raise DataError(f"{path}: a {survey.dim}D survey cannot be written as {format}; use "
                        f"ubc-{survey.dim}d")
