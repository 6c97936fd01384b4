"""The explorer without a browser: its pure functions and its widget class, driven by setting control values.

Hand-checked on the dozen claims of tests/small_practice.py (the arithmetic of tests/test_metrics.py), then checked
for agreement with the metric functions on the demo practice. Payers: BCX owns C02, C06, C09, C11; MCR C01, C04,
C07, C10; MCD C03, C08, C12; SELF C05.

March 2026, BlueCross X alone: first adjudications C06 (R04: CO-97 on a line, paid 120: a partial denial) and C09
(R09; its OA-18 duplicate R10 does not count; submitted twice, so not clean): initial denial rate 1/2, dollars
250 / (250 + 90); clean-claim rate 0/2. Charges posted in March: C09 90. Payments: R03 180 + R04 120 + R09 60 =
360. Open A/R at 03-31: C06 50 (payer) + 30 (patient) = 80, none over 120 days. Charges Jan-Mar: C02 300 + C06 250
+ C09 90 = 640, so days in A/R = 80 / (640 / 90) = 11.25.

January to March 2026, every payer: January C01 clean, C11 denied; February C02 denied (and replaced 02-20);
March 2 of 5 denied and 2 of 5 clean (tests/test_metrics.py). Pooled: denials 4 of 8 claims, dollars (500 + 300 +
330) / (700 + 300 + 580); clean 3 of 8. Denials by category: Missing information CO-16 (C11 500 claim level, C02
300) 2 claims $800; Authorization / referral CO-197 (C08) $80; Bundling / NCCI CO-97 (C06) $50.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcmkit.core import store
from rcmkit.explorer import (
    ClaimIndex, Explorer, ExplorerData, ExplorerState, Filters, Period, filter_tables, parse_codes, to_csv_bytes,
    to_xlsx_bytes,
)
from rcmkit.explorer import views
from rcmkit.metrics import MetricOptions, denial_reasons, monthly_kpis
from rcmkit.present.format import kpi_value

from small_practice import tables as small_tables

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore.ipynb"
MARCH = Period("2026-03", 1)
Q1 = Period("2026-03", 3)


@pytest.fixture(scope="module")
def t():
    return small_tables()


@pytest.fixture(scope="module")
def data(t):
    """The small practice's explorer data, every cell shown (min_cell_count 1: the fixture is tiny). Shared by the
    module's explorers: its answers are pure functions of the tables (memoized), whatever a widget asks first."""
    return ExplorerData(t, MetricOptions(min_cell_count=1), practice="small")


@pytest.fixture()
def x(data):
    """A fresh explorer (widgets and state) on January-March 2026."""
    return Explorer(data, end="2026-03", months=3)


def values(kpis):
    return {k: v.value for k, v in kpis.items()}


# --------------------------------------------------------------------------------------------- filters
def test_code_search_terms():
    assert parse_codes(" 99213, 9921*  g04;J3420") == ("99213", "9921", "G04", "J3420")
    assert parse_codes("") == ()
    with pytest.raises(ValueError, match="'99-213'"):
        parse_codes("99-213")


def test_filters_and_periods_are_validated():
    with pytest.raises(ValueError, match="payer class"):
        Filters(payer_classes=("gold",))
    with pytest.raises(ValueError, match="1, 3, 6, 12"):
        Period("2026-03", 2)
    with pytest.raises(ValueError, match="YYYY-MM"):
        Period("March")
    assert Q1.month_list == ["2026-01", "2026-02", "2026-03"]
    assert Q1.label == "Jan 2026 to Mar 2026" and MARCH.label == "Mar 2026"
    assert Filters(payers="BCX", codes="9921").describe({"BCX": "BlueCross X"}) == (
        "payer BlueCross X; procedure codes 9921*")
    assert Filters().is_empty and Filters().describe() == "all claims"


def _naive(t, keep_claims):
    """The filter written the plain way: claims by id, lines through submissions, 835 rows through remittances."""
    keep = set(keep_claims)
    subs = set(t["claims"].loc[t["claims"]["claim_id"].isin(keep), "submission_id"])
    remits = set(t["remittances"].loc[t["remittances"]["claim_id"].isin(keep), "remit_id"])
    out = {}
    for name, key, ids in (("claims", "claim_id", keep), ("remittances", "claim_id", keep),
                           ("postings", "claim_id", keep), ("ledger", "claim_id", keep),
                           ("claim_lines", "submission_id", subs),
                           ("remit_lines", "remit_id", remits), ("adjustments", "remit_id", remits)):
        out[name] = t[name][t[name][key].isin(ids)].reset_index(drop=True)
    return out


@pytest.mark.parametrize("filters, claims", [
    (Filters(payers=("BCX",)), {"C02", "C06", "C09", "C11"}),
    (Filters(payer_classes=("medicaid", "self_pay")), {"C03", "C05", "C08", "C12"}),
    (Filters(codes="99214"), {"C02", "C06"}),  # billed as 99213 (837) but paid as 99214 (835)
    (Filters(codes="3641"), {"C01"}),
    (Filters(codes="99213", payers=("MCR",)), {"C01", "C04", "C07", "C10"}),
    (Filters(service_from="2026-03-01"), {"C04", "C08", "C09", "C12"}),
    (Filters(payers=("BCX",), service_to="2025-12-31"), {"C11"}),
])
def test_filter_tables_cuts_every_table_by_claim(t, filters, claims):
    before = {k: v.copy(deep=True) for k, v in t.items()}
    out = filter_tables(t, filters)
    assert set(out["claims"]["claim_id"]) == claims
    for name, frame in _naive(t, claims).items():
        pd.testing.assert_frame_equal(out[name], frame, check_dtype=True)
    assert out["payers"] is t["payers"] and out["contracts"] is t["contracts"]  # not claim tables: passed through
    for k in t:
        pd.testing.assert_frame_equal(t[k], before[k])  # pure


def test_provider_filter_and_unfiltered_pass_through(t):
    t2 = dict(t, claims=t["claims"].assign(rendering_npi=np.where(t["claims"]["claim_id"] == "C06", "1999999999",
                                                                   "1234567893")))
    index = ClaimIndex(t2)
    assert set(filter_tables(t2, Filters(providers=("1999999999",)), index=index)["claims"]["claim_id"]) == {"C06"}
    same = filter_tables(t2, Filters(), index=index)
    assert all(same[k] is t2[k] for k in t2)
    with pytest.raises(ValueError, match="rebuild"):
        index.take("claims", t["claims"].head(3), index.claim_mask(Filters()))


