"""X12 interchange reading: bytes -> text -> separators -> segment index -> transaction sets.

Element names follow ASC X12 005010 (the TR3 control segments):

* ISA Interchange Control Header. The byte after ``ISA`` is the element separator; ISA11 Repetition Separator
  (``U`` in 004010, where it was the Interchange Control Standards Identifier); ISA12 Interchange Control Version
  Number; ISA13 Interchange Control Number; ISA16 Component Element Separator; the byte after ISA16 is the segment
  terminator (CR/LF after it are layout, not data).
* GS Functional Group Header: GS01 Functional Identifier Code (HP 835, HC 837), GS04 Date, GS06 Group Control
  Number, GS08 Version / Release / Industry Identifier Code (``005010X221A1``...).
* ST Transaction Set Header: ST01 Transaction Set Identifier Code, ST02 Transaction Set Control Number, ST03
  Implementation Convention Reference. SE01 Number of Included Segments, SE02 Transaction Set Control Number.
  GE01 Number of Transaction Sets Included, GE02 Group Control Number. IEA01 Number of Included Functional
  Groups, IEA02 Interchange Control Number.

Reading is byte-level and columnar: one numpy pass finds the segment terminators, another the element
separators of a window of transaction sets; elements are then sliced out as arrow string columns without a
Python object per element (see :class:`ElementIndex`). Python loops run over envelope segments only.

Deviations tolerated here, each reported through :class:`~rcmkit.ingest.issues.Issues`: a byte order mark,
UTF-16, Windows-1252 bytes, prose or blanks before the ISA, files that start at GS or ST (separators inferred),
a non-fixed-width ISA, newline-only terminators, a line break before each terminator ('...\\n~GS*...\\n~'),
indentation, blank lines, several interchanges with different
separators in one file, wrong control counts and numbers, missing GE/IEA trailers.
"""

from __future__ import annotations

import codecs
import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rcmkit.ingest import limits
from rcmkit.ingest.issues import Issues
from rcmkit.ingest.limits import LimitExceeded
from rcmkit.errors import RcmkitError

__all__ = [
    "Separators",
    "SegmentIndex",
    "ElementIndex",
    "TransactionSet",
    "X12FileError",
    "decode",
    "segment_runs",
    "transaction_sets",
    "tag_code",
    "short_code",
    "looks_like_x12",
    "claim_segments",
]

_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True

# The first segment must start a line (after optional blanks): ISA, or GS/ST in a file without an envelope.
_ISA = re.compile(rb"(?m)^[ \t]*(?P<segment>ISA([^0-9A-Za-z\s])[0-9A-Za-z ]{2}\2)")
_GS_OR_ST = re.compile(rb"(?m)^[ \t]*(?P<segment>GS([^0-9A-Za-z\s])[A-Z]{2}\2|ST([^0-9A-Za-z\s])\d{3}\3)")


class X12FileError(RcmkitError, ValueError):
    """The file cannot be read as X12 at all (no envelope found, unusable separators)."""


def tag_code(tag: str) -> int:
    """The integer code of a segment ID as :class:`SegmentIndex` stores it (3 bytes, big-endian, 0-padded)."""
    b = tag.encode("ascii")
    return (b[0] << 16) | (b[1] << 8) | (b[2] if len(b) > 2 else 0)


@functools.lru_cache(maxsize=4096)
def tag_name(code: int) -> str:
    return bytes(b for b in ((code >> 16) & 255, (code >> 8) & 255, code & 255) if b).decode("latin-1")


ISA, GS, ST, SE, GE, IEA = (tag_code(t) for t in ("ISA", "GS", "ST", "SE", "GE", "IEA"))
_ENVELOPE = np.array([ISA, GS, ST, SE, GE, IEA], dtype=np.int32)
_CLAIM_CODES = np.array([tag_code("CLP"), tag_code("CLM")], dtype=np.int32)
_CLAIM_CODE_OF = {"835": [tag_code("CLP")], "837": [tag_code("CLM")]}
_ISA_MAX_BYTES = 512  # an ISA is 106 bytes; senders pad or trim a few elements, never by hundreds of bytes


# --------------------------------------------------------------------------------------------- decoding
def _utf16_codec(raw: bytes) -> str | None:
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    head = raw[:200]
    if len(head) >= 8 and head.count(0) >= len(head) // 3:
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    return None


