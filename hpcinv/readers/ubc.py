"""UBC-GIF DC observation files (DCIP2D and DCIP3D): the variants SimPEG reads and writes.

Data lines (blank-separated fields; ``!`` starts a comment)::

    variant      source line               receiver line
    2D surface   xA xB n                   xM xN v [sd]
    2D general   xA zA xB zB n             xM zM xN zN v [sd]
    3D surface   xA yA xB yB n             xM yM xN yN v [sd]
    3D general   xA yA zA xB yB zB n       xM yM zM xN yN zN v [sd]
    2D simple    (one line per datum:)     xA xB xM xN v [sd]

``n`` is the number of receiver lines that follow the source line; ``v`` the potential
difference normalised by the current (V/A) and ``sd`` its standard deviation (V/A). A source
(receiver) whose two electrodes have identical coordinates is a pole: B (N) is ``REMOTE``,
as SimPEG writes poles (SimPEG compares with ``np.allclose``; here equality is exact, so two
electrodes 1 cm apart stay a dipole). Surface and simple files have no elevations: z = 0
(SimPEG puts 9999 there, to be projected onto topography).

Headers: ``COMMON_CURRENT`` then a line with the number of sources (SimPEG's DCIP2D writer);
``IPTYPE`` marks IP data, which this DC reader refuses; the 1990s layout of the Century
files: a title line, then ``n_sources current data_flag`` (DCIP2D, flag 1 = potentials) or
``n_sources unused n_data`` (DCIP3D). Counts in a header are checked against the data.

Two layouts have five-field source lines (2D general, 3D surface): a ``COMMON_CURRENT``
header means DCIP2D; otherwise auto-detection refuses to guess and ``ubc-2d`` or ``ubc-3d``
(or the dimension) decides.

The simple layout has no count line (SimPEG writes none): a lone count before one-datum-per-
line rows, or rows whose first five columns are whole numbers with the first counting 1, 2,
3, ..., are a ResIPy/R2 ``protocol.dat`` (N, then ``index a b m n R``), which is refused
rather than read as electrode positions and values. ``check_ubc`` is the signature format
detection uses: the reader's structure checks plus at most one title line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpcinv.errors import DataError
from hpcinv.readers.assembly import (
    DataRows,
    build_field_data,
    drop_unusable,
    electrodes_from_locations,
)
from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.textlines import (
    TextLine,
    expect_fields,
    is_number,
    numbered_lines,
    parse_float,
    parse_integer,
)
from hpcinv.survey import REMOTE


@dataclass(frozen=True)
class Variant:
    """One layout: ``coords`` are the coordinates written per electrode."""

    name: str
    dim: int
    coords: tuple[str, ...]

    def names(self, pair: str) -> list[str]:
        return [f"{c}{e}" for e in pair for c in self.coords]

    @property
    def source_names(self) -> list[str]:
        return [*self.names("AB"), "n"]

    def receiver_names(self, with_sd: bool) -> list[str]:
        return [*self.names("MN"), "v", *(["sd"] if with_sd else [])]

    def position(self, values) -> np.ndarray:
        """(dim,) metres: surface layouts lack the elevation, which is 0."""
        out = np.zeros(self.dim)
        out[: len(values)] = values
        return out


VARIANTS = {
    (2, "surface"): Variant("surface", 2, ("x",)),
    (2, "general"): Variant("general", 2, ("x", "z")),
    (2, "simple"): Variant("simple", 2, ("x",)),
    (3, "surface"): Variant("surface", 3, ("x", "y")),
    (3, "general"): Variant("general", 3, ("x", "y", "z")),
}


@dataclass
class Header:
    """What the lines before the data say; ``counts`` is a 3-field count line, read once the
    dimension is known."""

    n_sources: int | None = None
    n_data: int | None = None
    current: float | None = None
    counts: TextLine | None = None
    count: TextLine | None = None  # a 1-field count line (number of sources)
    title: bool = False
    titles: list[TextLine] = field(default_factory=list)
    common_current: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Parsed:
    """Per-datum positions and values as the data lines give them."""

    locations: list = field(default_factory=list)  # (4, dim) arrays
    remote: list = field(default_factory=list)  # (4,) bool
    value: list = field(default_factory=list)
    sd: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    n_sources: int = 0

    def add(self, line, a, b, m, n, value, sd) -> None:
        self.locations.append(np.array([a, b, m, n]))
        self.remote.append([False, np.array_equal(a, b), False, np.array_equal(m, n)])
        self.value.append(value)
        self.sd.append(sd)
        self.lines.append(line)


def read_ubc(path, dim: int | None) -> FieldData:
    """Read a DCIP2D (``dim`` 2) or DCIP3D (3) observation file; ``dim`` None detects it."""
    variant, header, parsed = _parse(path, numbered_lines(path, comment="!"), dim)
    return _field_data(path, variant, header, parsed)


def check_ubc(path, dim: int, lines: list[TextLine] | None = None) -> None:
    """Raise ``DataError`` (naming the line and column) unless ``path`` is laid out as a
    DCIP2D (``dim`` 2) or DCIP3D (3) file: before the numbers at most one title line (and
    ``COMMON_CURRENT``), a count line only where the layout has one; source lines with the
    field count of one layout, each followed by exactly the receiver lines it counts (the
    next line must be a source line again, or the end); numbers where numbers must be;
    header counts equal to the sources and data present; no protocol-style index column.
    The signature format detection accepts; ``read_ubc`` checks the same, less the title
    rule, and then the values. ``lines``: the file's ``numbered_lines`` if already read."""
    lines = numbered_lines(path) if lines is None else lines
    uncommented = [
        TextLine(ln.number, ln.text, tuple(ln.text.split("!", 1)[0].split())) for ln in lines
    ]  # as numbered_lines(path, comment="!") gives them
    _parse(path, [ln for ln in uncommented if ln.fields], dim, one_title=True)


