"""X12 835/837 ingest: the public corpus, hand-computed fixtures, and every bad-input rule.

Expected totals for the public corpus are computed here from the raw segments by a deliberately tiny splitter
(:func:`_raw_sets`), not by rcmkit's parser, so the two can disagree.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from rcmkit.core import schema
from rcmkit.ingest import (
    DEFAULT_PATIENT_SALT,
    EXTRA_TABLES,
    OUTPUT_TABLES,
    looks_like_x12,
    parse_x12,
    read_x12,
    validate_x12,
)
from rcmkit.ingest.x12 import era835, fields
from rcmkit.ingest.x12.claims837 import patient_key

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "x12"
EXTERNAL = Path(os.environ.get("RCMKIT_EXTERNAL_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data" / "external"))
needs_external = pytest.mark.skipif(not EXTERNAL.is_dir(), reason=f"public X12 corpus not found at {EXTERNAL} "
                                    "(set RCMKIT_EXTERNAL_DATA to its folder)")

#: Corpus transaction sets that must be rejected, and why: (ST02, code, words the message must contain).
EXPECTED_REJECTIONS = {
    # SVC*HC:59426******742*742**1: SVC02 (charge) and SVC03 (payment) are empty, the line's money is unknown.
    "edi-835-parser/test_edi_835_files/blue_cross_nc_sample.txt": ("1234", "missing_element", "SVC02"),
    # SVC*HC*24599.00*1766.50*187.50**1: SVC01 is a bare qualifier, so every later element is shifted by one.
    "linuxforhealth-x12/835_005010X221A1/tertiary-payment.835": ("0001", "missing_element", "SVC01"),
}


# --------------------------------------------------------------------------------------------- raw splitter
@dataclass
class _RawSet:
    kind: str
    control: str
    first: int  # segment numbers, the first segment of the file being 1
    last: int
    segments: list[list[str]]


def _raw_segments(raw: bytes) -> list[list[str]]:
    """Split a file the simplest way: separators from the ISA (or '*' and '~' without one)."""
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("latin-1").lstrip("\ufeff").replace("\xef\xbb\xbf", "")
    match = re.search(r"(?m)^\s*(ISA|GS|ST)(.)", text)
    text, element = text[match.start(1):], match.group(2)
    if text.startswith("ISA"):
        parts = text.split(element, 16)
        terminator = parts[16][1]
    else:
        terminator = "~" if "~" in text else "\n"
    return [s.strip().split(element) for s in text.split(terminator) if s.strip()]


def _raw_sets(raw: bytes) -> list[_RawSet]:
    sets, current = [], None
    for number, seg in enumerate(_raw_segments(raw), start=1):
        if seg[0] == "ST":
            current = _RawSet(seg[1], seg[2], number, number, [])
        if current is not None:
            current.segments.append(seg)
            current.last = number
        if seg[0] == "SE":
            sets.append(current)
            current = None
    return sets


def _cents(text: str) -> int:
    return int(Decimal(text) * 100)


def _starts_like_x12(path: Path) -> bool:
    """A line of the file's first 4 KB (prose may come first) starts with ISA, GS or ST and a separator."""
    head = path.read_bytes()[:4096].replace(b"\x00", b"").decode("latin-1").replace("\xef\xbb\xbf", "")
    return re.search(r"(?m)^[ \t]*(ISA|GS|ST)[^\w\s`]", head) is not None


def _corpus() -> list[Path]:
    if not EXTERNAL.is_dir():
        return []
    return sorted(p for p in EXTERNAL.rglob("*") if p.is_file() and _starts_like_x12(p))


def _set_of(sources: pd.Series, raw_set: _RawSet) -> pd.Series:
    numbers = sources.str.rsplit("#", n=1).str[1].astype(int)
    return (numbers >= raw_set.first) & (numbers <= raw_set.last)


# --------------------------------------------------------------------------------------------- corpus
@needs_external
def test_corpus_has_the_documented_files():
    kinds = [s.kind for p in _corpus() for s in _raw_sets(p.read_bytes())[:1]]
    assert len(kinds) == 77 and kinds.count("835") == 20 and kinds.count("837") == 57
    everything = [p for p in EXTERNAL.rglob("*") if p.is_file()]
    assert [p for p in everything if looks_like_x12(p)] == [p for p in everything if _starts_like_x12(p)]


@needs_external
@pytest.mark.parametrize("path", _corpus(), ids=lambda p: str(p.relative_to(EXTERNAL)))
def test_corpus_file_loads_with_the_totals_it_states(path: Path):
    result = read_x12(path)
    expected_rejection = EXPECTED_REJECTIONS.get(str(path.relative_to(EXTERNAL)).replace(os.sep, "/"))
    rejections = result.rejections
    if expected_rejection is None:
        assert rejections.empty, rejections.message.tolist()
    else:
        control, code, words = expected_rejection
        assert rejections[["st_control_number", "code"]].values.tolist() == [[control, code]]
        message = rejections.message.iloc[0]
        assert path.name in message and words in message and re.search(r"segment \d+", message)
    rejected = set(rejections.st_control_number)
    for raw_set in _raw_sets(path.read_bytes()):
        if raw_set.control in rejected:
            continue
        if raw_set.kind == "835":
            _check_835_set(result, raw_set)
        else:
            _check_837_set(result, raw_set)


