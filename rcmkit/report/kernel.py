"""The report's Jupyter kernel: which one to run (:func:`resolve_kernel`) and one kept warm (:class:`WarmKernel`).

Light on purpose (jupyter_client only, imported when used): ``rcmkit report`` imports this module and starts the
kernel before it imports pandas or reads the practice's tables, so the kernel boots and imports the report's
modules while the command checks its parameters.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

__all__ = ["KERNEL_ARGS", "KERNEL_NAME", "PRELOAD", "WarmKernel", "resolve_kernel"]

KERNEL_NAME = "rcmkit"

#: The report kernel's options: its own log (e.g. ipykernel's "running over TCP without encryption") is not report
#: output (errors still reach the terminal); no IPython history database: a report's cells are not a session to
#: recall, and each cell's sqlite commit cost 2-7 ms of wall time (0.1-0.4 s of a report), with the kernels of a
#: monthly run's workers taking turns at one database file.
KERNEL_ARGS = ("--IPKernelApp.log_level=ERROR", "--HistoryManager.enabled=False")

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _runs_this_python(argv: list[str]) -> bool:
    if not argv:
        return False
    exe = argv[0]
    major, minor = sys.version_info[:2]
    if exe in {"python", f"python{major}", f"python{major}.{minor}"}:
        return True  # jupyter_client launches these names with sys.executable
    # Compare the paths without resolving symlinks: every venv's python links to the same base interpreter.
    return os.path.dirname(os.path.abspath(exe)) == os.path.dirname(os.path.abspath(sys.executable))


def resolve_kernel(preferred: str = KERNEL_NAME, *, log: Log = _stderr) -> str:
    """The kernel to run the report with: ``preferred`` when it runs this Python.

    When it is not registered, register it for this environment (as ``make install`` does with
    ``python -m ipykernel install --sys-prefix --name rcmkit``); when that is impossible, or the registered spec runs
    another interpreter, fall back to this Python's native ``python3`` kernel and say so.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(preferred)
    except NoSuchKernel:
        spec = None
    if spec is not None:
        if _runs_this_python(spec.argv):
            return preferred
        log(f"note: Jupyter kernel {preferred!r} ({spec.resource_dir}) runs {spec.argv[0]}, not this Python "
            f"({sys.executable}); using this Python's 'python3' kernel instead")
        return "python3"
    try:
        from ipykernel.kernelspec import install

        install(kernel_name=preferred, display_name="Python (rcmkit)", prefix=sys.prefix)
        spec = KernelSpecManager().get_kernel_spec(preferred)
        if _runs_this_python(spec.argv):
            log(f"note: registered the Jupyter kernel {preferred!r} for {sys.executable} (in {sys.prefix})")
            return preferred
    except Exception as exc:  # read-only prefix, shadowed spec, ...
        log(f"note: Jupyter kernel {preferred!r} is not registered and could not be ({exc}); "
            "using this Python's 'python3' kernel")
        return "python3"
    log(f"note: Jupyter kernel {preferred!r} resolves to another interpreter; using this Python's 'python3' kernel")
    return "python3"


#: What a pre-started kernel imports while the command checks its parameters (:meth:`WarmKernel.start`): the modules
#: the packaged report notebook imports, and one drawn figure, so matplotlib's fonts are loaded (about 2 s of a report
#: run, paid in parallel with the command's own work). The names it binds go with the reset before the notebook.
PRELOAD = """\
import IPython.display, matplotlib_inline.backend_inline
import rcmkit.core.store, rcmkit.report.model, rcmkit.report.deck, rcmkit.report.record, rcmkit.report.suite
import rcmkit.report.notebook, rcmkit.present.appendix, rcmkit.present.charts, rcmkit.present.tiles
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
_f = Figure(figsize=(1, 1)); _f.add_subplot().set_title("$0"); FigureCanvasAgg(_f).draw(); del _f
"""


class WarmKernel:
    """One Jupyter kernel kept for many reports (``rcmkit run-monthly``'s workers) or started ahead of one
    (``rcmkit report``): started on first use (or early, with :meth:`start`), its user namespace reset
    and its execution counter set back to 1 (IPython's ``reset(new_session=True)``: ``%reset -f`` keeps the
    counter) and its working folder set before each notebook, started
    again when it died or a notebook timed out. Nothing of a practice stays in the namespace for the next one, and
    the executed notebook is the one a new kernel gives (the same execution counts)."""

    def __init__(self, kernel_name: str) -> None:
        self.kernel_name = kernel_name
        self.manager: Any = None

    def _ensure_started(self, preload: str | None = None) -> None:
        from jupyter_client.manager import KernelManager

        if self.manager is None or not self.manager.is_alive():
            self.discard()
            args = list(KERNEL_ARGS)
            if preload:  # run by the kernel as it starts, before it answers: no client needed for it
                args.append(f"--IPKernelApp.exec_lines={preload}")
            self.manager = KernelManager(kernel_name=self.kernel_name)
            self.manager.start_kernel(extra_arguments=args)

    def start(self, preload: str | None = PRELOAD) -> "WarmKernel":
        """Start the kernel now (unless it runs), without waiting for it; a new one runs ``preload`` (imports)
        while it starts (IPython's ``exec_lines``), before it answers. Returns at once: the caller checks its
        parameters meanwhile. A failed preload is ignored: the notebook imports the same modules and reports a real
        error itself."""
        self._ensure_started(preload)
        return self

    def prepare(self, cwd: Path) -> None:
        """Reset the kernel for the next notebook, its working folder ``cwd``: a new session, the objects the last
        report froze (:func:`rcmkit.report.notebook.freeze_heap`) given back to the garbage collector and collected."""
        self._ensure_started()
        client = self.manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=120)
            reply = client.execute_interactive(
                "get_ipython().reset(new_session=True)\n"
                f"import gc as _gc, os as _os\n_os.chdir({str(cwd)!r})\n_gc.unfreeze()\n_gc.collect()\ndel _gc, _os",
                timeout=120, store_history=False)
            if reply["content"].get("status") != "ok":
                from rcmkit.report.run import ReportError

                raise ReportError(f"the kernel could not be reset: {reply['content'].get('evalue', '')}")
        finally:
            client.stop_channels()

    def discard(self) -> None:
        if self.manager is not None:
            try:
                self.manager.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            self.manager = None
