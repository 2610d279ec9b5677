"""``read_survey`` and ``write_survey``: pick the format (from the name, the extension or the
content) and hand over to its module.

Read and written: UBC-GIF DCIP2D/DCIP3D (``ubc``), pyGIMLi unified data (``gimli``), CSV
(``csv_format``). Read only: R2/R3t protocol.dat with a companion positions file
(``r2_protocol``), Res2DInv general array (``res2dinv``), IRIS Syscal Pro text exports
(``syscal``), ABEM Terrameter LS/SAS text exports (``abem``).
"""

from __future__ import annotations

from pathlib import Path

from hpcinv.errors import DataError
from hpcinv.files import atomic_write
from hpcinv.readers.abem import check_abem, read_abem
from hpcinv.readers.csv_format import check_csv, read_csv, write_csv
from hpcinv.readers.fielddata import DATA_TYPES, FORMATS, FieldData
from hpcinv.readers.gimli import check_gimli, read_gimli, write_gimli
from hpcinv.readers.r2_protocol import check_r2_protocol, read_r2_protocol
from hpcinv.readers.res2dinv import check_res2dinv, read_res2dinv
from hpcinv.readers.syscal import check_syscal, read_syscal
from hpcinv.readers.textlines import numbered_lines
from hpcinv.readers.ubc import check_ubc, read_ubc, write_ubc
from hpcinv.survey import Survey

DIMENSIONS = {"auto": None, "2d": 2, "3d": 3}
#: The signature of each format: a check that raises ``DataError`` (naming the line and
#: column) unless the content has the format's structure. Tried in this order, except that
#: a format named by the file's suffix (``SUFFIXES``) is tried first.
SIGNATURES = {
    "ubc-2d": lambda path, lines: check_ubc(path, 2, lines),
    "ubc-3d": lambda path, lines: check_ubc(path, 3, lines),
    "pygimli": check_gimli,
    "csv": check_csv,
    "r2-protocol": check_r2_protocol,
    "res2dinv": check_res2dinv,
    "syscal": check_syscal,
    "abem": check_abem,
}
#: The formats ``write_survey`` writes (the others are read only); a refused file is advised
#: to be converted to one of them.
WRITABLE = ("ubc-2d", "ubc-3d", "pygimli", "csv")
READERS = {
    "csv": read_csv,
    "pygimli": read_gimli,
    "ubc": read_ubc,
    "r2-protocol": read_r2_protocol,
    "res2dinv": read_res2dinv,
    "syscal": read_syscal,
    "abem": read_abem,
}
SUFFIXES = {".csv": "csv", ".ohm": "pygimli", ".shm": "pygimli"}


def read_survey(path, format: str = "auto", *, dimension: str = "auto") -> FieldData:
    """Read a field-data file.

    format: one of ``FORMATS`` or "auto" (by content, see ``detect_format``; UBC-GIF's 2D/3D
    layout is then recognised from its lines); an explicit format skips detection, but its
    reader still refuses a file whose structure is not the format's. dimension: "auto",
    "2d" (a line, (x, z)) or "3d". Bad input raises ``DataError`` naming the file, the
    1-based line and the column.
    """
    dim = _dimension(dimension)
    if format == "auto":
        kind = detect_format(path)
    elif format in FORMATS:
        kind = "ubc" if format.startswith("ubc") else format
        dim = _ubc_dimension(format, dim) if kind == "ubc" else dim
    else:
        raise DataError(
            f"{path}: unknown format {format!r}; use auto or one of {', '.join(FORMATS)}"
        )
    return READERS[kind](path, dim)


def detect_format(path) -> str:
    """ "ubc" (whose variant the UBC reader then finds), or another name of ``SIGNATURES``
    ("pygimli", "csv", "r2-protocol", "res2dinv", "syscal", "abem"), from the content.

    Detection is positive: a file is taken for a format only when its content has that
    format's structure (``SIGNATURES``: counts that agree with the rows that follow, the
    right number of fields per row, numbers where numbers must be, a plausible header); the
    suffix only decides which is tried first. Otherwise one ``DataError`` names the file,
    every format tried with why it was rejected, and what to do.
    """
    lines = numbered_lines(path)  # read once for every check
    if not lines:
        raise DataError(
            f"{path}, line 1, column 1: the file is empty; give a field-data file "
            f"(see README, Field data)"
        )
    first = SUFFIXES.get(Path(path).suffix.lower())
    reasons = {}
    for name in sorted(SIGNATURES, key=lambda name: name != first):
        try:
            SIGNATURES[name](path, lines)
        except DataError as exc:
            reasons[name] = _reason(path, exc)
        else:
            return "ubc" if name.startswith("ubc") else name
    raise DataError(_refusal(path, reasons))


