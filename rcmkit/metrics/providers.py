"""Provider display names: where a person reads an NPI, show "SMITH, JANE (1234567893)".

The names come from the ``providers`` table (837 NM1*85 / NM1*82, or a PM export's name column): one row per NPI,
``name`` 'LAST, FIRST' for a person or the organization name. A practice without that table, or an NPI it does
not name, keeps the bare NPI: a label never invents a name. Provider names are not patient data.

:func:`provider_summary` splits the month's charges, claims, initial denial rate and clean-claim rate by the
claim's rendering provider, with the same definitions as the practice-level KPIs, so the rows add up to them.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

__all__ = ["provider_names", "provider_label", "label_providers", "provider_summary", "claim_providers"]


def _providers_frame(source: Any) -> pd.DataFrame | None:
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        return source
    from rcmkit.core.engine import pandas_tables  # a lazy engine's table (DuckDB, Spark): collect it

    return pandas_tables({"providers": source})["providers"]


def provider_names(tables: Any) -> dict[str, str]:
    """``{npi: name}`` from ``tables["providers"]`` (also accepted: the providers frame itself, or a ready
    ``{npi: name}`` mapping). Blank names are left out; an NPI named twice keeps its last name. No providers
    table (or an empty one): ``{}``."""
    if isinstance(tables, Mapping) and "providers" not in tables:
        from rcmkit.metrics._common import Prepared

        if isinstance(tables, Prepared):  # tables without a providers table (their values: never collected here)
            return {}
        values = list(tables.values())
        if all(isinstance(v, str) for v in values):  # already {npi: name}
            return {str(k): v.strip() for k, v in tables.items() if v and v.strip()}
        return {}
    frame = _providers_frame(tables["providers"] if isinstance(tables, Mapping) else tables)
    if frame is None or not len(frame) or not {"npi", "name"} <= set(frame.columns):
        return {}
    names: dict[str, str] = {}
    for npi, name in zip(frame["npi"].tolist(), frame["name"].tolist()):
        if npi is None or name is None or pd.isna(npi) or pd.isna(name):
            continue
        npi, name = str(npi).strip(), " ".join(str(name).split())
        if npi and name:
            names[npi] = name
    return names


def provider_label(npi: Any, names: Mapping[str, str]) -> str:
    """``"NAME (NPI)"`` when ``names`` knows the NPI, the NPI itself otherwise; ``""`` for a missing NPI."""
    if npi is None or (not isinstance(npi, str) and pd.isna(npi)):
        return ""
    npi = str(npi).strip()
    name = names.get(npi)
    return f"{name} ({npi})" if name else npi


def label_providers(frame: pd.DataFrame, column: str, tables: Any, *, into: str | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose NPI column ``column`` reads "NAME (NPI)" (the bare NPI when no name is known,
    ``""`` when the NPI is missing). ``into``: write the labels to that column instead and keep the NPIs.
    ``tables``: the practice's tables, the providers frame or an ``{npi: name}`` mapping
    (:func:`provider_names`)."""
    names = provider_names(tables)
    labels = [provider_label(v, names) for v in frame[column].tolist()]
    return frame.assign(**{into or column: pd.Series(labels, index=frame.index, dtype="object")})


def claim_providers(claims: pd.DataFrame) -> pd.Series:
    """Each claim's provider NPI, indexed by claim_id: the rendering NPI (837 NM1*82) of its first submission (by
    submitted_on, then submission_id), else its billing NPI (NM1*85, the rendering provider when no NM1*82 is
    sent); ``""`` when neither is known."""
    if claims is None or not len(claims):
        return pd.Series(dtype="object", name="npi")
    # the first submission; of two on one day, the lower submission ID (the tables' row order is no engine's promise)
    keys = ["claim_id", "submitted_on"] + (["submission_id"] if "submission_id" in claims.columns else [])
    c = claims.sort_values(keys, kind="stable").drop_duplicates("claim_id")
    rendering = c["rendering_npi"] if "rendering_npi" in c.columns else pd.Series(None, index=c.index)
    billing = c["billing_npi"] if "billing_npi" in c.columns else pd.Series(None, index=c.index)
    npi = rendering.where(rendering.notna() & (rendering.astype(str).str.strip() != ""), billing)
    return pd.Series(npi.fillna("").astype(str).str.strip().to_numpy(), index=c["claim_id"].to_numpy(), name="npi")


