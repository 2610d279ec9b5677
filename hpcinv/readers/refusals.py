"""Why a file was not read, said so that the useful reason comes first.

A refused file gets one line: the reason of the format it most likely is (``likely_order``:
how its first lines begin, its name and extension, how far each format's check got before
refusing), then where to see the others (``hpcinv data FILE --why``). Files that are not
text are named as such, with the instrument their extension suggests and what to export,
instead of reasons that quote their bytes (``not_text``).
"""

from __future__ import annotations

import re
from pathlib import Path

from hpcinv.readers.textlines import TextLine, is_number

#: Bytes looked at to tell text from binary.
SNIFF_BYTES = 4096
#: Share of control bytes (other than tab, line ends, form feed) above which a file without
#: NUL bytes is still binary; text exports have none, a stray one must not make them binary.
CONTROL_SHARE = 0.1
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v")

#: Binary files by extension: what they likely are, and how to get text hpcinv reads.
BINARY_KINDS = {
    ".bin": ("Syscal Pro .bin/.binx?", "export it from Prosys as text (Export ASCII)"),
    ".binx": ("Syscal Pro .bin/.binx?", "export it from Prosys as text (Export ASCII)"),
    ".s4k": ("ABEM SAS 1000/4000 .s4k?", "convert it to text with ABEM's software"),
    ".xlsx": ("an Excel workbook?", "save the sheet as CSV"),
    ".xls": ("an Excel workbook?", "save the sheet as CSV"),
    ".ods": ("a spreadsheet?", "save the sheet as CSV"),
    ".zip": ("a zip archive?", "unpack it and give the data file"),
    ".gz": ("a gzip archive?", "unpack it and give the data file"),
}
#: Text formats hpcinv does not read, by extension: the refusal names them first.
UNREAD_TEXT = {
    ".amp": "an ABEM Multi Purpose (.amp) file",
    ".tx0": "a Lippmann 4point light (.tx0) file",
    ".2dm": "a GF Instruments ARES II (.2dm) file",
    ".tab": "a BGS PRIME / ResIMGR (.tab) file",
}
#: The same by their own marks, for the formats whose files carry a common extension: the
#: name, and groups of marks (lower case, no spaces): every group has a mark some line of
#: the file's head contains. Decided by measurement (README, "Field
#: data"): pyGIMLi's importers do not read these (its ``load`` hands them to pybert, which
#: is not on PyPI), ResIPy's parsers do but are GPL-3.0 and take 4.5 s to import, so
#: hpcinv names the format and the way out instead.
UNREAD_MARKS: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("a Lippmann 4point light (.tx0) file", (("*electrodepositions*",),)),
    ("a GF Instruments ARES II (.2dm) file", (("measureddata",), ("electrodedistance",))),
    ("a BGS PRIME / ResIMGR (.tab) file", (("no_of_electrodes:",), ("data:",))),
    ("an ERTLab DAS-1 file", (("#elec_start",), ("#elec_end",))),
    (
        "a MoHo Electra file",
        (("#totalelectrodes", "#totalenabledelectrodes"), ("#xyz",), ("#meas.",)),
    ),
    ("an OhmPi CSV file (no electrode positions)", (("vmn_[mv]",), ("iab_[ma]",))),
)
#: Lines of a file's head the marks are looked for in.
MARK_LINES = 500
#: Formats a file's extension suggests (``.dat`` is every format's but CSV's).
SUFFIX_FORMATS = {
    ".ohm": ("pygimli",),
    ".shm": ("pygimli",),
    ".dat": ("pygimli", "r2-protocol", "res2dinv", "ubc-2d", "ubc-3d"),
    ".obs": ("ubc-2d", "ubc-3d"),
    ".csv": ("csv",),
    ".txt": ("syscal", "abem"),
    ".stg": ("supersting",),
}
#: The formats ``write_survey`` writes: a file hpcinv cannot read is converted to one of them.
WRITABLE = ("ubc-2d", "ubc-3d", "pygimli", "csv")
#: Phrases of a reason whose check read to the end of the file (a count the rows miss).
_AT_END = ("the file ends", "truncated")
_LINE = re.compile(r"\bline (\d+)")
_COLUMN = re.compile(r"\bcolumn (\d+)")
_QUOTED = re.compile(r"'[^']*'")


