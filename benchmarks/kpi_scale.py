"""Benchmark (issue #7): the monthly KPI suite at 1 M and 10 M claim lines, on pandas, on DuckDB through rcmkit, and
with a hand-written DuckDB SQL reference of the same metrics (benchmarks/kpi_reference.py), in the same run.

    .venv/bin/python benchmarks/kpi_scale.py                          # 1 M and 10 M lines, every engine
    .venv/bin/python benchmarks/kpi_scale.py --lines 100000 --runs 1  # a quick run
    .venv/bin/python benchmarks/kpi_scale.py --lines 1000000 --engines sql,pandas --json kpi_scale.json
    .venv/bin/python benchmarks/kpi_scale.py --lines 1000000 --profile pandas   # + cProfile of the pandas suite

Data. N claim lines (``claim_lines`` rows) with the demo generator's distributions: one base practice of about
500,000 lines (``rcmkit.demo.generate``, seed ``--seed``, and its ledger from ``rcmkit.core.ledger.build_ledger``) is
replicated K times with distinct claim, submission, remit, payer-claim, trace and patient IDs (prefix
``k<copy>-``; payers, codes, dates and amounts unchanged), and a seeded random sample of whole claims of one more
copy tops it up to N lines. The ledger is derived claim by claim, so replicating the base ledger is exactly what
``build_ledger`` would give for the replicated tables. The tables are written with ``rcmkit.core.store.save_tables``
(one table per transaction, so memory stays bounded; the files are exactly what the store writes) under
``--cache-dir`` (default ``benchmarks/.cache/``, git-ignored by a ``.gitignore`` inside it), keyed by N, the seed
and a hash of rcmkit's store, schema, demo and ledger code, and reused by later runs. Generation time is printed
apart from the timings.

Timings. For each N and engine a fresh subprocess loads the practice's tables and computes the suite for one month
(``--month``, default the last full month of the data, as of its last day) ``--runs`` times (default 3 up to 1 M
lines, else 1; the best is reported); its peak memory is the subprocess's own (VmHWM). The suite is: the headline
KPIs of ``monthly_kpis`` (days in A/R gross and net, A/R total and % over 120 days, clean-claim rate, initial
denial rate by claims and dollars, net collection rate, charges, payments), aging by payer, reimbursement by payer
x code and denial reasons.

* ``sql``: ``kpi_reference.reference_suite`` (DuckDB over ``read_parquet``).
* ``duckdb``: ``rcmkit.core.engine.open_tables(..., engine="duckdb")`` + ``rcmkit.metrics.kpi_suite``.
* ``pandas``: ``rcmkit.core.engine.open_tables(..., engine="pandas", columns=rcmkit.metrics.SUITE_COLUMNS)`` (the
  suite's tables and columns, loaded into memory: timed apart as "load") + ``rcmkit.metrics.kpi_suite``.

Each engine's results are compared with the SQL reference's (KPIs to the cent, every cell of the three tables); a
mismatch is printed loudly. The table shows seconds, peak GiB and the ratio to the SQL reference, then the issue's
targets (rcmkit's fast engine within 1.5x of the SQL; pandas: 10 M lines in under 20 s and 8 GiB) as PASS/MISS.
A subprocess whose memory passes ``--max-rss-gib`` (default 16) or time passes ``--timeout`` is stopped and
reported as such.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

PRACTICE = "bench"
ENGINES = ("sql", "duckdb", "pandas")
LABELS = {"sql": "SQL reference", "duckdb": "rcmkit duckdb", "pandas": "rcmkit pandas"}
#: Identifier columns made distinct per copy; every other column (payers, codes, dates, money) is kept.
ID_COLUMNS = {
    "claims": ("claim_id", "submission_id", "patient_key", "payer_claim_ref"),
    "claim_lines": ("submission_id",),
    "remittances": ("remit_id", "claim_id", "payer_claim_id", "trace_number"),
    "remit_lines": ("remit_id",),
    "adjustments": ("remit_id",),
    "postings": ("claim_id",),
    "ledger": ("claim_id",),
}
SHARED_TABLES = ("payers", "contracts")  # reference tables: one copy
LINES_PER_CLAIM = 2.03  # claim_lines rows per generated original claim (demo, family medicine; measured)
DATA_VERSION = 1  # bump when the way the data is built changes: the cache key includes it
TARGET_RATIO = 1.5
TARGET_PANDAS_SECONDS = 20.0
TARGET_PANDAS_GIB = 8.0
TARGET_PANDAS_LINES = 10_000_000


def _gib(n_bytes: float) -> float:
    return n_bytes / 2**30


def _peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM), in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _code_version() -> str:
    """The commit of the working tree, '+dirty' when it has uncommitted changes (read-only git calls)."""
    try:
        def git(*cmd):
            return subprocess.run(["git", *cmd], cwd=HERE.parent, capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "--", "rcmkit") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ============================================================================================== the data
def _writer_version() -> str:
    """A short hash of the code that decides the files' bytes and layout (rcmkit's store, schema and demo), so
    data written by an older store (other row groups, another order) is not reused."""
    import hashlib

    h = hashlib.sha256()
    for name in ("core/store.py", "core/schema.py", "demo/practice.py", "core/ledger.py"):
        h.update((HERE.parent / "rcmkit" / name).read_bytes())
    return h.hexdigest()[:8]


def _dataset_dir(cache_dir: Path, lines: int, seed: int, base_lines: int) -> Path:
    return cache_dir / f"kpi_scale-v{DATA_VERSION}-lines{lines}-seed{seed}-base{base_lines}-rcmkit{_writer_version()}"


def _prefixed(frame, copy: int, columns):
    """``frame`` with its identifier ``columns`` prefixed ``k<copy>-`` (missing values stay missing)."""
    prefix = f"k{copy:03d}-"
    return frame.assign(**{name: prefix + frame[name] for name in columns})


def _top_up(base: dict, lines_needed: int, seed: int) -> dict:
    """A seeded random sample of whole claims of the base practice with at least ``lines_needed`` claim lines:
    every table restricted to those claims (their submissions, lines, remits, adjustments, postings, ledger)."""
    import numpy as np

    if lines_needed <= 0:
        return {}
    claims = base["claims"][["claim_id", "submission_id"]]
    per_claim = base["claim_lines"][["submission_id"]].merge(claims, on="submission_id").groupby("claim_id").size()
    order = per_claim.sample(frac=1.0, random_state=np.random.default_rng([seed, 7919]))
    take = set(order.index[: int(np.searchsorted(order.cumsum().to_numpy(), lines_needed) + 1)])
    subs = set(claims.loc[claims["claim_id"].isin(take), "submission_id"])
    remits = set(base["remittances"].loc[base["remittances"]["claim_id"].isin(take), "remit_id"])
    by = {"claims": ("claim_id", take), "claim_lines": ("submission_id", subs), "remittances": ("claim_id", take),
          "remit_lines": ("remit_id", remits), "adjustments": ("remit_id", remits), "postings": ("claim_id", take),
          "ledger": ("claim_id", take)}
    return {name: base[name][base[name][column].isin(values)] for name, (column, values) in by.items()}


def _last_full_month(folder: Path) -> str:
    """rcmkit's last full month of the data, from the latest dates in the files (read by DuckDB, not loaded)."""
    import duckdb
    import pandas as pd

    from rcmkit.metrics import last_full_month

    con = duckdb.connect()

    from rcmkit.core import store

    def latest(table: str, column: str):
        paths = [p.as_posix() for p in store.committed_paths(folder.parent, folder.name, [table])[table]]
        return con.execute(f"SELECT max({column}) FROM read_parquet(?)", [paths]).fetchall()[0][0]

    tables = {name: pd.DataFrame({column: pd.to_datetime([latest(name, column)])})
              for name, column in (("claims", "submitted_on"), ("remittances", "paid_on"), ("postings", "posted_on"),
                                   ("ledger", "posted_on"))}
    return last_full_month(tables)


