"""Claims and denials: first adjudications, clean-claim rate, initial denial rate, denial reasons.

Sources: HFMA Claim Integrity Task Force (2020) initial denial rate, count and dollars; AAFP denial rate ($ denied /
$ submitted, < 5% desirable); HFMA MAP Key CL-1 clean claim rate is a *pre-submission scrubber* measure that 835s
cannot compute, so rcmkit's default is the payer first-pass variant (industry "clean claim" / first-pass
resolution); X12 CARC list and CAQH CORE business scenarios for the denial categories. See
../shared/reference/kpi-anchors.md sections 1.3, 1.4, 3.5 and 4.
"""

from __future__ import annotations

from typing import Any, Mapping

import narwhals as nw
import pandas as pd

from rcmkit.core.engine import (
    between, collect, engine_of, held, int_sum, lazy, lazy_tables, like, materialize, on_or_before,
)
from rcmkit.core.ledger import NON_PAYMENT_STATUSES, REVERSAL_STATUS, with_event_order
from rcmkit.core.refdata import classify_adjustments
from rcmkit.core.frames import isin
from rcmkit.metrics._common import (
    KPI, MetricOptions, Prepared, as_int, month_window, pandas_only, ratio, table_rows,
)
from rcmkit.metrics.ar import claim_first_submissions, first_rows, first_submissions_frame, month_number, ym

__all__ = ["first_adjudications", "first_adjudications_frame", "first_adjudications_in_month", "in_month",
           "remit_flags", "remit_flags_frame",
           "clean_claim_rate", "initial_denial_rate", "denial_reasons", "denial_rates_by", "denial_outcomes",
           "clean_counts", "denial_sums"]

#: CLP02 = 4: denied (in 5010 only when the patient is not recognised).
DENIED_STATUS = "4"


def remit_flags_frame(tables: Mapping[str, Any]) -> nw.LazyFrame:
    """Per adjudication (non-reversal, non-predetermination remittance): denial and duplicate flags, lazily
    (on pandas computed once per :class:`~rcmkit.metrics.Prepared` tables)."""
    if isinstance(tables, Prepared):
        # computed once on pandas tables; on DuckDB and Spark the query, planned into each query that reads it
        # (materializing every remittance there would cost more than the KPI suite itself): engine.held
        return tables.memo("remit_flags", lambda: held(_remit_flags_frame(tables)))
    return _remit_flags_frame(tables)


def _remit_flags_frame(tables: Mapping[str, Any], claims: pd.DataFrame | None = None) -> nw.LazyFrame:
    """The flags of every adjudication, or (``claims``: a frame of distinct claim_id) of those claims' only: their
    remittances first, then the adjustments of those remittances alone."""
    t = lazy_tables(tables, ["remittances", "adjustments"])
    remits = t["remittances"].filter(~nw.col("status_code").is_in([REVERSAL_STATUS, *NON_PAYMENT_STATUSES]))
    adj = t["adjustments"]
    if claims is not None:
        remits = remits.join(like(claims, remits), on="claim_id", how="semi")
        adj = adj.join(remits.select("remit_id"), on="remit_id", how="semi")
    # flags of every remittance; the join below keeps the adjudications'
    adj = classify_adjustments(adj)
    flags = (adj.with_columns(
                 _denial=((nw.col("treatment") == "denial") & (nw.col("amount_cents") > 0)).cast(nw.Int8),
                 _duplicate=(nw.col("treatment") == "duplicate").cast(nw.Int8))
             .group_by("remit_id").agg(nw.col("_denial").max(), nw.col("_duplicate").max()))
    out = remits.join(flags, on="remit_id", how="left").with_columns(
        any_denial=(nw.col("_denial").fill_null(0) == 1) | (nw.col("status_code") == DENIED_STATUS),
        duplicate=nw.col("_duplicate").fill_null(0) == 1,
    ).drop("_denial", "_duplicate")
    return out.with_columns(
        full_denial=(nw.col("any_denial") & (nw.col("paid_cents") == 0)) | (nw.col("status_code") == DENIED_STATUS))


