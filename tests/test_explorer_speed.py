"""The explorer's shortcuts for speed give the numbers of the plain computation (issue #15).

ExplorerData keeps each month's flow KPIs per selection and metric function, gives each selection's tables their
ledger's monthly sums (which charges and payments read), takes the open balances of every
month end from one pass over the practice's ledger and cuts them per selection, cuts the by-payer rows in one
grouping, and the widget keeps rendered charts by their inputs. Each is checked here against the computation it
replaces, on the small practice of tests/small_practice.py (hand-checked numbers in tests/test_explorer.py's
docstring: March 2026, BlueCross X alone: initial denial rate 1/2, clean-claim rate 0/2, payments $360, open A/R
at 03-31 $80 = C06 50 (payer) + 30 (patient)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcmkit.core.engine import collect
from rcmkit.core.refdata import benchmarks
from rcmkit.explorer import Explorer, ExplorerData, Filters, Period, render, views
from rcmkit.explorer import data as explorer_data
from rcmkit.explorer.data import _split_by
from rcmkit.metrics import MetricOptions, month_window
from rcmkit.metrics.ar import balances_frame

from small_practice import tables as small_tables

MARCH = Period("2026-03", 1)
Q1 = Period("2026-03", 3)
BCX = Filters(payers=("BCX",))


@pytest.fixture()
def data():
    return ExplorerData(small_tables(), MetricOptions(min_cell_count=1), practice="small")


def _fresh_kpis(data: ExplorerData, filters: Filters, period: Period) -> dict:
    sel = data.select(filters)  # as a plain mapping: its ledger scanned, no monthly sums, no memo
    return views.period_kpis(dict(sel.tables), period, data.call_options, first=sel.first)


def test_each_month_is_computed_once_per_selection_and_metric(data, monkeypatch):
    calls: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    real = views.monthly_flow_kpis

    def counting(tables, months, options, *, first=None, keys=views.FLOW_KEYS):
        calls.append((tuple(months), tuple(keys)))
        return real(tables, months, options, first=first, keys=keys)

    monkeypatch.setattr(explorer_data.views, "monthly_flow_kpis", counting)
    q1 = data.kpis(BCX, Q1)
    data.trend(BCX, Q1, "initial_denial_rate")  # 12 months of the denial rate: Jan-Mar are the tiles'
    march = data.kpis(BCX, MARCH)  # a shorter period: every month known already
    data.trend(BCX, MARCH, "initial_denial_rate")
    per_month = {}
    for months, keys in calls:
        for m in months:
            for k in keys:
                per_month[(m, k)] = per_month.get((m, k), 0) + 1
    assert max(per_month.values()) == 1  # no (month, KPI) twice
    assert sorted(m for m, k in per_month if k == "initial_denial_rate") == Period("2026-03", 12).month_list
    assert {m for m, k in per_month if k == "charges"} == set(Q1.month_list)  # the trend asks for no charges
    # March, BlueCross X: 1 of 2 claims denied, 0 of 2 clean, payments $360 (module docstring).
    assert (march["initial_denial_rate"].numerator, march["initial_denial_rate"].denominator) == (1, 2)
    assert (march["clean_claim_rate"].numerator, march["clean_claim_rate"].denominator) == (0, 2)
    assert march["payments"].value == 360
    monkeypatch.setattr(explorer_data.views, "monthly_flow_kpis", real)
    assert q1 == _fresh_kpis(data, BCX, Q1) and march == _fresh_kpis(data, BCX, MARCH)


@pytest.mark.parametrize("filters", [Filters(), BCX, Filters(payer_classes=("medicare",)), Filters(codes=("99213",))])
def test_end_balances_are_the_selections_own(data, filters):
    sel = data.select(filters)
    for month in data.months:
        got = data.end_balances(filters, month)
        want = collect(balances_frame(sel.tables, month_window(month).end, data.call_options))
        key = ["claim_id", "responsible"]
        pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True)[list(want.columns)],
                                      want.sort_values(key).reset_index(drop=True), check_dtype=False)
    if filters == BCX:  # open A/R at 03-31: C06 $50 (payer) + $30 (patient)
        march = data.end_balances(BCX, "2026-03")
        assert march.loc[march["balance_cents"] > 0, "balance_cents"].sum() == 8000
        assert data.kpis(BCX, MARCH)["ar_total"].value == 80
    assert data.end_balances(filters, "1999-01") is None  # outside the data: the caller computes


@pytest.mark.slow  # every payer's tiles (~1.3 s); one payer's row = its tiles stays fast in tests/test_explorer.py (drill-down)
def test_by_payer_rows_are_the_tiles_of_each_payer(data):
    for metric, key in (("initial_denial_rate", "initial_denial_rate"), ("clean_claim_rate", "clean_claim_rate"),
                        ("charges_payments", "charges")):
        rows = data.by_payer(Filters(), Q1, metric).set_index("payer_id")
        assert len(rows) and set(rows.index) <= {"BCX", "MCR", "MCD", "SELF"}
        for pid in rows.index:
            tile = _fresh_kpis(data, Filters(payers=(pid,)), Q1)[key]
            if metric == "charges_payments":
                assert rows.loc[pid, "charges_cents"] == round(tile.value * 100)
                assert rows.loc[pid, "payments_cents"] == round(_fresh_kpis(
                    data, Filters(payers=(pid,)), Q1)["payments"].value * 100)
            elif metric == "initial_denial_rate":
                assert (rows.loc[pid, "claims_denied"], rows.loc[pid, "claims_adjudicated"]) == (
                    tile.numerator, tile.denominator)
            else:
                assert (rows.loc[pid, "clean_claims"], rows.loc[pid, "claims_adjudicated"]) == (
                    tile.numerator, tile.denominator)
    # BlueCross X over Jan-Mar: C11 denied in January, C02 in February, C06 (partially) in March, C09 not: 3 of 4.
    bcx = data.by_payer(Filters(), Q1, "initial_denial_rate").set_index("payer_id").loc["BCX"]
    assert (bcx["claims_denied"], bcx["claims_adjudicated"]) == (3, 4)


def test_split_by_is_the_boolean_cut_of_each_value():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"v": rng.integers(0, 100, 50)}, index=rng.permutation(50) + 1000)
    key = rng.choice(np.array(["a", "b", "c"], dtype=object), 50)
    parts = _split_by(frame, key)
    assert set(parts) == {"a", "b", "c"}
    for value, part in parts.items():
        pd.testing.assert_frame_equal(part, frame[key == value])  # same rows, order and index
    assert _split_by(frame.iloc[:0], key[:0]) == {}


def test_a_chart_seen_before_is_not_drawn_again(data, monkeypatch):
    drawn = []
    real = render.ChartSlots.png
    monkeypatch.setattr(render.ChartSlots, "png", lambda self, *a: drawn.append(1) or real(self, *a))
    data.charts.clear()  # (the module's other tests drew charts on the same tables)
    x = Explorer(data, end="2026-03", months=3)
    first = x.chart.value
    x.payer.value = ("BCX",)
    assert len(drawn) == 2 and x.chart.value != first
    x.payer.value = ()  # back to the practice: the chart it drew first, not drawn again
    assert len(drawn) == 2 and x.chart.value == first
    x.months.value = 1
    assert len(drawn) == 3
    # another widget on the same tables (a re-run cell) shows the charts drawn already; other targets draw anew
    y = Explorer(data, end="2026-03", months=3)
    assert len(drawn) == 3 and y.chart.value == first
    targets = benchmarks().assign(good=0.5)
    z = Explorer(data, end="2026-03", months=3, targets=targets)
    assert len(drawn) == 4 and z.chart.value != first


@pytest.mark.parametrize("filters", [  # one payer in the fast tier (the filter that cuts the cohorts most), all four
    # in make test
    pytest.param(Filters(), marks=pytest.mark.slow), BCX,
    pytest.param(Filters(payer_classes=("medicaid",)), marks=pytest.mark.slow),
    pytest.param(Filters(codes=("99213",)), marks=pytest.mark.slow)])
def test_the_months_in_one_query_are_each_months_own_kpis(data, filters):
    """monthly_flow_kpis counts every month's claims and denials in one query: each month's KPIs are exactly the
    metric functions' on that month alone (the whole selection's tables, nothing prepared or sliced)."""
    sel = data.select(filters)
    months = Period("2026-04", 12).month_list  # Jan-Mar hold the fixture's claims; April and 2025 none
    batched = views.monthly_flow_kpis(sel.tables, months, data.call_options, first=sel.first)
    plain = {m: views.flow_kpis(dict(sel.tables), m, data.call_options) for m in months}
    assert batched == plain
    for keys in (("clean_claim_rate",), ("initial_denial_rate", "initial_denial_rate_dollars"), ("charges",)):
        part = views.monthly_flow_kpis(sel.tables, months, data.call_options, first=sel.first, keys=keys)
        assert part == {m: {k: plain[m][k] for k in keys} for m in months}
    if filters == BCX:  # March, BlueCross X: 1 of 2 denied, 0 of 2 clean, payments $360 (module docstring)
        march = batched["2026-03"]
        assert (march["initial_denial_rate"].numerator, march["initial_denial_rate"].denominator) == (1, 2)
        assert (march["clean_claim_rate"].numerator, march["clean_claim_rate"].denominator) == (0, 2)
        assert march["payments"].value == 360
    assert views.monthly_flow_kpis(sel.tables, [], data.call_options, first=sel.first) == {}


def test_the_page_holds_the_stylesheets_once_and_no_update_sends_one(data, tmp_path):
    """Each stylesheet added to a page restyles the whole page: the explorer's views are sent without them and one
    widget that never changes holds them (the static HTML keeps them once, in front)."""
    x = Explorer(data, end="2026-03", months=3, export_dir=tmp_path)
    assert x.styles.value == render.STYLES and x.styles in x.widget.children
    assert render.STYLES.count("<style>") == 2
    x.export("csv")  # the download link too
    views_html = lambda: [x.header, x.tiles, x.crumb, x.table, x.heatmap, x.status, x.download, x.message,  # noqa
                          x.cash_table, x.checks_summary, x.checks_table, x.risk_table, x.history_table]
    seen = []
    for change in (lambda: setattr(x.payer, "value", ("BCX",)), lambda: setattr(x.level, "value", "claims"),
                   lambda: setattr(x.tabs, "selected_index", 1), lambda: setattr(x.codes, "value", "99-213"),
                   lambda: setattr(x.codes, "value", "")):
        change()
        for view in views_html():
            assert "<style" not in view.value, view.value[:200]
            seen.append(view.value)
    assert any('class="rcmx-heat"' in v for v in seen) and any("rcmx-error" in v for v in seen)
    assert any("rcmx-download" in v for v in seen) and any('data-refresh="' in v for v in seen)
    page = x.static_html()
    assert page.startswith(render.STYLES) and page.count("<style>") == 2 and 'class="rcmx-heat"' in page
    # the views are the render functions' HTML less the stylesheets, nothing else
    crumb = render.crumb_html(["<b>Initial denial rate</b>", "Category: x"])
    assert render.without_styles(crumb) == ('<div class="rcmx-crumb"><b>Initial denial rate</b> &rsaquo; '
                                            "Category: x</div>")
    assert render.without_styles(render.STYLES + "<p>a</p>" + render.STYLE) == "<p>a</p>"


def test_the_table_is_sent_before_the_chart_is_drawn_and_the_status_last(data):
    """The page draws the tiles and the table while the kernel draws the chart: the chart comes after them, the
    status (what the browser benchmark waits for) after everything."""
    x = Explorer(data, end="2026-03", months=3)
    order = []
    for name in ("header", "tiles", "crumb", "table", "chart", "status"):
        getattr(x, name).observe(lambda change, name=name: order.append(name), names="value")
    x.payer.value = ("MCR",)
    assert order == ["header", "tiles", "crumb", "table", "chart", "status"]
    order.clear()
    x.level.value = "claims"  # the chart is the same: not sent again
    assert order == ["crumb", "table", "status"]


@pytest.mark.slow  # 13 explorers (~2.5 s); the memos' returns to an earlier view stay fast: the chart and tiles tests
def test_after_any_sequence_of_changes_the_views_are_a_fresh_explorers(data):
    """The memos (months, selections, charts) never show a stale view: after a walk through filters, periods and
    metrics that comes back to earlier selections, every view equals a fresh explorer's on the same controls."""
    x = Explorer(data, end="2026-03", months=3)
    steps = [("payer", ("BCX",)), ("months", 1), ("payer", ("MCR",)), ("payer_class", ("medicare",)),
             ("payer_class", ()), ("codes", "99213"), ("metric", "clean_claim_rate"), ("payer", ("BCX",)),
             ("months", 3), ("codes", ""), ("metric", "initial_denial_rate"), ("payer", ())]
    for name, value in steps:
        getattr(x, name).value = value
        y = Explorer(data, end=x.end.value, months=x.months.value, metric=x.metric.value, payers=x.payer.value,
                     payer_classes=x.payer_class.value, codes=x.codes.value)
        y.level.value = x.level.value
        assert x.last_error is None and x.state == y.state, name
        assert x.kpis == y.kpis and x.chart.value == y.chart.value, (name, value)
        for view in ("header", "tiles", "crumb", "table"):
            assert getattr(x, view).value == getattr(y, view).value, (name, view)
        pd.testing.assert_frame_equal(x.view_frame, y.view_frame)
    # and the last step is back on the first view: the practice's Q1 (hand-checked: 4 of 8 claims denied)
    assert (x.kpis["initial_denial_rate"].numerator, x.kpis["initial_denial_rate"].denominator) == (4, 8)


