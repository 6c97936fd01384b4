"""The two-command demo takes the real path: generated X12/CSV files ingested give the generator's own numbers."""

from __future__ import annotations


import pytest

from rcmkit.core import store
from rcmkit.demo import build_demo, generate
from rcmkit.core.ledger import build_ledger
from rcmkit.metrics import kpi_trend

#: a 1,200-claim demo built through files and ingest: the slow tier
pytestmark = pytest.mark.slow

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
    before = store.manifest(root, "rt")["tables"]
    build_demo(root, "rt", progress=False, **KW)
    after = store.manifest(root, "rt")["tables"]
    for name in ("claims", "remittances", "adjustments", "postings", "ledger"):
        assert before[name]["sha256"] == after[name]["sha256"], name


def test_a_whole_practice_goes_in_with_rcmkit_ingest_alone(built, tmp_path):
    """837P + 835 + a PM export (self-pay charges, patient payments, write-offs) + a contract fee schedule,
    loaded by the command line alone into a new practice: the same tables, contracts and ledger as the
    generator's truth, to the cent (issue #12)."""
    import pandas as pd
    from click.testing import CliRunner

    from rcmkit.cli import main

    root, _ = built
    inbox = root / "rt" / "inbox"
    data = tmp_path / "data"
    out = CliRunner(env={"RCMKIT_PATIENT_SALT": "rcmkit-patient-key-v1"}).invoke(main, [
        "ingest", "--practice", "acme", "--data-root", str(data), "--column-map", "generic", "--no-progress",
        str(inbox / "837"), str(inbox / "835"), str(inbox / "pm")])
    assert out.exit_code == 0, out.output
    assert "contract rates loaded: " in out.output and "rejected: 0" in out.output
    truth = generate(**KW)
    got = store.load_tables(data, "acme", ["contracts", "ledger", "claims"])
    key = ["payer_id", "procedure_code", "modifiers", "effective_from"]
    pd.testing.assert_frame_equal(got["contracts"].sort_values(key).reset_index(drop=True),
                                  truth["contracts"].sort_values(key).reset_index(drop=True), check_dtype=False)
    ledger = build_ledger(truth)
    assert int(got["ledger"]["amount_cents"].sum()) == int(ledger["amount_cents"].sum())
    by_kind = lambda df: df.groupby("kind")["amount_cents"].sum().to_dict()  # noqa: E731
    assert by_kind(got["ledger"]) == by_kind(ledger)
    assert set(got["claims"]["claim_id"]) == set(truth["claims"]["claim_id"])
