"""The same practice ingested file by file, in shuffled orders, gives identical tables and KPIs (issue #13).

Month-by-month arrival is the normal case: an 835 before its 837, PM payments before their charges, the payers
file last. Whatever the order, the end state is the same: the PM postings wait in suspense until their claims
arrive, an 837 replaces the PM export's copy of a claim, and the 835 never counts a payment twice.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from rcmkit import demo

from rcmkit.core import store
from rcmkit.ingest.pipeline import ingest
from rcmkit.metrics import kpi_trend
from rcmkit.ingest.x12.write import write_demo_files

pytestmark = pytest.mark.slow
KW = {"n_claims": 25, "seed": 5, "start": "2026-03", "end": "2026-04"}
#: What must be identical (sorted by these columns; where a row came from may differ by order).
TABLES = {
    "claims": ["submission_id"], "claim_lines": ["submission_id", "line_number"], "remittances": ["remit_id"],
    "adjustments": ["remit_id", "line_number", "group_code", "reason_code", "amount_cents"],
    "postings": ["posting_id"], "unapplied_postings": ["posting_id"], "payers": ["payer_id"],
    "contracts": ["payer_id", "procedure_code", "modifiers", "effective_from"], "providers": ["npi"],
    "ledger": ["claim_id", "posted_on", "kind", "responsible", "amount_cents"],
}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("orders")
    write_demo_files(root, demo.generate(**KW), demo.patients(**KW), practice="src")
    return sorted(p for p in (root / "src" / "inbox").rglob("*") if p.is_file() and not p.name.startswith("."))


def _state(root: Path) -> dict[str, pd.DataFrame]:
    t = store.load_tables(root, "p", list(TABLES), required=False)
    out = {}
    for name, key in TABLES.items():
        df = t[name].drop(columns=[c for c in ("source",) if c in t[name]])
        out[name] = df.sort_values(key, kind="mergesort").reset_index(drop=True)
    out["kpis"] = kpi_trend(store.load_tables(root, "p"), "2026-04", months=2)
    return out


def test_file_by_file_in_any_order_gives_the_same_tables_and_kpis(inbox, tmp_path):
    assert len(inbox) > 20 and {p.parent.name for p in inbox} == {"837", "835", "pm"}
    ingest(tmp_path / "once", "p", inbox, column_map="generic", progress=False)
    expected = _state(tmp_path / "once")
    assert len(expected["postings"]) > 0 and expected["unapplied_postings"].empty
    for seed in (1, 2):
        order = list(inbox)
        random.Random(seed).shuffle(order)
        root = tmp_path / f"order{seed}"
        for path in order:
            ingest(root, "p", [path], column_map="generic", progress=False)
        got = _state(root)
        for name, frame in expected.items():
            pd.testing.assert_frame_equal(got[name], frame, check_dtype=False, obj=f"order {seed}: {name}")
