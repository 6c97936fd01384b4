"""Typed PM export rows to canonical tables: ``payers``, ``claims`` and ``claim_lines`` (a claim loads whole or
not at all), ``postings`` (keyed by ``posting_id``, adjustments classified by CARC, parties resolved, transfers
split in two), ``unapplied_postings`` (suspense: postings whose claim is not known yet, applied later by
:func:`apply_postings`), ``contracts`` and ``providers``. What each table holds and why: the notes of
:mod:`rcmkit.ingest.pm.reader`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rcmkit.core import schema
from rcmkit.core.refdata import classify_adjustments
from rcmkit.core.frames import drop_duplicates, isin, lookup
from rcmkit.core.ledger import stable_sorted
from rcmkit.ingest.issues import Issues
from rcmkit.ingest.pm.decode import Records, source_columns
from rcmkit.ingest.pm.layout import ColumnMap

__all__ = ["PENDING_COLUMNS", "Context", "Draft", "apply_postings", "build_tables", "claim_parties", "draft_tables",
           "merge_parties"]


@dataclass(frozen=True)
class Context:
    """What the table builders share: the issue collector and each spec's source column per field."""

    issues: Issues
    columns: dict[tuple[str, str], str]

    def reject(self, rows: pd.DataFrame, field: str, code: str, problem: str, expected: str,
               values: pd.Series | None = None) -> None:
        """Reject ``rows`` (parsed records), naming the source column the row's file spec reads ``field`` from."""
        for (file, spec), part in rows.groupby(["_file", "_spec"], sort=False):
            self.issues.reject_lines(file, part["_line"], self.columns.get((spec, field), field), part.get("claim_id"),
                                     code, problem, expected, None if values is None else values.reindex(part.index))

    def warn(self, rows: pd.DataFrame, field: str, code: str, text: str) -> None:
        for (file, spec), part in rows.groupby(["_file", "_spec"], sort=False):
            self.issues.warn_lines(file, self.columns.get((spec, field), field), part["_line"], code, text)



# ============================================================================================== claims
def _concat(records: list[Records], table: str) -> pd.DataFrame | None:
    frames = [r.frame for r in records if r.spec.table == table]
    return pd.concat(frames, ignore_index=True) if frames else None


def _build_payers(frame: pd.DataFrame | None, inline: tuple[dict[str, str], ...], ctx: Context,
                  stored: set[str] = frozenset()) -> pd.DataFrame:
    """Payers from the files (the first row of an ID wins, later ones are rejected), then the map's inline
    payers whose IDs neither the files nor the practice's ``stored`` payers have."""
    names = ["payer_id", "payer_name", "payer_class"]
    rows = pd.DataFrame(columns=names, dtype="str")
    if frame is not None:
        good = frame[frame["_ok"]]
        dup = good.duplicated("payer_id", keep="first")
        ctx.reject(good[dup], "payer_id", "duplicate", "duplicate payer id", "each payer once", good["payer_id"])
        rows = good[~dup].copy()
        rows["payer_name"] = rows["payer_name"].fillna(rows["payer_id"]) if "payer_name" in rows else rows["payer_id"]
    extra = pd.DataFrame(list(inline), columns=names, dtype="str")
    extra = extra[~isin(extra["payer_id"], rows["payer_id"]) & ~isin(extra["payer_id"], stored)]
    return schema.conform("payers", pd.concat([rows[names], extra], ignore_index=True))


def _claim_headers(lines: pd.DataFrame, claims: pd.DataFrame | None, ctx: Context) -> pd.DataFrame:
    """One header row per claim: the claims file's (the first row of an ID; later ones rejected) or, without a
    claims file, each claim's first line with the claim's earliest bill date (lines that disagree with the
    first line on a header value are warned)."""
    if claims is not None:
        headers = claims[claims["claim_id"].notna()]
        dup = headers.duplicated("claim_id", keep="first")
        ctx.reject(headers[dup], "claim_id", "duplicate", "duplicate claim id", "each claim once in the claims file")
        return headers[~dup]
    ordered = lines.sort_values("_order", kind="mergesort")
    first = ordered.drop_duplicates("claim_id", keep="first").copy()
    if first.empty:  # every row of the charges was rejected
        return first
    first["submitted_on"] = first["claim_id"].map(ordered.groupby("claim_id")["submitted_on"].min())
    for name in ("payer_id", "secondary_payer_id", "patient_key", "billing_npi", "rendering_npi", "place_of_service"):
        if name in ordered:
            claim_value = ordered.groupby("claim_id")[name].transform("first")
            ctx.warn(ordered[ordered[name].notna() & (ordered[name] != claim_value)], name, "claim_disagrees",
                     f"lines disagree with their claim's first line on {name}; the first line's value is used")
    return first


