"""Exports of an executed report notebook: static HTML (no code, no prompts, nothing fetched from the network), a
PDF printed from that HTML by headless Chromium.

The PDF avoids LaTeX (which drops images) and ``nbconvert --to webpdf`` (which insists on Playwright's own
browser download): it prints a print version of the HTML (:func:`print_html`: each section on a new page, tables
longer than :data:`LONG_TABLE_ROWS` rows shortened to their top rows with the full table in an appendix) with the
system's Chromium (Debian's ``chromium``), on US Letter pages whose page breaks never cut a chart, a tile, a short
table or a table row, with the practice, the month and "Page X of Y" on every page, printed from CSS page-margin
boxes (Chromium 131 and later) by Playwright (when installed) or, without it, by the Chromium command line, so
Playwright is not a runtime dependency.
The slide deck is built from the report model, not from the notebook: :mod:`rcmkit.report.deck`.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import nbformat
from rcmkit.errors import RcmkitError

__all__ = ["notebook_to_html", "external_references", "html_to_pdf", "print_html",
           "find_chromium", "Printer", "PdfError", "ChromiumNotFound", "CHROMIUM_FLAGS", "PDF_TIMEOUT", "LONG_TABLE_ROWS",
           "TOP_ROWS"]

#: Flags for a headless Chromium that touches no network service and no profile of the user's.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
PDF_TIMEOUT = 60.0
#: In the PDF, a table with more body rows than this shows its first :data:`TOP_ROWS` rows and moves to the appendix.
LONG_TABLE_ROWS = 25
TOP_ROWS = 12

#: Print layout of a report page (in the HTML for a browser's print, and added again by :func:`print_html`).
_PRINT_RULES = r"""
@page { size: Letter; margin: 0.6in 0.45in 0.6in 0.45in; }
@media print {
  html, body { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { max-width: none; margin: 0; }
  .jp-Notebook { padding: 0; }
  .jp-Cell { padding: 2px 0; }
  figure, img, svg, tr, .rcm-tile, .rcm-summary, .rcm-title, .jp-OutputArea-output:has(img), table.rcm-keep {
    break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  .rcm-prose p:last-child { break-after: avoid; page-break-after: avoid; }
  .rcm-section { break-before: page; page-break-before: always; }
  .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output { overflow: visible !important; }
  .rcm-tiles { grid-template-columns: repeat(3, 1fr); }
  table.rcm.rcm-table { font-size: .72em; }
  table.rcm.rcm-table th, table.rcm.rcm-table td { padding: 3px 5px; }
  table.rcm.rcm-table td:has(> .rcm-swatch) { min-width: 1.75in; }
  table.rcm.rcm-table th.num, table.rcm.rcm-table td.num { white-space: nowrap; }
  /* Chromium prints collapsed table borders slowly (about 1.5 s of CPU of each report's PDF, issue #15): the
     same lines as separate borders, where the collapsed ones would merge: above a total row its 2 px line alone;
     above a group's first row the line of the row above (the upper of two 1 px borders wins a collapse). */
  :root table.rcm.rcm-table { border-collapse: separate; border-spacing: 0; }
  :root table.rcm.rcm-table tr:has(+ tr.rcm-total) > td { border-bottom: none; }
  :root table.rcm.rcm-table tr.rcm-first > td { border-top: none; }
  .jp-RenderedHTMLCommon { font-size: 12px; }
  .rcm-appendix { break-before: page; page-break-before: always; }
}
"""

# The lab template without the script tags it loads from CDNs (require.js, MathJax, mermaid): a report is a
# self-contained file that opens offline and prints the same in five years.
_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{#- Markdown prose as document text: no input area, no prompt column. -#}
{% block markdowncell scoped %}
<div class="jp-Cell jp-MarkdownCell jp-Notebook-cell rcm-prose">
<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput" data-mime-type="text/markdown">
{{ cell.source | markdown2html | strip_files_prefix }}
</div>
</div>
{%- endblock markdowncell %}
{%- block extra_css -%}
<style type="text/css">
body { max-width: 1180px; margin: 0 auto; }
.jp-Notebook { padding: 12px 24px; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
""" + _PRINT_RULES + r"""</style>
{%- endblock extra_css -%}
"""

_STYLE_RE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.DOTALL | re.IGNORECASE)
_CSS_COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)


