"""Issue #13: X12 files laid out with a line break *before* each segment terminator, and the rule that claims
seen in a file's text never vanish behind warnings alone.

The fixture tests/fixtures/x12/era_paid_and_denied.835 holds, by hand: one 835 set, two CLPs. PCN-100 billed
200.00 paid 112.50 (CO-45 57.50, PR-2 30.00); PCN-101 billed 80.00 paid 0 (CO-16 80.00). BPR02 112.50.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rcmkit.ingest import parse_x12, read_x12

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "x12" / "era_paid_and_denied.835"
EXTERNAL = Path(os.environ.get("RCMKIT_EXTERNAL_DATA", HERE.parents[1] / "shared" / "data" / "external"))


def _segments(raw: bytes, terminator: bytes = b"~") -> list[bytes]:
    return [s.strip() for s in raw.split(terminator) if s.strip()]


def _lay_out(segments: list[bytes], before: bytes) -> bytes:
    """Every segment followed by ``before`` and then the terminator '~' (e.g. 'ISA*...*:\\n~GS*...\\n~')."""
    return b"".join(s + before + b"~" for s in segments)


def _money(result):
    r = result.tables["remittances"].sort_values("claim_id")
    return list(zip(r["claim_id"], r["status_code"], r["billed_cents"], r["paid_cents"]))


EXPECTED = [("PCN-100", "1", 20000, 11250), ("PCN-101", "1", 8000, 0)]


@pytest.mark.parametrize("before", [b"\n", b"\r\n", b" ", b"\n\n  ", b"\t"], ids=repr)
def test_line_break_before_each_terminator_reads_every_claim(before):
    result = parse_x12(_lay_out(_segments(FIXTURE.read_bytes()), before), "laid_out.835")
    assert result.rejections.empty, result.rejections["message"].tolist()
    assert result.warnings.empty, result.warnings["message"].tolist()
    assert _money(result) == EXPECTED
    adj = result.tables["adjustments"]
    assert sorted(zip(adj["group_code"], adj["reason_code"], adj["amount_cents"])) == [
        ("CO", "16", 8000), ("CO", "45", 5750), ("PR", "2", 3000)]
    assert result.tables["payments"]["payment_cents"].tolist() == [11250]


def test_newline_only_terminators_still_read():
    """'ISA*...*:\\nGS*...\\n': the newline is the terminator (the next character is data, not punctuation)."""
    raw = b"\n".join(_segments(FIXTURE.read_bytes())) + b"\n"
    result = parse_x12(raw, "newlines.835")
    assert result.rejections.empty
    assert _money(result) == EXPECTED


def test_file_without_isa_in_the_same_layout():
    segs = [s for s in _segments(FIXTURE.read_bytes()) if not s.startswith((b"ISA", b"IEA"))]
    result = parse_x12(_lay_out(segs, b"\n"), "no_isa.835")
    assert _money(result) == EXPECTED
    assert result.rejections.empty


@pytest.mark.parametrize("name,raw", [
    # the ISA ends in '~' but the rest of the file uses "'": every CLP sits inside one giant GS "segment"
    ("apostrophes.835", lambda s: s[0] + b"~\n" + b"'\n".join(s[1:]) + b"'\n"),
    # the ISA ends in '~' but the rest of the file is newline-terminated
    ("newlines_after_isa.835", lambda s: s[0] + b"~\n" + b"\n".join(s[1:]) + b"\n"),
    # lower-case segment IDs: no ST is recognised
    ("lower.835", lambda s: b"~\n".join([s[0]] + [x.lower() for x in s[1:]]) + b"~\n"),
])
def test_claims_seen_but_not_read_are_a_rejection_never_only_a_warning(name, raw):
    result = parse_x12(raw(_segments(FIXTURE.read_bytes())), name)
    assert result.tables["remittances"].empty
    rows = result.rejections[result.rejections["code"] == "claims_not_read"]
    assert len(rows) == 1, result.rejections[["code", "message"]].values.tolist()
    row = rows.iloc[0]
    assert row["file"] == name and row["claims"] == 2
    assert name in row["message"] and "2 CLP/CLM segment" in row["message"]
    assert result.stats["rejected_files"] == 1


def test_a_set_already_rejected_is_not_rejected_twice():
    """CLPs outside any ST..SE are already rejected (code 'envelope', 2 claims): no second rejection."""
    segs = [s for s in _segments(FIXTURE.read_bytes()) if not s.startswith((b"ST*", b"SE*"))]
    result = parse_x12(b"~\n".join(segs) + b"~\n", "no_st.835")
    assert result.rejections["code"].tolist() == ["envelope"]
    assert result.rejections["claims"].tolist() == [2]


def test_clp_text_inside_an_element_is_not_counted():
    """'*CLP*' inside an element (after the element separator) is data, not a segment."""
    segs = _segments(FIXTURE.read_bytes())
    segs = [s.replace(b"N1*PR*ACME HEALTH PLAN", b"N1*PR*CLP*CLM") for s in segs]
    result = parse_x12(b"~\n".join(segs) + b"~\n", "data.835")
    assert (result.rejections["code"] != "claims_not_read").all()


def _real_835() -> Path:
    path = EXTERNAL / "stupidedi" / "835" / "X221A1" / "multiple-claims-single-check.edi"
    if not path.is_file():
        pytest.skip(f"public X12 corpus not found at {EXTERNAL} (see its PROVENANCE.md; set RCMKIT_EXTERNAL_DATA)")
    return path


def test_real_sample_in_the_line_break_layout_reads_like_the_original():
    path = _real_835()
    raw = path.read_bytes()
    original = read_x12(path)
    assert original.rejections.empty
    terminator = raw[raw.index(b"ISA") + 105:raw.index(b"ISA") + 106]
    segs = _segments(raw, terminator)
    clps = sum(1 for s in segs if s.startswith(b"CLP"))
    assert clps == len(original.tables["remittances"]) > 1
    for before in (b"\n", b"\r\n"):
        laid = parse_x12(_lay_out(segs, before), path.name)
        assert laid.rejections.empty, laid.rejections["message"].tolist()
        cols = ["claim_id", "status_code", "billed_cents", "paid_cents", "patient_responsibility_cents", "source"]
        assert laid.tables["remittances"][cols].equals(original.tables["remittances"][cols])
        assert laid.stats["paid_cents"] == original.stats["paid_cents"]
        assert len(laid.tables["adjustments"]) == len(original.tables["adjustments"])
