"""Issue #15: the ledger an ingest maintains claim by claim is exactly the ledger of a full rebuild.

The files of a small practice (a demo inbox: 837s, 835s with late payments and a reversal, PM payers/charges/
payments; plus hand-written PM files: a payments export before its charges, a corrected export of the same
transaction id, a cumulative export, a payers file that makes a payer self-pay) are ingested in random groups and
orders. After every ingest, in the practice ingested incrementally:

* the stored ledger equals ``build_ledger`` of the stored tables, row for row and in order (a full rebuild);
* every table equals, row for row and in order, the same table of a second practice given the same sequence of
  ingests with ``incremental=False`` (which rebuilds and rewrites the whole ledger each time).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcmkit import demo
from rcmkit.core import schema, store
from rcmkit.core.ledger import build_ledger
from rcmkit.ingest.pipeline import ingest, touched_claims
from rcmkit.ingest.x12.write import write_demo_files

KW = {"n_claims": 12, "seed": 5, "start": "2026-03", "end": "2026-04"}
PAYERS = "PayerID,PayerName,PayerClass\n77001,Acme Health,Commercial\n"
#: The same payer, now self-pay: the charge of its claims moves from the payer to the patient.
PAYERS_SELF = "PayerID,PayerName,PayerClass\n77001,Acme Health,Self-pay\n"
CHARGES = ("ClaimID,PatientAccount,PayerID,SecondaryPayerID,ServiceDate,BillDate,CPT,Modifiers,Units,Charge,"
           "Diagnoses,BillingNPI,RenderingNPI,POS\n"
           "E1,A1,77001,,01/05/2025,01/06/2025,99213,,1,100.00,I10,1234567893,,11\n"
           "E2,A2,77001,,02/05/2025,02/06/2025,99213,,1,200.00,I10,1234567893,,11\n")
PAY_HEADER = "TransactionID,ClaimID,PostDate,Type,Amount,PayerID,AdjReason,TransferTo\n"
PM_FILES = {
    "payers_a.csv": PAYERS,
    "payers_self.csv": PAYERS_SELF,
    "charges_e.csv": CHARGES,
    # January's payment, then a corrected export (T-1 becomes 65.00), then a cumulative one (T-1 to T-3)
    "payments_a.csv": PAY_HEADER + "T-1,E1,01/20/2025,INSPAY,60.00,77001,,\n",
    "payments_b.csv": PAY_HEADER + "T-1,E1,01/20/2025,INSPAY,65.00,77001,,\n"
                                   "T-2,E1,01/20/2025,ADJ,30.00,77001,CO-45,\n",
    "payments_c.csv": PAY_HEADER + "T-1,E1,01/20/2025,INSPAY,65.00,77001,,\nT-2,E1,01/20/2025,ADJ,30.00,77001,CO-45,\n"
                      "T-3,E2,03/02/2025,PATPAY,20.00,,,\n",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("corpus")
    write_demo_files(root, demo.generate(**KW), demo.patients(**KW), practice="src")
    files = sorted(p for p in (root / "src" / "inbox").rglob("*") if p.is_file() and not p.name.startswith("."))
    extra = root / "extra"
    extra.mkdir()
    for name, text in PM_FILES.items():
        (extra / name).write_text(text, encoding="utf-8")
        files.append(extra / name)
    return files


def _tables(root: Path) -> dict[str, pd.DataFrame]:
    return store.load_tables(root, "p", required=False)


def _check(inc: Path, full: Path, step: str) -> None:
    got, want = _tables(inc), _tables(full)
    money = any(len(got[n]) for n in ("claims", "remittances", "adjustments", "postings"))
    rebuilt = build_ledger(got) if money else schema.empty("ledger")
    # as the store reads it back: by month (its partitions), in build_ledger's order within a month
    month = rebuilt["posted_on"].dt.strftime("%Y-%m")
    rebuilt = rebuilt.iloc[month.argsort(kind="mergesort")].reset_index(drop=True) if money else rebuilt
    pd.testing.assert_frame_equal(got["ledger"], rebuilt, obj=f"{step}: stored ledger vs build_ledger")
    for name in schema.TABLES:
        pd.testing.assert_frame_equal(got[name], want[name], obj=f"{step}: {name} (incremental vs full)")


def _run(groups: list[list[Path]], tmp: Path) -> None:
    inc, full = tmp / "inc", tmp / "full"
    for i, group in enumerate(groups):
        ingest(inc, "p", group, column_map="generic", progress=False)
        ingest(full, "p", group, column_map="generic", progress=False, incremental=False)
        _check(inc, full, f"ingest {i + 1} of {len(groups)} ({', '.join(p.name for p in group)})")
    _assert_written_by_claim(inc)


def _assert_written_by_claim(root: Path) -> None:
    """The incremental practice's ledger was written whole once (its first ingest), then only by merges that
    delete touched claims' rows in named months, and appends: the equality above is not a full rebuild's."""
    from deltalake import DeltaTable

    history = DeltaTable(str(store.table_path(root, "p", "ledger"))).history()
    later = [h for h in history if h["version"] > 0]
    assert all((h.get("operationParameters") or {}).get("mode") != "Overwrite" for h in later), later
    merges = [h for h in later if h["operation"] == "MERGE"]
    assert all("_month" in h["operationParameters"]["predicate"] for h in merges), merges


@pytest.mark.slow  # ~5 s an example (every ingest twice, every table compared after each)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_sequence_of_incremental_ingests_gives_the_full_rebuild(corpus, tmp_path_factory, data):
    order = data.draw(st.permutations(corpus), label="order")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(order) - 1), min_size=1, max_size=4), label="cuts"))
    bounds = [0, *cuts, len(order)]
    groups = [order[a:b] for a, b in zip(bounds, bounds[1:])]
    _run(groups, tmp_path_factory.mktemp("seq"))


@pytest.mark.slow  # 9 ingests, each twice (~20 s)
def test_late_835_corrections_and_a_payer_turned_self_pay_match_the_full_rebuild(corpus, tmp_path):
    """A fixed sequence with every kind of change: 835s before their 837s (payments of claims not held yet),
    PM payments before their charges (suspense), a corrected export, the payer made self-pay, then the rest."""
    by_name = {p.name: p for p in corpus}
    x835 = [p for p in corpus if p.parent.name == "835"]
    x837 = [p for p in corpus if p.parent.name == "837"]
    pm = [p for p in corpus if p.parent.name == "pm"]
    groups = [x835[:2], [by_name["payers_a.csv"], by_name["payments_a.csv"]], x837[: len(x837) // 2],
              [by_name["charges_e.csv"]], [by_name["payments_b.csv"]], [by_name["payers_self.csv"]],
              x835[2:] + x837[len(x837) // 2:], pm, [by_name["payments_c.csv"]]]
    _run(groups, tmp_path)
    ledger = store.load_table(tmp_path / "inc", "p", "ledger")
    # by hand: E1 is charged 100.00 to the patient once 77001 is self-pay, the corrected payment is 65.00 and
    # the contractual 30.00, so E1 owes 100 - 65 - 30 = 5.00; E2: 200.00 less the patient's 20.00 = 180.00
    e = ledger[ledger["claim_id"].isin(["E1", "E2"])].groupby("claim_id")["amount_cents"].sum().to_dict()
    assert e == {"E1": 500, "E2": 18000}
    charges = ledger[(ledger["claim_id"].isin(["E1", "E2"])) & (ledger["kind"] == "charge")]
    assert set(charges["responsible"]) == {"patient"}


def test_touched_claims_names_exactly_the_claims_whose_rows_changed():
    """Each kind of change touches its claim and no other (the columns it reads, three claims made by hand)."""
    claims = pd.DataFrame({"claim_id": ["A", "B", "C"], "submission_id": ["A-1", "B-1", "C-1"],
                           "payer_id": ["P", "P", "Q"]})
    before = {"claims": claims, "remittances": pd.DataFrame({"remit_id": ["R1"], "claim_id": ["A"]}),
              "adjustments": pd.DataFrame({"remit_id": ["R1"], "amount_cents": [5]}),
              "postings": pd.DataFrame({"posting_id": pd.Series([], dtype=object),
                                        "claim_id": pd.Series([], dtype=object)}),
              "payers": pd.DataFrame({"payer_id": ["P", "Q"], "payer_class": ["commercial", "commercial"]})}
    nothing = before["postings"]
    assert touched_claims(before, before, nothing) == set()
    # a replacement submission of B
    more = pd.concat([claims, pd.DataFrame({"claim_id": ["B"], "submission_id": ["B-2"], "payer_id": ["P"]})],
                     ignore_index=True)
    assert touched_claims(before, {**before, "claims": more}, nothing) == {"B"}
    # a PM copy of C replaced: its submission goes
    assert touched_claims(before, {**before, "claims": claims.iloc[:2]}, nothing) == {"C"}
    # a new remittance of C, and an adjustment added to A's remittance
    remits = pd.DataFrame({"remit_id": ["R1", "R2"], "claim_id": ["A", "C"]})
    assert touched_claims(before, {**before, "remittances": remits}, nothing) == {"C"}
    adjustments = pd.DataFrame({"remit_id": ["R1", "R1"], "amount_cents": [5, 7]})
    assert touched_claims(before, {**before, "adjustments": adjustments}, nothing) == {"A"}
    # Q becomes self-pay: C's charge moves to the patient
    self_pay = before["payers"].assign(payer_class=["commercial", "self_pay"])
    assert touched_claims(before, {**before, "payers": self_pay}, nothing) == {"C"}
    # a posting corrected from claim A to claim B touches both
    post = lambda claim: pd.DataFrame({"posting_id": ["T1"], "claim_id": [claim]})  # noqa: E731
    moved = touched_claims({**before, "postings": post("A")}, {**before, "postings": post("B")}, post("B"))
    assert moved == {"A", "B"}


def test_keyed_reads_equal_the_whole_table_filtered_also_after_a_merge(tmp_path):
    """Transaction.read(where=...) gives the rows of the whole table whose key is among the values, in stored
    order, including after an Upsert (Delta's merge rewrites files, with string_view columns) and for the null
    partition; a column the stored table lacks reads as nulls."""
    import small_practice

    tables = small_practice.tables()
    store.save_tables(tmp_path, "p", {n: tables[n] for n in ("claims", "claim_lines", "postings")})
    claims = tables["claims"]
    # replace C02's replacement submission (a merge that deletes one row and appends it again)
    store.save_tables(tmp_path, "p", {"claims": store.Upsert(claims[claims["submission_id"] == "C02-2"],
                                                             keys=["submission_id"])})
    whole = store.load_tables(tmp_path, "p", ["claims", "claim_lines"])
    with store.transaction(tmp_path, "p") as tx:
        for ids in (["C02", "C09"], ["C02"], [], ["nope", None]):
            got = tx.read("claims", where={"claim_id": ids, "submission_id": ["C12-1"]})
            c = whole["claims"]
            want = c[c["claim_id"].isin(ids) | (c["submission_id"] == "C12-1")]
            pd.testing.assert_frame_equal(got, want.reset_index(drop=True))
        # C02-2 moved to the end of its month (February) by the merge: after C05-1 and C06-1, C07-1
        assert list(tx.read("claims", where={"claim_id": ["C02", "C05"]})["submission_id"]) == [
            "C02-1", "C05-1", "C02-2"]
        lines = tx.read("claim_lines", where={"submission_id": ["C02-2", "C10-2"]})
        assert set(lines["submission_id"]) == {"C02-2", "C10-2"}
        assert len(tx.read("claims", where={"claim_id": ["C01"]}, columns=["claim_id"])) == 1


def test_rebuild_ledger_command_writes_the_full_ledger(tmp_path):
    """`rcmkit store rebuild-ledger` replaces a wrong stored ledger with build_ledger of the stored tables; a
    practice without claims is bad input (exit 2)."""
    from click.testing import CliRunner

    import small_practice
    from rcmkit.cli import main

    tables = small_practice.tables()
    wrong = build_ledger(tables).iloc[:3]
    store.save_tables(tmp_path, "p", {**{n: tables[n] for n in ("payers", "claims", "remittances", "adjustments",
                                                                  "postings")}, "ledger": wrong})
    result = CliRunner().invoke(main, ["store", "rebuild-ledger", "--practice", "p", "--data-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    want = build_ledger(tables)
    got = store.load_table(tmp_path, "p", "ledger")
    assert len(got) == len(want) > 3 and f"{len(want):,} rows, 12 claims" in result.output
    pd.testing.assert_frame_equal(got.sort_values(list(got.columns)).reset_index(drop=True),
                                  want.sort_values(list(want.columns)).reset_index(drop=True))
    bad = CliRunner().invoke(main, ["store", "rebuild-ledger", "--practice", "q", "--data-root", str(tmp_path)])
    assert bad.exit_code == 2 and "no stored claims" in bad.output


def test_a_day_of_835s_appends_its_ledger_rows_without_reading_its_claims(corpus, tmp_path, monkeypatch):
    """Once the 837s are in, an 835's ledger rows (payments, contractual and patient-responsibility rows) are
    appended (a Delta append, no merge) and no stored row of the claims it pays is read; the ledger still equals
    the full rebuild."""
    from deltalake import DeltaTable

    from rcmkit.ingest.x12.reader import read_x12

    x835 = [p for p in corpus if p.parent.name == "835"]
    x837 = [p for p in corpus if p.parent.name == "837"]
    ingest(tmp_path / "inc", "p", x837, progress=False)
    ingest(tmp_path / "full", "p", x837, progress=False, incremental=False)
    paid = set(read_x12(x835[:1]).tables["remittances"]["claim_id"])
    assert paid  # the 835 pays claims the 837s brought
    lookups: list[set] = []
    read = store.Transaction.read

    def spy(self, name, *, where=None, columns=None):
        if where and name in ("claims", "remittances", "postings"):
            lookups.append(set(where.get("claim_id", ())))
        return read(self, name, where=where, columns=columns)

    monkeypatch.setattr(store.Transaction, "read", spy)
    ingest(tmp_path / "inc", "p", x835[:1], progress=False)
    monkeypatch.undo()
    ingest(tmp_path / "full", "p", x835[:1], progress=False, incremental=False)
    assert lookups and not any(ids & paid for ids in lookups), lookups
    last = DeltaTable(str(store.table_path(tmp_path / "inc", "p", "ledger"))).history(1)[0]
    assert last["operation"] == "WRITE" and last["operationParameters"]["mode"] == "Append", last
    _check(tmp_path / "inc", tmp_path / "full", "after the 835")