def remit_flags(tables: Mapping[str, Any], claims: pd.DataFrame | None = None, *, as_of=None) -> pd.DataFrame:
    """:func:`remit_flags_frame` collected to pandas, in remit_id order (for the pandas-only work lists): the
    remittance's columns plus any_denial, duplicate and full_denial. ``claims``: only the remittances of these
    claims (a frame with a claim_id column), ``as_of``: only those paid by then; both filtered on the engine."""
    keys = None if claims is None else claims[["claim_id"]].drop_duplicates().reset_index(drop=True)
    frame = remit_flags_frame(tables)
    if keys is not None and engine_of(frame) in ("duckdb", "spark"):
        # the flags left a query on the engine (engine.held): flag the claims' remittances only, not every
        # remittance's adjustments grouped and then joined (issue #15: 8.8 s of DuckDB in a report at 10 M lines)
        frame, keys = _remit_flags_frame(tables, keys), None
    if as_of is not None:
        frame = frame.filter(on_or_before(frame, "paid_on", as_of))
    if keys is not None:
        frame = frame.join(like(keys, frame), on="claim_id", how="semi")
    return collect(frame.sort("remit_id"))


def first_adjudications_frame(tables: Mapping[str, Any], options: MetricOptions = MetricOptions()) -> nw.LazyFrame:
    """:func:`first_adjudications` as a lazy frame on the tables' engine (without the 'month' column): the one
    computation of first adjudications, which the KPIs filter to their month with :func:`in_month` (on pandas
    computed once per :class:`~rcmkit.metrics.Prepared` tables and denial scope; on DuckDB and Spark a query
    planned into each query that reads it, unless :func:`pinned_first_adjudications` computed it once)."""
    if isinstance(tables, Prepared):
        return tables.memo(_first_key(options), lambda: held(_first_adjudications_frame(tables, options)))
    return _first_adjudications_frame(tables, options)


def _first_key(options: MetricOptions) -> tuple:
    return ("first_adjudications", options.denial_scope)


def pinned_first_adjudications(tables: Mapping[str, Any], options: MetricOptions = MetricOptions()) -> nw.LazyFrame:
    """:func:`first_adjudications_frame` computed now, once (materialized on every engine), and on
    :class:`~rcmkit.metrics.Prepared` tables kept in their memo, so every later reader shares the result instead
    of running the query again: for callers that know many queries follow (a trend reads it for every month; the
    report's suite, trend, work lists, scorecard and caught denials each read it, about 12 s of DuckDB each at
    10 M claim lines). A single KPI set is better served by the query: its month's filter reads it once."""
    if isinstance(tables, Prepared):
        first_adjudications_frame(tables, options)
        return tables.pin(_first_key(options))
    return materialize(_first_adjudications_frame(tables, options))


def first_adjudications_in_month(tables: Mapping[str, Any], month: str,
                                 options: MetricOptions = MetricOptions()) -> nw.LazyFrame:
    """``in_month(first_adjudications_frame(tables, options), month)``: the month's cohort. Where every claim's
    first adjudication is not at hand (a lone KPI set on DuckDB or Spark: not pinned), only the claims whose
    earliest adjudication day falls in the month are ranked, on that day's rows (issue #15: ranking every
    adjudication in event order was a quarter of the KPI suite at 1 M claim lines). The same rows: a claim's first
    adjudication is the first, in event order, of its rows on its earliest ``paid_on`` (never missing)."""
    kind = engine_of(lazy_tables(tables, ["remittances"])["remittances"])
    if kind in ("pandas", "polars") or (isinstance(tables, Prepared) and tables.is_pinned(_first_key(options))):
        return in_month(first_adjudications_frame(tables, options), month)
    return _first_adjudications_frame(tables, options, month=month)


