"""``run.json``: the log of one report run, and the fingerprint that decides whether a rerun can be skipped.

``run.json`` is the only report file that holds wall-clock times (``started_at``, ``finished_at``, ``seconds``):
it is a run log. Everything else it holds is a pure function of the inputs: the parameters that shape the report,
the rcmkit version, the notebook's sha256 and the practice's input tables' content digests (from the store
snapshot the report read, whose number and table versions ``store`` records). Their hash, ``fingerprint``, is
equal for two runs exactly when those inputs are equal.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from rcmkit.report.params import ReportParams

__all__ = ["RUN_FILE", "input_hashes", "store_versions", "file_sha256", "fingerprint", "run_document", "write_run",
           "read_run", "utc_now"]

RUN_FILE = "run.json"


def utc_now() -> str:
    """The wall-clock time as ISO 8601 UTC (for run.json only)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_hashes(data_root: str | os.PathLike, practice: str, version: int | None = None) -> dict[str, str]:
    """``{"claims": sha256, ...}``: the content digests of the practice's tables in store snapshot ``version``
    (default: the newest), from the snapshot (:func:`rcmkit.core.store.manifest`)."""
    from rcmkit.core import store
    tables = store.manifest(data_root, practice, version).get("tables", {})
    return {name: t["sha256"] for name, t in sorted(tables.items())}


def store_versions(data_root: str | os.PathLike, practice: str, version: int | None = None) -> dict[str, Any]:
    """``{"store_snapshot": N, "tables": {name: Delta version}}``: what a report read, for run.json;
    ``rcmkit report --as-of-version N`` reads that snapshot again."""
    from rcmkit.core import store
    snap = store.manifest(data_root, practice, version)
    return {"store_snapshot": snap["snapshot"],
            "tables": {name: t["version"] for name, t in sorted(snap["tables"].items())}}


def fingerprint(params: ReportParams, inputs: Mapping[str, str], notebook_sha256: str) -> str:
    """sha256 over what determines the report: parameters, inputs, notebook and rcmkit version."""
    from rcmkit import __version__

    doc = {"parameters": params.fingerprint_fields(), "inputs": dict(inputs), "notebook": notebook_sha256,
           "rcmkit_version": __version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def run_document(
    params: ReportParams, *, notebook: str | os.PathLike, status: str, started_at: str, finished_at: str,
    seconds: float, inputs: Mapping[str, str] | None = None, notebook_sha256: str | None = None,
    kernel: str | None = None, outputs: Mapping[str, str | None] | None = None, notes: list[str] | None = None,
    error: str | None = None, store: Mapping[str, Any] | None = None, timings: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """run.json's content; ``store``: the snapshot the report read (:func:`store_versions`); ``timings``: seconds
    per step of the run (notebook, html, slides, pdf), where the time went."""
    from rcmkit import __version__

    inputs = input_hashes(params.data_root, params.practice) if inputs is None else dict(inputs)
    nb_sha = notebook_sha256 or file_sha256(notebook)
    doc: dict[str, Any] = {
        "status": status,
        "practice": params.practice,
        "month": params.month,
        "parameter_file": params.source,
        "parameters": {**params.fingerprint_fields(), "output_root": str(params.output_root),
                       "month_is_default": params.month_is_default},
        "rcmkit_version": __version__,
        "notebook": {"path": str(notebook), "sha256": nb_sha},
        "kernel": kernel,
        "inputs": inputs,
        "store": dict(store) if store is not None else store_versions(params.data_root, params.practice,
                                                                      params.store_version),
        "fingerprint": fingerprint(params, inputs, nb_sha),
        "started_at": started_at,
        "finished_at": finished_at,
        "seconds": round(seconds, 2),
        "timings": {k: round(v, 2) for k, v in (timings or {}).items()},
        "outputs": dict(outputs or {}),
        "notes": list(notes or []),
    }
    if error is not None:
        doc["error"] = error
    return doc


def write_run(folder: str | os.PathLike, doc: Mapping[str, Any]) -> Path:
    """Write ``<folder>/run.json`` atomically, private to its owner (:func:`rcmkit.core.store.write_file`)."""
    from rcmkit.core import store
    path = Path(folder) / RUN_FILE
    tmp = path.with_name(path.name + ".tmp")
    store.write_file(tmp, (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    os.replace(tmp, path)
    return path


def read_run(folder: str | os.PathLike) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
