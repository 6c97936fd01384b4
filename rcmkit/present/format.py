"""How the report's numbers read, in one place: money, percentages, days, counts, deltas, months and a missing value.

Every person-facing text of rcmkit (report tiles and tables, the executive summary, chart labels, the portfolio
page, the explorer and its exports) formats through these functions, so a value reads the same everywhere and an
undefined value always shows as :data:`MISSING`. Shapes that differ on purpose have their own named function:
:func:`usd_short` and :func:`chart_label` (chart ticks and bar labels), :func:`threshold` (a benchmark target as
written), :func:`plain` (a number under a header that names its unit) and :func:`decimal_dollars` (a spreadsheet
cell). Nothing here computes a metric.
"""

from __future__ import annotations

import calendar
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MISSING",
    "is_missing",
    "usd",
    "usd_cents",
    "usd_whole",
    "usd_short",
    "decimal_dollars",
    "pct",
    "days",
    "count",
    "plain",
    "by_unit",
    "kpi_value",
    "threshold",
    "chart_label",
    "delta",
    "month_label",
    "short_month",
    "month_end",
    "previous_month",
    "months_back",
    "span_label",
]

#: What a person reads where a value is undefined (an empty denominator, no prior month, no target).
MISSING = "n/a"


def is_missing(v: Any) -> bool:
    """None, NaN, NaT and pd.NA (and anything that cannot be compared) are missing."""
    if v is None:
        return True
    try:
        return bool(v != v) or (isinstance(v, float) and math.isnan(v))  # NaN, pd.NA
    except (TypeError, ValueError):
        return True


def usd(dollars: Any, *, cents: bool = False) -> str:
    """``1234567.8`` -> ``"$1,234,568"`` (``cents=True``: ``"$1,234,567.80"``); negatives as ``"-$12"``."""
    if is_missing(dollars):
        return MISSING
    v = float(dollars)
    text = f"{abs(v):,.2f}" if cents else f"{abs(v):,.0f}"
    return f"{_sign(v, text)}${text}"


def _sign(v: float, text: str) -> str:
    """``"-"`` for a negative value whose rounded text is not zero (no ``"-$0"``)."""
    return "-" if v < 0 and any(ch in "123456789" for ch in text) else ""


def usd_cents(cents: Any, *, cents_shown: bool = True) -> str:
    """Integer cents -> dollars text, exact: ``123456`` -> ``"$1,234.56"`` (``cents_shown=False``: ``"$1,235"``,
    half a dollar rounds up)."""
    if is_missing(cents):
        return MISSING
    c = _whole_cents(cents)
    sign = "-" if c < 0 else ""
    whole, rest = divmod(abs(c), 100)
    if not cents_shown:
        whole += 1 if rest >= 50 else 0
        return f"{sign if whole else ''}${whole:,}"
    return f"{sign}${whole:,}.{rest:02d}"


def usd_whole(cents: Any) -> str:
    """Integer cents as whole dollars: ``123456`` -> ``"$1,235"`` (``usd_cents(cents, cents_shown=False)``)."""
    return usd_cents(cents, cents_shown=False)