def _first_adjudications_frame(tables: Mapping[str, Any], options: MetricOptions, month: str | None = None
                               ) -> nw.LazyFrame:
    """Every claim's first adjudication; with ``month``, only those of the claims whose earliest adjudication
    day is in the month (:func:`first_adjudications_in_month`)."""
    adjudications = remit_flags_frame(tables).filter(~nw.col("duplicate"))
    claims = lazy_tables(tables, ["claims"])["claims"]
    if month is not None:
        window = month_window(month)
        days = adjudications.group_by("claim_id").agg(nw.col("paid_on").min().alias("_first_day"))
        days = days.filter(between(days, "_first_day", window.start, window.end))
        adjudications = (adjudications.join(days, on="claim_id", how="inner")
                         .filter(nw.col("paid_on") == nw.col("_first_day")).drop("_first_day"))
    # Same-day ties go to the earlier event in the 835 (file, CLP segment number as an integer), not to the lower
    # remit_id string ('...:102' < '...:92'): rcmkit.core.ledger.event_order, as sortable columns for every engine.
    adjudications, order = with_event_order(adjudications)
    first = first_rows(adjudications, "claim_id", ["paid_on", *order])
    firsts = first_submissions_frame(tables, computed_only=True)
    if firsts is None:  # (every claim's: restricted to the month's claims, DuckDB would plan their days again)
        firsts = claim_first_submissions(claims)
    not_original = firsts.filter(nw.col("frequency_code").is_in(["7", "8"])).select("claim_id")
    first = first.join(not_original, on="claim_id", how="anti")
    denied = nw.col("any_denial") if options.denial_scope == "any" else nw.col("full_denial")
    return first.with_columns(denied=denied).select(
        "claim_id", "remit_id", "payer_id", "paid_on", "billed_cents", "paid_cents", "any_denial", "full_denial",
        "denied")


def first_adjudications(
    tables: Mapping[str, pd.DataFrame], options: MetricOptions = MetricOptions(), *, month: str | None = None
) -> pd.DataFrame:
    """Each claim's first adjudication: its earliest 835 claim payment that is not a reversal (CLP02 22), not a
    predetermination (25/27) and not a duplicate-claim rejection (OA-18). Ties on the payment date go to the
    earlier event: file, then CLP segment number (:func:`rcmkit.core.ledger.with_event_order`), never the remit_id
    string. Claims whose first known submission is a replacement or void (7/8) are left out: those are not new
    claims in any denominator (DESIGN.md, 837 CLM05-3).

    Returns claim_id, remit_id, payer_id, paid_on, month ('YYYY-MM' of paid_on), billed_cents, paid_cents,
    any_denial, full_denial and ``denied`` (per ``options.denial_scope``); with ``month``, only the claims first
    adjudicated in that month. :func:`first_adjudications_frame` collected to pandas, in claim_id order.
    """
    if isinstance(tables, Prepared):  # the work lists, the scorecard and the scrub each ask; a copy each
        return tables.memo(("first_adjudications_pandas", options.denial_scope, month),
                           lambda: _first_adjudications(tables, options, month)).copy()
    return _first_adjudications(tables, options, month)


def _first_adjudications(tables: Mapping[str, Any], options: MetricOptions, month: str | None) -> pd.DataFrame:
    first = first_adjudications_frame(tables, options)
    first = collect((first if month is None else in_month(first, month)).sort("claim_id"))
    first.insert(4, "month", first["paid_on"].dt.to_period("M").astype(str))
    for col in ("any_denial", "full_denial", "denied"):
        first[col] = first[col].astype(bool)
    return first


def in_month(first: Any, month: str) -> nw.LazyFrame:
    """The rows of ``first`` (first adjudications: :func:`first_adjudications_frame`, or a native frame of them)
    paid in ``month``, as a lazy frame on their engine: the cohort of the month's claim and denial KPIs."""
    window = month_window(month)
    first = lazy(first)
    return first.filter(between(first, "paid_on", window.start, window.end))


def _first(tables, options: MetricOptions, first) -> nw.LazyFrame:
    return first_adjudications_frame(tables, options) if first is None else lazy(first)


def _cohorts(tables, options: MetricOptions, first, months) -> nw.LazyFrame:
    """The first adjudications paid in any of ``months``, each with ``_ym`` (year * 12 + month - 1 of paid_on):
    the cohorts of the months' claim and denial KPIs."""
    first = _first(tables, options, first)
    return (first.with_columns(_ym=month_number(nw.col("paid_on")))
            .filter(nw.col("_ym").is_in([ym(m) for m in months])))