def _reason(path, exc: DataError) -> str:
    """A check's message without the file name (the refusal names it once)."""
    text, prefix = str(exc), str(path)
    return text[len(prefix) :].lstrip(",: ") if text.startswith(prefix) else text


def _refusal(path, reasons: dict[str, str]) -> str:
    by_reason: dict[str, list[str]] = {}
    for name in SIGNATURES:  # the same reason for ubc-2d and ubc-3d is given once
        by_reason.setdefault(reasons[name], []).append(name)
    tried = " | ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
    return (
        f"{path}: not read: the content matches none of the formats hpcinv reads. Tried "
        f"{tried}. If the file is meant to be one of these, correct the line named for "
        f"it; otherwise convert it to one of: {', '.join(WRITABLE)} (see README, Field "
        f"data)"
    )


def _dimension(dimension: str) -> int | None:
    if dimension.lower() not in DIMENSIONS:
        raise DataError(f"unknown dimension {dimension!r}; use auto, 2d or 3d")
    return DIMENSIONS[dimension.lower()]


def _ubc_dimension(format: str, dim: int | None) -> int:
    wanted = 2 if format == "ubc-2d" else 3
    if dim not in (None, wanted):
        raise DataError(
            f"format {format} holds {wanted}D data but dimension {dim}d was asked "
            f"for; drop one of the two"
        )
    return wanted


def write_survey(
    data: FieldData | Survey, path, format: str, *, data_type: str | None = None
) -> None:
    """Write a survey with data in ``format`` (one of ``WRITABLE``), atomically.

    data_type: what the values are; a ``FieldData`` carries its own (giving another is an
    error: convert with ``to_resistance``), a ``Survey``'s dobs are "resistance" (V/A) unless
    said otherwise. UBC files hold V/A only. A ``FieldData`` is written in its file
    coordinates (local + origin), with its currents and geometric factors where the format
    has columns for them.
    """
    survey, electrodes, kind, current, k = _unpack(data, data_type)
    if survey.dobs is None:
        raise DataError(f"{path}: the survey has no data to write; simulate or read data first")
    if format in FORMATS and format not in WRITABLE:
        raise DataError(
            f"{path}: hpcinv reads {format} files but does not write them; write one of "
            f"{', '.join(WRITABLE)}"
        )
    if format not in FORMATS:
        raise DataError(f"{path}: unknown format {format!r}; use one of {', '.join(WRITABLE)}")
    if format.startswith("ubc"):
        _check_ubc(path, format, survey, kind)

    def write(tmp: Path) -> None:
        if format.startswith("ubc"):
            write_ubc(tmp, electrodes, survey.abmn, survey.dobs, survey.uncertainty)
        elif format == "pygimli":
            write_gimli(
                tmp, electrodes, survey.abmn, survey.dobs, survey.uncertainty, kind, current, k
            )
        else:
            write_csv(tmp, electrodes, survey.abmn, survey.dobs, survey.uncertainty, kind, current)

    atomic_write(Path(path), write)  # readers never see a half-written file


def _unpack(data, data_type):
    if isinstance(data, FieldData):
        if data_type not in (None, data.data_type):
            raise DataError(
                f"{data.path}: holds {data.data_type}, not {data_type}; convert "
                f"with to_resistance first"
            )
        return (
            data.survey,
            data.global_electrodes(),
            data.data_type,
            data.current,
            data.geometric_factor,
        )
    kind = data_type or "resistance"
    if kind not in DATA_TYPES:
        raise DataError(f"unknown data type {kind!r}; use one of {', '.join(DATA_TYPES)}")
    return data, data.electrodes, kind, None, None


def _check_ubc(path, format: str, survey: Survey, kind: str) -> None:
    if kind != "resistance":
        raise DataError(
            f"{path}: UBC files hold V/A, not {kind}; convert with "
            f"to_resistance first or write pygimli or csv"
        )
    wanted = 2 if format == "ubc-2d" else 3
    if survey.dim != wanted:
        raise DataError(
            f"{path}: a {survey.dim}D survey cannot be written as {format}; use ubc-{survey.dim}d"
        )
