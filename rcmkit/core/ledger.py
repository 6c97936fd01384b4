"""The transaction ledger: every financial event on a claim, derived from the other canonical tables.

A/R is computed from the ledger only: the A/R of a claim as of a date is the sum of its ledger amounts posted on
or before that date (DESIGN.md, "Canonical tables"). Posting rules:

* **charge** (+): once per claim, on its first submission that is not a void (``submitted_on``), for its
  ``total_charge_cents``; responsible is the claim's payer, or ``"patient"`` for a self-pay payer. A replacement
  (frequency 7) or a duplicate posts no new charge. A claim whose *last* submission is a void (frequency 8) is
  withdrawn: the void posts the charge back (a negative ``charge``) on its date.
* **insurance_payment** (-): 835 CLP04 on ``paid_on``; responsible is the paying payer.
* **reversal** (+): CLP02 = 22 negates an earlier payment (its CLP04 is negative, so the ledger amount is positive).
* **contractual** (-): CAS adjustments the CARC crosswalk treats as contractual (CO-45, CO-253, ...). A
  reversal's negated contractual re-debits the claim.
* **patient_responsibility**: a PR adjustment moves the amount from the payer to the patient: one row ``-x`` for
  the payer and one ``+x`` for the patient. Total A/R is unchanged.
* **denial**: by default (``denial_policy="keep_in_ar"``) an 835 denial does **not** post: the denied balance
  stays in A/R and ages until it is paid on resubmission or written off by a practice write-off (a ``postings``
  row of kind ``denial``). The variant ``"at_remit"`` posts the 835's denial adjustment as a credit at once; it
  flatters days in A/R exactly when denials rise, so it is never the default. Under it, a later adjudication of
  the same claim takes the denial credit back, and practice denial write-offs are not posted a second time.
* OA-23 (prior payer) and OA-18 (duplicate) do not post: neither moves money on this claim.
* **postings** (patient payments, write-offs, refunds recorded by the practice) are appended as they are.
"""

from __future__ import annotations

import os
import re

import narwhals as nw
import numpy as np
import pandas as pd

from rcmkit.core import schema

from rcmkit.core import store
from rcmkit.core.frames import drop_duplicates, positions
from rcmkit.core.refdata import classify_adjustments

__all__ = ["DENIAL_POLICIES", "build_ledger", "write_ledger", "REVERSAL_STATUS", "NON_PAYMENT_STATUSES", "event_order",
           "sort_events", "with_event_order", "self_pay_ids"]

DENIAL_POLICIES = ("keep_in_ar", "at_remit")
REVERSAL_STATUS = "22"
#: CLP02 values that are not payments at all: predetermination (25) and reviewed (27) claims.
NON_PAYMENT_STATUSES = ("25", "27")

_LEDGER_COLUMNS = schema.TABLES["ledger"].names


def self_pay_ids(payers: pd.DataFrame | None) -> set[str]:
    """The payer ids whose claims the patient owes from the start (class ``self_pay``, and ``SELF``): a claim's
    charge is posted to ``"patient"`` for them. When a payer's class changes, the ledger of its claims does."""
    if payers is None or payers.empty:
        return {"SELF"}
    return set(payers.loc[payers["payer_class"] == "self_pay", "payer_id"]) | {"SELF"}


_self_pay_ids = self_pay_ids


