"""Fuzzing the X12 reader: valid 835/837 files (written by :mod:`rcmkit.ingest.x12.write` from small generated demo
practices, plus the hand-made fixtures) are mutated (segments dropped, duplicated, moved, truncated; elements
corrupted with bad numbers and dates; separators swapped; envelopes repeated) and read with
:func:`rcmkit.ingest.parse_x12`. Properties:

* the reader never raises, and never reports an internal error;
* every transaction set of the input is accounted for: loaded (rows in the tables) or rejected (a row in
  ``rejections`` that names it), never both, never neither;
* claims balance: the CLP segments of 835 sets plus the CLM segments of 837 sets (and claim segments outside any
  set, or in sets of another type) equal the claims loaded plus the claims the rejections count;
* what loaded is consistent (every line, adjustment and claim line belongs to a loaded claim).

The expected sets come from a tiny reference splitter in this file, not from rcmkit's tokenizer.

Profiles: ``HYPOTHESIS_PROFILE=ci`` (default, derandomized, a few seconds), ``long`` (random, many examples;
``HYPOTHESIS_MAX_EXAMPLES`` overrides the count). Minimized inputs that once broke an invariant are kept in
``tests/fixtures/fuzz/`` and replayed by :func:`test_fuzz_corpus_regressions`.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcmkit import demo

from rcmkit.ingest.x12 import write as x12write
from rcmkit.ingest import parse_x12

HERE = Path(__file__).resolve().parent
FUZZ_CORPUS = HERE / "fixtures" / "fuzz"
X12_FIXTURES = HERE / "fixtures" / "x12"
EXTERNAL = Path(os.environ.get("RCMKIT_EXTERNAL_DATA", HERE.parents[1] / "shared" / "data" / "external"))

_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.filter_too_much])
if _PROFILE == "long":
    FUZZ = settings(max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "20000")), **_COMMON)
else:
    FUZZ = settings(max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "70")), derandomize=True,
                    database=None, **_COMMON)

SEEDS = (1, 2, 3)
#: Element values that break numbers, dates, codes and IDs in every way we know of.
NASTY = ("", " ", "ABC", "-", "+", ".", "-.", "1e5", "1E-2", "NaN", "inf", "-0", "-0.00", "0.001", "1.234",
         "12.3.4", "1,000.00", "$5", "99999999999999999999", "-99999999999999", "9" * 40, "0x1F", "١٢٣",
         "20261399", "20260230", "2026-01-01", "00000000", "99991231", "1", "0", "19000101", "2026010",
         "202601011", " 20260101", "20260101 ", "É", "\u00a0", "'", '"', "\\", "%s", "{}", "<b>", "NULL")
#: Separators a sender could pick instead of * : ~ (none occurs in the generated data).
ALT_SEPARATORS = ("|", "!", "`", "{", "}", "\x1c", "\x1d", "\x1e", "\x1f", "\x07")
CLAIM_TAGS = {"835": "CLP", "837": "CLM"}
TAGS = ("ISA", "GS", "ST", "SE", "GE", "IEA", "BPR", "TRN", "DTM", "N1", "REF", "LX", "CLP", "SVC", "CAS", "AMT",
        "PLB", "BHT", "HL", "NM1", "DMG", "SBR", "CLM", "HI", "DTP", "SV1", "SV2", "CL1", "SVD", "MOA", "MIA",
        "LQ", "QTY", "TS3", "PER", "N3", "N4")


# --------------------------------------------------------------------------------------------- corpus
@functools.lru_cache(maxsize=None)
def _demo_files(seed: int) -> tuple[tuple[str, str], ...]:
    tables = demo.generate(seed=seed, n_claims=30)
    roster = demo.patients(seed=seed, n_claims=30)
    out = list(x12write.write_837p(tables["claims"], tables["claim_lines"], tables["payers"], roster))
    out += list(x12write.write_835(tables["remittances"], tables["remit_lines"], tables["adjustments"],
                                   tables["payers"], roster, claims=tables["claims"]))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def corpus() -> tuple[str, ...]:
    """Valid inputs to mutate: demo files with several claims, pairs of them in one file (835 and 837 mixed),
    the hand-made fixtures, and (long profile) the public corpus when it is present."""
    files: list[str] = []
    for seed in SEEDS:
        demo_files = [text for _, text in _demo_files(seed)]
        rich = sorted((t for t in demo_files if t.count("\nCLP*") + t.count("\nCLM*") >= 2), key=len)[:6]
        files += rich
        files.append(rich[0] + rich[-1])
    files += [p.read_text(encoding="latin-1") for p in sorted(X12_FIXTURES.iterdir())]
    if _PROFILE == "long" and EXTERNAL.is_dir():
        for p in sorted(EXTERNAL.rglob("*")):
            if p.is_file() and p.suffix.lower() not in (".csv", ".json", ".xml", ".md", ".tsv") \
                    and p.stat().st_size < 100_000:
                raw = p.read_bytes()
                if raw.lstrip()[:3] == b"ISA":
                    files.append(raw.decode("latin-1"))
    return tuple(files)


# --------------------------------------------------------------------------------------------- reference splitter
@dataclass
class Seps:
    element: str
    component: str
    segment: str


def isa_separators(text: str) -> Seps | None:
    """Separators of the file's first ISA, read the way the TR3 defines them (None when it has no ISA)."""
    at = text.find("ISA")
    if at < 0 or at + 4 > len(text):
        return None
    element = text[at + 3]
    pos = at + 3
    for _ in range(15):
        pos = text.find(element, pos + 1)
        if pos < 0:
            return None
    return Seps(element, text[pos + 1 : pos + 2], text[pos + 2 : pos + 3])