def _report_cells(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """A copy of ``nb`` without stderr outputs and without code cells that show nothing; and the stderr count."""
    nb = copy.deepcopy(nb)
    n_stderr = 0
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            kept = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    n_stderr += 1
                    continue
                kept.append(out)
            if not kept:
                continue  # a code cell that shows nothing has no place in the report (nor its random cell id)
            cell["outputs"] = kept
        cells.append(cell)
    nb.cells = cells
    return nb, n_stderr


def notebook_to_html(nb: nbformat.NotebookNode | str | os.PathLike, *, title: str | None = None) -> tuple[str, int]:
    """Render an executed notebook to static HTML without inputs or prompts.

    Returns ``(html, n_stderr)``: stderr stream outputs (warnings a library printed) are left out of the HTML
    and counted, so the caller can mention them; code cells without output are left out. Images stay embedded
    as data URIs. The same executed notebook always gives the same bytes.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    if not isinstance(nb, nbformat.NotebookNode):
        nb = nbformat.read(os.fspath(nb), as_version=4)
    nb, n_stderr = _report_cells(nb)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"rcmkit_report.html.j2": _TEMPLATE})],
        template_file="rcmkit_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        embed_images=True,
    )
    resources = {"metadata": {"name": title or "rcmkit report"}}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    # The theme CSS is ~300 kB of which a good part is comments (with links to design docs): drop them.
    html = _STYLE_RE.sub(lambda m: m.group(1) + _CSS_COMMENT_RE.sub("", m.group(2)) + m.group(3), html)
    return html, n_stderr


_WARM_HTML: list[bool] = []  # set once this process has rendered a notebook (warm_up_html)


def warm_up_html() -> None:
    """Render a one-cell notebook to HTML, once per process, and forget it: the first :func:`notebook_to_html`
    pays for importing nbconvert and compiling its templates and Markdown parser (about 1 s); ``run_report`` calls
    this on a thread while the kernel runs the notebook, so the report's own export does not. Never raises."""
    if _WARM_HTML:
        return
    _WARM_HTML.append(True)
    try:
        from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

        cell = new_code_cell("x", execution_count=1, outputs=[new_output(
            "display_data", data={"text/html": "<p>x</p>", "image/png": "iVBORw0KGgo=", "text/plain": "x"})])
        notebook_to_html(new_notebook(cells=[new_markdown_cell("## x\n*x* **x** [x](#x)"), cell]), title="x")
    except Exception:  # noqa: BLE001 - only a head start; the real export reports its own errors
        pass


def external_references(html: str) -> list[str]:
    """Every ``src``/``href`` attribute of an element that is not a data URI or an in-page anchor, sorted (a
    self-contained report has none): :func:`rcmkit.report.run.external_resources`, which parses the HTML, so an
    escaped payer name such as ``&lt;img src=x&gt;`` in a table cell is text, not a reference."""
    from rcmkit.report.run import external_resources

    return external_resources(html)


# --------------------------------------------------------------------------------------------- print version
_PAGE_MARGIN = {"top": "0.6in", "right": "0.45in", "bottom": "0.6in", "left": "0.45in"}


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal: letters, digits and plain punctuation as they are, anything else (quotes,
    backslashes, ``<``, line breaks) as a CSS hex escape, so no text can end the string or the style element."""
    out = [ch if ch.isalnum() or ch in " .,-_()/&:'+#%" else f"\\{ord(ch):x} " for ch in text]
    return '"' + "".join(out) + '"'


def print_html(html: str, *, header: str | None = None, footer: str | None = None, margin_boxes: bool = False,
               long_rows: int = LONG_TABLE_ROWS, top_rows: int = TOP_ROWS) -> str:
    """The print version of a report's HTML (:func:`notebook_to_html`).

    Each section (a prose cell with a level-2 heading, after the first) starts a new page; a table of at most
    ``long_rows`` body rows is never split; a longer one shows its first ``top_rows`` rows and a line pointing to
    the appendix at the end of the document, which holds the full table (a table with merged cells moves there
    whole). ``margin_boxes``: write ``header`` (top left) and ``footer`` (bottom left) and "Page X of Y" (bottom
    right) as CSS page-margin boxes (how :func:`html_to_pdf` prints them, with either engine); without, the page
    has no header or footer.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    main = soup.find("main") or soup.body or soup
    seen_h2 = False
    for cell in main.find_all("div", class_="jp-Cell", recursive=False):
        if cell.find("h2"):
            if seen_h2:
                cell["class"] = [*cell.get("class", []), "rcm-section"]
            seen_h2 = True
    appendix = []
    for table in soup.find_all("table", class_="rcm-table"):
        body = table.find("tbody") or table
        rows = body.find_all("tr", recursive=False)
        if len(rows) <= long_rows:
            table["class"] = [*table.get("class", []), "rcm-keep"]
            continue
        n = len(appendix) + 1
        caption = table.find("caption")
        name = caption.get_text(" ", strip=True) if caption else "Table"
        full = copy.copy(table)
        merged = table.find(attrs={"rowspan": True}) is not None
        note = soup.new_tag("p", attrs={"class": "rcm-note rcm-appendix-ref"})
        if merged:
            note.string = f"{name}: {len(rows)} rows, in the appendix (table A{n})."
            table.replace_with(note)
        else:
            for tr in rows[top_rows:]:
                if "rcm-total" not in (tr.get("class") or []):  # a total row stays under the top rows
                    tr.decompose()
            note.string = f"The first {top_rows} of {len(rows)} rows; the full table is in the appendix (table A{n})."
            table.insert_after(note)
        appendix.append((n, name, full))
    if appendix:
        section = soup.new_tag("section", attrs={"class": "rcm-appendix jp-RenderedHTMLCommon"})
        h2 = soup.new_tag("h2")
        h2.string = "Appendix: full tables"
        section.append(h2)
        for n, name, full in appendix:
            h3 = soup.new_tag("h3", attrs={"id": f"appendix-a{n}"})
            h3.string = f"A{n}. {name}"
            section.append(h3)
            section.append(full)
        main.append(section)
    rules = soup.new_tag("style")
    rules.string = _PRINT_RULES
    (soup.head or main).append(rules)
    if not margin_boxes:  # no header or footer (none from an older page)
        rules.string += "@page { @top-left { content: none; } @bottom-left { content: none; } " \
                        "@bottom-right { content: none; } }"
    if margin_boxes and (header or footer):
        font = "font: 8px sans-serif; color: #666;"
        boxes = "@page { "
        if header:
            boxes += f"@top-left {{ content: {_css_string(header)}; {font} }} "
        if footer:
            boxes += f"@bottom-left {{ content: {_css_string(footer)}; {font} }} "
        boxes += f'@bottom-right {{ content: "Page " counter(page) " of " counter(pages); {font} }} }}'
        style = soup.new_tag("style")
        style.string = boxes
        (soup.head or main).append(style)
    return str(soup)



# --------------------------------------------------------------------------------------------- PDF
class PdfError(RcmkitError, RuntimeError):
    """The PDF could not be printed. ``str(err)`` is one line for the user."""


class ChromiumNotFound(PdfError):
    def __init__(self) -> None:
        super().__init__("chromium not found")


def find_chromium() -> str | None:
    """The Chromium to print with: ``$RCMKIT_CHROMIUM``, else ``chromium`` (Debian), ``chromium-browser`` or
    Google Chrome on the PATH; None when there is none."""
    env = os.environ.get("RCMKIT_CHROMIUM")
    if env:
        return env if Path(env).is_file() or shutil.which(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(
    html_path: str | os.PathLike, pdf_path: str | os.PathLike, *, chromium: str | None = None,
    timeout: float = PDF_TIMEOUT, header: str | None = None, footer: str | None = None, engine: str = "auto",
    printer: "Printer | None" = None,
) -> Path:
    """Print the print version (:func:`print_html`) of ``html_path`` to ``pdf_path`` on US Letter pages.

    ``header``/``footer``: text on every page's top/bottom left (e.g. the practice and the month); the bottom
    right says "Page X of Y". ``engine``: ``"playwright"`` (the system's Chromium driven by Playwright),
    ``"cli"`` (``chromium --headless --print-to-pdf``), or
    ``"auto"``: Playwright when it is installed and prints, else the command line. ``printer``: a
    :class:`Printer` (one browser kept for many PDFs) to print with instead of a new browser. Raises
    :class:`ChromiumNotFound` when there is no Chromium, :class:`PdfError` when printing fails.
    """
    if engine not in ("auto", "playwright", "cli"):
        raise ValueError(f"engine must be auto, playwright or cli, not {engine!r}")
    exe = chromium or find_chromium()
    if not exe:
        raise ChromiumNotFound()
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path).resolve()
    tmp_pdf = pdf_path.with_name(pdf_path.name + ".tmp")
    source = html_path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="rcmkit-chromium-") as profile:
        page = Path(profile) / "print" / html_path.name  # one print version for either engine
        page.parent.mkdir()
        page.write_text(print_html(source, header=header, footer=footer, margin_boxes=True), encoding="utf-8")
        printed = False
        if engine in ("auto", "playwright"):
            try:
                if printer is not None and printer.chromium == exe:
                    printer.print_pdf(page, tmp_pdf, timeout=timeout, name=html_path.name)
                else:
                    _print_playwright(exe, page, tmp_pdf, timeout=timeout, name=html_path.name)
                printed = True
            except _PrintTimeout:
                tmp_pdf.unlink(missing_ok=True)
                raise
            except Exception as exc:  # noqa: BLE001 - no Playwright, or it cannot drive this browser: the CLI
                tmp_pdf.unlink(missing_ok=True)
                if engine == "playwright":
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise PdfError(f"playwright could not print {html_path.name}: {first}") from None
        if not printed:
            _print_cli(exe, page, tmp_pdf, profile=Path(profile) / "profile", timeout=timeout)
    ok = tmp_pdf.is_file() and tmp_pdf.stat().st_size > 0 and tmp_pdf.read_bytes()[:5] == b"%PDF-"
    if not ok:
        tmp_pdf.unlink(missing_ok=True)
        raise PdfError(f"chromium could not print {html_path.name}: no PDF written")
    from rcmkit.core import store
    store.restrict(tmp_pdf)  # Chromium writes with the umask; the PDF is private like every report file
    os.replace(tmp_pdf, pdf_path)
    return pdf_path


