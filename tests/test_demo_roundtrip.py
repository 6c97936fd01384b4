"""The two-command demo takes the real path: generated X12/CSV files ingested give the generator's own numbers."""

from __future__ import annotations

import json

import pytest

from rcmkit import store
from rcmkit.demo import build_demo, generate
from rcmkit.ledger import build_ledger
from rcmkit.metrics import kpi_trend

KW = {"seed": 11, "n_claims": 1200}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    result = build_demo(root, "rt", progress=False, **KW)
    return root, result


def test_files_ingest_cleanly(built):
    _, result = built
    summary = result["ingest"]
    assert summary.rejections == [] and summary.warnings == 0
    assert result["files"]["837"]["claims"] + result["files"]["837"]["claims_not_billed_self_pay"] == \
        summary.added["claims"]


def test_metrics_from_ingested_files_equal_the_generators_truth(built):
    root, _ = built
    truth = generate(**KW)
    truth["ledger"] = build_ledger(truth)
    ingested = store.load_tables(root, "rt")
    assert len(ingested["ledger"]) == len(truth["ledger"])
    a = kpi_trend(ingested, "2026-10", months=4)
    b = kpi_trend(truth, "2026-10", months=4)
    assert a.equals(b), (a, b)


def test_rebuilding_the_demo_gives_identical_tables(built):
    """Run again over the existing practice: the tables are replaced (not appended to) with identical bytes."""
    root, _ = built
    before = json.loads((root / "rt" / "_manifest.json").read_text())["tables"]
    build_demo(root, "rt", progress=False, **KW)
    after = json.loads((root / "rt" / "_manifest.json").read_text())["tables"]
    for name in ("claims", "remittances", "adjustments", "postings", "ledger"):
        assert before[name]["sha256"] == after[name]["sha256"], name
