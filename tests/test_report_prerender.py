"""Charts drawn on a second core (rcmkit.report.prerender): a forked copy of the kernel draws the report's charts,
and a cell shows its picture only for the very same call, so the report's bytes do not change.

The in-process tests stand up an IPython shell (no kernel) with the report's figure settings, as the report
kernel has after ``setup_notebook()``; each runs in a child process (``_in_shell``) so the shell, the formatter it
installs and the fork stay out of the test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rcmkit.report.prerender import ENV, Prerendered

HERE = Path(__file__).resolve().parent

_SETUP = """
import os, sys, json, time
sys.path.insert(0, {here!r})
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
from matplotlib.figure import Figure
from rcmkit.report import setup_notebook, build_report
from rcmkit.report.prerender import prerender, chart_plan
from rcmkit.present import charts
from rcmkit.report.deck import _figure_uri
import base64
from small_practice import tables
setup_notebook()
png = shell.display_formatter.formatters["image/png"]
draw_here = png.lookup_by_type(Figure)  # the kernel's own drawing, before prerender wraps it
report = build_report(tables(), "2026-03", practice="small", practice_name="Small Practice")
def drawn(kind, name, args, kwargs):
    fig = getattr(charts, name)(*args, **kwargs)
    return png(fig) if kind == "notebook" else base64.b64decode(_figure_uri(fig).split(",", 1)[1])
