"""The columnar 837 reader (issue #15, rcmkit.ingest.x12.claims837_columnar) gives exactly what the segment walk
gives: the same tables row for row, the same warnings and rejections in the same order. The oracle is every file
read alone by the walk (``claims837.COLUMNAR = False``); the subject is the bulk path (files opened, their 837
sets joined and read in columnar batches, a set that is not plain walked alone). Checked on a hand-made set with
the values written out, a demo inbox, damaged files among good ones, the public samples and fuzz mutations."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcmkit import demo
from rcmkit.ingest.x12 import claims837, claims837_columnar, reader
from rcmkit.ingest.x12 import write as x12write
from test_ingest_x12_joined import EXTERNAL, SALT, assert_same, demo_inbox, read_together


def _walk_alone(items: list[tuple[bytes, str]]) -> reader.IngestResult:
    """The oracle: each file read on its own by the segment walk."""
    before = claims837.COLUMNAR
    claims837.COLUMNAR = False
    try:
        return reader._combine([reader._read_bytes(data, name, SALT) for data, name in items])
    finally:
        claims837.COLUMNAR = before


_columnar_together = read_together  # the bulk path: files opened, then their sets read together


@pytest.fixture
def plain_calls(monkeypatch) -> list[tuple[int, bool]]:
    """(sets, read) of every call of the columnar reader."""
    calls: list[tuple[int, bool]] = []
    real = claims837_columnar.read_plain_837

    def spy(sets, files):
        got = real(sets, files)
        calls.append((len(sets), got is not None))
        return got

    monkeypatch.setattr(claims837_columnar, "read_plain_837", spy)
    return calls


# --------------------------------------------------------------------------------------------- hand-made set
HAND = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *250102*1200*^*00501*000000007*0*T*:~"
    "GS*HC*SENDER*RECEIVER*20250102*1200*7*X*005010X222A1~"
    "ST*837*0001*005010X222A1~"
    "BHT*0019*00*1*20250103*1200*CH~"
    "HL*1**20*1~"
    "NM1*85*2*NORTH CLINIC*****XX*1111111111~"
    "HL*2*1*22*0~"
    "SBR*P*18*******CI~"
    "NM1*IL*1*DOE*JANE****MI*M123~"
    "DMG*D8*19800101*F~"
    "NM1*PR*2*ACME*****PI*P01~"
    "CLM*C1*150.5***11:B:1*Y*A*Y*Y~"
    "REF*F8*ICN9~"
    "HI*ABF:I10*ABK:E119~"
    "HI*ABF:Z79~"
    "LX*1~"
    "SV1*HC:99213:25::59*100.5*UN*1***1:2~"
    "DTP*472*RD8*20250101-20250102~"
    "REF*6R*L1~"
    "NM1*82*1*SMITH*ANN****XX*2222222222~"
    "LX*2~"
    "SV1*HC:36415*50*UN*2.5***1~"
    "DTP*472*D8*20241230~"
    "HL*3*2*23*0~"
    "DMG*D8*20100505*M~"
    "CLM*C2*80***11:B:7*Y*A*Y*Y~"
    "HI*ABK:J069~"
    "LX*1~"
    "SV1*HC:99212*80*UN*1***1~"
    "DTP*472*D8*20250102~"
    "SE*29*0001~GE*1*7~IEA*1*000000007~"
)


def test_hand_made_set_read_by_columns(plain_calls):
    result = _columnar_together([(HAND.encode(), "hand.837")])
    assert plain_calls == [(1, True)]  # plain: read from arrays
    assert result.warnings.empty and result.rejections.empty
    claims = result.tables["claims"]
    assert claims["claim_id"].tolist() == ["C1", "C2"]
    assert claims["total_charge_cents"].tolist() == [15050, 8000]  # 150.5 -> 15050 cents; 100.50 + 50.00 = 150.50
    assert claims["frequency_code"].tolist() == ["1", "7"]
    # principal (ABK) codes first, then the others in the order sent: E119, then I10 and Z79
    assert [list(c) for c in claims["diagnosis_codes"]] == [["E119", "I10", "Z79"], ["J069"]]
    # C1's lines span 2024-12-30 .. 2025-01-02 (line 1 RD8 01-01..01-02, line 2 D8 12-30)
    assert claims["service_from"].tolist()[0] == pd.Timestamp(2024, 12, 30)
    assert claims["service_to"].tolist()[0] == pd.Timestamp(2025, 1, 2)
    assert claims["submitted_on"].tolist() == [pd.Timestamp(2025, 1, 3)] * 2  # BHT04
    assert claims["payer_id"].tolist() == ["P01", "P01"] and claims["billing_npi"].tolist() == ["1111111111"] * 2
    # C1 has no claim-level NM1*82: its first line's rendering provider; C2 has none: the billing NPI
    assert claims["rendering_npi"].tolist() == ["2222222222", "1111111111"]
    assert claims["payer_claim_ref"].tolist()[0] == "ICN9" and pd.isna(claims["payer_claim_ref"].tolist()[1])
    # C2 sits under the dependent (HL 23): the subscriber's member ID with the dependent's birth date
    assert claims["patient_key"].tolist() == [claims837.patient_key(SALT, "M123", "19800101"),
                                              claims837.patient_key(SALT, "M123", "20100505")]
    assert claims["source"].tolist() == ["hand.837#12", "hand.837#26"]  # CLM segments 12 and 26 of the file
    lines = result.tables["claim_lines"]
    assert lines["line_number"].tolist() == [1, 2, 1]
    assert lines["procedure_code"].tolist() == ["99213", "36415", "99212"]
    assert lines["modifiers"].tolist() == ["25:59", "", ""]  # the empty third component left out
    assert lines["units"].tolist() == [1.0, 2.5, 1.0]
    assert lines["charge_cents"].tolist() == [10050, 5000, 8000]
    assert lines["service_date"].tolist() == [pd.Timestamp(2025, 1, 1), pd.Timestamp(2024, 12, 30),
                                              pd.Timestamp(2025, 1, 2)]
    details = result.tables["claim_line_details"]
    assert details["line_control_number"].tolist()[0] == "L1"
    assert details["diagnosis_pointers"].tolist() == ["1:2", "1", "1"]
    assert details["rendering_npi"].tolist()[0] == "2222222222"
    providers = result.tables["providers"]
    assert providers["npi"].tolist() == ["1111111111", "2222222222"]
    assert providers["name"].tolist() == ["NORTH CLINIC", "SMITH, ANN"]
    assert_same(_walk_alone([(HAND.encode(), "hand.837")]), result)


@pytest.mark.parametrize("change, why", [
    ("SBR*P*18*******CI~NM1*IL", None),  # unchanged: plain
    ("HI*ABF:Z79~", "HI*ABF:Z7.9~"),  # a dotted code: the walk warns
    ("CLM*C2*80***11:B:7", "CLM*C2*80***11:B:"),  # no CLM05-3: the walk warns
    ("LX*2~", ""),  # an SV1 without its own LX: the walk warns
    ("CLM*C2*80***11:B:7*Y*A*Y*Y~", "CLM*C2*80***11:B:7*Y*A*Y*Y~SBR*S*18*******MC~"),  # loop 2320: walked
    ("SMITH", "SM\u00cfTH"),  # not ASCII
    ("*100.5*", "*1OO.5*"),  # not an amount: the set is rejected
])
def test_sets_that_are_not_plain_are_walked(change, why, plain_calls):
    text = HAND if why is None else HAND.replace(change, why, 1)
    assert text != HAND or why is None
    result = _columnar_together([(text.encode("utf-8"), "hand.837")])
    assert plain_calls == [(1, why is None)]
    assert_same(_walk_alone([(text.encode("utf-8"), "hand.837")]), result)


# --------------------------------------------------------------------------------------------- demo inbox
@pytest.fixture(scope="module")
def demo_files() -> list[tuple[bytes, str]]:
    return demo_inbox(seed=5, n_claims=400)


@pytest.mark.slow
def test_demo_inbox_columnar_equals_walk(demo_files, plain_calls):
    together = _columnar_together(demo_files)
    n837 = sum(1 for data, _ in demo_files if b"ST*837*" in data)
    assert n837 > 10
    assert plain_calls == [(n837, True)]  # every demo 837 set read in one columnar batch
    assert_same(_walk_alone(demo_files), together)
    assert len(together.tables["claims"]) > 350 and len(together.tables["claim_lines"]) > 600


def _damaged(demo_files) -> list[tuple[bytes, str]]:
    """837 files with problems, each between good ones: a bad charge (set rejected), a dotted diagnosis code
    (warning), an LX without SV1 (warning), an other-payer loop (walked), blanks before terminators (not
    joinable), other separators, a bad service date (set rejected: no service date left)."""
    good = [(d, n) for d, n in demo_files if b"ST*837*" in d]
    (a, na), (b, nb), (c, nc), (d, nd), (e, ne), (f, nf), (g, ng) = good[:7]
    first = a.index(b"CLM*")
    parts = a[first:].split(b"*", 3)
    parts[2] = b"12.3.4"
    bad_charge = a[:first] + b"*".join(parts)
    dotted = b.replace(b"HI*ABK:", b"HI*ABK:A.", 1)
    no_sv1 = c.replace(b"LX*1~", b"LX*1~LX*2~", 1)
    other_payer = d.replace(b"~\nLX*1~", b"~\nSBR*S*18*******MC~\nNM1*PR*2*OTHER*****PI*9~\nLX*1~", 1)
    assert other_payer != d
    blanks = e.replace(b"~", b" ~")
    other_seps = f.replace(b"*", b"|")
    bad_date = g.replace(b"DTP*472*D8*2025", b"DTP*472*D8*2O25")
    return [(bad_charge, "1_" + na), good[7], (dotted, "2_" + nb), (no_sv1, "3_" + nc), good[8],
            (other_payer, "4_" + nd), (blanks, "5_" + ne), good[9], (other_seps, "6_" + nf),
            (bad_date, "7_" + ng), good[10]]


def test_bad_files_among_good_ones(demo_files):
    files = _damaged(demo_files)
    together = _columnar_together(files)
    assert_same(_walk_alone(files), together)
    rejections = together.rejections
    first = files[0][0]
    number = first[:first.index(b"CLM*")].count(b"~") + 1
    bad = rejections[rejections["file"] == files[0][1]]
    assert bad["code"].tolist() == ["not_a_number"]
    assert f"{files[0][1]}, segment {number} (CLM, claim " in bad["message"].iloc[0]
    assert "CLM02 total claim charge amount '12.3.4' is not a number" in bad["message"].iloc[0]
    assert set(rejections["file"]) == {files[0][1], files[9][1]}
    sources = set(together.tables["claims"]["source"].str.split("#").str[0])
    assert sources == {name for _, name in files} - {files[0][1], files[9][1]}  # the good ones all load
    assert {"diagnosis", "missing_segment"} <= set(together.warnings["code"])


@pytest.mark.slow
@pytest.mark.skipif(not EXTERNAL.is_dir(), reason=f"public X12 samples not found at {EXTERNAL} "
                    "(set RCMKIT_EXTERNAL_DATA to their folder)")
def test_public_samples_columnar_equals_walk(plain_calls):
    paths = sorted(p for p in EXTERNAL.rglob("*") if p.is_file()
                   and p.suffix.lower() not in (".md", ".tsv", ".json", ".csv", ".xml"))
    items = [(p.read_bytes(), p.name) for p in paths if p.stat().st_size < 5_000_000]
    assert len(items) > 50
    together = _columnar_together(items)
    assert_same(_walk_alone(items), together)
    assert len(together.tables["claims"]) > 100
    assert any(read for _, read in plain_calls)  # some public sets are plain


def _fuzz():
    from test_fuzz_x12 import corpus, mutated  # the fuzz tests' mutations of demo files and fixtures

    good = [text.encode("latin-1") for text in corpus() if "ST*837*" in text and "~" in text]
    return mutated, good


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          database=None)
@given(st.data())
def test_fuzzed_files_columnar_equals_walk(data):
    """Mutated files (damaged envelopes, amounts, dates, separators, segments moved or dropped) each followed by a
    good 837, so that most mutated 837s are read in a columnar batch with good files."""
    mutated, good = _fuzz()
    items = []
    for k in range(data.draw(st.integers(1, 4))):
        raw, _ = data.draw(mutated(exact=data.draw(st.booleans())))
        items.append((raw, f"f{k}.x12"))
        items.append((data.draw(st.sampled_from(good)), f"g{k}.837"))
    assert_same(_walk_alone(items), _columnar_together(items))


@pytest.mark.slow
def test_bulk_ingest_stores_the_same_tables(tmp_path, monkeypatch):
    """End to end: a demo inbox (837s, 835s, PM exports) ingested with the columnar 837 reader and the pyarrow CSV
    path, and with the segment walk and the csv module: every stored table is the same, row for row."""
    from rcmkit.core import schema, store
    from rcmkit.ingest.pipeline import ingest
    from rcmkit.ingest.pm import decode

    kw = dict(seed=8, n_claims=500)
    x12write.write_demo_files(tmp_path / "src", demo.generate(**kw), demo.patients(**kw), practice="src")
    inbox = tmp_path / "src" / "src" / "inbox"
    ingest(tmp_path / "fast", "p", [inbox], column_map="generic", progress=False)
    monkeypatch.setattr(claims837, "COLUMNAR", False)
    monkeypatch.setattr(decode, "ARROW_CSV", False)
    ingest(tmp_path / "slow", "p", [inbox], column_map="generic", progress=False)
    names = sorted(schema.TABLES)
    fast = store.load_tables(tmp_path / "fast", "p", names, required=False)
    slow = store.load_tables(tmp_path / "slow", "p", names, required=False)
    for name in names:
        pd.testing.assert_frame_equal(fast[name], slow[name], obj=name)
    assert len(fast["claims"]) > 450 and len(fast["remittances"]) > 300 and len(fast["postings"]) > 100
