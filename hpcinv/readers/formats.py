"""``read_survey`` and ``write_survey``: pick the format (from the name, the extension or the
content) and hand over to its module.

Read and written: UBC-GIF DCIP2D/DCIP3D (``ubc``), pyGIMLi unified data (``gimli``), CSV
(``csv_format``). Read only: R2/R3t protocol.dat with a companion positions file
(``r2_protocol``), Res2DInv index-based and general arrays (``res2dinv``), IRIS Syscal Pro
text exports (``syscal``) and binary files (``syscal_binary``), ABEM Terrameter LS/SAS text
exports (``abem``), AGI SuperSting .stg files (``supersting``).
"""

from __future__ import annotations

from pathlib import Path

from hpcinv.errors import DataError
from hpcinv.files import atomic_write
from hpcinv.readers.abem import check_abem, read_abem
from hpcinv.readers.csv_format import check_csv, read_csv, write_csv
from hpcinv.readers.electrode_files import attach_electrodes
from hpcinv.readers.fielddata import DATA_TYPES, FORMATS, FieldData
from hpcinv.readers.gimli import check_gimli, read_gimli, write_gimli
from hpcinv.readers.r2_protocol import check_r2_protocol, read_r2_protocol
from hpcinv.readers.refusals import WRITABLE, likely_order, not_text, refusal, trial_order
from hpcinv.readers.res2dinv import check_res2dinv, read_res2dinv
from hpcinv.readers.supersting import check_supersting, read_supersting
from hpcinv.readers.syscal import check_syscal, read_syscal
from hpcinv.readers.syscal_binary import (
    check_syscal_binary,
    looks_like_syscal_binary,
    read_syscal_binary,
)
from hpcinv.readers.textlines import TextLine, numbered_lines
from hpcinv.readers.ubc import check_ubc, read_ubc, write_ubc
from hpcinv.survey import Survey

DIMENSIONS = {"auto": None, "2d": 2, "3d": 3}
#: The signature of each format: a check that raises ``DataError`` (naming the line and
#: column) unless the content has the format's structure. Tried in this order, except that
#: a format named by the file's suffix (``SUFFIXES``) is tried first, then those whose first
#: lines begin as theirs do (``refusals.trial_order``).
SIGNATURES = {
    "ubc-2d": lambda path, lines: check_ubc(path, 2, lines),
    "ubc-3d": lambda path, lines: check_ubc(path, 3, lines),
    "pygimli": check_gimli,
    "csv": check_csv,
    "r2-protocol": check_r2_protocol,
    "res2dinv": check_res2dinv,
    "syscal": check_syscal,
    "abem": check_abem,
    "supersting": check_supersting,
}
READERS = {
    "csv": read_csv,
    "pygimli": read_gimli,
    "ubc": read_ubc,
    "r2-protocol": read_r2_protocol,
    "res2dinv": read_res2dinv,
    "syscal": read_syscal,
    "syscal-binary": read_syscal_binary,
    "abem": read_abem,
    "supersting": read_supersting,
}
SUFFIXES = {".csv": "csv", ".ohm": "pygimli", ".shm": "pygimli", ".stg": "supersting"}
#: Formats whose reader refuses every file its signature refuses (``read_gimli`` checks the
#: same structure, then the values): when detection would try one first, ``read_survey``
#: reads with it at once rather than parsing the file twice (a 16k-datum file in ~0.2 s less).
SELF_CHECKING = ("pygimli",)


def read_survey(
    path, format: str = "auto", *, dimension: str = "auto", electrodes=None
) -> FieldData:
    """Read a field-data file.

    format: one of ``FORMATS`` or "auto" (by content, see ``detect_format``; UBC-GIF's 2D/3D
    layout is then recognised from its lines); an explicit format skips detection, but its
    reader still refuses a file whose structure is not the format's. dimension: "auto",
    "2d" (a line, (x, z)) or "3d". Bad input raises ``DataError`` naming the file, the
    1-based line and the column; a binary file is refused as such (``refusals.not_text``).
    electrodes: an electrode file (``problem.electrodes``): an R2/R3t protocol's positions,
    else the elevations of a file without them (``electrode_files.attach_electrodes``).
    """
    if electrodes is not None:
        return _with_electrodes(path, format, dimension, Path(electrodes))
    dim = _dimension(dimension)
    if format == "auto":
        if _binary_format(path):
            return read_syscal_binary(path, dim)
        lines = _text_lines(path)
        order = _trial_order(path, lines)
        if order[0] in SELF_CHECKING:
            try:  # what detection would try first and accept: its reader checks it once
                return READERS[order[0]](path, dim)
            except DataError:
                pass  # the refusal comes from detection (or this message again, after it)
        kind = _detect(path, lines, order)
    elif format in FORMATS:
        if format != "syscal-binary":
            _refuse_binary(path)  # the readers' messages would quote its bytes
        kind = "ubc" if format.startswith("ubc") else format
        dim = _ubc_dimension(format, dim) if kind == "ubc" else dim
    else:
        raise DataError(
            f"{path}: unknown format {format!r}; use auto or one of {', '.join(FORMATS)}"
        )
    return READERS[kind](path, dim)