def _check_835_set(result, raw_set: _RawSet) -> None:
    clp = [s for s in raw_set.segments if s[0] == "CLP"]
    bpr = next(s for s in raw_set.segments if s[0] == "BPR")
    plb = [s for s in raw_set.segments if s[0] == "PLB"]
    plb_total = sum(_cents(s[k]) for s in plb for k in range(4, len(s), 2) if s[k])
    paid_total = sum(_cents(s[4]) for s in clp)
    remits = result.tables["remittances"]
    mine = remits[_set_of(remits.source, raw_set)]
    assert len(mine) == len(clp)
    assert mine.paid_cents.sum() == paid_total
    payment = result.tables["payments"]
    payment = payment[payment.source.str.endswith(f"#{raw_set.first}")]
    assert payment[["payment_cents", "claim_paid_cents", "plb_cents"]].values.tolist() == [
        [_cents(bpr[2]), paid_total, plb_total]]
    unbalanced = _cents(bpr[2]) != paid_total - plb_total
    warned = ((result.warnings.code == "balance") & (result.warnings.segment_number == raw_set.first)).any()
    assert warned == unbalanced


def _check_837_set(result, raw_set: _RawSet) -> None:
    clm = [s for s in raw_set.segments if s[0] == "CLM"]
    claims = result.tables["claims"]
    mine = claims[_set_of(claims.source, raw_set)]
    assert len(mine) == len(clm)
    assert mine.total_charge_cents.sum() == sum(_cents(s[2]) for s in clm)


@needs_external
def test_corpus_quirks_are_reported_not_fatal():
    def warnings_of(relative: str) -> pd.DataFrame:
        return read_x12(EXTERNAL / relative).warnings

    cob = warnings_of("linuxforhealth-x12/835_005010X221A1/cob-contractural-adjustment.835")
    assert set(cob.code) == {"date_fallback", "separator"}  # BPR16 missing; SVC*HC>55669 under ISA16 ':'
    assert "BPR16" in cob.message.iloc[0] and "2005-03-18" in cob.message.iloc[0]
    managed = warnings_of("linuxforhealth-x12/835_005010X221A1/managed-care.835")
    assert managed.found.tolist() == ["20002316"]
    nevada = warnings_of("edi-835-parser-affect/test_edi_835_files/nevada_medicaid.txt")
    assert nevada.code.tolist() == ["control_number"] and "IEA02" in nevada.message.iloc[0]
    prose = warnings_of("stupidedi/835/X221/case_2.edi")
    assert set(prose.code) == {"encoding", "envelope"}
    chs = read_x12(EXTERNAL / "edi-835-parser-chs/test_edi_835_files/test.835")
    assert chs.tables["remittances"].payer_id.tolist() == ["1999999999"]  # no N104, no REF*2U: TRN03
    rented = read_x12(EXTERNAL / "linuxforhealth-x12/837_005010X222A2/demo.example11.837")
    assert _rows(rented.tables["claim_lines"], ["procedure_code", "modifiers"]) == [["E0570", "RR"], ["A7003", "NU"]]
    assert set(rented.warnings.code) == {"separator"}  # SV101 HC>E0570>RR under ISA16 ':'
    oop_837i = read_x12(EXTERNAL / "oopfactory-x12/837i/5010/Spec_3.1.2_TwoClaimsForTheSameProvider.txt")
    assert set(oop_837i.tables["claims"].claim_type) == {"institutional"}
    assert (oop_837i.warnings.code == "version").sum() == 2  # GS08 says X222 (professional)