# --------------------------------------------------------------------------------------------- numbers
def test_one_month_period_is_the_monthly_report(t):
    k, report = views.period_kpis(t, MARCH), monthly_kpis(t, "2026-03")
    assert set(k) == set(views.FLOW_KEYS) | {"ar_total", "ar_over_120_pct", "days_in_ar", "net_collection_rate"}
    for key, kpi in k.items():
        assert kpi == report[key], key


def test_period_pools_the_months(t):
    k = views.period_kpis(t, Q1)
    assert (k["initial_denial_rate"].numerator, k["initial_denial_rate"].denominator) == (4, 8)
    assert k["initial_denial_rate_dollars"].value == pytest.approx(1130 / 1580)
    assert (k["clean_claim_rate"].numerator, k["clean_claim_rate"].denominator) == (3, 8)
    assert (k["charges"].value, k["payments"].value) == (1300.0, 650.0)
    assert k["ar_total"].value == 490.0  # at the period's end
    assert "pooled over the months 2026-01..2026-03" in k["initial_denial_rate"].definition
    assert "2026-01..2026-03 added up" in k["charges"].definition


def test_payer_bcx_in_march(t):
    k = views.period_kpis(filter_tables(t, Filters(payers=("BCX",))), MARCH)
    assert values(k) == pytest.approx({
        "charges": 90.0, "payments": 360.0, "initial_denial_rate": 0.5, "initial_denial_rate_dollars": 250 / 340,
        "clean_claim_rate": 0.0, "ar_total": 80.0, "ar_over_120_pct": 0.0, "days_in_ar": 11.25,
        "net_collection_rate": 360 / 940})


def test_denial_breakdown_and_claims_agree(t):
    lines = views.denial_lines(t, Q1)
    cats = views.denial_breakdown(lines, "category")
    assert cats.values.tolist() == [["Missing information", 2, 2, 80000], ["Authorization / referral", 1, 1, 8000],
                                    ["Bundling / NCCI", 1, 1, 5000]]
    claims = views.denied_claims(t, Q1)
    assert claims["claim_id"].tolist() == ["C11", "C02", "C08", "C06"]  # the KPI's 4 denied claims
    assert claims["status"].tolist() == ["denied", "denied", "denied", "partially denied"]
    assert claims["resubmitted_on"].tolist()[:2] == [pd.NaT, pd.Timestamp("2026-02-20")]
    assert claims["open_cents"].tolist() == [0, 0, 8000, 8000]  # C11 written off; C06 50 payer + 30 patient
    co16 = views.denied_claims(t, Q1, code=("CO", "16"))
    assert co16[["claim_id", "denied_cents"]].values.tolist() == [["C11", 50000], ["C02", 30000]]
    assert "patient_key" not in claims.columns


# --------------------------------------------------------------------------------------------- the widget
def test_widget_starts_on_the_period_and_shows_the_tiles(x):
    assert x.last_error is None
    assert x.state == ExplorerState(period=Q1)
    assert kpi_value(x.kpis["initial_denial_rate"]) == "50.0%"
    assert "50.0%" in x.tiles.value and "71.5%" in x.tiles.value and "37.5%" in x.tiles.value
    assert "Jan 2026 to Mar 2026" in x.header.value and "12 claims" in x.header.value
    # the text shown is dated for people, as in the report (the tiles' hover definitions stay technical)
    shown = re.sub(r"<style>.*?</style>|<[^>]+>", " ", x.header.value + x.tiles.value, flags=re.S)
    assert "At the period's end, Mar 31, 2026" in shown.replace("&#x27;", "'")
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", shown), re.findall(r"\b\d{4}-\d{2}-\d{2}\b", shown)
    assert x.chart.value[:4] == b"\x89PNG"
    bundle = x._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab and Voila show the live widget
    assert "Initial denial rate (claims)" in bundle["text/html"]  # static viewers (and papermill output) the state


def test_setting_the_payer_control_updates_tiles_chart_and_table(x):
    chart = x.chart.value
    x.months.value = 1
    x.payer.value = ("BCX",)
    assert x.last_error is None
    assert values(x.kpis)["initial_denial_rate"] == 0.5
    assert x.kpis["clean_claim_rate"].value == 0.0
    assert (x.kpis["charges"].value, x.kpis["payments"].value, x.kpis["ar_total"].value) == (90.0, 360.0, 80.0)
    assert kpi_value(x.kpis["days_in_ar"]) == "11.2 days"
    assert "payer BlueCross X" in x.header.value and "(4 claims)" in x.header.value
    assert "11.2 days" in x.tiles.value and "$80" in x.tiles.value
    assert x.chart.value != chart
    assert x.view_frame[["category", "claims", "denied_cents"]].values.tolist() == [["Bundling / NCCI", 1, 5000]]
    x.payer.value = ("MCD",)
    assert (x.kpis["initial_denial_rate"].numerator, x.kpis["ar_total"].value) == (1, 230.0)
    x.payer_class.value = ("medicare",)  # MCD and medicare: no claims at all
    assert x.kpis["initial_denial_rate"].value is None and x.kpis["charges"].value == 0
    assert "n/a" in x.tiles.value and x.last_error is None
    x.clear_filters()
    assert x.filters.is_empty and x.kpis["initial_denial_rate"].value == 0.4


