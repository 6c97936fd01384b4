"""Snapshot tests (issue #14): the rendered KPI tiles and the portfolio page of the small hand-computed practice
(tests/small_practice.py, March 2026), compared byte for byte with the committed files in tests/snapshots/.

A change to how the report reads shows up here as a diff to review. When the change is meant, rewrite the files
and commit them with it::

    RCMKIT_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_snapshots.py

The files hold no timestamp and no absolute path (checked), and the rcmkit version is pinned to ``VERSION`` so a
release does not change them.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path

import pytest

import rcmkit
from rcmkit.metrics import MetricOptions, benchmark_status, kpi_trend, monthly_kpis, prepare
from rcmkit.present import tiles
from rcmkit.present.format import delta
from rcmkit.present.narrative import data_through, executive_summary
from rcmkit.report.portfolio import collect_rows, portfolio_html
from rcmkit.report.record import METRICS_FILE, metrics_document
from small_practice import tables as small_tables

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
MONTH = "2026-03"
#: Months of the tiles' sparklines: the practice's whole history (Nov 25 to Mar 26) and the empty month before it
#: (the report's 12 would add six more empty months and a second of run time).
TREND = 6
DIFF_LINES = 60


def _lines(text: str) -> list[str]:
    """One tag per line, so that a diff of one-line HTML points at the element that changed."""
    return re.sub(r">\s*<", ">\n<", text).splitlines(keepends=True)


def check_snapshot(name: str, text: str) -> None:
    """``text`` must equal ``tests/snapshots/<name>`` byte for byte (``RCMKIT_UPDATE_SNAPSHOTS=1`` rewrites it); a
    mismatch fails with the first lines of a unified diff."""
    path = SNAPSHOTS / name
    data = text.encode("utf-8")
    if os.environ.get("RCMKIT_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        return
    if not path.is_file():
        pytest.fail(f"no snapshot {path.name}: run with RCMKIT_UPDATE_SNAPSHOTS=1 to write it, then review it")
    expected = path.read_bytes()
    if expected == data:
        return
    diff = list(difflib.unified_diff(_lines(expected.decode("utf-8", "replace")), _lines(text),
                                     f"tests/snapshots/{name} (committed)", f"{name} (rendered now)"))
    shown = "".join(diff[:DIFF_LINES]) + (f"... ({len(diff) - DIFF_LINES} more diff lines)\n"
                                          if len(diff) > DIFF_LINES else "")
    pytest.fail(f"{name} differs from its snapshot (RCMKIT_UPDATE_SNAPSHOTS=1 rewrites it when the change is "
                f"meant):\n{shown}", pytrace=False)


def _stable(text: str, *forbidden: str) -> None:
    """No wall-clock time and no absolute path in a snapshot."""
    assert not re.search(r"\d{1,2}:\d{2}(:\d{2})?|T\d{2}:\d{2}", text), "a time of day in the snapshot"
    for s in (str(Path.home()), str(Path(__file__).resolve().parent.parent), *forbidden):
        assert s not in text, f"{s!r} in the snapshot"


@pytest.fixture(scope="module")
def small() -> dict:
    """The small practice's March 2026 KPIs, their trend and their benchmark status."""
    t = prepare(small_tables(), MetricOptions())
    kpis = monthly_kpis(t, MONTH)
    return {"tables": t, "kpis": kpis, "trend": kpi_trend(t, MONTH, months=TREND),
            "status": benchmark_status(kpis)}


def test_kpi_tiles_snapshot(small):
    out = tiles.kpi_tiles(small["kpis"], small["trend"], month=MONTH, status=small["status"])
    _stable(out)
    # hand-computed values of tests/test_report_model.py are on the tiles: 490.00 open over 1,300.00 charged in
    # 90 days (33.9 days); C03's 150.00 of 490.00 over 120 days (30.6%)
    assert ">33.9 days<" in out and ">$490<" in out and ">30.6%<" in out
    check_snapshot("kpi_tiles.html", out)


def test_portfolio_page_snapshot(small, tmp_path, monkeypatch):
    monkeypatch.setattr(rcmkit, "__version__", "VERSION")
    t, kpis = small["tables"], small["kpis"]
    summary = executive_summary(t, MONTH, kpis=kpis, trend=small["trend"], status=small["status"], practice="small",
                                practice_name="Small Practice")
    docs = {
        "small": metrics_document("small", MONTH, kpis, status=small["status"], summary=summary,
                                  data_through=data_through(t), practice_name="Small Practice"),
        # a practice whose report has no KPI values yet: every cell reads n/a
        "newclinic": {"practice": "newclinic", "month": MONTH, "as_of": "2026-03-31", "kpis": {}},
    }
    # February's report beside March's: the page shows the change since then
    feb = monthly_kpis(t, "2026-02")
    previous = {"small": metrics_document("small", "2026-02", feb, status=benchmark_status(feb),
                                          data_through="2026-02-28", practice_name="Small Practice")}
    for month, group in ((MONTH, docs), ("2026-02", previous)):
        for practice, doc in group.items():
            folder = tmp_path / practice / month
            folder.mkdir(parents=True)
            (folder / METRICS_FILE).write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
    (tmp_path / "small" / MONTH / "monthly_report.html").write_text("x", encoding="utf-8")
    rows = collect_rows(tmp_path, MONTH, {"broken": "broken.yaml:3: practice: no data for 'broken'"})
    out = portfolio_html(rows, MONTH)
    _stable(out, str(tmp_path))
    assert ">33.9 days" in out and "State Medicaid A/R over 120 days: $150" in out and ">n/a<" in out
    assert "broken.yaml" not in out and "Report could not be produced; see the run log." in out
    # rank 1 of 1 on days in A/R; its change since February: 33.9 days now, as February's report had it before
    before = feb["days_in_ar"].value
    change = kpis["days_in_ar"].value - before
    assert f'title="change since February 2026 ({"better" if change < 0 else "worse"})">{delta(change, "days")}<' in out
    assert '<td class="rank">1</td>' in out and 'href="../small/2026-03/monthly_report.html"' in out
    check_snapshot("portfolio.html", out)


def test_a_changed_rendering_fails_with_a_diff(tmp_path, monkeypatch):
    """The check itself: equal bytes pass, a changed cell fails with a unified diff, no snapshot fails."""
    monkeypatch.setattr(f"{__name__}.SNAPSHOTS", tmp_path)
    monkeypatch.delenv("RCMKIT_UPDATE_SNAPSHOTS", raising=False)
    (tmp_path / "t.html").write_text("<div><b>33.9 days</b></div>", encoding="utf-8")
    check_snapshot("t.html", "<div><b>33.9 days</b></div>")
    with pytest.raises(pytest.fail.Exception) as failed:
        check_snapshot("t.html", "<div><b>34.0 days</b></div>")
    assert "-<b>33.9 days</b>\n+<b>34.0 days</b>" in str(failed.value)
    with pytest.raises(pytest.fail.Exception, match="no snapshot"):
        check_snapshot("missing.html", "<div></div>")
    monkeypatch.setenv("RCMKIT_UPDATE_SNAPSHOTS", "1")
    check_snapshot("t.html", "<p>new</p>")
    assert (tmp_path / "t.html").read_text(encoding="utf-8") == "<p>new</p>"