def stable_sorted(df: pd.DataFrame, by: list[str], rows: np.ndarray | None = None) -> pd.DataFrame:
    """``df.sort_values(by, kind="mergesort")`` (ascending, missing values last, ties in their order), sorted by
    arrow's stable sort (issue #15: pandas factorizes every string key first: ~1.5 s for a 250,000-claim ledger).
    Strings compare by code point in both (UTF-8 bytes in arrow). Keys arrow cannot take go to pandas. ``rows``:
    only these positions of ``df`` (``df.iloc[rows]`` sorted, with one take of the frame instead of two)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        keys = pa.Table.from_pandas(df[by], preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        return (df if rows is None else df.iloc[rows]).sort_values(by, kind="mergesort")
    if any(pa.types.is_floating(t) or not (pa.types.is_string(t) or pa.types.is_large_string(t)
                                           or pa.types.is_integer(t) or pa.types.is_timestamp(t)
                                           or pa.types.is_date(t) or pa.types.is_boolean(t))
           for t in keys.schema.types):  # NaN's place differs; other types: pandas' own rules
        return (df if rows is None else df.iloc[rows]).sort_values(by, kind="mergesort")
    if rows is not None:
        keys = keys.take(pa.array(rows))
    order = pc.sort_indices(keys, sort_keys=[(c, "ascending", "at_end") for c in by]).to_numpy()
    return df.iloc[order if rows is None else rows[order]]


def _charges(claims: pd.DataFrame, self_pay: set[str]) -> pd.DataFrame:
    needed = ["claim_id", "submitted_on", "submission_id", "frequency_code", "payer_id", "total_charge_cents"]
    ordered = stable_sorted(claims[needed], ["claim_id", "submitted_on", "submission_id"])
    first = drop_duplicates(ordered[ordered["frequency_code"] != "8"], ["claim_id"], keep="first", adjacent=True)
    responsible = first["payer_id"].where(~first["payer_id"].isin(self_pay), "patient")
    charges = pd.DataFrame(
        {
            "claim_id": first["claim_id"],
            "posted_on": first["submitted_on"],
            "kind": "charge",
            "amount_cents": first["total_charge_cents"],
            "responsible": responsible,
        }
    )
    last = drop_duplicates(ordered, ["claim_id"], keep="last", adjacent=True)
    voided = last[last["frequency_code"] == "8"].merge(
        charges[["claim_id", "amount_cents", "responsible"]], on="claim_id", how="inner"
    )
    voids = pd.DataFrame(
        {
            "claim_id": voided["claim_id"],
            "posted_on": voided["submitted_on"],
            "kind": "charge",
            "amount_cents": -voided["amount_cents"],
            "responsible": voided["responsible"],
        }
    )
    return pd.concat([charges, voids], ignore_index=True)


def _payments(remittances: pd.DataFrame) -> pd.DataFrame:
    r = remittances[["claim_id", "paid_on", "status_code", "paid_cents", "payer_id"]]
    r = r[~r["status_code"].isin(NON_PAYMENT_STATUSES) & (r["paid_cents"] != 0)]
    return pd.DataFrame(
        {
            "claim_id": r["claim_id"],
            "posted_on": r["paid_on"],
            "kind": pd.Series(np.where(r["status_code"] == REVERSAL_STATUS, "reversal", "insurance_payment"),
                              index=r.index, dtype="str"),
            "amount_cents": -r["paid_cents"],
            "responsible": r["payer_id"],
        }
    )


def _rows(df: pd.DataFrame, kind, amount, responsible, posted_on=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "claim_id": df["claim_id"],
            "posted_on": df["paid_on"] if posted_on is None else posted_on,
            "kind": kind,
            "amount_cents": amount,
            "responsible": responsible,
        }
    )


_POSITION = re.compile(r"^(?P<file>.*)#(?P<segment>\d+)$")
_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> tuple:
    """Natural sort key: digit runs compare as numbers ('R9' < 'R10', 'R09' == 'R9' in rank), text as text.
    re.split with a capturing group alternates text and digits, so keys of any two ids compare element-wise."""
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def event_order(remittances: pd.DataFrame, ids=None) -> pd.Series:
    """A rank (0, 1, ...) of the given remit_ids (default: every remittance) in the order their events happened
    within one day, indexed by remit_id.

    Within one 835 the file's segment order rules (a reversal and its correction sit side by side): the order key
    is the source file, then the CLP's segment number as an integer (``source`` is '<file>#<segment number>', as
    rcmkit.ingest.x12.era835 writes it), so '...:102' follows '...:92'. Ids without a position (the demo, hand-built
    tables, tables loaded without the ``source`` column) follow a natural sort of the id's digit runs; the
    remit_id's natural key breaks any remaining tie. Use it wherever same-day events are ordered, never the
    remit_id string (DESIGN.md: "order by position, never by an identifier's string"); :func:`sort_events` sorts
    a frame with it, :func:`with_event_order` is its form for lazy (DuckDB, Spark) frames.
    """
    ids = list(remittances["remit_id"].unique() if ids is None else ids)
    sources = {}
    if "source" in remittances.columns:
        sub = remittances.loc[remittances["remit_id"].isin(ids), ["remit_id", "source"]]
        sources = dict(zip(sub["remit_id"], sub["source"]))

    def key(rid: str) -> tuple:
        m = _POSITION.match(str(sources.get(rid) or ""))
        if m:
            return (0, _natural(m.group("file")), int(m.group("segment")), _natural(str(rid)))
        return (1, (), 0, _natural(str(rid)))

    ordered = sorted(ids, key=key)
    return pd.Series(range(len(ordered)), index=pd.Index(ordered, dtype=object))


#: Kept for callers of the earlier private name.
_event_order = event_order


def sort_events(frame: pd.DataFrame, by=("claim_id", "paid_on"), remittances: pd.DataFrame | None = None
                ) -> pd.DataFrame:
    """``frame`` (rows carrying a ``remit_id``) sorted by the columns ``by``, rows tied on all of them in
    :func:`event_order` (looked up in ``remittances``, default ``frame`` itself, for the ``source`` column). Only
    the tied rows are ranked, so a large table costs one vectorised sort plus a Python sort of its ties."""
    by = list(by)
    remittances = frame if remittances is None else remittances
    tied = frame.duplicated(by, keep=False).to_numpy()
    rank = pd.Series(0, index=frame.index, dtype="int64")
    if tied.any():
        rids = frame.loc[tied, "remit_id"]
        rank[tied] = rids.map(event_order(remittances, rids.unique())).to_numpy(dtype="int64")
    return frame.assign(_event_rank=rank).sort_values(by + ["_event_rank"], kind="mergesort").drop(
        columns="_event_rank")


_TRAILING_DIGITS = r"[0-9]{1,18}$"
EVENT_ORDER_COLUMNS = ("_event_unplaced", "_event_file", "_event_segment", "_event_stem", "_event_number",
                       "remit_id")


def with_event_order(frame: nw.LazyFrame) -> tuple[nw.LazyFrame, list[str]]:
    """:func:`event_order` for a lazy frame of remittances on any engine (pandas, DuckDB, Spark): the frame with
    sortable helper columns added, and the columns to order by (after the date). The columns are plain strings and
    64-bit integers every engine sorts alike: whether ``source`` has a position, the file, the segment number as
    an integer (92 before 102), then the remit_id's text before its trailing digit run and that run as an integer
    (a natural sort of the id's last number: 'R9' before 'R10', '...:92' before '...:102' when ``source`` is
    absent), then the remit_id itself. It agrees with :func:`event_order` on every 835 ingested by rcmkit; for
    hand-built ids differing in an inner digit run, or events of two files on one day, it may order them
    differently (string order of the file name and of the id's stem), identically on every engine."""
    names = frame.collect_schema().names()
    rid = nw.col("remit_id")
    if "source" in names:
        source = nw.col("source").fill_null("")
        placed = source.str.contains(r"#" + _TRAILING_DIGITS)
        file = nw.when(placed).then(source.str.replace_all(r"#" + _TRAILING_DIGITS, "")).otherwise(nw.lit(""))
        segment = nw.when(placed).then(source.str.replace_all(r"^.*#", "")).otherwise(nw.lit("0")).cast(nw.Int64)
        unplaced = nw.when(placed).then(nw.lit(0)).otherwise(nw.lit(1)).cast(nw.Int64)
    else:
        file, segment, unplaced = nw.lit(""), nw.lit(0).cast(nw.Int64), nw.lit(1).cast(nw.Int64)
    numbered = rid.str.contains(_TRAILING_DIGITS)
    stem = nw.when(numbered).then(rid.str.replace_all(_TRAILING_DIGITS, "")).otherwise(rid)
    # The trailing run: everything up to the last non-digit removed (no capture groups, whose syntax differs by
    # engine), its last 18 digits kept so the integer fits 64 bits.
    number = nw.when(numbered).then(rid.str.replace_all(r"^.*[^0-9]", "")).otherwise(nw.lit("-1"))
    out = frame.with_columns(_event_unplaced=unplaced, _event_file=file, _event_segment=segment, _event_stem=stem,
                             _event_number=number)
    out = out.with_columns(_event_number=nw.col("_event_number").str.tail(18).cast(nw.Int64))
    return out, list(EVENT_ORDER_COLUMNS)


def _denial_rows(remittances: pd.DataFrame, denials: pd.DataFrame) -> pd.DataFrame:
    """The ``at_remit`` variant: a denial credits the claim when its 835 posts, and the credit is taken back when
    a later adjudication of the same claim arrives (the resubmission's payment then settles the balance)."""
    if denials.empty:  # (an empty practice: the methods section's definitions are computed on one)
        return _rows(denials, "denial", denials["amount_cents"], denials["payer_id"])
    later = denials[["claim_id", "remit_id", "paid_on"]].merge(
        remittances.loc[remittances["status_code"] != REVERSAL_STATUS, ["claim_id", "remit_id", "paid_on"]],
        on="claim_id", suffixes=("", "_next"),
    )
    same_day = later["paid_on_next"] == later["paid_on"]
    if same_day.any():
        tied = later.loc[same_day]
        rank = event_order(remittances, pd.concat([tied["remit_id"], tied["remit_id_next"]]).unique())
        after = pd.Series(False, index=later.index)
        after[same_day] = tied["remit_id_next"].map(rank) > tied["remit_id"].map(rank)
    else:
        after = same_day
    later = later[(later["paid_on_next"] > later["paid_on"]) | after]
    next_date = later.groupby("remit_id")["paid_on_next"].min()
    undone = denials[denials["remit_id"].isin(next_date.index)]
    return pd.concat(
        [
            _rows(denials, "denial", -denials["amount_cents"], denials["payer_id"]),
            _rows(undone, "denial", undone["amount_cents"], undone["payer_id"],
                  posted_on=undone["remit_id"].map(next_date)),
        ],
        ignore_index=True,
    )


def _with_remittance(adj: pd.DataFrame, remits: pd.DataFrame) -> pd.DataFrame:
    """``adj.merge(remits, on="remit_id", how="inner")``: left order, a fresh index. When the remittances' ids
    are distinct and no id is missing (a canonical table's), by each adjustment's position among them (one arrow
    hash look-up; pandas' join cost ~0.25 s for a 250,000-claim practice: issue #15)."""
    ids = remits["remit_id"]
    if ids.isna().any() or adj["remit_id"].isna().any() or not ids.is_unique:
        return adj.merge(remits, on="remit_id", how="inner")
    at = positions(adj["remit_id"], ids)
    found = at >= 0
    left = adj[found].reset_index(drop=True)
    right = remits.drop(columns="remit_id").iloc[at[found]].reset_index(drop=True)
    return pd.concat([left, right], axis=1)


def _adjustment_rows(remittances: pd.DataFrame, adjustments: pd.DataFrame, denial_policy: str) -> pd.DataFrame:
    adj = _with_remittance(classify_adjustments(adjustments[["remit_id", "group_code", "reason_code", "amount_cents"]]),
                           remittances[["remit_id", "claim_id", "payer_id", "paid_on", "status_code"]])
    adj = adj[~adj["status_code"].isin(NON_PAYMENT_STATUSES) & (adj["amount_cents"] != 0)]
    contractual = adj[adj["treatment"] == "contractual"]
    pr = adj[adj["treatment"] == "patient"]
    frames = [
        _rows(contractual, "contractual", -contractual["amount_cents"], contractual["payer_id"]),
        _rows(pr, "patient_responsibility", -pr["amount_cents"], pr["payer_id"]),
        _rows(pr, "patient_responsibility", pr["amount_cents"], "patient"),
    ]
    if denial_policy == "at_remit":
        frames.append(_denial_rows(remittances, adj[adj["treatment"] == "denial"]))
    return pd.concat(frames, ignore_index=True)


def build_ledger(tables: dict[str, pd.DataFrame], *, denial_policy: str = "keep_in_ar") -> pd.DataFrame:
    """Derive the ledger from ``claims``, ``remittances``, ``adjustments``, ``postings`` (and ``payers``).

    Pure and vectorized: inputs are not modified; the result is sorted by (claim_id, posted_on, kind,
    responsible, amount) so the same inputs give byte-identical output.
    """
    if denial_policy not in DENIAL_POLICIES:
        raise ValueError(f"denial_policy must be one of {DENIAL_POLICIES}, got {denial_policy!r}")
    get = lambda name: tables.get(name) if tables.get(name) is not None else schema.empty(name)  # noqa: E731
    claims, remits, adjustments, postings = get("claims"), get("remittances"), get("adjustments"), get("postings")
    parts = [
        _charges(claims, _self_pay_ids(tables.get("payers"))),
        _payments(remits),
        _adjustment_rows(remits, adjustments, denial_policy),
        # Under "at_remit" the 835 denial already took the balance: a practice denial write-off would count twice.
        postings.loc[(postings["kind"] != "denial") | (denial_policy == "keep_in_ar"), _LEDGER_COLUMNS],
    ]
    parts = [p for p in parts if len(p)]
    ledger = pd.concat(parts, ignore_index=True) if parts else schema.empty("ledger")
    if ledger.empty:
        ledger = schema.empty("ledger")
        return ledger
    moving = np.flatnonzero(ledger["amount_cents"].to_numpy() != 0)  # zero amounts are left out
    ledger = stable_sorted(ledger, ["claim_id", "posted_on", "kind", "responsible", "amount_cents"], rows=moving
                           ).reset_index(drop=True)
    ledger = schema.conform("ledger", ledger)
    return ledger


def write_ledger(root: str | os.PathLike, practice: str) -> pd.DataFrame:
    """Rebuild the practice's stored ledger (default policy) from its stored tables, under the practice lock
    (so a concurrent ingest's rows are never overwritten); returns it."""
    names = ["payers", "claims", "remittances", "adjustments", "postings"]
    built: dict[str, pd.DataFrame] = {}

    def change(current: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        built["ledger"] = build_ledger(current)
        return built

    store.update_tables(root, practice, names, change)
    return built["ledger"]
