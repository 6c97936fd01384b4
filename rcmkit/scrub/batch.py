"""Scrubbing a batch: outgoing 837 files (read with the ingest's X12 reader, nothing stored) or claims tables, and
what a scrub would have caught among a month's denied claims.

:func:`scrub_files` is what ``rcmkit scrub`` runs; :func:`scrub_tables` is the same checks over claims tables;
:func:`caught_denials` is the report's "denials a scrub would have caught" (rule, claims, dollars).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from rcmkit.core import schema
from rcmkit.core.frames import isin
from rcmkit.metrics import table_rows
from rcmkit.ingest.pipeline import expand_paths
from rcmkit.ingest.x12.reader import DEFAULT_PATIENT_SALT, read_x12
from rcmkit.scrub import risk
from rcmkit.scrub.codesets import IcdRelease, default_icd
from rcmkit.scrub.rules import ScrubContext, load_payer_rules, run_rules

__all__ = ["ScrubResult", "scrub_files", "scrub_tables", "caught_denials", "context_for", "train_risk_model",
           "risk_training_frame", "fit_risk_model", "score_batch"]


@dataclass
class ScrubResult:
    """The batch, its findings, per-claim risk scores (when a practice history was given) and what the reader
    could not read (X12 warnings and rejected transaction sets: reported, never a crash)."""

    claims: pd.DataFrame
    lines: pd.DataFrame
    findings: pd.DataFrame
    icd_label: str
    risk: pd.DataFrame | None = None
    warnings: pd.DataFrame = field(default_factory=lambda: schema.empty("ingest_warnings"))
    rejections: pd.DataFrame = field(default_factory=lambda: schema.empty("rejections"))
    notes: list[str] = field(default_factory=list)
    as_of: date | None = None

    @property
    def errors(self) -> int:
        return int((self.findings["severity"] == "error").sum())

    @property
    def needs_attention(self) -> bool:
        """Exit code 3 of ``rcmkit scrub``: an error-severity finding, or a set of the files that was not read."""
        return self.errors > 0 or len(self.rejections) > 0


def context_for(as_of: date, history: Mapping[str, pd.DataFrame] | None = None, *, icd: IcdRelease | None = None,
                rules_path: str | os.PathLike | None = None, outcomes: pd.DataFrame | None = None,
                history_before: pd.Timestamp | None = None) -> ScrubContext:
    """The rules' context: payer classes, stored claims and remittances for duplicates, and the payer x code denial
    history (adjudications before ``history_before``, default ``as_of``) for the history warning."""
    payers = {}
    rates = None
    if history:
        if "payers" in history and len(history["payers"]):
            payers = dict(zip(history["payers"]["payer_id"], history["payers"]["payer_class"]))
        if outcomes is None and len(history.get("remittances", ())):
            outcomes = risk.line_outcomes(history)
        if outcomes is not None:
            rates = risk.denial_history(outcomes, before=history_before or pd.Timestamp(as_of))
    return ScrubContext(as_of=as_of, icd=icd or default_icd(), payers=payers, history=history, history_rates=rates,
                        payer_rules=load_payer_rules(rules_path))


def scrub_tables(claims: pd.DataFrame, lines: pd.DataFrame, ctx: ScrubContext) -> pd.DataFrame:
    """The findings on claims tables (canonical ``claims`` and ``claim_lines``): see
    :func:`rcmkit.scrub.rules.run_rules`."""
    return run_rules(claims, lines, ctx)


def _icd_notes(claims: pd.DataFrame, icd: IcdRelease) -> list[str]:
    if claims.empty:
        return []
    outside = claims["service_from"].map(lambda d: pd.notna(d) and not icd.covers(d))
    if not outside.any():
        return []
    lo, hi = icd.in_force
    return [f"{int(outside.sum()):,} claim(s) have dates of service outside {icd.label} (in force {lo:%Y-%m-%d} to "
            f"{hi:%Y-%m-%d}); their diagnoses were checked against it. Load the release of their fiscal year with "
            "--icd-release to check them against their own year."]


def scrub_files(paths: Iterable[str | os.PathLike], *, as_of: date | None = None,
                history: Mapping[str, pd.DataFrame] | None = None,
                icd: IcdRelease | None = None, rules_path: str | os.PathLike | None = None,
                patient_salt: str | bytes = DEFAULT_PATIENT_SALT, with_risk: bool = True,
                progress: bool = False) -> ScrubResult:
    """Read the 837 files (and folders) named, check every claim, and score its denial risk when ``history`` (a
    stored practice's tables) holds adjudicated claims. Pass the practice's salt so duplicates match its stored
    patient keys. ``as_of`` (the day of the check) defaults to the newest claim creation date (BHT04) in the batch.
    Nothing is written."""
    files = expand_paths(paths)
    result = _read(files, patient_salt, progress)
    claims, lines = result.tables["claims"], result.tables["claim_lines"]
    details = result.tables["claim_line_details"]
    if "diagnosis_pointers" in details.columns:  # SV107, for the dx_pointer rule
        lines = lines.merge(details[["submission_id", "line_number", "diagnosis_pointers"]],
                            on=["submission_id", "line_number"], how="left")
    icd = icd or default_icd()
    if as_of is None:
        as_of = claims["submitted_on"].max().date() if len(claims) else date(1970, 1, 1)
    outcomes = risk.line_outcomes(history) if history and len(history.get("remittances", ())) else None
    ctx = context_for(as_of, history, icd=icd, rules_path=rules_path, outcomes=outcomes)
    findings = run_rules(claims, lines, ctx)
    notes = _icd_notes(claims, icd)
    scores = None
    if with_risk and outcomes is not None and len(claims):
        try:
            scores = risk_scores(claims, lines, history, outcomes, as_of, icd=icd, batch_findings=findings)
        except ValueError as exc:  # too little history: said, not fatal
            notes.append(f"no denial-risk scores: {exc}")
    return ScrubResult(claims, lines, findings, icd.label, scores, result.warnings, result.rejections, notes, as_of)


def _read(files: list, salt: str | bytes, progress: bool, chunk: int = 64):
    """read_x12 over the files, a chunk at a time under a progress bar; the chunks' frames concatenated."""
    from tqdm.auto import tqdm

    parts = []
    with tqdm(total=len(files), desc="837 files", unit="file", disable=not progress) as bar:
        for i in range(0, max(len(files), 1), chunk):
            parts.append(read_x12(files[i:i + chunk], patient_salt=salt))
            bar.update(len(files[i:i + chunk]))
    if len(parts) == 1:
        return parts[0]
    tables = {name: pd.concat([p.tables[name] for p in parts], ignore_index=True) for name in parts[0].tables}
    return type(parts[0])(tables, pd.concat([p.warnings for p in parts], ignore_index=True),
                          pd.concat([p.rejections for p in parts], ignore_index=True))


def risk_scores(claims: pd.DataFrame, lines: pd.DataFrame, history: Mapping[str, pd.DataFrame],
                outcomes: pd.DataFrame, as_of: date, *, icd: IcdRelease | None = None,
                batch_findings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Train the risk model on the practice's claims adjudicated before ``as_of`` and score the batch: per
    submission, risk (0-1), the baseline (payer x code rate) and the top reasons."""
    cutoff = pd.Timestamp(as_of)
    model = train_risk_model(history, outcomes, as_of, icd=icd)
    return score_batch(model, claims, lines, outcomes, cutoff, batch_findings)


def train_risk_model(history: Mapping[str, pd.DataFrame], outcomes: pd.DataFrame, before: date | pd.Timestamp, *,
                     icd: IcdRelease | None = None) -> risk.RiskModel:
    """The risk model trained on the practice's original claims whose first adjudication came before ``before``
    (no leakage: each training row's rates come from adjudications before its own submission month). Raises
    ValueError when those claims are not both denied and paid ones (too little history)."""
    frame, lab = risk_training_frame(history, outcomes, before, icd=icd)
    return fit_risk_model(frame, lab, before)


def risk_training_frame(history: Mapping[str, pd.DataFrame], outcomes: pd.DataFrame, as_of: date | pd.Timestamp, *,
                        icd: IcdRelease | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's features (:func:`rcmkit.scrub.risk.claim_frame`: each row's rates from adjudications before its
    own submission month) and labels for every original claim of the practice, its findings checked as on
    ``as_of``. Built once, it serves :func:`fit_risk_model` at any cutoff up to ``as_of`` (the explorer does)."""
    hc, hl = history["claims"], history["claim_lines"]
    orig = hc[hc["submission_id"].isin(outcomes["submission_id"])]
    hist_ctx = ScrubContext(as_of=pd.Timestamp(as_of).date(), icd=icd or default_icd(), history=history, payers={},
                            payer_rules=load_payer_rules())
    hist_findings = run_rules(orig, hl, hist_ctx)
    frame = risk.claim_frame(orig, hl, outcomes, hist_findings)
    return frame, risk.labels_for(frame, outcomes)


def fit_risk_model(frame: pd.DataFrame, labels: pd.DataFrame, before: date | pd.Timestamp) -> risk.RiskModel:
    """The model fitted on the rows of :func:`risk_training_frame` first adjudicated before ``before``."""
    cutoff = pd.Timestamp(before)
    train = labels["decided_on"].notna() & (labels["decided_on"] < cutoff)
    return risk.RiskModel().fit(frame[train], labels.loc[train, "denied"].to_numpy())


def score_batch(model: risk.RiskModel, claims: pd.DataFrame, lines: pd.DataFrame, outcomes: pd.DataFrame,
                before: date | pd.Timestamp, batch_findings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score a batch with a trained model, its rates from adjudications before ``before``: per submission,
    risk (0-1), the baseline (payer x code rate) and the top reasons, riskiest first."""
    cutoff = pd.Timestamp(before)
    batch = risk.claim_frame(claims, lines, outcomes, batch_findings, history_before=cutoff)
    return pd.DataFrame({"submission_id": batch["submission_id"], "claim_id": batch["claim_id"],
                         "payer_id": batch["payer_id"], "charge_cents": batch["total_charge_cents"],
                         "risk": model.score(batch), "baseline": risk.baseline_scores(batch),
                         "reasons": model.reasons(batch)}).sort_values("risk", ascending=False, kind="stable")


def caught_denials(tables: Mapping[str, pd.DataFrame], month: str, *, icd: IcdRelease | None = None,
                   rules_path: str | os.PathLike | None = None) -> pd.DataFrame:
    """For the claims whose first adjudication in ``month`` (YYYY-MM, by 835 date) denied them: which error rule a
    scrub of their first submission would have fired, with the claims and the denied claims' billed dollars.

    One row per rule (a claim caught by two rules counts under each), plus a 'any rule' row and a 'not caught'
    row; columns rule, title, claims, billed_cents. Each submission is checked with what was known when it went
    out (duplicates against earlier submissions only). This is what the monthly report's "denials a scrub would
    have caught" section calls."""
    from rcmkit.metrics import MetricOptions, first_adjudications
    from rcmkit.scrub.rules import RULES

    # the denied claims are the initial denial rate's (one definition: rcmkit.metrics.first_adjudications);
    # each is checked as it was first sent
    first = first_adjudications(tables, MetricOptions(), month=month)  # the month's: the report's other sections
    denied_ids = first.loc[first["denied"].astype(bool), "claim_id"]  # ask for the same (one memo, one query)
    # the denied claims' submissions (queried on the tables' engine), then each first, in submission order
    mine = table_rows(tables, "claims", among=denied_ids.to_frame())
    sent = mine.sort_values(["claim_id", "submitted_on", "submission_id"]).drop_duplicates("claim_id")
    claims = mine[isin(mine["submission_id"], sent["submission_id"]).to_numpy()].sort_values(
        "submission_id", kind="mergesort", ignore_index=True)
    cols = ["rule", "title", "claims", "billed_cents"]
    if claims.empty:
        return pd.DataFrame(columns=cols).astype({"claims": "int64", "billed_cents": "int64"})
    payers = dict(zip(tables["payers"]["payer_id"], tables["payers"]["payer_class"])) if "payers" in tables else {}
    ctx = ScrubContext(as_of=claims["submitted_on"].max().date(), icd=icd or default_icd(), payers=payers,
                       history=tables, payer_rules=load_payer_rules(rules_path))
    # the checked submissions' lines, queried on the tables' engine (not the practice's every line), in key order
    lines = table_rows(tables, "claim_lines", among=claims[["submission_id"]])
    lines = lines.sort_values(["submission_id", "line_number"], kind="mergesort", ignore_index=True)
    f = run_rules(claims, lines, ctx)
    f = f[f["severity"] == "error"].drop_duplicates(["submission_id", "rule"])
    charge = claims.set_index("submission_id")["total_charge_cents"]
    rows = []
    for rule, g in f.groupby("rule", sort=True):
        rows.append((rule, RULES[rule].title, g["submission_id"].nunique(),
                     int(charge.reindex(g["submission_id"].unique()).sum())))
    rows.sort(key=lambda r: (-r[3], r[0]))
    caught = f["submission_id"].unique()
    rows.append(("any rule", "Denied claims a scrub would have caught", len(caught),
                 int(charge.reindex(caught).sum())))
    rest = np.setdiff1d(claims["submission_id"].to_numpy(), caught)
    rows.append(("not caught", "Denied claims no rule flags", len(rest), int(charge.reindex(rest).sum())))
    return pd.DataFrame(rows, columns=cols).astype({"claims": "int64", "billed_cents": "int64"})
