"""Report parameter files: read and validate them before any kernel starts.

A parameter file is a small YAML mapping (``parameters/demo.yaml``)::

    practice: demo          # folder under data_root (letters, digits, '-', '_', '.')
    data_root: data         # a folder inside the project: relative to the current directory (the project root)
    month: null             # "YYYY-MM" (quote it), or null for the last full month in the data
    output_root: reports    # reports land in <output_root>/<practice>/<YYYY-MM>/
    title: null             # optional report title
    practice_name: null     # optional display name ("Lakeside Family Medicine"); default: the practice folder
    metrics: {}             # metric options, see rcmkit.metrics.MetricOptions
    benchmarks: {}          # benchmark target overrides, e.g. {days_in_ar: {good: 35, acceptable: 45}}

Every problem raises :class:`ParamError`, whose message is one line naming the file, the key (and the line when
known) and what was expected, e.g. ``parameters/demo.yaml:3: month: expected a quoted "YYYY-MM" month such as
"2026-09", got '2026-9'``. The CLI prints it and exits with status 2.

Paths (``data_root``, ``output_root`` and the ``--output-root`` option) are confined to the project folder: the
current directory (``load_params(cwd=...)``). A relative path is resolved against it; an absolute path must lie
inside it; a ``..`` component is refused wherever it leads. Symbolic links inside the project are followed (the
project's owner put them there: ``data -> /mnt/rcm/data`` works). Set ``RCMKIT_ALLOW_OUTSIDE_ROOTS=1`` to allow
folders outside the project (any absolute path, or ``..``). ``practice`` is a plain folder name
(:data:`rcmkit.core.store.PRACTICE_NAME`), and ``output_root`` may not be ``data_root`` itself (reports would land in
the practices' table folders). Free text (``title``, ``practice_name``, a benchmark's ``source``) is data: the
report escapes it wherever it shows it, and papermill injects it as a Python string literal.

Scalars of the string keys are taken from the YAML text as written, so ``practice: 00123`` stays ``"00123"`` and
``month: 2026-09`` stays ``"2026-09"`` (YAML 1.1 would turn the first into the octal integer 83).

Anchors and aliases (``&x``/``*x``) are allowed for modest reuse, but a document whose aliases expand to more than
:data:`MAX_YAML_NODES` values, or that refers to itself, is refused before anything is built from it (a "billion
laughs" alias bomb would otherwise run for a minute into a MemoryError). Values quoted in messages are cut to
:data:`SHOWN_CHARS` characters with an ellipsis, so a message stays one short line whatever the file holds.
"""

from __future__ import annotations

import os
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from rcmkit.errors import RcmkitError

__all__ = ["ParamError", "ReportParams", "load_params", "validate_data", "check_month", "KEYS", "REQUIRED_TABLES",
           "ALLOW_OUTSIDE_ENV", "outside_roots_allowed", "confined_path"]

#: The keys a parameter file may hold, with what each expects (used in messages).
KEYS: dict[str, str] = {
    "practice": "a practice name (letters, digits, '-', '_' or '.')",
    "data_root": "a folder path",
    "month": 'a quoted "YYYY-MM" month, or null for the last full month in the data',
    "output_root": "a folder path",
    "title": "a string, or null",
    "practice_name": "a display name for the practice, or null",
    "metrics": "a mapping of metric options",
    "benchmarks": "a mapping of KPI: {good: N, acceptable: N} benchmark target overrides",
}
DEFAULTS: dict[str, Any] = {
    "data_root": "data", "month": None, "output_root": "reports", "title": None, "practice_name": None,
    "metrics": None, "benchmarks": None,
}
_MAPPINGS = ("metrics", "benchmarks")

#: The canonical tables a report reads; each must exist before the kernel starts.
REQUIRED_TABLES = ("payers", "claims", "claim_lines", "remittances", "remit_lines", "adjustments", "ledger")