@dataclass
class RefSet:
    first: int
    last: int = 0
    kind: str = ""
    complete: bool = False
    tags: list[str] = field(default_factory=list)  # tags inside (ST and SE excluded)
    numbers: list[int] = field(default_factory=list)

    def claims(self) -> int:
        """Claim segments the reader must account for: CLP in an 835, CLM in an 837, both in any other set."""
        tags = (CLAIM_TAGS[self.kind],) if self.kind in CLAIM_TAGS else ("CLP", "CLM")
        return sum(t in tags for t in self.tags)


_BLANKS = " \t\r\n\x0b\x0c"


def reference(text: str) -> tuple[list[RefSet], list[tuple[int, str]]]:
    """The transaction sets of a single-separator file and the claim segments outside every set, found by
    splitting on the ISA's terminator: ST opens a set, SE closes it, ISA/GS/GE/IEA or another ST inside an open
    set truncate it. Segments are numbered from the first ISA (1), blank pieces not counted."""
    seps = isa_separators(text)
    assert seps is not None
    body = text[text.find("ISA"):]
    pieces = [p.strip(_BLANKS) for p in body.split(seps.segment)]
    segments = [p for p in pieces if p]
    sets: list[RefSet] = []
    strays: list[tuple[int, str]] = []
    open_set: RefSet | None = None
    for number, seg in enumerate(segments, start=1):
        tag = seg[:2] if len(seg) < 3 or seg[2] == seps.element else seg[:3]
        if tag in ("ISA", "GS", "GE", "IEA", "ST"):
            if open_set is not None:
                open_set.last = number - 1
                sets.append(open_set)
                open_set = None
            if tag == "ST":
                elements = seg.split(seps.element)
                open_set = RefSet(number, kind=elements[1].strip() if len(elements) > 1 else "")
        elif tag == "SE":
            if open_set is not None:
                open_set.last, open_set.complete = number, True
                sets.append(open_set)
                open_set = None
        elif open_set is not None:
            open_set.tags.append(tag)
            open_set.numbers.append(number)
        elif tag in ("CLP", "CLM"):
            strays.append((number, tag))
    if open_set is not None:
        open_set.last = len(segments)
        sets.append(open_set)
    return sets, strays


def _source_number(source: str) -> int:
    return int(source.rsplit("#", 1)[1])


