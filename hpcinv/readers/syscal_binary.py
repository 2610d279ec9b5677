"""IRIS Instruments Syscal Pro binary files (``.bin``), read as ``syscal`` reads their Prosys
text export: the same survey, without the export's rounding.

Layout (little-endian, no padding; byte offsets from the start of the file or the record).
The public readers agree on every field read here: IRIS Instruments' own MATLAB reader
(J. Gance, "Matlab code to read IRIS Instruments .bin and .pro files", V3.0, 2019) and an R
translation of it, ResIPy's ``resipy.parsers.syscalBinRawParser`` ("following documentation
provided by Iris Instruments on 2025-01-26", tested on a real Syscal Pro file of version
0x80000002) and its older ``syscalBinParser``, T. Devie's ``read_bin`` (2023), and reda's
``reda.importers.iris_syscal_pro._import_bin`` except where said.

Header, 1029 bytes (versions 0x80000000 to 0x80000002)::

    0  uint32   version (0x8000000N)
    4  uint8    TypeOfSyscal: 3, 4, 5, 8, 9 or 11, the Syscal Pro family, whose records the
                readers decode as below (other types, other layouts: refused)
    5  char[1024] comment

Then one record per measurement (a quadripole of one channel), 280 bytes, 296 or 304::

    0  int16    el_array (array type code; not used)
    2  int16    MoreTMesure: 0 or 1 -> 280 bytes, 2 -> 296, 3 -> 304 (any other: refused)
    4  float32  injection time (ms)          8  float32  M delay (ms)
    12 int16    TypeCpXyz: 1 = positions in x, y, z (0 = Syscal Kid: refused)
    14 int16    ignored
    16 float32[4] xA xB xM xN (m)          32 float32[4] yA yB yM yN (m)
    48 float32[4] zA zB zM zN (m)
    64 float32  SP (mV)        68 float32  Vp (mV)        72 float32  In (mA)
    76 float32  Rho (ohm.m)    80 float32  M (mV/V)       84 float32  Dev. (%)
    88 float32[20] IP window widths (ms)    168 float32[20] IP window values (mV/V)
    248 uint8   channel and channel count, 4 bits each (not used)
    249 uint8   flags: bit 0 overload (IRIS's reader, Devie), bit 3 gap-filler (Devie);
                reda names them the other way round, so bits 0 and 3 are overload and
                gap-filler in some order for all three
    250 uint16  quadripole number          252 char[12] name
    264 float32 latitude    268 float32 longitude    272 float32 stacks    276 float32 Rs-check
    280 float32[4] Tx Vab, Tx battery, Rx battery, temperature    (MoreTMesure 2 and 3)
    296 float64 date and time (days since 1899-12-30)             (MoreTMesure 3)

reda reads a record with MoreTMesure 0 as 248 bytes (nothing from byte 248 on); IRIS's
reader, ResIPy and Devie read 280, which is followed here. ResIPy gives every record the
length of the first record's MoreTMesure; IRIS's reader, reda and this one read it per
record.

Read: the positions (float32 metres, taken as their shortest decimal form, so 0.1 stays 0.1
m: the metres the instrument was given), Vp and In (R = Vp / In, mV / mA = V/A, with the
signs stored: none is changed, as in the text export and in every reader above) and Dev.
(the standard deviation of the stack in percent: uncertainty Dev/100 |R| when every record
has Dev > 0, else none, as ``syscal`` does). No electrode spacing is stored: the positions
are those the instrument computed with its spacing setting (Prosys can rescale them before
an export). A remote electrode (pole) is taken to be stored at the sentinel x the text
export shows, +-99999, +-999999 or +-9999999 m (the export can only copy what the file
holds; ResIPy and reda give such a pole its sentinel position as an electrode): such a B or
N is ``REMOTE``. y constant is a line (x, z), else 3D; z 0 everywhere is a survey without
elevations (``problem.electrodes`` can add them), as a text export without z columns.
Records flagged overload or gap-filler (bit 0 or 3 of byte 249) are dropped and listed:
Prosys rejects them when it opens a .bin ("Reject gapfiller and overload" in its log), so
its text export lacks them. A datum's "line" (``FieldData.data_lines``, the messages) is
its 1-based record number.

Refused, each in one line naming the file, the byte or record and the fix: text files (read
them with the ``syscal`` format), other instruments' types, versions 0x80000003 (IRIS's
reader and Devie skip a 768000-byte Cole-Cole block after the comment, ResIPy and reda do
not) and 0x80000004 (IRIS's reader adds file names to the header and 4 bytes to each
record, ResIPy a Cole-Cole block too, reda neither), other versions, ``.binx`` files
(Prosys III; their variable-length, versioned records are documented by ResIPy alone and
no real file is at hand to check them), records of another variant and truncated files.
The fix is Prosys's text export, which ``syscal`` reads.

``check_syscal_binary`` is the signature format detection can use: by content (header,
every record's variant and length, the file ending on a record; only ``.binx`` is refused
by its name), without quoting the file's bytes. ``looks_like_syscal_binary`` is a quick
look at the header, to tell a corrupt .bin (the check's reason) from another binary file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import (
    DataRows,
    build_field_data,
    drop_unusable,
    electrodes_from_locations,
)
from hpcinv.readers.columns import geometry
from hpcinv.readers.fielddata import DroppedRow, FieldData
from hpcinv.readers.syscal import ELECTRODES, REMOTE_SENTINELS
from hpcinv.readers.textlines import TextLine

#: The ``FieldData.format`` of a Syscal Pro binary file.
FORMAT = "syscal-binary"
HEADER_SIZE = 1029
#: Versions whose header is the 1029 bytes above in every public reader.
VERSIONS = range(0x80000000, 0x80000003)
#: Versions whose header the public readers lay out differently (see the module docstring).
DISPUTED_VERSIONS = (0x80000003, 0x80000004)
#: TypeOfSyscal of the Syscal Pro family (records laid out as above).
PRO_TYPES = (3, 4, 5, 8, 9, 11)
#: Record length by MoreTMesure.
RECORD_SIZES = {0: 280, 1: 280, 2: 296, 3: 304}
#: Record fields read: el_array, MoreTMesure, time, M delay, TypeCpXyz, ignored, x[4], y[4],
#: z[4], SP, Vp, In, Rho, M, Dev.
_HEAD = struct.Struct("<hhffhh12f6f")
_FLAGS_AT = 249
#: Bits 0 and 3 of the flag byte: overload and gap-filler.
_REJECTED_FLAGS = 0b1001
_X_AT, _Y_AT, _VP_AT, _IN_AT, _DEV_AT = 16, 32, 68, 72, 84
FIX = "export it from Prosys as text (the syscal format reads that)"


@dataclass(frozen=True)
class _Records:
    """What ``_scan`` found: header fields and one entry per record."""

    version: int
    kind: int
    size: int
    offsets: np.ndarray  # (n,) int64 byte offset of each record
    positions: np.ndarray  # (n, 3, 4) float32 x, y, z of A, B, M, N
    vp: np.ndarray  # (n,) float32 mV
    current: np.ndarray  # (n,) float32 mA
    dev: np.ndarray  # (n,) float32 percent
    flags: np.ndarray  # (n,) uint8


def check_syscal_binary(path, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (one line: the file, the byte or record, the fix) unless ``path``
    is a Syscal Pro ``.bin`` file of the layout read here: the header's version and
    instrument type, then records of a known variant that end exactly at the file's end.
    ``lines`` is ignored (the signature of the text formats' checks)."""
    _scan(path)


