"""Work lists a biller acts on: claims waiting on a payer, claims near their timely-filing limit, and denied
claims not yet resubmitted. Each is sorted by dollars at risk and names claims by claim_id, payer and rendering
provider only (``rendering_npi`` of the latest submission, and ``provider``: "NAME (NPI)" from the ``providers``
table, the bare NPI when the practice has no name for it; :mod:`rcmkit.metrics.providers`).

Sources: industry follow-up practice (kpi-anchors.md 5: "A/R follow-up"); Medicare's 12-month filing limit
(42 CFR 424.44); CAQH CORE/HFMA denial-management guidance. Filing limits are data
(``rcmkit/data/timely_filing.csv`` by payer class, overridable per payer).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Mapping

import pandas as pd

from rcmkit.core.ledger import sort_events
from rcmkit.core.frames import isin
from rcmkit.core.engine import on_or_before
from rcmkit.metrics._common import MetricOptions, Prepared, month_window, pandas_only, table_rows
from rcmkit.metrics.ar import ar_balances
from rcmkit.metrics.denials import remit_flags
from rcmkit.metrics.providers import label_providers

__all__ = ["no_response", "timely_filing_risk", "denied_not_resubmitted", "timely_filing_limits"]


def timely_filing_limits(payers: pd.DataFrame, overrides: Mapping[str, int] | None = None) -> pd.Series:
    """Filing limit in days per payer_id: its class's default from the data file, then per-payer overrides."""
    path = Path(str(resources.files("rcmkit") / "data" / "timely_filing.csv"))
    by_class = pd.read_csv(path, dtype={"payer_class": str}).set_index("payer_class")["days"]
    limits = payers.set_index("payer_id")["payer_class"].map(by_class).dropna().astype("int64")
    for payer_id, days in (overrides or {}).items():
        limits[payer_id] = int(days)
    return limits


def _once(tables: Mapping[str, pd.DataFrame], key: tuple, compute):
    """What the three lists each derive from the same tables and date, computed once for prepared tables (the
    lists only read it: merges and filters make new frames)."""
    return tables.memo(("worklists",) + key, compute) if isinstance(tables, Prepared) else compute()


def _insurance_open(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, options: MetricOptions) -> pd.DataFrame:
    return _once(tables, ("open", as_of, options.denial_policy, options.aging_basis),
                 lambda: _insurance_open_rows(tables, as_of, options))


def _insurance_open_rows(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp,
                         options: MetricOptions) -> pd.DataFrame:
    bal = ar_balances(tables, as_of, options)
    bal = bal[(bal["balance_cents"] > 0) & (bal["responsible"] != "patient")]
    return bal.groupby(["claim_id", "responsible"], as_index=False).agg(
        balance_cents=("balance_cents", "sum"), service_from=("service_from", "first"))


def _last_submission(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, options: MetricOptions
                     ) -> pd.DataFrame:
    """The latest submission by ``as_of`` of each claim with an open insurance balance (the lists' claims)."""
    return _once(tables, ("last_submission", as_of, options.denial_policy, options.aging_basis),
                 lambda: _last_submission_rows(tables, _insurance_open(tables, as_of, options), as_of))


def _last_submission_rows(tables: Mapping[str, pd.DataFrame], open_: pd.DataFrame, as_of: pd.Timestamp
                          ) -> pd.DataFrame:
    # the open claims' submissions, queried on the engine (not the practice's every claim)
    claims = table_rows(tables, "claims", ["claim_id", "submitted_on", "submission_id", "frequency_code",
                                           "rendering_npi"], among=open_[["claim_id"]],
                        query=lambda f: f.filter(on_or_before(f, "submitted_on", as_of)))
    c = claims.sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort")
    return c.drop_duplicates("claim_id", keep="last")[["claim_id", "submitted_on", "frequency_code",
                                                       "rendering_npi"]].rename(
        columns={"submitted_on": "last_submitted_on"})


