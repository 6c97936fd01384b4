"""Issue #15: the store's write path computes what it did before, faster: a table already in cluster order is
not sorted again (and one that is not, is), month partition names come from the distinct months, a big table's
content digest is computed alongside its Delta write, and the ledger joins adjustments to their remittances by
position. Each is compared with the straightforward computation it replaces."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcmkit.core import ledger, schema, store
from small_practice import tables as small_tables

_ids = st.one_of(st.none(), st.sampled_from(["", "A", "AB", "B", "a", "é", "Z9", "C1", "C10", "C2"]))


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_ids, max_size=25), sort_first=st.booleans(), seq_step=st.sampled_from([1, -1]))
def test_cluster_order_equals_the_sort(values, sort_first, seq_step):
    """`_clustered` gives the rows sorted by (cluster column, missing last; then _seq), whether they come sorted
    (no sort then) or not; a `_seq` that runs backwards is sorted too."""
    if sort_first:
        values = sorted((v for v in values if v is not None)) + [v for v in values if v is None]
    n = len(values)
    seq = np.arange(n, dtype=np.int64)[::seq_step].copy()
    data = pa.table({"claim_id": pa.array(values, pa.string()), store.SEQ_COLUMN: pa.array(seq)})
    expected = data.take(pc.sort_indices(data, sort_keys=[("claim_id", "ascending", "at_end"),
                                                          (store.SEQ_COLUMN, "ascending", "at_end")]))
    assert store._clustered("ledger", data).equals(expected)


def test_a_sorted_column_is_recognised_without_a_sort():
    values = pa.chunked_array([pa.array(["A", "A", "B"]), pa.array(["C", None, None])])
    seq = pa.chunked_array([pa.array(np.arange(6, dtype=np.int64))])
    assert store._in_order(values, seq)
    assert not store._in_order(pa.chunked_array([pa.array(["A", None, "B"])]), pa.chunked_array([pa.array([0, 1, 2])]))
    assert not store._in_order(pa.chunked_array([pa.array(["B", "A"])]), pa.chunked_array([pa.array([0, 1])]))
    assert not store._in_order(pa.chunked_array([pa.array(["A", "A"])]), pa.chunked_array([pa.array([1, 0])]))


@settings(max_examples=60, deadline=None)
@given(days=st.lists(st.one_of(st.none(), st.integers(-80_000, 80_000)), max_size=30),
       unit=st.sampled_from(["ns", "us", "date"]))
def test_month_strings_are_strftime(days, unit):
    dates = [None if d is None else dt.datetime(2000, 1, 1) + dt.timedelta(days=d) for d in days]
    typ = pa.date32() if unit == "date" else pa.timestamp(unit)
    values = [d.date() if (d is not None and unit == "date") else d for d in dates]
    got = store.month_strings(pa.chunked_array([pa.array(values, typ)], type=typ))
    assert got.type == pa.string()
    assert got.to_pylist() == [None if d is None else d.strftime("%Y-%m") for d in dates]


def test_a_big_tables_digest_computed_alongside_its_write_is_its_content_digest(tmp_path, monkeypatch):
    """Every write path (overwrite, append, upsert) records the same digest whether the content digest is
    computed alongside the Delta write (every table here: threshold 0) or after it."""
    t = small_tables()
    digests = {}
    for threshold in (0, 10**9):
        monkeypatch.setattr(store, "_DIGEST_ALONGSIDE_ROWS", threshold)
        root = tmp_path / str(threshold)
        store.save_tables(root, "p", {"claims": t["claims"].iloc[:8], "payers": t["payers"]})
        store.save_tables(root, "p", {"claims": store.Append(t["claims"].iloc[8:12]),
                                      "payers": store.Upsert(t["payers"].iloc[:2], keys=("payer_id",))})
        digests[threshold] = store.manifest(root, "p")["tables"]
        assert digests[threshold]["claims"]["rows"] == 12
    assert digests[0] == digests[10**9]
    claims = store.load_table(tmp_path / "0", "p", "claims")
    first = store.manifest(tmp_path / "0", "p", 1)["tables"]["claims"]["sha256"]
    assert first == store.table_digest(schema.to_arrow("claims", t["claims"].iloc[:8]))
    assert len(claims) == 12


def test_a_failed_write_waits_for_its_digest_and_says_the_write_error(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_DIGEST_ALONGSIDE_ROWS", 0)
    t = small_tables()

    def broken(*_a, **_k):
        raise OSError("Generic LocalFileSystem error: Unable to write: No space left on device (os error 28)")

    monkeypatch.setattr(store, "_write_delta", broken)
    with pytest.raises(store.StoreError, match="No space left on device"):
        store.save_tables(tmp_path, "p", {"claims": t["claims"]})
    assert store.snapshot_id(tmp_path, "p") == 0


@settings(max_examples=80, deadline=None)
@given(adj_ids=st.lists(st.one_of(st.none(), st.sampled_from(["R1", "R2", "R3", "R4"])), max_size=20),
       remit_ids=st.lists(st.one_of(st.none(), st.sampled_from(["R1", "R2", "R3", "R5"])), max_size=8))
def test_adjustments_join_their_remittances_as_pandas_merge_does(adj_ids, remit_ids):
    """By position when the remittances' ids are distinct and present; pandas' merge otherwise (duplicate or
    missing ids, which a canonical table does not have)."""
    adj = pd.DataFrame({"remit_id": pd.Series(adj_ids, dtype="str"),
                        "amount_cents": np.arange(len(adj_ids), dtype="int64")}, index=np.arange(len(adj_ids)) * 3)
    remits = pd.DataFrame({"remit_id": pd.Series(remit_ids, dtype="str"),
                           "claim_id": pd.Series([f"C{i}" for i in range(len(remit_ids))], dtype="str"),
                           "paid_on": pd.to_datetime(["2024-01-01"] * len(remit_ids))})
    pd.testing.assert_frame_equal(ledger._with_remittance(adj, remits), adj.merge(remits, on="remit_id", how="inner"))


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(_ids, st.one_of(st.none(), st.integers(0, 3)), _ids), max_size=25),
       subset=st.sampled_from([["s"], ["s", "n"], ["n"], ["s", "o"], ["n", "s", "o"]]),
       keep=st.sampled_from(["first", "last"]))
def test_fast_duplicates_are_pandas_duplicates(rows, subset, keep):
    """`frames.drop_duplicates` (the ingest's merge, claim parties, the ledger's charges) keeps the rows pandas
    keeps, in order, with their index: arrow strings, nullable integers and object strings, missing values
    equal to each other."""
    from rcmkit.core.frames import drop_duplicates, duplicated

    df = pd.DataFrame({"s": pd.Series([r[0] for r in rows], dtype="str"),
                       "n": pd.array([r[1] for r in rows], dtype="Int64"),
                       "o": pd.Series([r[2] for r in rows], dtype=object)}, index=np.arange(len(rows)) * 2 + 1)
    assert (duplicated(df, subset, keep) == df.duplicated(subset, keep=keep).to_numpy()).all()
    pd.testing.assert_frame_equal(drop_duplicates(df, subset, keep), df.drop_duplicates(subset, keep=keep))


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(_ids, max_size=20), table=st.dictionaries(st.sampled_from(["A", "AB", "B", "é", "C1", "C2"]),
                                                              st.one_of(st.none(), _ids), max_size=5))
def test_lookup_is_pandas_map(keys, table):
    """`frames.lookup` (the PM postings' parties) gives what `Series.map` of a one-row-per-key table gives."""
    from rcmkit.core.frames import lookup

    k = pd.Series(keys, dtype="str", index=np.arange(len(keys)) * 3, name="claim_id")
    h = pd.DataFrame({"claim_id": pd.Series(list(table), dtype="str"),
                      "payer_id": pd.Series(list(table.values()), dtype="str")}).set_index("claim_id")
    pd.testing.assert_series_equal(lookup(k, h.index.to_series(), h["payer_id"].reset_index(drop=True)),
                                   k.map(h["payer_id"]))


@settings(max_examples=100, deadline=None)
@given(values=st.lists(_ids, max_size=25), keep=st.sampled_from(["first", "last"]))
def test_adjacent_duplicates_of_a_sorted_key_are_pandas_duplicates(values, keep):
    """`drop_duplicates(..., adjacent=True)` (the ledger's charges, claim parties: frames sorted by claim) keeps
    what pandas keeps when equal keys are next to each other (missing ones last)."""
    from rcmkit.core.frames import drop_duplicates

    ordered = sorted(v for v in values if v is not None) + [v for v in values if v is None]
    df = pd.DataFrame({"claim_id": pd.Series(ordered, dtype="str"), "n": np.arange(len(ordered))},
                      index=np.arange(len(ordered)) * 2)
    pd.testing.assert_frame_equal(drop_duplicates(df, ["claim_id"], keep, adjacent=True),
                                  df.drop_duplicates(["claim_id"], keep=keep))


@pytest.mark.parametrize("threshold", [0, 10**9])
def test_an_upsert_whose_delete_finds_nothing_writes_nothing(tmp_path, monkeypatch, threshold):
    """An upsert of no rows whose delete keys match no stored row leaves the table's version as it is (the
    write path returns early; with the digest computed alongside or not), and one that deletes chains the
    delete into the table's digest."""
    monkeypatch.setattr(store, "_DIGEST_ALONGSIDE_ROWS", threshold)
    t = small_tables()
    store.save_tables(tmp_path, "p", {"claims": t["claims"]})
    before = store.manifest(tmp_path, "p")
    nothing = t["claims"].iloc[:0]
    store.save_tables(tmp_path, "p", {"claims": store.Upsert(nothing, keys=("submission_id",),
                                                             delete=pd.DataFrame({"submission_id": ["nope"]}))})
    assert store.manifest(tmp_path, "p") == before
    gone = t["claims"]["submission_id"].iloc[:2]
    store.save_tables(tmp_path, "p", {"claims": store.Upsert(nothing, keys=("submission_id",),
                                                             delete=pd.DataFrame({"submission_id": gone}))})
    after = store.manifest(tmp_path, "p")["tables"]["claims"]
    assert after["rows"] == len(t["claims"]) - 2
    first = before["tables"]["claims"]["sha256"]
    upsert = store._chain(first, "upsert submission_id", store.table_digest(schema.to_arrow("claims", nothing)))
    delete = pa.Table.from_pandas(pd.DataFrame({"submission_id": gone.astype(object)}),
                                  schema=pa.schema([schema.TABLES["claims"].arrow_schema.field("submission_id")]),
                                  preserve_index=False)
    assert after["sha256"] == store._chain(upsert, "delete submission_id", delete)


_group = st.one_of(st.none(), st.sampled_from(["CO", "co", "PR", "pr", "OA", "PI", "CR", "cr", "ZZ", ""]))
_reason = st.one_of(st.none(), st.sampled_from(["45", "1", "2", "3", "16", "97", "18", "23", "a1", "A1", "253",
                                                 "999", "", "N130"]))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(_group, _reason), max_size=25))