# --------------------------------------------------------------------------------------------- fixtures: 835
def _sha12(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    return [[None if pd.isna(v) else v for v in row] for row in frame[columns].astype(object).values.tolist()]


def test_835_paid_and_denied_claims_every_row():
    path = FIXTURES / "era_paid_and_denied.835"
    result = read_x12(path)
    prefix = f"{_sha12(path)}:000000101:0001:"
    t = result.tables
    assert result.warnings.empty and result.rejections.empty
    assert _rows(t["remittances"], schema.TABLES["remittances"].names) == [
        [prefix + "10", "PCN-100", "PAYERCLM1", "1", 20000, 11250, 3000, "ACME01", pd.Timestamp("2024-02-16"),
         "EFT0001", "era_paid_and_denied.835#10"],
        [prefix + "20", "PCN-101", "PAYERCLM2", "1", 8000, 0, 0, "ACME01", pd.Timestamp("2024-02-16"),
         "EFT0001", "era_paid_and_denied.835#20"],
    ]
    assert _rows(t["remit_lines"], schema.TABLES["remit_lines"].names) == [
        [prefix + "10", 1, "99214", "25", 20000, 11250, 14250, 1.0, pd.Timestamp("2024-02-01")],
        [prefix + "20", 1, "36415", "", 8000, 0, None, 1.0, pd.Timestamp("2024-02-02")],
    ]
    assert _rows(t["adjustments"], schema.TABLES["adjustments"].names) == [
        [prefix + "10", 1, "CO", "45", 5750, None],
        [prefix + "10", 1, "PR", "2", 3000, None],
        [prefix + "20", 1, "CO", "16", 8000, None],
    ]
    assert _rows(t["payments"], ["payment_id", "trace_number", "payer_id", "payer_name", "payee_id",
                                 "handling_code", "payment_cents", "payment_method", "paid_on", "production_date",
                                 "claims", "claim_paid_cents", "plb_cents"]) == [
        [prefix + "3", "EFT0001", "ACME01", "ACME HEALTH PLAN", "1234567893", "I", 11250, "ACH",
         pd.Timestamp("2024-02-16"), pd.Timestamp("2024-02-15"), 2, 11250, 0]]
    assert _rows(t["remittance_details"], ["remit_id", "claim_filing_indicator", "facility_code", "frequency_code",
                                           "statement_from", "statement_to"]) == [
        [prefix + "10", "12", "11", "1", pd.Timestamp("2024-02-01"), pd.Timestamp("2024-02-01")],
        [prefix + "20", "12", "11", "1", None, None]]
    assert _rows(t["remit_line_details"], ["procedure_qualifier", "line_control_number"]) == [
        ["HC", "LINE-1"], ["HC", None]]
    assert _rows(t["remarks"], ["remit_id", "line_number", "element", "qualifier", "remark_code"]) == [
        [prefix + "20", 1, "LQ02", "HE", "M51"]]
    assert result.stats["paid_cents"] == 11250 and result.stats["remittances"] == 2


def test_835_reversal_correction_triplets_and_plb():
    path = FIXTURES / "era_reversal_plb.835"
    result = read_x12(path)
    t, prefix = result.tables, f"{_sha12(path)}:000000202:0002:"
    assert result.warnings.empty and result.rejections.empty
    assert _rows(t["remittances"], ["claim_id", "status_code", "billed_cents", "paid_cents",
                                    "patient_responsibility_cents", "payer_id", "payer_claim_id"]) == [
        ["PCN-200", "22", -15000, -10000, -2000, "ACME02", "PAYERCLM9"],  # reversal: negative, as sent
        ["PCN-200", "1", 15000, 9000, 2000, "ACME02", "PAYERCLM9"],
    ]
    assert _rows(t["remit_lines"], ["line_number", "billed_cents", "paid_cents", "units"]) == [
        [1, -15000, -10000, -1.0], [1, 15000, 9000, 1.0]]
    assert _rows(t["adjustments"], ["remit_id", "group_code", "reason_code", "amount_cents", "quantity"]) == [
        [prefix + "10", "CO", "45", -2500, None],
        [prefix + "10", "CO", "253", -500, None],
        [prefix + "10", "PR", "2", -2000, None],
        [prefix + "15", "CO", "45", 2500, 1.0],
        [prefix + "15", "CO", "253", 500, None],
        [prefix + "15", "CO", "59", 1000, None],
        [prefix + "15", "PR", "2", 2000, None],
    ]
    assert _rows(t["plb"], ["payment_id", "payer_id", "provider_id", "fiscal_period_date", "reason_code",
                            "reference_id", "amount_cents", "source"]) == [
        [prefix + "3", "ACME02", "1234567893", pd.Timestamp("2024-12-31"), "L6", "INT01", -500,
         "era_reversal_plb.835#22"],
        [prefix + "3", "ACME02", "1234567893", pd.Timestamp("2024-12-31"), "FB", "BAL01", -6000,
         "era_reversal_plb.835#22"],
    ]
    payment = t["payments"].iloc[0]
    assert (payment.payment_cents, payment.claim_paid_cents, payment.plb_cents) == (5500, -1000, -6500)
    assert payment.payer_id == "ACME02"  # N1*PR has no N104: REF*2U
    assert _rows(t["remarks"], ["remit_id", "line_number", "element", "remark_code"]) == [
        [prefix + "15", None, "MOA03", "MA01"], [prefix + "15", None, "MOA04", "N381"],
        [prefix + "15", 1, "LQ02", "N130"]]


def test_output_frames_are_canonical():
    result = read_x12([FIXTURES / name for name in ("era_paid_and_denied.835", "era_reversal_plb.835",
                                                    "claims_professional.837", "claims_institutional.837")])
    assert set(result.tables) == set(OUTPUT_TABLES)
    extended = {**schema.TABLES, **EXTRA_TABLES}
    for name, frame in {**result.tables, "ingest_warnings": result.warnings,
                        "rejections": result.rejections}.items():
        assert list(frame.columns) == extended[name].names, name
        original = schema.TABLES
        try:
            schema.TABLES = extended  # what the store sees once the lead registers the extra tables
            schema.to_arrow(name, frame)
        finally:
            schema.TABLES = original
    assert result.tables["remittances"].remit_id.is_unique
    assert result.tables["claims"].submission_id.is_unique


def test_several_files_in_one_call():
    paths = [FIXTURES / "era_paid_and_denied.835", FIXTURES / "claims_professional.837"]
    result = read_x12(paths)
    files = result.tables["ingested_files"]
    assert files.file.tolist() == [p.name for p in paths]
    assert files.sha256.tolist() == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert (result.stats["files"], result.stats["remittances"], result.stats["claims"]) == (2, 2, 2)
    assert (result.stats["paid_cents"], result.stats["charge_cents"]) == (11250, 29500)


def test_row_ids_are_deterministic():
    first = read_x12(FIXTURES / "era_paid_and_denied.835").tables["remittances"].remit_id.tolist()
    again = read_x12(FIXTURES / "era_paid_and_denied.835").tables["remittances"].remit_id.tolist()
    assert first == again


# --------------------------------------------------------------------------------------------- fixtures: 837
def test_837_professional_two_claims_with_modifiers():
    path = FIXTURES / "claims_professional.837"
    result = read_x12(path)
    t, prefix = result.tables, f"{_sha12(path)}:000000301:0301:"
    assert result.warnings.empty and result.rejections.empty
    claims = t["claims"]
    assert _rows(claims, ["claim_id", "submission_id", "frequency_code", "claim_type", "submitted_on",
                          "service_from", "service_to", "payer_id", "billing_npi", "rendering_npi",
                          "place_of_service", "total_charge_cents", "payer_claim_ref", "source"]) == [
        ["PCN-100", prefix + "18", "1", "professional", pd.Timestamp("2024-02-05"), pd.Timestamp("2024-02-01"),
         pd.Timestamp("2024-02-01"), "ACME01", "1234567893", "1987654321", "11", 20000, None,
         "claims_professional.837#18"],
        ["PCN-101", prefix + "37", "7", "professional", pd.Timestamp("2024-02-05"), pd.Timestamp("2024-02-02"),
         pd.Timestamp("2024-02-03"), "ACME01", "1234567893", "1555555555", "11", 9500, "PAYERCLM2",
         "claims_professional.837#37"],
    ]
    assert claims.diagnosis_codes.tolist() == [["E119", "I10"], ["J069"]]
    # subscriber's member ID with the patient's own birth date (a dependent under HL 23)
    assert claims.patient_key.tolist() == [patient_key(DEFAULT_PATIENT_SALT, "MEMBER123", "19800115"),
                                           patient_key(DEFAULT_PATIENT_SALT, "MEMBER456", "20100620")]
    assert all(re.fullmatch(r"P[0-9a-f]{16}", k) for k in claims.patient_key)
    assert _rows(t["claim_lines"], schema.TABLES["claim_lines"].names) == [
        [prefix + "18", 1, "99214", "25", 1.0, 15000, pd.Timestamp("2024-02-01")],
        [prefix + "18", 2, "36415", "", 1.0, 5000, pd.Timestamp("2024-02-01")],
        [prefix + "37", 1, "99213", "59:RT", 2.0, 9500, pd.Timestamp("2024-02-02")],
    ]
    assert _rows(t["claim_line_details"], ["line_number", "rendering_npi", "line_control_number"]) == [
        [1, None, "LINE-1"], [2, None, None], [1, "1555555555", None]]


def test_patient_key_depends_on_the_salt_and_hides_the_member_id():
    one = read_x12(FIXTURES / "claims_professional.837", patient_salt="practice-secret").tables["claims"]
    two = read_x12(FIXTURES / "claims_professional.837").tables["claims"]
    assert (one.patient_key != two.patient_key).all()
    assert not one.patient_key.str.contains("MEMBER|DOE|1980").any()


def test_837_institutional():
    result = read_x12(FIXTURES / "claims_institutional.837")
    claim = result.tables["claims"].iloc[0]
    assert result.warnings.empty and result.rejections.empty
    assert (claim.claim_type, claim.place_of_service, claim.payer_id, claim.total_charge_cents) == (
        "institutional", "13", "00435", 125000)
    # DTP*434 statement period 2024-03-01..03 spans the line dates
    assert (claim.service_from, claim.service_to) == (pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-03"))
    assert claim.diagnosis_codes == ["N179", "E871", "I129"]
    assert _rows(result.tables["claim_lines"], ["line_number", "procedure_code", "charge_cents", "service_date"]) == [
        [1, "80053", 25000, pd.Timestamp("2024-03-01")], [2, "", 100000, pd.Timestamp("2024-03-01")]]
    assert result.tables["claim_line_details"].revenue_code.tolist() == ["0300", "0450"]


# --------------------------------------------------------------------------------------------- bad inputs
_ISA = "ISA*00*          *00*          *ZZ*ACMEHEALTH     *ZZ*FAMPRACTICE    *240215*1200*^*00501*000000101*0*P*:~"


def _template(name: str = "era_paid_and_denied.835") -> str:
    """The ST..SE set of a fixture, ST02 replaced by {control}."""
    text = (FIXTURES / name).read_text()
    body = text[text.index("ST*"): text.index("GE*")]
    return re.sub(r"(ST\*8\d\d\*)\d+", r"\g<1>{control}", re.sub(r"(SE\*\d+\*)\d+", r"\g<1>{control}", body))


def _interchange(*sets: str, gs08: str = "005010X221A1", gs01: str = "HP") -> bytes:
    body = "".join(sets)
    count = body.count("ST*")
    return (f"{_ISA}\nGS*{gs01}*ACMEHEALTH*FAMPRACTICE*20240215*1200*101*X*{gs08}~\n{body}GE*{count}*101~\n"
            "IEA*1*000000101~\n").encode()


def _three_sets(bad: str, name: str = "era_paid_and_denied.835") -> bytes:
    """A good set 0001, the ``bad`` set 0002 and a good set 0003."""
    template = _template(name)
    return _interchange(template.format(control="0001"), bad, template.format(control="0003"))


def _bad_set(old: str, new: str) -> str:
    template = _template()
    assert old in template
    return template.replace(old, new).format(control="0002")


def _segment_number(data: bytes, prefix: str, occurrence: int = 1) -> int:
    """The file segment number of the ``occurrence``-th segment starting with ``prefix``."""
    segments = [s.strip() for s in data.decode().split("~") if s.strip()]
    hits = [i + 1 for i, s in enumerate(segments) if s.startswith(prefix)]
    return hits[occurrence - 1]


def _assert_only_0002_rejected(result, code: str, segment: int, words: str) -> None:
    rejections = result.rejections
    assert rejections[["st_control_number", "code"]].values.tolist() == [["0002", code]], rejections.message
    message = rejections.message.iloc[0]
    assert message.startswith(f"bad.835, segment {segment} ") and words in message, message
    assert "transaction set 0002" in message
    sources = result.tables["remittances"].source.str.rsplit("#", n=1).str[1].astype(int)
    assert len(sources) == 4  # two claims of 0001 and two of 0003 loaded; none of 0002
    assert result.tables["payments"].payment_cents.tolist() == [11250, 11250]


@pytest.mark.parametrize("old,new,code,prefix,occurrence,words", [
    ("CLP*PCN-100*1*200.00*112.50*", "CLP*PCN-100*1*200.00*11X.50*", "not_a_number", "CLP*PCN-100", 2,
     "CLP04 claim payment amount '11X.50' is not a number"),
    ("CLP*PCN-100*1*200.00*112.50*", "CLP*PCN-100*1*200.00*112.505*", "not_a_number", "CLP*PCN-100", 2,
     "is not a whole number of cents"),
    ("CLP*PCN-100*1*", "CLP*PCN-100*99*", "unknown_code", "CLP*PCN-100", 2, "CLP02 claim status code '99'"),
    ("CLP*PCN-101*1*80.00*0**", "CLP*PCN-101*1*80.00***", "missing_element", "CLP*PCN-101", 2,
     "CLP04 claim payment amount is missing"),
    ("CAS*PR*2*30.00~", "CAS*PR*2*thirty~", "not_a_number", "CAS*PR", 2, "CAS adjustment amount 'thirty'"),
    ("DTM*405*20240215~\n", "", "invalid_date", "BPR", 2, "no DTM*405 production date to fall back on"),
], ids=["non-numeric", "fraction-of-cent", "unknown-CLP02", "missing-CLP04", "bad-CAS-amount",
        "date-without-fallback"])
def test_bad_835_set_is_rejected_whole_and_others_load(old, new, code, prefix, occurrence, words):
    bad = _bad_set(old, new)
    if code == "invalid_date":
        bad = bad.replace("*20240216~", "*20241345~")
        bad = re.sub(r"SE\*24\*", "SE*23*", bad)
    data = _three_sets(bad)
    result = parse_x12(data, "bad.835")
    _assert_only_0002_rejected(result, code, _segment_number(data, prefix, occurrence), words)


def test_truncated_set_is_rejected_and_the_next_set_loads():
    bad = _template().format(control="0002")
    bad = bad[: bad.index("SE*")]  # no SE: the next ST starts inside the set
    data = _three_sets(bad)
    result = parse_x12(data, "bad.835")
    st = _segment_number(data, "ST*835*0002")
    rejection = result.rejections.iloc[0]
    assert (rejection.code, rejection.first_segment, rejection.last_segment, rejection.claims) == (
        "truncated", st, st + 22, 2)
    assert f"segment {st + 23} is ST; expected SE first" in rejection.message
    assert len(result.tables["remittances"]) == 4


def test_file_ending_inside_a_set():
    data = _interchange(_template().format(control="0001")) + _template().format(control="0002")[:200].encode()
    result = parse_x12(data, "cut.835")
    assert result.rejections.code.tolist() == ["truncated"]
    assert "the file ends after segment" in result.rejections.message.iloc[0]
    assert len(result.tables["remittances"]) == 2


def test_date_fallback_to_production_date_is_a_warning():
    data = _three_sets(_bad_set("*20240216~", "*20241345~"))
    result = parse_x12(data, "bad.835")
    assert result.rejections.empty
    warning = result.warnings.iloc[0]
    assert (warning.code, warning.segment_number, warning.found) == (
        "date_fallback", _segment_number(data, "BPR", 2), "20241345")
    assert "used the DTM*405 production date 2024-02-15" in warning.message
    assert sorted(result.tables["payments"].paid_on.dt.strftime("%Y-%m-%d")) == [
        "2024-02-15", "2024-02-16", "2024-02-16"]


def test_control_count_and_number_mismatches_are_warnings():
    data = _three_sets(_bad_set("SE*24*", "SE*99*"))
    data = data.replace(b"GE*3*101~", b"GE*2*102~").replace(b"IEA*1*000000101~", b"IEA*2*000000999~")
    result = parse_x12(data, "counts.835")
    assert result.rejections.empty and len(result.tables["remittances"]) == 6
    found = result.warnings[["code", "segment_id", "found", "expected"]].values.tolist()
    assert found == [["control_count", "SE", "99", "24"], ["control_count", "GE", "2", "3"],
                     ["control_number", "GE", "102", "101"], ["control_count", "IEA", "2", "1"],
                     ["control_number", "IEA", "000000999", "000000101"]]
    assert all(re.match(r"counts\.835, segment \d+ \(", m) for m in result.warnings.message)


def test_missing_iea_after_complete_set_is_a_warning():
    data = _interchange(_template().format(control="0001")).replace(b"IEA*1*000000101~\n", b"")
    result = parse_x12(data, "noiea.835")
    assert result.rejections.empty and len(result.tables["remittances"]) == 2
    assert result.warnings.code.tolist() == ["envelope"] and "no IEA trailer" in result.warnings.message.iloc[0]


def test_balancing_failures_are_warnings_and_amounts_stand():
    data = _three_sets(_bad_set("SVC*HC:99214:25*200.00*112.50**1~", "SVC*HC:99214:25*200.00*110.50**1~"))
    result = parse_x12(data, "unbalanced.835")
    assert result.rejections.empty
    svc = _segment_number(data, "SVC*HC:99214", 2)
    rows = result.warnings[["code", "segment_number", "found", "expected"]].values.tolist()
    assert rows == [["balance", svc, "110.50", "112.50"]]
    assert "SVC02 200.00 - line adjustments 87.50 = 112.50, but SVC03 paid is 110.50" in result.warnings.message[0]
    # claim and payment level: CLP04 changed too
    data = _three_sets(_bad_set("CLP*PCN-100*1*200.00*112.50*", "CLP*PCN-100*1*200.00*100.00*"))
    result = parse_x12(data, "unbalanced.835")
    assert result.warnings[["code", "segment_id", "found", "expected"]].values.tolist() == [
        ["balance", "ST", "112.50", "100.00"], ["balance", "CLP", "100.00", "112.50"]]
    assert result.tables["remittances"].paid_cents.tolist() == [11250, 0, 10000, 0, 11250, 0]


def test_stray_component_separator_is_read_with_a_warning():
    data = _three_sets(_bad_set("SVC*HC:36415*", "SVC*HC>36415*"))
    result = parse_x12(data, "gt.835")
    assert result.warnings[["code", "found"]].values.tolist() == [["separator", "HC>36415"]]
    assert result.tables["remit_lines"].procedure_code.tolist() == ["99214", "36415"] * 3


def test_segments_outside_a_set_are_reported_once_per_run():
    data = _interchange(_template().format(control="0001") + "REF*EV*STRAY~\nREF*EV*STRAY2~\n",
                        _template().format(control="0002"))
    result = parse_x12(data, "stray.835")
    assert result.rejections.empty and len(result.tables["remittances"]) == 4
    stray = _segment_number(data, "REF*EV*STRAY")
    assert result.warnings[["code", "segment_number"]].values.tolist() == [["envelope", stray]]
    assert f"segments {stray}-{stray + 1} sit outside any ST..SE" in result.warnings.message.iloc[0]


def test_unsupported_transaction_type_is_skipped_with_a_warning():
    data = _interchange(_template().format(control="0001"),
                        "ST*999*0002~\nAK1*HC*17~\nAK9*A*1*1*1~\nSE*4*0002~\n")
    result = parse_x12(data, "mixed.835")
    assert result.warnings.code.tolist() == ["unsupported"] and len(result.tables["remittances"]) == 2


def test_not_an_x12_file_is_rejected_as_a_file():
    result = parse_x12(b"claim_id,amount\n1,2\n", "notes.csv")
    assert _rows(result.rejections, ["st_control_number", "code"]) == [[None, "not_x12"]]
    assert result.rejections.message.iloc[0].startswith("notes.csv: no ISA, GS or ST segment found")


def test_bad_837_set_is_rejected_whole_and_others_load():
    template = _template("claims_professional.837")
    bad = template.replace("CLM*PCN-101*95.00*", "CLM*PCN-101*9S.00*").format(control="0002")
    data = _interchange(template.format(control="0001"), bad, template.format(control="0003"), gs01="HC",
                        gs08="005010X222A1")
    result = parse_x12(data, "bad.837")
    clm = _segment_number(data, "CLM*PCN-101", 2)
    assert result.rejections[["st_control_number", "code", "claims"]].values.tolist() == [["0002", "not_a_number", 2]]
    assert result.rejections.message.iloc[0].startswith(f"bad.837, segment {clm} (CLM, claim PCN-101): CLM02")
    assert len(result.tables["claims"]) == 4 and len(result.tables["claim_lines"]) == 6


@pytest.mark.parametrize("old,new,code,words", [
    ("CLM*PCN-100*200.00*", "CLM**200.00*", "missing_element", "CLM01 patient control number is missing"),
    ("SV1*HC:36415*50.00*UN*1*", "SV1*HC:36415*50.00*UN*one*", "not_a_number", "SV104 service unit count 'one'"),
    ("SV1*HC:36415*", "SV1*HC*", "missing_element", "SV101 'HC' has no procedure code"),
    ("DTP*472*D8*20240201~\nREF*6R*LINE-1~\nLX*2~\nSV1*HC:36415*50.00*UN*1***1~\nDTP*472*D8*20240201~",
     "REF*6R*LINE-1~\nLX*2~\nSV1*HC:36415*50.00*UN*1***1~\nDTP*472*D8*20241399~", "invalid_date",
     "no service date"),
], ids=["missing-CLM01", "bad-units", "no-procedure-code", "no-valid-service-date"])
def test_bad_837_claims(old, new, code, words):
    template = _template("claims_professional.837")
    assert old in template
    data = _interchange(template.replace(old, new).format(control="0002"), template.format(control="0003"),
                        gs01="HC", gs08="005010X222A1")
    result = parse_x12(data, "bad.837")
    assert result.rejections[["st_control_number", "code"]].values.tolist() == [["0002", code]]
    message = result.rejections.message.iloc[0]
    assert words in message and re.search(r"bad\.837, segment \d+", message)
    assert result.tables["claims"].claim_id.tolist() == ["PCN-100", "PCN-101"]


def test_institutional_claim_labelled_professional_is_read_as_institutional():
    text = (FIXTURES / "claims_institutional.837").read_text().replace("005010X223A2", "005010X222A1")
    result = parse_x12(text.encode(), "label.837")
    assert result.tables["claims"].claim_type.tolist() == ["institutional"]
    assert result.warnings.code.tolist() == ["version", "version"]  # ST03 and GS08 both say X222
    assert "read as institutional" in result.warnings.message.iloc[0]


# --------------------------------------------------------------------------------------------- layouts
def _values(result) -> dict[str, list]:
    """The file's money and codes, independent of row IDs and segment numbers."""
    t = result.tables
    return {
        "remittances": _rows(t["remittances"], ["claim_id", "status_code", "billed_cents", "paid_cents",
                                                "patient_responsibility_cents", "payer_id", "paid_on"]),
        "lines": _rows(t["remit_lines"], ["line_number", "procedure_code", "modifiers", "billed_cents",
                                          "paid_cents", "allowed_cents", "service_date"]),
        "adjustments": _rows(t["adjustments"], ["line_number", "group_code", "reason_code", "amount_cents"]),
    }


_PAID = (FIXTURES / "era_paid_and_denied.835").read_text()


def _with_separators(text: str, element: str, component: str, segment: str, repetition: str = "^") -> str:
    text = text.replace("*", "\x01").replace(":", "\x02").replace("~\n", "\x03")
    isa_end = text.index("\x03")
    isa = text[:isa_end].replace("\x01^\x0100501", f"\x01{repetition}\x0100501")
    text = isa + text[isa_end:]
    return text.replace("\x01", element).replace("\x02", component).replace("\x03", segment)


@pytest.mark.parametrize("layout,data,warning_codes", [
    ("one line", _PAID.replace("~\n", "~").encode(), []),
    ("CRLF", _PAID.replace("\n", "\r\n").encode(), []),
    ("newline terminators", _PAID.replace("~\n", "\n").encode(), []),
    ("indented with blank lines", "\n".join("   " + ln + "\n" for ln in _PAID.splitlines()).encode(), []),
    ("pipe, bang and CRLF", _with_separators(_PAID, "|", "!", "\r\n", "^").encode(), []),
    ("UTF-8 BOM", codecs.BOM_UTF8 + _PAID.encode(), ["encoding"]),
    ("UTF-16 with BOM", _PAID.encode("utf-16"), ["encoding"]),
    ("UTF-16 without BOM", _PAID.encode("utf-16-le"), ["encoding"]),
    ("prose in Windows-1252 before ISA", "Scenario 1 \u2013 the provider\u2019s ERA\r\n\r\n".encode("cp1252")
     + _PAID.encode(), ["encoding", "envelope"]),
    ("starts at ST", _PAID[_PAID.index("ST*"): _PAID.index("GE*")].encode(), ["envelope", "version"]),
    ("starts at GS", _PAID[_PAID.index("GS*"):].encode(), ["envelope"]),
    ("ISA not fixed width", _PAID.replace("*          *", "* *").replace("ACMEHEALTH     ", "ACMEHEALTH")
     .encode(), []),
])
def test_layouts_read_to_the_same_values(layout, data, warning_codes):
    reference = _values(read_x12(FIXTURES / "era_paid_and_denied.835"))
    result = parse_x12(data, "layout.835")
    assert result.rejections.empty, result.rejections.message.tolist()
    assert _values(result) == reference
    assert sorted(set(result.warnings.code)) == warning_codes


def test_repetition_separator_equal_to_component_separator():
    data = _with_separators(_PAID, "*", "^", "~\n", "^").encode()
    result = parse_x12(data, "caret.835")
    assert _values(result) == _values(read_x12(FIXTURES / "era_paid_and_denied.835"))
    assert result.warnings[["code", "segment_number"]].values.tolist() == [["separator", 1]]
    assert "ISA11 repetition separator '^' equals another separator" in result.warnings.message.iloc[0]


def test_interchanges_with_different_separators_in_one_file():
    second = _with_separators((FIXTURES / "era_reversal_plb.835").read_text(), "|", "!", "\n")
    data = _PAID.encode() + second.encode()
    result = parse_x12(data, "two.835")
    assert result.rejections.empty and result.warnings.empty
    assert result.tables["remittances"].claim_id.tolist() == ["PCN-100", "PCN-101", "PCN-200", "PCN-200"]
    assert result.tables["plb"].amount_cents.tolist() == [-500, -6000]
    assert result.tables["remittances"].source.tolist()[2] == "two.835#38"  # numbering runs on across both


def test_4010_reversal_group_cr_is_accepted():
    text = _PAID.replace("005010X221A1", "004010X091A1").replace("CAS*PR*2*30.00", "CAS*CR*2*30.00")
    result = parse_x12(text.encode(), "old.835")
    assert result.warnings.empty and "CR" in set(result.tables["adjustments"].group_code)
    result = parse_x12(text.replace("004010X091A1", "005010X221A1").encode(), "new.835")
    assert result.warnings.code.tolist() == ["unknown_code"] and "withdrawn in 005010" in result.warnings.message[0]


# --------------------------------------------------------------------------------------------- policy
def test_messages_never_name_patients():
    private = re.compile(r"DOE|JANE|RICHARD|RILEY|MEMBER\d+|MBI12345|19800115|19700301|20100620|19450704")
    texts = []
    for name in ("era_paid_and_denied.835", "era_reversal_plb.835", "claims_professional.837",
                 "claims_institutional.837"):
        text = (FIXTURES / name).read_text()
        broken = text.replace("*20240216~", "*2024021~").replace("*200.00*", "*2OO.00*").replace("SE*", "SE*9")
        broken = broken.replace("NM1*85*2*FAMILY PRACTICE*****XX*1234567893", "NM1*85*2*FAMILY PRACTICE")
        broken = broken.replace("NM1*IL*1*DOE*JANE****MI*MEMBER123", "NM1*IL*1*DOE*JANE")
        for data in (text, broken):
            result = parse_x12(data.encode(), name)
            texts += result.warnings.message.tolist() + result.rejections.message.tolist()
            texts += [str(v) for v in result.warnings[["found", "expected"]].values.ravel()]
    assert texts and not [t for t in texts if private.search(t)]


def test_batches_and_threads_do_not_change_the_result(monkeypatch):
    template = _template()
    sets = [template.format(control=f"{i:04d}") for i in range(1, 41)]
    sets[17] = sets[17].replace("*112.50*30.00*", "*1l2.50*30.00*")  # one bad set in the middle
    data = _interchange(*sets)
    whole = parse_x12(data, "many.835")
    monkeypatch.setattr(era835, "_BATCH_BYTES", 2000)
    for workers in ("1", "2"):
        monkeypatch.setenv("RCMKIT_WORKERS", workers)
        batched = parse_x12(data, "many.835")
        for name in OUTPUT_TABLES:
            pd.testing.assert_frame_equal(batched.tables[name], whole.tables[name])
        pd.testing.assert_frame_equal(batched.warnings, whole.warnings)
        pd.testing.assert_frame_equal(batched.rejections, whole.rejections)
    assert whole.rejections.st_control_number.tolist() == ["0018"] and len(whole.tables["remittances"]) == 78


# --------------------------------------------------------------------------------------------- validation
def test_validate_reports_pyx12_errors_as_rows():
    report = validate_x12(FIXTURES / "era_paid_and_denied.835")
    assert report.valid is False and report.failure is None
    assert set(report.errors.columns) >= {"segment_id", "segment_number", "element", "code", "message"}
    per = report.errors[report.errors.segment_id == "PER"]
    assert "Payer Technical Contact Information" in per.message.iloc[0]  # PER is mandatory in loop 1000A
    assert report.summary().startswith("era_paid_and_denied.835: ")


def test_validate_turns_pyx12_crashes_into_validator_failures(tmp_path):
    unknown_version = tmp_path / "old.835"
    unknown_version.write_text(_PAID.replace("005010X221A1", "005010X221"))  # pyx12 has no map for it
    report = validate_x12(unknown_version)
    assert report.valid is None and "not a verdict on the file" in report.failure
    bare = tmp_path / "bare.835"
    bare.write_text(_PAID[_PAID.index("ST*"): _PAID.index("GE*")])
    assert "needs an ISA" in validate_x12(bare).failure
    assert validate_x12(FIXTURES / "era_paid_and_denied.835", max_bytes=100).failure.startswith("skipped")


def test_looks_like_x12(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("Example: `ISA*00*...` and ST*835*0001 in prose\n")
    assert looks_like_x12(FIXTURES / "claims_institutional.837") and not looks_like_x12(notes)


def test_amount_rules_are_the_same_in_both_readers():
    samples = ["1922.86", ".28", "-9", "+5", "5.", "12.340", "12.345", "1e3", " 5", "", "-", "1.2.3", "9" * 14]
    columnar, invalid = fields.cents_column(pa.array(samples, pa.large_string()))
    scalar = [fields.parse_cents(s) for s in samples]
    assert [None if bad else int(c) for c, bad in zip(columnar, invalid, strict=True)] == scalar
    assert scalar[:6] == [192286, 28, -900, 500, 500, 1234] and scalar[6:] == [None] * 7