def test_drill_down_from_the_denial_rate_to_the_claims(x):
    assert x.level.value == "category"
    assert [v for _, v in x.category.options][1:] == ["Missing information", "Authorization / referral",
                                                      "Bundling / NCCI"]
    x.category.value = "Missing information"  # choosing a category goes to its codes
    assert x.level.value == "code"
    assert x.view_frame[["code", "claims", "denied_cents"]].values.tolist() == [["CO-16", 2, 80000]]
    assert "lacks information" in x.view_frame.loc[0, "description"]
    assert "Category: <b>Missing information</b>" in x.crumb.value
    x.code.value = "CO-16"  # choosing a code goes to its claims
    assert x.level.value == "claims"
    frame = x.view_frame
    cols = ["claim_id", "payer_name", "billed_cents", "paid_cents", "status", "denied_cents"]
    assert frame[cols].values.tolist() == [["C11", "BlueCross X", 50000, 0, "denied", 50000],
                                           ["C02", "BlueCross X", 30000, 0, "denied", 30000]]
    assert frame["denied_cents"].sum() == 80000  # adds up to the breakdown row
    assert "C11" in x.table.value and "2026-02-20" in x.table.value
    x.category.value = "__all__"
    x.code.value = "__all__"
    assert x.view_frame["claim_id"].tolist() == ["C11", "C02", "C08", "C06"]
    assert len(x.view_frame) == x.kpis["initial_denial_rate"].numerator
    x.level.value = "payer"
    by = x.view_frame.set_index("payer_id")
    assert by.loc["BCX", ["claims_adjudicated", "claims_denied"]].tolist() == [4, 3]
    assert by.loc["BCX", ["billed_cents", "denied_billed_cents"]].tolist() == [114000, 105000]
    assert by.loc["MCD", ["claims_adjudicated", "claims_denied"]].tolist() == [2, 1]
    assert by.loc["MCR", ["claims_adjudicated", "claims_denied"]].tolist() == [2, 0]
    assert by["claims_adjudicated"].sum() == 8 and by["claims_denied"].sum() == 4
    x.payer.value = ("MCD",)  # a by-payer row is the tiles with that payer selected
    assert x.kpis["initial_denial_rate"].value == by.loc["MCD", "denial_rate"] == 0.5


def test_other_metrics_and_their_claims(x):
    x.metric.value = "clean_claim_rate"
    assert x.level.value == "payer" and x.category.layout.display == "none"
    x.level.value = "claims"
    nc = x.view_frame.set_index("claim_id")["status"]
    assert nc.to_dict() == {"C11": "denied", "C02": "denied, resubmitted", "C06": "partially denied",
                            "C09": "paid, resubmitted", "C08": "denied"}
    assert len(nc) == x.kpis["clean_claim_rate"].denominator - x.kpis["clean_claim_rate"].numerator
    x.metric.value = "ar"
    aging = x.view_frame.set_index("payer_id")
    assert aging.loc["MCD", ["0_30_cents", "120_plus_cents", "total_cents"]].tolist() == [8000, 15000, 23000]
    assert aging["total_cents"].sum() == 49000 and list(aging.index)[-1] == "patient"
    x.level.value = "claims"
    assert x.view_frame["balance_cents"].sum() == 49000 == x.kpis["ar_total"].value * 100
    assert x.view_frame.iloc[0][["claim_id", "age_days", "bucket"]].tolist() == ["C03", 131, "120+"]
    x.metric.value = "charges_payments"
    x.months.value = 1
    x.level.value = "claims"
    frame = x.view_frame
    assert frame["charges_cents"].sum() == 35000 and frame["payments_cents"].sum() == 53000
    x.level.value = "payer"
    assert x.view_frame.set_index("payer_id").loc["BCX", ["charges_cents", "payments_cents"]].tolist() == [9000, 36000]


def test_reimbursement_heat_map(x):
    x.tabs.selected_index = 1
    assert x.state.tab == "reimbursement" and x.last_error is None
    cells = x.view_frame.set_index(["payer_id", "procedure_code"])
    assert cells.loc[("BCX", "99214"), ["claims", "units", "paid_cents", "paid_per_unit_cents"]].tolist() == [
        2, 3.0, 30000.0, 10000.0]
    assert "$100.00" in x.heatmap.value and "BlueCross X" in x.heatmap.value
    x.top.value = 4
    values_, shown = views.reimbursement_matrix(x.data.reimbursement(x.filters, x.period, "paid_per_unit"), top=4)
    assert list(values_.columns) == ["99213", "99214", "99212", "36415"]  # by units: 3, 3, 2, 1 (ties by code)
    assert list(values_.index) == ["BCX", "MCR", "MCD"]  # by name: BlueCross X, Medicare Part B, State Medicaid
    x.rank_by.value = "paid"
    assert re.findall(r"<th>(\w+)<small>", x.heatmap.value) == ["99214", "99213", "99212", "36415"]
    x.measure.value = "allowed_to_contract"
    cells = x.view_frame.set_index(["payer_id", "procedure_code"])
    # R03 and R04 allowed 180 + 150 against 180 + 180 (the 03-01 rate); R07 allowed 80 against 85.
    assert cells.loc[("BCX", "99214"), "allowed_to_contract"] == pytest.approx(330 / 360)
    assert cells.loc[("MCR", "99212"), "allowed_to_contract"] == pytest.approx(80 / 85)
    assert "91.7%" in x.heatmap.value and "below the contract" in x.heatmap.value


def test_small_cells_are_suppressed_as_in_the_report(t):
    x = Explorer(ExplorerData(t), end="2026-03", months=3)  # default min_cell_count 5: every fixture cell is small
    x.tabs.selected_index = 1
    assert x.view_frame["suppressed"].all() and x.view_frame["paid_per_unit_cents"].isna().all()
    assert "fewer than 5 claims" in x.heatmap.value


