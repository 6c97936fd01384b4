"""Issue #13: the report's "external resource" check reads the HTML as HTML: escaped text such as a payer named
'<img src=x>' is text, not a resource; only real src/href attributes of elements count."""

from __future__ import annotations

import html as htmlmod

import pandas as pd
from nbformat.v4 import new_code_cell, new_notebook, new_output

from rcmkit.report.export import notebook_to_html
from rcmkit.report.run import external_resources

HOSTILE = ['<img src=x>', '<a href="http://evil.example/">BCX</a>', "src=//x.example/a.js", "href='y'",
           '<script src="http://x"></script>']


def test_escaped_text_is_never_a_resource():
    for name in HOSTILE:
        page = f"<html><body><table><tr><td>{htmlmod.escape(name)}</td></tr></table></body></html>"
        assert external_resources(page) == [], name


def test_attribute_text_and_script_text_are_not_resources():
    page = ('<html><head><script>var s = "<img src=http://js.example/a>"; // href=z</script>'
            '<style>/* src=q */</style></head><body>'
            '<img alt="src=x href=y" title="&lt;img src=x&gt;" src="data:image/png;base64,AAAA">'
            '<a href="#top">top</a><!-- <img src=http://comment.example/> --></body></html>')
    assert external_resources(page) == []


def test_real_attributes_still_count():
    page = ('<html><head><link rel="stylesheet" href="https://cdn.example/a.css">'
            '<script src="http://cdn.example/b.js"></script></head><body>'
            "<IMG SRC=x.png><a href='http://site.example/'>x</a><img src=\"data:image/png;base64,AA\"></body></html>")
    assert external_resources(page) == ["http://cdn.example/b.js", "http://site.example/", "https://cdn.example/a.css",
                                        "x.png"]


def test_report_html_with_a_hostile_payer_name_has_no_external_resource():
    """A payer table rendered by pandas (escaped, as the report does) in an exported notebook."""
    table = pd.DataFrame({"payer": ['<img src=x>', "=cmd|' /C calc'!A0", "href=evil"], "paid": [1.0, 2.0, 3.0]})
    nb = new_notebook(cells=[new_code_cell("t", outputs=[
        new_output("display_data", data={"text/html": table.to_html(escape=True)})], execution_count=1)])
    out, _ = notebook_to_html(nb, title="<img src=x>")
    assert "&lt;img src=x&gt;" in out
    assert external_resources(out) == []
