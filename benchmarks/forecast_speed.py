"""How long the monthly report's cash forecast takes (issue #15: the report in seconds on a 25,000-claim practice):
:func:`rcmkit.forecast.month_forecast` (a Book of the tables, the forecast at the month's end and last month's,
each with the calibration errors of ~15 earlier month ends) against the straightforward per-as-of reference it
must equal (tests/forecast_reference.py), in the same run, on the same loaded tables.

    .venv/bin/python benchmarks/forecast_speed.py                              # the demo in data/ (2026-10)
    .venv/bin/python benchmarks/forecast_speed.py --data-root /work/main/data --month 2026-10
    .venv/bin/python benchmarks/forecast_speed.py --claims 25000 --seed 7      # generate the demo instead
    .venv/bin/python benchmarks/forecast_speed.py --repeat 5 --no-reference    # the fast path only

Times are of a warm process with the tables already loaded: one untimed call of each path first (imports,
pandas' first-call costs), then the median of ``--repeat`` calls, wall clock and CPU (the machine may be shared:
CPU time is the steadier number). It also checks that both paths return the same numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rcmkit.core import store  # noqa: E402
import forecast_reference as _reference  # noqa: E402  (tests/: the computation before the speed-up)
from rcmkit.forecast import month_forecast  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median wall seconds, median CPU seconds, the last result) of ``repeat`` calls after an untimed one."""
    out = fn()
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def largest_gap(fast, ref) -> float:
    """The largest relative difference between the two paths' numbers (every numeric column of every frame)."""
    gaps = [0.0]
    pairs = [(fast.weeks, ref.weeks), (fast.horizons, ref.horizons), (fast.check, ref.check)]
    for a, b in ((fast.forecast, ref.forecast), (fast.prior, ref.prior)):
        if a is not None and b is not None:
            pairs += [(a.detail, b.detail), (a.totals, b.totals), (a.writeoffs, b.writeoffs), (a.errors, b.errors)]
            gaps.append(abs(a.open_cents - b.open_cents) / max(abs(b.open_cents), 1.0))
    for x, y in pairs:
        if list(x.columns) != list(y.columns) or len(x) != len(y):
            return float("inf")
        for col in x.columns:
            if pd.api.types.is_numeric_dtype(y[col]) and not pd.api.types.is_bool_dtype(y[col]):
                u, v = x[col].to_numpy(dtype=float), y[col].to_numpy(dtype=float)
                both = np.isfinite(u) & np.isfinite(v)
                if not np.array_equal(np.isnan(u), np.isnan(v)):
                    return float("inf")
                if both.any():
                    gaps.append(float(np.max(np.abs(u[both] - v[both]) / np.maximum(np.abs(v[both]), 1.0))))
            elif not x[col].equals(y[col]):
                return float("inf")
    return max(gaps)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default="data", help="the data root holding the practice (default: data)")
    ap.add_argument("--practice", default="demo")
    ap.add_argument("--month", default="2026-10", help="the report month (YYYY-MM)")
    ap.add_argument("--claims", type=int, help="generate a demo of this many claims instead of loading one")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="timed calls of each path (after one untimed)")
    ap.add_argument("--no-reference", action="store_true", help="time the fast path only")
    args = ap.parse_args(argv)
    if args.claims:
        from rcmkit.core.ledger import build_ledger
        from rcmkit.demo.practice import generate

        tables = generate(seed=args.seed, n_claims=args.claims)
        tables["ledger"] = build_ledger(tables)
        what = f"a generated demo (seed {args.seed}, {args.claims:,} claims)"
    else:
        tables = store.load_tables(args.data_root, args.practice, required=False)
        what = f"practice {args.practice!r} in {args.data_root}"
    n_claims = tables["ledger"]["claim_id"].nunique()
    print(f"month_forecast({args.month}) on {what}: {n_claims:,} claims, {len(tables['ledger']):,} ledger rows")
    wall, cpu, fast = timed(lambda: month_forecast(tables, args.month), args.repeat)
    print(f"  fast path:      {wall:6.2f} s wall, {cpu:6.2f} s CPU (median of {args.repeat})")
    if args.no_reference:
        return 0
    ref_wall, ref_cpu, ref = timed(lambda: _reference.month_forecast(tables, args.month), args.repeat)
    print(f"  reference path: {ref_wall:6.2f} s wall, {ref_cpu:6.2f} s CPU (median of {args.repeat})")
    print(f"  speed-up: {ref_wall / wall:.1f}x wall, {ref_cpu / cpu:.1f}x CPU")
    gap = largest_gap(fast, ref)
    print(f"  largest relative difference between the two paths' numbers: {gap:.1e}"
          + ("" if gap <= 1e-9 else "  <-- NOT THE SAME"))
    return 0 if gap <= 1e-9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
