"""One browser kept for many PDFs (rcmkit.report.export.Printer, run-monthly's workers): it prints several reports
on one process, closes its browser when closed, is replaced when it crashed, and is killed whole when a job hangs.

The fake-printer tests stand a shell script in for the Python child (as test_pdf.py's hanging-print test does), so
they run without Chromium; the real ones are marked ``browser``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from rcmkit.report import export
from rcmkit.report.export import PdfError, Printer, find_chromium, html_to_pdf

FOOTER = "Lakeside \u00b7 March 2026"


def _page(path, heading: str):
    path.write_text(f"<!doctype html><html><body><h2>{heading}</h2><p>{'text ' * 200}</p></body></html>",
                    encoding="utf-8")
    return path


def _pdf_text(pdf) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed")
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _gone(pid: int, within: float = 5.0) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie waiting for its parent) within ``within`` seconds: a
    SIGKILL to a process group is delivered to each member asynchronously."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def _group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().split(")")[-1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _real_printer():
    if find_chromium() is None:
        pytest.skip("chromium not found")
    pytest.importorskip("playwright")
    return Printer()


@pytest.mark.browser
def test_one_printer_prints_many_reports_on_one_browser_and_closes_it(tmp_path):
    printer = _real_printer()
    with printer:
        printer.start()
        pid = printer.proc.pid
        for name in ("alpha", "beta", "gamma"):
            pdf = html_to_pdf(_page(tmp_path / f"{name}.html", f"Report {name}"), tmp_path / f"{name}.pdf",
                              header="Monthly revenue cycle report", footer=FOOTER, printer=printer)
            text = _pdf_text(pdf)
            assert f"Report {name}" in text and FOOTER in text and "Page 1 of 1" in text
            others = {"alpha", "beta", "gamma"} - {name}
            assert not any(f"Report {o}" in text for o in others)  # one report per PDF, nothing carried over
        assert printer.proc.pid == pid and printer.jobs == 3  # the same child printed all three
        assert len(_group(pid)) > 1  # the child and its browser (with helpers) are alive between jobs
    assert printer.proc is None
    deadline = time.monotonic() + 10
    while _group(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group(pid) == [], "the browser outlived its printer"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.{e}" for n in ("alpha", "beta", "gamma") for e in ("html", "pdf"))


@pytest.mark.browser
def test_a_crashed_printer_is_replaced_and_the_report_still_prints(tmp_path):
    printer = _real_printer()
    with printer:
        html_to_pdf(_page(tmp_path / "a.html", "First"), tmp_path / "a.pdf", footer=FOOTER, printer=printer)
        first = printer.proc.pid
        os.killpg(first, 9)  # the browser and the child die between two reports
        printer.proc.wait()
        pdf = html_to_pdf(_page(tmp_path / "b.html", "Second"), tmp_path / "b.pdf", footer=FOOTER, printer=printer)
        assert "Second" in _pdf_text(pdf)
        assert printer.proc.pid != first and printer.jobs == 1


def _fake_child(tmp_path, monkeypatch, body: str):
    """A printer child that is a shell script: ``body`` runs with the job lines on stdin."""
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(script))
    return script


def test_a_hanging_job_kills_the_printer_whole_and_the_next_job_starts_a_new_one(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    # reads the job, starts a "browser" (sleep) in its group, never answers
    _fake_child(tmp_path, monkeypatch, f"sleep 60 &\necho $$ $! >> {pids}\nread job\nwait\n")
    printer = Printer(chromium="/bin/true")
    page = _page(tmp_path / "r.html", "x")
    started = time.monotonic()
    with pytest.raises(PdfError, match="^chromium did not finish printing r.html within 1 s$"):
        printer.print_pdf(page, tmp_path / "r.pdf", timeout=1)
    assert time.monotonic() - started < 10
    assert printer.proc is None
    first = [int(p) for p in pids.read_text().split()]
    assert all(_gone(pid) for pid in first), "the printer or its browser outlived the timeout"
    with pytest.raises(PdfError, match="within 1 s"):  # a new printer for the next job
        printer.print_pdf(page, tmp_path / "r.pdf", timeout=1)
    second = [int(p) for p in pids.read_text().split()][2:]
    assert len(second) == 2 and not set(second) & set(first)
    assert all(_gone(pid) for pid in second)
    printer.close()


def test_a_printer_that_dies_on_its_first_job_says_why_and_is_not_restarted_forever(tmp_path, monkeypatch):
    starts = tmp_path / "starts"
    _fake_child(tmp_path, monkeypatch, f"echo start >> {starts}\nread job\necho 'ImportError: no playwright' >&2\n"
                                       "exit 3\n")
    printer = Printer(chromium="/bin/true")
    with pytest.raises(PdfError, match="^the printer stopped while printing r.html: ImportError: no playwright$"):
        printer.print_pdf(_page(tmp_path / "r.html", "x"), tmp_path / "r.pdf", timeout=20)
    assert starts.read_text().split() == ["start"]  # a fresh printer that died is not started again
    printer.close()


def test_a_printer_that_died_between_jobs_is_tried_once_more_on_a_new_one(tmp_path, monkeypatch):
    """The first job is answered; the child then exits. The second job finds it dead (it was not fresh), so a new
    child is started, and that one's answer counts."""
    starts = tmp_path / "starts"
    _fake_child(tmp_path, monkeypatch, f"echo start >> {starts}\nread job\necho '{{\"ok\": true}}'\nexit 0\n")
    printer = Printer(chromium="/bin/true")
    page = _page(tmp_path / "r.html", "x")
    printer.print_pdf(page, tmp_path / "r.pdf", timeout=20)
    assert printer.jobs == 1
    printer.proc.wait()
    printer.print_pdf(page, tmp_path / "r.pdf", timeout=20)  # EOF on the old child: retried on a new one
    assert starts.read_text().split() == ["start", "start"] and printer.jobs == 1
    printer.close()