def clean_counts(tables: Mapping[str, Any], months, options: MetricOptions = MetricOptions(), first=None, *,
                 by: str | None = None) -> dict[Any, tuple[int, int]]:
    """(clean claims, claims) of :func:`clean_claim_rate` for each month of ``months``, in one query: each claim
    is counted in the month of its first adjudication, its submissions up to that month's end. ``by``: a column of
    ``first`` (given) whose values split the claims too, each claim in one group (the explorer's payer of each
    claim): ``{(value, month): counts}`` for each value and month with claims, in the same query; each value's
    counts are those of ``first`` and the claims table cut to its claims."""
    months = list(months)
    cohort = _cohorts(tables, options, first, months)
    claims = lazy_tables(tables, ["claims"])["claims"]
    submissions = (claims.select("claim_id", "submitted_on").join(cohort.select("claim_id", "_ym"), on="claim_id",
                                                                  how="inner")
                   .filter(month_number(nw.col("submitted_on")) <= nw.col("_ym"))
                   .group_by("claim_id").agg(nw.len().alias("_submissions")))
    counted = collect(cohort.join(submissions, on="claim_id", how="left")
                      .with_columns(_clean=(~nw.col("any_denial") & (nw.col("_submissions").fill_null(1) <= 1))
                                    .cast(nw.Int64), _one=nw.lit(1, nw.Int64))
                      .group_by(*(["_ym"] if by is None else [by, "_ym"])).agg(int_sum("_clean"), int_sum("_one")))
    if by is not None:
        month_of = {ym(m): m for m in months}
        return {(g, month_of[int(y)]): (as_int(c), as_int(n))
                for g, y, c, n in zip(counted[by], counted["_ym"], counted["_clean"], counted["_one"])}
    got = {int(y): (as_int(c), as_int(n)) for y, c, n in zip(counted["_ym"], counted["_clean"], counted["_one"])}
    return {m: got.get(ym(m), (0, 0)) for m in months}


def denial_sums(tables: Mapping[str, Any], months, options: MetricOptions = MetricOptions(), first=None, *,
                by: str | None = None) -> dict[Any, tuple[int, int, int, int]]:
    """(denied claims, claims, denied billed cents, billed cents) of :func:`initial_denial_rate` for each month
    of ``months``, in one query. ``by``: a column of ``first`` (given) whose values split the claims too (the
    explorer's payer of each claim): ``{(value, month): sums}`` for each value and month with claims, in the
    same query; each value's sums are those of ``first`` cut to its rows."""
    months = list(months)
    sums = collect(_cohorts(tables, options, first, months).with_columns(
        _denied=nw.col("denied").cast(nw.Int64), _one=nw.lit(1, nw.Int64),
        _denied_billed=nw.when(nw.col("denied")).then(nw.col("billed_cents")).otherwise(0),
    ).group_by(*(["_ym"] if by is None else [by, "_ym"]))
        .agg(int_sum("_denied"), int_sum("_one"), int_sum("_denied_billed"), int_sum("billed_cents")))
    values = {r["_ym"] if by is None else (r[by], int(r["_ym"])):
              tuple(as_int(r[c]) for c in ("_denied", "_one", "_denied_billed", "billed_cents"))
              for r in sums.to_dict("records")}
    if by is not None:
        month_of = {ym(m): m for m in months}
        return {(g, month_of[y]): v for (g, y), v in values.items()}
    got = {int(y): v for y, v in values.items()}
    return {m: got.get(ym(m), (0, 0, 0, 0)) for m in months}


def clean_claim_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    first: pd.DataFrame | None = None, *, counts: tuple[int, int] | None = None,
) -> KPI:
    """Clean-claim rate, payer first-pass variant (DESIGN default).

    Numerator: claims first adjudicated in ``month`` whose first adjudication carried no denial adjustment and
    that needed no resubmission (no later submission of the claim, of any frequency, by the month's end).
    Denominator: original claims first adjudicated in ``month``. HFMA CL-1 (scrubber edits passed with no
    manual touch) needs clearinghouse data an 835 does not carry, so it is not computed here. ``counts``: the
    month's (clean, claims) when the caller has them (:func:`clean_counts` of many months).
    """
    n, d = clean_counts(tables, [month], options, first)[month] if counts is None else counts
    return KPI(
        "clean_claim_rate", "Clean-claim rate", ratio(n, d), "pct", n, d,
        "original claims first adjudicated in the month with no denial adjustment on that adjudication and no "
        "resubmission by month end / original claims first adjudicated in the month (payer first-pass variant; "
        "HFMA CL-1 scrubber variant not computable from 835s)",
        "Industry payer first-pass definition; HFMA MAP Key CL-1 (named, not computed)",
    )