def _whole_cents(cents: Any) -> int:
    """Integer cents stay exact; fractional cents (a per-unit average) round half up to the cent."""
    if isinstance(cents, (int, np.integer)):
        return int(cents)
    return int(Decimal(repr(float(cents))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd_short(dollars: Any, *, scale: float | None = None) -> str:
    """Dollars short enough for a chart: ``"$850"``, ``"$12k"``, ``"$1.2M"``. ``scale`` (an axis' largest value)
    picks the unit for every tick of the axis: millions from $2M, thousands from $10k; default: the value."""
    if is_missing(dollars):
        return MISSING
    v = float(dollars)
    top = abs(v) if scale is None else abs(float(scale))
    if top >= 2_000_000:
        text, suffix = f"{abs(v) / 1e6:,.1f}", "M"
    elif top >= 10_000:
        text, suffix = f"{abs(v) / 1e3:,.0f}", "k"
    else:
        text, suffix = f"{abs(v):,.0f}", ""
    return f"{_sign(v, text)}${text}{suffix}"


def decimal_dollars(cents: Any) -> str:
    """Integer cents as a spreadsheet reads dollars: ``123456`` -> ``"1234.56"``, ``-5`` -> ``"-0.05"`` (exact, no
    ``$`` and no thousands separator; fractional cents round half up). Missing -> ``""``, an empty cell."""
    if is_missing(cents):
        return ""
    c = _whole_cents(cents)
    whole, rest = divmod(abs(c), 100)
    return f"{'-' if c < 0 else ''}{whole}.{rest:02d}"


def pct(fraction: Any, digits: int = 1) -> str:
    """``0.9351`` -> ``"93.5%"``."""
    if is_missing(fraction):
        return MISSING
    return f"{float(fraction) * 100:.{digits}f}%"


def days(value: Any) -> str:
    """``42.06`` -> ``"42.1 days"``."""
    if is_missing(value):
        return MISSING
    return f"{float(value):.1f} days"


def count(value: Any) -> str:
    """``1234`` -> ``"1,234"``."""
    if is_missing(value):
        return MISSING
    return f"{float(value):,.0f}"


def plain(value: Any, digits: int = 1) -> str:
    """A number without its unit (the column header names it), a zero fraction dropped: ``17.5`` -> ``"17.5"``,
    ``18.0`` -> ``"18"``."""
    if is_missing(value):
        return MISSING
    text = f"{float(value):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text and not text.split(".")[1].strip("0") else text


def by_unit(value: Any, unit: str) -> str:
    """A KPI value by its unit: ``"days"`` (``"42.1 days"``), ``"pct"`` (``"93.5%"``), ``"usd"`` (``"$1,235"``),
    else a count."""
    return {"days": days, "pct": pct, "usd": usd}.get(unit, count)(value)


def kpi_value(kpi: Any) -> str:
    """A KPI's own value as people read it (a :class:`rcmkit.metrics.KPI`, or any object with ``value`` and
    ``unit``): ``by_unit(kpi.value, kpi.unit)``; an undefined KPI reads :data:`MISSING`."""
    return by_unit(getattr(kpi, "value", None), getattr(kpi, "unit", ""))


def threshold(value: Any, unit: str) -> str:
    """A benchmark target as its file writes it, no fixed decimals: ``40`` days -> ``"40 days"``, ``0.95`` pct ->
    ``"95%"``, ``0.925`` -> ``"92.5%"``, ``1000`` usd -> ``"$1,000"``."""
    if is_missing(value):
        return MISSING
    v = float(value)
    if unit == "pct":
        return f"{round(v * 100, 6):g}%"
    if unit == "days":
        return f"{v:g} days"
    if unit == "usd":
        return usd(v)
    return f"{v:g}"


def chart_label(value: Any, unit: str) -> str:
    """A value written on a chart (a line's end, a bar): ``"93.5%"``, ``"$12k"`` (:func:`usd_short`), days and
    counts as :func:`plain` (``"17.5"``, ``"42"``)."""
    if is_missing(value):
        return MISSING
    if unit == "pct":
        return pct(value)
    if unit == "usd":
        return usd_short(value)
    return plain(value)


def delta(change: Any, unit: str) -> str:
    """A signed change: ``"+1.2 days"``, ``"-0.8 pts"``, ``"+$12,300"``; no change: ``"±0.0 days"``."""
    if is_missing(change):
        return MISSING
    v = float(change)
    sign = "+" if v > 0 else ("-" if v < 0 else "±")
    a = abs(v)
    if unit == "pct":
        return f"{sign}{a * 100:.1f} pts"
    if unit == "days":
        return f"{sign}{a:.1f} days"
    if unit == "usd":
        return f"{sign}${a:,.0f}"
    return f"{sign}{a:,.1f}"


def month_label(month: str) -> str:
    """``"2026-09"`` -> ``"September 2026"``."""
    y, m = (int(p) for p in month.split("-"))
    return f"{calendar.month_name[m]} {y}"


def short_month(month: str) -> str:
    """``"2026-09"`` -> ``"Sep 2026"`` (chart axis labels; never "Sep 26", which reads as a day)."""
    y, m = (int(p) for p in month.split("-"))
    return f"{calendar.month_abbr[m]} {y:04d}"


def month_end(month: str) -> str:
    """``"2026-09"`` -> ``"2026-09-30"``."""
    year, mon = (int(p) for p in month.split("-"))
    return f"{year:04d}-{mon:02d}-{calendar.monthrange(year, mon)[1]:02d}"


def day_label(day: Any) -> str:
    """A date for people: ``"2026-09-30"`` -> ``"Sep 30, 2026"`` (never the ISO form in client text)."""
    if is_missing(day):
        return MISSING
    d = pd.Timestamp(day)
    return f"{calendar.month_abbr[d.month]} {d.day}, {d.year:04d}"


def previous_month(month: str) -> str:
    y, m = (int(p) for p in month.split("-"))
    y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return f"{y:04d}-{m:02d}"


def months_back(month: str, n: int) -> str:
    """``months_back("2026-10", 3)`` -> ``"2026-07"``."""
    for _ in range(int(n)):
        month = previous_month(month)
    return month


def span_label(month: str, months: int) -> str:
    """The ``months`` months ending with ``month``: ``"Nov 2025 to Oct 2026"`` (one month: ``"Oct 2026"``)."""
    start = months_back(month, max(int(months), 1) - 1)
    return short_month(month) if start == month else f"{short_month(start)} to {short_month(month)}"