def test_adjustments_classified_on_duckdb_and_polars_as_in_pandas(rows):
    """The crosswalk's rules joined on the engine (exact, then by group, then by code; upper case; CR as CO;
    else a denial in Other) give each adjustment the treatment and category of pandas' per-pair lookup."""
    import duckdb
    import narwhals as nw

    from rcmkit.core.engine import collect
    from rcmkit.core.refdata import classify_adjustments

    adj = pd.DataFrame({"remit_id": [f"R{i}" for i in range(len(rows))],
                        "group_code": pd.Series([r[0] for r in rows], dtype="str"),
                        "reason_code": pd.Series([r[1] for r in rows], dtype="str"),
                        "amount_cents": np.arange(len(rows), dtype="int64")})
    want = classify_adjustments(adj)[["remit_id", "treatment", "category"]].sort_values("remit_id")
    want = want.reset_index(drop=True).astype(object)
    table = pa.Table.from_pandas(adj, preserve_index=False)
    for frame in (duckdb.from_arrow(table), nw.from_native(adj).lazy(backend="polars")):
        got = collect(nw.from_native(classify_adjustments(frame)).lazy() if not isinstance(frame, nw.LazyFrame)
                      else classify_adjustments(frame))
        got = got[["remit_id", "treatment", "category"]].sort_values("remit_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got.astype(object), want, check_dtype=False)
