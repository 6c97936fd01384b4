"""Benchmark: how long the monthly report takes, end to end and by step, against the issue's 10 s target.

    .venv/bin/python benchmarks/report_speed.py                          # the demo practice in data/ (make demo)
    .venv/bin/python benchmarks/report_speed.py --data-root data --practice demo --month 2026-10 --runs 2

Two measurements, each in a fresh process so nothing is warm that a real run would not have:

1. ``rcmkit report --no-pdf`` as a user runs it (the command's imports and checks, the kernel start, loading the
   tables, the model, every chart, the HTML export, the deck): the target is <= 10 s wall for a 25k-claim
   practice. The steps come from the run's own run.json (``timings``); ``command`` is the rest of the wall time.
2. The report model alone (:func:`rcmkit.report.model.build_report`) in-process, split by section, on pandas and
   on DuckDB tables, with a reference measured in the same run: one month's KPI suite (what every report must at
   least compute), so the ratio says how many "suites" the whole model costs. Wall and CPU seconds (all threads;
   on a shared machine the CPU seconds move less than the wall), and the peak RSS as each section first ended
   (which section raises the peak).

Printed side by side: seconds, the ratio to the target or to the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0

_MODEL = r"""
import functools, json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def peak():
    # this process's own peak RSS: /proc's VmHWM (Linux). ru_maxrss is kept across fork and exec, so it starts at
    # the parent's peak (the benchmark's own reading of the event dates: 6 GiB at 10 M claim lines)
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 2**20  # KiB -> GiB
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
t0 = time.perf_counter()
from rcmkit.core import engine
import rcmkit.report.model as M
from rcmkit.metrics.summary import kpi_suite, prepare
from rcmkit.metrics import MetricOptions
imported = time.perf_counter() - t0
root, practice, month, kind = sys.argv[1:5]
t = time.perf_counter(); tables = engine.open_tables(root, practice, kind); load = time.perf_counter() - t
t = time.perf_counter(); kpi_suite(prepare(tables, MetricOptions()), month); suite = time.perf_counter() - t
del tables
tables = engine.open_tables(root, practice, kind)
spent, spent_cpu, peaks = {}, {}, {}
def timed(name, f):
    @functools.wraps(f)
    def w(*a, **k):
        s, c = time.perf_counter(), cpu(); r = f(*a, **k)
        spent[name] = spent.get(name, 0) + time.perf_counter() - s
        spent_cpu[name] = spent_cpu.get(name, 0) + cpu() - c
        peaks.setdefault(name, peak())  # the process's peak RSS when the section first ended (as_pandas: the
        # collection; its later calls, after the forecast, return the collected tables)
        # as it goes, on stderr: a run stopped by a memory guard still says how far it got
        print(f"{name}: {time.perf_counter() - s:.1f} s, {cpu() - c:.1f} s CPU, peak {peak():.2f} GiB",
              file=sys.stderr, flush=True)
        return r
    return w
for name in ("kpi_suite", "trend_kpis", "kpi_trend", "_cash_forecast", "_caught_denials", "worklist_summary", "payer_scorecard",
             "as_pandas", "open_denials", "provider_summary", "definitions_used", "executive_summary",
             "payments_by_payer_class", "denial_outcomes", "denial_rates_by", "charge_lag", "unbilled_charges",
             "underpayment_summary", "adjustment_shares", "gross_collection_rate"):
    if hasattr(M, name):  # trend_kpis: the trend's months since December 2026 (kpi_trend before)
        setattr(M, name, timed(name, getattr(M, name)))
t, c = time.perf_counter(), cpu(); M.build_report(tables, month, practice=practice)
build, build_cpu = time.perf_counter() - t, cpu() - c
print(json.dumps({"import": imported, "load": load, "suite": suite, "build": build, "build_cpu": build_cpu,
                  "sections": spent, "sections_cpu": spent_cpu, "peaks": peaks, "peak_gib": peak()}))