def check_invariants(data: bytes, name: str = "fuzz.x12", *, exact: bool = True) -> None:
    """Read ``data`` and check the properties of this module (``exact``: against the reference splitter too)."""
    result = parse_x12(data, name)  # must not raise
    t, rej, warn = result.tables, result.rejections, result.warnings
    assert "internal_error" not in set(rej["code"]), rej["message"].tolist()
    assert rej["message"].str.startswith(name).all() and warn["message"].str.startswith(name).all()
    # internal consistency of what loaded
    assert set(t["remit_lines"]["remit_id"]) <= set(t["remittances"]["remit_id"])
    assert set(t["adjustments"]["remit_id"]) <= set(t["remittances"]["remit_id"])
    assert set(t["remittances"]["remit_id"]) == set(t["remittance_details"]["remit_id"])
    assert set(t["claim_lines"]["submission_id"]) <= set(t["claims"]["submission_id"])
    assert len(t["claims"]) == t["claims"]["submission_id"].nunique()
    assert len(t["remittances"]) == t["remittances"]["remit_id"].nunique()
    assert int(t["payments"]["claims"].sum()) == len(t["remittances"])
    files = t["ingested_files"]
    file_rejected = rej["first_segment"].isna().any()
    if file_rejected:  # a file refused whole loads nothing
        assert all(len(t[n]) == 0 for n in ("claims", "remittances", "payments", "plb"))
    if not exact:
        return
    assert not file_rejected, rej["message"].tolist()
    sets, strays = reference(data.decode("utf-8", "replace"))
    loaded_claim_numbers = {_source_number(s) for s in t["claims"]["source"]}
    loaded_remit_numbers = {_source_number(s) for s in t["remittances"]["source"]}
    payment_numbers = {_source_number(s) for s in t["payments"]["source"]}
    by_first = {int(r.first_segment): r for r in rej.itertuples() if not np.isnan(r.first_segment)}
    assert len(by_first) == len(rej), "two rejections for the same segments"
    accounted = 0
    for s in sets:
        tag = CLAIM_TAGS.get(s.kind)
        claim_numbers = {n for n, tg in zip(s.numbers, s.tags) if tg == tag}
        loaded = (loaded_remit_numbers if s.kind == "835" else loaded_claim_numbers) & claim_numbers
        rejection = by_first.pop(s.first, None)
        where = f"set at segment {s.first} ({s.kind}, {'complete' if s.complete else 'truncated'})"
        if rejection is not None:
            assert not loaded and s.first not in payment_numbers, f"{where}: rejected and loaded"
            assert rejection.claims == s.claims(), f"{where}: rejection counts {rejection.claims} claims, " \
                                                   f"the set has {s.claims()}"
            assert int(rejection.last_segment) == s.last, where
            accounted += s.claims()
        elif s.complete and tag:
            assert loaded == claim_numbers, f"{where}: {len(claim_numbers - loaded)} claims neither loaded nor rejected"
            if s.kind == "835":
                assert s.first in payment_numbers, f"{where}: neither loaded nor rejected"
        else:
            assert s.claims() == 0, f"{where}: {s.claims()} claim segments neither loaded nor rejected"
    # what remains: rejections of claim segments outside any set
    stray_numbers = {n for n, _ in strays}
    for first, r in by_first.items():
        inside = {n for n in stray_numbers if first <= n <= r.last_segment}
        assert inside and r.claims == len(inside), f"rejection at segment {first}: {r.message}"
        stray_numbers -= inside
        accounted += r.claims
    assert not stray_numbers, f"claim segments {sorted(stray_numbers)} outside any set and not reported"
    total = sum(s.claims() for s in sets) + len(strays)
    assert len(t["remittances"]) + len(t["claims"]) + accounted == total, "claims do not balance"
    assert int(files["transaction_sets"].sum()) >= len([s for s in sets if s.complete])