def test_export_the_current_view(x, tmp_path):
    x.export_dir = tmp_path
    x.level.value = "claims"
    path = x.export("csv")
    assert path.name == "small_initial-denial-rate-claims_2026-01_2026-03.csv"
    assert path.stat().st_mode & 0o777 == store.file_mode()  # practice data: owner only, as the store writes
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    text = path.read_text()
    assert text.splitlines()[0] == ("claim_id,payer_id,payer_name,service_from,submitted_on,adjudicated_on,billed,paid,"
                                    "status,reasons,denied,resubmitted_on,open")
    assert text.splitlines()[1] == ("C11,BCX,BlueCross X,2025-12-15,2025-12-16,2026-01-15,500.00,0.00,denied,"
                                    "CO-16 Missing information,500.00,,0.00")
    href = re.search(r'href="data:text/csv;base64,([^"]+)"', x.download.value).group(1)
    assert base64.b64decode(href) == path.read_bytes()  # the page's download link is the same file
    xlsx = x.export("xlsx")
    with zipfile.ZipFile(xlsx) as zf:
        assert zf.testzip() is None
        sheet = ET.fromstring(zf.read("xl/worksheets/sheet1.xml"))
        ET.fromstring(zf.read("xl/workbook.xml"))
        ET.fromstring(zf.read("xl/styles.xml"))
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    rows = sheet.findall(".//m:row", ns)
    assert len(rows) == 5  # header and the 4 claims
    cells = {c.get("r"): c for c in rows[1].findall("m:c", ns)}
    assert cells["A2"].find(".//m:t", ns).text == "C11"
    assert cells["G2"].find("m:v", ns).text == "500.0" and cells["G2"].get("s") == "2"  # dollars, #,##0.00
    assert cells["D2"].find("m:v", ns).text == str((pd.Timestamp("2025-12-15") - pd.Timestamp("1899-12-30")).days)
    assert "L2" not in cells  # no resubmission: an empty cell
    openpyxl = pytest.importorskip("openpyxl")  # the test extra has it; rcmkit writes workbooks without it
    ws = openpyxl.load_workbook(xlsx).active
    assert [c.value for c in ws[1]][:3] == ["claim_id", "payer_id", "payer_name"]
    row = [c.value for c in ws[2]]
    assert row[0] == "C11" and row[3] == pd.Timestamp("2025-12-15").to_pydatetime() and row[6] == 500.0
    assert ws["G2"].number_format == "#,##0.00" and ws["D2"].number_format == "yyyy-mm-dd"
    assert ws.max_row == 5 and ws.freeze_panes == "A2"


def test_exports_are_exact_and_refuse_patient_identifiers():
    frame = pd.DataFrame({"claim_id": ["A", "B"], "paid_cents": [123456789, -5], "when": pd.to_datetime(
        ["2026-01-02", None])})
    assert to_csv_bytes(frame).decode() == "claim_id,paid,when\nA,1234567.89,2026-01-02\nB,-0.05,\n"
    assert to_xlsx_bytes(frame) == to_xlsx_bytes(frame)  # deterministic bytes
    with pytest.raises(ValueError, match="patient identifier"):
        to_csv_bytes(frame.assign(patient_key="P1"))
    with pytest.raises(ValueError, match="patient identifier"):
        to_xlsx_bytes(frame.assign(patient_key="P1"))


def _secret(t):
    return dict(t, claims=t["claims"].assign(patient_key=[f"SECRET-PATIENT-{i}" for i in range(len(t["claims"]))]))


def test_no_view_shows_a_patient_identifier(t):
    secret = _secret(t)
    data = ExplorerData(secret, MetricOptions(min_cell_count=1))
    assert "patient_key" not in data.tables["claims"].columns
    x = Explorer(data, end="2026-03", months=3)
    seen = []
    for metric, levels in (("initial_denial_rate", ["category", "code", "payer", "claims"]),
                           ("clean_claim_rate", ["payer", "claims"]), ("ar", ["payer", "claims"]),
                           ("charges_payments", ["payer", "claims"])):
        x.metric.value = metric
        for level in levels:
            x.level.value = level
            seen.append((x.view_frame, x.header.value + x.tiles.value + x.crumb.value + x.table.value))
    x.tabs.selected_index = 1
    seen.append((x.view_frame, x.heatmap.value))
    for frame, page in seen:
        assert "patient_key" not in frame.columns
        assert "SECRET-PATIENT" not in page and "SECRET-PATIENT" not in to_csv_bytes(frame).decode()
    assert x.last_error is None



@pytest.mark.slow  # about 4 s: the forecast, its chart, the scrub and the risk model of a fresh practice
def test_the_forecast_and_checks_tabs_show_no_patient_identifier(t):
    """The Cash forecast and Claim checks tabs too (the checks' duplicate rule compares patient numbers, never keys;
    the seeded March batch has a duplicate to find, C13 of C12)."""
    data = ExplorerData(_seeded(_secret(t)), MetricOptions(min_cell_count=1))
    x = Explorer(data, end="2026-03", months=1)
    x.tabs.selected_index = CASH_TAB
    seen = [(x.view_frame, x.cash_table.value + x.static_html())]
    x.tabs.selected_index = CHECKS_TAB
    view = data.checks(x.filters, x.period)
    assert view.risk is not None and "duplicate" in set(view.findings["rule"])
    seen.append((x.view_frame, x.checks_summary.value + x.checks_table.value + x.risk_table.value
                 + x.history_table.value + str(x.pair.options) + x.static_html()))
    seen += [(view.risk, ""), (view.pairs, "")]
    assert not data.scrub_history()["claims"]["patient_key"].str.contains("SECRET").any()  # numbers, not keys
    for frame, page in seen:
        assert "patient_key" not in frame.columns
        assert "SECRET-PATIENT" not in page and "SECRET-PATIENT" not in to_csv_bytes(frame).decode()
    assert x.last_error is None


def _row_of(x, control):
    """The controls' row (an HBox) holding ``control``."""
    rows = [box for box in x.widget.children[0].children if control in box.children]
    assert len(rows) == 1
    return rows[0]


def test_a_bad_code_search_clears_the_results_and_says_why_beside_the_box(x):
    x.level.value = "claims"
    x.export("csv")
    assert x.view_frame["claim_id"].tolist() and "rcmx-download" in x.download.value
    x.codes.value = "99-213"
    assert "'99-213' is not a code" in x.last_error
    assert "&#x27;99-213&#x27; is not a code" in x.message.value and "rcmx-error" in x.message.value
    assert "(letters and digits). Nothing is shown until it is corrected." in x.message.value
    assert x.message in _row_of(x, x.codes).children  # beside the search box, not at the page bottom
    assert x.status.value == ""
    # Nothing of the last good view stays: no tiles, heading, chart, table or download link of other claims.
    assert x.kpis == {} and x.view_frame.empty
    assert [x.header.value, x.tiles.value, x.crumb.value, x.table.value, x.download.value] == [""] * 5
    assert x.chart.value == b"" and x.chart.layout.display == "none"
    assert x.export_csv.disabled and x.export_xlsx.disabled
    with pytest.raises(ValueError, match="nothing to export"):
        x.export("csv")
    assert x.static_html() == ""
    x.codes.value = "99214"
    assert x.last_error is None and x.message.value == "" and x.header.value.count("(2 claims)") == 1
    assert x.chart.value[:4] == b"\x89PNG" and x.chart.layout.display is None and not x.export_csv.disabled
    assert "rcmx-download" in x.download.value  # the link comes back, for the corrected view