def not_text(path) -> str | None:
    """The one-line refusal of a file that is not text (NUL bytes, or mostly control bytes,
    in its first ``SNIFF_BYTES``; UTF-16 text is named as such), else None. Never quotes the
    bytes. An unreadable file is left to the text reader, whose message names the cause."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (
            f"{path}: UTF-16 text (Windows 'Unicode text'); hpcinv reads ASCII or UTF-8 "
            f"text: save it as UTF-8 or plain text"
        )
    controls = sum(1 for byte in head if byte < 32 and byte not in _TEXT_CONTROLS)
    if b"\0" not in head and controls <= CONTROL_SHARE * len(head):
        return None
    kind, advice = BINARY_KINDS.get(
        Path(path).suffix.lower(),
        ("not text", "export the data as text from the instrument's software"),
    )
    return (
        f"{path}: a binary file ({kind}); hpcinv reads text exports: {advice} "
        f"(formats: see README, Field data)"
    )


def trial_order(path, lines: list[TextLine], names: list[str], first: str | None) -> list[str]:
    """``names`` in the order detection tries them: ``first`` (the format the extension
    names), then those whose first lines begin as theirs do, then the rest as given. Only
    the time to a match changes: a file is read as a format only when its check accepts."""
    starts = beginnings(path, lines)
    return sorted(names, key=lambda name: (name != first, -starts.get(name, 0)))


def likely_order(path, lines: list[TextLine], reasons: dict[str, str]) -> list[str]:
    """The formats of ``reasons`` (name -> why its check refused), most likely first: those
    whose first lines begin as theirs do, then those the file's name or extension suggests,
    then the check that got furthest (the line and column it names; a count that the rows
    miss means it read to the end). Ties keep the order of ``reasons``."""
    starts = beginnings(path, lines)
    suggested = suggested_formats(path)
    last = lines[-1].number if lines else 1

    def key(name: str):
        line, column = _reach(reasons[name], last)
        return (-starts.get(name, 0), name not in suggested, -line, -column)

    return sorted(reasons, key=key)


def refusal(path, lines: list[TextLine], reasons: dict[str, str]) -> str:
    """One line: the most likely format's reason, and where to see every other."""
    why = f"hpcinv data {path} --why"
    unread = unread_format(path, lines)
    if unread:
        return (
            f"{path}: {unread}, which hpcinv does not read; convert it to one of: "
            f"{', '.join(WRITABLE)} (e.g. with ResIPy); why each format refused: {why}"
        )
    best = likely_order(path, lines, reasons)[0]
    return f"{path}: not read as {best} ({reasons[best]}); other formats: {why}"


def unread_format(path, lines: list[TextLine]) -> str | None:
    """The text format hpcinv does not read that the file's extension or its own marks
    name (``UNREAD_TEXT``, ``UNREAD_MARKS``), else None."""
    by_suffix = UNREAD_TEXT.get(Path(path).suffix.lower())
    if by_suffix:
        return by_suffix
    head = [_compact(line) for line in lines[:MARK_LINES]]
    for name, groups in UNREAD_MARKS:
        if all(any(mark in text for mark in group for text in head) for group in groups):
            return name
    return None


