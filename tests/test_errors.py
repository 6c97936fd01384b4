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
    from rcmkit import store
    from rcmkit.ingest.pm_csv import ColumnMapError
    from rcmkit.store import StoreError

    assert issubclass(ColumnMapError, ValueError) and issubclass(StoreError, RuntimeError)
    try:
        store.practice_dir("data", "../x")
    except rcmkit.RcmkitError as exc:
        assert "practice" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a bad practice name must raise")
