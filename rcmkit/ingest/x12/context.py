"""What a reader needs to know about the file it reads."""

from __future__ import annotations

from dataclasses import dataclass

from rcmkit.ingest.issues import Issues

__all__ = ["FileContext"]


@dataclass(frozen=True)
class FileContext:
    """``name`` is the file name used in ``source`` columns and messages; ``sha12`` the first 12 hex digits of
    the file's SHA-256, which makes row IDs unique across files and stable across re-reads."""

    name: str
    sha12: str
    issues: Issues
    patient_salt: bytes

    def row_prefix(self, interchange: str, control_number: str) -> str:
        return f"{self.sha12}:{interchange}:{control_number}:"

    def row_id(self, interchange: str, control_number: str, segment_number: int) -> str:
        """'<sha12>:<ISA13>:<ST02>:<segment number>': unique within and across files, and deterministic."""
        return f"{self.row_prefix(interchange, control_number)}{segment_number}"
