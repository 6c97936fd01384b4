"""Fast paths of bulk ingest (issue #15) give exactly what the general code gives: plain PM amounts, CSV records
with their line numbers, ``isin`` on arrow string columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcmkit.core.frames import isin
from rcmkit.ingest.issues import Issues
from rcmkit.ingest.pm import decode

_plain = st.builds(lambda neg, whole, frac: neg + whole + frac, st.sampled_from(["", "-"]),
                   st.text("0123456789", min_size=1, max_size=15),
                   st.one_of(st.just(""), st.text("0123456789", max_size=5).map(lambda d: "." + d)))


def _general(text: pd.Series, unit: str, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(decode, "_plain_amounts", lambda t, u: None)
        return decode._parse_amount(text, unit)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), _plain), max_size=40), unit=st.sampled_from(["dollars", "cents"]))
def test_plain_amounts_equal_the_general_parser(values, unit):
    monkeypatch = pytest.MonkeyPatch()
    text = pd.Series(values, dtype="str", index=pd.RangeIndex(len(values)) + 3)
    fast = decode._plain_amounts(text, unit)
    assert fast is not None
    slow = _general(text, unit, monkeypatch)
    pd.testing.assert_series_equal(fast[0], slow[0], check_names=False)
    for a, b in zip(fast[1], slow[1], strict=True):
        pd.testing.assert_series_equal(a.mask, b.mask, check_names=False)
        assert (a.code, a.problem, a.expected) == (b.code, b.problem, b.expected)
    pd.testing.assert_series_equal(fast[2], slow[2], check_names=False)


def test_plain_amounts_values_by_hand():
    text = pd.Series(["12.5", "-0.07", "100", "1.005", None, "007.10"], dtype="str")
    values, bads, decorated = decode._parse_amount(text, "dollars")
    # 12.5 -> 1250; -0.07 -> -7; 100 -> 10000; 1.005 is a fraction of a cent (rejected, NA); 007.10 -> 710
    assert values.tolist() == [1250, -7, 10000, pd.NA, pd.NA, 710]
    assert bads[1].mask.tolist() == [False, False, False, True, False, False]
    assert not decorated.any()
    # a decorated value sends the whole column to the general parser, which flags it
    values, _, decorated = decode._parse_amount(pd.Series(["$1,234.50", "2"], dtype="str"), "dollars")
    assert values.tolist() == [123450, 200] and decorated.tolist() == [True, False]


@pytest.mark.parametrize("text", [
    "A,B\n1,2\n\n3,4\n",                      # a blank line: a record of its own
    'A,B\n"x\ny",2\n3,4\n',                   # a quoted field over two lines: line numbers shift
    "A,B\r\n1,2\r\n3,4",                      # CRLF, no final newline
    'A,B\n"unterminated,2\n3,4\n',            # a quote left open to the end
])
def test_csv_records_fast_path_equals_the_line_by_line_reader(text, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(text, newline="")
    fast_issues, slow_issues = Issues(), Issues()
    fast = decode._csv_records(path, _Spec(), fast_issues)
    slow = _line_by_line(path, slow_issues)
    assert fast == slow
    assert fast_issues.line_warnings().equals(slow_issues.line_warnings())


class _Spec:
    encoding = "utf-8"
    delimiter = ","


def _line_by_line(path, issues):
    """The reader before the fast path: one record at a time with the csv module's line count."""
    import csv
    import io

    reader = csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline=""), delimiter=",")
    records, ends = [], []
    try:
        for record in reader:
            records.append(record)
            ends.append(reader.line_num)
    except csv.Error:
        pass
    return records, [1] + [end + 1 for end in ends[:-1]]


def test_isin_matches_pandas_on_arrow_strings():
    s = pd.Series(["a", "b", None, "c"], dtype="str", index=[10, 11, 12, 13])
    for values in ({"a", "c"}, {None}, {np.nan, "b"}, [], pd.Series(["b"], dtype="str"), pd.Index(["c"]),
                   ["a", 1], {1, 2}):
        expected = s.isin(values)
        got = isin(s, values)
        pd.testing.assert_series_equal(got, expected)
    objects = pd.Series(["a", None], dtype=object)
    pd.testing.assert_series_equal(isin(objects, {"a"}), objects.isin({"a"}))


