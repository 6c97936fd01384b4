"""Are two stores the same, table by table and row for row? (issue #15: a speed change of the ingest must not
change what it stores)

    .venv/bin/python benchmarks/compare_stores.py ROOT_A ROOT_B [--practice p]

Typical use: ingest the same inbox with the old code (an old worktree first on PYTHONPATH) into ROOT_A and with
the new code into ROOT_B, then compare. Per table of either store's newest snapshot: the canonical frames
(:func:`rcmkit.core.store.load_tables`, in stored order) must be equal, and the snapshot's row count, next
``_seq`` and content digest (``sha256``: :func:`rcmkit.core.store.table_digest` of the canonical table) the same;
the Delta rows with the store's own columns (``_seq``, ``_month``), sorted by ``_seq``, are compared too. Exit
status 0 when every table is the same, 1 otherwise (the differences printed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def compare(root_a: str, root_b: str, practice: str = "p") -> list[str]:
    """The differences between the two stores' newest snapshots (empty: the same)."""
    import pandas as pd
    from deltalake import DeltaTable

    from rcmkit.core import store

    a, b = store.manifest(root_a, practice), store.manifest(root_b, practice)
    problems = []
    names = sorted(set(a["tables"]) | set(b["tables"]))
    for name in names:
        ta, tb = a["tables"].get(name), b["tables"].get(name)
        if ta is None or tb is None:
            problems.append(f"{name}: only in {'B' if ta is None else 'A'}")
            continue
        for key in ("rows", "next_seq", "sha256"):
            if ta[key] != tb[key]:
                problems.append(f"{name}: snapshot {key} {ta[key]} != {tb[key]}")
        fa = store.load_tables(root_a, practice, [name])[name]
        fb = store.load_tables(root_b, practice, [name])[name]
        try:
            pd.testing.assert_frame_equal(fa, fb, check_exact=True)
        except AssertionError as exc:
            problems.append(f"{name}: frames differ: {str(exc).splitlines()[:3]}")
        raw = []
        for root, t in ((root_a, ta), (root_b, tb)):
            dt = DeltaTable(str(store.table_path(root, practice, name)), version=t["version"])
            raw.append(dt.to_pyarrow_table().sort_by(store.SEQ_COLUMN))
        if not raw[0].equals(raw[1]):
            problems.append(f"{name}: Delta rows (with _seq, _month) differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root_a")
    ap.add_argument("root_b")
    ap.add_argument("--practice", default="p")
    args = ap.parse_args(argv)
    from rcmkit.core import store

    problems = compare(args.root_a, args.root_b, args.practice)
    m = store.manifest(args.root_a, args.practice)["tables"]
    print(f"{len(m)} tables, {sum(t['rows'] for t in m.values()):,} rows: "
          + ("the same, row for row" if not problems else f"{len(problems)} difference(s)"))
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