class _PrintTimeout(PdfError):
    """The browser did not finish printing in time (it was killed): not worth a second try on another engine."""


def _print_playwright(exe: str, page_path: Path, pdf: Path, *, timeout: float, name: str | None = None) -> None:
    """Print ``page_path`` with Playwright on the system's Chromium, in a child process of its own session, so
    the whole of it (Playwright's driver, the browser and its helpers) is killed after ``timeout`` seconds:
    Playwright bounds the launch and the page load, but not ``page.pdf``, which can hang on a broken page."""
    import json
    import sys

    job = json.dumps({"exe": exe, "page": str(page_path), "pdf": str(pdf), "timeout": timeout})
    code, last = _run_printer([sys.executable, "-m", "rcmkit.report.export", job], pdf, timeout=timeout,
                              name=name or page_path.name, what="the printer")
    if code != 0:
        raise PdfError(last or f"the printer exited with {code}")


def _run_printer(cmd: list[str], pdf: Path, *, timeout: float, name: str, what: str,
                 env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run a printing process in a session of its own; after ``timeout`` seconds kill it whole (browser, helpers)
    and raise :class:`_PrintTimeout`. Returns its exit code and the last line it wrote on stderr."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env=None if env is None else dict(env))
    except OSError as exc:
        raise PdfError(f"cannot start {what}: {exc.strerror or exc}") from None
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        pdf.unlink(missing_ok=True)
        raise _PrintTimeout(f"chromium did not finish printing {name} within {timeout:.0f} s") from None
    finally:
        _kill_group(proc)  # helper processes left behind by a finished browser
    lines = [ln.strip() for ln in (err or b"").decode("utf-8", "replace").splitlines() if ln.strip()]
    return proc.returncode, (lines[-1] if lines else "")


def _print_page(browser, page: str, pdf: str, ms: float) -> None:
    """Print ``page`` (a :func:`print_html` page with its margin boxes: header, footer, "Page X of Y") to ``pdf`` in
    a new browser context of ``browser`` (closed afterwards: nothing of one report stays for the next); any request
    to a host other than the file is refused. The page's margin boxes, not Playwright's header and footer
    templates (which Chromium lays out as a document of their own for every page: about 0.3 s of CPU of a 24-page
    report), print the header and footer, as the command line does."""
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                  else route.abort())
        tab.goto(Path(page).as_uri(), wait_until="load", timeout=ms)  # page.pdf lays it out for print media itself
        tab.pdf(path=pdf, format="Letter", print_background=True, margin=_PAGE_MARGIN)
    finally:
        context.close()


