"""The embedded demo practice: generated, seeded, deterministic.

* :mod:`rcmkit.demo.profiles`: the practices as data (payer mix, providers, age bands);
* :mod:`rcmkit.demo.practice`: :func:`generate` the canonical tables, and the patient roster (:func:`patients`);
* :mod:`rcmkit.demo.build`: :func:`write_demo` (tables straight into the store) and :func:`build_demo` (X12 and PM
  files into an inbox, then ingested like a real practice's, through :mod:`rcmkit.ingest.x12.write`).
"""

from rcmkit.demo.build import build_demo, write_demo
from rcmkit.demo.practice import TABLES, contract_schedule, fee_schedule, generate, generate_with_truth, patients
from rcmkit.demo.profiles import PROFILES, PayerSpec, Profile

__all__ = ["PayerSpec", "Profile", "PROFILES", "generate", "generate_with_truth", "patients", "fee_schedule",
           "contract_schedule", "TABLES", "write_demo", "build_demo"]
