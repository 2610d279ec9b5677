"""Lines of a text data file with their 1-based numbers, and field parsing whose errors name
the file, the line, the column and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hpcinv.errors import DataError


@dataclass(frozen=True)
class TextLine:
    """One line of a file: ``number`` 1-based, ``text`` as written, ``fields`` the
    whitespace-separated fields left after a trailing comment is cut off."""

    number: int
    text: str
    fields: tuple[str, ...]


def read_text(path) -> str:
    """The file's text; a missing or unreadable file is a ``DataError``."""
    try:
        # Field files from old instruments are not always UTF-8 (numbers are ASCII anyway);
        # Windows tools often begin a file with a byte-order mark, which is not text.
        return Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the data file ({exc.strerror}); check the path"
        ) from exc


def numbered_lines(path, comment: str | None = None) -> list[TextLine]:
    """The non-blank lines of ``path``; with ``comment``, text from it to the line end is cut
    and lines left blank are skipped."""
    lines = []
    for number, text in enumerate(read_text(path).splitlines(), start=1):
        kept = text.split(comment, 1)[0] if comment else text
        fields = tuple(kept.split())
        if fields:
            lines.append(TextLine(number, text, fields))
    return lines


def where(path, line: TextLine, column: int | str, name: str) -> str:
    """``"FILE, line L, column C (NAME)"``, the start of every message about a field."""
    return f"{path}, line {line.number}, column {column} ({name})"


def parse_float(path, line: TextLine, index: int, name: str) -> float:
    """Field ``index`` (0-based) of ``line`` as a float; ``nan`` and ``inf`` are accepted
    (the readers drop such rows and list them)."""
    token = line.fields[index]
    try:
        return float(token)
    except ValueError:
        raise DataError(
            f"{where(path, line, index + 1, name)}: {token!r} is not a number; write a number there"
        ) from None


def parse_integer(path, line: TextLine, index: int, name: str) -> int:
    """Field ``index`` of ``line`` as an integer (a count or an electrode index); ``3.0`` is
    accepted since some programs write every number as a float."""
    value = parse_float(path, line, index, name)
    if not value.is_integer():
        raise DataError(
            f"{where(path, line, index + 1, name)}: {line.fields[index]!r} is not "
            f"a whole number; write an integer there"
        )
    return int(value)


def expect_fields(path, line: TextLine, names: Sequence[str], what: str) -> None:
    """Raise unless ``line`` has exactly one field per name in ``names``."""
    found = len(line.fields)
    if found == len(names):
        return
    column = found + 1 if found < len(names) else len(names) + 1
    problem = "missing" if found < len(names) else "unexpected"
    raise DataError(
        f"{path}, line {line.number}, column {column} ({problem}): found {found} "
        f"fields, expected {len(names)} for {what} ({' '.join(names)}); "
        f"correct the line"
    )


def is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
