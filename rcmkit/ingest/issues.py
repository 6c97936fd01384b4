"""What ingest reports besides the data: warnings (loaded anyway) and rejections (not loaded at all).

Policy: liberal in what we read, exact in what we report. A deviation that leaves every number known loads with a
warning row; one that leaves a number unknowable rejects its whole transaction set (ST..SE), never half of it.
Every message names the file and the segment number; none carries a patient name, member ID or birth date
(readers only ever pass amounts, codes, dates of service and claim IDs into messages).

PM exports (:mod:`rcmkit.ingest.pm`) are tables, not segments: their rows are addressed by file and line (a
spreadsheet user's line, header = 1) and column. The same collector takes them through its ``*_lines`` and
:meth:`Issues.warn_file` methods, vectorized over the lines of a file, and gives them as the ``csv_rejections``
frame (one row per problem on a row that did not load) and a warnings frame (one row per file, column and kind
of oddity): :meth:`Issues.line_rejections`, :meth:`Issues.line_warnings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rcmkit.ingest import limits
from rcmkit.errors import RcmkitError

__all__ = ["Issues", "SetRejected", "where", "LINE_REJECTION_COLUMNS", "LINE_WARNING_COLUMNS"]

#: Columns of :meth:`Issues.line_rejections` (the ``csv_rejections`` table) and :meth:`Issues.line_warnings`.
LINE_REJECTION_COLUMNS = ["file", "line", "column", "claim_id", "code", "expected", "message"]
LINE_WARNING_COLUMNS = ["file", "line", "column", "count", "code", "message"]


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
    """Collects the warning and rejection rows of one X12 file (``file``; :meth:`warn`, :meth:`reject`) or of
    one PM export (``file`` unused: each call names its file; :meth:`warn_lines`, :meth:`warn_file`,
    :meth:`reject_lines`). X12 warnings are kept up to :data:`~rcmkit.ingest.limits.MAX_WARNINGS_PER_CODE` per
    code; the rest are counted in ``suppressed`` and summed up in one row per code by :meth:`finish`. PM warnings
    are one row per file, column and kind of oddity already, so all are kept."""

    file: str = ""
    warnings: list[dict] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)
    _kept: dict[str, int] = field(default_factory=dict, repr=False)
    _line_rejections: list[pd.DataFrame] = field(default_factory=list, repr=False, compare=False)

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

    def extend_lines(self, other: Issues) -> None:
        """Add what another collector said of PM export lines (:meth:`reject_lines`, :meth:`warn_lines`,
        :meth:`warn_file`), after what this one said: as if this one had said it now."""
        self.warnings.extend(other.warnings)
        self._line_rejections.extend(other._line_rejections)

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

    # ------------------------------------------------------------------------------------------ PM exports (lines)
    def reject_lines(self, file: str, lines: pd.Series, column: str, claim_ids: pd.Series | None, code: str,
                     problem: str, expected: str, values: pd.Series | None = None) -> None:
        """Reject the rows at ``lines`` (1-based lines of ``file``, an aligned Series). ``values``, when given,
        are quoted in the message: callers never pass patient identifiers."""
        if lines.empty:
            return
        claims = (claim_ids.reindex(lines.index) if claim_ids is not None
                  else pd.Series(np.nan, index=lines.index)).astype("str")
        where = file + " line " + lines.astype(str) + ", column " + column
        where = where + (" (claim " + claims + ")").where(claims.notna(), "")
        said = ": " + problem + (" '" + values.reindex(lines.index).astype(str) + "'" if values is not None else "")
        self._line_rejections.append(pd.DataFrame({
            "file": file, "line": lines.astype("int64"), "column": column, "claim_id": claims,
            "code": code, "expected": expected, "message": where + said + "; expected " + expected,
        }))

    def warn_lines(self, file: str, column: str, lines: pd.Series, code: str, text: str) -> None:
        """One warning row for the ``lines`` (1-based) of ``file`` showing an oddity; names the first few lines."""
        if len(lines) == 0:
            return
        shown = ", ".join(str(n) for n in lines.iloc[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
        place = f"{file}, column {column}" if column else file
        self.warnings.append({
            "file": file, "line": int(lines.iloc[0]), "column": column, "count": len(lines), "code": code,
            "message": f"{place}: {text} ({len(lines)} row(s): line {shown})",
        })

    def warn_file(self, file: str, code: str, text: str, line: int = 1) -> None:
        """One warning row about a whole file of a PM export (named at ``line``)."""
        self.warnings.append({"file": file, "line": line, "column": "", "count": 1, "code": code,
                              "message": f"{file}: {text}"})

    def line_rejections(self) -> pd.DataFrame:
        """The rows of :meth:`reject_lines`, by file and line (:data:`LINE_REJECTION_COLUMNS`)."""
        frames = [f for f in self._line_rejections if len(f)]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else "str")
                                 for c in LINE_REJECTION_COLUMNS})
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["file", "line"], kind="mergesort").reset_index(drop=True)

    def line_warnings(self) -> pd.DataFrame:
        """The rows of :meth:`warn_lines` and :meth:`warn_file`, in the order found (:data:`LINE_WARNING_COLUMNS`)."""
        return pd.DataFrame(self.warnings, columns=LINE_WARNING_COLUMNS).astype({"line": "int64", "count": "int64"})
