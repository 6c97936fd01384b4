"""Backtest of the cash forecast (issue #18) on the demo practice: MAPE and 80% interval coverage by horizon, beside
two naive baselines.

    .venv/bin/python benchmarks/forecast_backtest.py                     # the default demo, 25,000 claims
    .venv/bin/python benchmarks/forecast_backtest.py --data-root data    # an existing practice (default 'demo')
    .venv/bin/python benchmarks/forecast_backtest.py --claims 5000 --seed 11
    .venv/bin/python benchmarks/forecast_backtest.py --csv backtest.csv  # every month end's numbers too

For every month end of the data's second year whose window had closed by the data's end, it forecasts 30, 60 and
90 days from that month end (using only what was posted by then) and compares with the cash that actually came
in. Methods (rcmkit.forecast.backtest):

* forecast: the model's all-cash total (today's open A/R plus the new charges of the coming days);
* last month: the month's cash per day x the horizon's days;
* same months last year: the cash of the same window one year earlier;
* forecast: open A/R: the model's open-A/R part against the cash on the claims billed by the month end (no
  baseline forecasts that quantity; shown for the method's core).

Every method's 80% interval comes from its own errors at earlier month ends (split-conformal), so the coverage
columns compare like with like. A second table scores the open-A/R forecast by payer class (and patients).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from rcmkit.core import store  # noqa: E402
from rcmkit.forecast import Book  # noqa: E402
from rcmkit.forecast.backtest import backtest, backtest_by_class, score  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", help="use this data root's practice instead of generating the demo")
    ap.add_argument("--practice", default="demo")
    ap.add_argument("--claims", type=int, default=25_000, help="claims of the generated demo")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--csv", help="also write every month end's forecast and actual to this CSV")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    if args.data_root:
        tables = store.load_tables(args.data_root, args.practice, required=False)
        what = f"practice {args.practice!r} in {args.data_root}"
    else:
        from rcmkit.core.ledger import build_ledger
        from rcmkit.demo.practice import generate

        tables = generate(seed=args.seed, n_claims=args.claims)
        tables["ledger"] = build_ledger(tables)
        what = f"the demo practice (seed {args.seed}, {args.claims:,} claims, generated)"
    book = Book(tables)
    loaded = time.perf_counter() - started
    results = backtest(book, progress=lambda ends: tqdm(ends, desc="month ends", unit="month"))
    elapsed = time.perf_counter() - started
    scores = score(results)
    print(f"\nBacktest of the cash forecast on {what}")
    ends = sorted(results["month_end"].unique())
    print(f"month ends {pd.Timestamp(ends[0]):%Y-%m-%d} .. {pd.Timestamp(ends[-1]):%Y-%m-%d}; "
          f"{loaded:.1f} s to load, {elapsed - loaded:.1f} s to backtest")
    table = scores.assign(mape=scores["mape"].map(lambda v: f"{v:.1%}"),
                          coverage=scores["coverage"].map(lambda v: "" if v != v else f"{v:.0%}"))
    with pd.option_context("display.width", 160):
        print(table.rename(columns={"with_interval": "months with an interval"}).to_string(index=False))
    print()
    for h in sorted(scores["horizon"].unique()):
        s = scores[scores["horizon"] == h].set_index("method")["mape"]
        best = min(s["last month"], s["same months last year"])
        verdict = "beats" if s["forecast"] < best else "does NOT beat"
        print(f"{h} days: the forecast's MAPE {s['forecast']:.1%} {verdict} the better baseline's {best:.1%} "
              f"(by {best - s['forecast']:+.1%} points)")
    classes = score(backtest_by_class(book), by="payer_class")
    print("\nthe open-A/R forecast by payer class, against the cash each brought in:")
    table = classes.assign(mape=classes["mape"].map(lambda v: f"{v:.1%}"),
                           coverage=classes["coverage"].map(lambda v: "" if v != v else f"{v:.0%}"))
    print(table.drop(columns=["with_interval"]).to_string(index=False))
    if args.csv:
        results.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        raise SystemExit(main())
