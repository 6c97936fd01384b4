"""The claim scrubber (issue #17): code sets, each rule on a good and a bad hand-built claim, duplicates, timely
filing, payer rules as data, what a scrub would have caught among a month's denials, and the CLI."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from rcmkit.cli import main
from rcmkit.core import schema
from rcmkit.ingest.x12.write import write_837p
from rcmkit.scrub import caught_denials, run_rules
from rcmkit.scrub.codesets import IcdRelease, CodeSetError, default_icd, fiscal_year, npi_valid, procedure_format
from rcmkit.scrub.rules import RULES, PayerRuleError, ScrubContext, load_payer_rules

D = pd.Timestamp
NPI_B, NPI_R = "1234567893", "1245319599"  # CMS's published example; a second valid one (checked below)
AS_OF = date(2026, 3, 31)


# ------------------------------------------------------------------------------------------------ code sets
def test_npi_check_digit_is_the_cms_luhn_over_80840():
    assert npi_valid("1234567893")  # CMS "NPI check digit" worked example: 123456789 -> 3
    assert npi_valid(NPI_R)
    assert not npi_valid("1234567890") and not npi_valid("1234567894")
    assert not npi_valid("123456789") and not npi_valid("12345678931") and not npi_valid("12345E7893")
    assert not npi_valid(None) and not npi_valid("")


def test_icd_billability_from_the_packaged_release():
    icd = default_icd()
    assert icd.is_valid("E11") and not icd.is_billable("E11")  # a category header
    assert icd.is_billable("E11.9") and icd.is_billable("E119")
    assert not icd.is_valid("E191") and not icd.is_valid("4019")  # a transposition; an ICD-9 code
    assert not icd.is_valid("A00-A09")  # a block name is not a code
    assert "K219" in icd.transpositions("K129")
    assert icd.billable_under("E11")[0].startswith("E11") and len(icd.billable_under("E11")) == 3
    # the release is visible: FY2026 (the April 1, 2026 update), in force Oct 1, 2025 - Sep 30, 2026
    assert "FY2026" in icd.label and icd.in_force == (date(2025, 10, 1), date(2026, 9, 30))
    assert fiscal_year(date(2025, 10, 1)) == 2026 and fiscal_year(date(2025, 9, 30)) == 2025


def test_an_icd_release_is_replaceable_by_a_cms_order_file(tmp_path):
    order = tmp_path / "icd10cm_order_2027.txt"
    order.write_text("00001 E11     0 Type 2 diabetes mellitus\n"
                     "00002 E119    1 Type 2 diabetes mellitus without complications\n"
                     "00003 Z0000   1 Encntr for general adult medical exam w/o abnormal findings\n")
    icd = IcdRelease.from_order_file(order)
    assert icd.fiscal_year == 2027 and "FY2027" in icd.label
    assert icd.is_billable("E119") and icd.is_valid("E11") and not icd.is_billable("E11") and not icd.is_valid("I10")
    bad = tmp_path / "icd10cm_order_2027_bad.txt"
    bad.write_text("00001 E11     0 ok\nnot an order file line\n")
    with pytest.raises(CodeSetError, match=r"line 2: expected the CMS order file layout"):
        IcdRelease.from_order_file(bad)


@pytest.mark.parametrize("code, ok", [("99213", True), ("0001F", True), ("0075T", True), ("J3420", True),
                                      ("G0444", True), ("9921", False), ("992134", False), ("ABCDE", False),
                                      ("J342", False), ("W1234", False)])
def test_procedure_code_forms(code, ok):
    assert procedure_format(code) is ok


# ------------------------------------------------------------------------------------------------ hand-built batch
def _claim(sub="C1-S1", claim_id="C1", *, dx=("E119", "I10"), payer="BCX", service="2026-03-02",
           submitted="2026-03-04", pos="11", npi=NPI_B, rnpi=NPI_R, freq="1", patient="P1",
           lines=(("99213", "", 1.0, 17_500),)) -> tuple[dict, list[dict]]:
    total = sum(x[3] for x in lines)
    c = {"claim_id": claim_id, "submission_id": sub, "frequency_code": freq, "claim_type": "professional",
         "submitted_on": D(submitted), "service_from": D(service), "service_to": D(service), "payer_id": payer,
         "billing_npi": npi, "rendering_npi": rnpi, "place_of_service": pos, "patient_key": patient,
         "total_charge_cents": total, "diagnosis_codes": list(dx), "payer_claim_ref": None, "source": "test"}
    ls = [{"submission_id": sub, "line_number": i, "procedure_code": code, "modifiers": mods, "units": units,
           "charge_cents": cents, "service_date": D(service)} for i, (code, mods, units, cents) in enumerate(lines, 1)]
    return c, ls


def _frames(*built) -> tuple[pd.DataFrame, pd.DataFrame]:
    claims = schema.conform("claims", pd.DataFrame([c for c, _ in built]))
    lines = schema.conform("claim_lines", pd.DataFrame([x for _, ls in built for x in ls]))
    return claims, lines


PAYERS = {"MCR": "medicare", "MCD": "medicaid", "BCX": "commercial", "SELF": "self_pay"}


def _run(*built, history=None, rules=None, rates=None) -> pd.DataFrame:
    claims, lines = _frames(*built)
    ctx = ScrubContext(as_of=AS_OF, payers=PAYERS, history=history, history_rates=rates,
                       payer_rules=rules if rules is not None else load_payer_rules())
    return run_rules(claims, lines, ctx)


def test_a_clean_claim_has_no_findings():
    assert _run(_claim()).empty
    assert _run(_claim(lines=(("99213", "25", 1.0, 17_500), ("96372", "", 1.0, 4_500), ("J3420", "", 1.0, 2_000)))
                ).empty


@pytest.mark.parametrize("change, rule, evidence", [
    ({"dx": ()}, "dx_missing", "no diagnosis"),
    ({"dx": ("E191",)}, "dx_invalid", "principal E19.1 is not a code in ICD-10-CM FY2026"),
    ({"dx": ("I10", "E11")}, "dx_not_billable", "diagnosis 2 E11 is a header code"),
    ({"lines": (("9921", "", 1.0, 17_500),)}, "procedure_format", "'9921' is not a CPT or HCPCS code form"),
    ({"lines": (("99213", "Q9", 1.0, 17_500),)}, "modifier_unknown", "modifier(s) Q9 on 99213"),
    ({"lines": (("99213", "", 0.0, 17_500),)}, "units_invalid", "99213 billed with 0 unit(s)"),
    ({"pos": "98"}, "pos_invalid", "place of service 98 is not a CMS POS code"),
    ({"npi": "1234567890"}, "npi_invalid", "billing NPI 1234567890 fails the NPI check digit"),
    ({"rnpi": "1245319598"}, "npi_invalid", "rendering NPI 1245319598 fails"),
    ({"service": "2026-04-02", "submitted": "2026-04-03"}, "date_future",
     "service date 2026-04-02 is after 2026-03-31"),
    ({"service": "2026-03-05", "submitted": "2026-03-04"}, "date_after_billing", "after the claim date 2026-03-04"),
    ({"service": "2025-12-01", "submitted": "2026-03-02"}, "timely_filing",
     "sent 91 days after the service date 2025-12-01; the limit for BCX (commercial) is 90 days"),
    ({"lines": (("99213", "", 1.0, 17_500), ("96372", "", 1.0, 4_500))}, "modifier25_missing",
     "E/M 99213 is billed with 96372 and has no modifier 25"),
    ({"payer": "MCR", "lines": (("99397", "", 1.0, 30_500),)}, "payer_rule", "MCR does not cover 99397"),
])
def test_each_rule_flags_its_bad_claim_and_only_that(change, rule, evidence):
    f = _run(_claim(**change))
    assert list(f["rule"].unique()) == [rule], f[["rule", "evidence"]].to_string()
    assert evidence in f["evidence"].iloc[0]
    assert (f["severity"] == "error").all() and f["fix"].str.len().gt(10).all()


def test_timely_filing_edges_and_proof_of_an_earlier_submission():
    # 2025-12-02 -> 2026-03-02 is 90 days: within the commercial limit of 90 (rcmkit/data/timely_filing.csv)
    assert _run(_claim(service="2025-12-02", submitted="2026-03-02")).empty
    # medicaid allows 180 days; self-pay has no limit
    assert _run(_claim(payer="MCD", service="2025-12-01", submitted="2026-03-02")).empty
    assert _run(_claim(payer="SELF", service="2025-01-01", submitted="2026-03-02")).empty
    # first sent on day 2 and denied in full; resent as a new claim 91 days out: a warning to attach proof
    first = _claim("C1-S1", service="2025-12-01", submitted="2025-12-03")
    again = _claim("C1-S2", service="2025-12-01", submitted="2026-03-02")
    claims, lines = _frames(first)
    denied = pd.DataFrame({"claim_id": ["C1"], "paid_cents": [0], "status_code": ["1"], "paid_on": [D("2026-01-05")]})
    f = _run(again, history={"claims": claims, "claim_lines": lines, "remittances": denied})
    assert list(f["rule"]) == ["timely_filing"] and list(f["severity"]) == ["warning"]
    assert "first sent in time on 2025-12-03" in f["evidence"].iloc[0]


def test_modifier_25_on_the_em_or_57_satisfies_the_rule():
    for mods in ("25", "57", "25:GT"):
        assert _run(_claim(lines=((("99214", mods, 1.0, 25_500)), ("10060", "", 1.0, 26_000)))).empty
    # a procedure that needs no 25 (a lab) does not ask for it
    assert _run(_claim(lines=(("99213", "", 1.0, 17_500), ("85025", "", 1.0, 2_500)))).empty


def test_duplicates_in_the_batch_and_in_the_store():
    a = _claim("C1-S1", "C1", submitted="2026-03-04")
    b = _claim("C2-S1", "C2", submitted="2026-03-06")  # another claim, same patient, day, code and charge
    f = _run(a, b)
    assert list(f["rule"]) == ["duplicate"] and f["submission_id"].iloc[0] == "C2-S1"
    assert "99213 on 2026-03-02 for $175.00 was already sent in this batch on claim C1" in f["evidence"].iloc[0]
    # a different charge or patient is not a duplicate
    assert _run(a, _claim("C2-S1", "C2", lines=(("99213", "", 1.0, 17_000),))).empty
    assert _run(a, _claim("C2-S1", "C2", patient="P2")).empty
    # a replacement (7) or void (8) of it is not a duplicate
    assert _run(a, _claim("C1-S2", "C1", freq="7", submitted="2026-03-10")).empty
    # against the store: sent before, not answered -> duplicate; denied in full before the resend -> a new claim
    hc, hl = _frames(a)
    resend = _claim("C1-S2", "C1", submitted="2026-03-20")
    f = _run(resend, history={"claims": hc, "claim_lines": hl})
    assert list(f["rule"]) == ["duplicate"] and "already sent on 2026-03-04 on this claim" in f["evidence"].iloc[0]
    denied = pd.DataFrame({"claim_id": ["C1"], "paid_cents": [0], "status_code": ["1"], "paid_on": [D("2026-03-15")]})
    assert _run(resend, history={"claims": hc, "claim_lines": hl, "remittances": denied}).empty
    late_denial = denied.assign(paid_on=D("2026-03-25"))  # after the resend: it was still a duplicate then
    assert list(_run(resend, history={"claims": hc, "claim_lines": hl, "remittances": late_denial})["rule"]) == [
        "duplicate"]


def test_stored_duplicates_among_many_patients():
    """The stored history is narrowed to the batch's patients before the match (issue #15): among other patients'
    identical lines (same day, code and charge) the one of this patient is still found, and only it."""
    stored = [_claim(f"O{n}-S1", f"O{n}", patient=f"P{n + 10}", submitted="2026-03-04") for n in range(5)]
    mine = _claim("C1-S1", "C1", submitted="2026-03-05")
    hc, hl = _frames(*stored, mine)
    f = _run(_claim("C9-S1", "C9", submitted="2026-03-20"), history={"claims": hc, "claim_lines": hl})
    assert list(f["rule"]) == ["duplicate"] and "already sent on 2026-03-05 on claim C1" in f["evidence"].iloc[0]
    hc, hl = _frames(*stored)  # only other patients' lines: no duplicate
    assert _run(_claim("C9-S1", "C9", submitted="2026-03-20"), history={"claims": hc, "claim_lines": hl}).empty


def test_payer_rules_are_data(tmp_path):
    path = tmp_path / "rules.csv"
    path.write_text("payer,codes,kind,value,severity,source,fix\n"
                    "BCX,96372,requires_modifier,JW|JZ,warning,BCX policy 12,add JW or JZ\n"
                    "*,J3420,max_units,1,error,MUE-like,bill at most 1\n"
                    "BCX,80061,requires_dx_prefix,E78|Z13,error,BCX lipid policy,add a lipid diagnosis\n")
    rules = load_payer_rules(path)
    f = _run(_claim(lines=(("99213", "25", 1.0, 17_500), ("96372", "", 1.0, 4_500), ("J3420", "", 2.0, 4_000),
                           ("80061", "", 1.0, 4_000))), rules=rules)
    assert sorted(zip(f["line_number"], f["severity"])) == [(2, "warning"), (3, "error"), (4, "error")]
    assert "requires modifier JW|JZ on 96372 (BCX policy 12)" in " ".join(f["evidence"])
    assert _run(_claim(dx=("E785",), lines=(("80061", "", 1.0, 4_000),)), rules=rules).empty
    # the payer's own filing limit replaces its class's: medicaid 180 days by default, MCD's own 95
    late = _claim(payer="MCD", service="2025-11-26", submitted="2026-03-02")  # 96 days
    assert _run(late).empty
    own = pd.concat([rules, pd.DataFrame([{"payer": "MCD", "codes": "*", "kind": "filing_limit", "value": "95",
                                           "severity": "error", "source": "MCD manual", "fix": ""}])])
    f = _run(late, rules=own)
    assert list(f["rule"]) == ["timely_filing"] and "the limit for MCD (medicaid) is 95 days" in f["evidence"].iloc[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("payer,codes,kind,value,severity,source,fix\nBCX,96372,must_have,JW,error,x,y\n")
    with pytest.raises(PayerRuleError, match=r"bad.csv rule 1: kind 'must_have'"):
        load_payer_rules(bad)


def test_history_warning_names_the_rate_and_top_carcs():
    rates = pd.DataFrame({"payer_id": ["BCX"], "procedure_code": ["99213"], "lines": [40], "denied": [12],
                          "denial_rate": [0.30], "top_carcs": ["CO-16 (8), CO-4 (4)"]})
    f = _run(_claim(), rates=rates)
    assert list(f["rule"]) == ["history_denials"] and list(f["severity"]) == ["warning"]
    assert f["evidence"].iloc[0].startswith("BCX denied 12 of 40 99213 lines (30%)")
    assert _run(_claim(), rates=rates.assign(lines=19)).empty  # too few lines to say


def test_findings_sort_by_severity_then_dollars_and_never_carry_patient_ids():
    f = _run(_claim("A-S1", "A", dx=("E11",)), _claim("B-S1", "B", npi="1234567890", patient="P2",
                                                   lines=(("99215", "", 1.0, 35_000),)),
             _claim("C-S1", "C", service="2025-12-01", submitted="2026-03-02", patient="P3"))
    assert list(f["submission_id"]) == ["B-S1", "A-S1", "C-S1"]  # $350, then $175 (A before C by id)
    assert not f["evidence"].str.contains("P1|P2|P3").any()


# ------------------------------------------------------------------------------------------------ caught denials
def test_caught_denials_counts_rules_and_dollars():
    a = _claim("A-S1", "A", dx=("E11",))  # $175 denied CO-16: a scrub catches the header code
    b = _claim("B-S1", "B", patient="P2", lines=(("99214", "", 1.0, 25_500),))  # $255 denied CO-50: not caught
    c = _claim("C-S1", "C", patient="P3")  # paid
    claims, lines = _frames(a, b, c)
    remits = schema.conform("remittances", pd.DataFrame([
        {"remit_id": r, "claim_id": cid, "payer_claim_id": None, "status_code": "1", "billed_cents": billed,
         "paid_cents": paid, "patient_responsibility_cents": 0, "payer_id": "BCX", "paid_on": D("2026-03-20"),
         "trace_number": "T", "source": "t"} for r, cid, billed, paid in
        [("R1", "A", 17_500, 0), ("R2", "B", 25_500, 0), ("R3", "C", 17_500, 9_000)]]))
    rl = schema.conform("remit_lines", pd.DataFrame([
        {"remit_id": r, "line_number": 1, "procedure_code": code, "modifiers": "", "billed_cents": b,
         "paid_cents": p, "allowed_cents": None, "units": 1.0, "service_date": D("2026-03-02")}
        for r, code, b, p in [("R1", "99213", 17_500, 0), ("R2", "99214", 25_500, 0),
                              ("R3", "99213", 17_500, 9_000)]]))
    adj = schema.conform("adjustments", pd.DataFrame([
        {"remit_id": r, "line_number": 1, "group_code": g, "reason_code": rc, "amount_cents": amt, "quantity": None}
        for r, g, rc, amt in [("R1", "CO", "16", 17_500), ("R2", "CO", "50", 25_500), ("R3", "CO", "45", 8_500)]]))
    payers = pd.DataFrame({"payer_id": ["BCX"], "payer_name": ["BCX"], "payer_class": ["commercial"]})
    tables = {"claims": claims, "claim_lines": lines, "remittances": remits, "remit_lines": rl, "adjustments": adj,
              "payers": payers}
    out = caught_denials(tables, "2026-03").set_index("rule")
    assert out.loc["dx_not_billable", "claims"] == 1 and out.loc["dx_not_billable", "billed_cents"] == 17_500
    assert out.loc["any rule", "claims"] == 1 and out.loc["not caught", "billed_cents"] == 25_500
    assert caught_denials(tables, "2026-02").empty


# ------------------------------------------------------------------------------------------------ CLI
def _write_837(folder, *built) -> None:
    claims, lines = _frames(*built)
    keys = claims["patient_key"].unique()
    patients = pd.DataFrame({"patient_key": keys, "first_name": "ZELDA", "last_name": "QUUXLEY", "sex": "F",
                             "birth_date": D("1970-01-01"), "member_id": [f"ZZ{i:09d}" for i in range(len(keys))]})
    payers = pd.DataFrame({"payer_id": ["BCX", "MCR"], "payer_name": ["BCX", "MCR"],
                           "payer_class": ["commercial", "medicare"]})
    for name, text in write_837p(claims, lines, payers, patients):
        (folder / name).write_text(text)


def test_cli_clean_file_exits_0_and_a_bad_one_3_with_csv_and_html(tmp_path):
    clean, bad = tmp_path / "clean", tmp_path / "bad"
    clean.mkdir(), bad.mkdir()
    _write_837(clean, _claim())
    _write_837(bad, _claim(), _claim("C2-S1", "C2", patient="P2", dx=("E11",), npi="1234567890"))
    runner = CliRunner()
    r = runner.invoke(main, ["scrub", str(clean), "--as-of", "2026-03-31"])
    assert r.exit_code == 0, r.output
    assert "no findings" in r.output and "checked 1 claim(s) as of 2026-03-31" in r.output
    out = tmp_path / "out"
    r = runner.invoke(main, ["scrub", str(bad), "--out", str(out), "--as-of", "2026-03-31"])
    assert r.exit_code == 3, r.output
    assert "2 error(s) on 1 claim(s)" in r.output
    csv = pd.read_csv(out / "scrub_findings.csv", dtype=str)
    assert set(csv["Rule"]) == {"dx_not_billable", "npi_invalid"} and set(csv["Claim"]) == {"C2"}
    assert "NPI fails its check digit" in set(csv["Check"])
    page = (out / "scrub_findings.html").read_text()
    assert "Diagnosis is a header code, not billable" in page and "<script" not in page and "http" not in page
    for secret in ("ZELDA", "QUUXLEY", "ZZ000000000", "19700101"):  # names, member ID, birth date stay out
        assert secret not in page and secret not in (out / "scrub_findings.csv").read_text()


def test_cli_bad_usage_exits_2(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["scrub", str(tmp_path / "missing.x12")]).exit_code == 2
    assert runner.invoke(main, ["scrub", str(tmp_path), "--as-of", "March"]).exit_code == 2
    (tmp_path / "a.x12").write_text("not x12")
    assert runner.invoke(main, ["scrub", str(tmp_path / "a.x12"), "--format", "csv"]).exit_code == 2


def test_cli_reports_an_unreadable_set_instead_of_crashing(tmp_path):
    _write_837(tmp_path, _claim())
    f = next(tmp_path.glob("*.x12"))
    f.write_text(f.read_text().replace("CLM*C1*175*", "CLM*C1*ABC*"))  # CLM02 not a number: the set is rejected
    r = CliRunner().invoke(main, ["scrub", str(f), "--as-of", "2026-03-31"])
    assert r.exit_code == 3, r.output
    assert re.search(r"note: .*segment \d+", r.output)


@pytest.mark.slow
def test_the_fast_code_list_reading_agrees_with_the_package_tree():
    """default_icd() reads the package's code list; the package's own tree (is_leaf) says the same of every code."""
    import simple_icd_10_cm as icd

    codes = [c for c in icd.get_all_codes(False)
             if icd.is_category_or_subcategory(c) or icd.is_extended_subcategory(c)]
    release = default_icd()
    assert {c.replace(".", "") for c in codes if icd.is_leaf(c)} == set(release.billable)
    assert {c.replace(".", "") for c in codes if not icd.is_leaf(c)} == set(release.headers)


def test_diagnosis_fixes_suggest_the_likely_code():
    f = _run(_claim(dx=("K129", "E11")))
    fixes = dict(zip(f["rule"], f["fix"]))
    assert "did you mean K21.9 (two characters swapped)?" in fixes["dx_invalid"]  # K12.9 does not exist
    assert re.search(r"e\.g\. E11\.\d+, E11\.\d+, E11\.\d+$", fixes["dx_not_billable"])
    assert "an ICD-9 code" in _run(_claim(dx=("4019",)))["fix"].iloc[0]


def test_diagnosis_pointers_are_read_from_sv107_and_checked(tmp_path):
    # the writer sends SV107 = 1:2 for a claim with two diagnoses; the reader keeps it in claim_line_details
    from rcmkit.ingest.x12.reader import read_x12
    from rcmkit.scrub.batch import scrub_files

    _write_837(tmp_path, _claim(dx=("E119", "I10"), lines=(("99213", "", 1.0, 17_500), ("83036", "", 1.0, 4_000))))
    f = next(tmp_path.glob("*.x12"))
    details = read_x12(f).tables["claim_line_details"]
    assert list(details["diagnosis_pointers"]) == ["1:2", "1:2"]
    assert scrub_files([f], as_of=AS_OF).findings.empty
    # line 2 points to a third diagnosis the claim does not have; then a line with no pointer at all
    f.write_text(f.read_text().replace("SV1*HC:83036*40*UN*1***1:2", "SV1*HC:83036*40*UN*1***3"))
    found = scrub_files([f], as_of=AS_OF).findings
    assert list(found["rule"]) == ["dx_pointer"] and found["line_number"].tolist() == [2]
    assert found["evidence"].iloc[0] == "83036 points to diagnosis 3 but the claim has 2"
    claims, lines = _frames(_claim())
    ctx = ScrubContext(as_of=AS_OF, payers=PAYERS, payer_rules=load_payer_rules())
    f2 = run_rules(claims, lines.assign(diagnosis_pointers=[None]), ctx)
    assert list(f2["rule"]) == ["dx_pointer"] and "points to no diagnosis" in f2["evidence"].iloc[0]
    assert run_rules(claims, lines, ctx).empty  # tables without pointers (the store's claim_lines) are not judged


def test_reading_in_chunks_gives_the_same_tables(tmp_path):
    from rcmkit.ingest.x12.reader import read_x12
    from rcmkit.scrub.batch import _read

    _write_837(tmp_path, _claim(), _claim("C2-S1", "C2", submitted="2026-03-05", patient="P2"))
    files = sorted(tmp_path.glob("*.x12"))
    assert len(files) == 2  # one file per submission day
    whole, chunked = read_x12(files), _read(files, b"rcmkit-patient-key-v1", False, chunk=1)
    for name in ("claims", "claim_lines", "claim_line_details"):
        pd.testing.assert_frame_equal(whole.tables[name], chunked.tables[name])


def test_a_voided_claim_billed_again_as_a_new_claim_is_not_a_duplicate():
    two = (("99213", "25", 1.0, 17_500), ("96372", "", 1.0, 4_500), ("J3420", "", 1.0, 2_000))
    first = _claim("C1-S1", "C1", submitted="2026-03-04", lines=two)
    void = _claim("C1-S2", "C1", submitted="2026-03-10", freq="8", lines=two)
    hc, hl = _frames(first, void)
    again = _claim("C2-S1", "C2", submitted="2026-03-12", lines=two)
    assert _run(again, history={"claims": hc, "claim_lines": hl}).empty
    # without the void, all three lines are duplicates of C1
    hc1, hl1 = _frames(first)
    f = _run(again, history={"claims": hc1, "claim_lines": hl1})
    assert list(f["rule"]) == ["duplicate"] * 3 and f["line_number"].tolist() == [1, 2, 3]


EXTERNAL = Path(os.environ.get("RCMKIT_EXTERNAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" /
                               "external"))


@pytest.mark.slow
@pytest.mark.skipif(not EXTERNAL.is_dir(), reason=f"public X12 corpus not found at {EXTERNAL} "
                    "(set RCMKIT_EXTERNAL_DATA to its folder)")
def test_the_public_837_samples_scrub_without_a_crash_and_without_patient_data():
    from rcmkit.scrub.batch import scrub_files

    manifest = pd.read_csv(EXTERNAL / "MANIFEST.tsv", sep="\t", header=None)
    paths = [EXTERNAL / p for p in manifest[0] if "837" in p and (EXTERNAL / p).is_file()]
    assert len(paths) >= 50
    result = scrub_files(paths, as_of=date(2026, 12, 1))
    assert len(result.claims) > 800  # the TR3 examples and test files: 903 claims in 59 files (December 2026)
    f = result.findings
    assert set(f["rule"]) <= set(RULES)
    # ICD-9 codes in the old examples are found; the TR3's example NPI 123456789 is 9 digits
    assert (f["rule"] == "dx_invalid").any() and (f["rule"] == "npi_invalid").any()
    assert not f["evidence"].str.contains("nan").any()
    text = " ".join(f["evidence"]) + " ".join(f["fix"])
    for name in ("DOE", "SMITH", "MOUSE", "Dough"):  # the samples' made-up patients never reach a finding
        assert name not in text