"""


def run_report(root: Path, practice: str, month: str | None, out: Path) -> dict:
    """``rcmkit report PARAMS --no-pdf`` as a user runs it (a fresh process: the command's imports, its checks,
    the kernel start, the notebook, the HTML export, publishing); its wall time and run.json's step timings.
    ``command`` is what is not the notebook or the HTML export: imports, checks, waiting for the kernel,
    publishing."""
    out.mkdir(parents=True, exist_ok=True)
    params = out / "params.yaml"
    params.write_text(f"practice: {practice}\ndata_root: {root}\noutput_root: {out / 'reports'}\n"
                      + (f"month: '{month}'\n" if month else ""), encoding="utf-8")
    cmd = [str(Path(sys.executable).with_name("rcmkit")), "report", str(params), "--no-pdf", "--no-progress"]
    env = {**os.environ, "RCMKIT_ALLOW_OUTSIDE_ROOTS": "1"}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.exit(f"rcmkit report failed:\n{proc.stderr[-2000:]}")
    html = Path(proc.stdout.strip().splitlines()[-1])
    run = json.loads((html.parent / "run.json").read_text(encoding="utf-8"))
    steps = run.get("timings", {})
    return {"wall": wall, **steps, "command": wall - sum(steps.values())}


def model(root: Path, practice: str, month: str, kind: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MODEL, str(root), practice, month, kind], capture_output=True,
                          text=True, cwd=ROOT)
    if proc.returncode:
        sys.exit(f"build_report on {kind} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(ROOT / "data"))
    ap.add_argument("--practice", default="demo")
    ap.add_argument("--month", default=None, help="YYYY-MM (default: the practice's last full month)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each measurement; the best is printed")
    ap.add_argument("--no-notebook", action="store_true", help="measure the report model only")
    ap.add_argument("--engines", default="pandas,duckdb", help="engines for the model (comma-separated)")
    args = ap.parse_args()
    root = Path(args.data_root).resolve()
    sys.path.insert(0, str(ROOT))
    from rcmkit.core.engine import open_tables
    from rcmkit.core.store import manifest
    from rcmkit.metrics import EVENT_DATES, last_full_month

    # the month from the event dates queried on DuckDB, and the row count from the store's manifest: this process
    # stays small (the model's peak memory is measured in its own process; pandas columns of the dates were 6 GiB
    # at 10 M claim lines)
    month = args.month or last_full_month(open_tables(root, args.practice, "duckdb",
                                                      names=[t for t, _ in EVENT_DATES]))
    claims = manifest(root, args.practice)["tables"]["claims"]["rows"]
    print(f"practice {args.practice!r} ({claims:,} claim submissions), month {month}, best of {args.runs}")

    if not args.no_notebook:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [run_report(root, args.practice, month, Path(tmp) / str(i)) for i in range(args.runs)]
        best = min(runs, key=lambda r: r["wall"])
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in best.items() if k != "wall")
        verdict = "PASS" if best["wall"] <= TARGET_S else f"MISS by {best['wall'] / TARGET_S:.2f}x"
        print(f"\nrcmkit report (no PDF): {best['wall']:.1f} s wall = {best['wall'] / TARGET_S:.2f}x the "
              f"{TARGET_S:.0f} s target: {verdict}\n  steps (run.json): {steps}")

    print(f"\n{'model':<10}{'import':>8}{'load':>8}{'suite':>8}{'build':>8}{'cpu':>8}{'build/suite':>13}"
          f"{'peak GiB':>10}  largest sections (wall s / cpu s)")
    for kind in args.engines.split(","):
        m = min((model(root, args.practice, month, kind) for _ in range(args.runs)), key=lambda r: r["build"])
        top = sorted(m["sections"].items(), key=lambda kv: -kv[1])[:6]
        print(f"{kind:<10}{m['import']:>7.1f}s{m['load']:>7.1f}s{m['suite']:>7.1f}s{m['build']:>7.1f}s"
              f"{m['build_cpu']:>7.1f}s{m['build'] / m['suite']:>12.1f}x{m['peak_gib']:>10.2f}  "
              + ", ".join(f"{k.strip('_')} {v:.1f}/{m['sections_cpu'][k]:.1f}" for k, v in top))
        print(f"{'':<10}peak GiB as each section first ended: "
              + ", ".join(f"{k.strip('_')} {v:.2f}" for k, v in m["peaks"].items()))


if __name__ == "__main__":
    main()
