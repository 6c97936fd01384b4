"""The store (Delta tables + practice snapshots): canonical round trip, deterministic content, appends and
upserts, snapshots and versions, crash recovery (roll back), locking, migration from plain parquet, compaction."""

from __future__ import annotations

import json
import multiprocessing as mp
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rcmkit.core import schema

from rcmkit.core import store
from small_practice import tables as small_tables

#: Child processes start from a fork server: delta-rs' runtime does not survive a fork of a process that used it.
CTX = mp.get_context("forkserver")


def _in_stored_order(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` in the order the store keeps: month-clustered tables by month of their date, stably."""
    column = store.MONTH_CLUSTERED.get(name)
    if column is None:
        return df.reset_index(drop=True)
    month = df[column].dt.year * 12 + df[column].dt.month
    return df.iloc[month.argsort(kind="stable")].reset_index(drop=True)


def test_round_trip_is_exact_and_readable_by_plain_parquet_and_delta(tmp_path):
    from deltalake import DeltaTable

    t = small_tables()
    store.save_tables(tmp_path, "p1", t)
    back = store.load_tables(tmp_path, "p1", list(t))
    for name in t:
        pd.testing.assert_frame_equal(back[name], _in_stored_order(name, schema.conform(name, t[name])),
                                      check_dtype=False)
    files = store.committed_paths(tmp_path, "p1", ["claims"])["claims"]
    raw = pq.read_table(files)  # any tool: the snapshot's plain parquet files, dates as date32
    assert str(raw.schema.field("submitted_on").type) == "date32[day]"
    assert sorted(raw.column("total_charge_cents").to_pylist()) == sorted(t["claims"]["total_charge_cents"])
    assert 20000 in raw.column("total_charge_cents").to_pylist()
    assert all("_month" not in pq.ParquetFile(f).schema_arrow.names for f in files)  # in the folder names only
    import duckdb

    dataset = store.delta_datasets(tmp_path, "p1", ["claims"])["claims"]  # a lazy pyarrow dataset for DuckDB
    total = duckdb.from_arrow(dataset).aggregate("sum(total_charge_cents)").fetchall()[0][0]
    assert total == 254000  # $2,540: the 15 submissions of small_practice, by hand
    delta = DeltaTable(str(tmp_path / "p1" / "tables" / "claims")).to_pyarrow_table()  # any Delta reader
    assert delta.num_rows == 15 and sorted(set(delta.column("_month").to_pylist())) == [
        "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]


def test_same_tables_give_identical_content_digests(tmp_path):
    t = small_tables()
    a = store.save_tables(tmp_path, "a", t)
    b = store.save_tables(tmp_path, "b", t)
    assert {k: v["sha256"] for k, v in a["tables"].items()} == {k: v["sha256"] for k, v in b["tables"].items()}


def test_content_digest_does_not_depend_on_the_chunks():
    """The same rows in other chunks (an ingest's X12 read in other batches, ``--jobs 2``) gave another digest:
    the parquet writer's dictionary of a string column fell back to plain pages at another row (its size is
    checked at chunk ends). 120,000 distinct ids of 11 characters pass the 1 MB dictionary limit."""
    n = 120_000
    whole = pa.table({"id": pa.array([f"DEMO{i:07d}" for i in range(n)]), "n": pa.array(range(n), pa.int64())})
    chunked = pa.concat_tables([whole.slice(i, 10_007) for i in range(0, n, 10_007)])
    assert chunked.column("id").num_chunks == 12 and chunked.equals(whole)
    assert store.table_digest(chunked) == store.table_digest(whole)
    assert store.table_digest(whole.slice(1)) != store.table_digest(whole)


def test_schema_errors_list_every_problem_and_write_nothing(tmp_path):
    bad = small_tables()["claims"].drop(columns=["payer_id"]).assign(total_charge_cents=1.5)
    with pytest.raises(schema.SchemaError) as err:
        store.save_tables(tmp_path, "p1", {"claims": bad})
    assert "missing columns ['payer_id']" in str(err.value)
    assert "total_charge_cents" in str(err.value)
    assert not store.table_path(tmp_path, "p1", "claims").exists()
    assert store.snapshot_id(tmp_path, "p1") == 0


@pytest.mark.parametrize("name", ["../x", "/etc", ".hidden", "a/b", "", "x" * 65])
def test_practice_names_cannot_escape_the_root(tmp_path, name):
    with pytest.raises(store.StoreError, match="invalid practice name"):
        store.practice_dir(tmp_path, name)


def test_uncommitted_write_is_invisible_and_rolled_back(tmp_path):
    """A writer killed before its snapshot is written leaves Delta versions no snapshot names (and perhaps a
    temporary snapshot file, or a table no snapshot has): readers never see them; the next writer undoes them."""
    from deltalake import DeltaTable, write_deltalake

    t = small_tables()
    store.save_tables(tmp_path, "p1", {"payers": t["payers"]})
    folder = tmp_path / "p1"
    payers = folder / "tables" / "payers"
    assert DeltaTable(str(payers)).version() == 0
    extra = schema.to_arrow("payers", t["payers"].head(1)).append_column("_seq", pa.array([4], pa.int64()))
    write_deltalake(str(payers), extra, mode="append")  # the dead writer's table commit
    write_deltalake(str(folder / "tables" / "claims"), extra, mode="overwrite")  # a table no snapshot has
    (folder / "_snapshots" / "00000002.json.tmp-dead").write_text('{"half": ')
    assert len(store.load_table(tmp_path, "p1", "payers")) == 4  # readers: snapshot 1, payers version 0
    assert store.load_table(tmp_path, "p1", "claims", required=False).empty
    store.save_tables(tmp_path, "p1", {"contracts": t["contracts"]})  # the next writer rolls back first
    assert not list(folder.rglob("*.tmp-*")) and not (folder / "tables" / "claims").exists()
    assert DeltaTable(str(payers)).version() == 2  # RESTORE to version 0 is version 2
    assert len(DeltaTable(str(payers)).to_pyarrow_table()) == 4
    snap = store.manifest(tmp_path, "p1")  # snapshot 2: the roll back (payers at version 2); 3: contracts
    assert snap["snapshot"] == 3 and snap["tables"]["payers"]["version"] == 2 and "contracts" in snap["tables"]
    assert store.manifest(tmp_path, "p1", 2)["tables"]["payers"] == {**snap["tables"]["payers"], "version": 2}
    assert len(store.load_table(tmp_path, "p1", "payers")) == 4


def test_a_snapshot_is_the_commit_point_and_old_snapshots_stay_readable(tmp_path):
    t = small_tables()
    first = store.save_tables(tmp_path, "p1", {"payers": t["payers"], "claims": t["claims"]})
    assert first["snapshot"] == store.snapshot_id(tmp_path, "p1") == 1
    store.save_tables(tmp_path, "p1", {"payers": t["payers"].head(2)})
    assert store.snapshot_id(tmp_path, "p1") == 2
    assert len(store.load_table(tmp_path, "p1", "payers")) == 2
    assert len(store.load_table(tmp_path, "p1", "payers", version=1)) == 4
    old = store.load_tables(tmp_path, "p1", ["payers", "claims"], version=1)
    assert len(old["claims"]) == 15 and len(old["payers"]) == 4
    assert [len(pq.read_table(f)) for f in store.committed_paths(tmp_path, "p1", ["payers"], version=1)["payers"]] \
        == [4]
    with pytest.raises(store.StoreError, match=r"has no snapshot 7 \(snapshots 1 to 2\)"):
        store.load_tables(tmp_path, "p1", ["payers"], version=7)


def test_append_and_upsert_write_only_the_new_rows(tmp_path):
    """Append adds a Delta version holding only the new rows; Upsert replaces rows by key. Values by hand:
    4 payers, + 1 appended = 5; upserting BCX (renamed) and NEW gives 6 rows, BCX renamed, NEW last."""
    t = small_tables()
    store.save_tables(tmp_path, "p1", {"payers": t["payers"], "claims": t["claims"]})
    row = pd.DataFrame({"payer_id": ["X1"], "payer_name": ["X one"], "payer_class": ["other"]})
    snap = store.save_tables(tmp_path, "p1", {"payers": store.Append(row)})
    assert snap["tables"]["payers"]["rows"] == 5 and snap["tables"]["payers"]["next_seq"] == 5
    assert snap["tables"]["claims"] == store.manifest(tmp_path, "p1", 1)["tables"]["claims"]  # untouched
    payers = store.load_table(tmp_path, "p1", "payers")
    assert payers["payer_id"].tolist() == t["payers"]["payer_id"].tolist() + ["X1"]
    files = store.committed_paths(tmp_path, "p1", ["payers"])["payers"]
    assert sorted(len(pq.read_table(f)) for f in files) == [1, 4]  # the 4 old rows were not rewritten
    upsert = pd.DataFrame({"payer_id": ["BCX", "NEW"], "payer_name": ["Blue renamed", "New"],
                           "payer_class": ["commercial", "other"]})
    snap = store.save_tables(tmp_path, "p1", {"payers": store.Upsert(upsert, keys=["payer_id"])})
    payers = store.load_table(tmp_path, "p1", "payers")
    assert snap["tables"]["payers"]["rows"] == len(payers) == 6
    assert payers["payer_id"].tolist()[-2:] == ["BCX", "NEW"] and payers["payer_id"].tolist().count("BCX") == 1
    assert payers.set_index("payer_id").loc["BCX", "payer_name"] == "Blue renamed"
    # a late claim for January lands in January's partition, after January's rows, before February's
    late = t["claims"][t["claims"]["claim_id"] == "C01"].assign(claim_id="L01", submission_id="L01-1")
    store.save_tables(tmp_path, "p1", {"claims": store.Append(late)})
    claims = store.load_table(tmp_path, "p1", "claims")
    months = claims["submitted_on"].dt.strftime("%Y-%m").tolist()
    assert months == sorted(months) and claims["submission_id"].tolist().index("L01-1") == \
        max(i for i, m in enumerate(months) if m == "2026-01")
    assert len(list((tmp_path / "p1" / "tables" / "claims" / "_month=2026-01").glob("*.parquet"))) == 2
    assert len(list((tmp_path / "p1" / "tables" / "claims" / "_month=2026-02").glob("*.parquet"))) == 1
    same = store.save_tables(tmp_path, "p1", {"claims": store.Append(late.iloc[:0])})  # nothing new: no commit
    assert same["snapshot"] == store.snapshot_id(tmp_path, "p1") == 4


def _hold_lock(folder, seconds, ready):
    with store.practice_lock(folder):
        ready.set()
        time.sleep(seconds)


@pytest.mark.slow
def test_busy_practice_names_the_holder(tmp_path):
    folder = tmp_path / "p1"
    ready = CTX.Event()
    holder = CTX.Process(target=_hold_lock, args=(folder, 3, ready))
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
    workers = [CTX.Process(target=_append_payer, args=(tmp_path, "p1", f"X{i}", 0.3)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(w.exitcode == 0 for w in workers)
    assert sorted(store.load_table(tmp_path, "p1", "payers")["payer_id"]) == ["X0", "X1", "X2", "X3"]


def test_dated_tables_are_partitioned_by_month(tmp_path):
    """Claims, remittances, postings and the ledger are Delta tables partitioned by the month of their date
    (``_month=YYYY-MM`` folders: DuckDB and Spark skip the months a query does not need); they read back in
    month order, rows of a month in the order they were written."""
    from rcmkit import demo
    from rcmkit.core.ledger import build_ledger

    t = demo.generate(n_claims=600, seed=3, start="2026-01", end="2026-06")
    t["ledger"] = build_ledger(t)
    store.save_tables(tmp_path, "p", t)
    for name, column in store.MONTH_CLUSTERED.items():
        folders = sorted((tmp_path / "p" / "tables" / name).glob("_month=*"))
        assert len(folders) >= 6, name
        for folder in folders:
            month = folder.name.removeprefix("_month=")
            dates = pd.to_datetime(pq.read_table(list(folder.glob("*.parquet"))).column(column).to_pandas())
            assert (dates.dt.strftime("%Y-%m") == month).all(), f"{name}: {folder.name}"
        back = store.load_table(tmp_path, "p", name)
        pd.testing.assert_frame_equal(back, _in_stored_order(name, schema.conform(name, t[name])),
                                      check_dtype=False)


def test_old_parquet_layout_says_how_to_migrate_and_migrate_loses_nothing(tmp_path):
    """A practice in the plain-parquet layout (one <table>.parquet per table) is refused with the command that
    converts it; ``store.migrate`` converts it (rows and content digests compared) and keeps the old files."""
    t = small_tables()
    folder = tmp_path / "old"
    folder.mkdir()
    for name in ("claims", "payers", "remittances"):
        pq.write_table(schema.to_arrow(name, _in_stored_order(name, schema.conform(name, t[name]))),
                       folder / f"{name}.parquet")
    (folder / "_manifest.json").write_text("{}")
    with pytest.raises(store.StoreError, match=r"rcmkit store migrate --practice old"):
        store.load_tables(tmp_path, "old", ["claims"])
    report = store.migrate(tmp_path, "old")
    assert {n: r["rows"] for n, r in report["tables"].items()} == {"claims": 15, "payers": 4, "remittances": 12}
    back = store.load_tables(tmp_path, "old", ["claims", "payers", "remittances"])
    for name in back:
        pd.testing.assert_frame_equal(back[name], _in_stored_order(name, schema.conform(name, t[name])),
                                      check_dtype=False)
    kept = folder / store.MIGRATED_DIR
    assert sorted(p.name for p in kept.iterdir()) == ["_manifest.json", "claims.parquet", "payers.parquet",
                                                      "remittances.parquet"]
    assert not list(folder.glob("*.parquet"))
    with pytest.raises(store.StoreError, match="nothing to migrate"):
        store.migrate(tmp_path, "old")


def test_compact_merges_files_and_keeps_the_versions_reports_read(tmp_path):
    t = small_tables()
    store.save_tables(tmp_path, "p1", {"payers": t["payers"]})
    for k in range(3):
        row = pd.DataFrame({"payer_id": [f"X{k}"], "payer_name": ["x"], "payer_class": ["other"]})
        store.save_tables(tmp_path, "p1", {"payers": store.Append(row)})
    assert len(store.committed_paths(tmp_path, "p1", ["payers"])["payers"]) == 4
    before = store.load_table(tmp_path, "p1", "payers")
    result = store.compact(tmp_path, "p1", retain_days=0, keep_snapshots=[2])
    assert result["snapshot"] == 5 and len(store.committed_paths(tmp_path, "p1", ["payers"])["payers"]) == 1
    pd.testing.assert_frame_equal(store.load_table(tmp_path, "p1", "payers"), before)
    assert len(store.load_table(tmp_path, "p1", "payers", version=2)) == 5  # kept: a report read it
    with pytest.raises(store.StoreError, match="vacuumed"):
        store.load_table(tmp_path, "p1", "payers", version=3)


def test_store_commands_migrate_and_compact_keeping_what_reports_read(tmp_path):
    from click.testing import CliRunner

    from rcmkit.cli import main

    t = small_tables()
    folder = tmp_path / "data" / "old"
    folder.mkdir(parents=True)
    for name in ("claims", "payers"):
        pq.write_table(schema.to_arrow(name, _in_stored_order(name, schema.conform(name, t[name]))),
                       folder / f"{name}.parquet")
    data = str(tmp_path / "data")
    out = CliRunner().invoke(main, ["store", "migrate", "--practice", "old", "--data-root", data])
    assert out.exit_code == 0, out.output
    assert "claims" in out.output and "15 rows" in out.output and ".migrated-parquet" in out.output
    row = pd.DataFrame({"payer_id": ["X1"], "payer_name": ["x"], "payer_class": ["other"]})
    store.save_tables(data, "old", {"payers": store.Append(row)})  # snapshot 2
    store.save_tables(data, "old", {"payers": store.Append(row.assign(payer_id="X2"))})  # snapshot 3
    run = tmp_path / "reports" / "old" / "2026-03" / "run.json"
    run.parent.mkdir(parents=True)
    run.write_text(json.dumps({"store": {"store_snapshot": 1, "tables": {}}}))
    out = CliRunner().invoke(main, ["store", "compact", "--practice", "old", "--data-root", data, "--retain-days", "0",
                                    "--reports-root", str(tmp_path / "reports")])
    assert out.exit_code == 0, out.output
    assert "kept snapshots 1 that reports read" in out.output and "snapshot 4" in out.output
    assert len(store.load_table(data, "old", "payers", version=1)) == 4  # a report read it: kept
    assert len(store.load_table(data, "old", "payers")) == 6
    with pytest.raises(store.StoreError, match="vacuumed"):
        store.load_table(data, "old", "payers", version=2)  # nobody read it: its appended file is gone
    bad = CliRunner().invoke(main, ["store", "migrate", "--practice", "old", "--data-root", data])
    assert bad.exit_code == 1 and "nothing to migrate" in bad.output


@pytest.mark.parametrize("name", sorted(schema.TABLES))
def test_from_arrow_of_an_empty_table_is_the_canonical_empty_frame(name):
    """The empty-table shortcut (X12 files give many) equals the full conversion: same columns and dtypes, and a
    frame of its own each call (changing one does not change the next)."""
    arrow = schema.TABLES[name].arrow_schema.empty_table()
    got, full = schema.from_arrow(name, arrow), schema._from_arrow(name, arrow)
    assert list(got.columns) == list(full.columns) == schema.TABLES[name].names
    assert got.dtypes.to_dict() == full.dtypes.to_dict()
    first = schema.TABLES[name].names[0]
    got[first] = got[first].astype(object)
    assert schema.from_arrow(name, arrow)[first].dtype == full[first].dtype
    some = arrow.select(schema.TABLES[name].names[:2][::-1])  # a column subset in another order: spec order
    assert list(schema.from_arrow(name, some).columns) == schema.TABLES[name].names[:2]


def test_from_arrow_gives_canonical_dtypes():
    """Dates in nanoseconds, non-null cents int64, nullable integers Int64 with their nulls, lists as lists."""
    claims = small_tables()["claims"].head(2)
    arrow = schema.to_arrow("claims", claims)
    got = schema.from_arrow("claims", arrow)
    assert str(got["submitted_on"].dtype) == "datetime64[ns]" and got["total_charge_cents"].dtype == "int64"
    assert list(got["total_charge_cents"]) == list(claims["total_charge_cents"])
    assert all(isinstance(v, list) for v in got["diagnosis_codes"])
    pd.testing.assert_frame_equal(got, schema.conform("claims", claims))
    lines = schema.to_arrow("remit_lines", small_tables()["remit_lines"])
    frame = schema.from_arrow("remit_lines", lines)
    nullable = [c.name for c in schema.TABLES["remit_lines"].columns if c.nullable and c.type == pa.int64()]
    assert nullable == ["allowed_cents"] and str(frame["allowed_cents"].dtype) == "Int64"


def test_conform_of_a_canonical_frame_checks_values_as_the_full_path_does():
    """A frame already in canonical columns and dtypes takes a shortcut (no column converted); it must give the
    full path's frame, and the same problems in the same order: a time in a date column, a null in a required one."""
    for name, frame in small_tables().items():
        if name not in schema.TABLES:
            continue
        canonical = schema.conform(name, frame)
        full = schema.conform(name, canonical.astype({canonical.columns[0]: object}))  # not canonical: full path
        pd.testing.assert_frame_equal(schema.conform(name, canonical), full)
    bad = schema.conform("claims", small_tables()["claims"])
    bad.loc[2, "service_from"] = pd.Timestamp("2026-01-05 13:30")
    bad.loc[[0, 4], "payer_id"] = None
    messages = []
    for frame in (bad, bad.astype({"claim_id": object})):
        with pytest.raises(schema.SchemaError) as info:
            schema.conform("claims", frame)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "column 'service_from' holds times; dates only" in messages[0]
    assert "column 'payer_id' has 2 null value(s); it is required" in messages[0]