def _parse(
    path, lines: list[TextLine], dim: int | None, *, one_title: bool = False
) -> tuple[Variant, Header, Parsed]:
    """The layout, the header and the data lines as numbers; raises on any structural
    mismatch."""
    if not lines:
        raise DataError(f"{path}, line 1, column 1: the survey is empty: no data lines; add data")
    header, start = _read_header(path, lines)
    if one_title and len(header.titles) > 1:
        second = header.titles[1]
        raise DataError(
            f"{path}, line {second.number}, column 1: a second line of text "
            f"({_quote(second)}) where numbers must start; a UBC file has at most "
            f"one title line (and COMMON_CURRENT) before its data"
        )
    if start >= len(lines):
        raise DataError(
            f"{path}, line {lines[-1].number}, column 1: the survey is empty: the "
            f"header is not followed by data lines; add data"
        )
    variant = _variant(path, lines[start], dim, header)
    if variant.name == "simple":
        _check_simple(path, header, lines[start:])
    _read_counts(path, header, variant.dim)
    parsed = (
        _parse_simple(path, lines[start:], variant)
        if variant.name == "simple"
        else _parse_blocks(path, lines[start:], variant)
    )
    _check_header_counts(path, header, parsed)
    if not parsed.lines:
        raise DataError(
            f"{path}, line {lines[-1].number}, column 1: the survey is empty: no "
            f"receiver lines; add data"
        )
    return variant, header, parsed


def _read_header(path, lines: list[TextLine]) -> tuple[Header, int]:
    header, i = Header(), 0
    for line in lines:
        if line.fields[0].upper().startswith("IPTYPE"):
            raise DataError(
                f"{path}, line {line.number}, column 1 (IPTYPE): this is an IP "
                f"(chargeability) file; hpcinv inverts DC data: give the DC "
                f"potentials file"
            )
    while i < len(lines) and not all(map(is_number, lines[i].fields)):
        if lines[i].fields[0].upper() == "COMMON_CURRENT":
            header.common_current = True
        else:
            header.title = True
            header.titles.append(lines[i])
            header.notes.append(f"title line: {lines[i].text.strip()}")
        i += 1
    if i < len(lines) and len(lines[i].fields) == 1:
        header.n_sources = parse_integer(path, lines[i], 0, "number of sources")
        header.count = lines[i]
        return header, i + 1
    following = lines[i + 1].fields if i + 1 < len(lines) else ()
    if i < len(lines) and len(lines[i].fields) == 3 and (header.title or len(following) >= 5):
        # A 2D surface source line also has 3 fields, but its receivers have at most 4.
        header.counts = lines[i]
        return header, i + 1
    return header, i


