"""The explorer widget: ipywidgets controls over :class:`~rcmkit.explorer.data.ExplorerData`.

The class only wires controls to a state (:attr:`Explorer.state`) and the state to what is shown: every number
comes from :class:`~rcmkit.explorer.data.ExplorerData`, every piece of HTML from :mod:`rcmkit.explorer.render`.
Tests drive it without a browser: set a control's ``value``, then read :attr:`Explorer.kpis`,
:attr:`Explorer.view_frame` or the widgets' HTML.

What each control changes:

=====================  =========================================================================================
control                changes
=====================  =========================================================================================
period end, months     every number: the tiles, the chart, the table, the heat map
payer, payer class,    which claims: the tiles, the chart, the table, the heat map (claim filters,
provider, codes        :func:`~rcmkit.explorer.filters.filter_tables`)
metric                 the chart and the drill-down table (the tiles show every KPI)
level                  the drill-down table: a breakdown, or the claims behind the KPI
category, code         the denial drill-down: narrows the breakdown and the claims; choosing one goes a level down
reimbursement          measure, codes by volume or dollars, how many codes, payer order: the heat map only
cash forecast tab      the period's end month's forecast (:mod:`rcmkit.explorer.cash`): computed when the tab is
                       shown, once per month; payer and payer-class filters cut it by payer
claim checks tab       the scrub of the claims first sent in the period (:mod:`rcmkit.explorer.checks`): findings,
                       risk scores; "denial history of" chooses the payer x code whose history is shown
export                 writes the current view (the drill-down table, the heat map's cells, the forecast by payer
                       or the findings) as CSV or Excel; the download link follows the view from then on (rebuilt
                       at each change, never stale)
=====================  =========================================================================================

A selection that cannot be shown (a procedure code search that is not a code, say) clears every result, disables
the export and shows the reason next to the code search box (:attr:`Explorer.message`).
"""

from __future__ import annotations

import base64
import contextlib
import html
import re
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import ipywidgets as w
import pandas as pd

from rcmkit.metrics import KPI
from rcmkit.present import charts
from rcmkit.present import format as fmt
from rcmkit.explorer import render
from rcmkit.explorer.data import LEVELS, METRICS, TABS, ExplorerData, ExplorerState
from rcmkit.explorer.export import FORMATS, to_csv_bytes, to_xlsx_bytes, write_export
from rcmkit.explorer.filters import PERIOD_MONTHS, Filters, Period, parse_codes
from rcmkit.explorer.views import MEASURES

__all__ = ["Explorer", "MAX_DOWNLOAD_BYTES"]

#: Largest export offered as an in-page download link (a data URL); larger files are only written to disk.
MAX_DOWNLOAD_BYTES = 1_500_000

_ALL = "__all__"


def _html(text: str) -> str:
    """A view's HTML as the live widget shows it: without the stylesheets, which the widget holds once
    (:func:`rcmkit.explorer.render.without_styles`)."""
    return render.without_styles(text)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