def _playwright_print(exe: str, page: str, pdf: str, timeout: float) -> None:
    """The child's work (:func:`_print_playwright`): one browser for one page."""
    from playwright.sync_api import sync_playwright

    from rcmkit.report.browser import LAUNCH_ARGS

    ms = max(1000.0, timeout * 1000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=LAUNCH_ARGS, timeout=ms)
        try:
            _print_page(browser, page, pdf, ms)
        finally:
            browser.close()


def _serve(exe: str) -> None:
    """The :class:`Printer`'s child process: launch the browser at once, then print each job read from stdin (one
    JSON object a line) and answer each on stdout (``{"ok": true}`` or ``{"error": "..."}``); a browser that
    crashed is launched again for the next job. Ends when stdin closes."""
    import json
    import sys

    from playwright.sync_api import sync_playwright

    from rcmkit.report.browser import LAUNCH_ARGS

    with sync_playwright() as p:
        browser = None

        def launch():
            return p.chromium.launch(executable_path=exe, args=LAUNCH_ARGS, timeout=max(1000.0, PDF_TIMEOUT * 1000))

        try:
            browser = launch()
        except Exception:  # noqa: BLE001 - said again, with the reason, when the first job asks for it
            browser = None
        try:
            for line in sys.stdin:
                try:
                    job = json.loads(line)
                    if browser is None or not browser.is_connected():
                        browser = launch()
                    _print_page(browser, job["page"], job["pdf"], max(1000.0, job["timeout"] * 1000))
                    reply = {"ok": True}
                except Exception as exc:  # noqa: BLE001 - one line for the parent
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    reply = {"error": f"{type(exc).__name__}: {first}"}
                sys.stdout.write(json.dumps(reply) + "\n")
                sys.stdout.flush()
        finally:
            if browser is not None:
                try:
                    browser.close()
                except Exception:  # noqa: BLE001 - a crashed browser
                    pass


