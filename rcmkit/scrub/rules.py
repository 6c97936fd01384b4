"""The scrub rules: checks over a batch of claim submissions (canonical ``claims`` and ``claim_lines`` frames)
that say, before a claim goes out, what a payer would deny it for.

Each finding is one row of :data:`FINDING_COLUMNS`: the submission and claim, the line (null for a claim-level
finding), the severity (``error``: the payer will reject or deny it; ``warning``: a risk worth a look), the rule,
the evidence (codes, dates and amounts only: never a patient name, member ID or birth date), the fix, and the
dollars at stake (the line's charge, or the claim's for a claim-level finding). Every rule and its source is in
:data:`RULES` and docs/scrub.md.

Pure and deterministic: the date the batch is checked on is the ``as_of`` parameter, never the clock.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Mapping

import narwhals as nw
import numpy as np
import pandas as pd

from rcmkit.core.frames import isin
from rcmkit.metrics import table_rows
from rcmkit.errors import RcmkitError
from rcmkit.scrub import codesets
from rcmkit.scrub.codesets import IcdRelease

__all__ = ["Rule", "RULES", "FINDING_COLUMNS", "SEVERITIES", "ScrubContext", "run_rules", "load_payer_rules",
           "PayerRuleError", "EM_OFFICE"]

SEVERITIES = ("error", "warning", "info")

FINDING_COLUMNS = ["submission_id", "claim_id", "line_number", "severity", "rule", "evidence", "fix", "payer_id",
                   "service_date", "submitted_on", "at_stake_cents", "source"]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    title: str
    source: str


RULES: dict[str, Rule] = {r.name: r for r in [
    Rule("dx_missing", "error", "No diagnosis on the claim",
         "X12 837P TR3 (005010X222A1) loop 2300 HI: the principal diagnosis is required"),
    Rule("dx_invalid", "error", "Diagnosis is not an ICD-10-CM code",
         "ICD-10-CM tabular list of the fiscal year of the date of service (CMS/NCHS); HIPAA code set rule "
         "45 CFR 162.1002"),
    Rule("dx_not_billable", "error", "Diagnosis is a header code, not billable",
         "ICD-10-CM Official Guidelines for Coding and Reporting, Section I.B.2 (code to the highest number of "
         "characters available)"),
    Rule("dx_pointer", "error", "Line points to no diagnosis",
         "X12 837P TR3 (005010X222A1) SV107 Composite Diagnosis Code Pointer: required, 1 to 4 pointers, each the "
         "position (1-12) of a diagnosis in the claim's HI segment"),
    Rule("procedure_format", "error", "Procedure code has the wrong form",
         "AMA CPT code structure (5 characters) and CMS HCPCS Level II (a letter and 4 digits); 837P SV101-2"),
    Rule("modifier_unknown", "error", "Unknown modifier",
         "AMA CPT Appendix A (Level I) and the CMS HCPCS Level II file (rcmkit/data/modifiers.csv)"),
    Rule("modifier25_missing", "error", "E/M visit billed with a procedure needs modifier 25",
         "CMS Claims Processing Manual Pub. 100-04 Ch. 12 s30.6.6; NCCI Policy Manual Ch. XI "
         "(rcmkit/data/scrub_modifier25.csv)"),
    Rule("units_invalid", "error", "Units must be a positive number",
         "X12 837P TR3 SV104 Service Unit Count (greater than zero)"),
    Rule("pos_invalid", "error", "Place of service is not a CMS code",
         "CMS Place of Service Code Set (rcmkit/data/place_of_service.csv); 837P CLM05-1"),
    Rule("npi_invalid", "error", "NPI fails its check digit",
         "CMS NPI check digit: Luhn formula over 80840 + the first nine digits (45 CFR 162.406)"),
    Rule("date_future", "error", "Service date is in the future",
         "X12 837P TR3 DTP*472: the date the service was rendered; CMS Pub. 100-04 Ch. 1 s70"),
    Rule("date_after_billing", "error", "Service date is after the claim was created",
         "X12 837P TR3: BHT04 creation date cannot precede DTP*472 service date"),
    Rule("duplicate", "error", "Same service already billed",
         "CMS Pub. 100-04 Ch. 1 s120 (duplicate claims); CARC 18 'exact duplicate claim/service'"),
    Rule("timely_filing", "error", "Past the payer's filing limit",
         "42 CFR 424.44 (Medicare: 12 months); payer contracts and state Medicaid rules "
         "(rcmkit/data/timely_filing.csv); CARC 29"),
    Rule("payer_rule", "error", "Payer-specific rule",
         "The payer's policy named in the rule file (rcmkit/data/scrub_payer_rules.csv or --rules)"),
    Rule("history_denials", "warning", "Often denied by this payer",
         "The practice's own 835s: this payer's denial rate for the code (rcmkit.scrub.risk.denial_history)"),
]}

#: Office/outpatient E/M codes (99202-99215) that modifier 25 goes on: a range of the AMA E/M code family.
EM_OFFICE = tuple(str(c) for c in range(99202, 99216) if c not in (99210, 99201))


class PayerRuleError(RcmkitError, ValueError):
    """A payer rule file row is not understood; the message names the file, the line and what was expected."""


_KINDS = ("not_covered", "requires_modifier", "max_units", "requires_dx_prefix", "filing_limit")


def load_payer_rules(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The payer rule file (CSV; rcmkit/data/scrub_payer_rules.csv by default), checked row by row."""
    if path is None:
        with (resources.files("rcmkit") / "data" / "scrub_payer_rules.csv").open("r", encoding="utf-8") as fh:
            frame, name = pd.read_csv(fh, comment="#", dtype=str, keep_default_na=False), "scrub_payer_rules.csv"
    else:
        p = Path(path)
        try:
            frame = pd.read_csv(p, comment="#", dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise PayerRuleError(f"{p}: cannot read the payer rule file ({exc})") from exc
        name = str(p)
    need = ["payer", "codes", "kind", "value", "severity", "source", "fix"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise PayerRuleError(f"{name}: missing column(s) {missing}; expected {need}")
    for i, row in frame.iterrows():
        where = f"{name} rule {i + 1}"
        if row["kind"] not in _KINDS:
            raise PayerRuleError(f"{where}: kind {row['kind']!r}; expected one of {list(_KINDS)}")
        if row["severity"] not in ("error", "warning"):
            raise PayerRuleError(f"{where}: severity {row['severity']!r}; expected error or warning")
        if row["kind"] == "max_units" and not re.fullmatch(r"\d+(\.\d+)?", row["value"]):
            raise PayerRuleError(f"{where}: max_units needs a number in 'value', found {row['value']!r}")
        if row["kind"] == "filing_limit" and not re.fullmatch(r"\d+", row["value"]):
            raise PayerRuleError(f"{where}: filing_limit needs a whole number of days in 'value', found "
                                 f"{row['value']!r}")
        if not row["codes"] or not row["payer"]:
            raise PayerRuleError(f"{where}: 'payer' and 'codes' are required")
    return frame[need].reset_index(drop=True)


def _in_codes(codes: pd.Series, spec: str) -> pd.Series:
    out = pd.Series(False, index=codes.index)
    for part in spec.split("|"):
        part = part.strip().upper()
        if "-" in part:
            lo, hi = part.split("-", 1)
            out |= (codes.str.len() == len(lo)) & (codes >= lo) & (codes <= hi)
        elif part:
            out |= codes == part
    return out


@dataclass
class ScrubContext:
    """What the rules check against besides the batch itself.

    ``as_of``: the day the batch is checked (future dates are after it). ``payers``: payer_id -> payer class
    (timely filing, class-wide payer rules); ``history``: stored claims and claim_lines (and remittances) of the
    practice for duplicates; ``history_rates``: :func:`rcmkit.scrub.risk.denial_history` output for the
    ``history_denials`` warning; ``timely_days``: payer_id or class -> days (overrides the data file).
    """

    as_of: date
    icd: IcdRelease | None = None
    payers: Mapping[str, str] = field(default_factory=dict)
    history: Mapping[str, pd.DataFrame] | None = None
    history_rates: pd.DataFrame | None = None
    payer_rules: pd.DataFrame | None = None
    timely_days: Mapping[str, int] = field(default_factory=dict)
    #: the warning fires when the payer denied at least this share of at least ``history_min_lines`` lines
    history_min_rate: float = 0.25
    history_min_lines: int = 20


def _money(cents) -> str:
    return f"${cents / 100:,.2f}"


def run_rules(claims: pd.DataFrame, lines: pd.DataFrame, ctx: ScrubContext) -> pd.DataFrame:
    """Every finding on the batch (``claims`` and their ``claim_lines``), sorted by severity (a claim's worst), then
    the claim's charge (largest first), then submission, severity and line: a claim's findings stay together."""
    icd = ctx.icd or codesets.default_icd()
    claims = claims.reset_index(drop=True)
    lines = lines[lines["submission_id"].isin(claims["submission_id"])].reset_index(drop=True)
    head = claims.set_index("submission_id")
    lx = lines.merge(claims[["submission_id", "claim_id", "payer_id", "submitted_on", "patient_key", "claim_type",
                             "frequency_code", "source", "diagnosis_codes"]], on="submission_id", how="left")
    found: list[dict] = []

    def claim_finding(sub: str, rule: str, evidence: str, fix: str, severity: str | None = None) -> None:
        c = head.loc[sub]
        found.append({"submission_id": sub, "claim_id": c["claim_id"], "line_number": None,
                      "severity": severity or RULES[rule].severity, "rule": rule, "evidence": evidence, "fix": fix,
                      "payer_id": c["payer_id"], "service_date": c["service_from"], "submitted_on": c["submitted_on"],
                      "at_stake_cents": int(c["total_charge_cents"]), "source": c["source"]})

    def line_finding(row, rule: str, evidence: str, fix: str, severity: str | None = None) -> None:
        found.append({"submission_id": row.submission_id, "claim_id": row.claim_id, "line_number": row.line_number,
                      "severity": severity or RULES[rule].severity, "rule": rule, "evidence": evidence, "fix": fix,
                      "payer_id": row.payer_id, "service_date": row.service_date, "submitted_on": row.submitted_on,
                      "at_stake_cents": int(row.charge_cents), "source": row.source})

    _diagnoses(claims, icd, claim_finding)
    _claim_fields(claims, ctx, claim_finding)
    _line_fields(lx, ctx, line_finding)
    _pointers(lx, line_finding)
    _modifier25(lx, line_finding)
    _duplicates(lx, ctx, line_finding)
    _timely(claims, ctx, claim_finding)
    _payer_rules(lx, ctx, line_finding)
    _history(lx, ctx, line_finding)
    out = pd.DataFrame(found, columns=FINDING_COLUMNS)
    if out.empty:
        return _typed(out)
    out = _typed(out)
    # a claim's findings stay together: its worst severity, then its charge (largest first), then claim and line
    rank = out["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    worst = rank.groupby(out["submission_id"]).transform("min")
    charge = out["submission_id"].map(head["total_charge_cents"]).astype("int64")
    order = np.lexsort((out["line_number"].fillna(0).to_numpy(), rank.to_numpy(), out["submission_id"].to_numpy(),
                        -charge.to_numpy(), worst.to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    return out.astype({"line_number": "Int32", "at_stake_cents": "int64"}).assign(
        service_date=pd.to_datetime(out["service_date"]), submitted_on=pd.to_datetime(out["submitted_on"]))


# ------------------------------------------------------------------------------------------------ the rules
def _dotted(code: str) -> str:
    """An ICD-10-CM code as people read it: 'E119' -> 'E11.9' (claims carry it without the dot)."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _diagnoses(claims: pd.DataFrame, icd: IcdRelease, finding) -> None:
    for sub, dxs in zip(claims["submission_id"], claims["diagnosis_codes"]):
        dxs = [str(d).strip().upper().replace(".", "") for d in (dxs if dxs is not None else [])]
        if not any(dxs):
            finding(sub, "dx_missing", "the claim carries no diagnosis code",
                    "add the principal diagnosis from the chart (HI segment, qualifier ABK)")
            continue
        for pos, dx in enumerate(dxs, start=1):
            which = "principal" if pos == 1 else f"diagnosis {pos}"
            if not icd.is_valid(dx):
                swaps = [_dotted(t) for t in icd.transpositions(dx)]
                hint = (f"; did you mean {', '.join(swaps)} (two characters swapped)?" if swaps else
                        "; an ICD-9 code or a typing slip?" if re.fullmatch(r"V?\d{3,5}", dx) else "")
                finding(sub, "dx_invalid", f"{which} {_dotted(dx)} is not a code in {icd.label}",
                        f"check the chart and enter a valid ICD-10-CM code{hint}")
            elif not icd.is_billable(dx):
                under = [_dotted(u) for u in icd.billable_under(dx)]
                finding(sub, "dx_not_billable", f"{which} {_dotted(dx)} is a header code in {icd.label}",
                        "code to the highest specificity" + (f", e.g. {', '.join(under)}" if under else ""))


def _claim_fields(claims: pd.DataFrame, ctx: ScrubContext, finding) -> None:
    pos_codes = codesets.places_of_service()
    as_of = pd.Timestamp(ctx.as_of)
    for row in claims.itertuples(index=False):
        for role, npi in (("billing", row.billing_npi), ("rendering", row.rendering_npi)):
            if npi is None or (isinstance(npi, float) and np.isnan(npi)) or str(npi) in ("", "None", "nan"):
                if role == "billing":
                    finding(row.submission_id, "npi_invalid", "no billing provider NPI",
                            "enter the billing provider's NPI (loop 2010AA NM109)")
                continue
            if not codesets.npi_valid(npi):
                finding(row.submission_id, "npi_invalid", f"{role} NPI {npi} fails the NPI check digit",
                        f"re-enter the {role} provider's NPI from NPPES (a digit typed wrong?)")
        if row.claim_type == "professional":
            pos = "" if pd.isna(row.place_of_service) else str(row.place_of_service).strip()
            if pos not in pos_codes:
                finding(row.submission_id, "pos_invalid", f"place of service {pos or '(none)'} is not a CMS POS code",
                        "use the CMS place of service code where the visit happened (11 office, 02/10 telehealth...)")
        if pd.notna(row.service_to) and row.service_to > as_of:
            finding(row.submission_id, "date_future",
                    f"service date {row.service_to:%Y-%m-%d} is after {as_of:%Y-%m-%d}, the day of the check",
                    "bill a service after it is rendered; check the date of service")
        elif pd.notna(row.service_to) and row.service_to > row.submitted_on:
            finding(row.submission_id, "date_after_billing",
                    f"service date {row.service_to:%Y-%m-%d} is after the claim date {row.submitted_on:%Y-%m-%d}",
                    "check the date of service, or hold the claim until the service is rendered")


def _line_fields(lx: pd.DataFrame, ctx: ScrubContext, finding) -> None:
    mods_ok = codesets.modifiers()
    for row in lx.itertuples(index=False):
        code = str(row.procedure_code).strip().upper()
        if not codesets.procedure_format(code):
            finding(row, "procedure_format", f"procedure code {code!r} is not a CPT or HCPCS code form",
                    "enter 5 characters: a CPT code (5 digits, or 4 digits + F/T) or HCPCS (letter + 4 digits)")
        bad = [m for m in str(row.modifiers or "").split(":") if m and m.upper() not in mods_ok]
        if bad:
            finding(row, "modifier_unknown", f"modifier(s) {', '.join(bad)} on {code} not in the modifier list",
                    "check the modifier; add it to rcmkit/data/modifiers.csv if your payers accept it")
        if not (row.units > 0):
            finding(row, "units_invalid", f"{code} billed with {row.units:g} unit(s)", "bill one unit or more")


def _pointers(lx: pd.DataFrame, finding) -> None:
    """Professional lines point to 1-4 of the claim's diagnoses (SV107). Checked when the lines carry the
    ``diagnosis_pointers`` column (read from 837 files: claim_line_details); tables without it are not judged."""
    if "diagnosis_pointers" not in lx.columns:
        return
    for row in lx[lx["claim_type"] == "professional"].itertuples(index=False):
        n_dx = len(row.diagnosis_codes) if row.diagnosis_codes is not None else 0
        if n_dx == 0:
            continue  # dx_missing says it
        raw = row.diagnosis_pointers
        ptrs = [] if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw).split(":")
        if not ptrs:
            finding(row, "dx_pointer", f"{row.procedure_code} points to no diagnosis (SV107 empty)",
                    "point the line to the diagnosis it treats (1 for the principal)")
            continue
        bad = [p for p in ptrs if not (p.isdigit() and 1 <= int(p) <= n_dx)]
        if bad or len(ptrs) > 4:
            finding(row, "dx_pointer",
                    f"{row.procedure_code} points to diagnosis {', '.join(bad or ptrs)} but the claim has {n_dx}"
                    + (" (more than 4 pointers)" if len(ptrs) > 4 and not bad else ""),
                    f"use pointers 1 to {min(n_dx, 12)}, at most 4, in the order of importance")


def _modifier25(lx: pd.DataFrame, finding) -> None:
    procs = codesets.modifier25_procedures()
    mods = lx["modifiers"].fillna("").str.split(":")
    has_proc = lx["procedure_code"].isin(procs).groupby(lx["submission_id"]).transform("any")
    is_em = lx["procedure_code"].isin(EM_OFFICE)
    has_mod = mods.map(lambda m: "25" in m or "57" in m)
    first_em = is_em & ~lx.loc[is_em].duplicated("submission_id").reindex(lx.index, fill_value=True)
    # one E/M per claim takes the modifier; a claim whose E/M carries it already is fine
    em_ok = (is_em & has_mod).groupby(lx["submission_id"]).transform("any")
    hits = lx[first_em & has_proc & ~em_ok]
    for row in hits.itertuples(index=False):
        with_codes = sorted(set(lx.loc[(lx["submission_id"] == row.submission_id)
                                       & lx["procedure_code"].isin(procs), "procedure_code"]))
        finding(row, "modifier25_missing",
                f"E/M {row.procedure_code} is billed with {', '.join(with_codes)} and has no modifier 25",
                "if the visit was a separately identifiable E/M service (documented), add modifier 25 to the E/M; "
                "otherwise remove the E/M")


_DUP_KEY = ["patient_key", "service_date", "procedure_code", "modifiers", "charge_cents"]


def _duplicates(lx: pd.DataFrame, ctx: ScrubContext, finding) -> None:
    """A line whose patient, service date, code, modifiers and charge match a line of an earlier submission (of
    this batch or stored) that was not voided, replaced or denied in full before this one went out. Replacements
    and voids (frequency 7, 8) are never duplicates."""
    this = lx[~lx["frequency_code"].isin(["7", "8"])]
    if this.empty:
        return
    pool = [lx.assign(in_batch=True)]
    hist = ctx.history or {}
    # only this batch's patients' submissions can match a line of it (the key starts with the patient): the stored
    # submissions and lines are narrowed to theirs on the history's engine (a year of history is millions of lines)
    hc = table_rows(hist, "claims", ["patient_key", "submission_id", "claim_id", "submitted_on", "frequency_code"],
                    among=this[["patient_key"]]) if "claims" in hist else None
    if hc is not None and "claim_lines" in hist and len(hc):
        hc = hc[~isin(hc["submission_id"], lx["submission_id"]).to_numpy()]
        # queried on the history's engine (a large practice's lines are never collected whole), in key order
        hist_lines = table_rows(hist, "claim_lines", among=hc[["submission_id"]]).sort_values(
            ["submission_id", "line_number"], kind="mergesort", ignore_index=True)
        hl = hist_lines.merge(hc[["submission_id", "claim_id", "patient_key", "submitted_on", "frequency_code"]],
                              on="submission_id")
        pool.append(hl.assign(in_batch=False))
    cols = _DUP_KEY + ["submission_id", "claim_id", "submitted_on", "frequency_code", "in_batch"]
    pool = pd.concat([p[cols] for p in pool], ignore_index=True)
    pool = pool[pool["frequency_code"] != "8"]
    m = this[_DUP_KEY + ["submission_id", "claim_id", "submitted_on", "line_number", "payer_id", "source"]].merge(
        pool, on=_DUP_KEY, suffixes=("", "_prior"))
    m = m[m["submission_id"] != m["submission_id_prior"]]
    # earlier: sent before, or the same day and first in submission order
    m = m[(m["submitted_on_prior"] < m["submitted_on"])
          | ((m["submitted_on_prior"] == m["submitted_on"]) & (m["submission_id_prior"] < m["submission_id"]))]
    if m.empty:
        return
    closed = _closed_before(hist, m)
    m = m[~closed]
    m = m.sort_values(["submission_id", "line_number", "submitted_on_prior"]).drop_duplicates(
        ["submission_id", "line_number"])
    for row in m.itertuples(index=False):
        when = "in this batch" if row.in_batch else f"on {row.submitted_on_prior:%Y-%m-%d}"
        on = "this claim" if row.claim_id_prior == row.claim_id else f"claim {row.claim_id_prior}"
        finding(row, "duplicate",
                f"{row.procedure_code} on {row.service_date:%Y-%m-%d} for {_money(row.charge_cents)} was already "
                f"sent {when} on {on} for the same patient, and not denied, replaced or voided since",
                "do not resend: check the first claim's status (276/277 or the payer portal); to change it, send a "
                "replacement (frequency 7)")


def _closed_before(hist: Mapping[str, pd.DataFrame], m: pd.DataFrame) -> np.ndarray:
    """True where the prior claim was voided, replaced, or denied in full (paid nothing) before this submission:
    a new claim is then the right way to bill it again."""
    closed = np.zeros(len(m), dtype=bool)
    here = m[["claim_id_prior", "submitted_on"]].reset_index(drop=True).reset_index()  # 'index': position in m
    # the prior claims' stored replacements and voids, and their answers that paid nothing: queried on the history's
    # engine for those claims only
    prior = m[["claim_id_prior"]].rename(columns={"claim_id_prior": "claim_id"})
    if hist and "claims" in hist:
        later = table_rows(hist, "claims", ["claim_id", "submitted_on"], among=prior,
                           query=lambda f: f.filter(nw.col("frequency_code").is_in(["7", "8"])))
        j = here.merge(later, left_on="claim_id_prior", right_on="claim_id", suffixes=("", "_x"))
        j = j[j["submitted_on_x"] <= j["submitted_on"]]
        closed[j["index"].to_numpy()] = True
    if hist and "remittances" in hist:
        zero = table_rows(hist, "remittances", ["claim_id", "paid_on"], among=prior, query=lambda f: f.filter(
            nw.col("paid_cents") == 0, nw.col("status_code") != "22"))
        j = here.merge(zero, left_on="claim_id_prior", right_on="claim_id")
        j = j[j["paid_on"] <= j["submitted_on"]]
        closed[j["index"].to_numpy()] = True
    return closed


def _timely(claims: pd.DataFrame, ctx: ScrubContext, finding) -> None:
    """Submitted more days after the service than the payer allows: an error; a warning instead when an earlier
    submission of the same claim (batch or stored) went out in time, which is the proof of timely filing."""
    limits = codesets.timely_filing_days()
    rules = ctx.payer_rules if ctx.payer_rules is not None else load_payer_rules()
    own = {r.payer: int(r.value) for r in rules[rules["kind"] == "filing_limit"].itertuples(index=False)}
    sent = [claims[["claim_id", "submitted_on"]]]
    # the stored submissions of this batch's claims only, queried on the history's engine (a practice's history is
    # millions of submissions: grouping them all took 4.2 s of a report at 10 M claim lines, issue #15)
    hc = table_rows(ctx.history, "claims", ["claim_id", "submitted_on"], among=claims[["claim_id"]]) \
        if ctx.history and "claims" in ctx.history else None
    if hc is not None and len(hc):
        sent.append(hc[["claim_id", "submitted_on"]])
    first = pd.concat(sent, ignore_index=True).groupby("claim_id")["submitted_on"].min()
    for row in claims.itertuples(index=False):
        if row.frequency_code in ("7", "8") or pd.isna(row.service_from):
            continue
        cls = ctx.payers.get(row.payer_id, "other")
        if cls == "self_pay":
            continue
        days = (ctx.timely_days.get(row.payer_id) or own.get(row.payer_id) or ctx.timely_days.get(cls) or own.get(cls)
                or limits.get(cls) or limits.get("other"))
        if not days:
            continue
        age = (row.submitted_on - row.service_from).days
        if age <= days:
            continue
        limit = f"the limit for {row.payer_id} ({cls}) is {days} days"
        earlier = first.get(row.claim_id)
        if earlier is not None and earlier < row.submitted_on and (earlier - row.service_from).days <= days:
            finding(row.submission_id, "timely_filing",
                    f"sent {age} days after the service date {row.service_from:%Y-%m-%d} ({limit}); the claim was "
                    f"first sent in time on {earlier:%Y-%m-%d}",
                    "attach proof of timely filing (the first submission's acceptance, 999/277CA)",
                    severity="warning")
            continue
        finding(row.submission_id, "timely_filing",
                f"sent {age} days after the service date {row.service_from:%Y-%m-%d}; {limit}",
                "send proof of timely filing (an earlier accepted submission, 999/277CA) with the claim, or "
                "write it off under the contract")


def _payer_rules(lx: pd.DataFrame, ctx: ScrubContext, finding) -> None:
    rules = ctx.payer_rules if ctx.payer_rules is not None else load_payer_rules()
    if rules.empty or lx.empty:
        return
    cls = lx["payer_id"].map(lambda p: ctx.payers.get(p, ""))
    codes = lx["procedure_code"].astype(str).str.upper()
    for r in rules[rules["kind"] != "filing_limit"].itertuples(index=False):
        who = (lx["payer_id"] == r.payer) | (cls == r.payer) | (r.payer == "*")
        hit = who & _in_codes(codes, r.codes)
        if not hit.any():
            continue
        sub = lx[hit]
        if r.kind == "not_covered":
            bad = pd.Series(True, index=sub.index)
            say = lambda row: f"{row.payer_id} does not cover {row.procedure_code}"  # noqa: E731
        elif r.kind == "requires_modifier":
            need = set(r.value.upper().split("|"))
            bad = sub["modifiers"].fillna("").str.split(":").map(lambda m: not (need & set(m)))
            say = lambda row: f"{row.payer_id} requires modifier {r.value} on {row.procedure_code}"  # noqa: E731
        elif r.kind == "max_units":
            bad = sub["units"] > float(r.value)
            say = lambda row: (f"{row.procedure_code} billed with {row.units:g} units; "  # noqa: E731
                               f"{row.payer_id} allows {r.value}")
        else:  # requires_dx_prefix
            pre = tuple(r.value.upper().split("|"))
            bad = sub["diagnosis_codes"].map(lambda d: not any(str(x).startswith(pre) for x in (d or [])))
            say = lambda row: f"{row.payer_id} pays {row.procedure_code} only with a diagnosis {r.value}"  # noqa: E731
        for row in sub[bad.to_numpy(dtype=bool)].itertuples(index=False):
            finding(row, "payer_rule", f"{say(row)} ({r.source})", r.fix or "see the payer's policy",
                    severity=r.severity)


def _history(lx: pd.DataFrame, ctx: ScrubContext, finding) -> None:
    h = ctx.history_rates
    if h is None or h.empty or lx.empty:
        return
    h = h[(h["lines"] >= ctx.history_min_lines) & (h["denial_rate"] >= ctx.history_min_rate)]
    m = lx.merge(h, on=["payer_id", "procedure_code"], how="inner")
    for row in m.itertuples(index=False):
        finding(row, "history_denials",
                f"{row.payer_id} denied {row.denied:,} of {row.lines:,} {row.procedure_code} lines "
                f"({row.denial_rate:.0%}) in the practice's history; most often {row.top_carcs}",
                "check the claim against the usual denial reasons before sending")