def test_an_error_answer_is_one_line_and_keeps_the_printer(tmp_path, monkeypatch):
    _fake_child(tmp_path, monkeypatch, "while read job; do echo '{\"error\": \"TimeoutError: page.goto\"}'; done\n")
    printer = Printer(chromium="/bin/true")
    page = _page(tmp_path / "r.html", "x")
    with pytest.raises(PdfError, match="^playwright could not print r.html: TimeoutError: page.goto$"):
        printer.print_pdf(page, tmp_path / "r.pdf", timeout=20)
    pid = printer.proc.pid
    with pytest.raises(PdfError):
        printer.print_pdf(page, tmp_path / "r.pdf", timeout=20)
    assert printer.proc.pid == pid  # a page that failed does not cost a new browser
    printer.close()
    assert printer.proc is None and _gone(pid)


def test_html_to_pdf_falls_back_to_the_command_line_when_the_printer_cannot_print(tmp_path, monkeypatch):
    """engine="auto" with a printer that answers an error prints with ``chromium --print-to-pdf`` instead, as it
    does when the one-off Playwright child fails (here a fake chromium writes the PDF)."""
    _fake_child(tmp_path, monkeypatch, "while read job; do echo '{\"error\": \"Error: no browser\"}'; done\n")
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do case $a in --print-to-pdf=*) printf '%%PDF-1.4 fake' > "
                    "\"${a#--print-to-pdf=}\";; esac; done\n")
    fake.chmod(0o755)
    printer = Printer(chromium=str(fake))
    pdf = html_to_pdf(_page(tmp_path / "r.html", "x"), tmp_path / "r.pdf", chromium=str(fake), printer=printer)
    assert pdf.read_bytes().startswith(b"%PDF-1.4 fake")
    printer.close()


def test_close_without_start_and_twice_is_harmless():
    printer = Printer(chromium="/bin/true")
    printer.close()
    printer.close()
    assert printer.proc is None
    assert export.Printer(chromium=None).chromium in (None, find_chromium())
