"""The package's layers import downwards only (issue #14): core knows nothing above it, metrics never format or
render, and present (formatting, tiles, charts, narrative) never reaches up into the report or the explorer.

Every import of every module is checked, the lazy ones inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rcmkit"

#: What each layer may not import (a prefix matches the module and everything under it).
FORBIDDEN = {
    "core": ("rcmkit.ingest", "rcmkit.metrics", "rcmkit.present", "rcmkit.report", "rcmkit.explorer",
             "rcmkit.demo", "rcmkit.cli", "rcmkit.scrub", "rcmkit.forecast"),
    "metrics": ("rcmkit.ingest", "rcmkit.present", "rcmkit.report", "rcmkit.explorer", "rcmkit.demo", "rcmkit.cli",
                "rcmkit.scrub", "rcmkit.forecast"),
    "present": ("rcmkit.report", "rcmkit.explorer", "rcmkit.demo", "rcmkit.cli", "rcmkit.scrub", "rcmkit.forecast"),
    # the claim scrubber (issue #17) reads with ingest, classifies with core/metrics, formats with present
    "scrub": ("rcmkit.report", "rcmkit.explorer", "rcmkit.demo", "rcmkit.cli"),
    # the cash forecast (issue #18) reads the canonical tables and the metrics' ledger, nothing above them
    "forecast": ("rcmkit.ingest", "rcmkit.present", "rcmkit.report", "rcmkit.explorer", "rcmkit.demo", "rcmkit.cli",
                 "rcmkit.scrub"),
}


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source`` (the code of ``module``, e.g. ``rcmkit.present.tiles``);
    ``from a import b`` counts as ``a.b`` (b may be a module) and relative imports are resolved."""
    out = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return sorted(out)


def violations(layer: str, source: str, module: str) -> list[str]:
    bad = FORBIDDEN[layer]
    return [f"{module}:{line} imports {name}" for line, name in imported_modules(source, module)
            if any(name == b or name.startswith(b + ".") for b in bad)]


def _modules(layer: str) -> list[tuple[str, Path]]:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    return [(".".join(("rcmkit", *f.relative_to(PACKAGE).with_suffix("").parts)), f) for f in files]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer):
    modules = _modules(layer)
    assert modules, f"no modules under rcmkit/{layer}"
    found = [v for module, path in modules for v in violations(layer, path.read_text(encoding="utf-8"), module)]
    assert not found, "imports against the layering:\n" + "\n".join(found)


def test_the_check_sees_lazy_from_and_relative_imports():
    source = ("import rcmkit.core.schema\n"
              "def f():\n    from rcmkit.report.suite import worklist_summary\n"
              "def g():\n    from rcmkit import explorer\n"
              "from ..report import model\n"
              "from rcmkit.metrics.contracts import underpayment_totals\n")
    assert violations("present", source, "rcmkit.present.tiles") == [
        "rcmkit.present.tiles:3 imports rcmkit.report.suite.worklist_summary",
        "rcmkit.present.tiles:5 imports rcmkit.explorer",
        "rcmkit.present.tiles:6 imports rcmkit.report.model",
    ]
    assert violations("core", "from rcmkit import __version__\nfrom rcmkit.errors import RcmkitError\n",
                      "rcmkit.core.store") == []
    assert violations("core", "from rcmkit.metrics import KPI\n", "rcmkit.core.store") == [
        "rcmkit.core.store:1 imports rcmkit.metrics.KPI"]
    assert violations("metrics", "from rcmkit.present import format as fmt\n", "rcmkit.metrics.ar") == [
        "rcmkit.metrics.ar:1 imports rcmkit.present.format"]