def _with_electrodes(path, format: str, dimension: str, electrodes: Path) -> FieldData:
    if not electrodes.is_file():
        raise DataError(f"{electrodes}: no such electrode file; check the path")
    kind = detect_format(path) if format == "auto" else format
    if kind == "r2-protocol":
        return read_r2_protocol(path, _dimension(dimension), electrodes=electrodes)
    return attach_electrodes(read_survey(path, format, dimension=dimension), electrodes)


def detect_format(path) -> str:
    """ "ubc" (whose variant the UBC reader then finds), or another name of ``SIGNATURES``
    ("pygimli", "csv", "r2-protocol", "res2dinv", "syscal", "abem"), from the content.

    Detection is positive: a file is taken for a format only when its content has that
    format's structure (``SIGNATURES``: counts that agree with the rows that follow, the
    right number of fields per row, numbers where numbers must be, a plausible header); the
    suffix and the first lines only decide the order they are tried in. Otherwise one
    ``DataError`` line gives the reason of the format the file most likely is and points to
    ``hpcinv data FILE --why`` for the others (``refusals.refusal``).
    """
    binary = _binary_format(path)
    if binary:
        return binary
    lines = _text_lines(path)  # read once for every check
    return _detect(path, lines, _trial_order(path, lines))


def _trial_order(path, lines: list[TextLine]) -> list[str]:
    return trial_order(path, lines, list(SIGNATURES), SUFFIXES.get(Path(path).suffix.lower()))


def _detect(path, lines: list[TextLine], order: list[str]) -> str:
    """The first format of ``order`` whose check accepts ``lines``, or the refusal."""
    reasons = {}
    for name in order:
        why = _check(path, name, lines)
        if why is None:
            return "ubc" if name.startswith("ubc") else name
        reasons[name] = why
    raise DataError(refusal(path, lines, {name: reasons[name] for name in SIGNATURES}))


def format_reasons(path) -> dict[str, str | None]:
    """Every format's check of ``path``: name -> why it refused (the message without the
    file name), None where it accepts; most likely first. Raises ``DataError`` for an
    empty or binary file."""
    lines = _text_lines(path)
    reasons = {name: _check(path, name, lines) for name in SIGNATURES}
    refused = {name: why for name, why in reasons.items() if why is not None}
    accepted = [name for name, why in reasons.items() if why is None]
    return {name: reasons[name] for name in accepted + likely_order(path, lines, refused)}


def explain(path, dimension: str = "auto") -> tuple[bool, list[str]]:
    """What ``hpcinv data FILE --why`` prints: (read, lines). The first line says which
    format reads the file (or that none does, or why a file that is not text is not tried);
    then one line per format with why it refused, most likely first."""
    try:
        if _binary_format(path):
            data = read_survey(path, "syscal-binary", dimension=dimension)
            return True, [f"{path}: read as {data.format} (binary: no text format tried)"]
        reasons = format_reasons(path)
    except DataError as exc:  # empty, binary or unreadable: no format is tried
        return False, [str(exc), *(f"  {name}: not tried" for name in SIGNATURES)]
    refused = [f"  {name}: {why}" for name, why in reasons.items() if why is not None]
    try:
        kind = read_survey(path, dimension=dimension).format
    except DataError as exc:
        accepted = [name for name, why in reasons.items() if why is None]
        head = (
            f"{path}: not read: laid out as {accepted[0]}, but reading it failed: "
            f"{_reason(path, exc)}"
            if accepted
            else f"{path}: not read by any of the {len(SIGNATURES)} formats; why each "
            f"refused, most likely first:"
        )
        advice = (
            f"If the file is meant to be one of these, correct the line named for it; "
            f"otherwise convert it to one of: {', '.join(WRITABLE)} (see README, Field data)"
        )
        return False, [head, *refused, advice]
    also = [
        f"  {name}: accepts the layout too (--format {name} reads it so)"
        for name, why in reasons.items()
        if why is None and name != kind
    ]
    return True, [f"{path}: read as {kind}; the other formats:", *also, *refused]


def _text_lines(path) -> list[TextLine]:
    """The file's ``numbered_lines``; a binary or empty file is a ``DataError``."""
    _refuse_binary(path)
    lines = numbered_lines(path)
    if not lines:
        raise DataError(
            f"{path}, line 1, column 1: the file is empty; give a field-data file "
            f"(see README, Field data)"
        )
    return lines


def _binary_format(path) -> str | None:
    """ "syscal-binary" for a Syscal Pro .bin file, None for a text file; another binary
    file is refused as not text, a corrupt .bin with the record and byte its check names."""
    if not_text(path) is None:
        return None
    if looks_like_syscal_binary(path):
        check_syscal_binary(path)
        return "syscal-binary"
    _refuse_binary(path)
    return None


def _refuse_binary(path) -> None:
    message = not_text(path)
    if message:
        raise DataError(message)


def _check(path, name: str, lines: list[TextLine]) -> str | None:
    """Why format ``name`` refuses ``path`` (its check's message without the file name), or
    None when it accepts."""
    try:
        SIGNATURES[name](path, lines)
    except DataError as exc:
        return _reason(path, exc)
    return None


def _reason(path, exc: DataError) -> str:
    """A check's message without the file name (the refusal names it once)."""
    text, prefix = str(exc), str(path)
    return text[len(prefix) :].lstrip(",: ") if text.startswith(prefix) else text


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
