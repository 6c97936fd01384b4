"""`rcmkit ingest`: files into a practice's stored tables, idempotently, losing nothing good, in one transaction."""

from __future__ import annotations

import multiprocessing as mp
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from rcmkit.core import store
from rcmkit.cli import main
from rcmkit.ingest.pipeline import ingest

FIXTURES = Path(__file__).parent / "fixtures"
X12 = FIXTURES / "x12"
ERA = X12 / "era_paid_and_denied.835"


def _hashes(root, practice):
    return {name: t["sha256"] for name, t in store.manifest(root, practice)["tables"].items()}


def test_ingest_fills_tables_and_rebuilds_the_ledger(tmp_path):
    summary = ingest(tmp_path, "p", [X12], progress=False)
    t = store.load_tables(tmp_path, "p", ["claims", "remittances", "ledger", "payers", "ingested_files"])
    assert summary.files == 4 and len(t["ingested_files"]) == 4
    assert summary.added["claims"] == len(t["claims"]) > 0
    assert summary.added["remittances"] == len(t["remittances"]) > 0
    assert summary.paid_cents == int(t["remittances"]["paid_cents"].sum())
    # every claim and remittance reached the ledger: charges equal the first submissions' totals
    first = t["claims"].sort_values("submitted_on").drop_duplicates("claim_id")
    charges = t["ledger"].query("kind == 'charge'")["amount_cents"].sum()
    assert charges == first.loc[first["frequency_code"] != "8", "total_charge_cents"].sum()
    assert set(t["remittances"]["payer_id"]) <= set(t["payers"]["payer_id"])


def test_ingesting_the_same_files_twice_changes_nothing(tmp_path):
    ingest(tmp_path, "p", [X12], progress=False)
    before = _hashes(tmp_path, "p")
    again = ingest(tmp_path, "p", [X12, ERA], progress=False)
    assert again.files == 0 and len(again.skipped) == 5
    assert _hashes(tmp_path, "p") == before


def test_same_payment_in_other_bytes_is_not_loaded_twice(tmp_path):
    ingest(tmp_path, "p", [ERA], progress=False)
    paid = int(store.load_table(tmp_path, "p", "remittances")["paid_cents"].sum())
    crlf = tmp_path / "resent.835"
    crlf.write_bytes(ERA.read_bytes().replace(b"~", b"~\r\n"))  # re-downloaded with line breaks
    summary = ingest(tmp_path, "p", [crlf], progress=False)
    assert summary.files == 1 and summary.duplicates >= 1
    assert int(store.load_table(tmp_path, "p", "remittances")["paid_cents"].sum()) == paid


def test_a_bad_transaction_set_is_rejected_and_the_good_ones_load(tmp_path):
    good = ERA.read_text()
    bad = good.replace("ST*835*0001~", "ST*835*0002~", 1).replace("CLP*PCN-100*1*200.00*112.50", "CLP*PCN-100*1*200.00*ABC", 1)
    mixed = tmp_path / "in" / "mixed.835"
    mixed.parent.mkdir()
    mixed.write_text(bad)
    (tmp_path / "in" / "good.835").write_text(good)
    summary = ingest(tmp_path / "data", "p", [tmp_path / "in"], progress=False)
    assert len(summary.rejections) == 1
    assert "mixed.835" in summary.rejections[0] and "segment" in summary.rejections[0]
    remits = store.load_table(tmp_path / "data", "p", "remittances")
    assert remits["source"].str.startswith("good.835").all() and len(remits) > 0
    rejections = store.load_table(tmp_path / "data", "p", "rejections")
    assert rejections["file"].tolist() == ["mixed.835"]


def test_pm_csv_export_with_column_map(tmp_path):
    summary = ingest(tmp_path, "p", [FIXTURES / "pm_csv" / "generic"], column_map="generic", progress=False)
    t = store.load_tables(tmp_path, "p", ["claims", "postings", "ledger"])
    assert summary.added["claims"] == len(t["claims"]) > 0 and summary.added["postings"] == len(t["postings"]) > 0
    assert summary.charge_cents == 143000  # the generic fixture's charges (tests/test_pm_csv.py)
    with pytest.raises(ValueError, match="needs --column-map"):
        ingest(tmp_path, "q", [FIXTURES / "pm_csv" / "generic"], progress=False)