class Printer:
    """One browser kept for many PDFs (``rcmkit run-monthly``'s workers, or started while a report's notebook
    runs): a child process in a session of its own (:func:`_serve`) that launches the system's Chromium through
    Playwright once and prints each page it is sent in a new browser context. Launching Python, Playwright and
    Chromium for every PDF cost about 2 to 3 s of each report.

    The same guarantees as one browser per PDF: a job that takes longer than its timeout kills the whole process
    group (browser and helpers) and raises the timeout error, and the next job starts a new one; a printer that
    died (a crashed browser, a killed process) is replaced, and the job that found it dead is tried once more on
    the new one. :meth:`close` (also on ``with``) ends it and its browser."""

    def __init__(self, chromium: str | None = None) -> None:
        self.chromium = chromium or find_chromium()
        self.proc: subprocess.Popen | None = None
        self._stderr = None
        self.jobs = 0  # PDFs printed by the current process (a replaced printer starts again at 0)

    def __enter__(self) -> "Printer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> "Printer":
        """Start the child and its browser now (they launch while the caller does other work); returns at once."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self._stop()
        if not self.chromium:
            raise ChromiumNotFound()
        import json
        import sys

        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rcmkit.report.export", "--serve", json.dumps({"exe": self.chromium})],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True)
        except OSError as exc:
            self._stop()
            raise PdfError(f"cannot start the printer: {exc.strerror or exc}") from None
        self.jobs = 0
        return self

    def print_pdf(self, page: str | os.PathLike, pdf: str | os.PathLike, *, timeout: float = PDF_TIMEOUT,
                  name: str | None = None) -> None:
        """Print the HTML file ``page`` to ``pdf``; raises :class:`PdfError` (the timeout error after
        ``timeout`` seconds, when the printer was killed)."""
        name = name or Path(page).name
        for attempt in (1, 2):
            fresh = self.proc is None or self.proc.poll() is not None
            self.start()
            try:
                self._job(Path(page), Path(pdf), timeout, name)
                self.jobs += 1
                return
            except _PrinterDied as exc:
                self._stop()
                if fresh or attempt == 2:  # a new printer that died is not worth a third start
                    raise PdfError(f"the printer stopped while printing {name}: {exc}") from None

    def _job(self, page: Path, pdf: Path, timeout: float, name: str) -> None:
        import json
        import selectors
        import time

        job = {"page": str(page), "pdf": str(pdf), "timeout": timeout}
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _PrinterDied(self._last_error() or "it had exited") from None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                if time.monotonic() >= deadline:
                    self._stop()
                    pdf.unlink(missing_ok=True)
                    raise _PrintTimeout(f"chromium did not finish printing {name} within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise _PrinterDied(self._last_error() or f"exit {self.proc.wait()}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise PdfError(f"playwright could not print {name}: {reply.get('error', 'unknown error')}")

    def _last_error(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            lines = [ln.strip() for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return ""
        return lines[-1] if lines else ""

    def _stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        """End the printer: close its input (the browser closes), then kill what is left of its process group."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._stop()