def _unknown_payers(headers: pd.DataFrame, known: set[str], ctx: Context) -> pd.Series:
    """Reject the header rows naming a payer missing from the payers (the run's and the practice's stored ones);
    return their mask."""
    bad_any = pd.Series(False, index=headers.index)
    for name in ("payer_id", "secondary_payer_id"):
        if name in headers:
            bad = headers["_ok"] & headers[name].notna() & ~isin(headers[name], known)
            ctx.reject(headers[bad], name, "unknown_payer", "unknown payer",
                       "a payer_id listed in a payers file, the map or the practice's stored payers", headers[name])
            bad_any |= bad
    return bad_any


def _row_keys(rows: pd.DataFrame) -> pd.Series:
    return rows["_file"] + "\x00" + rows["_line"].astype(str)


@dataclass
class Draft:
    """What of a PM export's tables needs nothing of the practice or of the run's X12 files (no payer or claim
    look-up): the charge lines and claim headers checked against each other, and the postings keyed and
    classified. ``rcmkit ingest`` builds it while the X12 files are read (issue #15); what building it said is
    kept apart and added to the export's issues where :func:`build_tables` would have said it."""

    lines: pd.DataFrame | None  # charge lines with a claim id (None: the export has none)
    has_claims_file: bool
    headers: pd.DataFrame
    claim_issues: Issues
    pending: pd.DataFrame
    not_posted: dict[str, int]
    posting_issues: Issues


def draft_tables(records: list[Records], cmap: ColumnMap) -> Draft:
    """The :class:`Draft` of an export's parsed ``records``."""
    columns = {k: v for s in cmap.files for k, v in source_columns(s).items()}
    claim_issues, posting_issues = Issues(), Issues()
    ctx = Context(claim_issues, columns)
    lines, claims, headers = _concat(records, "claim_lines"), _concat(records, "claims"), None
    if lines is not None:
        lines = lines[lines["claim_id"].notna()]
        headers = _claim_headers(lines, claims, ctx)
        if claims is not None:
            orphan = lines["_ok"] & ~isin(lines["claim_id"], headers["claim_id"])
            ctx.reject(lines[orphan], "claim_id", "unknown_claim", "charge line of a claim not in the claims file",
                       "a claim id listed in the claims file")
            lines = lines[~orphan]
            no_lines = headers["_ok"] & ~isin(headers["claim_id"], lines["claim_id"])
            ctx.reject(headers[no_lines], "claim_id", "no_lines", "claim without charge lines",
                       "at least one charge line")
            headers = headers[~no_lines]
    pending, not_posted = _pending_postings(records, cmap.credits, Context(posting_issues, columns))
    return Draft(lines, claims is not None, headers, claim_issues, pending, not_posted, posting_issues)


def _build_claims(draft: Draft, known_payers: set[str], ctx: Context
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, set[str]]:
    """(claims, claim_lines, loaded claim headers, IDs of claims not loaded). A claim loads whole or not at all:
    the first rejected row of a claim (line or header) sinks it, and its other rows are rejected pointing there."""
    if draft.lines is None:
        return schema.empty("claims"), schema.empty("claim_lines"), pd.DataFrame(columns=["claim_id"]), set()
    ctx.issues.extend_lines(draft.claim_issues)
    lines, headers, has_claims_file = draft.lines, draft.headers, draft.has_claims_file
    sunk = _row_keys(headers[_unknown_payers(headers, known_payers, ctx)])
    headers = headers.assign(_ok=headers["_ok"] & ~_row_keys(headers).isin(sunk))
    lines = lines.assign(_ok=lines["_ok"] & ~_row_keys(lines).isin(sunk))
    bad_rows = pd.concat([lines[~lines["_ok"]], headers[~headers["_ok"]] if has_claims_file else None])
    blame = bad_rows.sort_values("_order", kind="mergesort").drop_duplicates("claim_id")
    _cascade(lines, blame, ctx)
    if has_claims_file:
        _cascade(headers, blame, ctx)
    rejected = set(blame["claim_id"])
    lines = lines[~isin(lines["claim_id"], rejected)]
    headers = headers[~isin(headers["claim_id"], rejected)]
    return _claims_table(headers, lines), _lines_table(lines), headers, rejected


