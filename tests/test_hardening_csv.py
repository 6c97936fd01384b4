"""Issue #13: CSV exports never carry a formula a spreadsheet would run (OWASP "CSV Injection")."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from rcmkit.present.csvsafe import neutralise, neutralise_frame
from rcmkit.explorer import ExplorerData, Explorer, export_frame, to_csv_bytes
from rcmkit.metrics import MetricOptions

from small_practice import tables as small_tables

HOSTILE = ["=1+1", "@SUM(1)", "=cmd|' /C calc'!A0", '=HYPERLINK("http://x")', "+1", "-2+3", "\t=1", "\r=1"]


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("payload", HOSTILE)
def test_neutralise_prefixes_formula_text(payload):
    assert neutralise(payload) == "'" + payload
    assert neutralise("Acme " + payload) == "Acme " + payload  # not at the start: plain text
    assert neutralise(-12.5) == -12.5 and neutralise(-3) == -3 and neutralise(None) is None


def test_export_of_hostile_payer_names_and_claim_ids():
    frame = pd.DataFrame({
        "claim_id": ["=1+1", "@SUM(1)", "C3", "-7"],
        "payer_name": ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x")', "Blue Cross", "+SELF"],
        "paid_cents": [-1250, 0, 9999, -5],          # money: exact dollars, negatives stay numbers
        "units": [-1.0, 2.0, 1.0, 0.5],              # a real number column
        "claims": pd.array([-2, 3, 4, 5], "Int64"),
        "when": pd.to_datetime(["2026-01-02", None, "2026-03-31", "2026-02-28"]),
    })
    before = frame.copy()
    rows = _rows(to_csv_bytes(frame))
    assert rows == [
        ["claim_id", "payer_name", "paid", "units", "claims", "when"],
        ["'=1+1", "'=cmd|' /C calc'!A0", "-12.50", "-1.0", "-2", "2026-01-02"],
        ["'@SUM(1)", "'=HYPERLINK(\"http://x\")", "0.00", "2.0", "3", ""],
        ["C3", "Blue Cross", "99.99", "1.0", "4", "2026-03-31"],
        ["'-7", "'+SELF", "-0.05", "0.5", "5", "2026-02-28"],
    ]
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is not modified


def test_hostile_column_names_and_categories():
    frame = pd.DataFrame({"=1+1": pd.Categorical(["@SUM(1)", "ok"]), "n": [1, -1]})
    assert _rows(to_csv_bytes(frame)) == [["'=1+1", "n"], ["'@SUM(1)", "1"], ["ok", "-1"]]
    out = neutralise_frame(frame)
    assert out["n"].tolist() == [1, -1] and list(out.columns) == ["'=1+1", "n"]


def test_explorer_view_export_with_a_hostile_payer_name(tmp_path):
    t = small_tables()
    t["payers"] = t["payers"].assign(payer_name=t["payers"]["payer_name"].where(
        t["payers"]["payer_id"] != "BCX", "=HYPERLINK(\"http://x\",\"BCX\")"))
    x = Explorer(ExplorerData(t, MetricOptions(min_cell_count=1)), end="2026-03", months=3)
    x.metric.value = "ar"
    x.level.value = "payer"
    frame = x.view_frame
    path = export_frame(frame, tmp_path / "view.csv")
    text = path.read_text("utf-8")
    assert "=HYPERLINK" in text
    for row in _rows(path.read_bytes()):
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            if cell.startswith("-"):
                float(cell)  # only real numbers may start with '-'
