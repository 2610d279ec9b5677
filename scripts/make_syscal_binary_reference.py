"""The Syscal Pro binary fixtures and their independent reading.

Writes ``tests/readers/fixtures/syscal_binary/*.bin`` with this project's own numbers, in
the layout documented in ``hpcinv/readers/syscal_binary.py`` (no real instrument file is
used), two of them with the text export Prosys would write (``*.csv``, rounded as Prosys
rounds), then has two public readers read every ``.bin`` and stores their readings next to
it as ``NAME.reference.json``: per record the 12 positions, Vp, In, Dev. and the resistance
each reader computes. ``tests/readers/test_syscal_binary.py`` compares hpcinv's reading
with them per datum. hpcinv is not imported here; the readers run in venvs of their own,
never the project's::

    python3.11 -m venv /tmp/sbin-resipy-venv && /tmp/sbin-resipy-venv/bin/pip install resipy==3.6.6
    python3.11 -m venv /tmp/sbin-reda-venv && /tmp/sbin-reda-venv/bin/pip install reda==0.2.9
    python3 scripts/make_syscal_binary_reference.py \\
        --resipy /tmp/sbin-resipy-venv/bin/python --reda /tmp/sbin-reda-venv/bin/python

The readers: ResIPy's ``resipy.parsers.syscalBinParser2`` (what ResIPy's ``syscalParser``
calls for a ``.bin``; its raw columns are kept) and reda's
``reda.importers.iris_syscal_pro._import_bin`` (the raw records) with ``import_bin`` (its
resistance). Where a reader cannot read a fixture, the JSON says why instead of a reading:
ResIPy gives every record the length of the first record's variant (``MoreTMesure``), so
it cannot read a file whose variants differ; reda reads a record of variant 0 as 248
bytes, where IRIS's reader and ResIPy read 280.

The same numbers always come out (a seeded generator): rerunning the script rewrites the
same files.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "readers" / "fixtures" / "syscal_binary"
SCRIPT = "scripts/make_syscal_binary_reference.py"

HEADER = struct.Struct("<IB1024s")
#: el_array, MoreTMesure, time, M delay, TypeCpXyz, ignored, x[4], y[4], z[4], SP, Vp, In,
#: Rho, M, Dev., Tm[20], Mx[20], channel byte, flag byte, quadripole number, name,
#: latitude, longitude, stacks, Rs-check
BASE = struct.Struct("<hhffhh12f6f20f20fBBH12sffff")
TX = struct.Struct("<ffff")  # Tx Vab, Tx battery, Rx battery, temperature
DATE = struct.Struct("<d")
REMOTE_X = (99999.0, 999999.0, 9999999.0)
OVERLOAD, VALID_SYNC, GAP_FILLER = 0b0001, 0b0110, 0b1000
COLUMNS = [
    *(f"{axis}{e}" for axis in "xyz" for e in "ABMN"),
    "vp_mV",
    "in_mA",
    "dev_percent",
    "resistance",
]


@dataclass
class Record:
    positions: list[float]  # xA xB xM xN yA yB yM yN zA zB zM zN
    vp: float  # mV
    current: float  # mA
    dev: float  # percent
    variant: int = 2  # MoreTMesure
    stacks: int = 6
    channel: int = 1
    channels: int = 1
    flags: int = VALID_SYNC
    sp: float = 0.0
    rho: float = 0.0
    el_array: int = 11
    extra: dict = field(default_factory=dict)


def f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def geometric_factor(p: list[float]) -> float:
    """2 pi / (1/AM - 1/BM - 1/AN + 1/BN), remote terms left out (half-space)."""
    a, b, m, n = ((p[i], p[4 + i], p[8 + i]) for i in range(4))

    def inv(u, v):
        if abs(u[0]) in REMOTE_X or abs(v[0]) in REMOTE_X:
            return 0.0
        return 1.0 / math.dist(u, v)

    return 2 * math.pi / (inv(a, m) - inv(b, m) - inv(a, n) + inv(b, n))


def measured(rng: random.Random, p: list[float], rho: float, current: float | None = None):
    """Vp (mV), In (mA) and Rho for a datum at apparent resistivity ``rho``."""
    k = geometric_factor(p)
    current = rng.uniform(20.0, 400.0) if current is None else current
    vp = rho / k * current  # V/A * mA = mV
    return f32(vp), f32(current), f32(k * f32(vp) / f32(current))


def encode(record: Record, k: int) -> bytes:
    """One record: 280 bytes, 296 or 304 by its variant."""
    name = b"hpcinv-fix"
    out = BASE.pack(
        record.el_array,
        record.variant,
        500.0,  # injection time, ms
        20.0,  # M delay, ms
        1,  # TypeCpXyz: positions in x, y, z
        0,
        *record.positions,
        record.sp,
        record.vp,
        record.current,
        record.rho,
        0.0,  # M
        record.dev,
        *([0.0] * 20),
        *([0.0] * 20),
        (record.channels << 4) | record.channel,
        record.flags,
        k + 1,  # quadripole number
        name,
        0.0,
        0.0,
        float(record.stacks),
        0.05,  # Rs-check, kOhm
    )
    if record.variant >= 2:
        out += TX.pack(48.0 + k % 7, 12.1, 12.4, 25.5)
    if record.variant == 3:
        out += DATE.pack(45000.4 + 6 * k / 86400)
    return out


def write_bin(path: Path, version: int, kind: int, comment: str, records: list[Record]) -> None:
    head = HEADER.pack(version, kind, comment.encode("ascii"))
    path.write_bytes(head + b"".join(encode(r, k) for k, r in enumerate(records)))


def line(positions: list[float], y: float = 0.0, z: list[float] | None = None) -> list[float]:
    """x of A, B, M, N on a line at ``y``, with elevations ``z`` (0 for a remote pole)."""
    z = z or [0.0] * 4
    ys = [0.0 if abs(x) in REMOTE_X else y for x in positions]
    return [*map(f32, positions), *map(f32, ys), *map(f32, z)]


# --- the fixtures -----------------------------------------------------------------------------


def dipole_dipole_wenner(rng: random.Random) -> list[Record]:
    """A 2D line of 12 electrodes 2.5 m apart: Wenner alpha a = 1..3 and dipole-dipole
    a = 1, n = 1..4; one dipole-dipole with M and N swapped (negative Vp), one with a tiny
    current (0.2137 mA, which a text export rounds)."""
    s, records = 2.5, []
    for a in (1, 2, 3):
        for i in range(12 - 3 * a):
            x = [i * s, (i + 3 * a) * s, (i + a) * s, (i + 2 * a) * s]
            records.append(_datum(rng, line(x), 100 + 25 * math.sin(i / 3) + 8 * a))
    for n in (1, 2, 3, 4):
        for i in range(12 - 2 - n):
            x = [i * s, (i + 1) * s, (i + 1 + n) * s, (i + 2 + n) * s]
            records.append(_datum(rng, line(x), 90 + 20 * math.cos(i / 4) + 5 * n, el_array=3))
    swapped = records[25].positions
    swapped[2], swapped[3] = swapped[3], swapped[2]
    records[25] = _datum(rng, swapped, 104.0, el_array=3)
    records[30] = _datum(rng, records[30].positions, 97.5, el_array=3, current=0.2137)
    return records


def pole_dipole_remote(rng: random.Random) -> list[Record]:
    """A line with elevations: pole-dipole forward with B remote at x = -99999, three
    pole-pole data with B at 9999999 and N at -9999999; variant 3 (with the date)."""
    s, records = 5.0, []
    z = [f32(102.0 - 0.35 * i) for i in range(10)]
    for i in range(6):
        for n in (1, 2, 3):
            if i + n + 1 > 9:
                continue
            x = [i * s, -99999.0, (i + n) * s, (i + n + 1) * s]
            zz = [z[i], 0.0, z[i + n], z[i + n + 1]]
            records.append(_datum(rng, line(x, z=zz), 60 + 5 * n + 3 * i, variant=3))
    for i in range(3):
        x = [i * s, 9999999.0, (i + 1) * s, -9999999.0]
        zz = [z[i], 0.0, z[i + 1], 0.0]
        records.append(_datum(rng, line(x, z=zz), 70.0 + i, variant=3, el_array=2))
    return records


def stacks_deviations(rng: random.Random) -> list[Record]:
    """A 4-channel dipole-dipole line: each injection measured on 4 channels, stacks 1 to 8
    with deviations from 0.05 % to 25 %, one quadripole measured twice, one record flagged
    overload and one gap-filler (which Prosys rejects); variant 1."""
    s, records = 1.0, []
    for i in range(6):
        for c in range(4):
            x = [i * s, (i + 1) * s, (i + 2 + c) * s, (i + 3 + c) * s]
            r = _datum(rng, line(x), 40 + 6 * c + i, variant=1, el_array=3)
            r.channel, r.channels = c + 1, 4
            r.stacks = 1 + (i * 4 + c) % 8
            r.dev = f32([0.05, 0.4, 1.7, 3.9, 8.25, 25.0][(i + c) % 6])
            records.append(r)
    repeat = _datum(rng, records[5].positions, 47.0, variant=1, el_array=3)
    repeat.channel, repeat.channels, repeat.dev = 2, 4, f32(0.6)
    records.append(repeat)
    records[9].flags |= OVERLOAD
    records[14].flags |= GAP_FILLER
    return records


def corner_3d_variant0(rng: random.Random) -> list[Record]:
    """A 3D grid (x 1.5 m apart, y 0.35 m apart, with topography), variant 0 (280 bytes by
    IRIS's reader): one record with Dev. 0 (no uncertainties then), one with Vp NaN, one
    with In 0, one with M and N swapped (negative Vp)."""
    records = []
    pos = {
        (i, j): (1.5 * i, 0.35 * j, 100.0 + 0.12 * i - 0.07 * j) for i in range(4) for j in range(3)
    }
    order = sorted(pos)
    for q in range(len(order) - 3):
        a, b, m, n = (pos[order[q + d]] for d in (0, 1, 2, 3))
        p = [*(f32(e[0]) for e in (a, b, m, n)), *(f32(e[1]) for e in (a, b, m, n))]
        p += [f32(e[2]) for e in (a, b, m, n)]
        records.append(_datum(rng, p, 150 + 10 * math.sin(q), variant=0, el_array=11))
    records[2].dev = 0.0
    records[4].vp = float("nan")
    records[6].current = 0.0
    p = records[7].positions
    p[2], p[3], p[6], p[7], p[10], p[11] = p[3], p[2], p[7], p[6], p[11], p[10]
    records[7] = _datum(rng, p, 151.0, variant=0, el_array=11)
    return records


def mixed_variants(rng: random.Random) -> list[Record]:
    """A line at the constant y = 250 m, records of variants 1, 2 and 3 in turn."""
    records = []
    for i in range(9):
        x = [i * 2.0, (i + 3) * 2.0, (i + 1) * 2.0, (i + 2) * 2.0]
        records.append(_datum(rng, line(x, y=250.0), 80 + i, variant=1 + i % 3, el_array=1))
    return records


def _datum(rng, positions, rho, *, variant=2, el_array=1, current=None) -> Record:
    vp, current, rho = measured(rng, positions, rho, current)
    return Record(
        positions=positions,
        vp=vp,
        current=current,
        dev=f32(round(rng.uniform(0.05, 4.0), 2)),
        variant=variant,
        stacks=rng.choice((3, 4, 6)),
        sp=f32(round(rng.uniform(-150.0, 150.0), 2)),
        rho=rho,
        el_array=el_array,
    )


#: name: (version, TypeOfSyscal, builder, text export style or None)
FIXTURE_SET = {
    "dipole_dipole_wenner_2d": (0x80000002, 8, dipole_dipole_wenner, "prosys3"),
    "pole_dipole_remote": (0x80000001, 9, pole_dipole_remote, "prosys2"),
    "stacks_deviations": (0x80000000, 4, stacks_deviations, None),
    "corner_3d_variant0": (0x80000002, 11, corner_3d_variant0, None),
    "mixed_variants": (0x80000002, 8, mixed_variants, None),
}


# --- the text exports -------------------------------------------------------------------------


def write_text_export(path: Path, records: list[Record], style: str) -> None:
    """What Prosys exports of these records (flagged ones rejected, as Prosys does): Prosys
    III's comma-separated columns with positions, Rho, Dev. and SP to 2 decimals, VMN and
    IAB to 3 (as ResIPy's example export); or Prosys II's Spa.1 ... with Dev. to 1 decimal,
    Vp to 3 and In to 2."""
    kept = [r for r in records if not r.flags & (OVERLOAD | GAP_FILLER)]
    if style == "prosys3":
        head = [",El-array", "xA (m)", "xB (m)", "xM (m)", "xN (m)", "Rho (Ohm.m)"]
        head += ["Dev. Rho (%)", "SP (mV)", "VMN (mV)", "IAB (mA)", "Time (ms)"]
        head += [f"{a}{e} (m)" for a in "yz" for e in "ABMN"] + ["Stack", "Overload"]
        rows = [",".join(head)]
        for r in kept:
            p = r.positions
            cells = [",Mixed / non conventional", *(f"{v:.2f}" for v in p[:4])]
            cells += [f"{r.rho:.2f}", f"{r.dev:.2f}", f"{r.sp:.2f}", f"{r.vp:.3f}"]
            cells += [f"{r.current:.3f}", "500", *(f"{v:.2f}" for v in p[4:])]
            cells += [str(r.stacks), "0"]
            rows.append(",".join(cells))
    else:
        rows = [",El-array,Spa.1,Spa.2,Spa.3,Spa.4,Rho ,Dev., M  ,Sp  ,Vp  ,In  ,Time,Stack"]
        for r in kept:
            cells = [",Pole Dipole", *(f"{v:.2f}" for v in r.positions[:4]), f"{r.rho:.2f}"]
            cells += [f"{r.dev:.1f}", "0.00", f"{r.sp:.1f}", f"{r.vp:.3f}", f"{r.current:.2f}"]
            cells += ["500", str(r.stacks)]
            rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")


# --- the independent readings (run in the readers' own venvs) ---------------------------------


def read_with_resipy(path: str) -> dict:
    from importlib.metadata import version

    from resipy.parsers import syscalBinParser2

    elec, df = syscalBinParser2(path)
    names = [f"{axis}{e}" for axis in "xyz" for e in "ABMN"]
    data = [
        [float(row[n]) for n in names]
        + [float(row["vp"]), float(row["in"]), float(row["e"]), float(row["resist"])]
        for _, row in df.iterrows()
    ]
    return {
        "made_by": f"resipy {version('resipy')}: resipy.parsers.syscalBinParser2",
        "electrodes": int(len(elec)),
        "data": data,
    }


def read_with_reda(path: str) -> dict:
    from importlib.metadata import version

    from reda.importers.iris_syscal_pro import _import_bin, import_bin

    _, raw = _import_bin(path)
    data, elec_mgr, _ = import_bin(path, check_meas_nums=False)
    names = [f"{axis}_{e}" for axis in "xyz" for e in "abmn"]
    rows = [
        [float(row[n]) for n in names] + [float(row["vp"]), float(row["Iab"]), float(row["q"])]
        for _, row in raw.iterrows()
    ]
    for out, r in zip(rows, data["r"]):
        out.append(float(r))
    return {
        "made_by": f"reda {version('reda')}: reda.importers.iris_syscal_pro._import_bin "
        f"and import_bin",
        "electrodes": int(len(elec_mgr.electrode_positions)),
        "data": rows,
    }


READERS = {"resipy": read_with_resipy, "reda": read_with_reda}


def reading(python: str, reader: str, path: Path) -> dict:
    """``reader``'s reading of ``path`` in the venv of ``python``, or why it failed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reading.json"
        done = subprocess.run(
            [python, __file__, "--read", reader, str(path), str(out)],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return json.loads(out.read_text())
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        return {"failed": last[0]}


def _json(value):
    """NaN and infinities as strings (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _agrees(a: dict, b: dict) -> bool:
    """The same records and the same fields (float32 read as float64 by both)."""
    if "data" not in a or "data" not in b or len(a["data"]) != len(b["data"]):
        return False
    return all(
        x == y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y)
        for ra, rb in zip(a["data"], b["data"])
        for x, y in zip(ra, rb)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resipy", help="python of a venv with resipy")
    parser.add_argument("--reda", help="python of a venv with reda")
    parser.add_argument("--read", nargs=3, metavar=("READER", "BIN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        reader, path, out = args.read
        Path(out).write_text(json.dumps(READERS[reader](path)))
        return
    FIXTURES.mkdir(parents=True, exist_ok=True)
    pythons = {"resipy": args.resipy, "reda": args.reda}
    for name, (version, kind, build, style) in FIXTURE_SET.items():
        records = build(random.Random(name))
        path = FIXTURES / f"{name}.bin"
        write_bin(path, version, kind, f"hpcinv test fixture {name}", records)
        if style:
            write_text_export(FIXTURES / f"{name}.csv", records, style)
        readings = {
            reader: reading(python, reader, path) for reader, python in pythons.items() if python
        }
        ok = [r for r, value in readings.items() if "data" in value]
        written = [[*r.positions, r.vp, r.current, r.dev] for r in records]
        for reader in list(ok):
            got = readings[reader]["data"]
            wrong = [
                k + 1
                for k, (g, w) in enumerate(zip(got, written))
                if g[:15] != w and not any(v != v for v in w)
            ]
            if len(got) != len(records) or wrong:
                readings[reader] = {
                    "misread": f"{len(got)} records; records {wrong} differ from those written",
                    "made_by": readings[reader]["made_by"],
                }
                ok.remove(reader)
        variants = [r.variant for r in records]
        for reader, value in readings.items():
            if reader == "resipy" and "misread" in value and len(set(variants)) > 1:
                value["why"] = (
                    f"ResIPy reads every record with the length of the first record's "
                    f"variant ({variants[0]}); the variants here are {variants}"
                )
            if reader == "reda" and "failed" in value and 0 in variants:
                value["why"] = (
                    "reda reads a record of variant 0 as 248 bytes (IRIS's reader and "
                    "ResIPy: 280), so the next record starts 32 bytes early and its "
                    "TypeCpXyz is not 1 (reda asserts it is)"
                )
        reference = {
            "script": SCRIPT,
            "file": path.name,
            "written": {
                "version": f"{version:#010x}",
                "type_of_syscal": kind,
                "records": len(records),
                "variants": sorted({r.variant for r in records}),
                "flagged_records": [
                    k + 1 for k, r in enumerate(records) if r.flags & (OVERLOAD | GAP_FILLER)
                ],
                "text_export": f"{name}.csv" if style else None,
            },
            "columns": COLUMNS,
            "readers_agree": len(ok) > 1 and _agrees(*(readings[r] for r in ok[:2])),
            "readings": readings,
        }
        text = json.dumps(_json(reference), indent=1)
        (FIXTURES / f"{name}.reference.json").write_text(text + "\n")
        print(
            name,
            {r: v.get("failed") or v.get("misread") or len(v["data"]) for r, v in readings.items()},
        )


if __name__ == "__main__":
    sys.exit(main())
