"""Benchmark: how long the explorer takes to answer a control change, on the demo practice.

    .venv/bin/python benchmarks/explorer_latency.py                       # makes the default demo in a temp folder
    .venv/bin/python benchmarks/explorer_latency.py --data-root data      # an existing practice (default 'demo')
    .venv/bin/python benchmarks/explorer_latency.py --claims 5000 --runs 3

Each step changes one control the way a user would (a payer, a payer class, a code search, the period, the
metric, the drill-down level, the reimbursement tab, ...) and times the widget's whole refresh in the kernel: the
filter, every KPI tile, the chart (rendered to PNG), the table or heat map, as HTML. The browser's own drawing is
not included (benchmarks/explorer_browser_latency.py times that in headless Chromium). Every step is a selection
not seen before except the two that clear the filters, which go back to the first view's (the explorer keeps a
small memo and the charts it drew, so going back to a seen selection is near instant); the sequence runs ``--runs``
times on fresh explorers and the best time of each step is reported, as wall time on a shared machine varies;
beside it the step's CPU time (this process's, Polars' threads included: the work done, which other processes on
a busy machine do not inflate as much as they do the wall time); and the machine's speed at the start and end: the
CPU time of a fixed loop (benchmarks/explorer_browser_latency.py's: 1.3 s on a quiet machine here, up to 2.9 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rcmkit.explorer import Explorer, load_data  # noqa: E402


def steps(x: Explorer) -> list[tuple[str, callable]]:
    payers = [v for _, v in x.payer.options]
    classes = [v for _, v in x.payer_class.options]
    npis = [v for _, v in x.provider.options]
    months = [v for _, v in x.end.options]

    def set_(control, value):
        return lambda: setattr(control, "value", value)

    def category():
        options = [v for _, v in x.category.options if v != "__all__"]
        x.category.value = options[0]

    return [
        ("payer: one payer", set_(x.payer, (payers[0],))),
        ("payer: another payer", set_(x.payer, (payers[1],))),
        ("payer: two payers", set_(x.payer, (payers[0], payers[1]))),
        ("payer: all (cleared)", set_(x.payer, ())),
        ("payer class: commercial", set_(x.payer_class, ("commercial",) if "commercial" in classes else (classes[0],))),
        ("provider: one NPI", set_(x.provider, (npis[0],))),
        ("procedure codes: '9921'", set_(x.codes, "9921")),
        ("clear filters", x.clear_filters),
        ("months: 12", set_(x.months, 12)),
        ("months: 1", set_(x.months, 1)),
        ("period end: a month earlier", set_(x.end, months[-2])),
        ("level: by payer", set_(x.level, "payer")),
        ("level: by code", set_(x.level, "code")),
        ("category: the largest (-> by code)", category),
        ("level: claims", set_(x.level, "claims")),
        ("metric: clean-claim rate", set_(x.metric, "clean_claim_rate")),
        ("metric: A/R and aging", set_(x.metric, "ar")),
        ("level: open balances (claims)", set_(x.level, "claims")),
        ("metric: charges and payments", set_(x.metric, "charges_payments")),
        ("tab: reimbursement", lambda: setattr(x.tabs, "selected_index", 1)),
        ("measure: allowed / contract", set_(x.measure, "allowed_to_contract")),
        ("codes by paid $", set_(x.rank_by, "paid")),
        ("top 20 codes", set_(x.top, 20)),
        ("payer (on the heat map)", set_(x.payer, (payers[2],))),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", help="an existing data root (default: generate the demo in a temp folder)")
    ap.add_argument("--practice", default="demo")
    ap.add_argument("--claims", type=int, default=None, help="claims in the generated demo (default: rcmkit's 25,000)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    from explorer_browser_latency import loop_seconds

    loops = [loop_seconds()]

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root
        if root is None:
            root = tmp
            cmd = [str(Path(sys.executable).parent / "rcmkit"), "demo", "--practice", args.practice,
                   "--data-root", root]
            if args.claims:
                cmd += ["--claims", str(args.claims)]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            print(f"demo practice generated in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        data = load_data(root, args.practice)
        t_load = time.perf_counter() - t0
        claims = data.index.size
        t0 = time.perf_counter()
        x = Explorer(data, months=3)
        t_first = time.perf_counter() - t0
        print(f"{claims:,} claims; tables loaded and caches built in {t_load:.2f} s; first view in {t_first:.2f} s")

        best: dict[str, float] = {}
        best_cpu: dict[str, float] = {}
        names: list[str] = []
        for run in range(args.runs):
            if run:
                x = Explorer(load_data(root, args.practice), months=3)
            for name, action in steps(x):
                t0, c0 = time.perf_counter(), time.process_time()
                action()
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                if x.last_error:
                    raise SystemExit(f"step {name!r} failed: {x.last_error}")
                if run == 0:
                    names.append(name)
                best[name] = min(best.get(name, float("inf")), dt)
                best_cpu[name] = min(best_cpu.get(name, float("inf")), cpu)

    loops.append(loop_seconds())
    width = max(len(n) for n in names)
    print(f"\n{'control change':{width}}  seconds (best of {args.runs})  CPU seconds (best of {args.runs})")
    for n in names:
        print(f"{n:{width}}  {best[n]:6.3f}  {best_cpu[n]:6.3f}")
    times, cpus = [best[n] for n in names], [best_cpu[n] for n in names]
    print(f"\nmedian {statistics.median(times):.3f} s, slowest {max(times):.3f} s over {len(times)} changes "
          f"(CPU: median {statistics.median(cpus):.3f} s, slowest {max(cpus):.3f} s); fixed loop {loops[0]:.2f} s "
          f"before, {loops[-1]:.2f} s after (1.3 s on a quiet machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