def _ingest_worker(root, paths):
    ingest(root, "p", paths, progress=False)


@pytest.mark.slow
def test_concurrent_ingests_equal_a_serial_run(tmp_path):
    serial = tmp_path / "serial"
    ingest(serial, "p", [X12 / "era_paid_and_denied.835", X12 / "claims_professional.837"], progress=False)
    ingest(serial, "p", [X12 / "claims_professional.837", X12 / "era_reversal_plb.835"], progress=False)
    both = tmp_path / "both"
    ctx = mp.get_context("forkserver")  # delta-rs' runtime does not survive a fork of a process that used it
    a = ctx.Process(target=_ingest_worker, args=(both, [X12 / "era_paid_and_denied.835", X12 / "claims_professional.837"]))
    b = ctx.Process(target=_ingest_worker, args=(both, [X12 / "claims_professional.837", X12 / "era_reversal_plb.835"]))
    a.start(), b.start()
    a.join(), b.join()
    assert a.exitcode == 0 and b.exitcode == 0
    for name in ("claims", "remittances", "adjustments", "ledger"):
        x = store.load_table(serial, "p", name).sort_values(list(store.load_table(serial, "p", name).columns[:2]))
        y = store.load_table(both, "p", name).sort_values(list(x.columns[:2]))
        assert x.reset_index(drop=True).equals(y.reset_index(drop=True)), name


