"""No private reach-ins: a module of rcmkit uses another rcmkit module's public names only (issue #14).

Every module under rcmkit/ is parsed (ast, nothing imported) and each of these is a reach-in:

* ``from rcmkit.x import _name`` (a private function, class or constant of another module);
* importing a private module (``rcmkit.metrics._common``) from outside its own package: inside rcmkit/metrics the
  metrics share ``_common``; everyone else imports those names from ``rcmkit.metrics``;
* ``module._name`` or ``Class._NAME`` where ``module`` / ``Class`` was imported from rcmkit.

Dunders (``__future__``, ``__version__``) are public. Names of other libraries are not checked (``sys._getframe``
is their business). What two modules share is made public (a documented name in its module) instead.
Which layer may import which is tests/test_import_layers.py's subject.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rcmkit"

#: Reach-ins waiting for their owner, with the reason: (importing file, reached name). An entry that no longer
#: occurs fails the test, so the list only shrinks.
KNOWN: dict[tuple[str, str], str] = {
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _module_allowed(target: str, importer: str) -> bool:
    """A private module (``a.b._c``) may be imported by the modules of its own package (``a.b`` and below)."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            package = ".".join(parts[:i])
            if not (importer == package or importer.startswith(package + ".")):
                return False
    return True


def reach_ins(source: str, module: str, is_package: bool = False) -> list[str]:
    """The private names of other rcmkit modules that ``source`` (the module ``module``) uses, as dotted names."""
    tree = ast.parse(source)
    found: list[str] = []
    bound: dict[str, str] = {}  # local name -> the rcmkit module or object it was imported as
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "rcmkit":
                    continue
                if not _module_allowed(alias.name, module):
                    found.append(alias.name)
                bound[alias.asname or "rcmkit"] = alias.name if alias.asname else "rcmkit"
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package)
            if target.split(".")[0] != "rcmkit":
                continue
            if not _module_allowed(target, module):
                found.append(target)
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{target}.{alias.name}")
                bound[alias.asname or alias.name] = f"{target}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base, path = node.value, []
            while isinstance(base, ast.Attribute):
                path.insert(0, base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in bound:
                found.append(".".join([bound[base.id], *path, node.attr]))
    return found


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, _module_name(path), path.name == "__init__.py"


def test_no_module_reaches_into_another_modules_private_names():
    seen, problems = set(), []
    for path, module, is_package in _modules():
        rel = path.relative_to(ROOT).as_posix()
        for name in reach_ins(path.read_text(encoding="utf-8"), module, is_package):
            if (rel, name) in KNOWN:
                seen.add((rel, name))
            else:
                problems.append(f"{rel}: {name}")
    assert not problems, "private reach-ins (make the name public in its module instead):\n" + "\n".join(problems)
    stale = sorted(set(KNOWN) - seen)
    assert not stale, f"KNOWN reach-ins that no longer occur, remove them from tests/test_layers.py: {stale}"


def test_every_module_was_checked():
    """The walk finds rcmkit's modules (not an empty list that would pass vacuously)."""
    names = {module for _, module, _ in _modules()}
    assert {"rcmkit.metrics._common", "rcmkit.metrics.denials", "rcmkit.explorer.filters",
            "rcmkit.core.refdata"} <= names and len(names) > 40


@pytest.mark.parametrize("source,module,expected", [
    ("from rcmkit.metrics.denials import _in_month, clean_claim_rate", "rcmkit.metrics.summary",
     ["rcmkit.metrics.denials._in_month"]),
    ("from rcmkit.metrics._common import with_tables", "rcmkit.explorer.filters", ["rcmkit.metrics._common"]),
    ("import rcmkit.metrics._common as common", "rcmkit.explorer.views", ["rcmkit.metrics._common"]),
    ("from rcmkit.metrics import ar\nar._posted_in(x)", "rcmkit.metrics.collections", ["rcmkit.metrics.ar._posted_in"]),
    ("from rcmkit.metrics import MetricOptions\nMetricOptions._CHOICES", "rcmkit.explorer.filters",
     ["rcmkit.metrics.MetricOptions._CHOICES"]),
    ("import rcmkit.metrics\nrcmkit.metrics.ar._UPPER", "rcmkit.report.model", ["rcmkit.metrics.ar._UPPER"]),
    ("from ._common import _period", "rcmkit.metrics.ar", ["rcmkit.metrics._common._period"]),
    ("from ..metrics._common import KPI", "rcmkit.explorer.data", ["rcmkit.metrics._common"]),
    # allowed: the package's own private module, dunders, other libraries' names, a private local alias
    ("from rcmkit.metrics._common import KPI", "rcmkit.metrics.ar", []),
    ("from ._common import KPI", "rcmkit.metrics", []),
    ("from __future__ import annotations\nfrom rcmkit import __version__", "rcmkit.cli", []),
    ("import sys\nsys._getframe()\nfrom os import _exit", "rcmkit.cli", []),
    ("from importlib.metadata import version as _v", "rcmkit", []),
    ("from rcmkit.metrics.denials import in_month\nin_month(x)._frame", "rcmkit.metrics.summary", []),
])
def test_reach_ins_are_found(source, module, expected):
    """The checker itself, on small sources: each reach-in form is caught and the allowed forms are not."""
    assert reach_ins(source, module, is_package=module in ("rcmkit", "rcmkit.metrics")) == expected
