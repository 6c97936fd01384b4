"""Render ``docs/metrics.md`` from the metric functions themselves, so the reference cannot drift from the code.

``python -m rcmkit.metrics.docs > docs/metrics.md`` regenerates it; a test fails when it is stale.
"""

from __future__ import annotations

import inspect
import sys

from rcmkit.metrics import ar, benchmarks, collections, contracts, denials, lags, payers, reimbursement, worklists
from rcmkit.metrics._common import MetricOptions
from rcmkit.metrics.registry import KPIS
from rcmkit.metrics.summary import definitions_used

#: The reference's sections: (title, module, the supporting functions). Each section opens with the headline KPIs
#: the registry (:data:`rcmkit.metrics.registry.KPIS`) files under that title, so a KPI added there is documented
#: here without another edit; the functions below are the tables and work lists beside them.
FAMILIES = [
    ("Accounts receivable", ar, [ar.ar_balances, ar.ar_aging]),
    ("Claims and denials", denials,
     [denials.first_adjudications, denials.denial_reasons, denials.denial_rates_by, denials.denial_outcomes]),
    ("Reimbursement", reimbursement, [reimbursement.reimbursement_by_payer_code]),
    ("Payers", payers, [payers.payer_scorecard, payers.open_denials]),
    ("Collections", collections,
     [collections.gross_collection_rate, collections.adjustment_shares, collections.payments_by_payer_class,
      collections.unapplied_postings]),
    ("Underpayments", contracts,
     [contracts.contract_lines, contracts.underpayments, contracts.underpayment_summary]),
    ("Lags", lags, [lags.charge_lag, lags.days_to_pay, lags.unbilled_charges]),
    ("Work lists", worklists,
     [worklists.no_response, worklists.timely_filing_risk, worklists.denied_not_resubmitted]),
    ("Benchmarks", benchmarks, [benchmarks.benchmark_status]),
]


def family_functions(title: str, supporting: list) -> list:
    """The registry's KPI functions filed under ``title`` (registry order, each once), then ``supporting``."""
    out = []
    for spec in KPIS:
        if spec.family == title and spec.function is not None and spec.function not in out:
            out.append(spec.function)
    return out + [fn for fn in supporting if fn not in out]


def _headline_table() -> str:
    rows = ["| Key | KPI | Unit | Better | Section | Function |", "|---|---|---|---|---|---|"]
    for spec in KPIS:
        better = {1: "higher", -1: "lower", 0: "neither"}[spec.better]
        fn = f"`{spec.function.__name__}`" if spec.function is not None else "(from the A/R balances)"
        rows.append(f"| `{spec.key}` | {spec.label} | {spec.unit} | {better} | {spec.family} | {fn} |")
    return "\n".join(rows)


def _table(df) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def render() -> str:
    """The metrics reference as markdown."""
    out = [
        "# rcmkit metrics reference",
        "",
        "Generated from the code by `python -m rcmkit.metrics.docs`; do not edit by hand.",
        "Every number in a report comes from one of these functions. Worked examples with every step of the",
        "arithmetic: `tests/test_metrics.py` on the dozen hand-made claims of `tests/small_practice.py`.",
        "",
        "## Options",
        "",
        inspect.cleandoc(MetricOptions.__doc__ or ""),
        "",
        "## Headline KPIs (the registry, rcmkit.metrics.registry)",
        "",
        _headline_table(),
        "",
        "## Default definitions, as a report prints them",
        "",
        _table(definitions_used(MetricOptions())),
    ]
    for title, module, supporting in FAMILIES:
        out += ["", f"## {title}", "", inspect.cleandoc(module.__doc__ or "")]
        for fn in family_functions(title, supporting):
            out += ["", f"### `{fn.__name__}{inspect.signature(fn)}`", "", inspect.cleandoc(fn.__doc__ or "")]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
