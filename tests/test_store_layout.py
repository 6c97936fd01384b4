"""Issue #15: the file layout that keeps a day's ingest proportional to the day, not to the practice.

* files are sorted by each table's lookup column (``store.CLUSTER_BY``) in small row groups, so a keyed read can
  skip row groups by their min/max statistics, while reads still give the stored order;
* a checkpoint every ``delta.checkpointInterval`` versions bounds the log a reader replays, old versions included;
* after a commit only the files its versions added get their modes set (the walk does not grow with history).
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow.parquet as pq

from rcmkit.core import schema, store


def _claims(n: int) -> pd.DataFrame:
    """``n`` claims of one month whose claim ids run backwards against their stored order (Z..., then A...)."""
    ids = [f"K{n - i:04d}" for i in range(n)]
    return schema.conform("claims", pd.DataFrame({
        "claim_id": ids, "submission_id": [f"{c}-1" for c in ids], "frequency_code": "1",
        "claim_type": "professional", "submitted_on": pd.Timestamp("2026-01-15"),
        "service_from": pd.Timestamp("2026-01-10"), "service_to": pd.Timestamp("2026-01-10"), "payer_id": "MCR",
        "billing_npi": "1234567893", "rendering_npi": None, "place_of_service": "11", "diagnosis_codes": [["I10"]] * n,
        "payer_claim_ref": None, "patient_key": "P1", "total_charge_cents": range(1000, 1000 + n),
        "source": "t"}))


def test_files_are_sorted_by_the_lookup_column_in_small_row_groups_and_read_back_in_stored_order(tmp_path,
                                                                                                  monkeypatch):
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 4)
    claims = _claims(10)
    store.save_tables(tmp_path, "p", {"claims": claims})
    more = _claims(13).iloc[:3].assign(claim_id=["A3", "A1", "A2"], submission_id=["A3-1", "A1-1", "A2-1"])
    store.save_tables(tmp_path, "p", {"claims": store.Append(more)})
    files = store.committed_paths(tmp_path, "p", ["claims"])["claims"]
    assert len(files) == 2  # the first write and the append, both in January's partition
    groups = []
    for path in files:
        meta = pq.ParquetFile(path).metadata
        ids = pq.read_table(path, columns=["claim_id"])["claim_id"].to_pylist()
        assert ids == sorted(ids), path  # sorted by claim_id inside the file, whatever order they came in
        groups.append([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
    # 10 rows in groups of at most 4: 4 + 4 + 2; the append's 3 rows: one group
    assert sorted(groups) == [[3], [4, 4, 2]]
    # read back in the order they were stored: the 10 backwards ids, then A3, A1, A2
    got = store.load_table(tmp_path, "p", "claims")
    assert list(got["claim_id"]) == list(claims["claim_id"]) + ["A3", "A1", "A2"]
    with store.transaction(tmp_path, "p") as tx:
        assert list(tx.read("claims", where={"claim_id": ["K0002", "A1", "K0009"]})["claim_id"]) == [
            "K0009", "K0002", "A1"]


def test_a_checkpoint_every_twenty_versions_and_old_versions_still_read(tmp_path):
    claims = _claims(25)
    store.save_tables(tmp_path, "p", {"claims": claims.iloc[:1]})  # Delta version 0, snapshot 1
    for i in range(1, 25):  # versions 1 .. 24, snapshots 2 .. 25
        store.save_tables(tmp_path, "p", {"claims": store.Append(claims.iloc[i:i + 1])})
    log = store.table_path(tmp_path, "p", "claims") / "_delta_log"
    checkpoints = sorted(p.name for p in log.glob("*.checkpoint.parquet"))
    # delta-rs checkpoints when (version + 1) is a multiple of the interval: version 19
    assert checkpoints == [f"{19:020d}.checkpoint.parquet"]
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == 19
    # snapshot 6 (version 5, before the checkpoint) and the newest (after it) read their rows
    assert list(store.load_table(tmp_path, "p", "claims", version=6)["claim_id"]) == list(claims["claim_id"][:6])
    assert list(store.load_table(tmp_path, "p", "claims")["claim_id"]) == list(claims["claim_id"])


def test_after_a_commit_only_the_files_its_versions_added_are_restricted(tmp_path):
    claims = _claims(6)
    store.save_tables(tmp_path, "p", {"claims": claims.iloc[:3]})
    path = store.table_path(tmp_path, "p", "claims")
    everything = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    version = store.manifest(tmp_path, "p")["tables"]["claims"]["version"]
    store.save_tables(tmp_path, "p", {"claims": store.Append(claims.iloc[3:])})
    added = {os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs} - set(everything)
    data = [p for p in added if p.endswith(".parquet")]
    assert len(data) == 1 and len(added) == 2  # the append's data file and its log entry
    for p in everything + sorted(added):
        os.chmod(p, 0o666)
    store._restrict_written(path, version)
    modes = {p: os.stat(p).st_mode & 0o777 for p in everything + sorted(added)}
    assert {modes[p] for p in added} == {store.file_mode()}
    assert {modes[p] for p in everything} == {0o666}  # not walked: the earlier version's files
    # a new table (no earlier version): the whole tree
    store._restrict_written(path, -1)
    assert {os.stat(p).st_mode & 0o777 for p in everything} == {store.file_mode()}


def test_keyed_reads_of_thousands_of_keys(tmp_path):
    """DataFusion crashes the process (SIGSEGV) on an IN list of about 25,000 literals, which a whole-inbox ingest
    asks for: keyed queries go in lists of QUERY_IN_LIST keys, and past QUERY_MAX_KEYS the read scans. Both give
    the rows of the keys held, in stored order, with unknown keys costing nothing."""
    claims = _claims(40)
    store.save_tables(tmp_path, "p", {"claims": claims})
    held = list(claims["claim_id"])
    expected = list(claims.loc[claims["claim_id"].isin(held[::3]), "claim_id"])  # stored order
    for unknown in (store.QUERY_IN_LIST * 2 + 7, store.QUERY_MAX_KEYS + 5_000):  # chunked queries, then a scan
        keys = held[::3] + [f"NEW{i:06d}" for i in range(unknown)]
        with store.transaction(tmp_path, "p") as tx:
            assert list(tx.read("claims", where={"claim_id": keys})["claim_id"]) == expected, unknown


def test_month_strings_are_strftime_year_month():
    """The dated tables' ``_month`` helper column: 'YYYY-MM' as strftime("%Y-%m") gives it, nulls kept, on
    date32 and on timestamps (the store's clustered month of each row)."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.compute as pc

    from rcmkit.core.store import month_strings

    dates = [dt.date(2026, 1, 31), None, dt.date(1999, 12, 1), dt.date(2026, 10, 30), dt.date(905, 3, 4)]
    for kind in (pa.date32(), pa.timestamp("ns")):
        column = pa.array(dates[:4] if kind != pa.date32() else dates, pa.date32()).cast(kind)
        got = month_strings(column)
        assert got.to_pylist()[:4] == ["2026-01", None, "1999-12", "2026-10"]
        assert got.equals(pc.strftime(column, format="%Y-%m"))