class _PrinterDied(PdfError):
    """The printer process ended (or its pipe broke) before answering a job."""


def _print_cli(exe: str, page_path: Path, pdf: Path, *, profile: Path, timeout: float) -> None:
    """``chromium --headless --print-to-pdf`` of ``page_path`` with a fresh profile; killed (with its helper
    processes) after ``timeout`` seconds."""
    profile.mkdir(exist_ok=True)
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf}", page_path.as_uri()]
    code, last = _run_printer(cmd, pdf, timeout=timeout, name=page_path.name, what=exe,
                              env={**os.environ, "HOME": str(profile)})
    ok = pdf.is_file() and pdf.stat().st_size > 0 and pdf.read_bytes()[:5] == b"%PDF-"
    if code != 0 or not ok:
        pdf.unlink(missing_ok=True)
        raise PdfError(f"chromium could not print {page_path.name} (exit {code}): {last or 'no output'}")


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the browser's process group (the browser and its helpers) and reap it, closing its pipes."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError):  # pragma: no cover - pipes already closed
        pass


if __name__ == "__main__":  # the Playwright printer's child process (_print_playwright)
    import json as _json
    import sys as _sys

    if _sys.argv[1] == "--serve":  # a Printer's child: many jobs on one browser
        _serve(_json.loads(_sys.argv[2])["exe"])
        raise SystemExit(0)
    try:
        _job = _json.loads(_sys.argv[1])
        _playwright_print(_job["exe"], _job["page"], _job["pdf"], _job["timeout"])
    except Exception as _exc:  # noqa: BLE001 - one line for the parent, which falls back to the command line
        _first = (str(_exc).strip().splitlines() or [type(_exc).__name__])[0]
        print(f"{type(_exc).__name__}: {_first}", file=_sys.stderr)
        raise SystemExit(1) from None