def _link(x):
    """The page's download link: (file name, the file's text)."""
    m = re.search(r'download="([^"]+)" href="data:text/csv;base64,([^"]+)"', x.download.value)
    return m.group(1), base64.b64decode(m.group(2)).decode()


def test_the_download_link_follows_the_view(x, tmp_path):
    x.export_dir = tmp_path
    x.level.value = "claims"
    saved = x.export("csv")
    name, text = _link(x)
    assert name == saved.name == "small_initial-denial-rate-claims_2026-01_2026-03.csv"
    assert [r.split(",")[0] for r in text.splitlines()[1:]] == ["C11", "C02", "C08", "C06"]
    assert "Also saved" in x.download.value
    x.payer.value = ("BCX",)  # BlueCross X: C11, C02 and C06 of the four
    name, text = _link(x)
    assert name == "small_initial-denial-rate-claims_2026-01_2026-03.csv"
    assert [r.split(",")[0] for r in text.splitlines()[1:]] == ["C11", "C02", "C06"]
    assert text.encode() == to_csv_bytes(x.view_frame) and "Also saved" not in x.download.value
    x.months.value = 1  # March: C06 alone
    name, text = _link(x)
    assert name == "small_initial-denial-rate-claims_2026-03_2026-03.csv"
    assert [r.split(",")[0] for r in text.splitlines()[1:]] == ["C06"]
    x.tabs.selected_index = 1
    name, text = _link(x)
    assert name == "small_reimbursement-paid-per-unit_2026-03_2026-03.csv"
    assert text.encode() == to_csv_bytes(x.view_frame) and text.startswith("payer_id,payer_name,procedure_code")
    assert sorted(p.name for p in tmp_path.iterdir()) == [saved.name]  # following the view writes no file


def test_providers_are_shown_by_name(t):
    names = pd.DataFrame({"npi": ["1234567893"], "name": ["SMITH, JANE"]})
    x = Explorer(ExplorerData(dict(t, providers=names), MetricOptions(min_cell_count=1), practice="small"),
                 end="2026-03", months=3)
    assert x.provider.description == "Provider"
    labels = dict((v, k) for k, v in x.provider.options)
    assert labels["1234567893"].startswith("SMITH, JANE (1234567893)")


def test_state_is_validated_and_hold_refreshes_once(x, monkeypatch):
    with pytest.raises(ValueError, match="not a drill-down level"):
        ExplorerState(period=Q1, metric="ar", level="code")
    calls = []
    monkeypatch.setattr(x, "_refresh", lambda: calls.append(1))
    with x.hold():
        x.payer.value = ("BCX",)
        x.months.value = 1
        x.end.value = "2026-02"
    assert calls == [1]
    with pytest.raises(ValueError, match="outside the data"):
        Explorer(x.data, end="2030-01")



# --------------------------------------------------------------------------------------------- cash forecast tab
CASH_TAB, CHECKS_TAB = 2, 3


def _by_payer(fc) -> pd.DataFrame:
    """rcmkit.forecast's own 30/60/90-day open A/R forecast by payer, one row per payer (the tab's columns)."""
    rows = fc.summary(by="payer")
    wide = {}
    for _, r in rows.iterrows():
        row = wide.setdefault(r["payer_id"], {"payer_id": r["payer_id"]})
        for m in ("expected", "low", "high"):
            row[f"{m}_{r['end_day']}d_cents"] = r[f"{m}_cents"]
    return pd.DataFrame(list(wide.values())).set_index("payer_id").sort_index()


def test_cash_forecast_tab_is_the_forecast_by_payer(t, x):
    """The tab's table is rcmkit.forecast's forecast at the end of the period's month, computed here on the raw
    tables: each payer's row, and the practice's total with its own range; the chart's weeks and the check are the
    report's (month_forecast)."""
    from rcmkit.forecast import month_forecast

    mf = month_forecast(t, "2026-03")
    x.tabs.selected_index = CASH_TAB
    assert x.state.tab == "forecast" and x.last_error is None and x.view_name == "cash-forecast"
    frame = x.view_frame
    assert frame["payer_name"].iloc[-1] == "Total" and frame["payer_id"].iloc[-1] == ""
    payers = frame.iloc[:-1].set_index("payer_id").sort_index()
    assert sorted(payers.index) == ["BCX", "MCD", "MCR", "patient"]  # who owes an open balance on 03-31
    want = _by_payer(mf.forecast)
    pd.testing.assert_frame_equal(payers[want.columns], want, check_exact=False, rtol=1e-12)
    # most expected in 90 days first
    assert list(frame["expected_90d_cents"].iloc[:-1]) == sorted(frame["expected_90d_cents"].iloc[:-1], reverse=True)
    total = frame.iloc[-1]
    for _, r in mf.forecast.summary().iterrows():  # the practice's total, its range computed on the total
        h = r["end_day"]
        assert total[f"expected_{h}d_cents"] == pytest.approx(r["expected_cents"])
        assert total[f"low_{h}d_cents"] == pytest.approx(r["low_cents"])
        assert total[f"high_{h}d_cents"] == pytest.approx(r["high_cents"])
    # last month's forecast against what came in, March 2026 (hand-computed in cents x 100, the fixture's unit):
    # on claims billed by 02-28: R03 180 + R04 120 (BCX) + R05 64 - R06 64 + R07 80 (MCR) + C05's patient 40 = 420;
    # all cash adds R09 60 (C09 billed 03-11), R12 45 and C12's patient 5 = 530.
    check = x.data.cash(x.filters, "2026-03").check.set_index("source")
    assert check.loc["open A/R", "actual_cents"] == 42000 and check.loc["all cash", "actual_cents"] == 53000
    pd.testing.assert_frame_equal(check.reset_index(), mf.check)
    assert "Cash expected from the balances open on Mar 31, 2026" in x.cash_table.value
    assert x.cash_chart.value[:4] == b"\x89PNG" and x.cash_chart.layout.display is None
    assert "Mar 31, 2026" in x.static_html()


