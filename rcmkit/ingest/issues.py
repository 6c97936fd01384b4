"""What ingest reports besides the data: warnings (loaded anyway) and rejections (not loaded at all).

Policy: liberal in what we read, exact in what we report. A deviation that leaves every number known loads with a
warning row; one that leaves a number unknowable rejects its whole transaction set (ST..SE), never half of it.
Every message names the file and the segment number; none carries a patient name, member ID or birth date
(readers only ever pass amounts, codes, dates of service and claim IDs into messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rcmkit.ingest import limits
from rcmkit.errors import RcmkitError

__all__ = ["Issues", "SetRejected", "where"]


def where(file: str, segment_number: int | None, segment_id: str | None, claim_id: str | None = None) -> str:
    """'name.835, segment 17 (CLP, claim 123)': the prefix every message starts with."""
    place = file
    if segment_number is not None:
        place += f", segment {segment_number}"
    details = [d for d in (segment_id, f"claim {claim_id}" if claim_id else None) if d]
    if details:
        place += f" ({', '.join(details)})"
    return place


class SetRejected(RcmkitError):
    """A transaction set cannot be loaded; raised inside a reader, turned into a ``rejections`` row."""

    def __init__(self, code: str, segment_number: int, segment_id: str, text: str, claim_id: str | None = None):
        self.code = code
        self.segment_number = segment_number
        self.segment_id = segment_id
        self.text = text
        self.claim_id = claim_id
        super().__init__(text)


@dataclass
class Issues:
    """Collects the warning and rejection rows of one file. Warnings are kept up to
    :data:`~rcmkit.ingest.limits.MAX_WARNINGS_PER_CODE` per code; the rest are counted in ``suppressed`` and
    summed up in one row per code by :meth:`finish`."""

    file: str
    warnings: list[dict] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)
    _kept: dict[str, int] = field(default_factory=dict, repr=False)

    def _add_warning(self, row: dict) -> None:
        code = row["code"]
        if self._kept.get(code, 0) < limits.MAX_WARNINGS_PER_CODE:
            self._kept[code] = self._kept.get(code, 0) + 1
            self.warnings.append(row)
        else:
            self.suppressed[code] = self.suppressed.get(code, 0) + 1

    def absorb(self, other: Issues) -> None:
        """Add the warnings (within the limit) and rejections another collector of the same file gathered."""
        for row in other.warnings:
            self._add_warning(row)
        for code, count in other.suppressed.items():
            self.suppressed[code] = self.suppressed.get(code, 0) + count
        self.rejections.extend(other.rejections)

    def finish(self) -> None:
        """One summary warning per code that had more warnings than were kept."""
        for code, count in sorted(self.suppressed.items()):
            self.warnings.append({
                "file": self.file, "segment_number": None, "segment_id": None, "st_control_number": None,
                "claim_id": None, "code": code, "found": str(count), "expected": None,
                "message": f"{self.file}: {count:,} more '{code}' warnings not listed (the first "
                f"{limits.MAX_WARNINGS_PER_CODE:,} are: rcmkit.ingest.limits.MAX_WARNINGS_PER_CODE)",
            })
        self.suppressed = {}

    def warn(
        self,
        code: str,
        text: str,
        *,
        segment_number: int | None = None,
        segment_id: str | None = None,
        st: str | None = None,
        claim_id: str | None = None,
        found: str | None = None,
        expected: str | None = None,
    ) -> None:
        self._add_warning(
            {
                "file": self.file,
                "segment_number": segment_number,
                "segment_id": segment_id,
                "st_control_number": st,
                "claim_id": claim_id,
                "code": code,
                "found": found,
                "expected": expected,
                "message": f"{where(self.file, segment_number, segment_id, claim_id)}: {text}",
            }
        )

    def reject(
        self,
        code: str,
        text: str,
        *,
        st: str | None = None,
        transaction_type: str | None = None,
        first: int | None = None,
        last: int | None = None,
        claims: int = 0,
        segment_number: int | None = None,
        segment_id: str | None = None,
        claim_id: str | None = None,
    ) -> None:
        """Record that a transaction set (``st`` given), segments outside any set (``st`` None, ``first`` given) or
        the whole file (neither) was not loaded."""
        if st is not None:
            scope = f"transaction set {st} (segments {first}-{last})"
        else:
            scope = f"segments {first}-{last}" if first is not None else "file"
        self.rejections.append(
            {
                "file": self.file,
                "st_control_number": st,
                "transaction_type": transaction_type,
                "first_segment": first,
                "last_segment": last,
                "claims": claims,
                "code": code,
                "message": f"{where(self.file, segment_number, segment_id, claim_id)}: {text}; "
                f"{scope} not loaded",
            }
        )