def test_heading_and_tiles_are_rendered_again_only_for_a_new_selection_or_period(data, monkeypatch):
    drawn = []
    real = render.tiles_html
    monkeypatch.setattr(render, "tiles_html", lambda *a, **kw: drawn.append(1) or real(*a, **kw))
    x = Explorer(data, end="2026-03", months=3)
    assert len(drawn) == 1
    for name, value in (("level", "claims"), ("metric", "clean_claim_rate"), ("metric", "initial_denial_rate")):
        getattr(x, name).value = value
    x.tabs.selected_index = 1
    assert len(drawn) == 1  # the drill-down and the tab change nothing on the tiles
    tiles = x.tiles.value
    x.payer.value = ("BCX",)
    assert len(drawn) == 2 and x.tiles.value != tiles and "(4 claims)" in x.header.value
    x.months.value = 1
    assert len(drawn) == 3 and "Mar 2026" in x.header.value and "Jan 2026" not in x.header.value
    x.codes.value = "99-213"  # an error empties them ...
    assert x.tiles.value == "" and x.header.value == ""
    x.codes.value = ""  # ... and the same selection as before the error shows them again
    assert len(drawn) == 4 and "(4 claims)" in x.header.value and "$360" in x.tiles.value


def test_prepare_reads_a_pandas_tables_columns_without_converting_it(data, monkeypatch):
    """Each selection (and each payer of the by-payer rows) is prepared: the check whether its adjustments are
    classified read the columns by converting the whole table for the query engine. Same tables out."""
    from rcmkit.metrics import summary

    converted = []
    real = summary.lazy
    monkeypatch.setattr(summary, "lazy", lambda frame: converted.append(frame) or real(frame))
    sel = data.select(BCX)
    plain = {n: sel.tables[n] for n in sel.tables}  # a plain mapping: prepared again, adjustments classified
    again = summary.prepare(plain, data.call_options)
    assert not any(f is plain["adjustments"] for f in converted)
    assert again["adjustments"] is plain["adjustments"]  # classified already: kept as it is
    pd.testing.assert_frame_equal(again.ledger_months, sel.tables.ledger_months)
    raw = summary.prepare({**plain, "adjustments": small_tables()["adjustments"]}, data.call_options)
    assert "treatment" in raw["adjustments"].columns  # not classified yet: classified
    assert raw["adjustments"]["treatment"].tolist() == data.tables["adjustments"]["treatment"].tolist()


