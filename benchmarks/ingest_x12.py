"""Benchmark: rcmkit's X12 835 reader against pyx12 on the same generated remittances.

    .venv/bin/python benchmarks/ingest_x12.py                 # generate 100 MB, 3 timed runs
    .venv/bin/python benchmarks/ingest_x12.py --size-mb 20 --runs 1
    .venv/bin/python benchmarks/ingest_x12.py --file big.835  # an existing file instead

The generated 835 repeats a realistic payment: one check or EFT per transaction set with ~50 claims of 1-4
service lines each; contractual (CO-45, CO-253), patient responsibility (PR-1/2/3) and denial (CO-16, CO-97)
adjustments; allowed amounts; line control numbers; remark codes; reversal-and-correction pairs; PLB interest
and recoupments. Amounts, IDs and dates vary with a fixed seed, and every balancing rule holds.

pyx12 reads about 0.3 MB/s, so it gets a prefix of the same stream (``--pyx12-mb``, default 1 MB: the same
seed gives the same first transaction sets) and its speed is extrapolated; the report says so. Two pyx12
numbers are given: ``x12n_document`` (its full parse against the TR3 map, what ``x12valid`` runs) and its bare
segment reader ``X12Reader`` (tokenizing only, no map, no tables).

A first read of a small file warms up imports and arrow's kernels; the timed runs follow. Wall time on a
shared machine varies from run to run, so every run is printed (with CPU time) and the best is reported.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rcmkit.ingest import read_x12  # noqa: E402

_CODES = [("99213", 11000), ("99214", 16500), ("99203", 15000), ("36415", 1500), ("85025", 2800),
          ("80053", 4200), ("93000", 6000), ("90471", 3500), ("G0439", 19000), ("J1100", 900)]
_MODIFIERS = ["", "", "", ":25", ":59", ":59:RT"]


def _money(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _service_line(rnd: random.Random, claim_no: int, line_no: int, day: str, denied: bool) -> tuple[list, int,
                                                                                                        int]:
    """(segments, billed, paid, patient) of one SVC loop; the line balances: billed - CAS = paid."""
    code, base = rnd.choice(_CODES)
    units = rnd.choice([1, 1, 1, 2])
    billed = base * units + rnd.randint(0, 99) * 100
    segments = [f"SVC*HC:{code}{rnd.choice(_MODIFIERS)}*{_money(billed)}*{{paid}}**{units}", f"DTM*472*{day}"]
    if denied:
        segments.append(f"CAS*CO*{rnd.choice(['16', '97'])}*{_money(billed)}")
        segments[0] = segments[0].format(paid="0")
        return segments + [f"REF*6R*{claim_no}-{line_no}", f"LQ*HE*{rnd.choice(['M51', 'N130', 'MA130'])}"], \
            billed, 0, 0
    allowed = billed * rnd.randint(55, 90) // 100
    patient = allowed * rnd.choice([0, 0, 10, 20]) // 100
    paid = allowed - patient
    cas = [f"CAS*CO*45*{_money(billed - allowed)}"]
    if patient:
        cas.append(f"CAS*PR*{rnd.choice(['1', '2', '3'])}*{_money(patient)}")
    segments[0] = segments[0].format(paid=_money(paid))
    return segments + cas + [f"REF*6R*{claim_no}-{line_no}", f"AMT*B6*{_money(allowed)}"], billed, paid, patient


def _claim(rnd: random.Random, claim_no: int, sign: int = 1) -> tuple[list[str], int]:
    """A CLP loop (a reversal when ``sign`` is -1: every amount negated, status 22) and its payment."""
    day = f"2024{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}"
    denied = rnd.random() < 0.08
    lines, billed, paid, patient = [], 0, 0, 0
    for line_no in range(1, rnd.choice([1, 1, 2, 2, 3, 4]) + 1):
        segs, b, p, r = _service_line(rnd, claim_no, line_no, day, denied)
        lines += segs
        billed, paid, patient = billed + b, paid + p, patient + r
    if sign < 0:
        lines = [_negate(s) for s in lines]
    status = "22" if sign < 0 else rnd.choice(["1", "1", "1", "2"])
    head = [f"CLP*PCN{claim_no:09d}*{status}*{_money(sign * billed)}*{_money(sign * paid)}*"
            f"{_money(sign * patient) if patient else ''}*12*PAYER{claim_no:012d}*11*1",
            f"NM1*QC*1*PATIENT*TEST****MI*M{claim_no:010d}", "NM1*82*1*SMITH*ANN****XX*1234567893",
            f"DTM*232*{day}", f"DTM*233*{day}"]
    return head + lines, sign * paid


def _negate(segment: str) -> str:
    parts = segment.split("*")
    if parts[0] == "SVC":
        parts[2], parts[3], parts[5] = ("-" + parts[2]), ("-" + parts[3] if parts[3] != "0" else "0"), \
            "-" + parts[5]
    elif parts[0] == "CAS":
        parts[3] = "-" + parts[3]
    elif parts[0] == "AMT":
        parts[2] = "-" + parts[2]
    return "*".join(parts)


def _transaction(rnd: random.Random, number: int, claims: int = 50) -> list[str]:
    body, total, claim_no = [], 0, number * 1000
    for _ in range(claims):
        claim_no += 1
        if rnd.random() < 0.03:  # a reversal of an earlier payment, then its correction
            segments, paid = _claim(random.Random(claim_no), claim_no, sign=-1)
            body += segments
            total += paid
        segments, paid = _claim(rnd, claim_no)
        body += segments
        total += paid
    plb = []
    if rnd.random() < 0.2:
        interest, recoup = -rnd.randint(1, 500), rnd.randint(0, min(total, 5000))
        plb = [f"PLB*1234567893*20241231*L6:INT{number}*{_money(interest)}*WO:RECOUP{number}*{_money(recoup)}"]
        total -= interest + recoup
    header = [f"ST*835*{number:06d}",
              f"BPR*I*{_money(total)}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20240131",
              f"TRN*1*EFT{number:09d}*1512345678", "DTM*405*20240130", "N1*PR*ACME HEALTH PLAN*XV*ACME01",
              "N3*1 MAIN ST", "N4*SPRINGFIELD*IL*62701", "PER*BL*EDI SUPPORT*TE*8005551212",
              "N1*PE*FAMILY PRACTICE*XX*1234567893", "REF*TJ*371234567", "LX*1"]
    segments = header + body + plb
    return segments + [f"SE*{len(segments) + 1}*{number:06d}"]


def generate_835(path: Path, size_mb: float, seed: int = 835) -> Path:
    """Write a balanced 835 of about ``size_mb`` megabytes (one interchange, many transaction sets)."""
    rnd = random.Random(seed)
    target = int(size_mb * 1_000_000)
    with open(path, "w", newline="") as out:
        out.write("ISA*00*          *00*          *ZZ*ACMEHEALTH     *ZZ*FAMPRACTICE    *240131*1200*^*00501*"
                  "000000001*0*P*:~\nGS*HP*ACMEHEALTH*FAMPRACTICE*20240131*1200*1*X*005010X221A1~\n")
        written, number = 0, 0
        while written < target:
            number += 1
            text = "~\n".join(_transaction(rnd, number)) + "~\n"
            out.write(text)
            written += len(text)
        out.write(f"GE*{number}*1~\nIEA*1*000000001~\n")
    return path


def _time_rcmkit(path: Path, runs: int) -> tuple[float, dict]:
    best, stats = float("inf"), {}
    for run in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = read_x12(path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        stats = result.stats
        print(f"  rcmkit run {run + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU")
        best = min(best, wall)
    if stats["rejected_sets"] or stats["warnings"]:
        print(f"  note: {stats['rejected_sets']} rejected sets, {stats['warnings']} warnings")
    return best, stats


def _time_pyx12(path: Path) -> tuple[float, float]:
    """(seconds for x12n_document, seconds for the bare X12Reader) on ``path``."""
    import logging

    import pyx12.params
    import pyx12.x12file
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    pyx12.x12n_document.x12n_document(pyx12.params.params(), str(path), None, None, None, io.StringIO())
    document = time.perf_counter() - started
    started = time.perf_counter()
    for _ in pyx12.x12file.X12Reader(str(path)):
        pass
    return document, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0, help="size of the generated 835 (default 100)")
    parser.add_argument("--file", type=Path, help="time this 835 instead of a generated one (pyx12 then reads "
                        "a generated prefix of --pyx12-mb)")
    parser.add_argument("--pyx12-mb", type=float, default=1.0, help="size of the prefix pyx12 reads (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="timed rcmkit runs; the best is reported")
    parser.add_argument("--workdir", type=Path, help="where to write generated files (default: a temp folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        big = args.file or generate_835(workdir / "bench.835", args.size_mb)
        prefix = generate_835(workdir / "bench-prefix.835", args.pyx12_mb)
        if not args.file:
            print(f"generated {big.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
        size_mb = big.stat().st_size / 1e6

        read_x12(prefix)  # warm-up: imports, arrow kernels
        print(f"rcmkit read_x12 on {big.name} ({size_mb:.1f} MB), {os.cpu_count()} CPUs:")
        seconds, stats = _time_rcmkit(big, args.runs)
        claims = stats["remittances"]

        prefix_mb = prefix.stat().st_size / 1e6
        print(f"pyx12 on a {prefix_mb:.1f} MB prefix of the same stream (extrapolated):")
        document, reader = _time_pyx12(prefix)
        pyx12_claims = read_x12(prefix).stats["remittances"]
        rows = [
            ("rcmkit read_x12 (835 -> canonical frames)", size_mb / seconds, claims / seconds, seconds),
            ("pyx12 x12n_document (parse + validate)", prefix_mb / document, pyx12_claims / document,
             document * size_mb / prefix_mb),
            ("pyx12 X12Reader (segments only)", prefix_mb / reader, pyx12_claims / reader,
             reader * size_mb / prefix_mb),
        ]
    print()
    print(f"{'':44s} {'MB/s':>9s} {'claims/s':>11s} {f'time for {size_mb:.0f} MB':>18s}")
    for name, mb_s, claims_s, total in rows:
        print(f"{name:44s} {mb_s:9.2f} {claims_s:11,.0f} {total:16.1f} s")
    print(f"\nrcmkit / pyx12 x12n_document: {rows[0][1] / rows[1][1]:,.0f}x;  "
          f"rcmkit / pyx12 X12Reader: {rows[0][1] / rows[2][1]:,.0f}x")
    print(f"{claims:,} claims, {stats['remit_lines']:,} lines, {stats['adjustments']:,} adjustments, "
          f"paid {stats['paid_cents'] / 100:,.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
