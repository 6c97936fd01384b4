"""rcmkit.ingest.x12.write: the demo practice written as real 837P/835 files and a PM export, read back by ingest.

One small demo (seed 3, 800 claims) is serialized once per module. The files are checked on their own (X12
envelopes and control counts, 835 balancing, pyx12's TR3 validation, determinism) and through the readers
(:func:`rcmkit.ingest.read_x12`, :func:`rcmkit.ingest.pm.reader.read_pm_export`): every column the files carry
must come back equal to the generator's truth, IDs the readers derive themselves (submission_id, remit_id,
patient_key, source) compared by mapping, and the ledger built from the ingested tables must equal the ledger
built from the truth.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcmkit import demo

from rcmkit.core import schema
from rcmkit.ingest.x12 import write as xw
from rcmkit.ingest import read_x12
from rcmkit.ingest.pm.reader import read_pm_export
from rcmkit.core.ledger import build_ledger

SEED, N_CLAIMS = 3, 800


# ============================================================================================ fixtures
@pytest.fixture(scope="module")
def truth() -> dict[str, pd.DataFrame]:
    return demo.generate(seed=SEED, n_claims=N_CLAIMS)


@pytest.fixture(scope="module")
def roster() -> pd.DataFrame:
    return demo.patients(SEED, n_claims=N_CLAIMS)


@pytest.fixture(scope="module")
def files_837(truth, roster) -> list[tuple[str, str]]:
    return list(xw.write_837p(truth["claims"], truth["claim_lines"], truth["payers"], roster))


@pytest.fixture(scope="module")
def files_835(truth, roster) -> list[tuple[str, str]]:
    return list(xw.write_835(truth["remittances"], truth["remit_lines"], truth["adjustments"], truth["payers"],
                             roster, claims=truth["claims"]))


@pytest.fixture(scope="module")
def inbox(truth, roster, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("data")
    counts = xw.write_demo_files(root, truth, roster, practice="demo")
    return root / "demo" / "inbox", counts


@pytest.fixture(scope="module")
def ingested(inbox):
    folder, _ = inbox
    return read_x12(sorted((folder / "837").glob("*.x12")) + sorted((folder / "835").glob("*.x12")))


@pytest.fixture(scope="module")
def pm(inbox):
    return read_pm_export(inbox[0] / "pm", "generic")


def _insured(truth: dict[str, pd.DataFrame]) -> pd.DataFrame:
    cls = truth["claims"]["payer_id"].map(truth["payers"].set_index("payer_id")["payer_class"])
    return truth["claims"][(cls != "self_pay").to_numpy()].reset_index(drop=True)


# ============================================================================================ X12 helpers
def _segments(text: str) -> list[list[str]]:
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def _cents(text: str) -> int:
    return round(float(text) * 100) if text else 0


def _transaction_sets(text: str) -> list[list[list[str]]]:
    sets, current = [], None
    for seg in _segments(text):
        if seg[0] == "ST":
            current = [seg]
        elif current is not None:
            current.append(seg)
            if seg[0] == "SE":
                sets.append(current)
                current = None
    return sets


def _pyx12_errors(path: Path) -> list[str]:
    """pyx12's verdict on a file: [] when it is valid, else its error messages."""
    import pyx12.params
    import pyx12.x12n_document

    logger = logging.getLogger("pyx12")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        fd_997, fd_json = io.StringIO(), io.StringIO()
        ok = pyx12.x12n_document.x12n_document(param=pyx12.params.params(), src_file=str(path), fd_997=fd_997,
                                                fd_html=None, fd_xmldoc=None, fd_json=fd_json)
    finally:
        logger.setLevel(level)
    if ok:
        return []
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for err in node.get("errors", []) or []:
                found.append(f"{node.get('seg_id') or node.get('name') or ''}: {err.get('err_str')}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(fd_json.getvalue() or "{}"))
    return found or ["pyx12 said the file is not valid (no error detail)"]


# ============================================================================================ formatting
@pytest.mark.parametrize("cents, text", [(0, "0"), (100, "1"), (150, "1.5"), (105, "1.05"), (-30, "-0.3"),
                                         (192286, "1922.86"), (-100, "-1")])
def test_amounts_are_x12_decimals(cents, text):
    assert xw._amount(cents) == text


def test_cas_puts_one_group_per_segment_and_six_reasons_at_most(truth, roster):
    r = truth["remittances"].iloc[[0]]
    lines = truth["remit_lines"][truth["remit_lines"]["remit_id"] == r["remit_id"].iloc[0]].iloc[[0]]
    reasons = [str(k) for k in range(1, 9)]
    adj = pd.DataFrame({"remit_id": r["remit_id"].iloc[0], "line_number": pd.array([1] * 9, dtype="Int32"),
                        "group_code": ["CO"] * 8 + ["PR"], "reason_code": reasons + ["2"],
                        "amount_cents": [1] * 9, "quantity": [np.nan] * 8 + [2.0]})
    lines = lines.assign(billed_cents=lines["paid_cents"] + 9)
    r = r.assign(billed_cents=int(lines["billed_cents"].sum()), paid_cents=int(lines["paid_cents"].sum()))
    (_, text), = xw.write_835(r, lines, adj, truth["payers"], roster, claims=truth["claims"])
    cas = [s for s in _segments(text) if s[0] == "CAS"]
    assert [s[0:2] for s in cas] == [["CAS", "CO"], ["CAS", "CO"], ["CAS", "PR"]]
    assert cas[0][2:] == ["1", "0.01", "", "2", "0.01", "", "3", "0.01", "", "4", "0.01", "", "5", "0.01", "",
                          "6", "0.01"]
    assert cas[1][2:] == ["7", "0.01", "", "8", "0.01"]
    assert cas[2][2:] == ["2", "0.01", "2"]


# ============================================================================================ envelopes
def _check_envelope(name: str, text: str) -> tuple[int, list[int]]:
    """Assert ISA/GS/ST counts and control numbers; return ISA13 and the GS06 numbers."""
    lines = text.split("\n")
    assert len(lines[0]) == 106 and lines[0].startswith("ISA*") and lines[0][-2:] == ":~", name
    segs = _segments(text)
    isa, iea = segs[0], segs[-1]
    assert isa[11] == "^" and isa[12] == "00501" and isa[16] == ":"
    assert iea[0] == "IEA" and iea[2] == isa[13]
    groups, gs, sets_in_group, st_at, group_numbers = 0, None, 0, None, []
    for i, seg in enumerate(segs[1:-1], start=1):
        if seg[0] == "GS":
            gs, sets_in_group, groups = seg, 0, groups + 1
            group_numbers.append(int(seg[6]))
        elif seg[0] == "ST":
            st_at, sets_in_group = i, sets_in_group + 1
        elif seg[0] == "SE":
            assert int(seg[1]) == i - st_at + 1, f"{name}: SE01 {seg[1]} for set {seg[2]}"
            assert seg[2] == segs[st_at][2]
            st_at = None
        elif seg[0] == "GE":
            assert int(seg[1]) == sets_in_group and seg[2] == gs[6], name
        else:
            assert st_at is not None, f"{name}: {seg[0]} outside ST..SE"
    assert int(iea[1]) == groups
    return int(isa[13]), group_numbers


def test_837_envelopes(files_837, truth):
    controls = [_check_envelope(name, text)[0] for name, text in files_837]
    assert controls == list(range(1, len(files_837) + 1))
    names = [name for name, _ in files_837]
    assert names == sorted(names) and len(set(names)) == len(names)
    insured = _insured(truth)
    assert sorted(names) == sorted({f"837P_{d:%Y%m%d}.x12" for d in insured["submitted_on"]})
    assert sum(text.count("\nCLM*") for _, text in files_837) == len(insured)
    for name, text in files_837:
        for ts in _transaction_sets(text):
            bht = ts[1]
            assert bht[0] == "BHT" and bht[4] == name[5:13] and bht[5] == "1200"


def test_835_envelopes(files_835, truth):
    controls, groups = zip(*(_check_envelope(name, text) for name, text in files_835))
    assert list(controls) == list(range(1, len(files_835) + 1))
    all_groups = [g for gs in groups for g in gs]
    assert all_groups == list(range(1, len(all_groups) + 1))
    payments = truth["remittances"].groupby(["payer_id", "paid_on", "trace_number"]).ngroups
    assert sum(text.count("\nST*835*") for _, text in files_835) == payments
    assert sum(text.count("\nCLP*") for _, text in files_835) == len(truth["remittances"])


# ============================================================================================ 835 balancing
def test_835_balances_in_the_files(files_835):
    checked = {"sets": 0, "claims": 0, "lines": 0}
    for name, text in files_835:
        for ts in _transaction_sets(text):
            bpr = ts[1]
            assert bpr[0] == "BPR" and _cents(bpr[2]) >= 0
            assert (bpr[1], bpr[4]) == (("I", "CHK") if _cents(bpr[2]) > 0 else ("H", "NON"))
            clp_total = plb_total = 0
            claim = line = None
            claims: list[dict] = []
            for seg in ts:
                if seg[0] == "CLP":
                    claim = {"billed": _cents(seg[3]), "paid": _cents(seg[4]), "cas": 0, "lines": []}
                    claims.append(claim)
                    line = None
                    clp_total += claim["paid"]
                elif seg[0] == "SVC":
                    line = {"billed": _cents(seg[2]), "paid": _cents(seg[3]), "cas": 0}
                    claim["lines"].append(line)
                elif seg[0] == "CAS":
                    amount = sum(_cents(seg[k]) for k in range(3, len(seg), 3))
                    claim["cas"] += amount
                    if line is not None:
                        line["cas"] += amount
                elif seg[0] == "PLB":
                    plb_total += sum(_cents(seg[k]) for k in range(4, len(seg), 2))
            assert _cents(bpr[2]) == clp_total - plb_total, f"{name}: BPR02 {bpr[2]}"
            for c in claims:
                assert c["billed"] - c["cas"] == c["paid"], name
                for ln in c["lines"]:
                    assert ln["billed"] - ln["cas"] == ln["paid"], name
                checked["lines"] += len(c["lines"])
            checked["sets"] += 1
            checked["claims"] += len(claims)
    assert min(checked.values()) > 0


def test_negative_payment_forwards_a_balance_and_recoups_it(truth, roster, tmp_path):
    """A payment date whose claims net below zero: BPR*H 0 with PLB FB negative, then PLB FB positive on the
    payer's next payment; both balance, validate, and ingest reads them without a warning."""
    r = truth["remittances"]
    reversal = r[r["status_code"] == "22"].iloc[0]
    later = r[(r["payer_id"] == reversal["payer_id"]) & (r["paid_on"] > reversal["paid_on"])
              & (r["paid_cents"] > -reversal["paid_cents"])].iloc[0]
    subset = r[r["remit_id"].isin([reversal["remit_id"], later["remit_id"]])]
    written = list(xw.write_835(subset, truth["remit_lines"], truth["adjustments"], truth["payers"], roster,
                                claims=truth["claims"]))
    assert len(written) == 2
    (_, first), (_, second) = written
    owed = -int(reversal["paid_cents"])
    assert "\nBPR*H*0*C*NON*" in first and "\nPLB*" in first
    plb1 = [s for s in _segments(first) if s[0] == "PLB"][0]
    plb2 = [s for s in _segments(second) if s[0] == "PLB"][0]
    assert plb1[3] == f"FB:{reversal['trace_number']}" and _cents(plb1[4]) == -owed
    assert plb2[3] == f"FB:{reversal['trace_number']}" and _cents(plb2[4]) == owed
    bpr2 = [s for s in _segments(second) if s[0] == "BPR"][0]
    assert _cents(bpr2[2]) == int(later["paid_cents"]) - owed
    paths = []
    for name, text in written:
        (tmp_path / name).write_text(text, encoding="ascii")
        paths.append(tmp_path / name)
        assert _pyx12_errors(tmp_path / name) == []
    result = read_x12(paths)
    assert result.warnings.empty and result.rejections.empty
    assert result.tables["plb"]["amount_cents"].tolist() == [-owed, owed]
    assert result.tables["payments"]["payment_cents"].tolist() == [0, int(later["paid_cents"]) - owed]


# ============================================================================================ pyx12
def _pick(files: list[tuple[str, str]], *patterns: str) -> list[tuple[str, str]]:
    """The first file, and the first file in which each regular expression matches."""
    chosen = {files[0][0]: files[0][1]}
    for needle in patterns:
        hit = next(((n, t) for n, t in files if re.search(needle, t)), None)
        assert hit is not None, f"no file holds {needle!r}"
        chosen.setdefault(hit[0], hit[1])
    return list(chosen.items())


@pytest.mark.slow
def test_pyx12_validates_837_files(files_837, tmp_path):
    for name, text in _pick(files_837, r":B:7\*", r":B:8\*", r"\nNM1\*82\*", r"\nSV1\*HC:\d+:25[*:]",
                            r"\nSV1\*HC:[^*]*\*[^*]*\*UN\*[2-9]", r"\nHI\*ABK:\w+\*ABF:\w+\*ABF"):
        path = tmp_path / name
        path.write_text(text, encoding="ascii")
        assert _pyx12_errors(path) == [], name


def _claim_level_cas(text: str) -> bool:
    segs = _segments(text)
    return any(s[0] == "CLP" and segs[i + 1][0] == "CAS" for i, s in enumerate(segs[:-1]))


@pytest.mark.slow
def test_pyx12_validates_835_files(files_835, tmp_path):
    chosen = _pick(files_835, r"\nCLP\*\w+\*22\*",  # a reversal
                   r"\nCLP\*\w+\*4\*",  # a denial of a claim the payer cannot match
                   r"\nBPR\*H\*",  # a notice without payment
                   r"\nCAS\*OA\*18\*",  # a duplicate
                   r"\nSVC\*[^~]*\*\*[2-9]~",  # paid units
                   r"\nAMT\*B6\*-")  # a reversal's negative allowed amount
    chosen.append(next((n, t) for n, t in files_835 if _claim_level_cas(t)))  # a claim-level denial
    for name, text in dict(chosen).items():
        path = tmp_path / name
        path.write_text(text, encoding="ascii")
        assert _pyx12_errors(path) == [], name


# ============================================================================================ determinism
def test_same_tables_same_bytes(truth, roster, files_837, files_835, inbox, tmp_path):
    again_837 = list(xw.write_837p(truth["claims"], truth["claim_lines"], truth["payers"], roster))
    again_835 = list(xw.write_835(truth["remittances"], truth["remit_lines"], truth["adjustments"],
                                  truth["payers"], roster, claims=truth["claims"]))
    assert again_837 == files_837 and again_835 == files_835
    xw.write_demo_files(tmp_path, truth, roster, practice="demo")
    first = json.loads((inbox[0] / ".demo_inbox.json").read_text())
    second = json.loads((tmp_path / "demo" / "inbox" / ".demo_inbox.json").read_text())
    assert first == second


# ============================================================================================ the inbox
def test_write_demo_files_layout_and_counts(inbox, truth):
    folder, counts = inbox
    manifest = json.loads((folder / ".demo_inbox.json").read_text())
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted(list(manifest["files"]) + [".demo_inbox.json"])
    assert {p.split("/")[0] for p in manifest["files"]} == {"837", "835", "pm"}
    assert sorted(p for p in manifest["files"] if p.startswith("pm/")) == \
        ["pm/charges.csv", "pm/fees.csv", "pm/payers.csv", "pm/payments.csv"]
    insured = _insured(truth)
    assert counts["837"]["claims"] == len(insured)
    assert counts["837"]["claims_not_billed_self_pay"] == len(truth["claims"]) - len(insured)
    assert counts["837"]["service_lines"] == truth["claim_lines"]["submission_id"].isin(
        insured["submission_id"]).sum()
    assert counts["835"]["claim_payments"] == len(truth["remittances"])
    assert counts["835"]["service_lines"] == len(truth["remit_lines"])
    assert counts["pm"]["payments"] == len(truth["postings"])
    assert not list(folder.parent.glob(".inbox*"))


@pytest.mark.slow  # writes the demo inbox twice; the fast tier keeps its layout and counts
def test_write_demo_files_replaces_its_own_inbox_only(truth, roster, tmp_path):
    small = demo.generate(seed=SEED, n_claims=60)
    small_roster = demo.patients(SEED, n_claims=60)
    xw.write_demo_files(tmp_path, truth, roster, practice="p")
    stale = tmp_path / "p" / "inbox" / "835" / "835_19990101.x12"
    stale.write_text("old", encoding="ascii")
    counts = xw.write_demo_files(tmp_path, small, small_roster, practice="p")
    assert not stale.exists()
    assert counts["837"]["claims"] < 100
    foreign = tmp_path / "q" / "inbox"
    foreign.mkdir(parents=True)
    (foreign / "mine.835").write_text("keep", encoding="ascii")
    with pytest.raises(FileExistsError):
        xw.write_demo_files(tmp_path, small, small_roster, practice="q")
    assert (foreign / "mine.835").read_text() == "keep"


# ============================================================================================ round trip
def _align(truth: pd.DataFrame, got: pd.DataFrame, keys: list[str], id_column: str) -> dict[str, str]:
    """Map truth IDs to reader IDs by natural keys (ties broken by order of appearance); every row must match."""
    t = truth.assign(_k=truth.groupby(keys, sort=False).cumcount())
    g = got.assign(_k=got.groupby(keys, sort=False).cumcount())
    m = t[keys + ["_k", id_column]].merge(g[keys + ["_k", id_column]], on=keys + ["_k"], how="outer",
                                          suffixes=("_t", "_g"), indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"].head()
    return dict(zip(m[f"{id_column}_t"], m[f"{id_column}_g"]))


def _assert_same(truth: pd.DataFrame, got: pd.DataFrame, sort: list[str]) -> None:
    assert len(truth) == len(got)
    t = truth.sort_values(sort, kind="stable").reset_index(drop=True)
    g = got.sort_values(sort, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(t, g)


@pytest.mark.slow
def test_ingest_reads_the_files_cleanly(ingested, files_837, files_835):
    assert ingested.rejections.empty, ingested.rejections.head().to_string()
    assert ingested.warnings.empty, ingested.warnings.head().to_string()
    assert ingested.stats["files"] == len(files_837) + len(files_835)


@pytest.mark.slow
def test_835_round_trip(ingested, truth):
    got = ingested.tables
    remit = _align(truth["remittances"], got["remittances"],
                   ["trace_number", "claim_id", "status_code", "paid_cents", "billed_cents"], "remit_id")
    _assert_same(truth["remittances"].assign(remit_id=truth["remittances"]["remit_id"].map(remit))
                 .drop(columns="source"), got["remittances"].drop(columns="source"), ["remit_id"])
    _assert_same(truth["remit_lines"].assign(remit_id=truth["remit_lines"]["remit_id"].map(remit)),
                 got["remit_lines"], ["remit_id", "line_number"])
    _assert_same(truth["adjustments"].assign(remit_id=truth["adjustments"]["remit_id"].map(remit)),
                 got["adjustments"], ["remit_id", "line_number", "group_code", "reason_code", "amount_cents"])
    assert got["plb"]["amount_cents"].sum() == 0  # forwarded balances, if any, were all recouped
    details = got["remittance_details"]
    assert set(details["claim_filing_indicator"]) <= set(xw.FILING_INDICATORS_835.values())


@pytest.mark.slow
def test_837_round_trip(ingested, truth):
    got = ingested.tables
    insured = _insured(truth)
    sub = _align(insured, got["claims"], ["claim_id", "submitted_on", "frequency_code"], "submission_id")
    read_key = got["claims"].set_index("submission_id")["patient_key"]
    pairs = pd.DataFrame({"truth": insured["patient_key"],
                          "read": insured["submission_id"].map(sub).map(read_key)}).drop_duplicates()
    assert pairs["truth"].is_unique and pairs["read"].is_unique  # one pseudonym per patient, and back
    patient = dict(zip(pairs["truth"], pairs["read"]))
    _assert_same(insured.assign(submission_id=insured["submission_id"].map(sub),
                                patient_key=insured["patient_key"].map(patient)).drop(columns="source"),
                 got["claims"].drop(columns="source"), ["submission_id"])
    lines = truth["claim_lines"][truth["claim_lines"]["submission_id"].isin(insured["submission_id"])]
    _assert_same(lines.assign(submission_id=lines["submission_id"].map(sub)), got["claim_lines"],
                 ["submission_id", "line_number"])


def test_pm_export_round_trip(pm, truth):
    assert pm.rejections.empty, pm.rejections.head().to_string()
    assert pm.warnings.empty, pm.warnings.head().to_string()
    _assert_same(truth["payers"], pm.tables["payers"], ["payer_id"])
    postings = pm.tables["postings"].drop(columns=["source", "posting_id"])
    assert pm.tables["postings"]["posting_id"].is_unique  # every row keyed, so a re-read adds nothing
    pd.testing.assert_frame_equal(truth["postings"].drop(columns=["source", "posting_id"]).reset_index(drop=True),
                                  postings)
    key = ["payer_id", "procedure_code", "modifiers", "effective_from"]
    pd.testing.assert_frame_equal(truth["contracts"].sort_values(key).reset_index(drop=True),
                                  pm.tables["contracts"].reset_index(drop=True), check_dtype=False)
    # One claim per claim ID; self-pay claims exist only here and come back whole (IDs aside)
    claims = pm.tables["claims"]
    assert sorted(claims["claim_id"]) == sorted(truth["claims"]["claim_id"].unique())
    self_pay = truth["claims"][truth["claims"]["payer_id"] == "SELF"]
    got = claims[claims["claim_id"].isin(self_pay["claim_id"])]
    columns = ["claim_id", "frequency_code", "claim_type", "submitted_on", "service_from", "service_to", "payer_id",
               "billing_npi", "rendering_npi", "place_of_service", "total_charge_cents", "diagnosis_codes"]
    _assert_same(self_pay[columns], got[columns], ["claim_id"])
    lines = truth["claim_lines"][truth["claim_lines"]["submission_id"].isin(self_pay["submission_id"])]
    by_claim = self_pay.set_index("submission_id")["claim_id"]
    _assert_same(lines.assign(submission_id=lines["submission_id"].map(by_claim)),
                 pm.tables["claim_lines"][pm.tables["claim_lines"]["submission_id"].isin(self_pay["claim_id"])],
                 ["submission_id", "line_number"])


def _merged_sources(ingested, pm) -> dict[str, pd.DataFrame]:
    """How the demo's ingest combines the sources: X12 is authoritative for the claims it carries; the PM export
    adds the claims it alone knows (self-pay), the payers and the postings."""
    x12, csv = ingested.tables, pm.tables
    only_pm = ~csv["claims"]["claim_id"].isin(x12["claims"]["claim_id"])
    pm_claims = csv["claims"][only_pm]
    return {
        "payers": csv["payers"],
        "claims": pd.concat([x12["claims"], pm_claims], ignore_index=True),
        "claim_lines": pd.concat([x12["claim_lines"], csv["claim_lines"][
            csv["claim_lines"]["submission_id"].isin(pm_claims["submission_id"])]], ignore_index=True),
        "remittances": x12["remittances"], "remit_lines": x12["remit_lines"], "adjustments": x12["adjustments"],
        "postings": csv["postings"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["keep_in_ar", "at_remit"])
def test_ledger_from_the_files_equals_the_ledger_from_the_truth(ingested, pm, truth, policy):
    merged = _merged_sources(ingested, pm)
    assert len(merged["claims"]) == len(truth["claims"])
    assert len(merged["claim_lines"]) == len(truth["claim_lines"])
    pd.testing.assert_frame_equal(build_ledger(merged, denial_policy=policy),
                                  build_ledger(truth, denial_policy=policy))


@pytest.mark.slow
def test_no_patient_identifier_reaches_a_table(ingested, pm, roster, inbox):
    members = set(roster["member_id"].dropna())
    names = {n.casefold() for n in pd.concat([roster["first_name"], roster["last_name"]])}
    births = set(roster["birth_date"].dt.strftime("%Y%m%d")) | set(roster["birth_date"].dt.strftime("%Y-%m-%d"))
    accounts = set(roster["patient_key"])
    tables = {**{f"x12.{k}": v for k, v in ingested.tables.items()}, **{f"pm.{k}": v for k, v in pm.tables.items()},
              "x12.warnings": ingested.warnings, "pm.warnings": pm.warnings}
    checked = 0
    for name, frame in tables.items():
        for column in frame.columns:
            values = frame[column].dropna()
            if len(values) == 0 or not (pd.api.types.is_string_dtype(values) or values.dtype == object):
                continue
            text = values.map(lambda v: "|".join(map(str, v)) if isinstance(v, (list, np.ndarray)) else str(v))
            flat = set(text)
            assert not flat & members and not flat & accounts, f"{name}.{column}"
            assert not {v.casefold() for v in flat} & names, f"{name}.{column}"
            blob = "\n".join(flat)
            assert not any(m in blob for m in members), f"{name}.{column} holds a member ID"
            assert not any(b in blob for b in births), f"{name}.{column} holds a birth date"
            checked += 1
    assert checked > 20
    # ...while the files themselves carry them, as real ones do
    some = roster.dropna(subset=["member_id"]).iloc[0]
    folder = inbox[0]
    assert any(some["member_id"] in p.read_text() for p in (folder / "837").glob("*.x12"))


# ============================================================================================ errors
def test_refuses_what_it_cannot_write(truth, roster):
    claims = truth["claims"].copy()
    claims.loc[claims.index[0], "claim_id"] = "BAD*ID"
    with pytest.raises(xw.WriteError, match="claim_id"):
        list(xw.write_837p(claims, truth["claim_lines"], truth["payers"], roster))
    with pytest.raises(xw.WriteError, match="patient roster"):
        list(xw.write_837p(truth["claims"], truth["claim_lines"], truth["payers"], roster.iloc[5:]))
    bad = truth["postings"].iloc[:1].assign(kind="patient_responsibility")
    with pytest.raises(xw.WriteError, match="cannot write"):
        xw.write_patient_payments_csv(bad)
    assert list(xw.write_837p(schema.empty("claims"), truth["claim_lines"], truth["payers"], roster)) == []