def test_denial_breakdown_is_the_named_aggregation(data):
    """denial_breakdown aggregates column by column: the frame pandas' named aggregation gives (the previous
    spelling), for every level, category and an empty selection."""
    lines = data.denial_lines(Filters(), Q1)
    for by in ("category", "code"):
        keys = ["category"] if by == "category" else ["category", "group_code", "reason_code"]
        for category in (None, "Missing information", "no such category"):
            cut = lines if category is None else lines[lines["category"] == category]
            want = (cut.groupby(keys, as_index=False).agg(claims=("claim_id", "nunique"), lines=("remit_id", "size"),
                                                           denied_cents=("amount_cents", "sum")))
            want["denied_cents"] = want["denied_cents"].astype("int64")
            want = want.sort_values(["denied_cents", "claims", *keys], ascending=[False, False] + [True] * len(keys),
                                    kind="mergesort").reset_index(drop=True)
            pd.testing.assert_frame_equal(views.denial_breakdown(lines, by, category=category), want)
    # Jan-Mar, every payer (tests/test_explorer.py): Missing information CO-16, 2 claims, $800, the largest
    top = views.denial_breakdown(lines, "category").iloc[0]
    assert (top["category"], top["claims"], top["denied_cents"]) == ("Missing information", 2, 80000)
    assert views.denial_breakdown(lines.iloc[:0], "code").empty