"""


def _in_shell(body: str, **env) -> dict:
    code = _SETUP.format(here=str(HERE)) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, ENV: "2", **env})  # "2": fork whatever the machine's load
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_chart_of_the_report_and_deck_is_shown_from_the_copy_with_the_same_bytes():
    out = _in_shell("""
        plan = chart_plan(report)
        reference = [drawn(*c) for c in plan]          # drawn here, nothing forked yet
        pre = prerender(report)
        assert pre is not None
        os.waitpid(pre.pid, 0); pre.pid = None          # let the copy draw everything
        shown = [drawn(*c) for c in plan]               # the same calls, as the cells and the deck make them
        other = charts.kpi_trend_chart(report.trend, [report.kpis["days_in_ar"]], title="Another title")
        print(json.dumps({"n": len(plan), "same": shown == reference, "used": len(pre.used),
                          "drawn": len(pre.drawn), "other": png(other) == draw_here(other),
                          "folder_left": os.path.exists(pre.folder)}))
    """)
    # 14 report charts and 4 deck charts, all shown from the copy's pictures, byte for byte the local drawing
    assert out == {"n": 18, "same": True, "used": 18, "drawn": 0, "other": True, "folder_left": False}


@pytest.mark.slow
def test_a_call_with_other_arguments_is_drawn_by_the_cell_not_taken_from_the_copy():
    out = _in_shell("""
        pre = prerender(report, deck=False)
        os.waitpid(pre.pid, 0); pre.pid = None
        fig = charts.aging_by_payer(report.aging, report.colors, month="2026-02")  # the plan says 2026-03
        mine = png(fig)
        fresh = draw_here(charts.aging_by_payer(report.aging, report.colors, month="2026-02"))
        print(json.dumps({"same": mine == fresh, "used": len(pre.used), "keys": len(pre.keys)}))
    """)
    assert out == {"same": True, "used": 0, "keys": 14}  # without the deck: the report's 14 charts


@pytest.mark.slow
def test_no_spare_core_means_no_copy_and_every_chart_drawn_by_its_cell():
    out = _in_shell("""
        pre = prerender(report)
        fig = charts.charges_payments_trend(report.trend)
        print(json.dumps({"pre": pre is None, "recorded": hasattr(fig, "_rcmkit_call"),
                          "png": png(fig) == draw_here(fig),
                          "wrapped": png.lookup_by_type(Figure) is draw_here}))
    """, **{ENV: "0"})
    assert out == {"pre": True, "recorded": False, "png": True, "wrapped": True}


def test_a_busy_machine_or_the_setting_decides_whether_to_fork(monkeypatch):
    from rcmkit.report import prerender as pr

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for load, setting, expected in ((0.3, "", True), (1.4, "", True), (1.8, "", False), (6.0, "", False),
                                    (6.0, "2", True),
                                    (0.3, "0", False)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        monkeypatch.setenv(ENV, setting)
        assert pr._spare_core() is expected, (load, setting)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    monkeypatch.setenv(ENV, "2")
    assert pr._spare_core() is False  # one core: nothing to share


def test_the_meeting_point_marks_what_the_notebook_draws_and_cleans_up(tmp_path):
    """take() of a chart the copy has not drawn yet marks it (the copy stops there) and returns None; a drawn one
    is returned; when every picture is shown or drawn the folder goes."""
    import pickle

    from rcmkit.report.prerender import _key

    folder = tmp_path / "pictures"
    folder.mkdir()

    class Fig:
        def __init__(self, n):
            self._rcmkit_call = ("chart", (n,), {})

    keys = [_key("notebook", "chart", (n,), {}) for n in (1, 2)]
    (folder / f"{keys[1]}.out").write_bytes(pickle.dumps("picture two"))
    pre = Prerendered(folder, None, keys)
    assert pre.take(Fig(3), "notebook") is None and pre.pending == set(keys)  # not in the plan: untouched
    assert pre.take(Fig(1), "deck") is None  # the same call drawn for the deck is another picture
    assert pre.take(Fig(1), "notebook") is None
    assert (folder / f"{keys[0]}.mine").exists() and pre.drawn == [keys[0]]
    assert pre.take(Fig(2), "notebook") == "picture two" and pre.used == [keys[1]]
    assert not folder.exists()


@pytest.mark.notebook
def test_the_report_is_the_same_with_and_without_the_second_core(tmp_path):
    """The packaged notebook on the small practice with the copy drawing the charts and without it: the HTML,
    the deck and the executed notebook (but for its paths) are the same bytes."""
    from rcmkit.core import store
    from small_practice import tables

    store.save_tables(tmp_path / "data", "small", tables())
    outs = {}
    for name, value in (("out_pre1", "2"), ("out_pre0", "0")):
        (tmp_path / f"{name}.yaml").write_text(f"practice: small\ndata_root: data\noutput_root: {name}\n"
                                               "month: '2026-03'\n")
        env = {**os.environ, ENV: value, "RCMKIT_ALLOW_OUTSIDE_ROOTS": "1"}
        proc = subprocess.run([str(Path(sys.executable).with_name("rcmkit")), "report", f"{name}.yaml", "--no-pdf",
                               "--no-progress"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs[name] = Path(proc.stdout.strip().splitlines()[-1]).parent
    for f in ("monthly_report.html", "monthly_report.slides.html", "metrics.json"):
        assert (outs["out_pre1"] / f).read_bytes() == (outs["out_pre0"] / f).read_bytes(), f
    nbs = [(outs[n] / "monthly_report.ipynb").read_text().replace(n, "X") for n in ("out_pre1", "out_pre0")]
    assert nbs[0] == nbs[1]
    assert nbs[0].count('"image/png"') == 14


@pytest.mark.slow
def test_a_killed_kernel_takes_its_drawing_copy_along():
    """The copy asks the system to kill it when its parent dies (PR_SET_PDEATHSIG): a kernel killed mid-report
    (a timeout, rcmkit report's shutdown) leaves no process drawing behind."""
    import time

    code = _SETUP.format(here=str(HERE)) + textwrap.dedent("""
        pre = prerender(report)
        print(pre.folder, pre.pid, flush=True)
        os.kill(os.getpid(), 9)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, ENV: "2"})
    assert proc.returncode == -9, proc.stderr[-2000:]
    folder, child = proc.stdout.split()[-2], int(proc.stdout.split()[-1])
    import shutil

    shutil.rmtree(folder, ignore_errors=True)  # a killed kernel cannot remove its copy's folder
    deadline = time.monotonic() + 1.0  # drawing the 18 charts takes the copy several seconds: it was killed
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{child}/stat").read().split(")")[-1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the drawing copy {child} outlived its kernel")
