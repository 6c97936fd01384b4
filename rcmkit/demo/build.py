"""Writing the demo practice: its tables straight into the store (:func:`write_demo`), or the way a real practice
arrives, as X12 and PM files in an inbox that are then ingested (:func:`build_demo`).
"""

from __future__ import annotations

import os

from rcmkit.core import schema, store
from rcmkit.demo.practice import generate_with_truth, patients

__all__ = ["write_demo", "build_demo", "truth_path"]


def truth_path(root: str | os.PathLike, practice: str = "demo"):
    """Where a demo practice's seeded claim errors are written (a side file, never a stored table):
    ``root/practice/demo_truth/seeded_errors.csv`` (columns :data:`rcmkit.demo.practice.SEEDED_COLUMNS`)."""
    return store.practice_dir(root, practice) / "demo_truth" / "seeded_errors.csv"


def _write_truth(root: str | os.PathLike, practice: str, truth) -> None:
    path = truth_path(root, practice)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    truth.to_csv(tmp, index=False)
    os.replace(tmp, path)


def write_demo(root: str | os.PathLike, practice: str = "demo", **generate_kwargs) -> dict:
    """Generate the demo practice and save its canonical tables under ``root/practice`` directly (no files in
    between: fast, for tests and benchmarks); returns the manifest. See :func:`build_demo` for the real path.

    ``generate_kwargs`` go to :func:`generate` (seed, n_claims, start, end, profile).
    """
    tables, truth = generate_with_truth(**generate_kwargs)
    manifest = store.save_tables(root, practice, tables)
    _write_truth(root, practice, truth)
    return manifest


def build_demo(root: str | os.PathLike, practice: str = "demo", *, jobs: int = 1, progress: bool = True,
               **generate_kwargs) -> dict:
    """The demo practice the way a real one arrives: write its X12 837P and 835 files and its PM export (payers,
    charges, patient payments and write-offs) under ``root/practice/inbox/``, then ingest them into empty
    tables with :func:`rcmkit.ingest.pipeline.ingest`; the contracts come in the same way, as the PM export's
    fee schedule (``pm/fees.csv``). Raises RuntimeError when the demo's own files do not load cleanly. Returns
    the file counts and the ingest summary.
    """
    from rcmkit.ingest.pipeline import ingest
    from rcmkit.ingest.x12.write import write_demo_files

    tables, truth = generate_with_truth(**generate_kwargs)
    roster = patients(**generate_kwargs)
    empty = {name: schema.empty(name) for name in schema.TABLES}
    store.save_tables(root, practice, empty)
    _write_truth(root, practice, truth)
    counts = write_demo_files(root, tables, roster, practice=practice)
    inbox = store.practice_dir(root, practice) / "inbox"
    summary = ingest(root, practice, [inbox / "837", inbox / "835", inbox / "pm"], column_map="generic",
                     jobs=jobs, progress=progress)
    if summary.rejections or summary.warnings:
        raise RuntimeError(f"the demo's own files did not load cleanly: {summary.warnings} warning(s), "
                           f"rejected: {summary.rejections[:3]}")
    return {"files": counts, "ingest": summary}
