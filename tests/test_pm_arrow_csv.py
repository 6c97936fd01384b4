"""PM exports parsed by pyarrow's CSV reader (issue #15, rcmkit.ingest.pm.decode._arrow_frame) give exactly what the
csv module path gives: the same text frame, line numbers, column names, warnings and rejections; files that are
not plain (a line break inside quotes, a stray quote, rows of other widths, a bare CR) go to the csv module."""

from __future__ import annotations

import os

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcmkit.ingest.issues import Issues
from rcmkit.ingest.pm import decode

class _Spec:
    encoding = None
    delimiter = ","
    header_line = 1


class _Tab(_Spec):
    delimiter = "\t"


def _read(path: Path, spec, arrow: bool):
    before = decode.ARROW_CSV
    decode.ARROW_CSV = arrow
    try:
        issues = Issues()
        raw = decode.read_file(path, spec, issues)
        return raw, issues
    finally:
        decode.ARROW_CSV = before


def assert_same_read(path: Path, spec=_Spec) -> bool:
    """Both paths agree; True when the pyarrow path read the file."""
    used = []
    real = decode._arrow_frame

    def spy(*args):
        got = real(*args)
        used.append(got is not None)
        return got

    decode._arrow_frame = spy
    try:
        fast, fast_issues = _read(path, spec, True)
    finally:
        decode._arrow_frame = real
    slow, slow_issues = _read(path, spec, False)
    if slow is None:
        assert fast is None
    else:
        pd.testing.assert_frame_equal(fast.frame, slow.frame)
        pd.testing.assert_series_equal(fast.lines, slow.lines)
        assert fast.columns == slow.columns and fast.name == slow.name
    pd.testing.assert_frame_equal(fast_issues.line_warnings(), slow_issues.line_warnings())
    assert fast_issues.rejections == slow_issues.rejections
    assert [f.to_dict() for f in fast_issues._line_rejections] == [f.to_dict() for f in slow_issues._line_rejections]
    return bool(used and used[0])


@pytest.mark.parametrize("text, plain", [
    ('ClaimID,Name,Charge\nC1,"Martin, Noah",30.00\nC2,"Say ""hi""",45\n', True),  # quoted, doubled quotes
    ("A,B\n1,2\n , \n3,4\n", True),                      # a blank row of spaces: dropped, lines kept
    ("A,B\n1,\x1c\n\x1c,\x0b\n5,6\n", True),             # Python's whitespace (\x1c, \v) is blank too
    ("\ufeffA,A,B\r\n1,2,3\r\n", True),                  # a BOM, CRLF, a repeated column name
    ("A,B\n\u00e9,\u4e2d\n", True),                      # not ASCII
    ('A,B\n"",""\n"x",y\n', True),                       # empty quoted fields
    ("A,B\n1,2\n\n3,4\n", True),                         # an empty line: a blank row, dropped
    ('A,B\n"x\ny",2\n3,4\n', False),                     # a line break inside quotes
    ('A,B\nab"c,2\n', False),                            # a quote inside an unquoted field
    ('A,B\n"ab"c,2\n', False),                           # text after a closing quote
    ("A,B\n1,2,3\n4,5\n", False),                        # a row with a field too many
    ("A,B,\n1,2,\n3,4,\n", True),                        # an empty third column named ''
    ("A,B\n1,2\r3,4\n", False),                          # a bare CR
    ("A,B\n", False),                                    # a header alone
    (",\nA,B\n1,2\n", False),                            # an empty header line: the header is on line 2
])
def test_arrow_csv_equals_csv_module(text, plain, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode("utf-8"))
    assert assert_same_read(path) == plain


def test_arrow_csv_values_by_hand(tmp_path):
    path = tmp_path / "charges.csv"
    path.write_text('ClaimID,Name,Charge\nC1,"Martin, Noah",30.00\n  ,  ,  \nC2,"Say ""hi""",45\n', newline="")
    raw, issues = _read(path, _Spec, True)
    assert raw.frame["Name"].tolist() == ["Martin, Noah", 'Say "hi"']
    assert raw.frame["Charge"].tolist() == ["30.00", "45"]
    assert raw.lines.tolist() == [2, 4]  # line 3 is blank: dropped, the others keep their physical lines
    assert raw.columns == {"claimid": "ClaimID", "name": "Name", "charge": "Charge"}


def test_tab_delimited(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text('A\tB\n1\t"x\ty"\n3\t4\n', newline="")
    assert assert_same_read(path, _Tab)


_cell = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t\x1c') + ["\u00e9"]), max_size=6)


@settings(max_examples=int(os.environ.get("RCMKIT_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(rows=st.lists(st.lists(_cell, min_size=1, max_size=4), min_size=1, max_size=8),
       quote=st.booleans(), crlf=st.booleans())
def test_fuzzed_csv_text_equals_csv_module(rows, quote, crlf, tmp_path_factory):
    """Random fields (quotes, delimiters, line breaks, blanks), written raw or quoted by the csv module."""
    import csv
    import io

    if quote:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows([["H1", "H2"]] + rows)
        text = out.getvalue()
    else:
        text = "\n".join(["H1,H2"] + [",".join(r) for r in rows]) + "\n"
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes(text.encode("utf-8"))
    assert_same_read(path)


def test_demo_exports_read_by_pyarrow(tmp_path):
    from rcmkit import demo
    from rcmkit.ingest.x12.write import write_demo_files

    kw = dict(seed=4, n_claims=200)
    write_demo_files(tmp_path, demo.generate(**kw), demo.patients(**kw), practice="p")
    paths = sorted((tmp_path / "p" / "inbox" / "pm").glob("*.csv"))
    assert {p.name for p in paths} == {"charges.csv", "payments.csv", "payers.csv", "fees.csv"}
    for path in paths:
        assert assert_same_read(path), path.name