def provider_summary(tables: Mapping[str, Any], month: str, options: Any = None) -> pd.DataFrame:
    """The month by rendering provider (:func:`claim_providers`): one row per provider with charges posted in
    ``month``, sorted by charges (largest first, then NPI).

    Columns: npi, provider ("NAME (NPI)", :func:`provider_label`), claims (claims whose charge posted in the
    month: the month's new claims, a proxy for visits), charges_cents (gross charges posted in the month, as the
    ``charges`` KPI: MGMA), adjudicated (original claims first adjudicated in the month), denied, denial_rate
    (initial denial rate by count: HFMA Claim Integrity Task Force; AAFP), clean, clean_claim_rate (no denial on
    the first adjudication and no resubmission by month end: payer first-pass variant). Providers with
    adjudications but no charges this month are kept. Charges, claims, adjudicated, denied and clean add up to
    the practice's KPIs. Pandas tables (:func:`rcmkit.metrics.prepare`).
    """
    from rcmkit.core.frames import isin
    from rcmkit.metrics._common import MetricOptions, Prepared, month_window, read_columns, table_rows
    from rcmkit.metrics.ar import posted_rows
    from rcmkit.metrics.denials import first_adjudications

    options = options or MetricOptions()
    window = month_window(month)
    charge = posted_rows(tables, options, window, ("charge",))
    by_claim = charge.groupby("claim_id")["amount_cents"].sum()
    first = first_adjudications(tables, options, month=month)
    # only the claims the month counts (charged or first adjudicated in it): a claim's provider and submissions
    # are its own rows', so the rest of a large practice's claims are not read (issue #15: 5 M claims)
    wanted = pd.Index(by_claim.index).union(pd.Index(first["claim_id"].unique()))
    columns = ["claim_id", "submission_id", "submitted_on", "rendering_npi", "billing_npi"]
    if isinstance(tables, Prepared) and tables.engine_frame("claims") is not None:
        claims = table_rows(tables, "claims", columns, among=pd.DataFrame({"claim_id": wanted.to_numpy(object)})
                            ) if len(wanted) else table_rows(tables, "claims", columns, query=lambda f: f.head(0))
    else:
        claims = read_columns(tables, "claims", columns)
        claims = claims[isin(claims["claim_id"], wanted)] if claims is not None else None
    npis = claim_providers(claims)
    charged = pd.DataFrame({"npi": npis.reindex(by_claim.index).fillna("").to_numpy(),
                            "charges_cents": by_claim.to_numpy()})
    late = claims[claims["submitted_on"] <= window.end].groupby("claim_id").size()
    first = first.assign(npi=npis.reindex(first["claim_id"]).fillna("").to_numpy(),
                         clean=(~first["any_denial"].astype(bool)
                                & (late.reindex(first["claim_id"]).fillna(1).to_numpy() <= 1)))
    a = charged.groupby("npi").agg(claims=("charges_cents", "size"), charges_cents=("charges_cents", "sum"))
    b = first.groupby("npi").agg(adjudicated=("claim_id", "size"), denied=("denied", "sum"), clean=("clean", "sum"))
    out = a.join(b, how="outer").fillna(0).astype("int64").reset_index()
    out["denial_rate"] = out["denied"] / out["adjudicated"].where(out["adjudicated"] > 0)
    out["clean_claim_rate"] = out["clean"] / out["adjudicated"].where(out["adjudicated"] > 0)
    names = provider_names(tables)
    out.insert(1, "provider", [provider_label(n, names) if n else "Provider not given" for n in out["npi"]])
    out = out.sort_values(["charges_cents", "npi"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return out[["npi", "provider", "claims", "charges_cents", "adjudicated", "denied", "denial_rate", "clean",
                "clean_claim_rate"]]