def test_cli_ingest_summary_and_errors(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["ingest", "--practice", "p", "--data-root", str(tmp_path), "--no-progress", str(X12)])
    assert ok.exit_code == 0, ok.output
    assert "files read: 4" in ok.output and "rejected: 0" in ok.output
    missing = runner.invoke(main, ["ingest", "--practice", "p", "--data-root", str(tmp_path), str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    escape = runner.invoke(main, ["ingest", "--practice", "../p", "--data-root", str(tmp_path), str(X12)])
    assert escape.exit_code == 2 and "invalid practice name" in escape.output
    shutil.rmtree(tmp_path / "p")


@pytest.mark.slow  # a demo written as PM CSV and 837s, ingested twice (~2 s each order)
@pytest.mark.parametrize("pm_first", [True, False])
def test_a_claim_from_both_a_pm_export_and_an_837_is_held_once(tmp_path, pm_first):
    """The same claims arrive in a PM charges export and in 837P files, in either order: every claim the 837s
    carry is held as its 837 submissions only; self-pay claims (never billed on an 837) stay from the export."""
    from rcmkit.demo import generate, patients
    from rcmkit.ingest.x12.write import write_837p, write_pm_charges_csv, write_pm_payers_csv

    truth = generate(seed=5, n_claims=40)
    self_pay = set(truth["payers"].loc[truth["payers"]["payer_class"] == "self_pay", "payer_id"])
    billed = truth["claims"][~truth["claims"]["payer_id"].isin(self_pay)]
    pm = tmp_path / "pm"
    pm.mkdir()
    (pm / "payers.csv").write_text(write_pm_payers_csv(truth["payers"]))
    (pm / "charges.csv").write_text(write_pm_charges_csv(truth["claims"], truth["claim_lines"]))
    x12 = tmp_path / "837"
    x12.mkdir()
    for name, text in write_837p(billed, truth["claim_lines"], truth["payers"], patients(seed=5, n_claims=40)):
        (x12 / name).write_text(text)
    for folder in ([pm, x12] if pm_first else [x12, pm]):
        ingest(tmp_path / "data", "p", [folder], column_map="generic", progress=False)
    claims = store.load_table(tmp_path / "data", "p", "claims")
    from_pm = claims["submission_id"] == claims["claim_id"]
    assert sorted(claims.loc[~from_pm, "claim_id"]) == sorted(billed["claim_id"])  # every 837 submission, once
    assert set(claims.loc[from_pm, "claim_id"]) == set(truth["claims"]["claim_id"]) - set(billed["claim_id"])
    lines = store.load_table(tmp_path / "data", "p", "claim_lines")
    assert set(lines["submission_id"]) <= set(claims["submission_id"])


@pytest.mark.slow
def test_files_in_any_order_give_the_same_tables(tmp_path):
    """Each file in its own run, 837s first, ends with the same tables as one run of all of them: a payer met
    first in an 837 (no name there) takes its name and class from its 835s when they arrive."""
    files = sorted((f for f in X12.iterdir() if f.is_file()), key=lambda f: (f.suffix != ".837", f.name))
    ingest(tmp_path / "one", "p", files, progress=False)
    for f in files:
        ingest(tmp_path / "each", "p", [f], progress=False)
    for name in ("claims", "claim_lines", "remittances", "remit_lines", "adjustments", "ledger", "payers"):
        x, y = store.load_table(tmp_path / "one", "p", name), store.load_table(tmp_path / "each", "p", name)
        cols = [c for c in x.columns if x[c].map(lambda v: not isinstance(v, list)).all()]
        x, y = (d.sort_values(cols).reset_index(drop=True) for d in (x, y))
        pd.testing.assert_frame_equal(x, y, obj=name)
    payers = store.load_table(tmp_path / "each", "p", "payers").set_index("payer_id")
    assert payers.loc["ACME01", "payer_name"] == "ACME HEALTH PLAN"


@pytest.mark.slow  # a 400-claim demo ingested three times, twice with worker processes (~4 s)
def test_jobs_2_stores_what_jobs_1_does(tmp_path):
    """The demo's inbox (837s, 835s, PM exports) ingested by one process, by it and one X12 worker process
    (``jobs=2``) and by it and two (``jobs=3``), sharing batches of at most 64 files (this inbox gives several):
    every stored table the same, digests included (they depended on the batches' chunks before
    :func:`rcmkit.core.store.table_digest` combined them)."""
    from rcmkit import demo
    from rcmkit.ingest import pipeline
    from rcmkit.ingest.x12.write import write_demo_files

    write_demo_files(tmp_path / "src", demo.generate(seed=3, n_claims=400), demo.patients(seed=3, n_claims=400),
                     practice="src")
    inbox = tmp_path / "src" / "src" / "inbox"
    x12 = [f for f in pipeline.expand_paths([inbox]) if f.suffix.lower() not in pipeline.CSV_SUFFIXES]
    assert len(pipeline._batches(x12, max_files=64)) > 1  # the worker processes are used
    summaries = {jobs: ingest(tmp_path / f"j{jobs}", "p", [inbox], column_map="generic", jobs=jobs, progress=False)
                 for jobs in (1, 2, 3)}
    for jobs in (2, 3):
        assert summaries[1].lines() == summaries[jobs].lines()
        a, b = (store.manifest(tmp_path / f"j{j}", "p")["tables"] for j in (1, jobs))
        assert {n: (t["rows"], t["sha256"]) for n, t in a.items()} == \
            {n: (t["rows"], t["sha256"]) for n, t in b.items()}
        for name in a:
            pd.testing.assert_frame_equal(store.load_table(tmp_path / "j1", "p", name),
                                          store.load_table(tmp_path / f"j{jobs}", "p", name), obj=name)


@pytest.mark.slow  # worker processes (~1.5 s)
@pytest.mark.parametrize("jobs", [2, 3])
def test_shared_batches_are_each_read_once_in_order(jobs, monkeypatch):
    """With several readers the batches are shared (workers from the front, the ingest process from the back
    once its own work is done): one result per batch, in the batches' order, each what one process reads, and
    the result of the work done meanwhile."""
    from rcmkit.ingest import pipeline
    from rcmkit.ingest.x12.reader import read_x12

    files = sorted(X12.glob("*.83[57]")) * 3  # 12 files, a batch each
    monkeypatch.setattr(pipeline, "_batches", lambda files, **kw: [[f] for f in files])
    results, other = pipeline._read_x12_files(files, b"s", jobs, False, meanwhile=lambda: "decoded")
    assert other == "decoded" and len(results) == len(files)
    for f, got in zip(files, results):
        want = read_x12([str(f)], patient_salt=b"s")
        for name in want.tables:
            pd.testing.assert_frame_equal(got.tables[name], want.tables[name], obj=f"{f.name} {name}")