# --------------------------------------------------------------------------------------------- mutations
@dataclass
class Doc:
    """A file as its first ISA (kept intact by the 'exact' mutations) and the segments after it."""

    head: str
    segments: list[str]
    seps: Seps
    layout: str = "\n"

    @classmethod
    def parse(cls, text: str) -> Doc:
        seps = isa_separators(text)
        body = text[text.find("ISA"):]
        pieces = [p.strip(_BLANKS) for p in body.split(seps.segment)]
        pieces = [p for p in pieces if p]
        return cls(pieces[0], pieces[1:], seps)

    def render(self) -> str:
        end = self.seps.segment + self.layout
        return end.join([self.head, *self.segments]) + end


def _value(draw) -> str:
    return draw(st.sampled_from(NASTY) | st.text(st.characters(min_codepoint=32, max_codepoint=126,
                                                               exclude_characters="*~:^"), max_size=12))


@st.composite
def mutated(draw, exact: bool = True) -> tuple[bytes, list[str]]:
    """A corpus file with 1-6 mutations; returns the bytes and a description of the mutations."""
    doc = Doc.parse(draw(st.sampled_from(corpus())))
    log: list[str] = []
    e = doc.seps.element
    for _ in range(draw(st.integers(1, 6))):
        n = len(doc.segments)
        op = draw(st.sampled_from(("drop", "duplicate", "move", "element", "number", "date", "drop_element",
                                   "extra_elements", "component", "insert", "repeat_isa", "repeat_block",
                                   "segment_separator_in_element")))
        if n == 0:
            break
        i = draw(st.integers(0, n - 1))
        seg = doc.segments[i]
        parts = seg.split(e)
        if op == "drop":
            del doc.segments[i]
        elif op == "duplicate":
            doc.segments.insert(i, seg)
        elif op == "move":
            j = draw(st.integers(0, n - 1))
            doc.segments.insert(j, doc.segments.pop(i))
        elif op in ("element", "number", "date"):
            candidates = list(range(1, len(parts)))
            if op == "number":
                candidates = [k for k in candidates if re.fullmatch(r"-?\d*\.?\d+", parts[k])]
            elif op == "date":
                candidates = [k for k in candidates if re.fullmatch(r"\d{8}", parts[k])]
            if not candidates:
                continue
            k = draw(st.sampled_from(candidates))
            parts[k] = _value(draw)
            doc.segments[i] = e.join(parts)
        elif op == "drop_element" and len(parts) > 1:
            del parts[draw(st.integers(1, len(parts) - 1))]
            doc.segments[i] = e.join(parts)
        elif op == "extra_elements":
            doc.segments[i] = e.join(parts + [_value(draw) for _ in range(draw(st.integers(1, 30)))])
        elif op == "component":  # a composite written with another component separator, or split wrongly
            doc.segments[i] = seg.replace(doc.seps.component, draw(st.sampled_from((">", "^", e, ""))))
        elif op == "insert":
            tag = draw(st.sampled_from(TAGS[1:]))
            doc.segments.insert(i, e.join([tag] + [_value(draw) for _ in range(draw(st.integers(0, 12)))]))
        elif op == "repeat_isa":  # another interchange header (same separators) anywhere
            doc.segments.insert(i, doc.head)
        elif op == "repeat_block":  # a loop repeated many times
            j = min(n, i + draw(st.integers(1, 8)))
            doc.segments[i:i] = doc.segments[i:j] * draw(st.integers(2, 40))
        elif op == "segment_separator_in_element" and len(parts) > 1:  # a stray terminator splits a segment
            k = draw(st.integers(1, len(parts) - 1))
            parts[k] = parts[k][: len(parts[k]) // 2] + doc.seps.segment + parts[k][len(parts[k]) // 2:]
            doc.segments[i] = e.join(parts)
        log.append(f"{op}@{i}")
    doc.layout = draw(st.sampled_from(("\n", "", "\r\n", "\n   ")))
    text = doc.render()
    if draw(st.booleans()):  # the same interchange written with other separators (all of them, consistently)
        new = draw(st.permutations(ALT_SEPARATORS))[:2]
        if not any(c in text for c in new):
            text = text.translate(str.maketrans({doc.seps.element: new[0], doc.seps.segment: new[1]}))
            log.append(f"separators {new!r}")
    data = text.encode("utf-8")
    if draw(st.integers(0, 4)) == 0:  # cut the file short (after its first ISA)
        cut = draw(st.integers(len(doc.head) + 1, len(data)))
        data = data[:cut]
        log.append(f"truncate@{cut}")
    if not exact:
        data = _chaos(draw, data, log)
    return data, log


def _chaos(draw, data: bytes, log: list[str]) -> bytes:
    """Byte-level damage anywhere, the first ISA included."""
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "nul", "bom", "utf16", "cp1252", "cut_head")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
        elif op == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=20)) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 200)):]
        elif op == "nul":
            data = data[:at] + b"\0" * draw(st.integers(1, 300)) + data[at:]
        elif op == "bom":
            data = b"\xef\xbb\xbf" + data
        elif op == "utf16":
            data = data.decode("latin-1").encode(draw(st.sampled_from(("utf-16", "utf-16-le", "utf-16-be"))))
        elif op == "cp1252":
            data = data[:at] + b"\x81\x8d\x8f\x90\x9d\xe9" + data[at:]
        elif op == "cut_head":
            data = data[at:]
        log.append(f"{op}@{at}")
    return data