def initial_denial_rate(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    first: pd.DataFrame | None = None, *, sums: tuple[int, int, int, int] | None = None,
) -> tuple[KPI, KPI]:
    """Initial denial rate by claim count and by charge dollars (HFMA Claim Integrity Task Force; AAFP).

    Numerator: claims whose first adjudication (in ``month``) was a denial (``denial_scope="any"``: any denial
    adjustment on it; ``"full"``: nothing paid) — count, and their billed charges (CLP03). Denominator: claims
    first adjudicated in ``month`` — count, and billed charges. Duplicates (OA-18) and reversals are excluded.
    ``sums``: the month's :func:`denial_sums` when the caller has them.
    """
    denied_n, cohort_n, dn, dd = denial_sums(tables, [month], options, first)[month] if sums is None else sums
    scope = "any denial adjustment" if options.denial_scope == "any" else "a full denial (nothing paid)"
    count = KPI(
        "initial_denial_rate", "Initial denial rate (claims)", ratio(denied_n, cohort_n), "pct",
        denied_n, cohort_n,
        f"claims whose first adjudication in the month carried {scope} / claims first adjudicated in the month; "
        "duplicates (OA-18) and reversals excluded",
        "HFMA Claim Integrity Task Force (initial denial rate); AAFP",
    )
    dollars = KPI(
        "initial_denial_rate_dollars", "Initial denial rate (dollars)", ratio(dn, dd), "pct", dn / 100, dd / 100,
        f"billed charges of claims whose first adjudication in the month carried {scope} / billed charges of "
        "claims first adjudicated in the month",
        "AAFP ($ denied / $ submitted); HFMA Claim Integrity Task Force",
    )
    return count, dollars


