"""A practice's own PM exports, month after month, through `rcmkit ingest` alone (issue #12).

Each test reproduces one failure seen with an unseen practice's files (the numbers in the issue) and checks the
money to the cent against hand-computed balances.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from rcmkit.core import store
from rcmkit.cli import main
from rcmkit.ingest.pipeline import EXIT_ATTENTION, EXIT_OK
from rcmkit.metrics import MetricOptions
from rcmkit.metrics.collections import payments

FIXTURES = Path(__file__).parent / "fixtures"
PAYERS = "PayerID,PayerName,PayerClass\n31440,Acme Health,Commercial\nMCR,Medicare,Medicare\n"
CHARGES_HEADER = ("ClaimID,PatientAccount,PayerID,SecondaryPayerID,ServiceDate,BillDate,CPT,Modifiers,Units,Charge,"
                  "Diagnoses,BillingNPI,RenderingNPI,POS\n")
PAYMENTS_HEADER = "ClaimID,PostDate,Type,Amount,PayerID,AdjReason,TransferTo\n"


def _charges(month: int) -> str:
    """Two claims a month: C<mm> to payer 31440 ($200.00) and a self-pay S<mm> ($100.00)."""
    d = f"{month:02d}/05/2025"
    b = f"{month:02d}/06/2025"
    return (CHARGES_HEADER
            + f"C{month:02d},A-{month},31440,,{d},{b},99213,,1,200.00,I10,1234567893,1234567893,11\n"
            + f"S{month:02d},B-{month},SELF,,{d},{b},99212,,1,100.00,Z00.00,1234567893,,11\n")


def _payment_rows(month: int) -> list[str]:
    """C<mm>: $120 paid, $60 CO-45, $10 copay (leaves $10.00 owed); S<mm>: paid in full. November's self-pay
    patient overpays by $10 and is refunded."""
    p = f"{month:02d}/25/2025"
    rows = [f"C{month:02d},{p},INSPAY,120.00,31440,,", f"C{month:02d},{p},ADJ,60.00,31440,CO-45,",
            f"C{month:02d},{p},PATPAY,10.00,,,"]
    if month == 11:
        rows += [f"S{month:02d},{p},PATPAY,110.00,,,", f"S{month:02d},11/28/2025,REFUND,-10.00,,,"]
    else:
        rows += [f"S{month:02d},{p},PATPAY,100.00,,,"]
    return rows


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _ingest(root: Path, *paths: Path, column_map: str = "generic", extra: tuple[str, ...] = ()):
    args = ["ingest", "--practice", "p", "--data-root", str(root), "--column-map", column_map, "--no-progress",
            *extra, *map(str, paths)]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _balances(root: Path) -> dict[str, int]:
    ledger = store.load_table(root, "p", "ledger")
    return {k: int(v) for k, v in ledger.groupby("claim_id")["amount_cents"].sum().items()}


@pytest.mark.slow  # twelve ingests (~9 s); the corrected-export, suspense and delimiter tests below stay fast
def test_twelve_months_of_pm_exports_end_with_hand_computed_balances(tmp_path):
    """Twelve monthly exports with the same payers.csv each month, one corrected re-export (March), one cumulative
    payments file (June: January to June), a payments file that arrives before its charges (September) and a
    refund (November). Expected by hand: every C<mm> owes $10.00 except C03 (the corrected export adds the
    missing $10.00 copay); every S<mm> owes nothing; nothing waits in suspense."""
    root, inbox = tmp_path / "data", tmp_path / "inbox"
    codes = {}
    for month in range(1, 13):
        folder = inbox / f"{month:02d}"
        files = [_write(folder, "payers.csv", PAYERS)]  # unchanged every month: skipped after the first
        if month != 9:
            files.append(_write(folder, f"charges_2025-{month:02d}.csv", _charges(month)))
        if month == 6:  # cumulative: every payment of the year so far
            rows = [r for m in range(1, 7) for r in _payment_rows(m)]
            files.append(_write(folder, "payments_ytd_2025-06.csv", PAYMENTS_HEADER + "\n".join(rows) + "\n"))
        else:
            files.append(_write(folder, f"payments_2025-{month:02d}.csv",
                                PAYMENTS_HEADER + "\n".join(_payment_rows(month)) + "\n"))
        result = _ingest(root, *files)
        codes[month] = result.exit_code
        if month == 1:
            assert "skipped as already ingested: 0" in result.output
        else:
            assert "skipped as already ingested: 1" in result.output, result.output  # payers.csv
        if month == 3:  # the corrected re-export: the same rows plus the missing copay
            rows = _payment_rows(3) + ["C03,03/30/2025,PATPAY,10.00,,,"]
            fixed = _write(folder, "payments_2025-03_corrected.csv", PAYMENTS_HEADER + "\n".join(rows) + "\n")
            again = _ingest(root, fixed)
            assert "postings added: 1" in again.output, again.output
        if month == 9:  # the payments came before the charges: they wait, then apply
            assert codes[9] == EXIT_ATTENTION
            assert "unapplied postings (suspense" in result.output and ": 4 ($" in result.output, result.output
            late = _ingest(root, _write(folder, "charges_2025-09.csv", _charges(9)))
            assert late.exit_code == EXIT_OK, late.output
            assert "postings added: 4 (4 from suspense)" in late.output, late.output
    assert {m: c for m, c in codes.items() if m != 9} == {m: EXIT_OK for m in range(1, 13) if m != 9}
    expected = {f"C{m:02d}": (0 if m == 3 else 1000) for m in range(1, 13)} | {f"S{m:02d}": 0 for m in range(1, 13)}
    assert _balances(root) == expected
    t = store.load_tables(root, "p", ["postings", "unapplied_postings", "claims"])
    assert t["unapplied_postings"].empty and len(t["claims"]) == 24
    # by hand: 4 rows a month (3 on C<mm>, 1 on S<mm>), plus November's refund and March's corrected copay
    assert len(t["postings"]) == 12 * 4 + 1 + 1
    assert t["postings"]["posting_id"].is_unique
    november = payments({"ledger": store.load_table(root, "p", "ledger")}, "2025-11", MetricOptions())
    assert november.value == pytest.approx(230.00)  # 120 + 10 + 110 - 10 refunded


@pytest.mark.slow  # two ingests; stored payers are read by the fast suspense and summary tests too
def test_month_two_charges_see_the_stored_payers(tmp_path):
    """Issue: an unchanged payers.csv is skipped, then every charge of month 2 was rejected with
    `unknown payer '31440'` and the file recorded as ingested."""
    root = tmp_path / "data"
    first = _ingest(root, _write(tmp_path / "m1", "payers.csv", PAYERS),
                    _write(tmp_path / "m1", "charges_2025-01.csv", _charges(1)))
    assert first.exit_code == EXIT_OK, first.output
    second = _ingest(root, _write(tmp_path / "m2", "payers.csv", PAYERS),
                     _write(tmp_path / "m2", "charges_2025-02.csv", _charges(2)))
    assert second.exit_code == EXIT_OK, second.output
    assert "claims added: 2 (charges $300.00)" in second.output
    assert sorted(store.load_table(root, "p", "claims")["claim_id"]) == ["C01", "C02", "S01", "S02"]


@pytest.mark.slow  # 837 then payments; the fast suspense test applies payments to 837 claims
def test_payments_on_claims_billed_by_837_apply_and_a_payments_file_alone_does_not_crash(tmp_path):
    """Issue: patient payments naming claims that went out as 837s were rejected (`posting on an unknown
    claim`), and a payments file without a charges file crashed with KeyError 'payer_id'."""
    root = tmp_path / "data"
    x12 = sorted((FIXTURES / "x12").glob("*.837"))
    assert x12, "the X12 fixtures hold an 837"
    CliRunner().invoke(main, ["ingest", "--practice", "p", "--data-root", str(root), "--no-progress",
                              str(x12[0])], catch_exceptions=False)
    claims = store.load_table(root, "p", "claims")
    claim = claims["claim_id"].iloc[0]
    before = _balances(root)[claim]
    pay = _write(tmp_path, "payments_2026-01.csv", PAYMENTS_HEADER + f"{claim},01/20/2026,PATPAY,15.00,,,\n")
    result = _ingest(root, pay)
    assert result.exit_code == EXIT_OK, result.output
    assert "postings added: 1" in result.output
    assert _balances(root)[claim] == before - 1500
    posting = store.load_table(root, "p", "postings").iloc[0]
    assert (posting["kind"], posting["responsible"]) == ("patient_payment", "patient")


def test_a_posting_on_an_unknown_claim_waits_in_suspense_until_its_837_arrives(tmp_path):
    root = tmp_path / "data"
    x12 = sorted((FIXTURES / "x12").glob("*.837"))[0]
    from rcmkit.ingest import read_x12

    claim = read_x12([x12]).tables["claims"]["claim_id"].iloc[0]
    pay = _write(tmp_path, "payments_2026-01.csv", PAYMENTS_HEADER + f"{claim},01/20/2026,PATPAY,15.00,,,\n")
    waiting = _ingest(root, pay)
    assert waiting.exit_code == EXIT_ATTENTION
    assert "unapplied postings (suspense: their claim is not held yet; applied when it arrives): 1 ($15.00)" \
        in waiting.output
    assert store.load_table(root, "p", "postings").empty
    arrived = CliRunner().invoke(main, ["ingest", "--practice", "p", "--data-root", str(root), "--no-progress",
                                        str(x12)], catch_exceptions=False)
    assert arrived.exit_code == EXIT_OK, arrived.output
    assert "(1 from suspense)" in arrived.output
    assert store.load_table(root, "p", "unapplied_postings").empty
    assert store.load_table(root, "p", "postings")["amount_cents"].tolist() == [-1500]


def test_a_corrected_or_cumulative_export_never_counts_a_posting_twice(tmp_path):
    """Issue: a re-read stored a $60 insurance payment and a $10 copay twice (balance -$40 instead of +$30)."""
    root = tmp_path / "data"
    _ingest(root, _write(tmp_path, "payers.csv", PAYERS), _write(tmp_path, "charges_2025-01.csv",
                                                                    CHARGES_HEADER + "E1,A1,31440,,01/05/2025,"
                                                                    "01/06/2025,99213,,1,100.00,I10,1234567893,,11\n"))
    rows = ["E1,01/20/2025,INSPAY,60.00,31440,,", "E1,01/20/2025,PATPAY,10.00,,,"]
    _ingest(root, _write(tmp_path / "a", "payments.csv", PAYMENTS_HEADER + "\n".join(rows) + "\n"))
    assert _balances(root) == {"E1": 3000}
    # the same rows re-exported under another name and order, with one new row (two equal copays are kept)
    again = rows[::-1] + ["E1,01/20/2025,PATPAY,10.00,,,"]
    result = _ingest(root, _write(tmp_path / "b", "payments_all.csv", PAYMENTS_HEADER + "\n".join(again) + "\n"))
    assert "postings added: 1" in result.output, result.output
    assert _balances(root) == {"E1": 2000}


@pytest.mark.slow  # several ingests (~1.4 s): make test runs it
def test_a_transaction_id_makes_a_corrected_amount_replace_the_stored_posting(tmp_path):
    root = tmp_path / "data"
    _ingest(root, _write(tmp_path, "payers.csv", PAYERS), _write(tmp_path, "charges.csv", CHARGES_HEADER +
                                                                    "E1,A1,31440,,01/05/2025,01/06/2025,99213,,1,"
                                                                    "100.00,I10,1234567893,,11\n"))
    header = "TransactionID," + PAYMENTS_HEADER
    _ingest(root, _write(tmp_path / "a", "payments.csv", header + "T-77,E1,01/20/2025,INSPAY,60.00,31440,,\n"))
    result = _ingest(root, _write(tmp_path / "b", "payments.csv", header + "T-77,E1,01/20/2025,INSPAY,65.00,31440,,\n"))
    assert "postings corrected: 1" in result.output, result.output
    assert _balances(root) == {"E1": 3500}


def test_rows_with_an_unquoted_delimiter_are_rejected_never_shifted(tmp_path):
    """Issue: `1,234.50` unquoted loaded a $1.00 claim with diagnosis 23450 and billing NPI K21.9; an unquoted
    `LAST, FIRST` before the service date stored the birth date as the service date."""
    root = tmp_path / "data"
    charges = (CHARGES_HEADER
               + "E1,A1,31440,,01/05/2025,01/06/2025,99213,,1,1,234.50,K21.9,1234567893,,\n"
               + "E2,A2,31440,,01/05/2025,01/06/2025,99213,,1,80.00,I10,1234567893,,11\n")
    result = _ingest(root, _write(tmp_path, "payers.csv", PAYERS), _write(tmp_path, "charges.csv", charges))
    assert result.exit_code == EXIT_ATTENTION
    assert "rejected [field_count] x1: charges.csv line 2, column (row)" in result.output, result.output
    claims = store.load_table(root, "p", "claims")
    assert claims["claim_id"].tolist() == ["E2"] and claims["total_charge_cents"].tolist() == [8000]
    # a layout where the patient's name and birth date come before the service date
    layout = {"rcmkit_column_map": 1, "date_formats": ["%m/%d/%Y"],
              "payers": [{"payer_id": "MCR", "payer_name": "Medicare", "payer_class": "medicare"}],
              "files": {"charges": {"pattern": "visits*.csv", "table": "claim_lines", "fields": {
                  "claim_id": "Claim", "patient_key": "Account", "payer_id": {"value": "MCR"},
                  "service_date": "ServiceDate", "submitted_on": "ServiceDate", "procedure_code": "CPT",
                  "charge_cents": "Charge", "billing_npi": {"value": "1234567893"}}}}}
    import yaml

    cmap = _write(tmp_path, "visits.yaml", yaml.safe_dump(layout))
    visits = ("Claim,Account,Patient,BirthDate,ServiceDate,CPT,Charge\n"
              "V1,A9,DOE, JANE,04/01/1961,03/03/2025,99213,90.00\n"
              "V2,A8,\"ROE, RICHARD\",05/02/1970,03/04/2025,99213,90.00\n")
    out = _ingest(tmp_path / "data2", _write(tmp_path, "visits_2025-03.csv", visits), column_map=str(cmap))
    assert out.exit_code == EXIT_ATTENTION
    lines = store.load_table(tmp_path / "data2", "p", "claim_lines")
    assert lines["service_date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-03-04"]
    text = out.output + pd.concat([store.load_table(tmp_path / "data2", "p", t) for t in
                                   ("csv_rejections",)])["message"].str.cat()
    assert "1961" not in text and "JANE" not in text


@pytest.mark.slow  # four ingests (~1.7 s): make test runs it
def test_a_file_with_rejections_is_read_again_and_force_rereads_without_doubling(tmp_path):
    """Issue: a rejected file, or one no map pattern matched, was recorded as ingested and could never be read."""
    root = tmp_path / "data"
    payers = _write(tmp_path, "payers.csv", PAYERS)
    bad = _write(tmp_path, "charges.csv", CHARGES_HEADER
                 + "E1,A1,31440,,01/05/2025,01/06/2025,99213,,1,80.00,I10,1234567893,,11\n"
                 + "E2,A2,NOPE,,01/05/2025,01/06/2025,99213,,1,50.00,I10,1234567893,,11\n")
    first = _ingest(root, payers, bad)
    assert first.exit_code == EXIT_ATTENTION
    assert "will be read again next run" in first.output and "charges.csv" in first.output.split("next run")[-1]
    second = _ingest(root, payers, bad)
    assert "skipped as already ingested: 1" in second.output  # payers.csv only: charges.csv is read again
    assert "claims added: 0" in second.output and second.exit_code == EXIT_ATTENTION
    assert len(store.load_table(root, "p", "csv_rejections")) == 1  # the file's rejection is not repeated
    # an export whose name no map pattern matches is retried too, and loads once the file is named right
    odd = _write(tmp_path, "Charges-March.txt", "x")
    unmatched = _ingest(root, odd)
    assert unmatched.exit_code == EXIT_ATTENTION and "Charges-March.txt" in unmatched.output.split("next run")[-1]
    forced = _ingest(root, payers, extra=("--force",))
    assert "skipped as already ingested: 0" in forced.output and forced.exit_code == EXIT_OK
    assert len(store.load_table(root, "p", "payers")) == 3  # 31440, MCR, SELF: nothing doubled


@pytest.mark.slow  # two ingests; column maps stay fast in tests/test_ingest_pipeline.py
def test_contracts_load_through_a_column_map_and_replace_rates_by_key(tmp_path):
    """Issue: `table: contracts` failed with `unknown table 'contracts'`."""
    root = tmp_path / "data"
    layout = {"rcmkit_column_map": 1, "files": {"fees": {"pattern": "fees*.csv", "table": "contracts", "fields": {
        "payer_id": "Payer", "procedure_code": "Code", "modifiers": "Mod", "effective_from": "From",
        "allowed_cents": "Allowed"}}}}
    import yaml

    cmap = str(_write(tmp_path, "fees.yaml", yaml.safe_dump(layout)))
    fees = "Payer,Code,Mod,From,Allowed\n31440,99213,,2025-01-01,92.50\n31440,99214,25,2025-01-01,130.00\n"
    first = _ingest(root, _write(tmp_path / "a", "fees_2025.csv", fees), column_map=cmap)
    assert "contract rates loaded: 2" in first.output, first.output
    update = "Payer,Code,Mod,From,Allowed\n31440,99213,,2025-01-01,95.00\n31440,99213,,2025-07-01,97.25\n"
    _ingest(root, _write(tmp_path / "b", "fees_2025b.csv", update), column_map=cmap)
    rates = store.load_table(root, "p", "contracts").sort_values(["procedure_code", "effective_from"])
    assert rates[["procedure_code", "modifiers", "allowed_cents"]].values.tolist() == [
        ["99213", "", 9500], ["99213", "", 9725], ["99214", "25", 13000]]


def test_diagnoses_split_on_colons_and_provider_names_come_from_the_export(tmp_path):
    root = tmp_path / "data"
    charges = ("ClaimID,PatientAccount,PayerID,ServiceDate,BillDate,CPT,Charge,Diagnoses,BillingNPI,RenderingNPI,"
               "RenderingName\nE1,A1,31440,01/05/2025,01/06/2025,99213,80.00,M17.11:M25.561,1234567893,1811111111,"
               "\"SMITH, JANE\"\n")
    result = _ingest(root, _write(tmp_path, "payers.csv", PAYERS), _write(tmp_path, "charges.csv", charges))
    assert result.exit_code == EXIT_OK, result.output
    assert store.load_table(root, "p", "claims")["diagnosis_codes"].iloc[0] == ["M1711", "M25561"]
    providers = store.load_table(root, "p", "providers")
    assert providers[["npi", "name"]].values.tolist() == [["1811111111", "SMITH, JANE"]]


def test_the_summary_shows_each_kind_of_warning_and_rejection_with_an_example(tmp_path):
    """Issue: `warnings: 1` with the reason only in a parquet file, and exit 0 after rejections."""
    root = tmp_path / "data"
    charges = ("ClaimID,PatientAccount,PayerID,ServiceDate,BillDate,CPT,Charge,BillingNPI\n"
               "E1,A1,31440,01/05/2025,01/06/2025,99213,$80.00,1234567893\n"
               "E2,A2,31440,01/05/2025,01/06/2025,99213,abc,1234567893\n")
    result = _ingest(root, _write(tmp_path, "payers.csv", PAYERS), _write(tmp_path, "charges.csv", charges))
    assert result.exit_code == EXIT_ATTENTION
    assert "warning [amount_format] x1: charges.csv, column Charge: amounts written with '$'" in result.output
    assert "rejected [bad_amount] x1: charges.csv line 3, column Charge (claim E2): unparseable amount 'abc'" \
        in result.output


@pytest.mark.slow  # ingest plus a report build; suspense itself stays fast (the tests around it)
def test_the_report_says_how_much_waits_in_suspense(tmp_path):
    """Postings on claims not held yet are counted in the ingest summary and in the report (executive summary
    and metrics.json), not silently left out of the numbers."""
    from rcmkit.metrics import unapplied_postings
    from rcmkit.present.narrative import executive_summary
    from rcmkit.report.record import metrics_document

    root = tmp_path / "data"
    _ingest(root, _write(tmp_path, "payers.csv", PAYERS), _write(tmp_path, "charges_2025-01.csv", _charges(1)))
    rows = ["C01,01/25/2025,INSPAY,120.00,31440,,", "X99,01/26/2025,PATPAY,35.00,,,",
            "X99,01/26/2025,WRITEOFF,5.00,,,", "X98,02/03/2025,PATPAY,7.00,,,"]
    _ingest(root, _write(tmp_path, "payments_2025-01.csv", PAYMENTS_HEADER + "\n".join(rows) + "\n"))
    tables = store.load_tables(root, "p", required=False)
    assert unapplied_postings(tables, "2025-01") == {"count": 2, "payments_cents": 3500, "other_cents": -500}
    assert unapplied_postings(tables, "2025-02")["count"] == 3
    summary = executive_summary(tables, "2025-01", practice="p")
    assert ("2 posting(s) from the practice's PM export ($35 of payments) wait for claims not loaded yet"
            in summary.headline)
    doc = metrics_document("p", "2025-01", {}, suspense=unapplied_postings(tables, "2025-01"))
    assert doc["unapplied_postings"] == {"count": 2, "payments_cents": 3500, "other_cents": -500}


@pytest.mark.slow  # three ingests; waiting postings stay fast: the suspense test above
def test_a_waiting_posting_whose_payer_is_unknown_stays_waiting_until_the_payer_arrives(tmp_path):
    """A posting applied from suspense with a payer nobody has named yet is not dropped: it stays waiting, is
    reported on each run (exit 3), and posts once a payers file names the payer."""
    root = tmp_path / "data"
    _ingest(root, _write(tmp_path / "a", "payments_2025-01.csv", PAYMENTS_HEADER + "C01,01/25/2025,INSPAY,120.00,"
                                                                                   "NEWPAYER,,\n"))
    charges = _ingest(root, _write(tmp_path / "b", "payers.csv", PAYERS),
                      _write(tmp_path / "b", "charges_2025-01.csv", _charges(1)))
    assert charges.exit_code == EXIT_ATTENTION and "rejected [unknown_payer] x1" in charges.output
    assert store.load_table(root, "p", "unapplied_postings")["posting_id"].str.contains("NEWPAYER").all()
    again = _ingest(root, _write(tmp_path / "c", "payers_more.csv", "PayerID,PayerName,PayerClass\n"
                                                                     "NEWPAYER,New Payer,Commercial\n"))
    assert again.exit_code == EXIT_OK, again.output
    assert store.load_table(root, "p", "unapplied_postings").empty
    assert _balances(root)["C01"] == 20000 - 12000
    assert store.load_table(root, "p", "csv_rejections").empty  # what was said about it is taken back


@pytest.mark.slow  # a store of an earlier release: an upgrade path, not the edit loop's
def test_a_store_written_before_postings_had_keys_still_ingests(tmp_path):
    """Postings stored by an older rcmkit have no posting_id: they read as null, get a key from where they came
    from, and nothing is lost or doubled by the next ingest."""
    import json

    from deltalake import DeltaTable, write_deltalake

    root = tmp_path / "data"
    _ingest(root, _write(tmp_path, "payers.csv", PAYERS), _write(tmp_path, "charges_2025-01.csv", _charges(1)),
            _write(tmp_path, "payments_2025-01.csv", PAYMENTS_HEADER + "\n".join(_payment_rows(1)) + "\n"))
    path = store.table_path(root, "p", "postings")
    old = DeltaTable(str(path)).to_pyarrow_table().drop_columns(["posting_id"])
    write_deltalake(str(path), old, mode="overwrite", schema_mode="overwrite", partition_by=["_month"])
    snap = store.manifest(root, "p")  # as an older version wrote it: a snapshot of the table without the column
    snap["snapshot"] += 1
    snap["tables"]["postings"]["version"] = DeltaTable(str(path)).version()
    (root / "p" / "_snapshots" / f"{snap['snapshot']:08d}.json").write_text(json.dumps(snap))
    assert store.load_table(root, "p", "postings")["posting_id"].isna().all()
    result = _ingest(root, _write(tmp_path / "feb", "payments_2025-02.csv", PAYMENTS_HEADER + "C01,02/02/2025,"
                                                                                               "PATPAY,10.00,,,\n"))
    assert result.exit_code == EXIT_OK, result.output
    postings = store.load_table(root, "p", "postings")
    assert len(postings) == 5 and postings["posting_id"].notna().all() and postings["posting_id"].is_unique
    assert _balances(root) == {"C01": 0, "S01": 0}
