"""What the explorer's controls select: a population of claims (:class:`Filters`) and a span of months
(:class:`Period`), and the pure function that cuts the canonical tables down to the claims (:func:`filter_tables`).

Every filter is a *claim* filter. A claim is kept or dropped whole: its submissions, their lines, every 835 claim
payment for it with its lines and adjustments, its postings and its ledger rows. That is what keeps every metric
function valid on the filtered tables: each metric is a function of per-claim histories, so on the filtered tables
it returns exactly the metric of the selected claims (the payer filter's denial rate is the payer's denial rate).

A claim's payer, payer class and provider are those of its first submission (the claim as first billed); a claim
known only from an 835 takes its payer from its first claim payment. The procedure-code filter keeps the claims with
at least one billed (837) or paid (835) line whose code starts with one of the search terms.

The period is not a filter on the claims: it is the span of months the metrics are computed for (charges posted,
claims first adjudicated, A/R at its end), exactly as the monthly report's month is.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from rcmkit.metrics import MetricOptions, Window, month_window, parse_month, with_tables
from rcmkit.core.ledger import sort_events
from rcmkit.metrics.providers import provider_label
from rcmkit.core.schema import PAYER_CLASSES

__all__ = ["Filters", "Period", "ClaimIndex", "filter_tables", "parse_codes", "check_month", "PERIOD_MONTHS",
           "CLAIM_TABLES"]

#: Lengths a period can have: the month windows every metric supports (``MetricOptions.reimbursement_months``).
PERIOD_MONTHS: tuple[int, ...] = tuple(MetricOptions.CHOICES["reimbursement_months"])

#: Tables whose rows belong to one claim, and how a row finds its claim: directly (``claim_id``), through its
#: submission (``submission_id``) or through its 835 claim payment (``remit_id``).
CLAIM_TABLES: dict[str, str] = {
    "claims": "claim_id",
    "remittances": "claim_id",
    "postings": "claim_id",
    "ledger": "claim_id",
    "claim_lines": "submission_id",
    "claim_line_details": "submission_id",
    "remit_lines": "remit_id",
    "adjustments": "remit_id",
    "remittance_details": "remit_id",
    "remit_line_details": "remit_id",
    "remarks": "remit_id",
}

_CODE_TERM = re.compile(r"^[A-Z0-9]{1,7}$")


def check_month(value, name: str = "month") -> str:
    """``value`` as 'YYYY-MM' (:func:`rcmkit.metrics.parse_month`, the one month parser); ValueError naming
    ``name`` otherwise."""
    return parse_month(value, name)


def parse_codes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """Procedure-code search terms from what a user types: ``"99213, 9921*  g04"`` -> ``("99213", "9921", "G04")``.

    Each term is a code or the start of one (a trailing ``*`` is allowed and ignored); case does not matter.
    Raises ValueError naming a term that cannot be part of a CPT/HCPCS code."""
    if text is None:
        return ()
    parts = re.split(r"[\s,;]+", text) if isinstance(text, str) else [str(t) for t in text]
    terms: list[str] = []
    for part in parts:
        term = part.strip().upper().rstrip("*")
        if not term:
            continue
        if not _CODE_TERM.match(term):
            raise ValueError(f"procedure code search: {part!r} is not a code or the start of one (letters and digits)")
        if term not in terms:
            terms.append(term)
    return tuple(terms)


def _as_tuple(values, name: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = (values,)
    out = tuple(dict.fromkeys(str(v) for v in values))
    if any(not v for v in out):
        raise ValueError(f"filter {name!r}: empty value")
    return out


@dataclass(frozen=True)
class Filters:
    """The claims the explorer looks at; an empty field selects everything.

    * ``payers``: payer IDs (the claim's payer); ``payer_classes``: medicare, medicaid, commercial, self_pay, other;
    * ``providers``: rendering NPIs (shown with their names: :func:`rcmkit.metrics.providers.provider_label`);
    * ``codes``: procedure-code search terms (see :func:`parse_codes`; a string is parsed);
    * ``service_from`` / ``service_to``: an optional date-of-service cohort (inclusive), for analyses by service
      date; the explorer's period is separate (:class:`Period`).

    Fields combine with AND; the values within a field with OR.
    """

    payers: tuple[str, ...] = ()
    payer_classes: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    service_from: pd.Timestamp | None = None
    service_to: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("payers", _as_tuple(self.payers, "payers"))
        set_("providers", _as_tuple(self.providers, "providers"))
        set_("payer_classes", _as_tuple(self.payer_classes, "payer_classes"))
        bad = sorted(set(self.payer_classes) - set(PAYER_CLASSES))
        if bad:
            raise ValueError(f"unknown payer class(es) {bad}; payer classes are {list(PAYER_CLASSES)}")
        set_("codes", parse_codes(self.codes))
        for k in ("service_from", "service_to"):
            v = getattr(self, k)
            set_(k, None if v is None or v == "" else pd.Timestamp(v).normalize())

    @property
    def is_empty(self) -> bool:
        return self == Filters()

    def replace(self, **changes) -> "Filters":
        return dataclasses.replace(self, **changes)

    def describe(self, payer_names: Mapping[str, str] | None = None,
                 provider_names: Mapping[str, str] | None = None) -> str:
        """``"payer Medicare Part B; rendering provider SMITH, JANE (1234567893); codes 9921*"`` (``"all claims"``
        when nothing is selected). A provider without a name in ``provider_names`` is shown by its NPI."""
        names = payer_names or {}
        parts = []
        if self.payers:
            parts.append("payer " + ", ".join(names.get(p, p) for p in self.payers))
        if self.payer_classes:
            parts.append("payer class " + ", ".join(c.replace("_", "-") for c in self.payer_classes))
        if self.providers:
            parts.append("rendering provider " + ", ".join(provider_label(n, provider_names or {})
                                                            for n in self.providers))
        if self.codes:
            parts.append("procedure codes " + ", ".join(c + "*" for c in self.codes))
        if self.service_from is not None or self.service_to is not None:
            a = self.service_from.date() if self.service_from is not None else "..."
            b = self.service_to.date() if self.service_to is not None else "..."
            parts.append(f"dates of service {a} to {b}")
        return "; ".join(parts) if parts else "all claims"


@dataclass(frozen=True)
class Period:
    """``months`` whole calendar months ending with ``end`` ('YYYY-MM'): the span the explorer reports on.

    Flow KPIs (charges, payments, denial and clean-claim rates) cover every month of it; point-in-time KPIs (A/R,
    days in A/R, the trailing net collection rate) are taken at its end. Lengths are 1, 3, 6 or 12 months, the
    windows the reimbursement metrics are defined for, so every number on screen is an existing definition."""

    end: str
    months: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "end", check_month(self.end, "period end"))
        if self.months not in PERIOD_MONTHS:
            raise ValueError(f"a period is {', '.join(map(str, PERIOD_MONTHS))} months long, got {self.months!r}")

    @property
    def month_list(self) -> list[str]:
        """The months of the period, oldest first."""
        end = pd.Period(self.end, freq="M")
        return [str(end - i) for i in range(self.months - 1, -1, -1)]

    @property
    def start(self) -> str:
        return self.month_list[0]

    @property
    def window(self) -> Window:
        return month_window(self.end, self.months)

    @property
    def label(self) -> str:
        """``"Oct 2026"`` or ``"Aug 2026 to Oct 2026"``."""
        fmt = lambda m: pd.Period(m, freq="M").strftime("%b %Y")  # noqa: E731
        return fmt(self.end) if self.months == 1 else f"{fmt(self.start)} to {fmt(self.end)}"


class ClaimIndex:
    """A precomputed map from every row of the claim tables to its claim, so that a filter is a boolean mask over
    the practice's claims and cutting a table is one numpy take (milliseconds, not a join per table).

    Build it once per set of tables (it does not depend on any filter) and pass it to :func:`filter_tables`.
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame]):
        claims = tables.get("claims")
        remits = tables.get("remittances")
        ids = [t["claim_id"] for n in ("claims", "remittances", "postings", "ledger")
               if (t := tables.get(n)) is not None and len(t)]
        all_ids = pd.Index(pd.unique(pd.concat(ids, ignore_index=True).astype(str))) if ids else pd.Index([], dtype=str)
        self.claim_ids: pd.Index = all_ids.sort_values()
        n = len(self.claim_ids)
        # Per claim: attributes of its first submission (or first 835 claim payment when no 837 was loaded).
        attrs = pd.DataFrame({"claim_id": self.claim_ids})
        if claims is not None and len(claims):
            first = claims.sort_values(["claim_id", "submitted_on", "submission_id"], kind="mergesort")
            first = first.drop_duplicates("claim_id", keep="first")
            attrs = attrs.merge(first[["claim_id", "payer_id", "rendering_npi", "service_from"]], on="claim_id",
                                how="left")
        else:
            attrs = attrs.assign(payer_id=pd.Series(dtype="str"), rendering_npi=pd.Series(dtype="str"),
                                 service_from=pd.Series(dtype="datetime64[ns]"))
        if remits is not None and len(remits) and attrs["payer_id"].isna().any():
            # The claim's first 835 payment; same-day payments in the 835's order, not the remit_id string's.
            by_remit = sort_events(remits, ["claim_id", "paid_on"]).drop_duplicates(
                "claim_id").set_index("claim_id")["payer_id"]
            attrs["payer_id"] = attrs["payer_id"].fillna(attrs["claim_id"].map(by_remit))
        payers = tables.get("payers")
        classes = payers.set_index("payer_id")["payer_class"] if payers is not None and len(payers) else pd.Series(
            dtype="str")
        attrs["payer_class"] = attrs["payer_id"].map(classes).fillna("other")
        self.attributes: pd.DataFrame = attrs
        self._payer = attrs["payer_id"].astype(str).to_numpy()
        self._payer_class = attrs["payer_class"].astype(str).to_numpy()
        self._npi = attrs["rendering_npi"].fillna("").astype(str).to_numpy()
        self._dos = attrs["service_from"].to_numpy(dtype="datetime64[ns]")
        # Per table: the claim position of each row (-1: the row's claim cannot be found).
        sub_claim = (claims.set_index("submission_id")["claim_id"] if claims is not None and len(claims)
                     else pd.Series(dtype="str"))
        remit_claim = (remits.set_index("remit_id")["claim_id"] if remits is not None and len(remits)
                       else pd.Series(dtype="str"))
        self.rows: dict[str, np.ndarray] = {}
        for name, key in CLAIM_TABLES.items():
            t = tables.get(name)
            if t is None or key not in t.columns:
                continue
            cid = t[key] if key == "claim_id" else t[key].map(sub_claim if key == "submission_id" else remit_claim)
            self.rows[name] = self.positions(cid)
        # Procedure codes per claim, billed (837) and paid (835).
        pairs = []
        for name in ("claim_lines", "remit_lines"):
            t = tables.get(name)
            if t is not None and len(t) and name in self.rows:
                pairs.append(pd.DataFrame({"code": t["procedure_code"].astype(str).str.upper().to_numpy(),
                                           "pos": self.rows[name]}))
        codes = pd.concat(pairs, ignore_index=True).drop_duplicates() if pairs else pd.DataFrame(
            {"code": pd.Series(dtype=str), "pos": pd.Series(dtype="int64")})
        codes = codes[codes["pos"] >= 0]
        self._code = codes["code"].to_numpy(dtype=object)
        self._code_pos = codes["pos"].to_numpy()
        self.procedure_codes: list[str] = sorted(set(self._code))
        self.size = n

    def positions(self, claim_ids: pd.Series | Iterable[str]) -> np.ndarray:
        """The claim position of each id (-1 for an id this index does not know)."""
        values = claim_ids.astype(str).to_numpy(dtype=object) if isinstance(claim_ids, pd.Series) else np.asarray(
            list(claim_ids), dtype=object)
        return self.claim_ids.get_indexer(values)

    def claim_mask(self, filters: Filters) -> np.ndarray:
        """A boolean array over :attr:`claim_ids`: True for the claims the filters select."""
        mask = np.ones(self.size, dtype=bool)
        if filters.payers:
            mask &= np.isin(self._payer, list(filters.payers))
        if filters.payer_classes:
            mask &= np.isin(self._payer_class, list(filters.payer_classes))
        if filters.providers:
            mask &= np.isin(self._npi, list(filters.providers))
        if filters.codes:
            has = np.zeros(self.size, dtype=bool)
            has[self._code_pos[np.isin(self._code, self.matching_codes(filters.codes))]] = True
            mask &= has
        if filters.service_from is not None:
            mask &= self._dos >= np.datetime64(filters.service_from)  # NaT compares False: no date, not in a cohort
        if filters.service_to is not None:
            mask &= self._dos <= np.datetime64(filters.service_to)
        return mask

    def matching_codes(self, terms: Iterable[str]) -> list[str]:
        """The practice's procedure codes that start with one of ``terms``."""
        terms = tuple(terms)
        return [c for c in self.procedure_codes if c.startswith(terms)]

    def take(self, name: str, frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
        """The rows of table ``name`` whose claim is in ``mask``."""
        pos = self.rows.get(name)
        if pos is None or len(pos) != len(frame):
            raise ValueError(f"the claim index was built for other tables (table {name!r} changed); rebuild it")
        keep = np.zeros(len(pos), dtype=bool)
        known = pos >= 0
        keep[known] = mask[pos[known]]
        return frame[keep].reset_index(drop=True)


def filter_tables(
    tables: Mapping[str, pd.DataFrame], filters: Filters, *, index: ClaimIndex | None = None
) -> Mapping[str, pd.DataFrame]:
    """The canonical tables restricted to the claims ``filters`` selects, every claim table consistently.

    Pure: ``tables`` is not modified; unfiltered tables are passed through as they are (the same frames), and so
    are the tables that do not belong to claims (payers, contracts, payments, ...); a
    :class:`~rcmkit.metrics.Prepared` mapping stays one, with its ledger's policy. ``index`` is a
    :class:`ClaimIndex` of ``tables`` built beforehand to make repeated filtering fast; without one it is built.
    """
    if filters.is_empty:
        return with_tables(tables)
    index = index if index is not None else ClaimIndex(tables)
    mask = index.claim_mask(filters)
    return with_tables(tables, **{name: index.take(name, tables[name], mask) for name in CLAIM_TABLES
                                  if name in tables and tables[name] is not None})
