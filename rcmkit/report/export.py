"""Exports of an executed report notebook: static HTML (no code, no prompts, nothing fetched from the network), a
PDF printed from that HTML by headless Chromium, and a reveal.js slide deck.

The PDF avoids LaTeX (which drops images) and ``nbconvert --to webpdf`` (which insists on Playwright's own
browser download): it prints the HTML with the system's Chromium (Debian's ``chromium``), on US Letter pages
whose page breaks never cut a chart, a tile or a table row.
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

import nbformat
from rcmkit.errors import RcmkitError

__all__ = ["notebook_to_html", "notebook_to_slides", "external_references", "html_to_pdf", "find_chromium",
           "PdfError", "ChromiumNotFound", "CHROMIUM_FLAGS", "PDF_TIMEOUT"]

#: Flags for a headless Chromium that touches no network service and no profile of the user's.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
PDF_TIMEOUT = 60.0

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
@page { size: Letter; margin: 0.5in 0.45in 0.6in 0.45in;
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 9px sans-serif; color: #777; } }
@media print {
  html, body { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { max-width: none; margin: 0; }
  .jp-Notebook { padding: 0; }
  .jp-Cell { padding: 2px 0; }
  figure, img, svg, table, tr, .rcm-tile, .rcm-summary, .rcm-title, .jp-OutputArea-output:has(img) {
    break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h1, h2, h3, h4, .rcm-prose { break-after: avoid; page-break-after: avoid; }
  .rcm-prose { break-inside: avoid; page-break-inside: avoid; }
  .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output { overflow: visible !important; }
  .rcm-tiles { grid-template-columns: repeat(3, 1fr); }
  table.rcm.rcm-table { font-size: .72em; }
  table.rcm.rcm-table th, table.rcm.rcm-table td { padding: 3px 5px; }
  .jp-RenderedHTMLCommon { font-size: 12px; }
}
</style>
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


def external_references(html: str) -> list[str]:
    """Every ``src``/``href`` attribute of an element that is not a data URI or an in-page anchor, sorted (a
    self-contained report has none): :func:`rcmkit.report.run.external_resources`, which parses the HTML, so an
    escaped payer name such as ``&lt;img src=x&gt;`` in a table cell is text, not a reference."""
    from rcmkit.report.run import external_resources

    return external_resources(html)


def notebook_to_slides(nb: nbformat.NotebookNode | str | os.PathLike, *, title: str | None = None,
                       reveal_url_prefix: str | None = None) -> str:
    """The report as a reveal.js slide deck (nbconvert's SlidesExporter, no code, no prompts, images embedded).

    Slides follow the cells' ``slideshow.slide_type`` metadata in the notebook (one KPI view per slide). The
    deck loads reveal.js from ``reveal_url_prefix`` (default: nbconvert's CDN address, or the environment
    variable ``RCMKIT_REVEAL_PREFIX``, e.g. a local copy for presenting offline).
    """
    from nbconvert import SlidesExporter

    if not isinstance(nb, nbformat.NotebookNode):
        nb = nbformat.read(os.fspath(nb), as_version=4)
    nb, _ = _report_cells(nb)
    kw = {}
    prefix = reveal_url_prefix or os.environ.get("RCMKIT_REVEAL_PREFIX")
    if prefix:
        kw["reveal_url_prefix"] = prefix
    exporter = SlidesExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        embed_images=True,
        reveal_scroll=True,
        reveal_number="c/t",
        **kw,
    )
    out, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or "rcmkit report"}})
    return out


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
    timeout: float = PDF_TIMEOUT,
) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (Letter pages, no header or footer).

    Runs ``chromium --headless ... --no-pdf-header-footer --print-to-pdf=PDF file:///HTML`` with a fresh
    profile in a temporary folder, and kills it (and its helper processes) after ``timeout`` seconds.
    Raises :class:`ChromiumNotFound` when there is no Chromium, :class:`PdfError` when printing fails.
    """
    exe = chromium or find_chromium()
    if not exe:
        raise ChromiumNotFound()
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path).resolve()
    tmp_pdf = pdf_path.with_name(pdf_path.name + ".tmp")
    with tempfile.TemporaryDirectory(prefix="rcmkit-chromium-") as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--print-to-pdf={tmp_pdf}", html_path.as_uri()]
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, env={**os.environ, "HOME": profile})
        except OSError as exc:
            raise PdfError(f"cannot start {exe}: {exc.strerror or exc}") from None
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            tmp_pdf.unlink(missing_ok=True)
            raise PdfError(f"chromium did not finish printing {html_path.name} within {timeout:.0f} s") from None
        finally:
            _kill_group(proc)  # helper processes left behind by a finished browser
    ok = tmp_pdf.is_file() and tmp_pdf.stat().st_size > 0 and tmp_pdf.read_bytes()[:5] == b"%PDF-"
    if proc.returncode != 0 or not ok:
        tmp_pdf.unlink(missing_ok=True)
        lines = [ln.strip() for ln in (err or b"").decode("utf-8", "replace").splitlines() if ln.strip()]
        detail = lines[-1] if lines else "no output"
        raise PdfError(f"chromium could not print {html_path.name} (exit {proc.returncode}): {detail}")
    from rcmkit.core import store
    store.restrict(tmp_pdf)  # Chromium writes with the umask; the PDF is private like every report file
    os.replace(tmp_pdf, pdf_path)
    return pdf_path


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