# --------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("at", [*range(8), *range(-4, 0)], ids=lambda k: f"corpus[{k}]")
def test_reference_agrees_on_valid_files(at):
    """The reference splitter and the reader agree on unmutated files, so a disagreement later is the mutation's.
    The first eight files of the corpus and its last four (the hand-made fixtures), built when the test runs, not
    when it is collected (every worker collects every module)."""
    text = corpus()[at]
    check_invariants(text.encode("utf-8"))
    result = parse_x12(text.encode("utf-8"), "valid.x12")
    assert result.rejections.empty


@FUZZ
@given(mutated(exact=True))
def test_fuzz_mutated_files_balance(case):
    data, log = case
    check_invariants(data, exact=True)


@FUZZ
@given(mutated(exact=False))
def test_fuzz_damaged_bytes_never_crash(case):
    data, log = case
    check_invariants(data, exact=False)


def _corpus_files() -> list[Path]:
    return sorted(p for p in FUZZ_CORPUS.glob("*.x12")) if FUZZ_CORPUS.is_dir() else []


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name)
def test_fuzz_corpus_regressions(path):
    """Minimized inputs that once broke an invariant (the file name says which; 'chaos-' ones are byte damage)."""
    check_invariants(path.read_bytes(), path.name, exact=not path.name.startswith("chaos-"))


# --------------------------------------------------------------------------------------------- coverage-guided
def _atheris_main() -> None:  # pragma: no cover - a tool, not a test
    """Coverage-guided fuzzing with atheris (libFuzzer) when it is installed, seeded with :func:`corpus`:

        python tests/test_fuzz_x12.py CORPUS_DIR -max_total_time=1200 -rss_limit_mb=4096

    Checks the 'damaged bytes' properties on every input; a failing input is written as ``crash-<sha1>``."""
    import sys

    import atheris

    corpus_dir = Path(next((a for a in sys.argv[1:] if not a.startswith("-")), "fuzz-corpus"))
    corpus_dir.mkdir(parents=True, exist_ok=True)
    if not any(corpus_dir.iterdir()):
        for k, text in enumerate(corpus()):
            (corpus_dir / f"seed-{k:03d}.x12").write_bytes(text.encode("utf-8"))
    import inspect

    import rcmkit.ingest as package

    # rcmkit is imported already (by this module): instrument the reader's functions in place
    for name, module in sorted(sys.modules.items()):
        if not name.startswith(package.__name__ + "."):
            continue
        for obj in list(vars(module).values()):
            members = [obj] if inspect.isfunction(obj) else vars(obj).values() if inspect.isclass(obj) else []
            for fn in members:
                if inspect.isfunction(fn) and fn.__module__ == name:
                    atheris.instrument_func(fn)

    def one_input(data: bytes) -> None:
        check_invariants(data, exact=False)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    _atheris_main()