def decode(raw: bytes, issues: Issues) -> tuple[bytes, str]:
    """UTF-8 bytes of the file's text and the encoding it was read with.

    X12 is ASCII in practice; a UTF-8 byte order mark is dropped, UTF-16 (BOM or NUL bytes) and non-UTF-8 bytes
    (read as Windows-1252, Latin-1 for its five undefined bytes) are re-encoded, each with a warning.
    """
    if raw.startswith(codecs.BOM_UTF8):
        issues.warn("encoding", "starts with a UTF-8 byte order mark, which X12 does not use; ignored")
        raw = raw[len(codecs.BOM_UTF8):]
    codec = _utf16_codec(raw)
    if codec:
        issues.warn("encoding", f"the file is UTF-16 ({codec}); X12 is 8-bit text; read as UTF-16",
                    found=codec, expected="ASCII")
        try:
            return raw.decode(codec).encode("utf-8"), codec
        except UnicodeDecodeError as exc:  # an odd byte count (a cut file) or an unpaired surrogate
            issues.warn("encoding", f"invalid {codec} at byte {exc.start} ({exc.reason}); those bytes read as "
                        "U+FFFD", found=codec, expected="ASCII")
            return raw.decode(codec, errors="replace").encode("utf-8"), codec
    if raw.isascii():
        return raw, "ascii"
    try:
        raw.decode("utf-8")
        return raw, "utf-8"
    except UnicodeDecodeError as exc:
        bad = raw[exc.start]
        try:
            text, codec = raw.decode("cp1252"), "windows-1252"
        except UnicodeDecodeError:
            text, codec = raw.decode("latin-1"), "latin-1"
        issues.warn("encoding", f"not valid UTF-8 (byte 0x{bad:02X} at offset {exc.start}); read as {codec}",
                    found=f"0x{bad:02X}", expected="ASCII or UTF-8")
        return text.encode("utf-8"), codec


# --------------------------------------------------------------------------------------------- separators
@dataclass(frozen=True)
class Separators:
    """Delimiters of one interchange. ``repetition`` is None in 004010 and when ISA11 is unusable."""

    element: str
    component: str
    repetition: str | None
    segment: str


def _isa_separators(data: bytes, at: int) -> tuple[Separators, list[str]]:
    """Separators declared by the ISA starting at byte ``at``, and remarks on oddities (for warnings).

    The ISA is read by its element separators, not by the fixed 106-byte layout, which senders break.
    """
    element = data[at + 3 : at + 4]
    pos = at + 3
    for _ in range(15):
        pos = data.find(element, pos + 1, at + _ISA_MAX_BYTES)  # bounded: a hostile ISA must not scan the file
        if pos < 0:
            raise X12FileError(f"the ISA at byte {at} has fewer than 16 elements; expected ISA01 to ISA16")
    component, segment = data[pos + 1 : pos + 2], _terminator_after(data, pos + 2)
    if not segment or segment.isalnum() or segment == b" ":
        raise X12FileError(
            f"no segment terminator after ISA16 at byte {pos + 2} (found {segment!r}); "
            "expected a character such as '~' right after the component separator"
        )
    isa11 = data[at:pos].split(element)[11]
    remarks = []
    repetition: bytes | None = isa11 if len(isa11) == 1 and not isa11.isalnum() and isa11 != b" " else None
    if repetition is not None and repetition in (component, element, segment):
        remarks.append(f"ISA11 repetition separator {repetition.decode()!r} equals another separator; not used")
        repetition = None
    seps = [element, component, segment] + ([repetition] if repetition else [])
    if len({element, component, segment}) < 3 or component.isalnum() or component == b" ":
        raise X12FileError(f"unusable separators in the ISA at byte {at}: element {element!r}, component "
                           f"{component!r}, segment {segment!r}; expected three different punctuation characters")
    if any(s[0] > 127 for s in seps):
        raise X12FileError(f"non-ASCII separator in the ISA at byte {at}; expected ASCII punctuation")
    return Separators(element.decode(), component.decode(), repetition.decode() if repetition else None,
                      segment.decode()), remarks


def _terminator_after(data: bytes, pos: int) -> bytes:
    """The segment terminator that follows the ISA (or a bare GS/ST) at byte ``pos``.

    Usually the byte at ``pos`` itself (ISA position 106). Some senders put a line break *before* each terminator
    ('ISA*...*:\\n~GS*...\\n~ST*...'): when the byte at ``pos`` is whitespace and the next non-whitespace byte is
    punctuation, that byte is the terminator and the whitespace around segments is layout. When the next
    non-whitespace byte is data (a letter: 'GS', 'ST'), the whitespace itself (a newline) terminates segments.
    """
    here = data[pos : pos + 1]
    if not here or not _WHITESPACE[here[0]]:
        return here
    for at in range(pos + 1, min(len(data), pos + 64)):  # bounded: blank lines and indentation, not a file
        ch = data[at : at + 1]
        if _WHITESPACE[ch[0]]:
            continue
        return ch if not ch.isalnum() and ch[0] < 128 else here
    return here