@pytest.mark.slow  # two more forecasts (~1.5 s); the tab's numbers stay fast: test_cash_forecast_tab_is_the_forecast_by_payer
def test_cash_forecast_follows_the_payer_filters(t, x):
    """A payer (class) filter keeps the forecast's rows of those payers: the total is their sum, patients drop out,
    and last month's check compares their forecast with what they paid."""
    from rcmkit.forecast import forecast, month_forecast

    mf = month_forecast(t, "2026-03")
    x.tabs.selected_index = CASH_TAB
    x.payer.value = ("BCX",)
    frame = x.view_frame
    assert list(frame["payer_name"]) == ["BlueCross X", "Total"]
    want = _by_payer(mf.forecast).loc["BCX"]
    for c in want.index:
        assert frame[c].iloc[0] == pytest.approx(want[c]) and frame[c].iloc[1] == pytest.approx(want[c])
    view = x.data.cash(x.filters, "2026-03")
    # BCX paid in March: R03 180 + R04 120 on claims billed by 02-28 (C02, C06); all cash adds R09 60 (C09, 03-11)
    check = view.check.set_index("source")
    assert check.loc["open A/R", "actual_cents"] == 30000 and check.loc["all cash", "actual_cents"] == 36000
    prior = forecast(t, "2026-02-28").detail
    prior = prior[(prior["kind"] == "month") & (prior["payer_id"] == "BCX")]
    assert check.loc["all cash", "forecast_cents"] == pytest.approx(prior["expected_cents"].sum())
    assert check.loc["open A/R", "forecast_cents"] == pytest.approx(
        prior.loc[prior["source"] == "open A/R", "expected_cents"].sum())
    weeks = mf.forecast.detail.query("kind == 'week' and source == 'open A/R' and payer_id == 'BCX'")
    assert view.weeks["expected_cents"].sum() == pytest.approx(weeks["expected_cents"].sum())
    assert "balances patients owe are not a payer" in x.cash_table.value
    with x.hold():
        x.payer.value = ()
        x.payer_class.value = ("medicare",)
    assert list(x.view_frame["payer_id"]) == ["MCR", ""]
    # Medicare paid R05 64 - R06 64 + R07 80 = 80 in March, all on C07 (billed 02-16)
    check = x.data.cash(x.filters, "2026-03").check.set_index("source")
    assert check.loc["open A/R", "actual_cents"] == 8000 and check.loc["all cash", "actual_cents"] == 8000
    x.provider.value = (x.provider.options[0][1],)
    assert "the provider and procedure code filters do not change it" in x.cash_table.value


@pytest.mark.slow  # three forecasts (~2 s); the tab's numbers stay fast: test_cash_forecast_tab_is_the_forecast_by_payer
def test_the_forecast_is_computed_only_when_its_tab_is_shown(t, monkeypatch):
    """Other tabs never run the forecast; the forecast runs once per month (a payer filter only cuts it); on the
    forecast tab a filter change does not recompute the drill-down or the heat map."""
    import rcmkit.forecast

    data = ExplorerData(t, MetricOptions(min_cell_count=1))
    runs = []
    real = rcmkit.forecast.month_forecast
    monkeypatch.setattr(rcmkit.forecast, "month_forecast", lambda *a, **k: runs.append(a[1]) or real(*a, **k))
    x = Explorer(data, end="2026-03", months=3)
    x.payer.value = ("BCX",)
    x.tabs.selected_index = 1
    assert runs == [] and data._book is None  # not even the forecast's book is built
    drills, heats = [], []
    monkeypatch.setattr(data, "drill_table", lambda s, real=data.drill_table: drills.append(s) or real(s))
    monkeypatch.setattr(data, "reimbursement", lambda *a, real=data.reimbursement: heats.append(a) or real(*a))
    x.tabs.selected_index = CASH_TAB
    assert runs == ["2026-03"]
    x.payer.value = ()
    x.months.value = 1  # the same end month: the same forecast
    assert runs == ["2026-03"] and drills == [] and heats == []
    x.end.value = "2026-02"
    assert runs == ["2026-03", "2026-02"]
    x.end.value = "2026-03"  # memoized per month
    assert runs == ["2026-03", "2026-02"] and drills == [] and heats == []
    x.tabs.selected_index = 0
    assert len(drills) == 1 and runs == ["2026-03", "2026-02"]


def test_export_follows_the_cash_forecast_tab(x, tmp_path):
    x.export_dir = tmp_path
    x.tabs.selected_index = CASH_TAB
    path = x.export("csv")
    assert path.name == "small_cash-forecast_2026-01_2026-03.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == ("payer_id,payer_name,payer_class,responsibility,expected_30d,low_30d,high_30d,expected_60d,"
                        "low_60d,high_60d,expected_90d,low_90d,high_90d")
    assert len(lines) == 6 and lines[-1].startswith(",Total,")  # 4 payers (patients included) and the total
    x.payer.value = ("BCX",)  # the download link follows the view
    href = re.search(r'href="data:text/csv;base64,([^"]+)"', x.download.value).group(1)
    assert base64.b64decode(href).decode().splitlines()[1].startswith("BCX,BlueCross X,commercial,insurance,")


# --------------------------------------------------------------------------------------------- claim checks tab
def _seeded(t):
    """The small practice with two bad claims first sent in March 2026: C08's diagnosis is the ICD-10-CM header
    code E11 (not billable), C12's rendering NPI fails its check digit; and C13, first sent 03-20, a second bill of
    C12's line (same patient P12, service date 03-15, 99213, $60.00): a duplicate. C14 is the same line for
    another patient (P14): not a duplicate."""
    from rcmkit.core import schema
    from rcmkit.core.ledger import build_ledger

    c = t["claims"].copy()
    c["diagnosis_codes"] = [["E11"] if cid == "C08" else d for cid, d in zip(c["claim_id"], c["diagnosis_codes"])]
    c.loc[c["claim_id"] == "C12", "rendering_npi"] = "1234567890"
    c12 = c[c["claim_id"] == "C12"]
    c13 = c12.assign(claim_id="C13", submission_id="C13-1", submitted_on=pd.Timestamp("2026-03-20"),
                     rendering_npi="1234567893")
    c14 = c13.assign(claim_id="C14", submission_id="C14-1", patient_key="P14")
    c = schema.conform("claims", pd.concat([c, c13, c14], ignore_index=True))
    lines = t["claim_lines"]
    l12 = lines[lines["submission_id"] == "C12-1"]
    lines = schema.conform("claim_lines", pd.concat([lines, l12.assign(submission_id="C13-1"),
                                                     l12.assign(submission_id="C14-1")], ignore_index=True))
    out = dict(t, claims=c, claim_lines=lines)
    out["ledger"] = build_ledger(out)
    return out


