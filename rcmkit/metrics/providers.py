"""Provider display names: where a person reads an NPI, show "SMITH, JANE (1234567893)".

The names come from the ``providers`` table (837 NM1*85 / NM1*82, or a PM export's name column): one row per NPI,
``name`` 'LAST, FIRST' for a person or the organization name. A practice without that table, or an NPI it does
not name, keeps the bare NPI: a label never invents a name. Provider names are not patient data.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

__all__ = ["provider_names", "provider_label", "label_providers"]


def _providers_frame(source: Any) -> pd.DataFrame | None:
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        return source
    from rcmkit.core.engine import pandas_tables  # a lazy engine's table (DuckDB, Spark): collect it

    return pandas_tables({"providers": source})["providers"]


def provider_names(tables: Any) -> dict[str, str]:
    """``{npi: name}`` from ``tables["providers"]`` (also accepted: the providers frame itself, or a ready
    ``{npi: name}`` mapping). Blank names are left out; an NPI named twice keeps its last name. No providers
    table (or an empty one): ``{}``."""
    if isinstance(tables, Mapping) and "providers" not in tables:
        values = list(tables.values())
        if all(isinstance(v, str) for v in values):  # already {npi: name}
            return {str(k): v.strip() for k, v in tables.items() if v and v.strip()}
        return {}
    frame = _providers_frame(tables["providers"] if isinstance(tables, Mapping) else tables)
    if frame is None or not len(frame) or not {"npi", "name"} <= set(frame.columns):
        return {}
    names: dict[str, str] = {}
    for npi, name in zip(frame["npi"].tolist(), frame["name"].tolist()):
        if npi is None or name is None or pd.isna(npi) or pd.isna(name):
            continue
        npi, name = str(npi).strip(), " ".join(str(name).split())
        if npi and name:
            names[npi] = name
    return names


def provider_label(npi: Any, names: Mapping[str, str]) -> str:
    """``"NAME (NPI)"`` when ``names`` knows the NPI, the NPI itself otherwise; ``""`` for a missing NPI."""
    if npi is None or (not isinstance(npi, str) and pd.isna(npi)):
        return ""
    npi = str(npi).strip()
    name = names.get(npi)
    return f"{name} ({npi})" if name else npi


def label_providers(frame: pd.DataFrame, column: str, tables: Any, *, into: str | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose NPI column ``column`` reads "NAME (NPI)" (the bare NPI when no name is known,
    ``""`` when the NPI is missing). ``into``: write the labels to that column instead and keep the NPIs.
    ``tables``: the practice's tables, the providers frame or an ``{npi: name}`` mapping
    (:func:`provider_names`)."""
    names = provider_names(tables)
    labels = [provider_label(v, names) for v in frame[column].tolist()]
    return frame.assign(**{into or column: pd.Series(labels, index=frame.index, dtype="object")})