def _inferred_separators(data: bytes, at: int) -> Separators:
    """Separators of a file that starts at GS or ST (no ISA): the element separator follows the segment ID, the
    terminator is the first character after it that cannot be data; the component separator is assumed ':'."""
    element = data[at + 2 : at + 3]
    for pos in range(at + 3, min(len(data), at + 400)):
        ch = data[pos : pos + 1]
        if not (ch.isalnum() or ch in (b" ", element, b".", b"-")):
            ch = _terminator_after(data, pos)
            if ch in (element, b".", b"-"):
                ch = data[pos : pos + 1]
            if ch[0] > 127 or element[0] > 127:
                raise X12FileError(f"non-ASCII character at byte {pos} where the segment terminator after the "
                                   f"{data[at:at + 2].decode()} at byte {at} should be; expected ASCII punctuation")
            return Separators(element.decode(), ":" if element != b":" else ">", None, ch.decode())
    raise X12FileError(f"no segment terminator found after the {data[at:at + 2].decode()} at byte {at}")


def looks_like_x12(path: str | os.PathLike, sniff_bytes: int = 65536) -> bool:
    """True when the first ``sniff_bytes`` of the file hold an ISA interchange header, or a GS or ST segment
    (prose before them, a byte order mark and UTF-16 are allowed, as in :func:`decode`)."""
    with open(path, "rb") as fh:
        head = fh.read(sniff_bytes)
    text, _ = decode(head, Issues(str(path)))
    return bool(_ISA.search(text) or _GS_OR_ST.search(text))


def _find_start(data: bytes, issues: Issues) -> tuple[int, Separators]:
    isa = _ISA.search(data)
    bare = _GS_OR_ST.search(data, 0, isa.start("segment") if isa else len(data))
    if bare is not None:
        at = bare.start("segment")
        seps = _inferred_separators(data, at)
        issues.warn("envelope", f"no ISA interchange header before the {data[at:at + 2].decode()} at byte {at}; "
                    f"separators inferred: element {seps.element!r}, segment {seps.segment!r}, component "
                    f"{seps.component!r} assumed", expected="ISA")
    elif isa is not None:
        at = isa.start("segment")
        seps, remarks = _isa_separators(data, at)
        for remark in remarks:
            issues.warn("separator", remark, segment_number=1, segment_id="ISA")
    else:
        raise X12FileError("no ISA, GS or ST segment found; this does not look like an X12 file")
    if data[:at].strip():
        issues.warn("envelope", f"{at} bytes of text before the first segment ignored", expected="ISA")
    return at, seps


