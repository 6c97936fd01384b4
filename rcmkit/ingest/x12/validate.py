"""Standard X12 validation with pyx12 (``pyx12.x12n_document``, the engine behind its ``x12valid`` command).

pyx12 checks a file against the TR3 maps (loops, mandatory segments and elements, lengths, code lists) and is
much stricter than :func:`rcmkit.ingest.read_x12`, which loads what it can and reports deviations. The two answer
different questions: "does this file conform?" versus "what does it say?".

The file is decoded and located as ingest does it (byte order mark, UTF-16, Windows-1252 and prose before the
ISA are dealt with first), so pyx12's segment numbers match ingest's (the first ISA is segment 1).

pyx12 is slow (about 0.3-0.4 MB/s) and raises an internal ``EngineError`` on some inputs (unknown versions,
very large files). Such a crash is reported as a validator failure (``valid`` is None), never as a verdict on
the file. pyx12 quotes element values in some messages; for segments that can carry patient data (NM1, N3,
N4, DMG, PER, REF) the quoted values are blanked.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rcmkit.ingest.issues import Issues
from rcmkit.ingest.limits import LimitExceeded
from rcmkit.ingest.x12.envelope import X12FileError, decode, segment_runs

__all__ = ["ValidationReport", "validate_x12", "ERROR_COLUMNS"]

ERROR_COLUMNS = ["file", "level", "interchange", "group", "transaction", "segment_id", "segment_number",
                 "segment_position", "element", "code", "message", "value"]
_PERSONAL_SEGMENTS = frozenset({"NM1", "N3", "N4", "DMG", "PER", "REF"})


@dataclass(frozen=True)
class ValidationReport:
    """pyx12's verdict on one file.

    ``valid`` is True or False when pyx12 ran to the end, None when it could not (``failure`` says why).
    ``errors`` has one row per pyx12 error (columns :data:`ERROR_COLUMNS`): ``level`` is interchange, group,
    transaction, segment or element; ``segment_number`` counts from the first ISA, as ingest does;
    ``segment_position`` is pyx12's position within the transaction set; ``code`` is pyx12's error code.
    """

    file: str
    valid: bool | None
    errors: pd.DataFrame
    failure: str | None
    seconds: float
    size_bytes: int

    def summary(self) -> str:
        """One line for humans, e.g. 'remit.835: 3 errors (pyx12, 0.4 s)'."""
        if self.valid is None:
            return f"{self.file}: not validated: {self.failure}"
        verdict = "valid" if self.valid else f"{len(self.errors)} error{'s' * (len(self.errors) != 1)}"
        return f"{self.file}: {verdict} (pyx12, {self.seconds:.1f} s)"


def validate_x12(path: str | os.PathLike, *, max_bytes: int | None = None) -> ValidationReport:
    """Validate one X12 file with pyx12. Files larger than ``max_bytes`` are not sent to pyx12 (at ~0.3 MB/s a
    100 MB file takes minutes); the report then says so and ``valid`` is None."""
    path = Path(path)
    raw = path.read_bytes()
    started = time.perf_counter()

    def failed(why: str) -> ValidationReport:
        return ValidationReport(path.name, None, pd.DataFrame(columns=ERROR_COLUMNS), why,
                                time.perf_counter() - started, len(raw))

    if max_bytes is not None and len(raw) > max_bytes:
        return failed(f"skipped: {len(raw):,} bytes is more than max_bytes={max_bytes:,} (pyx12 reads about "
                      "0.3 MB/s)")
    issues = Issues(path.name)
    data, _ = decode(raw, issues)
    try:
        begin = int(segment_runs(data, issues)[0].starts[0])
    except X12FileError as exc:
        return failed(f"not an X12 file: {exc}")
    except LimitExceeded as exc:
        return failed(f"not read: {exc}")
    if data[begin : begin + 3] != b"ISA":
        return failed("pyx12 needs an ISA interchange header; the file starts at "
                      f"{data[begin:begin + 2].decode()} (ingest reads it, pyx12 cannot)")
    document = io.StringIO()
    try:
        with _quiet_pyx12() as log:
            valid = _run_pyx12(data[begin:].decode("utf-8"), document)
    except Exception as exc:  # pyx12 raises EngineError, X12Error and plain errors from its internals
        detail = "; ".join(log) if log else ""
        return failed(f"pyx12 failed ({type(exc).__name__}: {exc}{'; ' + detail if detail else ''}); "
                      "this is a failure of the validator, not a verdict on the file")
    errors = _error_rows(path.name, json.loads(document.getvalue() or '{"interchanges": []}'))
    if not valid and errors.empty:
        return failed(f"pyx12 stopped without a verdict ({'; '.join(log) or 'no message'}); this is a failure "
                      "of the validator, not a verdict on the file")
    return ValidationReport(path.name, bool(valid) and errors.empty, errors, None,
                            time.perf_counter() - started, len(raw))


def _run_pyx12(text: str, document: io.StringIO) -> bool:
    import pyx12.params
    import pyx12.x12n_document

    return pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(text), None, None, None, document)


@contextmanager
def _quiet_pyx12() -> Iterator[list[str]]:
    """Keep pyx12's log records off the root logger for the duration; collect its error messages."""
    logger = logging.getLogger("pyx12")
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                messages.append(re.sub(r'"?<_io\.StringIO object at \w+>"?', "the input", record.getMessage()))

    handler, propagate = Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _redact(segment_id: str | None, text: str | None) -> str | None:
    """Blank the element values pyx12 quotes, for segments that can carry patient data."""
    if text is None or segment_id not in _PERSONAL_SEGMENTS:
        return text
    text = re.sub(r"Segment (\w{2,3})\*.*? not found", r"Segment \1 not found", text)
    text = re.sub(r'len\("[^"]*"\)', "len(...)", text)
    return re.sub(r"^\(.*?\) is not a valid", "(...) is not a valid", text)


def _error_rows(file: str, document: dict) -> pd.DataFrame:
    rows: list[dict] = []

    def add(level: str, ids: dict, errors: list[dict], segment: dict | None = None, element: str | None = None):
        seg_id = segment.get("seg_id") if segment else None
        for err in errors:
            rows.append({
                "file": file, "level": level, **ids, "segment_id": seg_id,
                "segment_number": segment.get("cur_line") if segment else None,
                "segment_position": segment.get("seg_count") if segment else None, "element": element,
                "code": str(err.get("err_cde")), "message": _redact(seg_id, err.get("err_str")),
                "value": None if seg_id in _PERSONAL_SEGMENTS else err.get("err_val"),
            })

    for isa in document.get("interchanges", []):
        ids = {"interchange": isa.get("isa_trn_set_id"), "group": None, "transaction": None}
        add("interchange", ids, isa.get("errors", []))
        for gs in isa.get("groups", []):
            ids = {**ids, "group": gs.get("gs_control_num"), "transaction": None}
            add("group", ids, gs.get("errors", []))
            for st in gs.get("transactions", []):
                ids = {**ids, "transaction": st.get("trn_set_control_num")}
                add("transaction", ids, st.get("errors", []))
                for seg in st.get("segments", []):
                    add("segment", ids, seg.get("errors", []), seg)
                    for ele in seg.get("elements", []):
                        name = f"{seg.get('seg_id')}{ele.get('ele_pos', 0):02d}" + (
                            f"-{ele['subele_pos']:02d}" if ele.get("subele_pos") else "")
                        add("element", ids, ele.get("errors", []), seg, name)
    frame = pd.DataFrame(rows, columns=ERROR_COLUMNS)
    return frame.astype({"segment_number": "Int64", "segment_position": "Int64"})