def _cascade(rows: pd.DataFrame, blame: pd.DataFrame, ctx: Context) -> None:
    """Reject the good rows of claims that were not loaded, pointing at the row that sank each claim."""
    cause = blame.set_index("claim_id")
    cause = cause["_file"] + " line " + cause["_line"].astype(str)
    hit = rows[rows["_ok"] & isin(rows["claim_id"], cause.index)]
    ctx.reject(hit, "claim_id", "claim_not_loaded", "claim not loaded because of its rejected row at",
               "every row of the claim to be valid", hit["claim_id"].map(cause))


def _claims_table(headers: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    h = headers.set_index("claim_id")
    by_claim = lines.groupby("claim_id")

    def column(name: str, fallback: Any = None) -> pd.Series:
        if name not in h:
            return fallback if isinstance(fallback, pd.Series) else pd.Series(fallback, index=h.index, dtype=object)
        return h[name].fillna(fallback) if isinstance(fallback, pd.Series) else h[name]

    out = pd.DataFrame({
        "submission_id": h.index,
        "frequency_code": "1",
        "claim_type": column("claim_type").fillna("professional"),
        "submitted_on": h["submitted_on"],
        "service_from": column("service_from", by_claim["service_date"].min().reindex(h.index)),
        "service_to": column("service_to", by_claim["service_date"].max().reindex(h.index)),
        "payer_id": h["payer_id"],
        "billing_npi": h["billing_npi"],
        "rendering_npi": column("rendering_npi"),
        "place_of_service": column("place_of_service"),
        "patient_key": h["patient_key"],
        "total_charge_cents": by_claim["charge_cents"].sum().reindex(h.index).astype("int64"),
        "diagnosis_codes": column("diagnosis_codes").map(lambda v: v if isinstance(v, list) else []),
        "payer_claim_ref": None,
        "source": h["_file"] + ":" + h["_line"].astype(str),
    }, index=h.index).rename_axis("claim_id").reset_index()
    return schema.conform("claims", out.sort_values("claim_id", kind="mergesort"))


def _lines_table(lines: pd.DataFrame) -> pd.DataFrame:
    ordered = lines.sort_values(["claim_id", "_order"], kind="mergesort")
    return schema.conform("claim_lines", pd.DataFrame({
        "submission_id": ordered["claim_id"],
        "line_number": ordered.groupby("claim_id").cumcount() + 1,
        "procedure_code": ordered["procedure_code"],
        "modifiers": ordered["modifiers"] if "modifiers" in ordered else "",
        "units": ordered["units"] if "units" in ordered else 1.0,
        "charge_cents": ordered["charge_cents"],
        "service_date": ordered["service_date"],
    }))


# ============================================================================================== postings
#: Columns of a posting waiting for its parties to be resolved (the ``unapplied_postings`` table's).
PENDING_COLUMNS = list(schema.TABLES["unapplied_postings"].names)


def _posting_ids(rows: pd.DataFrame) -> pd.Series:
    """Each posting row's natural key: ``t:`` + the export's transaction id when the map names one, else ``k:``
    + claim|date|kind|reason|party|amount as exported; then ``#`` + its occurrence among equal keys in its file.
    A re-read, corrected or cumulative export gives the same rows the same keys, so only new rows load."""
    text = lambda name: (  # noqa: E731
        rows[name].astype("str").fillna("") if name in rows else pd.Series("", index=rows.index))
    natural = ("k:" + rows["claim_id"].astype(str) + "|" + rows["posted_on"].dt.strftime("%Y-%m-%d") + "|"
               + rows["kind"].astype(str) + "|" + text("reason_code").str.replace(r"[\s-]+", "", regex=True) + "|"
               + text("responsible") + "|"
               + rows["amount_cents"].astype("int64").astype(str))
    txn = rows["transaction_id"] if "transaction_id" in rows else pd.Series(np.nan, index=rows.index, dtype="str")
    base = ("t:" + txn.astype("str")).where(txn.notna(), natural)
    occurrence = base.groupby([rows["_file"], rows["_spec"], base]).cumcount() + 1
    return base + "#" + occurrence.astype(str)


def _pending_postings(records: list[Records], credits: str, ctx: Context) -> tuple[pd.DataFrame, dict[str, int]]:
    """Posting rows as the ledger will hold them, before their claim and parties are looked up: keyed,
    adjustments classified, default parties filled, signs made the ledger's; zero amounts are not posted."""
    rows = _concat(records, "postings")
    if rows is None:
        return pd.DataFrame(columns=PENDING_COLUMNS + ["_file", "_spec", "_line", "_order"]), {}
    rows = rows[rows["_ok"]]
    rows = rows.assign(posting_id=_posting_ids(rows))
    rows, not_posted = _classify(rows, ctx)
    kind = rows["kind"]
    default_party = pd.Series(np.where(kind.isin(["patient_payment", "refund"]), "patient", "primary"),
                              index=rows.index, dtype="str")
    responsible = rows["responsible"].fillna(default_party) if "responsible" in rows else default_party
    given = rows["transfer_to"] if "transfer_to" in rows else pd.Series(np.nan, index=rows.index, dtype="str")
    transfer_to = given.fillna("patient").where(~rows["_to_patient"], "patient").where(kind == "transfer")
    amount = -rows["amount_cents"] if credits == "positive" else rows["amount_cents"]
    rows = rows.assign(responsible=responsible, transfer_to=transfer_to, amount_cents=amount.astype("int64"),
                       source=rows["_file"] + ":" + rows["_line"].astype(str))
    zero = rows["amount_cents"] == 0
    return rows[~zero], {**not_posted, "zero_amount": int(zero.sum())}


def claim_parties(claims: pd.DataFrame) -> pd.DataFrame:
    """``claim_id``, ``payer_id`` (primary) and ``secondary_payer_id`` of each claim of a canonical claims
    table (its first submission that is not a void; no secondary payer is stored with a claim)."""
    if claims is None or claims.empty:
        return pd.DataFrame({"claim_id": pd.Series(dtype="str"), "payer_id": pd.Series(dtype="str"),
                             "secondary_payer_id": pd.Series(dtype="str")})
    needed = ["claim_id", "submitted_on", "submission_id", "frequency_code", "payer_id"]
    ordered = stable_sorted(claims[needed], ["claim_id", "submitted_on", "submission_id"])  # not the lists etc.
    first = drop_duplicates(ordered[ordered["frequency_code"] != "8"], ["claim_id"], adjacent=True)
    return pd.DataFrame({"claim_id": first["claim_id"].to_numpy(), "payer_id": first["payer_id"].to_numpy(),
                         "secondary_payer_id": pd.Series(np.nan, index=range(len(first)), dtype="str")})


def merge_parties(*frames: pd.DataFrame) -> pd.DataFrame:
    """Claim parties from several sources; the first source that knows a claim gives its primary payer, any
    source its secondary payer."""
    both = pd.concat([f for f in frames if f is not None and len(f)] or [claim_parties(None)], ignore_index=True)
    secondary = drop_duplicates(both.dropna(subset=["secondary_payer_id"]), ["claim_id"]).set_index("claim_id")
    out = drop_duplicates(both, ["claim_id"]).set_index("claim_id")
    out["secondary_payer_id"] = secondary["secondary_payer_id"].reindex(out.index)
    return out.reset_index()


def _apply(pending: pd.DataFrame, parties: pd.DataFrame, payers: pd.DataFrame, reject
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(postings, still unapplied): postings on a claim in ``parties`` get their parties resolved and their
    transfers split in two; the others wait. ``reject(rows, field, code, problem, expected, values)`` is told
    about rows whose party cannot be resolved."""
    held = isin(pending["claim_id"], parties["claim_id"])
    waiting = pending[~held]
    rows = _resolve(pending[held], "responsible", parties, payers, reject)
    moves = rows["kind"] == "transfer"
    t = _resolve(rows[moves], "transfer_to", parties, payers, reject)
    t_kind = np.where(t["transfer_to"] == "patient", "patient_responsibility", "other_adjustment")
    out = pd.concat([rows[~moves], t.assign(kind=t_kind),
                     t.assign(kind=t_kind, amount_cents=-t["amount_cents"], responsible=t["transfer_to"],
                              posting_id=t["posting_id"] + "/to")], ignore_index=True)
    order = [c for c in ("_order", "posted_on", "posting_id") if c in out]
    out = out.sort_values(order, kind="mergesort")
    return schema.conform("postings", out), waiting


def apply_postings(pending: pd.DataFrame, parties: pd.DataFrame, payers: pd.DataFrame
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply stored unapplied postings (the ``unapplied_postings`` table) now that more claims are known.

    ``parties``: :func:`claim_parties` of the practice's claims (plus any run's PM claim headers). Returns
    (postings to add, postings still waiting, rejections in the ``csv_rejections`` form for rows whose party
    cannot be resolved, e.g. a payer the practice does not know)."""
    issues = Issues()
    where = pending["source"].fillna("?:0").str.rsplit(":", n=1, expand=True) if len(pending) else None
    rows = pending.assign(_file=where[0] if where is not None else "", _spec="",
                          _line=pd.to_numeric(where[1], errors="coerce").fillna(0).astype("int64")
                          if where is not None else 0)
    ctx = Context(issues, {})
    postings, waiting = _apply(rows, parties, payers, ctx.reject)
    return postings, schema.conform("unapplied_postings", waiting), issues.line_rejections()


def _classify(rows: pd.DataFrame, ctx: Context) -> tuple[pd.DataFrame, dict[str, int]]:
    """Give ``adjustment`` rows a kind from their CARC through rcmkit's crosswalk (PR codes become transfers to
    the patient; no code, an ``other_adjustment``); drop codes that move no money, with a warning."""
    reason = rows["reason_code"] if "reason_code" in rows else pd.Series(np.nan, index=rows.index, dtype="str")
    adjustment = rows["kind"] == "adjustment"
    parts = reason[adjustment].str.extract(r"^(?:(?P<group>[A-Z]{2})[\s-]*)?(?P<code>[A-Z0-9]{1,5})$")
    malformed = reason[adjustment].notna() & parts["code"].isna()
    ctx.reject(rows.loc[malformed.index[malformed]], "reason_code", "bad_reason", "unparseable reason code",
               "a CARC such as CO-45, PR-2 or 45", reason)
    coded = parts[parts["code"].notna()]
    treatment = pd.Series(classify_adjustments(pd.DataFrame({
        "group_code": coded["group"].fillna("").to_numpy(), "reason_code": coded["code"].to_numpy(),
    }))["treatment"].to_numpy(), index=coded.index, dtype="str")
    kind = rows["kind"].copy()
    kind[adjustment] = "other_adjustment"
    kind[coded.index] = treatment.map({"contractual": "contractual", "denial": "denial", "patient": "transfer"})
    silent = kind.isna()
    ctx.warn(rows[silent], "reason_code", "not_posted",
             "adjustments whose reason code moves no money (e.g. OA-23 prior payer, OA-18 duplicate); not posted")
    to_patient = pd.Series(False, index=rows.index)
    to_patient[coded.index] = treatment == "patient"
    keep = ~silent & ~rows.index.isin(malformed.index[malformed])
    return rows.assign(kind=kind, _to_patient=to_patient)[keep], {"adjustments_not_posted": int(silent.sum())}


def _resolve(rows: pd.DataFrame, name: str, parties: pd.DataFrame, payers: pd.DataFrame, reject) -> pd.DataFrame:
    """Turn a party column into ledger ``responsible`` values: 'patient' or a known payer ID. 'primary' and
    'secondary' are the claim's payers, and a self-pay payer is the patient. Unresolvable rows are rejected."""
    party = rows[name]  # parties: one row per claim (merge_parties)
    value = party.where(party != "primary", lookup(rows["claim_id"], parties["claim_id"], parties["payer_id"]))
    value = value.where(party != "secondary",
                        lookup(rows["claim_id"], parties["claim_id"], parties["secondary_payer_id"]))
    self_pay = set(payers.loc[payers["payer_class"] == "self_pay", "payer_id"]) | {"SELF"}
    value = value.where(~value.isin(self_pay), "patient")
    no_secondary = (party == "secondary") & value.isna()
    unknown = value.notna() & (value != "patient") & ~value.isin(set(payers["payer_id"]))
    reject(rows[no_secondary], name, "no_secondary_payer", "the claim has no secondary payer on record",
           "a claim whose charges name a secondary payer")
    reject(rows[unknown], name, "unknown_payer", "unknown payer",
           "a payer_id listed in a payers file, the map or the practice's stored payers, or patient, primary, "
           "secondary", party)
    return rows.assign(**{name: value})[~(no_secondary | unknown)]


# ============================================================================================== contracts
def _build_contracts(records: list[Records], known_payers: set[str], ctx: Context) -> pd.DataFrame:
    """Contracted rates (payer x code x modifiers x effective date -> allowed per unit). Within a run a later
    row of the same key replaces an earlier one (warned); a payer not known yet is warned, not refused (a fee
    schedule may arrive before the payer's first claim)."""
    rows = _concat(records, "contracts")
    if rows is None:
        return schema.empty("contracts")
    rows = rows[rows["_ok"]]
    negative = rows["allowed_cents"] < 0
    ctx.reject(rows[negative], "allowed_cents", "bad_amount", "negative contracted amount",
               "an allowed amount of 0 or more per unit")
    rows = rows[~negative].assign(modifiers=rows["modifiers"] if "modifiers" in rows else "")
    key = ["payer_id", "procedure_code", "modifiers", "effective_from"]
    repeated = rows.duplicated(key, keep="last")
    ctx.warn(rows[repeated], "procedure_code", "contract_repeated",
             "rates listed again later for the same payer, code, modifiers and date; the last one is used")
    rows = rows[~repeated]
    ctx.warn(rows[~isin(rows["payer_id"], known_payers)], "payer_id", "contract_payer_unknown",
             "contracts for payers the practice does not know yet; loaded (check the payer IDs)")
    return schema.conform("contracts", rows.sort_values(key, kind="mergesort"))


def _build_providers(records: list[Records]) -> pd.DataFrame:
    """Provider names a charges or claims file gives beside the NPIs (rendering_name, billing_name)."""
    frames = []
    for r in records:
        f = r.frame[r.frame["_ok"]]
        for npi, name in (("rendering_npi", "rendering_name"), ("billing_npi", "billing_name")):
            if npi in f and name in f:
                part = f.dropna(subset=[npi, name])
                frames.append(pd.DataFrame({"npi": part[npi], "name": part[name], "entity_type": None,
                                            "source": part["_file"] + ":" + part["_line"].astype(str)}))
    if not frames:
        return schema.empty("providers")
    out = pd.concat(frames, ignore_index=True).drop_duplicates("npi", keep="last")
    return schema.conform("providers", out.sort_values("npi", kind="mergesort"))


# ============================================================================================== all tables
def build_tables(records: list[Records], cmap: ColumnMap, known: Mapping[str, pd.DataFrame] | None, issues: Issues,
                 draft: Draft | None = None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict[str, int]]:
    """(tables, parties of the run's claims, counts of rows not posted) from the parsed ``records`` of one export;
    ``known``: the practice's stored ``payers`` and ``claims`` (see :func:`rcmkit.ingest.pm.read_pm_export`);
    ``draft``: their :func:`draft_tables`, when built already (made here otherwise)."""
    draft = draft_tables(records, cmap) if draft is None else draft
    ctx = Context(issues, {k: v for s in cmap.files for k, v in source_columns(s).items()})
    known = dict(known or {})
    stored_payers = known.get("payers") if known.get("payers") is not None else schema.empty("payers")
    payers = _build_payers(_concat(records, "payers"), cmap.payers, ctx, set(stored_payers["payer_id"]))
    all_payers = pd.concat([payers, stored_payers[~isin(stored_payers["payer_id"], payers["payer_id"])]],
                           ignore_index=True)
    known_payer_ids = set(all_payers["payer_id"])
    claims, lines, headers, rejected = _build_claims(draft, known_payer_ids, ctx)
    issues.extend_lines(draft.posting_issues)
    pending, not_posted = draft.pending, draft.not_posted
    run_parties = headers.reindex(columns=["claim_id", "payer_id", "secondary_payer_id"]).astype("str")
    parties = merge_parties(claim_parties(known.get("claims")), run_parties)
    postings, waiting = _apply(pending, parties, all_payers, ctx.reject)
    ctx.warn(waiting[isin(waiting["claim_id"], rejected)], "claim_id", "claim_not_loaded",
             "postings on claims whose charges were rejected in this run; they wait in suspense for the claim")
    tables = {"payers": payers, "claims": claims, "claim_lines": lines, "postings": postings,
              "unapplied_postings": schema.conform("unapplied_postings", waiting),
              "contracts": _build_contracts(records, known_payer_ids, ctx), "providers": _build_providers(records)}
    return tables, run_parties, not_posted
