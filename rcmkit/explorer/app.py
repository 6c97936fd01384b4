"""The explorer as an app: ``notebooks/explore.ipynb`` parameterized with papermill (without running it) and served
by Voila, for users without JupyterLab; and a screenshot of it in headless Chromium (the browser test's tooling).

    python -m rcmkit.explorer serve --practice demo --data-root data            # prints the URL (with its token)
    python -m rcmkit.explorer screenshot docs/explorer.png --practice demo --data-root data

Parameters are checked here, before any kernel starts. Voila listens on localhost only, with a token.

Each visit starts a kernel (about 390 MB with the practice's tables): Voila is told to cull a kernel once no page
has been connected to it for ``cull_idle`` seconds (jupyter_server's ``MappingKernelManager.cull_idle_timeout``,
``cull_interval``, ``cull_connected=False``; default 10 minutes). It renders with the ``rcmkit`` template (Voila's
``lab`` template without its Font Awesome stylesheets from a CDN; the explorer uses no icons), written next to the
notebook, so that the page loads nothing but what Voila serves from localhost.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from rcmkit.explorer.data import METRICS  # noqa: F401 (re-exported for the CLI)
from rcmkit.explorer.filters import PERIOD_MONTHS, check_month  # noqa: F401

__all__ = ["NOTEBOOK", "TILE_VALUE", "CULL_IDLE_SECONDS", "default_notebook", "prepare_notebook", "free_port",
           "VoilaServer", "cull_options", "write_template", "voila_command", "start_voila", "running_voila",
           "wait_for_explorer", "tile_value", "serve", "screenshot", "voila_available"]

NOTEBOOK = "explore.ipynb"

#: CSS selector of a KPI tile's value by its label (Playwright ``:has`` / ``:text-is`` syntax).
TILE_VALUE = '.rcm-tile:has(.rcm-label:text-is("{label}")) .rcm-value'

#: A kernel no page has been connected to for this long is shut down (0: never).
CULL_IDLE_SECONDS = 600
#: How often Voila looks for such kernels, at most.
CULL_INTERVAL_SECONDS = 60
#: The Voila template the explorer renders with (:func:`write_template`).
TEMPLATE = "rcmkit"

_TEMPLATE_CONF = '{"base_template": "lab"}\n'
# Voila's lab template, minus any stylesheet it links from another host (Font Awesome from jsdelivr in Voila 0.5).
_TEMPLATE_INDEX = """{%- extends 'lab/index.html.j2' -%}
{#- rcmkit: Voila's lab template without stylesheets from a CDN: everything the page loads comes from Voila. -#}
{%- block notebook_css -%}
{%- for line in super().split('\\n') if not ('<link' in line and '://' in line) %}
{{ line }}
{%- endfor %}
{%- endblock notebook_css -%}
"""


def default_notebook() -> Path:
    """``notebooks/explore.ipynb`` of the rcmkit checkout."""
    path = Path(__file__).resolve().parents[2] / "notebooks" / NOTEBOOK
    if not path.is_file():
        raise FileNotFoundError(f"cannot find {path}; pass the notebook's path")
    return path


def voila_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("voila") is not None


def prepare_notebook(
    out_dir: str | os.PathLike,
    *,
    practice: str,
    data_root: str | os.PathLike,
    end: str | None = None,
    months: int = 3,
    metric: str = "initial_denial_rate",
    metric_options: Mapping[str, Any] | None = None,
    practice_name: str | None = None,
    export_dir: str | os.PathLike | None = None,
    notebook: str | os.PathLike | None = None,
    kernel: str | None = None,
) -> Path:
    """Write ``out_dir/explore.ipynb``: the explorer notebook with these parameters injected (papermill, not run).

    Raises ValueError (or :class:`rcmkit.core.store.StoreError`) naming the bad parameter before any kernel starts.
    ``kernel``: the Jupyter kernel to record (default: :func:`rcmkit.report.resolve_kernel`, the 'rcmkit' kernel
    when it runs this Python)."""
    import nbformat
    import papermill

    from rcmkit.core import store
    from rcmkit.metrics import MetricOptions
    from rcmkit.report.run import resolve_kernel

    data_root = Path(data_root).resolve()
    if not store.has_tables(data_root, practice, ("claims", "remittances", "ledger")):
        raise store.StoreError(f"practice {practice!r} has no tables under {data_root} (expected "
                               f"{store.practice_dir(data_root, practice)}/tables/claims and the others)")
    if months not in PERIOD_MONTHS:
        raise ValueError(f"months must be one of {list(PERIOD_MONTHS)}, got {months!r}")
    if end is not None:
        end = check_month(end, "end")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    MetricOptions.from_dict(metric_options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / NOTEBOOK
    kernel = kernel or resolve_kernel(log=lambda _msg: None)
    params = {"practice": practice, "data_root": str(data_root), "end": end, "months": int(months),
              "metric": metric, "metric_options": dict(metric_options or {}), "practice_name": practice_name,
              "export_dir": str(Path(export_dir).resolve()) if export_dir is not None else None}
    papermill.execute_notebook(str(notebook or default_notebook()), str(out), parameters=params, prepare_only=True,
                               kernel_name=kernel, language="python", progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python (rcmkit)" if kernel == "rcmkit" else "Python 3",
                                 "language": "python", "name": kernel}
    nbformat.write(nb, out)
    return out


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class VoilaServer:
    """A running Voila process serving one notebook on localhost."""

    process: subprocess.Popen
    port: int
    token: str
    notebook: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def stop(self, timeout: float = 10) -> None:
        """Stop Voila (and its kernels: it runs in its own process group)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def cull_options(idle: int = CULL_IDLE_SECONDS, interval: int | None = None) -> list[str]:
    """Voila's command-line options that shut down a kernel no page has been connected to for ``idle`` seconds,
    checked every ``interval`` seconds (default: half of ``idle``, at most a minute). ``idle=0``: no culling."""
    if isinstance(idle, bool) or not isinstance(idle, int) or idle < 0:
        raise ValueError(f"cull_idle must be a whole number of seconds >= 0 (0: never), got {idle!r}")
    if idle == 0:
        return []
    if interval is None:
        interval = max(1, min(CULL_INTERVAL_SECONDS, idle // 2))
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"cull_interval must be a whole number of seconds >= 1, got {interval!r}")
    mkm = "--MappingKernelManager"
    return [f"{mkm}.cull_idle_timeout={idle}", f"{mkm}.cull_interval={interval}", f"{mkm}.cull_connected=False",
            f"{mkm}.cull_busy=False"]


def write_template(root: str | os.PathLike) -> Path:
    """Write the ``rcmkit`` Voila template under ``root`` (as ``root/voila/templates/rcmkit``) and return ``root``:
    the Jupyter data folder to put first on ``JUPYTER_PATH``."""
    root = Path(root)
    folder = root / "voila" / "templates" / TEMPLATE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.json").write_text(_TEMPLATE_CONF)
    (folder / "index.html.j2").write_text(_TEMPLATE_INDEX)
    return root


def voila_command(notebook: str | os.PathLike, *, port: int, token: str, cull_idle: int = CULL_IDLE_SECONDS,
                  cull_interval: int | None = None, tracebacks: bool = False) -> tuple[list[str], dict[str, str]]:
    """The command and environment that serve ``notebook`` with Voila on 127.0.0.1:``port``: token, kernel culling
    (:func:`cull_options`) and the ``rcmkit`` template (written to ``.voila-share`` next to the notebook)."""
    notebook = Path(notebook).resolve()
    cull = cull_options(cull_idle, cull_interval)
    share = write_template(notebook.parent / ".voila-share")
    cmd = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           f"--Voila.token={token}", f"--template={TEMPLATE}", *cull]
    if tracebacks:
        cmd.append("--show_tracebacks=True")
    paths = [str(share.resolve())] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    return cmd, dict(os.environ, JUPYTER_PATH=os.pathsep.join(paths))


def start_voila(notebook: str | os.PathLike, *, port: int | None = None, token: str | None = None,
                timeout: float = 60, log: str | os.PathLike | None = None, cull_idle: int = CULL_IDLE_SECONDS,
                cull_interval: int | None = None) -> VoilaServer:
    """Start Voila on ``notebook`` at 127.0.0.1:``port`` (a free one by default) with ``token`` (random by
    default) and wait until it answers; raises RuntimeError with the end of its log when it does not."""
    notebook = Path(notebook).resolve()
    port = port or free_port()
    token = token or secrets.token_hex(16)
    log = Path(log) if log is not None else notebook.with_suffix(".voila.log")
    cmd, env = voila_command(notebook, port=port, token=token, cull_idle=cull_idle, cull_interval=cull_interval,
                             tracebacks=True)
    fh = open(log, "wb")
    try:
        process = subprocess.Popen(cmd, cwd=notebook.parent, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    finally:
        fh.close()
    server = VoilaServer(process, port, token, notebook, log)
    deadline = time.monotonic() + timeout
    probe = f"http://127.0.0.1:{port}/api/status?token={token}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(probe, timeout=2):
                return server
        except urllib.error.HTTPError:
            return server  # it answers (an HTTP error is still an answer)
        except OSError:
            time.sleep(0.2)
    server.stop()
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"Voila did not start on port {port} within {timeout:.0f} s:\n{tail}")


@contextlib.contextmanager
def running_voila(notebook: str | os.PathLike, **kw) -> Iterator[VoilaServer]:
    server = start_voila(notebook, **kw)
    try:
        yield server
    finally:
        server.stop()


def wait_for_explorer(page, timeout_ms: float = 60_000) -> None:
    """Wait until the explorer on ``page`` shows its tiles and its first refresh is done."""
    page.wait_for_selector(".rcmkit-explorer .rcm-tile", timeout=timeout_ms)
    page.wait_for_selector(".rcmkit-explorer .rcmx-status", timeout=timeout_ms)


def tile_value(page, label: str) -> str:
    """The text of the tile ``label``'s value on the page (its first line: the number, without the badge)."""
    node = page.locator(TILE_VALUE.format(label=label)).first
    return node.evaluate("el => el.firstChild ? el.firstChild.textContent : ''").strip()


def serve(notebook: Path, *, port: int = 8866, token: str | None = None,
          cull_idle: int = CULL_IDLE_SECONDS) -> int:
    """Run Voila in the foreground on ``notebook`` (Ctrl-C stops it); prints the URL to open. A kernel no page
    has been connected to for ``cull_idle`` seconds is shut down (0: never)."""
    token = token or secrets.token_hex(16)
    cmd, env = voila_command(notebook, port=port, token=token, cull_idle=cull_idle)
    print(f"open http://127.0.0.1:{port}/?token={token}", flush=True)
    return subprocess.call(cmd, cwd=Path(notebook).resolve().parent, env=env)


def screenshot(png: str | os.PathLike, *, practice: str, data_root: str | os.PathLike, width: int = 1280,
               height: int = 1500, **params) -> Path:
    """A PNG of the explorer as Voila serves it, in headless Chromium (:mod:`rcmkit.report.browser`)."""
    from rcmkit.report.browser import open_browser

    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rcmkit-explorer-") as tmp:
        nb = prepare_notebook(tmp, practice=practice, data_root=data_root, export_dir=None, **params)
        with running_voila(nb) as server, open_browser() as browser:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(server.url, wait_until="domcontentloaded", timeout=60_000)
            wait_for_explorer(page)
            page.wait_for_timeout(300)  # let the chart image paint
            page.screenshot(path=str(png), clip={"x": 0, "y": 0, "width": width, "height": height})
    return png
