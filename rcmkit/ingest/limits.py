"""Size and complexity limits of the X12 reader: hostile or broken input is refused with a message, never allowed
to exhaust memory or time.

Reading holds a file whole, with index arrays beside it: peak memory is about 15-20 times the file's size for
real 835/837 files (measured: a 24 MB 835 peaks near 400 MB), and the ingest pipeline keeps every table of the
practice in memory besides. The limits below keep that bounded; each is a module attribute read when a file is
read, so tests (and callers) can lower or raise it (``rcmkit.ingest.limits.MAX_FILE_BYTES = ...``). A file over
a limit is refused whole (a ``rejections`` row with code ``limit`` naming the file, what was found and the
limit) and is not recorded as ingested, so the same file loads on a later run with a higher limit.
"""

from __future__ import annotations

import os
from rcmkit.errors import RcmkitError

__all__ = ["LimitExceeded", "MAX_FILE_BYTES", "MAX_SEGMENT_BYTES", "MAX_SEGMENTS", "MAX_ENVELOPES",
           "MAX_SEPARATOR_RUNS", "MAX_HL_DEPTH", "MAX_WARNINGS_PER_CODE"]


def _env_bytes(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


#: Largest X12 file read (bytes, as stored, before decoding); env ``RCMKIT_MAX_X12_BYTES`` sets it at import.
MAX_FILE_BYTES = _env_bytes("RCMKIT_MAX_X12_BYTES", 256 << 20)
#: Longest segment (bytes between terminators). The longest 835/837 segments of the TR3s are under 1 KB.
MAX_SEGMENT_BYTES = 64 << 10
#: Most segments (terminators) in one file; about 10 million in a 256 MB file of real data.
MAX_SEGMENTS = 16 << 20
#: Most ISA, GS or ST segments (each kind counted apart) in one file: a real file has a few thousand.
MAX_ENVELOPES = 100_000
#: Most runs of interchanges with different separators in one file (each change re-reads the rest of it).
MAX_SEPARATOR_RUNS = 64
#: Deepest 837 HL hierarchy (billing provider 20 > subscriber 22 > patient 23 is 3 deep).
MAX_HL_DEPTH = 32
#: Warning rows kept per warning code and file; the rest are counted in one summary row.
MAX_WARNINGS_PER_CODE = 1000


class LimitExceeded(RcmkitError, ValueError):
    """A file exceeds one of the limits of this module; the message says which, by how much, and how to raise it."""