def looks_like_syscal_binary(path) -> bool:
    """Whether the first 5 bytes are a Syscal .bin header's: a version 0x80000000 to
    0x80000004 and a Syscal Pro instrument type (a quick look; ``check_syscal_binary`` then
    says whether hpcinv reads the file, or why not)."""
    try:
        with open(path, "rb") as f:
            head = f.read(5)
    except OSError:
        return False
    if len(head) < 5:
        return False
    version, kind = struct.unpack("<IB", head)
    return (version in VERSIONS or version in DISPUTED_VERSIONS) and kind in PRO_TYPES


def read_syscal_binary(path, dim: int | None) -> FieldData:
    """Read a Syscal Pro ``.bin`` file; ``dim`` 2 or 3 (None: from the positions)."""
    rec = _scan(path)
    n = rec.offsets.size
    x, y, z = (_decimal(rec.positions[:, axis]) for axis in range(3))
    remote = np.isin(np.abs(x), REMOTE_SENTINELS)
    for e in (0, 2):  # A and M cannot be remote
        if remote[:, e].any():
            k = int(np.flatnonzero(remote[:, e])[0])
            raise DataError(
                f"{_where(path, rec, k, _X_AT + 4 * e)}: x{ELECTRODES[e]} at the remote "
                f"sentinel {x[k, e]:g}; only B and N can be remote poles: {FIX} and correct it"
            )
    used = ~remote
    if dim == 2 and used.any() and np.ptp(y[used]) != 0:
        k, e = (int(i[0]) for i in np.nonzero(used & (y != y[used][0])))
        raise DataError(
            f"{_where(path, rec, k, _Y_AT + 4 * e)}: the electrodes vary in x and y, "
            f"which is no line; read the file as 3D"
        )
    flat = not np.any(z[used])
    locations, notes = geometry(path, _NO_HEADER, x, y, None if flat else z, remote, dim)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = rec.vp.astype(np.float64) / rec.current.astype(np.float64)  # mV/mA = V/A
    dev = rec.dev.astype(np.float64)
    uncertainty = None
    notes = [
        f"Syscal Pro binary file (version {rec.version:#010x}, type {rec.kind}), {n} "
        f"records, {'3D' if locations.shape[-1] == 3 else '2D line'}; a datum's line is "
        f"its 1-based record number",
        *notes,
        "values are Vp/In (float32 mV / mA = V/A, unrounded); Rho not used",
    ]
    if np.all(dev > 0):
        uncertainty = dev / 100.0 * np.abs(value)
        notes.append(f"uncertainty = Dev/100 |R| (Dev., record byte {_DEV_AT})")
    else:
        notes.append(
            f"{int(np.sum(~(dev > 0)))} records with Dev <= 0 (record byte {_DEV_AT}): no "
            f"uncertainties read; set them with assign_uncertainty"
        )
    if remote.any():
        notes.append(f"{int(remote.any(axis=1).sum())} data with a remote pole (sentinel x)")
    lines = tuple(
        TextLine(k + 1, f"record {k + 1} at byte {int(rec.offsets[k])}", ()) for k in range(n)
    )
    rows = DataRows(
        lines=lines,
        value=value,
        uncertainty=uncertainty,
        columns={
            "value": f"Vp/In (record bytes {_VP_AT} and {_IN_AT})",
            "uncertainty": f"Dev. (record byte {_DEV_AT})",
            "B": f"xB (record byte {_X_AT + 4})",
            "N": f"xN (record byte {_X_AT + 12})",
        },
    )
    flagged = (rec.flags & _REJECTED_FLAGS) != 0
    rejected = [
        DroppedRow(line.number, f"flagged overload or gap-filler (byte {_FLAGS_AT})", line.text)
        for line, bad in zip(lines, flagged)
        if bad
    ]
    if rejected:
        notes.append(
            f"{len(rejected)} records flagged overload or gap-filler dropped, as Prosys "
            f"rejects them"
        )
    rows = rows.subset(~flagged)
    kept = np.flatnonzero(~flagged)
    rows, keep, dropped = drop_unusable(rows, locations[kept], remote[kept])
    electrodes, abmn = electrodes_from_locations(locations[kept][keep], remote[kept][keep])
    return build_field_data(
        path,
        FORMAT,
        "resistance",
        electrodes,
        abmn,
        rows,
        sorted(rejected + dropped, key=lambda row: row.line),
        notes,
        end=f"byte {rec.size}",
    )