#: Letters, digits, dots, every separator the code and modifier lists allow, what Python's \s matches beyond RE2's
#: (\v, \x1c-\x1f), a control character that is no separator, and a non-ASCII letter (the pandas path's case).
_code_chars = st.sampled_from(list("aZm09.,:;| \t\n\r\x0b\x0c\x1c\x1f\x7f-") + ["é", "ß"])


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(_code_chars, max_size=10)), max_size=12))
def test_codes_and_modifiers_by_arrow_equal_the_pandas_path(values):
    """Issue #15: an ASCII column's codes and modifiers are split by arrow kernels; any column gives what the
    pandas string methods give (a non-ASCII column takes the pandas path)."""
    text = pd.Series(values, dtype="str", index=pd.RangeIndex(len(values)) + 5)
    pd.testing.assert_series_equal(decode._parse_codes(text), decode._parse_codes_python(text))
    pd.testing.assert_series_equal(decode._parse_modifiers(text), decode._parse_modifiers_python(text))


def test_codes_and_modifiers_by_hand():
    text = pd.Series(["m17.11, m25.561", None, "", " 25\x0b59 ", "a|b;;c", "x\x1cy"], dtype="str")
    assert decode._parse_codes(text).tolist()[:1] == [["M1711", "M25561"]]
    assert decode._parse_codes(text).isna().tolist() == [False, True, True, False, False, False]
    assert decode._parse_codes(text).tolist()[3:] == [["25", "59"], ["A", "B", "C"], ["X", "Y"]]
    assert decode._parse_modifiers(text).tolist() == ["M17.11:M25.561", "", "", "25:59", "A:B:C", "X:Y"]
    assert decode._ascii_upper(text) is not None and decode._ascii_upper(text.astype(object)) is None


_key_text = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "b", "B", "é", "z9", "Z"]))


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(_key_text, st.one_of(st.none(), st.integers(0, 3)), st.integers(-2, 2), _key_text),
                     max_size=30),
       by=st.sampled_from([["s", "d", "i"], ["o", "s"], ["d", "o", "i"], ["i"]]))
def test_the_ledgers_arrow_sort_equals_pandas_mergesort(rows, by):
    """Issue #15: the ledger's rows sorted by arrow's stable sort are in pandas' mergesort order (strings by code
    point, missing values last, ties in their order), for arrow strings, dates with NaT, integers and object
    strings."""
    from rcmkit.core.ledger import stable_sorted

    df = pd.DataFrame({"s": pd.Series([r[0] for r in rows], dtype="str"),
                       "d": pd.to_datetime(pd.Series([None if r[1] is None else f"2024-0{r[1] + 1}-01" for r in rows],
                                                     dtype=object)),
                       "i": pd.Series([r[2] for r in rows], dtype="int64"),
                       "o": pd.Series([r[3] for r in rows], dtype=object)},
                      index=pd.RangeIndex(len(rows)) * 2)
    pd.testing.assert_frame_equal(stable_sorted(df, by), df.sort_values(by, kind="mergesort"))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(_key_text, st.integers(-2, 2)), max_size=30), picked=st.data())
def test_the_ledgers_sort_of_some_rows_is_pandas_sort_of_those_rows(rows, picked):
    """`stable_sorted(df, by, rows=...)` (the ledger's rows with an amount, sorted with one take) is
    `df.iloc[rows].sort_values(by, kind="mergesort")`."""
    from rcmkit.core.ledger import stable_sorted

    df = pd.DataFrame({"s": pd.Series([r[0] for r in rows], dtype="str"),
                       "i": pd.Series([r[1] for r in rows], dtype="int64")}, index=pd.RangeIndex(len(rows)) * 2)
    keep = np.array(sorted(picked.draw(st.sets(st.integers(0, max(len(rows) - 1, 0)), max_size=len(rows)))
                           if rows else []), dtype=np.int64)
    pd.testing.assert_frame_equal(stable_sorted(df, ["s", "i"], rows=keep),
                                  df.iloc[keep].sort_values(["s", "i"], kind="mergesort"))
