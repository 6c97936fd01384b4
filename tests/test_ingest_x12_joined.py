"""Bulk X12 reading (issue #15): the 835 sets of many files read as one joined batch give exactly what reading
each file alone gives (the reader before the change, still used by ``parse_x12`` and for files that cannot be
joined): the same tables row for row, the same warnings and rejections in the same order, naming each file's
own segment numbers. Checked on a small demo inbox, the public samples, and mutated files (the fuzz tests'
mutations) mixed with good ones."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcmkit import demo
from rcmkit.ingest.x12 import era835, reader
from rcmkit.ingest.x12 import write as x12write
from rcmkit.ingest.x12.reader import read_x12

EXTERNAL = Path(os.environ.get("RCMKIT_EXTERNAL_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data" / "external"))
SALT = reader.DEFAULT_PATIENT_SALT


def _alone(items: list[tuple[bytes, str]]) -> reader.IngestResult:
    """The oracle: every file read on its own (the reader as it was), then combined."""
    return reader._combine([reader._read_bytes(data, name, SALT) for data, name in items])


def read_together(items: list[tuple[bytes, str]]) -> reader.IngestResult:
    """The bulk path of read_x12: files opened, then their sets read together."""
    return reader._combine(reader._read_many([reader._open(data, name, SALT) for data, name in items]))


def assert_same(a: reader.IngestResult, b: reader.IngestResult) -> None:
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], obj=name)
    pd.testing.assert_frame_equal(a.warnings, b.warnings, obj="warnings")
    pd.testing.assert_frame_equal(a.rejections, b.rejections, obj="rejections")
    assert a.stats == b.stats


def demo_inbox(seed: int, n_claims: int) -> list[tuple[bytes, str]]:
    """A generated demo's 837 and 835 files, as (bytes, name) (also tests/test_ingest_837_columnar.py's)."""
    tables = demo.generate(seed=seed, n_claims=n_claims)
    roster = demo.patients(seed=seed, n_claims=n_claims)
    out = [(text.encode("ascii", "replace"), name) for name, text in
           x12write.write_837p(tables["claims"], tables["claim_lines"], tables["payers"], roster)]
    out += [(text.encode("ascii", "replace"), name) for name, text in
            x12write.write_835(tables["remittances"], tables["remit_lines"], tables["adjustments"], tables["payers"],
                               roster, claims=tables["claims"])]
    return out


@pytest.fixture(scope="module")
def demo_files() -> list[tuple[bytes, str]]:
    return demo_inbox(seed=3, n_claims=300)


@pytest.mark.slow
def test_demo_inbox_joined_equals_each_file_alone(demo_files, monkeypatch):
    calls = []
    real = era835.read_835_joined
    monkeypatch.setattr(reader, "read_835_joined", lambda *a: calls.append(len(a[2])) or real(*a))
    n835 = sum(1 for data, _ in demo_files if b"ST*835*" in data)
    together = read_together(demo_files)
    # the 835 files share separators: all of them are read in one joined call
    assert calls == [n835] and n835 > 10
    alone = _alone(demo_files)
    assert_same(alone, together)
    assert len(together.tables["remittances"]) > 250 and len(together.tables["claims"]) > 250


@pytest.mark.slow
def test_read_x12_on_files_equals_each_file_alone(demo_files, tmp_path):
    paths = []
    for data, name in demo_files[::3]:  # 835 and 837 files interleaved as the inbox lists them
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    assert_same(_alone([(p.read_bytes(), p.name) for p in paths]), read_x12(paths))


def _damaged(demo_files) -> list[tuple[bytes, str]]:
    """835 files with problems, each between good files: a bad amount (set rejected), a bad date (warning), an
    unknown CAS group (warning), a missing SE (truncated), blanks before terminators (not joinable), other
    separators, an 837 set inside an 835 file, prose before the ISA."""
    eras = [(d, n) for d, n in demo_files if b"ST*835*" in d][:12]
    claims = [(d, n) for d, n in demo_files if b"ST*837*" in d][:1]
    (a, na), (b, nb), (c, nc), (d, nd), (e, ne), (f, nf), (g, ng), (h, nh) = eras[:8]
    bad_amount = a.replace(b"CLP*", b"CLP*", 1)
    first_clp = bad_amount.index(b"CLP*")
    parts = bad_amount[first_clp:].split(b"*", 5)
    parts[4] = b"12.3.4"
    bad_amount = bad_amount[:first_clp] + b"*".join(parts)
    bad_date = b.replace(b"DTM*405*", b"DTM*405*2024133", 1)
    bad_group = c.replace(b"CAS*CO*", b"CAS*XX*", 1)
    start = d.index(b"SE*")
    no_se = d[:start] + d[d.index(b"~", start) + 1:]
    blanks = e.replace(b"~", b" ~")
    other_seps = f.replace(b"*", b"|")
    mixed = g.replace(b"IEA*", claims[0][0][claims[0][0].index(b"ST*"):claims[0][0].index(b"GE*")] + b"IEA*", 1)
    prose = b"Remittance file follows\n" + h
    return [(bad_amount, "1_" + na), eras[8], (bad_date, "2_" + nb), (bad_group, "3_" + nc), eras[9],
            (no_se, "4_" + nd), (blanks, "5_" + ne), eras[10], (other_seps, "6_" + nf), (mixed, "7_" + ng),
            (prose, "8_" + nh), eras[11]]


def test_bad_files_among_good_ones(demo_files):
    files = _damaged(demo_files)
    together, alone = read_together(files), _alone(files)
    assert_same(alone, together)
    rejections = together.rejections
    # the bad amount rejects its set, named by that file's own segment number; the other sets of the file and
    # the files after it load
    first = files[0][0]
    number = first[:first.index(b"CLP*")].count(b"~") + 1
    bad = rejections[rejections["file"] == files[0][1]]
    assert bad["code"].tolist() == ["not_a_number"]
    assert f"{files[0][1]}, segment {number} (CLP, claim " in bad["message"].iloc[0]
    assert "CLP04 claim payment amount '12.3.4' is not a number" in bad["message"].iloc[0]
    assert set(rejections["file"]) == {files[0][1], files[5][1]}  # and the set without its SE
    sources = together.tables["remittances"]["source"].str.split("#").str[0]
    assert set(sources) >= {name for _, name in files[1:]} - {files[5][1]}
    codes = set(together.warnings["code"])
    assert {"invalid_date", "unknown_code"} <= codes


@pytest.mark.slow
@pytest.mark.skipif(not EXTERNAL.is_dir(), reason=f"public X12 samples not found at {EXTERNAL} "
                    "(set RCMKIT_EXTERNAL_DATA to their folder)")
def test_public_samples_joined_equals_each_file_alone():
    paths = sorted(p for p in EXTERNAL.rglob("*") if p.is_file()
                   and p.suffix.lower() not in (".md", ".tsv", ".json", ".csv", ".xml"))
    items = [(p.read_bytes(), p.name) for p in paths if p.stat().st_size < 5_000_000]
    assert len(items) > 50
    together = read_together(items)
    assert_same(_alone(items), together)
    assert len(together.tables["remittances"]) > 100


def _fuzz():
    from test_fuzz_x12 import corpus, mutated  # the fuzz tests' mutations of demo files and fixtures

    good = [text.encode("latin-1") for text in corpus() if "ST*835*" in text and "~" in text]
    return mutated, good


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzzed_files_together_equal_alone(data):
    """Mutated files (damaged envelopes, amounts, dates, separators, cut short) each followed by a good 835, so
    that most mutated 835s are read in a joined batch with good files."""
    mutated, good = _fuzz()
    items = []
    for k in range(data.draw(st.integers(1, 4))):
        raw, _ = data.draw(mutated(exact=data.draw(st.booleans())))
        items.append((raw, f"f{k}.x12"))
        items.append((data.draw(st.sampled_from(good)), f"g{k}.835"))
    assert_same(_alone(items), read_together(items))