# --------------------------------------------------------------------------------------------- segments
@dataclass(frozen=True)
class SegmentIndex:
    """The segments of one run of interchanges that share separators, as parallel arrays.

    Segment ``i`` is ``data[starts[i]:stops[i]]`` (indentation and trailing blanks removed); ``terms[i]`` is the
    position of its terminator (``len(data) - 1`` for an unterminated last segment, for which ``data`` got one
    appended); ``pieces[i]`` counts the terminators before it, blank pieces included. Segment ``i`` is segment
    number ``first_number + i`` of the file, counted from its start (the first ISA is 1).
    """

    data: bytes
    starts: np.ndarray
    stops: np.ndarray
    terms: np.ndarray
    pieces: np.ndarray
    codes: np.ndarray
    first_number: int
    separators: Separators
    #: File segment number of each segment, when the index joins several files (:func:`join_runs`); else None and
    #: segment ``i`` is number ``first_number + i``.
    numbers: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.uint8)

    def head(self, n: int) -> SegmentIndex:
        return SegmentIndex(self.data, self.starts[:n], self.stops[:n], self.terms[:n], self.pieces[:n],
                            self.codes[:n], self.first_number, self.separators,
                            None if self.numbers is None else self.numbers[:n])

    def number(self, i: int | np.ndarray) -> int | np.ndarray:
        """File segment number(s) of segment(s) ``i``."""
        if self.numbers is not None:
            return int(self.numbers[i]) if isinstance(i, (int, np.integer)) or np.ndim(i) == 0 else self.numbers[i]
        return self.first_number + (int(i) if isinstance(i, (int, np.integer)) or np.ndim(i) == 0 else i)

    def tag(self, i: int) -> str:
        return tag_name(int(self.codes[i]))

    def elements(self, i: int) -> list[str]:
        """Segment ``i`` split into elements; element 0 is the segment ID."""
        return self.data[self.starts[i] : self.stops[i]].decode("utf-8").split(self.separators.element)

    def positions(self, code: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Indices of the segments with tag ``code`` in ``[lo, hi)``."""
        hi = len(self) if hi is None else hi
        return lo + np.flatnonzero(self.codes[lo:hi] == code)


def _index(data: bytes, begin: int, seps: Separators, first_number: int) -> SegmentIndex:
    """Split ``data[begin:]`` on the segment terminator (one numpy pass) and tag every segment."""
    term = ord(seps.segment)
    arr = np.frombuffer(data, dtype=np.uint8)
    hits = arr[begin:] == term
    count = int(np.count_nonzero(hits))
    if count > limits.MAX_SEGMENTS:  # checked before the index arrays (8 bytes per segment each) are made
        raise LimitExceeded(f"the file has {count:,} segment terminators {seps.segment!r}, more than the limit of "
                            f"{limits.MAX_SEGMENTS:,} (rcmkit.ingest.limits.MAX_SEGMENTS)")
    terms = begin + np.flatnonzero(hits)
    del hits
    if arr[(terms[-1] + 1 if len(terms) else begin):].tobytes().strip():
        data += seps.segment.encode()  # an unterminated last segment: terminate it so every segment has one
        arr = np.frombuffer(data, dtype=np.uint8)
        terms = np.append(terms, len(data) - 1)
    starts = np.empty_like(terms)
    starts[:1] = begin
    starts[1:] = terms[:-1] + 1
    stops = terms.copy()
    _skip_whitespace(arr, starts, stops, step=1)
    _skip_whitespace(arr, stops, starts, step=-1)
    pieces = np.arange(len(starts))
    blank = starts == stops
    if blank.any():
        pieces = np.flatnonzero(~blank)
        starts, stops, terms = starts[pieces], stops[pieces], terms[pieces]
    index = SegmentIndex(data, starts, stops, terms, pieces, np.zeros(0, dtype=np.int32), first_number, seps)
    return replace(index, codes=_tag_codes(index))


def joinable(run: SegmentIndex) -> bool:
    """True when ``run`` can be read together with other files' runs (:func:`join_runs`) with the same result as
    alone: no segment has blanks before its terminator (an :class:`ElementIndex` over such a segment trims every
    element of its window, which would touch the other files' elements)."""
    return run.numbers is None and bool((run.stops == run.terms).all())


def join_runs(runs: list[SegmentIndex]) -> tuple[SegmentIndex, list[int]]:
    """One :class:`SegmentIndex` over the runs of several files that share separators (each :func:`joinable`), and
    the index of each run's first segment in it. Segment numbers stay those of each file (``numbers``), so
    readers word their messages as for the file alone; reading many small files as one batch saves the fixed
    cost of each reader call per file (issue #15)."""
    seps = runs[0].separators
    if any(run.separators != seps for run in runs):
        raise ValueError("join_runs: the runs have different separators")
    offsets, at = [], 0
    for run in runs:
        offsets.append(at)
        at += len(run.data)
    data = b"".join(run.data for run in runs)
    shift = lambda name: np.concatenate([getattr(r, name) + off for r, off in zip(runs, offsets)])  # noqa: E731
    starts, stops, terms = shift("starts"), shift("stops"), shift("terms")
    # pieces: the terminators before each segment in the joined bytes (ElementIndex uses their differences): a
    # run's own count (from its first segment) plus those before its first segment and in the earlier files
    term, base, parts = seps.segment.encode(), 0, []
    for run in runs:
        head = run.data.count(term, 0, int(run.starts[0])) if len(run) else 0
        parts.append(run.pieces - (run.pieces[0] if len(run) else 0) + base + head)
        base += run.data.count(term)
    pieces = np.concatenate(parts)
    codes = np.concatenate([r.codes for r in runs])
    numbers = np.concatenate([r.first_number + np.arange(len(r), dtype=np.int64) for r in runs])
    firsts = np.cumsum([0] + [len(r) for r in runs[:-1]]).tolist()
    return SegmentIndex(data, starts, stops, terms, pieces, codes, runs[0].first_number, seps, numbers), firsts


def _skip_whitespace(arr: np.ndarray, moving: np.ndarray, limit: np.ndarray, step: int) -> None:
    """Move ``moving`` (in place) past whitespace towards ``limit``: forward for starts, backward for stops.

    Steps are taken on the whole array while many segments move (one newline after every terminator is the
    common case), then only on the few still at whitespace (deep indentation)."""
    peek = 0 if step == 1 else -1
    while True:
        at_space = _WHITESPACE[arr[moving + peek]] & (moving != limit)
        count = int(np.count_nonzero(at_space))
        if count == 0:
            return
        if count < len(moving) // 16:
            break
        moving += at_space if step == 1 else -at_space.astype(moving.dtype)
    todo = np.flatnonzero(at_space)
    while len(todo):
        moving[todo] += step
        todo = todo[moving[todo] != limit[todo]]
        todo = todo[_WHITESPACE[arr[moving[todo] + peek]]]


def _tag_codes(segments: SegmentIndex) -> np.ndarray:
    """Segment IDs as integers (:func:`tag_code`): the first 3 bytes, the third dropped when it is the element
    separator (two-letter IDs such as N1) or past the segment's end."""
    code = (_words(segments, segments.starts) >> np.uint64(8)).astype(np.int32)
    length = segments.stops - segments.starts
    third = (code & 0xFF) == ord(segments.separators.element)
    code[third | (length < 3)] &= ~0xFF
    code[length < 2] &= ~0xFF00
    return code


def segment_runs(data: bytes, issues: Issues) -> list[SegmentIndex]:
    """Index every segment of the file, one :class:`SegmentIndex` per run of interchanges sharing separators.

    Raises :class:`X12FileError` when no envelope can be found or the first ISA is unusable, and
    :class:`~rcmkit.ingest.limits.LimitExceeded` when the file breaks a limit of :mod:`rcmkit.ingest.limits`.
    """
    begin, seps = _find_start(data, issues)
    runs: list[SegmentIndex] = []
    number = 1
    while True:
        index = _index(data, begin, seps, number)
        _check_envelopes([*runs, index])  # before _separator_change reads every ISA
        cut = _separator_change(index, issues)
        if cut is None:
            runs.append(index)
            _check_segments(runs)
            return runs
        runs.append(index.head(cut))
        if len(runs) >= limits.MAX_SEPARATOR_RUNS:
            raise LimitExceeded(f"the separators change at segment {index.number(cut)}, the {len(runs)}th change "
                                f"in the file; the limit is {limits.MAX_SEPARATOR_RUNS - 1} "
                                "(rcmkit.ingest.limits.MAX_SEPARATOR_RUNS)")
        number += cut
        begin = int(index.starts[cut])
        seps, _ = _isa_separators(index.data, begin)


def _check_envelopes(runs: list[SegmentIndex]) -> None:
    for code, name in ((ISA, "ISA"), (GS, "GS"), (ST, "ST")):
        count = sum(int(np.count_nonzero(run.codes == code)) for run in runs)
        if count > limits.MAX_ENVELOPES:
            raise LimitExceeded(f"the file has {count:,} {name} segments, more than the limit of "
                                f"{limits.MAX_ENVELOPES:,} (rcmkit.ingest.limits.MAX_ENVELOPES)")


def _check_segments(runs: list[SegmentIndex]) -> None:
    for run in runs:
        lengths = run.stops - run.starts
        if len(lengths) and int(lengths.max()) > limits.MAX_SEGMENT_BYTES:
            i = int(np.argmax(lengths > limits.MAX_SEGMENT_BYTES))
            raise LimitExceeded(f"segment {run.number(i)} ({run.tag(i)}) is {int(lengths[i]):,} bytes long, more "
                                f"than the limit of {limits.MAX_SEGMENT_BYTES:,} bytes "
                                "(rcmkit.ingest.limits.MAX_SEGMENT_BYTES)")


def _separator_change(index: SegmentIndex, issues: Issues) -> int | None:
    """The first later ISA that declares other separators than the run's (the run must be re-split there)."""
    for i in index.positions(ISA, lo=1):
        try:
            seps, _ = _isa_separators(index.data, int(index.starts[i]))
        except X12FileError as exc:
            issues.warn("separator", f"{exc}; read with the previous interchange's separators",
                        segment_number=index.number(i), segment_id="ISA")
            continue
        if seps != index.separators:
            return int(i)
    return None


# --------------------------------------------------------------------------------------------- elements
class ElementIndex:
    """Element access by column for the segments ``lo..hi`` (inclusive) of a :class:`SegmentIndex`.

    One numpy pass finds every element separator and terminator in the window's bytes. The bytes between two
    consecutive delimiters form an arrow string array over the file's own buffer (zero copy); element ``k`` of
    a set of segments is then one ``take`` of those tokens, minus the delimiter each token starts with. Where a
    segment's tokens start and how many elements it has follow from the positions of the terminators among the
    delimiters, so no search is needed per element.
    """

    def __init__(self, segments: SegmentIndex, lo: int, hi: int):
        self.segments, self.lo = segments, lo
        arr = segments.array
        first, last = int(segments.starts[lo]), int(segments.terms[hi])
        window = arr[first : last + 1]
        # one more (true) place after the window: the tokens' offsets end there, with no copy of the delimiters
        hits = np.empty(len(window) + 1, dtype=bool)
        np.equal(window, ord(segments.separators.segment), out=hits[:-1])
        hits[:-1] |= window == ord(segments.separators.element)
        hits[-1] = True
        offsets = np.flatnonzero(hits)
        offsets += first
        self.delims = offsets[:-1]
        # Terminators among the delimiters, blank pieces' included: segment i ends at the one numbered
        # pieces[i]; its first element follows the delimiter after the previous piece's terminator.
        terminators = np.flatnonzero(arr[self.delims] == ord(segments.separators.segment))
        piece = segments.pieces[lo : hi + 1] - segments.pieces[lo]
        self.after_tag = np.zeros(len(piece), dtype=np.int64)
        self.after_tag[1:] = terminators[piece[1:] - 1] + 1
        self.n_elements = terminators[piece] - self.after_tag
        self.tokens = pa.LargeStringArray.from_buffers(
            len(self.delims), pa.py_buffer(offsets), pa.py_buffer(segments.data)
        )
        self.empty_token = len(self.delims) - 1  # the window's last terminator alone: '' once sliced
        self.needs_rtrim = bool((segments.stops[lo : hi + 1] != segments.terms[lo : hi + 1]).any())

    def counts(self, rows: np.ndarray) -> np.ndarray:
        """Number of elements (after the segment ID) of each segment in ``rows``."""
        return self.n_elements[rows - self.lo]

    def columns(self, rows: np.ndarray, numbers: Iterable[int]) -> dict[int, pa.Array]:
        """Elements ``numbers`` (1-based, as in CLP01) of the segments ``rows``: '' where absent."""
        after_tag, n_elements = self.after_tag[rows - self.lo], self.n_elements[rows - self.lo]
        out = {}
        for k in numbers:
            present = n_elements >= k
            if not present.any():
                out[k] = _empty_strings(len(rows))
                continue
            token = np.where(present, after_tag + (k - 1), self.empty_token)
            column = pc.utf8_slice_codeunits(self.tokens.take(pa.array(token)), 1)
            out[k] = pc.utf8_rtrim_whitespace(column) if self.needs_rtrim else column
        return out

    def short_codes(self, rows: np.ndarray, k: int) -> np.ndarray:
        """Element ``k`` of the segments ``rows`` as an integer (see :func:`short_code`) when it is at most 4
        characters long, else -1: qualifiers (DTM01, REF01, ...) compared without making strings."""
        after_tag, n_elements = self.after_tag[rows - self.lo], self.n_elements[rows - self.lo]
        present = n_elements >= k
        token = np.where(present, after_tag + (k - 1), self.empty_token)
        start = self.delims[token] + 1
        end = np.minimum(self.delims[np.minimum(token + 1, len(self.delims) - 1)], self.segments.stops[rows])
        length = np.where(present, end - start, 0)
        code = _words(self.segments, start)
        kept_bits = (32 - 8 * np.clip(length, 0, 4)).astype(np.uint64)
        code = (code >> kept_bits) << kept_bits  # zero the bytes after the element
        return np.where(length <= 4, code.astype(np.int64), -1)


def _words(segments: SegmentIndex, start: np.ndarray) -> np.ndarray:
    """The 4 bytes at each ``start`` as big-endian integers (uint64), 0-padded past the end of the data."""
    arr = segments.array
    if len(arr) < 4:
        arr = np.append(arr, np.zeros(4, dtype=np.uint8))
    words = np.ndarray(shape=(len(arr) - 3,), dtype=">u4", buffer=arr, strides=(1,))
    near_end = start > len(arr) - 4
    out = words[np.where(near_end, 0, start)].astype(np.uint64)
    for i in np.flatnonzero(near_end):
        out[i] = int.from_bytes(arr[start[i] : start[i] + 4].tobytes().ljust(4, b"\0"), "big")
    return out


def short_code(text: str) -> int:
    """The integer :meth:`ElementIndex.short_codes` gives for ``text`` (at most 4 ASCII characters)."""
    return int.from_bytes(text.encode("ascii").ljust(4, b"\0"), "big")


def _empty_strings(n: int) -> pa.Array:
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(np.zeros(n + 1, dtype=np.int64)), pa.py_buffer(b""))


# --------------------------------------------------------------------------------------------- envelopes
@dataclass(frozen=True)
class TransactionSet:
    """One ST..SE transaction set: segments ``first..last`` (indices into ``segments``) and its envelope IDs."""

    segments: SegmentIndex
    first: int
    last: int
    transaction_type: str  # ST01
    control_number: str  # ST02
    version: str  # ST03, else GS08
    group_version: str  # GS08
    group_date: str  # GS04
    interchange_control: str  # ISA13

    @property
    def first_number(self) -> int:
        return self.segments.number(self.first)

    @property
    def last_number(self) -> int:
        return self.segments.number(self.last)


def claim_segments(segments: SegmentIndex, first: int, last: int, transaction_type: str | None) -> int:
    """The claims in segments ``first..last`` that a rejection of them counts: CLP in an 835, CLM in an 837,
    both anywhere else (the claims a reader of that type would have loaded)."""
    codes = _CLAIM_CODE_OF.get(transaction_type or "", _CLAIM_CODES)
    return int(np.isin(segments.codes[first : last + 1], codes).sum())


def _element(parts: list[str], n: int) -> str:
    return parts[n].strip() if len(parts) > n else ""


class _EnvelopeWalker:
    """Pairs ISA/IEA, GS/GE and ST/SE in order, checking counts and control numbers (warnings) and turning an
    ST without its SE into a rejection of that set."""

    def __init__(self, segments: SegmentIndex, issues: Issues):
        self.segments, self.issues = segments, issues
        self.sets: list[TransactionSet] = []
        self.isa: list[str] | None = None
        self.gs: list[str] | None = None
        self.st: tuple[int, list[str]] | None = None
        self.groups_in_isa = self.sets_in_gs = 0
        self.incomplete: list[tuple[int, int]] = []  # (first, last) of each set rejected as truncated

    def warn(self, i: int, code: str, text: str, found: str | None = None, expected: str | None = None) -> None:
        st = _element(self.st[1], 2) if self.st else None
        self.issues.warn(code, text, segment_number=self.segments.number(i), segment_id=self.segments.tag(i),
                         st=st, found=found, expected=expected)

    def walk(self) -> list[TransactionSet]:
        handlers = {ISA: self.on_isa, GS: self.on_gs, ST: self.on_st, SE: self.on_se, GE: self.on_ge,
                    IEA: self.on_iea}
        codes = self.segments.codes
        for i in np.flatnonzero(np.isin(codes, _ENVELOPE)):
            handlers[int(codes[i])](int(i), self.segments.elements(int(i)))
        end = len(self.segments) - 1
        if self.st:
            self.truncated(end)
        if self.gs:
            self.warn(end, "envelope", f"group {_element(self.gs, 6)} has no GE trailer", expected="GE")
        if self.isa:
            self.warn(end, "envelope", f"interchange {_element(self.isa, 13)} has no IEA trailer", expected="IEA")
        self.report_strays()
        return self.sets

    def truncated(self, last: int) -> None:
        """Reject the open set, which runs to segment ``last`` without an SE."""
        first, parts = self.st
        seg = self.segments
        if last + 1 < len(seg):
            why = f"segment {seg.number(last + 1)} is {seg.tag(last + 1)}"
        else:
            why = f"the file ends after segment {seg.number(last)}"
        claims = claim_segments(seg, first, last, _element(parts, 1))
        self.issues.reject(
            "truncated",
            f"transaction set {_element(parts, 2)} has no SE trailer: {why}; expected SE first",
            st=_element(parts, 2), transaction_type=_element(parts, 1), first=seg.number(first),
            last=seg.number(last), claims=claims, segment_number=seg.number(first), segment_id="ST",
        )
        self.incomplete.append((first, last))
        self.st = None

    def on_isa(self, i: int, parts: list[str]) -> None:
        if self.st:
            self.truncated(i - 1)
        if self.isa:
            self.warn(i, "envelope", f"interchange {_element(self.isa, 13)} has no IEA before the next ISA",
                      expected="IEA")
        self.isa, self.gs, self.groups_in_isa = parts, None, 0

    def on_gs(self, i: int, parts: list[str]) -> None:
        if self.st:
            self.truncated(i - 1)
        if self.gs:
            self.warn(i, "envelope", f"group {_element(self.gs, 6)} has no GE before the next GS", expected="GE")
        self.gs, self.sets_in_gs = parts, 0
        self.groups_in_isa += 1

    def on_st(self, i: int, parts: list[str]) -> None:
        if self.st:
            self.truncated(i - 1)
        self.st = (i, parts)
        self.sets_in_gs += 1

    def on_se(self, i: int, parts: list[str]) -> None:
        if not self.st:
            self.warn(i, "envelope", "SE without a matching ST; ignored", expected="ST before SE")
            return
        first, st = self.st
        count, control = _element(parts, 1), _element(parts, 2)
        if count != str(i - first + 1):
            self.warn(i, "control_count", f"SE01 says {count or 'nothing'} segments; the set has {i - first + 1}",
                      found=count, expected=str(i - first + 1))
        if control != _element(st, 2):
            self.warn(i, "control_number", f"SE02 {control!r} does not match ST02 {_element(st, 2)!r}",
                      found=control, expected=_element(st, 2))
        gs = self.gs or []
        self.sets.append(TransactionSet(
            self.segments, first, i, _element(st, 1), _element(st, 2), _element(st, 3) or _element(gs, 8),
            _element(gs, 8), _element(gs, 4), _element(self.isa or [], 13)))
        self.st = None

    def on_ge(self, i: int, parts: list[str]) -> None:
        if self.st:
            self.truncated(i - 1)
        if not self.gs:
            self.warn(i, "envelope", "GE without a matching GS; ignored", expected="GS before GE")
            return
        count, control = _element(parts, 1), _element(parts, 2)
        if count != str(self.sets_in_gs):
            self.warn(i, "control_count", f"GE01 says {count or 'nothing'} transaction sets; the group has "
                      f"{self.sets_in_gs}", found=count, expected=str(self.sets_in_gs))
        if control != _element(self.gs, 6):
            self.warn(i, "control_number", f"GE02 {control!r} does not match GS06 {_element(self.gs, 6)!r}",
                      found=control, expected=_element(self.gs, 6))
        self.gs = None

    def on_iea(self, i: int, parts: list[str]) -> None:
        if self.st:
            self.truncated(i - 1)
        if self.gs:
            self.warn(i, "envelope", f"group {_element(self.gs, 6)} has no GE before the IEA", expected="GE")
            self.gs = None
        if not self.isa:
            self.warn(i, "envelope", "IEA without a matching ISA; ignored", expected="ISA before IEA")
            return
        count, control = _element(parts, 1), _element(parts, 2)
        if count != str(self.groups_in_isa):
            self.warn(i, "control_count", f"IEA01 says {count or 'nothing'} groups; the interchange has "
                      f"{self.groups_in_isa}", found=count, expected=str(self.groups_in_isa))
        if control != _element(self.isa, 13):
            self.warn(i, "control_number", f"IEA02 {control!r} does not match ISA13 {_element(self.isa, 13)!r}",
                      found=control, expected=_element(self.isa, 13))
        self.isa = None

    def report_strays(self) -> None:
        """Warn once per run of consecutive non-envelope segments that sit outside every ST..SE."""
        outside = np.ones(len(self.segments), dtype=bool)
        for first, last in [(ts.first, ts.last) for ts in self.sets] + self.incomplete:
            outside[first : last + 1] = False
        outside[np.flatnonzero(outside)[np.isin(self.segments.codes[outside], _ENVELOPE)]] = False
        if not outside.any():
            return
        edges = np.flatnonzero(np.diff(np.concatenate(([0], outside.astype(np.int8), [0]))))
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            first, last = self.segments.number(lo), self.segments.number(hi - 1)
            claims = claim_segments(self.segments, int(lo), int(hi) - 1, None)
            if claims:  # a set whose ST was lost: its claims are reported, not silently dropped
                self.issues.reject(
                    "envelope", f"segments {first}-{last} sit outside any ST..SE transaction set and hold {claims} "
                    "claim(s) (CLP/CLM); expected an ST before them", first=int(first), last=int(last),
                    claims=claims, segment_number=int(first), segment_id=self.segments.tag(int(lo)))
                continue
            self.warn(int(lo), "envelope", f"segments {first}-{last} sit outside any ST..SE transaction set; "
                      "ignored", expected="ST before them")


def transaction_sets(segments: SegmentIndex, issues: Issues) -> list[TransactionSet]:
    """The complete ST..SE sets of a run, in file order; incomplete ones become rejections in ``issues``."""
    return _EnvelopeWalker(segments, issues).walk()