class Explorer:
    """Interactive drill-down over a practice's tables.

    ``Explorer(data, end="2026-10", months=3)`` builds the controls and shows the initial state at once (so a
    notebook run by papermill shows it too). Display it by leaving it as a cell's last value.
    ``export_dir``: where the export buttons also write their file (None: download link only).
    """

    def __init__(
        self,
        data: ExplorerData,
        *,
        end: str | None = None,
        months: int = 3,
        metric: str = "initial_denial_rate",
        payers=(),
        payer_classes=(),
        providers=(),
        codes: str = "",
        export_dir: str | Path | None = None,
        targets: pd.DataFrame | None = None,
        data_through: str | None = None,
    ):
        self.data = data
        self.export_dir = Path(export_dir) if export_dir is not None else None
        self.targets = targets
        self.data_through = data_through
        self.colors = charts.payer_colors(data.tables["payers"])
        self.last_refresh_seconds: float | None = None
        self.refreshes = 0  # refreshes shown so far
        self.last_error: str | None = None
        self.last_export: Path | None = None
        self._download_format: str | None = None  # the format of the download link on the page (None: no link)
        self._holding = 0
        self._kpis: dict[str, KPI] = {}
        self._view_frame = pd.DataFrame()
        self._view_name = ""
        self._chart_key: Any = None
        self._tiles_key: Any = None  # the (filters, period) of the heading and tiles on the page
        # rendered charts by (filters, period, metric, targets), kept with the tables so every widget on them shares
        # them (drawing one takes 0.1-0.2 s); the colors are the tables' payers'
        self._charts = data.charts
        # the figures the charts are drawn on, kept and updated (render.ChartSlots: a new figure cost as much as the
        # drawing)
        self._slots = render.ChartSlots(self.colors, targets)
        self._targets_key = None if targets is None else tuple(
            tuple(row) for row in targets.astype(str).itertuples(index=False))
        self._cash_key: Any = None
        end = end or data.last_month
        if end not in data.months:
            raise ValueError(f"period end {end!r} is outside the data ({data.months[0]} to {data.months[-1]})")
        if months not in PERIOD_MONTHS:
            raise ValueError(f"months must be one of {list(PERIOD_MONTHS)}, got {months!r}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")

        L = w.Layout
        desc = {"description_width": "initial"}
        self.end = w.Dropdown(options=[(pd.Period(m, freq="M").strftime("%b %Y"), m) for m in data.months],
                              value=end, description="Period ending", style=desc, layout=L(width="210px"))
        self.months = w.ToggleButtons(options=[(f"{n} mo", n) for n in PERIOD_MONTHS], value=months,
                                      style={"button_width": "64px"}, layout=L(width="auto"))
        self.metric = w.Dropdown(options=[(v, k) for k, v in METRICS.items()], value=metric, description="Metric",
                                 style=desc, layout=L(width="260px"))
        self.codes = w.Text(value=codes, placeholder="e.g. 99213, 9921*", description="Procedure codes",
                            continuous_update=False, style=desc, layout=L(width="270px"))
        self.reset = w.Button(description="Clear filters", layout=L(width="120px"))  # no icons: no Font Awesome
        self.payer = w.SelectMultiple(options=data.payer_choices(), value=tuple(payers), description="Payer",
                                      rows=6, style=desc, layout=L(width="340px"))
        self.payer_class = w.SelectMultiple(options=data.payer_class_choices(), value=tuple(payer_classes),
                                            description="Payer class", rows=6, style=desc, layout=L(width="230px"))
        self.provider = w.SelectMultiple(options=data.provider_choices(), value=tuple(providers),
                                         description="Provider", rows=6, style=desc, layout=L(width="330px"))
        self.styles = w.HTML(render.STYLES)  # every view's stylesheets, once: the views' updates carry none
        self.header = w.HTML()
        self.tiles = w.HTML()
        self.chart = w.Image(format="png", layout=L(max_width="900px"))
        self.level = w.ToggleButtons(options=LEVELS[metric], style={"button_width": "96px"}, layout=L(width="auto"))
        self.category = w.Dropdown(description="Category", style=desc, layout=L(width="330px"))
        self.code = w.Dropdown(description="Code", style=desc, layout=L(width="200px"))
        self.crumb = w.HTML()
        self.table = w.HTML()
        self.measure = w.ToggleButtons(options=[(v[0], k) for k, v in MEASURES.items()], value="paid_per_unit",
                                       description="Measure", style=desc)
        self.rank_by = w.ToggleButtons(options=[("Units", "units"), ("Paid $", "paid")], value="units",
                                       description="Codes that matter most by", style=desc)
        self.top = w.IntSlider(value=12, min=4, max=30, description="Codes", continuous_update=False, style=desc)
        self.sort_payers = w.Dropdown(options=[("Payer name", "name"), ("Units", "units"), ("Paid $", "paid")],
                                      value="name", description="Payers by", style=desc, layout=L(width="200px"))
        self.heatmap = w.HTML()
        self.cash_chart = w.Image(format="png", layout=L(max_width="900px"))
        self.cash_table = w.HTML()
        self.checks_summary = w.HTML()
        self.checks_table = w.HTML()
        self.risk_table = w.HTML()
        self.pair = w.Dropdown(description="Denial history of", style=desc, layout=L(width="420px"))
        self.history_table = w.HTML()
        self.export_csv = w.Button(description="Export CSV", layout=L(width="130px"))
        self.export_xlsx = w.Button(description="Export Excel", layout=L(width="130px"))
        self.download = w.HTML()
        self.status = w.HTML()
        self.message = w.HTML()  # why nothing is shown (next to the code search box)

        row = dict(layout=L(align_items="center", flex_flow="row wrap"))
        drill = w.VBox([self.chart, w.HBox([w.Label("Show"), self.level, self.category, self.code], **row), self.crumb,
                        self.table])
        reimb = w.VBox([w.HBox([self.measure], **row), w.HBox([self.rank_by, self.top, self.sort_payers], **row),
                        self.heatmap])
        cash = w.VBox([self.cash_chart, self.cash_table])
        checks = w.VBox([self.checks_summary, self.checks_table, self.risk_table,
                         w.HBox([self.pair], **row), self.history_table])
        self.tabs = w.Tab(children=[drill, reimb, cash, checks])
        for i, title in enumerate(TABS.values()):
            self.tabs.set_title(i, title)
        controls = w.VBox([
            w.HBox([self.end, w.Label("Months"), self.months, self.metric], **row),
            w.HBox([self.payer, self.payer_class, self.provider], **row),
            w.HBox([self.codes, self.reset, self.message], **row),
        ])
        self.widget = w.VBox([controls, self.header, self.tiles, self.tabs,
                              w.HBox([w.HTML("<b>Export this view:</b>&nbsp;"), self.export_csv, self.export_xlsx,
                                      self.download], layout=L(align_items="center")),
                              self.status, self.styles])
        self.widget.add_class("rcmkit-explorer")
        for name in ("end", "months", "metric", "codes", "reset", "payer", "payer_class", "provider", "tiles", "chart",
                     "level", "category", "code", "table", "tabs", "measure", "rank_by", "top", "sort_payers",
                     "heatmap", "export_csv", "export_xlsx", "download", "status", "message",
                     "cash_chart", "cash_table", "checks_summary", "checks_table", "risk_table", "pair",
                     "history_table"):
            getattr(self, name).add_class(f"rcmx-{name.replace('_', '-')}")  # stable hooks for browser tests

        for control in (self.end, self.months, self.payer, self.payer_class, self.provider, self.codes,
                        self.level, self.measure, self.rank_by, self.top, self.sort_payers, self.pair):
            control.observe(self._changed, names="value")
        self.metric.observe(self._metric_changed, names="value")
        self.category.observe(self._category_changed, names="value")
        self.code.observe(self._code_changed, names="value")
        self.tabs.observe(self._changed, names="selected_index")
        self.reset.on_click(lambda _: self.clear_filters())
        self.export_csv.on_click(lambda _: self.export("csv"))
        self.export_xlsx.on_click(lambda _: self.export("xlsx"))
        self.refresh()

    # ----------------------------------------------------------------------------------------- state
    @property
    def filters(self) -> Filters:
        return Filters(payers=self.payer.value, payer_classes=self.payer_class.value, providers=self.provider.value,
                       codes=parse_codes(self.codes.value))

    @property
    def period(self) -> Period:
        return Period(self.end.value, self.months.value)

    @property
    def state(self) -> ExplorerState:
        """What the controls say, as one value."""
        code = None if self.code.value in (None, _ALL) else tuple(self.code.value.split("-", 1))
        category = None if self.category.value in (None, _ALL) else self.category.value
        return ExplorerState(
            period=self.period, filters=self.filters, metric=self.metric.value, level=self.level.value,
            category=category, code=code, tab=list(TABS)[self.tabs.selected_index or 0],
            measure=self.measure.value, rank_by=self.rank_by.value, top=int(self.top.value),
            sort_payers=self.sort_payers.value,
            pair=tuple(self.pair.value.split("\t", 1)) if self.pair.value else None)

    @property
    def kpis(self) -> dict[str, KPI]:
        """The KPIs on the tiles now."""
        return dict(self._kpis)

    @property
    def view_frame(self) -> pd.DataFrame:
        """The current view's data, every row (what the export writes)."""
        return self._view_frame.copy()

    @property
    def view_name(self) -> str:
        return self._view_name

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls at once: one refresh at the end instead of one per control."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if not self._holding:
            self.refresh()

    def clear_filters(self) -> None:
        with self.hold():
            self.payer.value = ()
            self.payer_class.value = ()
            self.provider.value = ()
            self.codes.value = ""

    # ----------------------------------------------------------------------------------------- events
    def _changed(self, change: Mapping | None = None) -> None:
        if not self._holding:
            self.refresh()

    def _metric_changed(self, change: Mapping) -> None:
        with self.hold(), self.level.hold_sync():  # the new options and choice in one message to the page
            self.level.options = LEVELS[change["new"]]
            self.level.value = LEVELS[change["new"]][0][1]
            self.category.value = _ALL if self.category.options else None
            self.code.value = _ALL if self.code.options else None

    def _category_changed(self, change: Mapping) -> None:
        if self._holding:
            return
        with self.hold():
            if self.code.value not in (None, _ALL):
                self.code.value = _ALL
            if change["new"] not in (None, _ALL) and self.level.value == "category":
                self.level.value = "code"  # choosing a category drills down to its codes

    def _code_changed(self, change: Mapping) -> None:
        if self._holding:
            return
        with self.hold():
            if change["new"] not in (None, _ALL) and self.level.value in ("category", "code"):
                self.level.value = "claims"  # choosing a code drills down to its claims

    # ----------------------------------------------------------------------------------------- refresh
    def refresh(self) -> None:
        """Recompute and redraw what the controls select. Errors (a bad code search, say) are shown, not raised:
        the old results are cleared and the reason shown next to the code search box."""
        t0 = time.perf_counter()
        try:
            self._refresh()
            if self._download_format is not None:
                self._offer_download(self._download_format)  # the link always holds the view on screen
        except Exception as exc:  # shown on the page: a widget callback has nowhere else to report
            self._show_error(str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}")
            return
        self.last_error = None
        self.message.value = ""
        for button in (self.export_csv, self.export_xlsx):
            button.disabled = False
        self.last_refresh_seconds = time.perf_counter() - t0
        self.refreshes += 1
        # data-refresh: which refresh the page shows (a browser test or benchmark waits for the next one)
        self.status.value = (f'<div class="rcmx-status" data-refresh="{self.refreshes}" '
                             f'data-seconds="{self.last_refresh_seconds:.4f}">'
                             "Updated in "
                             f"{self.last_refresh_seconds:.2f} s.</div>")

    def _show_error(self, message: str) -> None:
        """No result of the previous selection stays on screen: every view is emptied and the export disabled."""
        self.last_error = message
        message = message[:1].upper() + message[1:]
        self._kpis = {}
        self._view_frame = pd.DataFrame()
        self._view_name = ""
        self._chart_key = self._tiles_key = None
        for view in (self.header, self.tiles, self.crumb, self.table, self.heatmap, self.download, self.status,
                     self.cash_table, self.checks_summary, self.checks_table, self.risk_table, self.history_table):
            view.value = ""
        self._cash_key = None
        for chart in (self.chart, self.cash_chart):
            chart.value = b""
            chart.layout.display = "none"
        for button in (self.export_csv, self.export_xlsx):
            button.disabled = True
        self.message.value = (f'<div class="rcmx-error">{html.escape(message.rstrip(". "))}. '
                              "Nothing is shown until it is corrected.</div>")

    def _refresh(self) -> None:
        state = self.state
        data, f, p = self.data, state.filters, state.period
        self._kpis = data.kpis(f, p)
        if (f, p) != self._tiles_key:  # the heading and tiles are functions of the selection and period only
            sel = data.select(f)
            self.header.value = _html(render.header_html(data.practice_name, p, f, data.payer_names, sel.claims,
                                                         self.data_through, provider_names=data.provider_names))
            self.tiles.value = _html(render.tiles_html(self._kpis, p, self.targets))
            self._tiles_key = (f, p)
        self._sync_drill_choices(state)
        state = self.state
        if state.tab == "drill":
            self._show_drill(state)
        elif state.tab == "reimbursement":
            self._show_reimbursement(state)
        elif state.tab == "forecast":
            self._show_cash(state)
        else:
            self._show_checks(state)

    def _sync_drill_choices(self, state: ExplorerState) -> None:
        """Category and code choices that exist in the selection (the denial metric only)."""
        denial = state.metric == "initial_denial_rate"
        for control in (self.category, self.code):
            control.layout.display = None if denial else "none"
        if not denial:
            return
        cats = self.data.categories(state.filters, state.period)
        cat_options = [("All categories", _ALL)] + [(c, c) for c in cats]
        category = state.category if state.category in cats else None
        codes = self.data.codes(state.filters, state.period, category)
        code_options = [("All codes", _ALL)] + [(f"{g}-{r}", f"{g}-{r}") for g, r in codes]
        code = "-".join(state.code) if state.code is not None and state.code in codes else _ALL
        self._holding += 1
        try:  # each drop-down's new options and choice in one message to the page (one update of its list)
            with self.category.hold_sync():
                if list(self.category.options) != cat_options:
                    self.category.options = cat_options
                self.category.value = category or _ALL
            with self.code.hold_sync():
                if list(self.code.options) != code_options:
                    self.code.options = code_options
                self.code.value = code
        finally:
            self._holding -= 1

    def _show_drill(self, state: ExplorerState) -> None:
        data, f, p = self.data, state.filters, state.period
        kind = render.table_kind(state.metric, state.level)
        frame = render.display_frame(data.drill_table(state), kind)
        self._view_frame = frame
        self._view_name = self._name(state)
        self.crumb.value = _html(render.crumb_html(self._crumb(state, frame)))
        self.table.value = _html(render.table_html(frame, kind, self.colors, data.payer_names,
                                                   caption=self._caption(state)))
        # the chart last: the page draws the tiles and the table (sent already) while the kernel draws it
        chart_key = (f, p, state.metric, self._targets_key)
        if chart_key != self._chart_key:
            def draw() -> bytes:  # the chart is a pure function of the key (the targets and colors are fixed)
                trend = data.trend(f, p, state.metric)
                aging = data.aging(f, p) if state.metric == "ar" else None
                return self._slots.png(state.metric, trend, self._kpis, p, aging)
            self.chart.value = self._charts.get(chart_key, draw)
            self._chart_key = chart_key
        self.chart.layout.display = None

    def _show_reimbursement(self, state: ExplorerState) -> None:
        data, f, p = self.data, state.filters, state.period
        cells = data.reimbursement(f, p, state.measure)
        from rcmkit.explorer.views import reimbursement_matrix

        values, shown = reimbursement_matrix(cells, rank_by=state.rank_by, top=state.top,
                                             sort_payers=state.sort_payers)
        self.heatmap.value = _html(render.heatmap_html(values, shown, state.measure, self.colors, data.payer_names,
                                                       period=p, rank_by=state.rank_by,
                                                       min_cell_count=data.options.min_cell_count))
        unit = MEASURES[state.measure][1]
        value_col = f"{state.measure}_cents" if unit == "usd" else state.measure
        cols = ["payer_id", "payer_name", "procedure_code", "claims", "lines", "units", "billed_cents",
                "allowed_cents", "paid_cents", "suppressed"]
        export = shown[cols].assign(**{value_col: shown["value"]})
        if unit == "usd":
            export[value_col] = export[value_col].round()
        self._view_frame = export.reset_index(drop=True)
        self._view_name = f"reimbursement-{_slug(state.measure)}"

    def _show_cash(self, state: ExplorerState) -> None:
        """The Cash forecast tab: computed only when shown (the forecast runs once per month, then memoized)."""
        month = state.period.end
        if not self.data.has_month_forecast(month):  # the first time for this month: seconds, said on the page
            self.cash_table.value = (f'<p class="rcmx-status">Computing the cash forecast for '
                                     f"{html.escape(pd.Period(month, freq='M').strftime('%b %Y'))}: the first time "
                                     "takes a few seconds (longer for a large practice).</p>")
        view = self.data.cash(state.filters, month)
        key = (month, state.filters.payers, state.filters.payer_classes)
        if key != self._cash_key:
            fig = charts.cash_forecast_chart(view.weeks, view.check, level=view.level)
            self.cash_chart.value = render.figure_png(fig)
            self._cash_key = key
        self.cash_chart.layout.display = None
        self.cash_table.value = _html(render.cash_table_html(view, self.colors))
        self._view_frame = view.table.copy()
        self._view_name = "cash-forecast"

    def _show_checks(self, state: ExplorerState) -> None:
        """The Claim checks tab: the scrub of the claims first sent in the period (computed only when shown)."""
        data, p = self.data, state.period
        if not data.has_checks(state.filters, p):
            self.checks_summary.value = (f'<p class="rcmx-status">Checking the claims first '
                                         f"sent {html.escape(p.label)}...</p>")
        view = data.checks(state.filters, p)
        self.checks_summary.value = _html(render.checks_summary_html(view, p))
        self.checks_table.value = _html(render.findings_html(
            view.findings, data.payer_names, self.colors, caption=f"What the checks found, worst first, {p.label}"))
        self.risk_table.value = _html(render.risk_html(view, data.payer_names, self.colors))
        options = [(f"{data.payer_names.get(r.payer_id, r.payer_id)}, {r.procedure_code}: {r.lines:,} line"
                    f"{'s' if r.lines != 1 else ''} in the batch"
                    + (f", {r.findings:,} finding{'s' if r.findings != 1 else ''}" if r.findings else ""),
                    f"{r.payer_id}\t{r.procedure_code}") for r in view.pairs.itertuples(index=False)]
        pair = "\t".join(state.pair) if state.pair else None
        values = [v for _, v in options]
        self._holding += 1
        try:
            with self.pair.hold_sync():
                if list(self.pair.options) != options:
                    self.pair.options = options
                self.pair.value = pair if pair in values else (values[0] if values else None)
        finally:
            self._holding -= 1
        self.pair.layout.display = None if options else "none"
        if self.pair.value:
            payer_id, code = self.pair.value.split("\t", 1)
            summary, by_month = data.pair_history(payer_id, code, view.start)
            self.history_table.value = _html(render.history_html(data.payer_names.get(payer_id, payer_id), code,
                                                                 view.start, summary, by_month))
        else:
            self.history_table.value = ""
        self._view_frame = view.findings.copy()
        self._view_name = "claim-checks"

    # ----------------------------------------------------------------------------------------- captions
    def _name(self, state: ExplorerState) -> str:
        parts = [_slug(state.metric), state.level]
        if state.category:
            parts.append(_slug(state.category))
        if state.code:
            parts.append("-".join(state.code).lower())
        return "-".join(parts)

    def _caption(self, state: ExplorerState) -> str:
        what = {"category": "Denials by category", "code": "Denials by code", "payer": "By payer"}.get(state.level)
        if state.metric == "ar" and state.level == "payer":
            what = "Open A/R by responsible party and age"
        if state.level == "claims":
            what = {"initial_denial_rate": "Claims initially denied", "clean_claim_rate": "Claims that were not clean",
                    "ar": "Open balances", "charges_payments": "Claims with charges or payments"}[state.metric]
        when = (f"at the end of {pd.Period(state.period.end, freq='M').strftime('%b %Y')}" if state.metric == "ar"
                else state.period.label)
        return f"{what}, {when}"

    def _crumb(self, state: ExplorerState, frame: pd.DataFrame) -> list[str]:
        e = html.escape
        k = self._kpis
        parts = []
        if state.metric == "initial_denial_rate":
            kpi = k["initial_denial_rate"]
            parts.append(f"<b>{e(kpi.label)}</b> {e(fmt.kpi_value(kpi))} ({fmt.count(kpi.numerator)} of "
                         f"{fmt.count(kpi.denominator)} claims)")
            if state.category:
                parts.append(f"Category: <b>{e(state.category)}</b>")
            if state.code:
                parts.append(f"Code: <b>{e('-'.join(state.code))}</b>")
        elif state.metric == "clean_claim_rate":
            kpi = k["clean_claim_rate"]
            parts.append(f"<b>{e(kpi.label)}</b> {e(fmt.kpi_value(kpi))} ({fmt.count(kpi.numerator)} of "
                         f"{fmt.count(kpi.denominator)} claims)")
        elif state.metric == "ar":
            kpi = k["ar_total"]
            parts.append(f"<b>{e(kpi.label)}</b> {e(fmt.kpi_value(kpi))}")
        else:
            parts.append(f"<b>Charges</b> {e(fmt.kpi_value(k['charges']))}, "
                         f"<b>payments</b> {e(fmt.kpi_value(k['payments']))}")
        if state.level == "claims":
            parts.append(f"{len(frame):,} claim rows")
        return parts

    # ----------------------------------------------------------------------------------------- export
    def export(self, fmt_: str = "csv") -> Path | None:
        """Export the current view (:attr:`view_frame`) as ``"csv"`` or ``"xlsx"``: a download link on the page
        (rebuilt for the new view at every change from then on) and, with ``export_dir``, a file there (returned).
        Raises ValueError when nothing is shown (:attr:`last_error`)."""
        if fmt_ not in FORMATS:
            raise ValueError(f"export format must be one of {list(FORMATS)}, got {fmt_!r}")
        if self.last_error is not None:
            raise ValueError(f"nothing to export: {self.last_error}")
        name, data = self._export_file(fmt_)
        path = None
        if self.export_dir is not None:
            path = write_export(self.export_dir / name, data)
        self.last_export = path
        self._download_format = fmt_
        self._offer_download(fmt_, name, data, saved=path is not None)
        return path

    def _export_file(self, fmt_: str) -> tuple[str, bytes]:
        """The current view's file name and bytes in format ``fmt_``."""
        p = self.period
        name = f"{_slug(self.data.practice or 'practice')}_{self._view_name}_{p.start}_{p.end}.{fmt_}"
        frame = self.view_frame
        return name, to_csv_bytes(frame) if fmt_ == "csv" else to_xlsx_bytes(frame)

    def _offer_download(self, fmt_: str, name: str | None = None, data: bytes | None = None,
                        saved: bool = False) -> None:
        """The download link of the current view (its file name says which view and period)."""
        if name is None or data is None:
            name, data = self._export_file(fmt_)
        rows = len(self._view_frame)
        saved_text = " Also saved in the export folder." if saved else ""
        if len(data) <= MAX_DOWNLOAD_BYTES:
            href = f"data:{FORMATS[fmt_]};base64,{base64.b64encode(data).decode()}"
            link = (f'<a class="rcmx-download" download="{html.escape(name)}" href="{href}">Download '
                    f"{html.escape(name)}</a> ({rows:,} rows).")
        else:
            link = f"{html.escape(name)} ({rows:,} rows) is too large to download from the page."
        self.download.value = f"<span class=\"rcmx-status\">{link}{saved_text}</span>"

    # ----------------------------------------------------------------------------------------- display
    def static_html(self) -> str:
        """The current state as plain HTML (heading, tiles, chart, table): what a notebook viewer without a
        widget manager shows, and what the papermill-run notebook keeps."""
        parts = [self.header.value, self.tiles.value]
        tab = list(TABS)[self.tabs.selected_index or 0]
        if tab == "drill":
            if self.chart.value:
                parts.append(render.png_img(self.chart.value, "chart"))
            parts += [self.crumb.value, self.table.value]
        elif tab == "reimbursement":
            parts.append(self.heatmap.value)
        elif tab == "forecast":
            if self.cash_chart.value:
                parts.append(render.png_img(self.cash_chart.value, "cash forecast chart"))
            parts.append(self.cash_table.value)
        else:
            parts += [self.checks_summary.value, self.checks_table.value, self.risk_table.value,
                      self.history_table.value]
        body = "".join(parts)
        return render.STYLES + body if body else ""  # the stylesheets once, as on the live page

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = self.static_html()
        return bundle