def _variant(path, first: TextLine, dim: int | None, header: Header) -> Variant:
    """The layout, from the field count of the first data line (and ``dim`` if known)."""
    n = len(first.fields)
    ends_in_count = first.fields[-1].lstrip("+-").isdigit()
    by_count = {
        3: [(2, "surface")],
        6: [(2, "simple")],
        7: [(3, "general")],
        5: [(2, "general"), (3, "surface")] if ends_in_count else [(2, "simple")],
    }
    choices = [c for c in by_count.get(n, []) if dim is None or c[0] == dim]
    if len(choices) > 1 and header.common_current:
        # Only the DCIP2D layout (and SimPEG's DCIP2D writer) has this keyword.
        choices = [c for c in choices if c[0] == 2]
        header.notes.append("COMMON_CURRENT header: read as DCIP2D")
    if len(choices) == 1:
        return VARIANTS[choices[0]]
    if len(choices) > 1:
        raise DataError(
            f"{path}, line {first.number}, column 1: a 5-field source line is "
            f"either DCIP2D general (xA zA xB zB n) or DCIP3D surface (xA yA xB "
            f"yB n); pass --format ubc-2d or ubc-3d"
        )
    wanted = {None: "3, 5, 6 or 7", 2: "3, 5 (x z x z n) or 6 (simple)", 3: "5 or 7"}[dim]
    fields = f"{n} field{'s' if n != 1 else ''}"
    raise DataError(
        f"{path}, line {first.number}, column 1: the first data line has {fields}; "
        f"a {'UBC' if dim is None else f'{dim}D UBC'} source line has {wanted}; "
        f"check the file's format"
    )


def _check_simple(path, header: Header, rows: list[TextLine]) -> None:
    """Refuse what only looks like the simple layout: a ResIPy/R2 ``protocol.dat`` (a count
    N, then ``index a b m n R`` rows) has the same field count."""
    protocol = (
        "is it a ResIPy/R2 protocol.dat (N, then index a b m n R)? Convert it to "
        "ubc-2d, ubc-3d, pygimli or csv (see README, Field data)"
    )
    if header.count is not None:
        raise DataError(
            f"{path}, line {header.count.number}, column 1 (number of sources): "
            f"a lone count before one-datum-per-line rows of "
            f"{len(rows[0].fields)} fields (line {rows[0].number}); the DCIP2D "
            f"simple layout (xA xB xM xN v [sd]) has no count line; {protocol}"
        )

    def indexed(k: int, row: TextLine) -> bool:
        head = row.fields[:5]
        return (
            len(head) == 5
            and all(map(is_number, head))
            and all(float(t).is_integer() for t in head)
            and float(head[0]) == k + 1
        )

    if len(rows) > 1 and all(indexed(k, row) for k, row in enumerate(rows)):
        raise DataError(
            f"{path}, line {rows[0].number}, column 1 (xA): columns 1 to 5 are "
            f"whole numbers on every line and column 1 counts 1, 2, 3, ...: an "
            f"index and four electrode numbers, not xA xB xM xN v; {protocol}"
        )