@pytest.fixture(scope="module")
def seeded(t):
    return _seeded(t)


@pytest.fixture(scope="module")
def seeded_data(seeded):
    return ExplorerData(seeded, MetricOptions(min_cell_count=1), practice="small")


def test_claim_checks_find_the_seeded_bad_claims(seeded_data, tmp_path):
    """March 2026's batch: the claims first sent in March, C04 (03-27, $120), C08 (03-04, $80), C09 (03-11, $90),
    C12 (03-16, $60), C13 and C14 (03-20, $60 each) = 6 claims, $470. The checks find C08's header code, C12's
    NPI and C13's duplicate of C12 (same patient), nothing on C14 (another patient); errors sorted by dollars."""
    x = Explorer(seeded_data, end="2026-03", months=1, export_dir=tmp_path)
    x.tabs.selected_index = CHECKS_TAB
    assert x.state.tab == "checks" and x.last_error is None and x.view_name == "claim-checks"
    view = seeded_data.checks(x.filters, x.period)
    assert (view.claims, view.charge_cents) == (6, 47000)
    f = x.view_frame
    assert list(zip(f["severity"], f["rule"], f["claim_id"], f["at_stake_cents"])) == [
        ("error", "dx_not_billable", "C08", 8000),  # claim-level: the claim's $80
        ("error", "npi_invalid", "C12", 6000),  # claim-level: $60; ties by claim
        ("error", "duplicate", "C13", 6000),  # line 1: the line's $60
    ]
    dup = f[f["rule"] == "duplicate"].iloc[0]
    assert dup["line_number"] == 1 and dup["procedure_code"] == "99213"
    assert "was already sent in this batch on claim C12 for the same patient" in dup["evidence"]
    assert "C14" not in set(f["claim_id"])
    assert f.loc[f["rule"] == "dx_not_billable", "check"].iloc[0] == "Diagnosis is a header code, not billable"
    assert "E11" in f.loc[f["rule"] == "dx_not_billable", "evidence"].iloc[0]
    assert "6 claims</b> first sent Mar 2026 ($470 billed)" in x.checks_summary.value
    assert "NPI fails its check digit" in x.checks_table.value
    # the risk: a model trained on the claims answered before 03-01 (C01 paid 01-20, C11 denied 01-15, C02's
    # R02 02-15), one score per claim of the batch, with its findings counted
    risk = view.risk.set_index("claim_id")
    assert sorted(risk.index) == ["C04", "C08", "C09", "C12", "C13", "C14"]
    assert risk["risk"].between(0, 1).all() and list(view.risk["risk"]) == sorted(view.risk["risk"], reverse=True)
    assert risk.loc["C08", "errors"] == 1 and risk.loc["C04", "errors"] == 0
    assert "Trained on 3 claims the payers answered before Mar 1, 2026" in x.risk_table.value
    # the scrubber's own risk_scores (trained and scored as of 03-01) gives the same scores
    from rcmkit.explorer.checks import batch_submissions
    from rcmkit.scrub.batch import risk_scores
    from rcmkit.scrub.rules import run_rules

    history = seeded_data.scrub_history()
    batch = batch_submissions(history["claims"], pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-31"))
    lines = history["claim_lines"][history["claim_lines"]["submission_id"].isin(batch["submission_id"])]
    own = risk_scores(batch, lines, history, seeded_data.line_outcomes(), pd.Timestamp("2026-03-01").date(),
                      batch_findings=run_rules(batch, lines, seeded_data._scrub_context(batch, view.start)))
    assert risk["risk"].to_dict() == pytest.approx(own.set_index("claim_id")["risk"].to_dict())
    path = x.export("csv")  # the export follows the tab: the findings
    assert path.name == "small_claim-checks_2026-03_2026-03.csv"
    assert path.read_text().splitlines()[0].startswith("severity,check,claim_id,line_number,payer_id,payer_name,")
    x.payer.value = ("BCX",)  # the filters choose the batch: BlueCross X sent C09 alone in March
    assert seeded_data.checks(x.filters, x.period).claims == 1 and x.view_frame.empty
    assert "No check found anything in this batch" in x.checks_table.value


def test_claim_checks_drill_down_to_the_payer_code_history(seeded_data):
    """BlueCross X x 99213 before 03-01 (every fixture claim line bills 99213): C11 (R11 01-15, claim-level
    CO-16: denied) and C02 (R02 02-15: its CO-16 is on remit line 99214, the code the 835 reports, so the billed
    99213 line does not match it: not denied) = 2 lines, 1 denied, 50%, CO-16 (1); Jan 1 of 1, Feb 0 of 1."""
    x = Explorer(seeded_data, end="2026-03", months=1)
    x.tabs.selected_index = CHECKS_TAB
    values = [v for _, v in x.pair.options]
    assert values[0] in ("MCD\t99213", "MCR\t99213")  # pairs with findings first
    assert "BCX\t99213" in values
    x.pair.value = "BCX\t99213"
    assert x.state.pair == ("BCX", "99213")
    summary, by_month = seeded_data.pair_history("BCX", "99213", pd.Timestamp("2026-03-01"))
    assert summary.iloc[0][["modifiers", "lines", "denied", "denial_rate", "top_carcs"]].tolist() == [
        "any", 2, 1, 0.5, "CO-16 (1)"]
    months = by_month.set_index("month")
    assert months.loc["2026-01", ["lines", "denied"]].tolist() == [1, 1]
    assert months.loc["2026-02", ["lines", "denied"]].tolist() == [1, 0]
    assert months["lines"].sum() == 2 and list(months.index)[-1] == "2026-02"  # nothing from the batch's month on
    page = x.history_table.value
    assert "BlueCross X, 99213: first answers from the payer before Mar 1, 2026" in page
    assert "50.0%" in page and "CO-16 (1)" in page
    x.months.value = 3  # the pair stays chosen while it is in the batch
    assert x.state.pair == ("BCX", "99213")


@pytest.mark.slow  # the fast tier's leakage check of the risk model: tests/test_scrub_risk.py (its time split)
def test_claim_checks_use_nothing_from_after_the_batch(seeded, seeded_data):
    """No leakage: with every 835 dated on or after the batch's first day (03-01) removed, March's findings and
    risk scores are the same."""
    from rcmkit.core.ledger import build_ledger

    keep = seeded["remittances"]["paid_on"] < pd.Timestamp("2026-03-01")
    ids = set(seeded["remittances"].loc[keep, "remit_id"])
    cut = dict(seeded, remittances=seeded["remittances"][keep],
               remit_lines=seeded["remit_lines"][seeded["remit_lines"]["remit_id"].isin(ids)],
               adjustments=seeded["adjustments"][seeded["adjustments"]["remit_id"].isin(ids)],
               postings=seeded["postings"][seeded["postings"]["posted_on"] < pd.Timestamp("2026-03-01")])
    cut["ledger"] = build_ledger(cut)
    before = ExplorerData(cut, MetricOptions(min_cell_count=1))
    a = seeded_data.checks(Filters(), MARCH)
    b = before.checks(Filters(), MARCH)
    pd.testing.assert_frame_equal(a.findings, b.findings)
    pd.testing.assert_frame_equal(a.risk, b.risk)


def test_claim_checks_say_when_there_is_too_little_history(seeded_data):
    """January to March: nothing was answered before 01-01 (C11's 835 came 01-15), so no score, said plainly."""
    view = seeded_data.checks(Filters(), Q1)
    assert view.claims == 12 and view.risk is None  # C01, C02, C04-C10, C12-C14 (C10's first bill counts)
    assert view.risk_note == "No denial-risk scores: no claim had an answer from a payer before Jan 1, 2026."
    x = Explorer(seeded_data, end="2026-03", months=3)
    x.tabs.selected_index = CHECKS_TAB
    assert view.risk_note in x.risk_table.value and x.last_error is None

# --------------------------------------------------------------------------------------------- the demo practice
@pytest.fixture(scope="module")
def demo(demo_root):
    from rcmkit.core import store
    from rcmkit.explorer.data import TABLES

    return store.load_tables(demo_root, "demo", TABLES, required=False)


@pytest.fixture(scope="module")
def demo_data(demo):
    return ExplorerData(demo)


def test_on_the_demo_every_number_is_the_metric_functions(demo, demo_data):
    """The explorer's caches, slices and pools give exactly what the metric functions give on filtered tables."""
    data = demo_data
    months = data.months[-3:]
    for m in months:
        k = data.kpis(Filters(), Period(m, 1))
        report = monthly_kpis(demo, m)
        assert all(k[key] == report[key] for key in k), m
        reasons = denial_reasons(demo, m, top=None)
        mine = views.denial_breakdown(data.denial_lines(Filters(), Period(m, 1)), "code")
        cols = ["category", "group_code", "reason_code", "claims", "lines", "denied_cents"]
        pd.testing.assert_frame_equal(mine[cols], reasons[cols])
    period = Period(months[-1], 3)
    by_payer = data.by_payer(Filters(), period, "initial_denial_rate").set_index("payer_id")
    for pid in by_payer.index[:3]:
        one = Filters(payers=(pid,))
        tiles = data.kpis(one, period)
        plain = views.period_kpis(filter_tables(demo, one), period)
        assert tiles == plain
        assert by_payer.loc[pid, "claims_denied"] == tiles["initial_denial_rate"].numerator
        denied = data.drill_table(ExplorerState(period=period, filters=one, level="claims"))
        assert len(denied) == tiles["initial_denial_rate"].numerator
    clean = data.kpis(Filters(), period)["clean_claim_rate"]
    not_clean = data.drill_table(ExplorerState(period=period, metric="clean_claim_rate", level="claims"))
    assert len(not_clean) == clean.denominator - clean.numerator


def test_demo_control_changes_are_fast(demo_data):
    """A loose guard on the latency (benchmarks/explorer_latency.py measures it properly): every change well under a
    second on this small demo, even on a busy 2-core machine."""
    x = Explorer(demo_data, months=3)
    times = []
    for pid in [v for _, v in x.payer.options][:3]:
        x.payer.value = (pid,)
        times.append(x.last_refresh_seconds)
    x.months.value = 12
    times.append(x.last_refresh_seconds)
    assert x.last_error is None and max(times) < 2.0, times


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_runs_with_papermill(demo_root, tmp_path):
    """notebooks/explore.ipynb runs headless: the widget and a static copy of its initial state are in the output."""
    import nbformat
    import papermill

    from rcmkit.report.run import resolve_kernel

    out = tmp_path / "explore.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out),
        parameters={"data_root": str(demo_root), "practice": "demo", "months": 3, "export_dir": None},
        kernel_name=resolve_kernel(log=lambda _m: None), progress_bar=False, cwd=str(tmp_path),
        extra_arguments=["--IPKernelApp.log_level=ERROR"])
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    shown = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(shown) == 1
    page = shown[0]["data"]["text/html"]
    assert "Initial denial rate (claims)" in page and "Denials by category" in page
    assert nb.metadata.get("widgets"), "the widget state is saved with the notebook"
    assert "patient_key" not in page


def test_the_rate_charts_draw_the_benchmark_target(x):
    from rcmkit.core.refdata import benchmarks
    from rcmkit.explorer import render

    targets = benchmarks()
    for metric in ("initial_denial_rate", "clean_claim_rate"):
        good = float(targets.set_index("kpi").loc[metric, "good"])
        trend = x.data.trend(x.filters, x.period, metric)
        drawn = render.chart_figure(metric, trend, x.kpis, x.period, None, x.colors, targets)
        flat = [tuple(line.get_ydata()) for line in drawn.axes[0].lines if line.get_linestyle() == "--"]
        assert (good, good) in flat, (metric, good, flat)
        bare = render.chart_figure(metric, trend, x.kpis, x.period, None, x.colors, targets.iloc[0:0])
        assert (good, good) not in [tuple(line.get_ydata()) for line in bare.axes[0].lines]