def beginnings(path, lines: list[TextLine]) -> dict[str, int]:
    """The formats whose first lines ``lines`` begin as, each with how telling that is: 2
    for the format's own marks (a pyGIMLi sensor count and its ``#`` header, an R2
    protocol's counted rows or name, a Res2DInv header, a Syscal or Terrameter header, a
    CSV header naming a_x, a UBC comment or ``COMMON_CURRENT``), 1 for a header of
    comma-separated names (CSV, or another table). A look at a few lines, no parse."""
    found = {}
    if _starts_like_gimli(lines):
        found["pygimli"] = 2
    if _starts_like_protocol(lines) or Path(path).name.lower().startswith("protocol"):
        found["r2-protocol"] = 2
    if _starts_like_res2dinv(lines):
        found["res2dinv"] = 2
    head = [_compact(line) for line in lines[:300]]
    if any("spa.1" in text or "xa(m)" in text for text in head[:20]):
        found["syscal"] = 2
    if any("a(x)" in text for text in head):
        found["abem"] = 2
    if lines and lines[0].text.strip().lower().startswith("advanced geosciences"):
        found["supersting"] = 2
    csv = _csv_header(lines)
    if csv:
        found["csv"] = csv
    if lines and (
        lines[0].text.lstrip().startswith("!")
        or any(ln.fields[0].upper().startswith(("COMMON_CURRENT", "IPTYPE")) for ln in lines[:3])
    ):
        found.update({"ubc-2d": 2, "ubc-3d": 2})
    return found


def suggested_formats(path) -> tuple[str, ...]:
    """The formats the file's extension (and an R2 ``protocol`` name) suggest."""
    path = Path(path)
    by_name = ("r2-protocol",) if path.name.lower().startswith("protocol") else ()
    return by_name + SUFFIX_FORMATS.get(path.suffix.lower(), ())


def _reach(reason: str, last: int) -> tuple[int, int]:
    """(line, column) a check got to before refusing: the furthest line its reason names
    (quoted file text aside), the file's last line when a count ran past the rows."""
    text = _QUOTED.sub("", reason)
    line = max((int(n) for n in _LINE.findall(text)), default=0)
    if any(phrase in text for phrase in _AT_END):
        line = max(line, last)
    column = _COLUMN.search(text)
    return line, int(column.group(1)) if column else 0


def _compact(line: TextLine) -> str:
    return "".join(line.text.split()).lower()


def _whole(token: str) -> bool:
    return is_number(token) and float(token).is_integer() and float(token) >= 0


def _starts_like_gimli(lines: list[TextLine]) -> bool:
    """A whole number alone on the first line that is no comment, a ``#`` line next."""
    for i, line in enumerate(lines):
        if line.text.lstrip().startswith("#"):
            continue
        fields = line.text.split("#")[0].split()
        return (
            len(fields) == 1
            and _whole(fields[0])
            and i + 1 < len(lines)
            and lines[i + 1].text.lstrip().startswith("#")
        )
    return False


def _starts_like_protocol(lines: list[TextLine]) -> bool:
    """Rows of an index counting 1, 2, 3 and 5 or 9 more numbers (R2's and R3t's widths,
    with or without an error column), after a count line or without one."""
    head = lines[:4]
    if head and _whole(head[0].fields[0]) and len(head[0].fields) < 6:
        head = head[1:]  # the count, maybe with text after it (R2 reads only the number)
    return bool(head) and all(
        len(row.fields) in (6, 7, 10, 11)
        and all(is_number(f) for f in row.fields)
        and float(row.fields[0]) == k
        for k, row in enumerate(head, start=1)
    )


def _starts_like_res2dinv(lines: list[TextLine]) -> bool:
    """A title, a lone number (the electrode spacing), a lone whole number (array type)."""
    head = [line.text.replace(",", " ").split() for line in lines[:3]]
    return (
        len(head) == 3
        and not (len(head[0]) == 1 and is_number(head[0][0]))
        and len(head[1]) == 1
        and is_number(head[1][0])
        and len(head[2]) == 1
        and _whole(head[2][0])
    )


def _csv_header(lines: list[TextLine]) -> int:
    """2 when the first line (no comment) is a header of comma-separated cells naming a_x, 1
    when it is one of other names, else 0."""
    first = next((ln for ln in lines if not ln.text.lstrip().startswith("#")), None)
    if first is None or first.text.count(",") < 2:
        return 0
    cells = [c.strip().strip('"').lower() for c in first.text.split(",")]
    if "a_x" in cells:
        return 2
    return 1 if any(c and not is_number(c) for c in cells) else 0
