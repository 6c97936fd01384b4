"""Static HTML export of an executed report notebook: no code, no prompts, nothing fetched from the network."""

from __future__ import annotations

import copy
import os
import re

import nbformat

__all__ = ["notebook_to_html", "external_references"]

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
@media print { .jp-Cell { break-inside: avoid; } }
</style>
{%- endblock extra_css -%}
"""

_STYLE_RE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.DOTALL | re.IGNORECASE)
_CSS_COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)
_SRC_RE = re.compile(r"""\b(?:src|href)\s*=\s*["']?(?!data:|#)([^"'\s>]+)""", re.IGNORECASE)


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
    """Every ``src``/``href`` that is not a data URI or an in-page anchor (a self-contained report has none)."""
    return sorted(set(_SRC_RE.findall(html)))
