"""Shared fixtures: a small demo practice and one executed monthly report, both built once per session.

Test tiers (issue #14): ``make test`` runs every test (what CI runs); ``make test-fast`` runs ``-m "not slow"``,
the edit-test loop. A test is ``slow`` when it executes a notebook, starts Chromium, starts Spark (Java), builds a
1,000+-claim demo or runs many file-by-file ingests or subprocesses. The ``notebook``, ``browser`` and ``spark``
markers, and the session demo fixtures below (``demo_cli``, ``demo_root``, ``demo_report``: a 1,500-claim demo and
its executed report), imply ``slow``: :func:`pytest_collection_modifyitems` adds it.

Both tiers run on pytest-xdist workers (``-n auto --dist loadgroup``), a test file at a time
(``xdist_group(<file>)``: a module fixture is built once, not once per worker). A session fixture is built once
per worker, so the tests that use the demo fixtures share one worker (``xdist_group("demo")``) and the demo is
built once. Tests that measure time or kill and race processes (:data:`SERIAL_FILES`, :data:`SERIAL_TESTS`) are
``serial``: ``make test`` runs them after the parallel pass, alone; ``make test-fast`` keeps its few on one worker
(``xdist_group("serial")``).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rcmkit.startup import skip_slow_iri_checks

skip_slow_iri_checks()  # before any test module imports nbformat (about 4 s per xdist worker otherwise)
# One Polars thread per test process: the suite runs a process per core (xdist), and the tests' frames are small;
# Polars' default (a thread per core in each process) made the explorer tests 1.4x slower on 2 cores.
os.environ.setdefault("POLARS_MAX_THREADS", "1")
# Python's cyclic garbage collector ran ~5,300 times in a fast-tier run and scanned the modules, test items and
# fixtures imported at collection each time: 7.2 s of its 137 s of CPU. The objects alive after collection are
# moved out of its reach (gc.freeze, below) and it runs after 50,000 new objects instead of 700: 31 runs, 1.8 s.
gc.set_threshold(50_000, 20, 20)


def pytest_collection_finish(session):
    gc.freeze()

#: Claims in the test demo: enough for every chart and table to have data, small enough to stay fast.
DEMO_CLAIMS = 1500
RCMKIT = Path(sys.executable).parent / "rcmkit"  # the installed entry point of this environment


#: markers that make a test slow by themselves
SLOW_MARKERS = ("notebook", "browser", "spark")
#: session fixtures that build the 1,500-claim demo (and run its report): any test using one is slow
SLOW_FIXTURES = ("demo_cli", "demo_root", "demo_report")
#: files whose tests kill processes at chosen moments, race concurrent ingests or bound wall time: serial
SERIAL_FILES = ("test_reliability.py", "test_ingest_safety.py")
#: single tests elsewhere that assert a wall-clock bound on heavy work: serial
SERIAL_TESTS = ("test_the_default_demo_is_fast_and_realistic",)


#: the tests' scratch folders go to this memory file system when it exists and has room (:func:`_memory_basetemp`)
MEMORY_TMP = Path("/dev/shm")
MEMORY_TMP_MIN_FREE = 4 * 2**30
_PREFIX = "rcmkit-tests-"


def _memory_basetemp() -> Path | None:
    """A fresh folder for this run's ``tmp_path`` folders on Linux's memory file system (/dev/shm), or None.

    Every store a test writes is fsynced (rcmkit.core.store: the commit protocol): on a disk those fsyncs wait for
    whatever else the machine is writing. Measured on the 2-core machine while another process wrote a large
    store: seven ingest and store test files took 13.1 and 35.7 s with their folders on the disk against 11.4 and
    12.2 s on /dev/shm (same tests, alternated). Each run gets its own folder (concurrent runs never share one),
    removed when the run ends; one left by a run that was killed is removed by the next run. Not used when
    ``--basetemp`` is given, when RCMKIT_TEST_TMP=disk, or when /dev/shm is missing or has less than 4 GiB free.
    """
    import shutil
    import tempfile

    if os.environ.get("RCMKIT_TEST_TMP", "").lower() == "disk" or not MEMORY_TMP.is_dir():
        return None
    try:
        for stale in MEMORY_TMP.glob(f"{_PREFIX}*"):  # rcmkit-tests-<pid>-<random>: the pid's run has ended
            try:
                os.kill(int(stale.name[len(_PREFIX):].split("-")[0]), 0)
            except ProcessLookupError:
                shutil.rmtree(stale, ignore_errors=True)
            except (ValueError, PermissionError):
                pass
        if shutil.disk_usage(MEMORY_TMP).free < MEMORY_TMP_MIN_FREE:
            return None
        return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=MEMORY_TMP))
    except OSError:
        return None


@pytest.hookimpl(tryfirst=True)  # before pytest's tmpdir plugin reads --basetemp
def pytest_configure(config):
    config.addinivalue_line("markers", "serial: kills or races processes, or bounds wall time: not beside other "
                            "tests (make test runs these alone after the parallel pass; tests/conftest.py)")
    # the controller (or a run without xdist) picks the folder; xdist gives each worker <basetemp>/<worker id>
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        basetemp = _memory_basetemp()
        if basetemp is not None:
            config.option.basetemp = str(basetemp)
            config._rcmkit_memory_basetemp = basetemp


def pytest_unconfigure(config):
    basetemp = getattr(config, "_rcmkit_memory_basetemp", None)
    if basetemp is not None:
        import shutil

        shutil.rmtree(basetemp, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        demo = bool(set(SLOW_FIXTURES) & set(item.fixturenames))
        if not item.get_closest_marker("slow") and (demo or any(item.get_closest_marker(m) for m in SLOW_MARKERS)):
            item.add_marker(pytest.mark.slow)
        if item.path.name in SERIAL_FILES or item.originalname in SERIAL_TESTS:
            item.add_marker(pytest.mark.serial)
        group = "serial" if item.get_closest_marker("serial") else "demo" if demo else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(RCMKIT), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def demo_cli(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """``rcmkit demo`` run once: a data root holding practice 'demo' (seed 7, DEMO_CLAIMS claims) and its ledger."""
    root = tmp_path_factory.mktemp("data")
    proc = run_cli("demo", "--practice", "demo", "--claims", str(DEMO_CLAIMS), "--data-root", str(root), cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root, proc


@pytest.fixture(scope="session")
def demo_root(demo_cli) -> Path:
    return demo_cli[0]


@dataclass(frozen=True)
class ReportRun:
    project: Path  # the working directory the command ran in
    params: Path
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path | None


@pytest.fixture(scope="session")
def demo_report(demo_root, tmp_path_factory) -> ReportRun:
    """``rcmkit report`` run once on the demo practice, from a project folder with relative paths (paths stay inside
    the project: the session's demo data root is linked in as ``demo-data``)."""
    project = tmp_path_factory.mktemp("project")
    (project / "demo-data").symlink_to(demo_root, target_is_directory=True)
    params = project / "parameters" / "demo.yaml"
    params.parent.mkdir()
    params.write_text("practice: demo\ndata_root: demo-data\nmonth: null\noutput_root: reports\n", encoding="utf-8")
    proc = run_cli("report", "parameters/demo.yaml", "--no-progress", cwd=project)
    lines = proc.stdout.strip().splitlines()
    report_dir = Path(lines[-1]).parent if proc.returncode == 0 and lines else None
    return ReportRun(project, params, proc.returncode, proc.stdout, proc.stderr, report_dir)


#: the small practice's report month (tests/small_practice.py: November 2025 - March 2026)
SMALL_MONTH = "2026-03"


@pytest.fixture(scope="session")
def small_report():
    """The small practice's March 2026 report model, built once per worker (a build takes seconds: the 13-month
    trend). :class:`rcmkit.report.model.MonthlyReport` is frozen; tests must not change the frames it holds."""
    from rcmkit.report.model import build_report
    from small_practice import tables

    return build_report(tables(), SMALL_MONTH, practice="small", practice_name="Small Practice")