def _with_provider(work: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``provider``: the rendering NPI as "NAME (NPI)" (the NPI alone when no name is known)."""
    return label_providers(work, "rendering_npi", tables, into="provider")


def _last_answer(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, options: MetricOptions) -> pd.DataFrame:
    """The latest payer answer by ``as_of`` of each claim with an open insurance balance (the lists' claims)."""
    return _once(tables, ("last_answer", as_of, options.denial_policy, options.aging_basis),
                 lambda: _last_answer_rows(tables, _insurance_open(tables, as_of, options), as_of))


def _last_answer_rows(tables: Mapping[str, pd.DataFrame], open_: pd.DataFrame | None, as_of: pd.Timestamp
                      ) -> pd.DataFrame:
    """Each claim's latest answer by ``as_of``: of ``open_``'s claims (filtered on the engine), or of every claim."""
    r = remit_flags(tables, open_, as_of=as_of)
    # Same-day answers in the 835's order (file, CLP segment number), not the remit_id string's (rcmkit.core.ledger).
    r = sort_events(r, ["claim_id", "paid_on"])
    return r.drop_duplicates("claim_id", keep="last")[["claim_id", "paid_on", "any_denial", "paid_cents"]].rename(
        columns={"paid_on": "last_answer_on"})


@pandas_only
def no_response(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(), days: int = 30
) -> pd.DataFrame:
    """Open insurance balances whose latest submission has had no payer answer (835) for more than ``days``
    days at the end of ``month``: claim_id, payer_id, rendering_npi, provider, last_submitted_on, days_waiting,
    balance_cents."""
    as_of = month_window(month).end
    open_ = _insurance_open(tables, as_of, options)
    work = open_.merge(_last_submission(tables, as_of, options), on="claim_id").merge(
        _last_answer(tables, as_of, options), on="claim_id", how="left")
    waiting = work["last_answer_on"].isna() | (work["last_answer_on"] < work["last_submitted_on"])
    work = work[waiting].assign(days_waiting=(as_of - work["last_submitted_on"]).dt.days)
    work = _with_provider(work[work["days_waiting"] > days].rename(columns={"responsible": "payer_id"}), tables)
    cols = ["claim_id", "payer_id", "rendering_npi", "provider", "last_submitted_on", "days_waiting", "balance_cents"]
    return work.sort_values(["balance_cents", "claim_id"], ascending=[False, True])[cols].reset_index(drop=True)


@pandas_only
def timely_filing_risk(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions(),
    warn_days: int = 30, limits: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Open insurance balances never adjudicated whose filing deadline (date of service + the payer's limit)
    falls within ``warn_days`` days after the end of ``month`` or has passed: claim_id, payer_id, rendering_npi,
    provider, service_from, deadline, days_left (negative: past), balance_cents. A claim a payer never received must be
    filed (again) before the deadline."""
    as_of = month_window(month).end
    open_ = _insurance_open(tables, as_of, options)
    answered = _last_answer(tables, as_of, options)["claim_id"]
    work = open_[~isin(open_["claim_id"], answered)].rename(columns={"responsible": "payer_id"})
    limit = work["payer_id"].map(timely_filing_limits(tables["payers"], limits).to_dict())
    work = work.assign(deadline=work["service_from"] + pd.to_timedelta(limit, unit="D")).dropna(subset=["deadline"])
    work = work.assign(days_left=(work["deadline"] - as_of).dt.days)
    work = work[work["days_left"] <= warn_days].merge(
        _last_submission(tables, as_of, options)[["claim_id", "rendering_npi"]], on="claim_id", how="left")
    work = _with_provider(work, tables)
    cols = ["claim_id", "payer_id", "rendering_npi", "provider", "service_from", "deadline", "days_left",
            "balance_cents"]
    return work.sort_values(["balance_cents", "claim_id"], ascending=[False, True])[cols].reset_index(drop=True)


@pandas_only
def denied_not_resubmitted(
    tables: Mapping[str, pd.DataFrame], month: str, options: MetricOptions = MetricOptions()
) -> pd.DataFrame:
    """Open insurance balances whose latest payer answer carried a denial and that have not been resubmitted
    since: claim_id, payer_id, rendering_npi, provider, last_answer_on, days_since_denial, balance_cents."""
    as_of = month_window(month).end
    open_ = _insurance_open(tables, as_of, options)
    work = open_.merge(_last_answer(tables, as_of, options), on="claim_id").merge(
        _last_submission(tables, as_of, options), on="claim_id", how="left")
    stale = work["any_denial"] & ~(work["last_submitted_on"] > work["last_answer_on"])
    work = work[stale].rename(columns={"responsible": "payer_id"})
    work = _with_provider(work.assign(days_since_denial=(as_of - work["last_answer_on"]).dt.days), tables)
    cols = ["claim_id", "payer_id", "rendering_npi", "provider", "last_answer_on", "days_since_denial",
            "balance_cents"]
    return work.sort_values(["balance_cents", "claim_id"], ascending=[False, True])[cols].reset_index(drop=True)