def test_a_drop_downs_new_choices_reach_the_page_in_one_message(data, monkeypatch):
    """The category and code drop-downs (and the level buttons on a metric change) send their new options and
    choice together: one message, one update of the list on the page, instead of one for each (and no moment
    where the page shows the old choice's index in the new list)."""
    import ipywidgets as w

    x = Explorer(data, end="2026-03", months=3)
    sent = []
    monkeypatch.setattr(w.Widget, "_send", lambda self, msg, buffers=None: sent.append((self, msg)))
    x.payer.value = ("MCR",)
    for control in (x.category, x.code):
        states = [m["state"] for widget, m in sent if widget is control and m.get("method") == "update"]
        assert len(states) == 1 and {"_options_labels", "index"} <= set(states[0]), states
        assert list(states[0]["_options_labels"]) == [label for label, _ in control.options]
        assert states[0]["index"] == [v for _, v in control.options].index(control.value)
    sent.clear()
    x.metric.value = "clean_claim_rate"
    states = [m["state"] for widget, m in sent if widget is x.level and m.get("method") == "update"]
    assert len(states) == 1 and states[0]["index"] == 0 and list(states[0]["_options_labels"]) == [
        label for label, _ in x.level.options]


def test_the_status_line_says_how_long_the_refresh_took(data):
    """The browser benchmark splits each change into the kernel's part and the rest by the status line's
    data-seconds: the refresh's own time, and it moves with each refresh (data-refresh)."""
    x = Explorer(data, end="2026-03", months=3)
    x.payer.value = ("BCX",)
    assert f'data-refresh="{x.refreshes}" data-seconds="{x.last_refresh_seconds:.4f}"' in x.status.value
    assert x.refreshes == 2 and 0 < x.last_refresh_seconds < 60


