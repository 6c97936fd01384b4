"""The code sets the scrubber checks against, all from versioned data (never lists typed into the code).

* **ICD-10-CM** (:class:`IcdRelease`): validity and billability of a diagnosis code for a date of service. The
  default release is the one the maintained ``simple-icd-10-cm`` package ships (CMS/NCHS ICD-10-CM, April 1, 2026
  update of fiscal year 2026, in force October 1, 2025 to September 30, 2026). A code is *billable* when it is a
  leaf of the tabular list (ICD-10-CM Official Guidelines for Coding and Reporting, Section I.B.2 "Level of
  Detail in Coding": a code is to be used only at its highest number of characters available); a category such
  as ``E11`` is valid but not billable. Another release replaces it with :meth:`IcdRelease.from_order_file`: the
  CMS order file (``icd10cm_order_2027.txt`` in the CMS release zip) holds every code with its header flag.
* **Procedure code format** (:func:`procedure_format`): CPT Category I (5 digits), Category II (4 digits + F),
  Category III (4 digits + T), HCPCS Level II (a letter A-V + 4 digits). Formats only: the AMA's CPT list is
  licensed, and CPT descriptions never appear in rcmkit.
* **Modifiers** (``rcmkit/data/modifiers.csv``), **place of service** (``rcmkit/data/place_of_service.csv``, the
  CMS POS code set), the **modifier 25 procedures** (``rcmkit/data/scrub_modifier25.csv``) and **timely filing**
  limits by payer class (``rcmkit/data/timely_filing.csv``).
* **NPI check digit** (:func:`npi_valid`): the Luhn formula over the constant prefix 80840 then the first nine
  digits, as CMS specifies ("Requirements for National Provider Identifier (NPI) and NPI Enumeration"; the
  worked example 123456789 -> check digit 3).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from rcmkit.core.refdata import npi_valid  # the CMS check digit: one definition, in core
from rcmkit.errors import RcmkitError

__all__ = ["IcdRelease", "CodeSetError", "default_icd", "procedure_format", "npi_valid", "modifiers",
           "places_of_service", "modifier25_procedures", "timely_filing_days", "fiscal_year"]


class CodeSetError(RcmkitError, ValueError):
    """A code set file could not be read; the message names the file, the line and what was expected."""


def fiscal_year(day: date | pd.Timestamp) -> int:
    """The ICD-10-CM fiscal year a date of service falls in (FY N runs October 1 of N-1 to September 30 of N)."""
    return day.year + 1 if day.month >= 10 else day.year


def _clean(code: str) -> str:
    return str(code).strip().upper().replace(".", "")


@dataclass
class IcdRelease:
    """One ICD-10-CM release: its label, its fiscal year, and its codes (without dots) with billability."""

    label: str
    fiscal_year: int
    billable: frozenset[str]
    headers: frozenset[str]
    _children: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def in_force(self) -> tuple[date, date]:
        """The dates of service the release is for: October 1 of the year before its fiscal year to September 30."""
        return date(self.fiscal_year - 1, 10, 1), date(self.fiscal_year, 9, 30)

    def covers(self, day: date | pd.Timestamp) -> bool:
        return fiscal_year(day) == self.fiscal_year

    def is_valid(self, code: str) -> bool:
        """A code of the release (a category, subcategory or billable code; not a chapter or block name)."""
        c = _clean(code)
        return c in self.billable or c in self.headers

    def is_billable(self, code: str) -> bool:
        return _clean(code) in self.billable

    def billable_under(self, code: str, limit: int = 3) -> list[str]:
        """Up to ``limit`` billable codes under a header code (the first in tabular order), for the fix text."""
        c = _clean(code)
        if not self._children:
            for b in sorted(self.billable):
                for n in range(3, len(b)):
                    self._children.setdefault(b[:n], []).append(b)
        return self._children.get(c, [])[:limit]

    def transpositions(self, code: str) -> list[str]:
        """Billable codes one swap of two neighbouring characters away from ``code`` (a typing slip)."""
        c = _clean(code)
        out = []
        for i in range(len(c) - 1):
            t = c[:i] + c[i + 1] + c[i] + c[i + 2:]
            if t != c and t in self.billable and t not in out:
                out.append(t)
        return out

    # ---------------------------------------------------------------------------------------------- sources
    @classmethod
    def from_package(cls) -> IcdRelease:
        """The release ``simple-icd-10-cm`` ships, read from its code list (every chapter, block and code of the
        release, one a line; its file name names the release: 'code-list-April-2026.txt'). A code is billable
        when no other code extends it (a leaf of the tabular list), as the package's ``is_leaf`` says; reading
        the list directly takes a tenth of a second instead of the package's five-second XML parse."""
        from importlib.util import find_spec

        spec = find_spec("simple_icd_10_cm")  # located, not imported: importing it parses its XML (5 s)
        if spec is None or not spec.submodule_search_locations:
            raise CodeSetError("simple-icd-10-cm is not installed (pip install simple-icd-10-cm); or pass a CMS "
                               "order file (--icd-release)")
        folder = Path(list(spec.submodule_search_locations)[0]) / "data"
        names = sorted(p.name for p in folder.iterdir() if p.name.startswith("code-list-"))
        if not names:
            raise CodeSetError("simple-icd-10-cm ships no code list (expected data/code-list-*.txt); reinstall it "
                               "or pass a CMS order file (--icd-release)")
        m = re.search(r"code-list-(\w+?)-(\d{4})", names[-1])
        month, year = (m.group(1), int(m.group(2))) if m else ("", 2026)
        # an April update belongs to the fiscal year that started the October before; an October release to the next
        fy = year + 1 if month.lower().startswith("oct") else year
        text = (folder / names[-1]).read_text(encoding="utf-8")
        codes = sorted({c.strip().replace(".", "") for c in text.split()
                        if re.fullmatch(r"[A-Z][0-9A-Z]{2}(?:\.?[0-9A-Z]{1,4})?", c.strip())})
        billable, headers = set(), set()
        for i, code in enumerate(codes):  # sorted: a code's extensions follow it directly
            extended = i + 1 < len(codes) and codes[i + 1].startswith(code)
            (headers if extended else billable).add(code)
        label = f"ICD-10-CM FY{fy} ({month} {year} update; simple-icd-10-cm {_package_version()})".replace("  ", " ")
        return cls(label, fy, frozenset(billable), frozenset(headers))

    @classmethod
    def from_order_file(cls, path: str | os.PathLike, fiscal_year: int | None = None) -> IcdRelease:
        """A release from the CMS order file (fixed columns: order number 1-5, code 7-13, header flag 15 '0'/'1',
        short and long descriptions). The fiscal year is taken from the file name ('..._2027...') unless given."""
        p = Path(path)
        if fiscal_year is None:
            years = re.findall(r"(20\d\d)", p.name)
            if not years:
                raise CodeSetError(f"{p}: cannot tell the fiscal year from the file name; pass it "
                                   "(e.g. --icd-fiscal-year 2027)")
            fiscal_year = int(years[-1])
        billable, headers = set(), set()
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CodeSetError(f"{p}: cannot read the ICD-10-CM order file ({exc.strerror})") from exc
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            code, flag = line[6:13].strip(), line[14:15]
            if not re.fullmatch(r"[A-Z][0-9A-Z]{2,6}", code) or flag not in ("0", "1"):
                raise CodeSetError(f"{p} line {n}: expected the CMS order file layout (code in columns 7-13, "
                                   f"header flag 0 or 1 in column 15), found {line[:20]!r}")
            (billable if flag == "1" else headers).add(code)
        if not billable:
            raise CodeSetError(f"{p}: no billable code found; expected the CMS ICD-10-CM order file")
        return cls(f"ICD-10-CM FY{fiscal_year} ({p.name})", fiscal_year, frozenset(billable), frozenset(headers))


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("simple-icd-10-cm")
    except PackageNotFoundError:  # pragma: no cover
        return "?"