def _quote(line: TextLine, width: int = 40) -> str:
    """The line for a message: blanks collapsed, cut to ``width`` characters, quoted."""
    text = " ".join(line.text.split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _read_counts(path, header: Header, dim: int) -> None:
    """Interpret a 3-field count line: ``n_sources current flag`` in DCIP2D, ``n_sources
    unused n_data`` in DCIP3D."""
    line = header.counts
    if line is None:
        return
    header.n_sources = parse_integer(path, line, 0, "number of sources")
    if dim == 3:
        header.n_data = parse_integer(path, line, 2, "number of data")
        header.notes.append(
            f"legacy DCIP3D count line {line.number}: {header.n_sources} "
            f"sources, {header.n_data} data (field 2, "
            f"{line.fields[1]}, not used)"
        )
        return
    current = parse_float(path, line, 1, "current")
    flag = parse_integer(path, line, 2, "data flag")
    if flag != 1:
        raise DataError(
            f"{path}, line {line.number}, column 3 (data flag): {flag}; only 1 "
            f"(potentials) is supported; convert the data to potentials"
        )
    if not np.isfinite(current) or current <= 0:
        raise DataError(
            f"{path}, line {line.number}, column 2 (current): {current:g} A; "
            f"give the positive current of the survey"
        )
    header.current = current
    header.notes.append(
        f"legacy DCIP2D count line {line.number}: {header.n_sources} "
        f"sources, current {current:g} A, data flag 1 (potentials)"
    )


def _parse_blocks(path, lines: list[TextLine], variant: Variant) -> Parsed:
    parsed, i, width = Parsed(), 0, None
    names = variant.source_names
    while i < len(lines):
        source = lines[i]
        expect_fields(path, source, names, "a source line")
        a, b = _positions(path, source, variant, names)
        count = parse_integer(path, source, len(names) - 1, "n")
        if count < 0:
            raise DataError(
                f"{path}, line {source.number}, column {len(names)} (n): "
                f"{count} receivers; give the number of receiver lines"
            )
        for received in range(count):
            i += 1
            if i >= len(lines) or (
                width is not None
                and len(lines[i].fields) != width
                and len(lines[i].fields) == len(names)
            ):
                raise _truncated(path, source, count, received, lines, i)
            width = width or _receiver_width(path, lines[i], variant)
            rx_names = variant.receiver_names(width == len(variant.receiver_names(True)))
            expect_fields(path, lines[i], rx_names, "a receiver line (as on the first one)")
            m, n = _positions(path, lines[i], variant, rx_names)
            value, sd = _value_and_sd(path, lines[i], rx_names)
            parsed.add(lines[i], a, b, m, n, value, sd)
        parsed.n_sources += 1
        i += 1
    return parsed


def _parse_simple(path, lines: list[TextLine], variant: Variant) -> Parsed:
    parsed = Parsed()
    names = ["xA", "xB", "xM", "xN", "v", *(["sd"] if len(lines[0].fields) == 6 else [])]
    for line in lines:
        expect_fields(path, line, names, "a simple-format data line (as on the first one)")
        x = [parse_float(path, line, k, names[k]) for k in range(4)]
        value, sd = _value_and_sd(path, line, names)
        parsed.add(line, *(variant.position([v]) for v in x), value, sd)
    parsed.n_sources = len({(p[0, 0], p[1, 0]) for p in parsed.locations})
    return parsed


def _positions(path, line: TextLine, variant: Variant, names) -> tuple:
    nc = len(variant.coords)
    values = [parse_float(path, line, k, names[k]) for k in range(2 * nc)]
    return variant.position(values[:nc]), variant.position(values[nc:])


def _value_and_sd(path, line: TextLine, names) -> tuple[float, float]:
    k = names.index("v")
    value = parse_float(path, line, k, "v")
    sd = parse_float(path, line, k + 1, "sd") if len(names) > k + 1 else np.nan
    return value, sd


def _receiver_width(path, line: TextLine, variant: Variant) -> int:
    widths = (len(variant.receiver_names(False)), len(variant.receiver_names(True)))
    if len(line.fields) not in widths:
        expect_fields(path, line, variant.receiver_names(True), "a receiver line")
    return len(line.fields)


def _truncated(path, source: TextLine, count, received, lines, i) -> DataError:
    after = (
        "the file ends"
        if i >= len(lines)
        else f"line {lines[i].number} looks like the next source line"
    )
    n_col = len(source.fields)
    return DataError(
        f"{path}, line {source.number}, column {n_col} (n): the source promises "
        f"{count} receiver lines but {after} after {received}; add the missing "
        f"lines or correct the count (the file may be truncated)"
    )


def _check_header_counts(path, header: Header, parsed: Parsed) -> None:
    checks = (
        (header.n_sources, parsed.n_sources, 1, "number of sources", "source blocks"),
        (header.n_data, len(parsed.value), 3, "number of data", "data lines"),
    )
    for promised, found, column, name, what in checks:
        if promised is not None and promised != found:
            counted = header.counts or header.count
            line = counted.number if counted else "with the count"
            raise DataError(
                f"{path}, line {line}, column {column} ({name}): the header says "
                f"{promised} but the file has {found} {what}; correct the count "
                f"or restore the missing data (the file may be truncated)"
            )


def _field_data(path, variant: Variant, header: Header, parsed: Parsed) -> FieldData:
    sd = np.array(parsed.sd, dtype=float)
    has_sd = not np.isnan(sd).all()
    names = (
        ["xA", "xB", "xM", "xN", "v", "sd"]
        if variant.name == "simple"
        else variant.receiver_names(True)
    )
    first_n = next(name for name in names if name.endswith("N"))
    rows = DataRows(
        lines=tuple(parsed.lines),
        value=np.array(parsed.value, dtype=float),
        uncertainty=sd if has_sd else None,
        current=(
            np.full(len(parsed.value), header.current)
            if header.current not in (None, 1.0)
            else None
        ),
        columns={
            "value": f"column {names.index('v') + 1} (v)",
            "uncertainty": f"column {names.index('sd') + 1} (sd)",
            "N": f"column {names.index(first_n) + 1} ({first_n})",
        },
    )
    locations, remote = np.array(parsed.locations), np.array(parsed.remote, dtype=bool)
    rows, keep, dropped = drop_unusable(rows, locations, remote)
    electrodes, abmn = electrodes_from_locations(locations[keep], remote[keep])
    data_type = "volts" if rows.current is not None else "resistance"
    notes = [*header.notes, f"UBC DCIP{variant.dim}D {variant.name} format"]
    if variant.name in ("surface", "simple"):
        notes.append("no elevations in the file: electrodes at z = 0 (flat surface)")
    notes.append(
        "values are potential differences per ampere (V/A)"
        if data_type == "resistance"
        else f"values are volts for {header.current:g} A"
    )
    end = f"line {parsed.lines[-1].number}, column 1"
    return build_field_data(
        path, f"ubc-{variant.dim}d", data_type, electrodes, abmn, rows, dropped, notes, end=end
    )


def write_ubc(
    path, electrodes: np.ndarray, abmn: np.ndarray, dobs: np.ndarray, uncertainty: np.ndarray | None
) -> None:
    """Write the general format (all coordinates), readable by SimPEG's ``read_dcip2d_ubc``
    (``format_type="general"``) or ``read_dcip3d_ubc``.

    electrodes: (n_e, 2) or (n_e, 3) metres; dobs, uncertainty: (n,) V/A. Data are written in
    their order: a source whose data are not contiguous gets several blocks.
    """
    dim = electrodes.shape[1]
    blocks = _blocks(abmn)
    out = (
        ["COMMON_CURRENT", "! general FORMAT (DCIP2D) written by hpcinv", str(len(blocks))]
        if dim == 2
        else ["! general FORMAT (DCIP3D) written by hpcinv"]
    )
    for rows in blocks:
        a, b = abmn[rows[0], :2]
        out.append(_numbers([*electrodes[a], *_pole_aware(electrodes, a, b)]) + f" {len(rows)}")
        for r in rows:
            m, n = abmn[r, 2:]
            sd = [] if uncertainty is None else [uncertainty[r]]
            out.append(_numbers([*electrodes[m], *_pole_aware(electrodes, m, n), dobs[r], *sd]))
        out.append("")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def _blocks(abmn: np.ndarray) -> list[list[int]]:
    """Runs of consecutive data with the same source."""
    blocks: list[list[int]] = []
    for r in range(abmn.shape[0]):
        if blocks and np.array_equal(abmn[r, :2], abmn[blocks[-1][0], :2]):
            blocks[-1].append(r)
        else:
            blocks.append([r])
    return blocks


def _pole_aware(electrodes, first: int, second: int) -> np.ndarray:
    """UBC writes a pole as its electrode twice."""
    return electrodes[first if second == REMOTE else second]


def _numbers(values) -> str:
    # repr is the shortest text that reads back to the same float64.
    return " ".join(repr(float(v)) for v in values)