@pytest.mark.parametrize("filters", [Filters(), BCX])
def test_a_change_of_measure_reuses_the_periods_cells(data, filters, monkeypatch):
    """The heat map's cells for each measure are the plain computation's (views.reimbursement_cells from the
    tables), while the period's payer x code cells that every measure starts from are computed once."""
    calls = []
    real = views.reimbursement_by_payer_code
    monkeypatch.setattr(views, "reimbursement_by_payer_code", lambda *a, **k: calls.append(1) or real(*a, **k))
    tables = data.select(filters).tables
    for period in (MARCH, Q1):
        calls.clear()
        for measure in ("paid_per_unit", "allowed_to_contract", "paid_to_allowed"):
            got = data.reimbursement(filters, period, measure)
            assert len(calls) == 1, measure
            pd.testing.assert_frame_equal(got, views.reimbursement_cells(tables, period, data.call_options, measure))
            assert len(calls) == 2
            calls.pop()
        assert got["paid_cents"].sum() > 0 and got["value"].notna().any()


def test_grouped_denial_sums_are_each_groups_own_sums(data):
    """denial_sums(by=...) counts every group's months in one query: each (group, month) equals denial_sums of the
    first adjudications cut to that group's rows (a random grouping of the small practice's claims, 12 months),
    and a group without claims in a month is absent (the caller's zero)."""
    from rcmkit.metrics.denials import denial_sums

    sel = data.select(Filters())
    first = sel.first
    months = Period("2026-03", 12).month_list
    rng = np.random.default_rng(3)
    group = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), len(first))
    grouped = denial_sums(sel.tables, months, data.call_options, first.assign(g=group), by="g")
    assert grouped and sum(v[1] for v in grouped.values()) == len(first)  # every first adjudication, once
    for g in ("a", "b", "c", "d"):
        alone = denial_sums(sel.tables, months, data.call_options, first[group == g])
        for m in months:
            assert grouped.get((g, m), (0, 0, 0, 0)) == alone[m], (g, m)
            assert ((g, m) in grouped) == (alone[m][1] > 0)


def test_grouped_clean_counts_are_each_groups_own_counts(data):
    """clean_counts(by=...) in one query: each (group, month) equals clean_counts of the first adjudications and
    the claims table cut to that group's claims (a random grouping of the claims, each claim in one group)."""
    from rcmkit.metrics.denials import clean_counts
    from rcmkit.metrics import with_tables

    sel = data.select(Filters())
    first, claims = sel.first, sel.tables["claims"]
    months = Period("2026-03", 12).month_list
    ids = np.array(sorted(set(claims["claim_id"])), dtype=object)
    of = dict(zip(ids, np.random.default_rng(5).choice(np.array(["a", "b", "c"], dtype=object), len(ids))))
    group = first["claim_id"].map(of).to_numpy()
    grouped = clean_counts(sel.tables, months, data.call_options, first.assign(g=group), by="g")
    assert grouped and sum(v[1] for v in grouped.values()) == len(first)
    for g in ("a", "b", "c"):
        cut = with_tables(sel.tables, claims=claims[claims["claim_id"].map(of) == g])
        alone = clean_counts(cut, months, data.call_options, first[group == g])
        for m in months:
            assert grouped.get((g, m), (0, 0)) == alone[m], (g, m)


