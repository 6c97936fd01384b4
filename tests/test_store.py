"""The store: canonical round trip, deterministic bytes, crash recovery (roll back / roll forward), locking."""

from __future__ import annotations

import json
import multiprocessing as mp
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rcmkit.core import schema

from rcmkit.core import store
from small_practice import tables as small_tables


def _in_stored_order(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` in the order the store keeps: month-clustered tables by month of their date, stably."""
    column = store.MONTH_CLUSTERED.get(name)
    if column is None:
        return df.reset_index(drop=True)
    month = df[column].dt.year * 12 + df[column].dt.month
    return df.iloc[month.argsort(kind="stable")].reset_index(drop=True)


def test_round_trip_is_exact_and_readable_by_plain_parquet(tmp_path):
    t = small_tables()
    store.save_tables(tmp_path, "p1", t)
    back = store.load_tables(tmp_path, "p1", list(t))
    for name in t:
        pd.testing.assert_frame_equal(back[name], _in_stored_order(name, schema.conform(name, t[name])),
                                      check_dtype=False)
    raw = pq.read_table(tmp_path / "p1" / "claims.parquet")  # any tool: plain parquet, dates as date32
    assert str(raw.schema.field("submitted_on").type) == "date32[day]"
    expected = _in_stored_order("claims", schema.conform("claims", t["claims"]))["total_charge_cents"].tolist()
    assert raw.column("total_charge_cents").to_pylist() == expected and 20000 in expected


def test_same_tables_give_identical_bytes(tmp_path):
    t = small_tables()
    a = store.save_tables(tmp_path, "a", t)
    b = store.save_tables(tmp_path, "b", t)
    assert {k: v["sha256"] for k, v in a["tables"].items()} == {k: v["sha256"] for k, v in b["tables"].items()}


def test_schema_errors_list_every_problem_and_write_nothing(tmp_path):
    bad = small_tables()["claims"].drop(columns=["payer_id"]).assign(total_charge_cents=1.5)
    with pytest.raises(schema.SchemaError) as err:
        store.save_tables(tmp_path, "p1", {"claims": bad})
    assert "missing columns ['payer_id']" in str(err.value)
    assert "total_charge_cents" in str(err.value)
    assert not (tmp_path / "p1" / "claims.parquet").exists()


@pytest.mark.parametrize("name", ["../x", "/etc", ".hidden", "a/b", "", "x" * 65])
def test_practice_names_cannot_escape_the_root(tmp_path, name):
    with pytest.raises(store.StoreError, match="invalid practice name"):
        store.practice_dir(tmp_path, name)


def test_uncommitted_write_is_rolled_back(tmp_path):
    t = small_tables()
    store.save_tables(tmp_path, "p1", {"payers": t["payers"]})
    folder = tmp_path / "p1"
    (folder / "payers.parquet.tmp-dead").write_bytes(b"half a file")  # a writer killed before its commit point
    store.save_tables(tmp_path, "p1", {"claims": t["claims"]})
    assert not list(folder.glob("*.tmp-*"))
    assert len(store.load_table(tmp_path, "p1", "payers")) == 4


def test_committed_write_is_rolled_forward_by_the_next_reader(tmp_path):
    t = small_tables()
    store.save_tables(tmp_path, "p1", {"payers": t["payers"]})
    folder = tmp_path / "p1"
    # Simulate a writer killed after writing its journal but before renaming: new payers table has 2 rows.
    newer = schema.to_arrow("payers", t["payers"].head(2))
    pq.write_table(newer, folder / "payers.parquet.tmp-abcd")
    manifest = json.loads((folder / "_manifest.json").read_text())
    manifest["version"] += 1
    (folder / "_commit.json").write_text(json.dumps({"renames": [["payers.parquet.tmp-abcd", "payers.parquet"]],
                                                     "manifest": manifest}))
    assert len(store.load_table(tmp_path, "p1", "payers")) == 2
    assert not (folder / "_commit.json").exists()
    assert json.loads((folder / "_manifest.json").read_text())["version"] == manifest["version"]


def _hold_lock(folder, seconds, ready):
    with store.practice_lock(folder):
        ready.set()
        time.sleep(seconds)


@pytest.mark.slow
def test_busy_practice_names_the_holder(tmp_path):
    folder = tmp_path / "p1"
    ready = mp.Event()
    holder = mp.Process(target=_hold_lock, args=(folder, 3, ready))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(store.PracticeBusy, match=rf"practice 'p1' is busy: held by pid {holder.pid} since"):
            with store.practice_lock(folder, timeout=0.5):
                pass
    finally:
        holder.join()


def test_missing_table_says_how_to_create_it(tmp_path):
    with pytest.raises(store.StoreError, match=r"rcmkit demo --practice nowhere"):
        store.load_table(tmp_path, "nowhere", "claims")
    assert store.load_table(tmp_path, "nowhere", "postings", required=False).empty


def _append_payer(root, practice, payer_id, delay):
    def change(current):
        time.sleep(delay)  # widen the read-modify-write window
        row = pd.DataFrame({"payer_id": [payer_id], "payer_name": [payer_id], "payer_class": ["other"]})
        return {"payers": pd.concat([current["payers"], row], ignore_index=True)}

    store.update_tables(root, practice, ["payers"], change)


@pytest.mark.slow
def test_concurrent_updates_serialize_and_lose_nothing(tmp_path):
    workers = [mp.Process(target=_append_payer, args=(tmp_path, "p1", f"X{i}", 0.3)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(w.exitcode == 0 for w in workers)
    assert sorted(store.load_table(tmp_path, "p1", "payers")["payer_id"]) == ["X0", "X1", "X2", "X3"]


def test_dated_tables_are_stored_with_a_row_group_per_month(tmp_path):
    """Claims, remittances, postings and the ledger are stored in date order with one row group per calendar
    month (row-group statistics let DuckDB and Spark skip months); rows of a month keep their order."""
    from rcmkit import demo
    from rcmkit.core.ledger import build_ledger

    t = demo.generate(n_claims=600, seed=3, start="2026-01", end="2026-06")
    t["ledger"] = build_ledger(t)
    store.save_tables(tmp_path, "p", t)
    for name, column in store.MONTH_CLUSTERED.items():
        meta = pq.ParquetFile(tmp_path / "p" / f"{name}.parquet").metadata
        index = meta.schema.to_arrow_schema().get_field_index(column)
        months = []
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(index).statistics
            lo, hi = pd.Timestamp(stats.min), pd.Timestamp(stats.max)
            assert (lo.year, lo.month) == (hi.year, hi.month), f"{name}: row group {g} spans {lo}..{hi}"
            months.append((lo.year, lo.month))
        assert months == sorted(set(months)) and len(months) >= 6, f"{name}: {months}"
        back = store.load_table(tmp_path, "p", name)
        pd.testing.assert_frame_equal(back, _in_stored_order(name, schema.conform(name, t[name])),
                                      check_dtype=False)