def build_dataset(lines: int, seed: int, cache_dir: Path, base_lines: int = 500_000) -> dict:
    """The practice of ``lines`` claim lines under the cache (built once); returns its metadata, with ``root``."""
    folder = _dataset_dir(cache_dir, lines, seed, base_lines)
    meta_path = folder / "dataset.json"
    if meta_path.exists() and all((folder / PRACTICE / "tables" / t).is_dir() for t in (*ID_COLUMNS, *SHARED_TABLES)):
        meta = json.loads(meta_path.read_text())
        return {**meta, "root": str(folder), "cached": True}

    import pandas as pd

    from rcmkit import demo

    from rcmkit.core import store
    from rcmkit.core.ledger import build_ledger

    cache_dir.mkdir(parents=True, exist_ok=True)
    if not (cache_dir / ".gitignore").exists():
        (cache_dir / ".gitignore").write_text("*\n")  # generated data: never committed
    if folder.exists():
        shutil.rmtree(folder)  # an unfinished earlier build
    started = time.perf_counter()
    copies = max(1, round(lines / base_lines))
    n_claims = max(100, int(lines / copies / LINES_PER_CLAIM * 0.995))  # a little under: the top-up fills the rest
    print(f"  generating the base practice: demo.generate(seed={seed}, n_claims={n_claims:,}) + build_ledger ...",
          flush=True)
    base = demo.generate(seed=seed, n_claims=n_claims)
    base["ledger"] = build_ledger(base)
    base_line_count = len(base["claim_lines"])
    copies = max(0, min(copies, lines // base_line_count))
    extra = _top_up(base, lines - copies * base_line_count, seed)
    generated = time.perf_counter() - started
    print(f"  base: {base_line_count:,} lines, {len(base['claims']):,} submissions, {len(base['ledger']):,} "
          f"ledger rows in {generated:.1f} s; replicating x{copies} + a top-up of "
          f"{len(extra['claim_lines']) if extra else 0:,} lines; writing with rcmkit.core.store.save_tables ...",
          flush=True)
    rows = {}
    for name in (*SHARED_TABLES, *ID_COLUMNS):  # one table per transaction: bounded memory
        if name in SHARED_TABLES:
            frame = base[name]
        else:
            parts = [_prefixed(base[name], k, ID_COLUMNS[name]) for k in range(copies)]
            if extra:
                parts.append(_prefixed(extra[name], copies, ID_COLUMNS[name]))
            frame = pd.concat(parts, ignore_index=True)
        store.save_tables(folder, PRACTICE, {name: frame})
        rows[name] = len(frame)
        del frame
    del base, extra
    meta = {
        "lines_requested": lines, "lines": rows["claim_lines"], "seed": seed, "base_claims": n_claims,
        "base_lines": base_line_count, "copies": copies, "rows": rows,
        "month": _last_full_month(folder / PRACTICE), "generation_seconds": round(time.perf_counter() - started, 2),
        "parquet_mb": round(sum(p.stat().st_size for p in (folder / PRACTICE).rglob("*.parquet")) / 1e6, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return {**meta, "root": str(folder), "cached": False}


# ============================================================================================== the engines
def _run_once(engine: str, root: str, month: str) -> tuple[dict, float | None]:
    """(the normalized suite, seconds spent loading tables (pandas) or None (lazy engines load as they go))."""
    from kpi_reference import TABLES, normalize_suite, reference_suite

    from rcmkit.core.engine import open_tables
    from rcmkit.metrics import SUITE_COLUMNS, MetricOptions, kpi_suite

    options = MetricOptions()
    if engine == "sql":
        return normalize_suite(reference_suite(root, PRACTICE, month, options)), None
    started = time.perf_counter()
    tables = open_tables(root, PRACTICE, engine, names=list(TABLES), columns=SUITE_COLUMNS)
    loaded = time.perf_counter() - started if engine == "pandas" else None
    suite = kpi_suite(tables, month, options)
    return normalize_suite(suite), loaded  # normalizing materializes lazy results: inside the timing


def worker(args) -> int:
    """One engine in this (fresh) process: ``--runs`` timed runs, then the peak memory; JSON + pickle to --out."""
    out = Path(args.out)
    result = {"engine": args.worker, "runs": [], "load_seconds": []}
    import duckdb  # noqa: F401  imports are not timed
    import pandas  # noqa: F401

    import kpi_reference  # noqa: F401
    import rcmkit.metrics  # noqa: F401

    result["baseline_rss_gib"] = _gib(_rss_bytes(os.getpid()))
    suite = None
    for run in range(args.runs):
        suite = None
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            suite, loaded = profiler.runcall(_run_once, args.worker, args.root, args.month)
        else:
            suite, loaded = _run_once(args.worker, args.root, args.month)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        result["runs"].append(round(wall, 3))
        result["load_seconds"].append(None if loaded is None else round(loaded, 3))
        load_text = "" if loaded is None else f" (load {loaded:.2f} s)"
        print(f"    {LABELS[args.worker]} run {run + 1}/{args.runs}: {wall:7.2f} s wall, {cpu:7.2f} s CPU{load_text}",
              file=sys.stderr, flush=True)
        if args.profile:
            stats = pstats.Stats(profiler, stream=sys.stderr)
            print(f"    cProfile of the {LABELS[args.worker]} suite, by cumulative time (rcmkit and pandas):",
                  file=sys.stderr)
            stats.sort_stats("cumulative").print_stats(r"rcmkit|pandas/core/(groupby|reshape/merge|frame|"
                                                       r"algorithms|sorting|series)", 40)
            stats.sort_stats("tottime").print_stats(25)
    result["status"] = "ok"
    result["peak_gib"] = _gib(_peak_rss_bytes())
    out.with_suffix(".json").write_text(json.dumps(result))
    with open(out.with_suffix(".pkl"), "wb") as fh:
        pickle.dump(suite, fh)
    return 0


def _spawn(engine: str, dataset: dict, runs: int, args, tmp: Path) -> dict:
    """Run one engine in a fresh subprocess, watching its memory; returns the worker's result (plus its suite)."""
    out = tmp / f"{engine}-{dataset['lines']}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--root", dataset["root"],
           "--month", dataset["month"], "--runs", str(runs), "--out", str(out)]
    if args.profile == engine:
        cmd.append("--profile-worker")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_seen, stopped = 0, None
    while proc.poll() is None:
        time.sleep(0.2)
        peak_seen = max(peak_seen, _rss_bytes(proc.pid))
        if _gib(peak_seen) > args.max_rss_gib:
            stopped = f"stopped: memory over {args.max_rss_gib:g} GiB"
        elif time.perf_counter() - started > args.timeout:
            stopped = f"stopped: over the {args.timeout:g} s timeout"
        if stopped:
            proc.kill()  # our own child, by its id
            proc.wait()
            break
    if stopped:
        return {"engine": engine, "status": stopped, "runs": [], "peak_gib": _gib(peak_seen)}
    if proc.returncode != 0 or not out.with_suffix(".json").exists():
        return {"engine": engine, "status": f"failed: exit code {proc.returncode}", "runs": []}
    result = json.loads(out.with_suffix(".json").read_text())
    if out.with_suffix(".pkl").exists():
        with open(out.with_suffix(".pkl"), "rb") as fh:
            result["suite"] = pickle.load(fh)
    return result


# ============================================================================================== the report
def _fmt_lines(n: int) -> str:
    return f"{n / 1e6:g} M" if n >= 1_000_000 else f"{n / 1e3:g} k"


def _targets(results: list[dict]) -> list[dict]:
    targets = []
    by = {(r["lines_requested"], r["engine"]): r for r in results}
    for n in sorted({r["lines_requested"] for r in results}):
        fast = by.get((n, "duckdb"))
        if fast is not None:
            ratio = fast.get("ratio_to_sql")
            targets.append({"target": f"rcmkit duckdb <= {TARGET_RATIO}x SQL at {_fmt_lines(n)} lines",
                            "measured": None if ratio is None else f"{ratio:.2f}x",
                            "status": "n/a" if ratio is None else ("PASS" if ratio <= TARGET_RATIO else "MISS"),
                            "note": None if ratio is not None else fast["status"]})
    pandas_big = [r for r in results if r["engine"] == "pandas" and r["lines_requested"] >= TARGET_PANDAS_LINES]
    for r in pandas_big:
        ok = r["status"] == "ok"
        label = _fmt_lines(r["lines_requested"])
        targets.append({"target": f"rcmkit pandas {label} lines < {TARGET_PANDAS_SECONDS:g} s",
                        "measured": f"{r['seconds']:.1f} s" if ok else r["status"],
                        "status": ("PASS" if r["seconds"] < TARGET_PANDAS_SECONDS else "MISS") if ok else "MISS"})
        peak = r.get("peak_gib")
        targets.append({"target": f"rcmkit pandas {label} lines < {TARGET_PANDAS_GIB:g} GiB peak",
                        "measured": None if peak is None else f"{peak:.2f} GiB" + ("" if ok else " (at stop)"),
                        "status": "PASS" if ok and peak < TARGET_PANDAS_GIB else "MISS"})
    if not pandas_big:
        targets.append({"target": f"rcmkit pandas 10 M lines < {TARGET_PANDAS_SECONDS:g} s and "
                                  f"< {TARGET_PANDAS_GIB:g} GiB", "measured": None, "status": "n/a",
                        "note": "10 M lines not run"})
    return targets


def _print_table(results: list[dict], datasets: dict) -> None:
    print()
    print(f"{'lines':>12s}  {'engine':15s} {'seconds':>9s} {'load s':>8s} {'peak GiB':>9s} {'x SQL':>7s}  "
          "runs / status")
    for r in results:
        d = datasets[r["lines_requested"]]
        head = f"{d['lines']:>12,d}  {LABELS[r['engine']]:15s}"
        if r["status"] != "ok":
            peak = f"{r['peak_gib']:9.2f}" if r.get("peak_gib") else f"{'':9s}"
            print(f"{head} {'':9s} {'':8s} {peak} {'':7s}  {r['status']}")
            continue
        load = f"{r['load']:8.2f}" if r.get("load") is not None else f"{'':8s}"
        ratio = f"{r['ratio_to_sql']:6.2f}x" if r.get("ratio_to_sql") is not None else f"{'':7s}"
        agree = "" if r["engine"] == "sql" else ("  agrees with SQL" if not r.get("mismatches") else
                                                 f"  MISMATCH ({len(r['mismatches'])})")
        print(f"{head} {r['seconds']:9.2f} {load} {r['peak_gib']:9.2f} {ratio}  "
              f"{', '.join(f'{s:.2f}' for s in r['runs'])}{agree}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="1000000,10000000",
                        help="comma-separated claim-line counts (default 1000000,10000000)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"subset of {','.join(ENGINES)}")
    parser.add_argument("--runs", type=int, help="timed runs per engine, best reported (default: 3 up to 1 M "
                        "lines, else 1)")
    parser.add_argument("--month", help="YYYY-MM (default: the last full month of the data)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--base-lines", type=int, default=500_000, help="lines of the replicated base practice")
    parser.add_argument("--cache-dir", type=Path, default=HERE / ".cache")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", choices=ENGINES, help="print a cProfile of this engine's suite (adds overhead "
                        "to its timing)")
    parser.add_argument("--max-rss-gib", type=float, default=16.0, help="stop an engine above this memory")
    parser.add_argument("--timeout", type=float, default=1800.0, help="stop an engine after this many seconds")
    # worker mode (internal): one engine in a fresh process
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-worker", dest="profile_worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.profile = args.profile_worker
        return worker(args)

    from kpi_reference import compare_suites

    lines_list = [int(float(x)) for x in args.lines.split(",") if x.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; choose from {ENGINES}")
    engines = ["sql"] + [e for e in ENGINES if e in engines and e != "sql"]  # the yardstick always runs, first
    import duckdb
    import narwhals
    import pandas
    import pyarrow

    print(f"KPI suite benchmark: {os.cpu_count()} CPUs, "
          f"{_gib(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')):.1f} GiB RAM, Python "
          f"{platform.python_version()}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, "
          f"duckdb {duckdb.__version__}, narwhals {narwhals.__version__}; rcmkit {_code_version()}; load average "
          f"{os.getloadavg()[0]:.1f} (other work on the machine slows every engine)")
    load_before = os.getloadavg()
    datasets, results = {}, []
    with tempfile.TemporaryDirectory(prefix="kpi_scale-") as tmp:
        for lines in lines_list:
            print(f"\n[{_fmt_lines(lines)} lines] data:", flush=True)
            d = build_dataset(lines, args.seed, args.cache_dir, args.base_lines)
            if args.month:
                d["month"] = args.month
            datasets[lines] = d
            how = "cached" if d["cached"] else "generated"
            print(f"  {how}: {d['lines']:,} claim lines, {d['rows']['claims']:,} submissions, "
                  f"{d['rows']['remittances']:,} remits, {d['rows']['adjustments']:,} adjustments, "
                  f"{d['rows']['ledger']:,} ledger rows; {d['parquet_mb']} MB parquet; generation took "
                  f"{d['generation_seconds']:.1f} s{' (earlier run)' if d['cached'] else ''}; month {d['month']}",
                  flush=True)
            runs = args.runs or (3 if lines <= 1_000_000 else 1)
            sql_seconds, sql_suite = None, None
            for engine in engines:
                print(f"  {LABELS[engine]} ({runs} run{'s' if runs > 1 else ''}) ...", flush=True)
                r = _spawn(engine, d, runs, args, Path(tmp))
                r["lines_requested"], r["lines"] = lines, d["lines"]
                suite = r.pop("suite", None)
                if r["status"] == "ok":
                    r["seconds"] = min(r["runs"])
                    loads = [x for x in r.get("load_seconds", []) if x is not None]
                    r["load"] = loads[r["runs"].index(r["seconds"])] if loads else None
                    if engine == "sql":
                        sql_seconds, sql_suite = r["seconds"], suite
                    elif sql_seconds:
                        r["ratio_to_sql"] = r["seconds"] / sql_seconds
                    if engine != "sql" and sql_suite is not None:
                        r["mismatches"] = compare_suites(sql_suite, suite, rel=1e-9)
                        if r["mismatches"]:
                            print(f"\n  !!! MISMATCH: {LABELS[engine]} differs from the SQL reference at "
                                  f"{d['lines']:,} lines:", flush=True)
                            for problem in r["mismatches"][:20]:
                                print(f"  !!!   {problem}")
                        else:
                            print(f"    {LABELS[engine]}: every KPI and table cell equals the SQL reference's")
                    if engine == "sql" and suite is not None:
                        r["kpis"] = {k: v for k, v in suite["kpis"].items()}
                else:
                    print(f"    {r['status']}", flush=True)
                results.append(r)
    _print_table(results, datasets)
    print(f"\nload average during the run: {load_before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          f"({os.cpu_count()} CPUs)")
    targets = _targets(results)
    print("\nTargets (issue #7):")
    for t in targets:
        note = f"  ({t['note']})" if t.get("note") else ""
        print(f"  {t['status']:4s}  {t['target']}: {t['measured'] or '-'}{note}")
    if args.json:
        payload = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "pandas": pandas.__version__,
                        "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
                        "narwhals": narwhals.__version__, "rcmkit": _code_version(),
                        "load_average_start": load_before, "load_average_end": os.getloadavg(),
                        "finished": time.strftime("%Y-%m-%d %H:%M:%S")},
            "datasets": {str(k): {key: v for key, v in d.items()} for k, d in datasets.items()},
            "results": results, "targets": targets,
        }
        args.json.write_text(json.dumps(payload, indent=1, default=str))
        print(f"\nresults written to {args.json}")
    return 1 if any(r.get("mismatches") for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