@lru_cache(maxsize=1)
def default_icd() -> IcdRelease:
    """The packaged release, loaded once per process (about 0.2 s)."""
    return IcdRelease.from_package()


_PROCEDURE = re.compile(r"(?:\d{5}|\d{4}[FTU]|[A-V]\d{4})")


def procedure_format(code: str) -> bool:
    """CPT Category I (5 digits), II (4 digits + F), III (4 digits + T), PLA (4 digits + U) or HCPCS II
    (A-V + 4 digits)."""
    return bool(_PROCEDURE.fullmatch(str(code).strip().upper()))


def _data(name: str) -> pd.DataFrame:
    with (resources.files("rcmkit") / "data" / name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, comment="#", dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def modifiers() -> frozenset[str]:
    return frozenset(_data("modifiers.csv")["code"].str.strip().str.upper())


@lru_cache(maxsize=1)
def places_of_service() -> dict[str, str]:
    pos = _data("place_of_service.csv")
    return dict(zip(pos["code"].str.strip(), pos["name"]))


@lru_cache(maxsize=1)
def modifier25_procedures() -> frozenset[str]:
    return frozenset(_data("scrub_modifier25.csv")["procedure_code"].str.strip().str.upper())


@lru_cache(maxsize=1)
def timely_filing_days() -> dict[str, int]:
    """Days from the date of service to file a claim, by payer class (rcmkit/data/timely_filing.csv)."""
    t = _data("timely_filing.csv")
    return {k: int(v) for k, v in zip(t["payer_class"], t["days"])}
