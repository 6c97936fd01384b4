"""Issue #15: a transaction's tables written in the background while its caller computes others
(:meth:`rcmkit.core.store.Transaction.stage`) commit exactly what one commit of them all would, in one snapshot;
nothing staged is visible before the commit, and a transaction that fails after staging (its caller raised, or a
staged write failed) leaves the practice at its previous snapshot."""

from __future__ import annotations

import pandas as pd
import pytest

from rcmkit.core import store
from small_practice import tables as small_tables

NAMES = ["claims", "claim_lines", "remittances", "payers"]


@pytest.fixture
def practice(tmp_path):
    t = small_tables()
    store.save_tables(tmp_path, "p", {"payers": t["payers"], "claims": t["claims"].iloc[:5]})
    return tmp_path


def _changes() -> dict:
    t = small_tables()
    return {"claims": store.Append(t["claims"].iloc[5:]), "claim_lines": t["claim_lines"],
            "remittances": t["remittances"], "payers": t["payers"].iloc[:3]}


def _content(root, practice="p") -> dict:
    return {n: store.load_table(root, practice, n, required=False) for n in NAMES}


def test_staged_then_committed_equals_one_commit(tmp_path):
    t = small_tables()
    for p in ("one", "staged"):
        store.save_tables(tmp_path, p, {"payers": t["payers"], "claims": t["claims"].iloc[:5]})
    store.save_tables(tmp_path, "one", _changes())
    changes = _changes()
    with store.transaction(tmp_path, "staged") as tx:
        tx.stage({n: changes[n] for n in ("claims", "claim_lines")})
        tx.stage({"remittances": changes["remittances"]})
        assert store.snapshot_id(tmp_path, "staged") == 1  # nothing visible before the commit
        assert len(store.load_table(tmp_path, "staged", "claims")) == 5
        snap = tx.commit({"payers": changes["payers"]})
    assert snap["snapshot"] == 2 == store.snapshot_id(tmp_path, "staged")
    one, staged = store.manifest(tmp_path, "one"), store.manifest(tmp_path, "staged")
    assert staged["tables"] == one["tables"]  # versions, rows, content digests, sequence numbers
    a, b = _content(tmp_path, "one"), _content(tmp_path, "staged")
    for name in NAMES:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert len(b["claims"]) == 15 and len(b["payers"]) == 3


def test_a_caller_that_fails_after_staging_leaves_the_previous_snapshot(practice):
    before, snapshot = _content(practice), store.manifest(practice, "p")
    with pytest.raises(ZeroDivisionError):
        with store.transaction(practice, "p") as tx:
            tx.stage(_changes())
            1 / 0
    assert store.snapshot_id(practice, "p") == 2  # the roll back's snapshot: the same content at RESTORE versions
    after = _content(practice)
    for name in NAMES:
        pd.testing.assert_frame_equal(after[name], before[name])
    for name in ("claims", "payers"):  # the staged versions rolled back (RESTORE to the snapshot's content)
        assert store._log_version(practice / "p" / "tables" / name) == \
            store.manifest(practice, "p")["tables"][name]["version"]
    assert not (practice / "p" / "tables" / "remittances").exists()  # a table no snapshot has: removed
    same = lambda snap: {n: (t["rows"], t["sha256"]) for n, t in snap["tables"].items()}  # noqa: E731
    assert same(store.manifest(practice, "p")) == same(snapshot)
    store.save_tables(practice, "p", _changes())  # the next writer writes as if nothing happened
    assert len(store.load_table(practice, "p", "claims")) == 15


def test_a_failed_staged_write_is_raised_by_the_commit_and_rolled_back(practice, monkeypatch):
    real = store._write_delta

    def write(name, path, data, mode):
        if name == "claims":
            raise OSError("Generic LocalFileSystem error: Unable to write: No space left on device (os error 28)")
        real(name, path, data, mode)

    monkeypatch.setattr(store, "_write_delta", write)
    before = _content(practice)
    with store.transaction(practice, "p") as tx:
        tx.stage(_changes())  # claim_lines is written first (sorted order), then claims fails
        with pytest.raises(store.StoreError) as info:
            tx.commit({})
    assert f"cannot write {practice / 'p' / 'tables' / 'claims'}" in str(info.value)
    assert "No space left on device" in str(info.value)
    monkeypatch.setattr(store, "_write_delta", real)
    assert store.snapshot_id(practice, "p") in (1, 2)  # 2: the roll back's RESTORE of the same content
    after = _content(practice)
    for name in NAMES:
        pd.testing.assert_frame_equal(after[name], before[name])
    assert not (practice / "p" / "tables" / "claim_lines").exists()


def test_a_table_is_staged_or_committed_once(practice):
    changes = _changes()
    with store.transaction(practice, "p") as tx:
        tx.stage({"claims": changes["claims"]})
        with pytest.raises(store.StoreError, match="staged twice"):
            tx.stage({"claims": changes["claims"]})
        with pytest.raises(store.StoreError, match="staged and committed"):
            tx.commit({"claims": changes["claims"]})
    assert store.snapshot_id(practice, "p") in (1, 2)
    assert len(store.load_table(practice, "p", "claims")) == 5


def test_an_ingest_whose_ledger_fails_after_staging_writes_nothing(tmp_path, monkeypatch):
    """The first ingest stages every table but the ledger, then builds the ledger: a failure there leaves the
    practice without a snapshot, and a second run stores what one clean run does."""
    from pathlib import Path

    from rcmkit.ingest import pipeline

    fixture = Path(__file__).resolve().parent / "fixtures" / "x12" / "era_paid_and_denied.835"
    real = pipeline._full_ledger

    def broken(tables):
        raise RuntimeError("ledger failed")

    monkeypatch.setattr(pipeline, "_full_ledger", broken)
    with pytest.raises(RuntimeError, match="ledger failed"):
        pipeline.ingest(tmp_path, "p", [fixture], progress=False)
    assert store.snapshot_id(tmp_path, "p") == 0
    assert not any((tmp_path / "p" / "tables").iterdir())  # the staged tables, which no snapshot has: removed
    monkeypatch.setattr(pipeline, "_full_ledger", real)
    pipeline.ingest(tmp_path, "p", [fixture], progress=False)
    pipeline.ingest(tmp_path / "clean", "p", [fixture], progress=False)
    a, b = store.manifest(tmp_path, "p"), store.manifest(tmp_path / "clean", "p")
    assert a["snapshot"] == b["snapshot"] == 1
    assert {n: (t["rows"], t["sha256"]) for n, t in a["tables"].items()} == \
        {n: (t["rows"], t["sha256"]) for n, t in b["tables"].items()}
    assert a["tables"]["remittances"]["rows"] > 0 and a["tables"]["ledger"]["rows"] > 0