@pytest.mark.parametrize("metric,numerator", [("initial_denial_rate", "claims_denied"),
                                              ("clean_claim_rate", "clean_claims")])
def test_rates_by_payer_are_each_payers_tiles(data, metric, numerator):
    """The denial and clean-claim rates by payer (one grouped query each) are the tiles with that payer selected,
    each payer of the selection (the fast tier's part of test_by_payer_rows_are_the_tiles_of_each_payer)."""
    rows = data.by_payer(Filters(), Q1, metric).set_index("payer_id")
    assert set(rows.index) == {"BCX", "MCR", "MCD", "SELF"}
    for pid in rows.index:
        tile = data.kpis(Filters(payers=(pid,)), Q1)[metric]
        assert (rows.loc[pid, numerator], rows.loc[pid, "claims_adjudicated"]) == (tile.numerator,
                                                                                   tile.denominator), pid
    if metric == "initial_denial_rate":
        assert tuple(rows.loc["BCX", ["claims_denied", "claims_adjudicated"]]) == (3, 4)  # C11, C02, C06 of 4


def test_charges_and_payments_by_payer_are_each_payers_tiles(data):
    """Charges and payments by payer (the ledger's sums grouped by the claim's payer, kind and month in one go) are
    the tiles of the selection narrowed to each payer, recomputed plainly (the selection's ledger scanned, no
    monthly sums): random selections (payers, payer classes, providers, codes) and periods, every payer."""
    rng = np.random.default_rng(11)
    payers, months = ["BCX", "MCR", "MCD", "SELF"], data.months
    classes = sorted(set(data.index.attributes["payer_class"]))
    npis = sorted(set(data.index.attributes["rendering_npi"].dropna().astype(str)))
    seen = 0
    for _ in range(6):
        filters = Filters(payers=tuple(rng.choice(payers, rng.integers(0, 3), replace=False)),
                          payer_classes=tuple(rng.choice(classes, rng.integers(0, 2), replace=False)),
                          providers=tuple(rng.choice(npis, rng.integers(0, 2), replace=False)))
        period = Period(months[rng.integers(0, len(months))], int(rng.choice([1, 3, 12])))
        rows = data.by_payer(filters, period, "charges_payments")
        if not len(rows):  # an empty selection: no payer (and no columns)
            assert data.select(filters).claims == 0
            continue
        rows = rows.set_index("payer_id")
        selected = set(data.select(filters).tables["claims"]["payer_id"])
        assert set(rows.index) <= selected
        for pid in rows.index:
            alone = Filters(payers=(pid,), payer_classes=filters.payer_classes, providers=filters.providers)
            tiles = _fresh_kpis(data, alone, period)
            assert rows.loc[pid, "charges_cents"] == round(tiles["charges"].value * 100), (filters, period, pid)
            assert rows.loc[pid, "payments_cents"] == round(tiles["payments"].value * 100), (filters, period, pid)
            seen += rows.loc[pid, "charges_cents"] != 0
    assert seen  # some selection had charges


@pytest.mark.parametrize("filters", [Filters(), BCX, Filters(payer_classes=("medicare", "self_pay"))])
def test_aging_by_payer_reuses_the_charts_aging_and_is_the_plain_table(data, filters, monkeypatch):
    """The A/R table by payer reads the aging the chart draws (one ar_aging call for both) and is the table
    computed plainly from the selection's tables (its ledger scanned, no kept balances)."""
    for period in (MARCH, Q1, Period("2026-01", 1)):
        plain = views.aging_table(dict(data.select(filters).tables), period, data.call_options)
        calls = []
        real = views.ar_aging
        monkeypatch.setattr(views, "ar_aging", lambda *a, **k: calls.append(1) or real(*a, **k))
        chart = data.aging(filters, period)
        table = data.by_payer(filters, period, "ar")
        monkeypatch.setattr(views, "ar_aging", real)
        assert calls == []  # the table did not compute the aging again
        pd.testing.assert_frame_equal(table, plain)
        assert chart["balance_cents"].sum() == table["total_cents"].sum()
