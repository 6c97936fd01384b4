"""One error root (issue #14): every exception class rcmkit defines derives from rcmkit.RcmkitError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import rcmkit


def test_every_rcmkit_exception_has_one_root():
    found = []
    for info in pkgutil.walk_packages(rcmkit.__path__, "rcmkit."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found.append(cls)
    assert len(found) >= 12, found
    strays = [f"{c.__module__}.{c.__name__}" for c in found if not issubclass(c, rcmkit.RcmkitError)]
    assert not strays, f"not under rcmkit.RcmkitError: {strays}"


def test_the_root_keeps_the_builtin_types_callers_catch():
    from rcmkit.core import store
    from rcmkit.ingest.pm import ColumnMapError
    from rcmkit.core.store import StoreError

    assert issubclass(ColumnMapError, ValueError) and issubclass(StoreError, RuntimeError)
    try:
        store.practice_dir("data", "../x")
    except rcmkit.RcmkitError as exc:
        assert "practice" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a bad practice name must raise")


def test_one_month_parser():
    """Months are read in one place (rcmkit.metrics.parse_month): strict 'YYYY-MM', a pandas Period accepted;
    the report parameters, the explorer and the metrics all go through it."""
    import pandas as pd
    import pytest

    from rcmkit.explorer.filters import check_month
    from rcmkit.metrics import month_window, parse_month
    from rcmkit.report.params import ParamError
    from rcmkit.report.params import check_month as check_param_month

    assert parse_month(" 2026-03 ") == "2026-03" and parse_month(pd.Period("2026-03", "M")) == "2026-03"
    for bad in ("March", "2026-3", "2026-13", "2026-03-31", 202603, None, "x" * 500):
        with pytest.raises(ValueError, match="must look like 'YYYY-MM'") as err:
            parse_month(bad)
        assert len(str(err.value)) < 120  # a huge value is not echoed whole
        with pytest.raises(ValueError):
            month_window(bad)
        with pytest.raises(ValueError):
            check_month(bad)
        with pytest.raises(ParamError, match="YYYY-MM"):
            check_param_month("p.yaml", "month", bad)
