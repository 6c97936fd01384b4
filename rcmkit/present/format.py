"""Number formatting for the report: one place for how money, percentages and days read."""

from __future__ import annotations

import calendar
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

__all__ = [
    "is_missing",
    "usd",
    "usd_cents",
    "pct",
    "days",
    "count",
    "by_unit",
    "delta",
    "month_label",
    "short_month",
    "previous_month",
    "months_back",
    "span_label",
]


def is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v) or (isinstance(v, float) and math.isnan(v))  # NaN, pd.NA
    except (TypeError, ValueError):
        return True


def usd(dollars: Any, *, cents: bool = False) -> str:
    """``1234567.8`` -> ``"$1,234,568"`` (``cents=True``: ``"$1,234,567.80"``); negatives as ``"-$12"``."""
    if is_missing(dollars):
        return "—"
    v = float(dollars)
    sign = "-" if v < 0 else ""
    return f"{sign}${abs(v):,.2f}" if cents else f"{sign}${abs(v):,.0f}"


def usd_cents(cents: Any, *, cents_shown: bool = True) -> str:
    """Integer cents -> dollars text, exact: ``123456`` -> ``"$1,234.56"``."""
    if is_missing(cents):
        return "—"
    c = _whole_cents(cents)
    sign = "-" if c < 0 else ""
    whole, rest = divmod(abs(c), 100)
    if not cents_shown:
        whole += 1 if rest >= 50 else 0
        return f"{sign}${whole:,}"
    return f"{sign}${whole:,}.{rest:02d}"


def _whole_cents(cents: Any) -> int:
    """Integer cents stay exact; fractional cents (a per-unit average) round half up to the cent."""
    if isinstance(cents, (int, np.integer)):
        return int(cents)
    return int(Decimal(repr(float(cents))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def pct(fraction: Any, digits: int = 1) -> str:
    """``0.9351`` -> ``"93.5%"``."""
    if is_missing(fraction):
        return "—"
    return f"{float(fraction) * 100:.{digits}f}%"


def days(value: Any) -> str:
    if is_missing(value):
        return "—"
    return f"{float(value):.1f} days"


def count(value: Any) -> str:
    if is_missing(value):
        return "—"
    return f"{float(value):,.0f}"


def by_unit(value: Any, unit: str) -> str:
    """Format a KPI value by its unit ("days", "pct", "usd")."""
    return {"days": days, "pct": pct, "usd": usd}.get(unit, count)(value)


def delta(change: Any, unit: str) -> str:
    """A signed change: ``"+1.2 days"``, ``"-0.8 pts"``, ``"+$12,300"``."""
    if is_missing(change):
        return "—"
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
    """``"2026-09"`` -> ``"Sep 26"`` (chart axis labels)."""
    y, m = (int(p) for p in month.split("-"))
    return f"{calendar.month_abbr[m]} {y % 100:02d}"


def month_end(month: str) -> str:
    """``"2026-09"`` -> ``"2026-09-30"``."""
    year, mon = (int(p) for p in month.split("-"))
    return f"{year:04d}-{mon:02d}-{calendar.monthrange(year, mon)[1]:02d}"


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
    """The ``months`` months ending with ``month``: ``"Nov 25 to Oct 26"`` (one month: ``"Oct 26"``)."""
    start = months_back(month, max(int(months), 1) - 1)
    return short_month(month) if start == month else f"{short_month(start)} to {short_month(month)}"