def denial_reasons(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    top: int | None = 10, by: str | None = None, first: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Denial adjustments on the claims initially denied in ``month``, by crosswalk category and CARC.

    Returns category, group_code, reason_code (with payer_id first when ``by="payer"``), claims (distinct
    claims), lines (adjustment rows) and denied_cents, largest dollars first; ``top`` rows at most.
    Categories come from the versioned crosswalk ``rcmkit/data/carc_crosswalk.csv``.
    """
    denied = in_month(_first(tables, options, first), month).filter(nw.col("denied"))
    adj = classify_adjustments(lazy_tables(tables, ["adjustments"])["adjustments"])
    adj = adj.filter(nw.col("treatment") == "denial")
    adj = adj.join(denied.select("remit_id", "claim_id", "payer_id"), on="remit_id", how="inner")
    keys = (["payer_id"] if by == "payer" else []) + ["category", "group_code", "reason_code"]
    out = collect(adj.group_by(*keys).agg(nw.col("claim_id").n_unique().alias("claims"),
                                          nw.len().alias("lines"), int_sum("amount_cents", "denied_cents")))
    out = out.sort_values(["denied_cents", "claims"] + keys, ascending=[False, False] + [True] * len(keys))
    out = out[keys + ["claims", "lines", "denied_cents"]]
    for col in ("claims", "lines", "denied_cents"):
        out[col] = out[col].astype("int64")
    return (out.head(top) if top else out).reset_index(drop=True)


@pandas_only
def denial_rates_by(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), by: str = "payer"
) -> pd.DataFrame:
    """The initial denial rate of ``month`` split ``by`` "payer" or "procedure_code" (a claim counts under every
    code billed on its first adjudicated remittance; denied when that line carried a denial adjustment or the
    claim was denied at claim level). Columns: the key, claims, denied, rate, billed_cents, denied_billed_cents.
    The payer split adds up to :func:`initial_denial_rate`."""
    cohort = first_adjudications(tables, options, month=month)
    if by == "payer":
        keyed = cohort.assign(key=cohort["payer_id"], billed=cohort["billed_cents"])
    elif by == "procedure_code":
        # the cohort's lines and line-level denial adjustments, queried on the engine
        remits = cohort[["remit_id"]]
        lines = table_rows(tables, "remit_lines", ["remit_id", "line_number", "procedure_code", "billed_cents"],
                           among=remits)
        lines = lines.assign(line_number=lines["line_number"].astype("int32")).merge(
            cohort[["remit_id", "claim_id", "denied"]], on="remit_id")
        den = table_rows(tables, "adjustments", ["remit_id", "line_number"], among=remits, query=lambda f: (
            classify_adjustments(f).filter(nw.col("treatment") == "denial", ~nw.col("line_number").is_null(),
                                           nw.col("amount_cents") > 0)))
        den = den.assign(line_number=den["line_number"].astype("int32"))
        lines = lines.merge(den.drop_duplicates().assign(line_denied=True), on=["remit_id", "line_number"], how="left")
        claim_level = cohort["denied"] & ~isin(cohort["remit_id"], den["remit_id"])
        whole = set(cohort.loc[claim_level, "remit_id"])
        lines["denied"] = lines["line_denied"].fillna(False).astype(bool) | isin(lines["remit_id"], whole)
        keyed = lines.assign(key=lines["procedure_code"], billed=lines["billed_cents"])
    else:
        raise ValueError(f"by must be 'payer' or 'procedure_code', got {by!r}")
    keyed = keyed.assign(denied_billed=keyed["billed"].where(keyed["denied"], 0))
    out = keyed.groupby("key", as_index=False).agg(
        claims=("claim_id", "nunique"), denied=("denied", "sum"), billed_cents=("billed", "sum"),
        denied_billed_cents=("denied_billed", "sum"))
    out["denied"] = keyed[keyed["denied"]].groupby("key")["claim_id"].nunique().reindex(out["key"]).fillna(0).astype(
        "int64").to_numpy()
    out["rate"] = out["denied"] / out["claims"]
    out = out.rename(columns={"key": by})
    return out.sort_values(["denied_billed_cents", by], ascending=[False, True]).reset_index(drop=True)


@pandas_only
def denial_outcomes(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    as_of: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """What became of the claims initially denied in ``month``, as of ``as_of`` (default: the latest data):
    overturned (a later adjudication paid something), written off (a practice denial write-off posted), or
    still open. One row per outcome with claims, denied_billed_cents, and recovered_cents (payments on the
    overturned claims after the denial, net of reversals). The share overturned is an HFMA Claim Integrity
    Task Force denial KPI ("% of initial denials overturned")."""
    cohort = first_adjudications(tables, options, month=month)
    cohort = cohort[cohort["denied"]]
    # the cohort's remittances and the practice's denial write-offs by ``as_of``, queried on the engine
    by_end = (lambda f, column: f) if as_of is None else (lambda f, column: f.filter(on_or_before(f, column, as_of)))
    remits = table_rows(tables, "remittances", ["claim_id", "remit_id", "paid_on", "paid_cents"],
                        among=cohort[["claim_id"]], query=lambda f: by_end(f, "paid_on"))
    later = remits.merge(cohort[["claim_id", "paid_on", "remit_id"]], on="claim_id", suffixes=("", "_first"))
    later = later[(later["remit_id"] != later["remit_id_first"]) & (later["paid_on"] >= later["paid_on_first"])]
    recovered = later.groupby("claim_id")["paid_cents"].sum()
    written = set(table_rows(tables, "postings", ["claim_id"], query=lambda f: by_end(
        f.filter(nw.col("kind") == "denial"), "posted_on"))["claim_id"])
    got = cohort["claim_id"].map(recovered.to_dict()).fillna(0).astype("int64")
    outcome = pd.Series("still open", index=cohort.index)
    outcome[isin(cohort["claim_id"], written)] = "written off"
    outcome[got > 0] = "overturned"
    frame = cohort.assign(outcome=outcome, recovered=got)
    out = frame.groupby("outcome").agg(claims=("claim_id", "size"), denied_billed_cents=("billed_cents", "sum"),
                                       recovered_cents=("recovered", "sum"))
    out = out.reindex(["overturned", "written off", "still open"], fill_value=0).reset_index()
    return out