#: ``columns.geometry`` names a header line only when dim 2 meets a varying y, which
#: ``read_syscal_binary`` refuses first with the record's byte.
_NO_HEADER = TextLine(0, "", ())


def _decimal(values: np.ndarray) -> np.ndarray:
    """float32 -> float64 by the shortest decimal that reads back as the same float32
    (0.1f is 0.1, not 0.10000000149)."""
    unique, inverse = np.unique(values.astype(np.float32), return_inverse=True)
    return unique.astype(str).astype(np.float64)[inverse].reshape(values.shape)


def _where(path, rec: _Records, k: int, field: int) -> str:
    return f"{path}, record {k + 1} (byte {int(rec.offsets[k]) + field})"


def _read_bytes(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the data file ({exc.strerror}); check the path"
        ) from exc


def _looks_like_text(head: bytes) -> bool:
    """No NUL and no control byte but blanks in the first bytes: text, in any 8-bit or UTF-8
    encoding (a .bin header has NUL bytes in its version field)."""
    return not any(byte < 32 and byte not in _BLANKS for byte in head)


_BLANKS = frozenset(b"\t\n\r\f\v")


def _scan(path) -> _Records:
    """The header and the record offsets and fields, checked (see ``check_syscal_binary``)."""
    if Path(path).suffix.lower() == ".binx":
        raise DataError(
            f"{path}, byte 0: a Syscal .binx file (Prosys III), whose layout hpcinv does "
            f"not read; {FIX}"
        )
    data = _read_bytes(path)
    size = len(data)
    if size == 0:
        raise DataError(f"{path}, byte 0: the file is empty; give a Syscal Pro .bin file")
    if _looks_like_text(data[:HEADER_SIZE]):
        raise DataError(
            f"{path}, byte 0: text, not a Syscal Pro binary (.bin) file; read a Prosys text "
            f"export with the syscal format"
        )
    if size < HEADER_SIZE:
        raise DataError(
            f"{path}, byte {size}: the file ends inside the {HEADER_SIZE}-byte header of a "
            f"Syscal Pro .bin file; copy the whole file from the instrument or {FIX}"
        )
    version, kind = struct.unpack_from("<IB", data, 0)
    _check_header(path, version, kind)
    offsets: list[int] = []
    heads: list[tuple] = []
    flags: list[int] = []
    at = HEADER_SIZE
    while at < size:
        k = len(offsets) + 1
        if size - at < _HEAD.size:
            raise _truncated(path, k, at, size - at, None)
        head = _HEAD.unpack_from(data, at)
        variant, xyz = head[1], head[4]
        if variant not in RECORD_SIZES:
            raise DataError(
                f"{path}, record {k} (byte {at + 2}): record variant (MoreTMesure) {variant} "
                f"is none of 0 to 3: the file is corrupt or of another layout; {FIX}"
            )
        if xyz != 1:
            raise DataError(
                f"{path}, record {k} (byte {at + 12}): TypeCpXyz is {xyz}, not 1 (positions "
                f"in x, y, z; 0 is a Syscal Kid record): the file is corrupt or of another "
                f"layout; {FIX}"
            )
        length = RECORD_SIZES[variant]
        if size - at < length:
            raise _truncated(path, k, at, size - at, length)
        offsets.append(at)
        heads.append(head[6:])
        flags.append(data[at + _FLAGS_AT])
        at += length
    fields = np.array(heads, dtype=np.float32).reshape(-1, 18)
    return _Records(
        version=version,
        kind=kind,
        size=size,
        offsets=np.array(offsets, dtype=np.int64),
        positions=fields[:, :12].reshape(-1, 3, 4),
        vp=fields[:, 13],
        current=fields[:, 14],
        dev=fields[:, 17],
        flags=np.array(flags, dtype=np.uint8),
    )


def _check_header(path, version: int, kind: int) -> None:
    if version in DISPUTED_VERSIONS:
        raise DataError(
            f"{path}, byte 0: Syscal .bin version {version:#010x}, whose header the public "
            f"readers lay out differently, so hpcinv does not read it; {FIX}"
        )
    if version not in VERSIONS:
        named = f" {version:#010x}" if version >> 24 == 0x80 else ""
        raise DataError(
            f"{path}, byte 0: not a Syscal Pro .bin file: version{named} is not 0x80000000 "
            f"to 0x80000002; give a Syscal Pro .bin file or {FIX}"
        )
    if kind not in PRO_TYPES:
        raise DataError(
            f"{path}, byte 4: instrument type {kind} is not of the Syscal Pro family "
            f"({', '.join(map(str, PRO_TYPES))}), whose records hpcinv reads; {FIX}"
        )


def _truncated(path, k: int, at: int, left: int, length: int | None) -> DataError:
    whole = f"this {length}-byte record" if length else "this record"
    return DataError(
        f"{path}, record {k} (byte {at}): the file ends {left} bytes into {whole} "
        f"(truncated); copy the whole file from the instrument again or {FIX}"
    )