#: Environment variable that lets ``data_root``/``output_root`` (and ``--output-root``) leave the project folder.
ALLOW_OUTSIDE_ENV = "RCMKIT_ALLOW_OUTSIDE_ROOTS"


#: Most values (scalars, list items, mapping entries) a parameter file may hold once its aliases are expanded.
MAX_YAML_NODES = 10_000
#: How much of a value a message quotes (longer values end in an ellipsis).
SHOWN_CHARS = 80
_MAX_MESSAGE = 600

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = SHOWN_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` bounded for a message: at most about ``limit`` characters, an ellipsis marking a cut. Never
    walks more than a few levels of a nested value (an expanded alias bomb costs nothing here)."""
    if isinstance(value, str):
        text = repr(value[:limit]) if len(value) <= limit else repr(value[:limit])[:-1] + "…" + repr(value)[-1]
    else:
        text = _repr.repr(value)
    return text if len(text) <= limit + 3 else text[:limit] + "…"


def _short(text: str, limit: int = 240) -> str:
    """The first line of ``text``, cut to ``limit`` characters with an ellipsis."""
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit else first[:limit] + "…"


class ParamError(RcmkitError, ValueError):
    """A parameter file (or a command-line override) is invalid. ``str(err)`` is one line for the user."""

    def __init__(self, source: str, key: str | None, message: str, line: int | None = None):
        message = " ".join(message.splitlines())
        if len(message) > _MAX_MESSAGE:  # a backstop: values are cut where they are quoted (shown)
            message = message[:_MAX_MESSAGE] + "…"
        self.source = source
        self.key = key
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


@dataclass(frozen=True)
class ReportParams:
    """Validated report parameters; paths are absolute and ``month`` is always resolved."""

    source: str  # the parameter file as given (for messages)
    practice: str
    data_root: Path
    month: str
    output_root: Path
    title: str | None = None
    metric_options: dict = field(default_factory=dict)  # as written; rebuilt in the kernel with from_dict
    month_is_default: bool = False  # True when month was null and resolved to the last full month
    practice_name: str | None = None
    benchmark_overrides: dict = field(default_factory=dict)  # {kpi: {good, acceptable, ...}}, validated
    #: The store snapshot to read (``rcmkit report --as-of-version N``); None: the newest, pinned by run_report.
    store_version: int | None = None

    @property
    def report_dir(self) -> Path:
        """``<output_root>/<practice>/<YYYY-MM>``; the practice and month are checked again (a ReportParams can
        be built by hand), so the folder is always inside ``output_root``."""
        from rcmkit.core import store
        check_month(self.source, "month", self.month)
        try:
            return store.practice_dir(self.output_root, self.practice) / self.month
        except store.StoreError as exc:
            raise ParamError(self.source, "practice", str(exc)) from None

    def notebook_parameters(self, output_dir: str | os.PathLike) -> dict[str, Any]:
        """The papermill ``parameters`` dict: strings, None and the metric-options mapping; never CLI-parsed."""
        return {
            "practice": self.practice,
            "data_root": str(self.data_root),
            "month": self.month,
            "output_dir": str(output_dir),
            "title": self.title,
            "practice_name": self.practice_name,
            "metric_options": dict(self.metric_options),
            "benchmark_overrides": {k: dict(v) for k, v in self.benchmark_overrides.items()},
            "store_version": self.store_version,
        }

    def fingerprint_fields(self) -> dict[str, Any]:
        """Everything in the parameters that changes the report's content (for run.json and skipping)."""
        return {
            "practice": self.practice,
            "data_root": str(self.data_root),
            "month": self.month,
            "title": self.title,
            "practice_name": self.practice_name,
            "metric_options": dict(self.metric_options),
            "benchmark_overrides": {k: dict(v) for k, v in self.benchmark_overrides.items()},
        }


# --------------------------------------------------------------------------------------------- reading YAML
def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _read_mapping(path: Path, source: str) -> dict[str, tuple[yaml.Node, int]]:
    """The top-level mapping as {key: (value node, line)}; rejects bad YAML, non-mappings and duplicate keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamError(source, None, "no such parameter file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamError(source, None, f"cannot read the parameter file ({exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamError(source, None, f"not valid YAML ({_short(problem)})",
                         line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ParamError(source, None, "not valid YAML (nested too deeply)") from None
    if root is None:
        return {}
    _check_expansion(root, source)
    if not isinstance(root, yaml.MappingNode):
        raise ParamError(source, None, "expected a YAML mapping of parameters (key: value lines)", line=_line(root))
    out: dict[str, tuple[yaml.Node, int]] = {}
    for key_node, value_node in root.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ParamError(source, None, "expected plain keys", line=_line(key_node))
        key = key_node.value
        if key in out:
            raise ParamError(source, key, "duplicate key (it appears twice)", line=_line(key_node))
        out[key] = (value_node, _line(key_node))
    return out


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases expand to more than :data:`MAX_YAML_NODES` values, or refer to a node from
    inside itself. Composing shares an aliased node (cheap); building Python values from it would copy it at
    every use, so the expanded size is counted on the node graph, each shared node once (linear time)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ParamError(source, None, "recursive alias (an anchor used inside its own value); expected plain "
                             "values", line=_line(node))
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = total
        if total > MAX_YAML_NODES:
            raise ParamError(source, None, f"YAML aliases expand to more than {MAX_YAML_NODES:,} values (an alias "
                             "bomb?); expected a small parameter file: write the values out instead of repeating "
                             "*aliases", line=_line(node))
        return total

    try:
        size(root)
    except RecursionError:
        raise ParamError(source, None, "not valid YAML (nested too deeply)") from None


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _string(source: str, key: str, node: yaml.Node, line: int) -> str | None:
    """A scalar as written in the file (no YAML 1.1 int/date/bool coercion); None for null."""
    if _is_null(node):
        return None
    if not isinstance(node, yaml.ScalarNode):
        kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
        raise ParamError(source, key, f"expected {KEYS[key]}, got a YAML {kind}", line)
    return node.value


def _construct(node: yaml.Node) -> Any:
    """Plain YAML construction (numbers, booleans, lists) for the metric options."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


# --------------------------------------------------------------------------------------------- validation
def check_month(source: str, key: str, value: Any, line: int | None = None) -> str:
    """A month from a parameter file or the command line, through :func:`rcmkit.metrics.parse_month` (the one
    month parser); a :class:`ParamError` naming the file, key and line otherwise."""
    try:
        from rcmkit.metrics import parse_month

        return parse_month(value if isinstance(value, str) else None, key or "month")
    except ValueError:
        expected = ('a "YYYY-MM" month such as 2026-09' if source.startswith("--")
                    else 'a quoted "YYYY-MM" month such as "2026-09"')
        raise ParamError(source, key, f"expected {expected}, got {shown(value)}", line) from None


def outside_roots_allowed() -> bool:
    """True when ``RCMKIT_ALLOW_OUTSIDE_ROOTS`` is set to 1 (or true/yes/on): paths may leave the project."""
    return os.environ.get(ALLOW_OUTSIDE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def confined_path(source: str, key: str | None, value: str, project: Path, line: int | None = None, *,
                  allow_outside: bool | None = None, expected: str = "a folder path") -> Path:
    """``value`` (a path from a parameter file or the command line) resolved against ``project``, refused with a
    :class:`ParamError` when it could lead outside it: a ``..`` component, or an absolute path (``~`` included)
    that is not inside ``project``. ``allow_outside`` (default: :func:`outside_roots_allowed`) lifts both checks.
    The check is on the path as written: symbolic links inside the project are followed, as its owner made them.
    Returns the absolute path with symbolic links resolved."""
    allow = outside_roots_allowed() if allow_outside is None else allow_outside
    if "\x00" in value:
        raise ParamError(source, key, f"{shown(value)} contains a NUL character; expected {expected}", line)
    p = Path(os.path.expanduser(value))
    target = p if p.is_absolute() else project / p
    if not allow:
        hint = (f"; expected {expected} inside the project folder {project} (relative paths are relative to it), "
                f"or set {ALLOW_OUTSIDE_ENV}=1 to allow folders outside it")
        if ".." in p.parts:
            raise ParamError(source, key, f"{shown(value)} contains '..'{hint}", line)
        lexical = os.path.normpath(os.path.abspath(target))
        inside = _within(lexical, os.path.normpath(os.path.abspath(project))) or \
            _within(os.path.realpath(lexical), os.path.realpath(project))
        if not inside:
            raise ParamError(source, key, f"{shown(value)} is outside the project folder{hint}", line)
    return target.resolve()


def load_params(
    path: str | os.PathLike,
    *,
    month: str | None = None,
    output_root: str | os.PathLike | None = None,
    cwd: str | os.PathLike | None = None,
    check_data: bool | str = True,
    store_version: int | None = None,
) -> ReportParams:
    """Read and validate a parameter file; ``month``/``output_root`` override the file (command-line options);
    ``store_version``: read that store snapshot (:func:`rcmkit.core.store.snapshot_id`) instead of the newest.

    Relative paths are resolved against ``cwd`` (default: the current directory, i.e. the project root), and
    ``data_root``/``output_root`` must stay inside it (see :func:`confined_path`; ``RCMKIT_ALLOW_OUTSIDE_ROOTS=1``
    lifts that).
    With ``check_data`` (the default) the practice's tables must exist and the month must be a full month in
    them; a null month becomes the last full month (:func:`rcmkit.metrics.last_full_month`). ``check_data="layout"``
    checks only what needs no table read (the folders, the snapshot, the required tables: :func:`validate_layout`).
    Raises :class:`ParamError` for the first problem found.
    """
    source = os.fspath(path)
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    raw = _read_mapping(Path(source) if Path(source).is_absolute() else cwd / source, source)

    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        k = unknown[0]
        raise ParamError(source, k, f"unknown parameter; expected one of {', '.join(KEYS)}", raw[k][1])
    if "practice" not in raw or _is_null(raw["practice"][0]):
        line = raw["practice"][1] if "practice" in raw else None
        raise ParamError(source, "practice", f"required; expected {KEYS['practice']}", line)

    values: dict[str, Any] = dict(DEFAULTS)
    lines: dict[str, int | None] = {k: None for k in KEYS}
    for key, (node, line) in raw.items():
        lines[key] = line
        if key in _MAPPINGS:
            if _is_null(node):
                values[key] = None
            elif not isinstance(node, yaml.MappingNode):
                got = node.value if isinstance(node, yaml.ScalarNode) else "a YAML list"
                raise ParamError(source, key, f"expected {KEYS[key]} (name: value lines), got {shown(got)}", line)
            else:
                values[key] = _construct(node)
        else:
            values[key] = _string(source, key, node, line)

    practice = values["practice"]
    from rcmkit.core import store
    if not store.PRACTICE_NAME.fullmatch(practice) or ".." in practice:
        raise ParamError(source, "practice", f"expected {KEYS['practice']}, at most 64 characters, not starting "
                         f"with '.'; got {shown(practice)}", lines["practice"])
    for key in ("data_root", "output_root"):
        if values[key] is None or not str(values[key]).strip():
            raise ParamError(source, key, f"expected {KEYS[key]}, got an empty value", lines[key])
    project = cwd.absolute()
    data_root = confined_path(source, "data_root", values["data_root"], project, lines["data_root"],
                              expected=KEYS["data_root"])
    if output_root is not None:
        out_source, out_key, out_line = "--output-root", None, None
        out_root = confined_path(out_source, out_key, os.fspath(output_root), project, expected="a folder path")
        if out_root.exists() and not out_root.is_dir():
            raise ParamError("--output-root", None, f"{out_root} exists and is not a folder; expected a folder path")
    else:
        out_source, out_key, out_line = source, "output_root", lines["output_root"]
        out_root = confined_path(source, "output_root", values["output_root"], project, lines["output_root"],
                                 expected=KEYS["output_root"])
        if out_root.exists() and not out_root.is_dir():
            raise ParamError(source, "output_root", f"{out_root} exists and is not a folder; expected "
                             f"{KEYS['output_root']}", lines["output_root"])
    if out_root == data_root:
        raise ParamError(out_source, out_key, f"{out_root} is the data_root: reports would be written into the "
                         "practices' table folders; expected another folder, e.g. reports", out_line)
    try:  # the practice's folder under each root is a plain subfolder (the store's own rule)
        store.practice_dir(data_root, practice)
        store.practice_dir(out_root, practice)
    except store.StoreError as exc:  # pragma: no cover - the name was checked above
        raise ParamError(source, "practice", str(exc), lines["practice"]) from None

    metric_options = values["metrics"] or {}
    if not all(isinstance(k, str) for k in metric_options):
        raise ParamError(source, "metrics", "expected option names as keys", lines["metrics"])
    try:
        from rcmkit.metrics import MetricOptions

        MetricOptions.from_dict(dict(metric_options))
    except (ValueError, TypeError) as exc:
        first = _short(str(exc)) if str(exc) else type(exc).__name__
        raise ParamError(source, "metrics", first, lines["metrics"]) from None

    overrides = _check_benchmarks(source, values["benchmarks"], lines["benchmarks"])

    month_source, month_line, month_value = source, lines["month"], values["month"]
    if month is not None:
        month_source, month_line, month_value = "--month", None, _check_cli_month(month)
    elif month_value is not None:
        month_value = check_month(source, "month", month_value, month_line)

    params = ReportParams(
        source=source,
        practice=practice,
        data_root=data_root,
        month=month_value or "",
        output_root=out_root,
        title=values["title"],
        metric_options=dict(metric_options),
        month_is_default=month_value is None,
        store_version=store_version,
        practice_name=values["practice_name"],
        benchmark_overrides=overrides,
    )
    if check_data == "layout":
        validate_layout(params, lines=lines)
    elif check_data:
        params = validate_data(params, month_source=month_source, lines={**lines, "month": month_line})
    return params


def _check_benchmarks(source: str, value: Any, line: int | None) -> dict:
    """Benchmark overrides: {kpi: {good: number, acceptable: number, source: text, grade: text}}."""
    if not value:
        return {}
    from rcmkit.core.refdata import benchmarks

    out: dict[str, dict] = {}
    for kpi, fields in value.items():
        if not isinstance(kpi, str) or not isinstance(fields, dict):
            raise ParamError(source, "benchmarks", f"expected {KEYS['benchmarks']}, got {shown(kpi)}: "
                             f"{shown(fields)}", line)
        for name in ("good", "acceptable"):
            v = fields.get(name)
            if name in fields and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ParamError(source, "benchmarks", f"{shown(kpi, 40)[1:-1]}.{name}: expected a number, got "
                                 f"{shown(v)}", line)
        out[kpi] = dict(fields)
    try:
        benchmarks(overrides=out)
    except (ValueError, TypeError) as exc:
        raise ParamError(source, "benchmarks", _short(str(exc)), line) from None
    return out


def _check_cli_month(value: str) -> str:
    return check_month("--month", None, value)


def validate_layout(params: ReportParams, *, lines: Mapping[str, int | None] | None = None) -> None:
    """Check what needs no table read: the data root and the practice's folder exist, the snapshot exists, and it
    holds the required tables. ``rcmkit report`` runs this before it starts a kernel (a typo costs no kernel)."""
    from rcmkit.core import store
    source = params.source
    lines = lines or {}
    practice, root = params.practice, params.data_root
    try:
        folder = store.practice_dir(root, practice)
    except store.StoreError as exc:
        raise ParamError(source, "practice", str(exc), lines.get("practice")) from None
    make = f"create it with 'rcmkit demo --practice {practice}' or 'rcmkit ingest'"
    if not root.is_dir():
        raise ParamError(source, "data_root", f"folder {root} does not exist; expected the folder that holds "
                         f"<practice>/tables/<table> ({make})", lines.get("data_root"))
    if not folder.is_dir():
        raise ParamError(source, "practice", f"no data for practice {practice!r}: folder {folder} does not exist "
                         f"({make})", lines.get("practice"))
    try:  # an unknown snapshot, or the parquet layout before Delta tables, says what to do
        held = store.manifest(root, practice, params.store_version)["tables"]
    except store.StoreError as exc:
        raise ParamError(source, "practice", str(exc), lines.get("practice")) from None
    missing = [t for t in REQUIRED_TABLES if t not in held]
    if missing:
        raise ParamError(source, "practice", f"practice {practice!r} in {root} lacks the table(s) {', '.join(missing)}; "
                         f"expected {', '.join(REQUIRED_TABLES)} ({make})", lines.get("practice"))


def validate_data(
    params: ReportParams, *, month_source: str | None = None, lines: Mapping[str, int | None] | None = None
) -> ReportParams:
    """Check that the practice's tables exist (:func:`validate_layout`) and that the month is a full month in
    them; resolve a null month."""
    from dataclasses import replace

    from rcmkit.core import store
    from rcmkit.metrics import EVENT_DATES, last_full_month

    source = params.source
    lines = lines or {}
    practice, root = params.practice, params.data_root
    validate_layout(params, lines=lines)
    try:  # the dates last_full_month looks at, from the snapshot the notebook will load (only those columns)
        tables = store.load_tables(root, practice, [t for t, _ in EVENT_DATES], required=False,
                                   version=params.store_version, columns={t: [c] for t, c in EVENT_DATES})
    except store.StoreError as exc:
        raise ParamError(source, "practice", str(exc), lines.get("practice")) from None

    try:
        last = last_full_month(tables)
    except ValueError as exc:  # no dated events at all
        raise ParamError(source, "practice", f"practice {practice!r} has no full month of data ({exc})",
                         lines.get("practice")) from None
    if params.month_is_default:
        return replace(params, month=last)
    first = _first_month(tables)
    msource = month_source or source
    key = "month" if msource == source else None
    if params.month > last:
        raise ParamError(msource, key, f"{params.month} is not a full month in the data for {practice!r}; expected "
                         f"a month from {first or '?'} to {last} (the last full month)", lines.get("month"))
    if first and params.month < first:
        raise ParamError(msource, key, f"{params.month} is before the data for {practice!r}; expected a month "
                         f"from {first} to {last}", lines.get("month"))
    if not _has_events(tables, params.month):  # a gap in the data: its report would be a page of $0 tiles
        raise ParamError(msource, key, f"{params.month} has no claims, payments or postings in the data for "
                         f"{practice!r}; expected a month with activity from {first or '?'} to {last}",
                         lines.get("month"))
    return params


def _first_month(tables: Mapping[str, Any]) -> str | None:
    """The month of the data's first dated event (:data:`rcmkit.metrics.EVENT_DATES`), None without any."""
    from rcmkit.metrics import EVENT_DATES

    firsts = []
    for name, col in EVENT_DATES:
        frame = tables.get(name)
        if frame is not None and len(frame) and col in frame:
            first = frame[col].min()
            if first is not None and first == first:  # not NaT
                firsts.append(first)
    return min(firsts).strftime("%Y-%m") if firsts else None


def _has_events(tables: Mapping[str, Any], month: str) -> bool:
    """True when the data holds a dated event (a submission, payment or posting) in ``month``."""
    import pandas as pd

    from rcmkit.metrics import EVENT_DATES

    period = pd.Period(month, freq="M")
    start, end = period.start_time, period.end_time
    for name, col in EVENT_DATES:
        frame = tables.get(name)
        if frame is not None and len(frame) and col in frame:
            dates = pd.to_datetime(frame[col])
            if ((dates >= start) & (dates <= end)).any():
                return True
    return False
