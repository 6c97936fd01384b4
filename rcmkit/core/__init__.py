"""The core every layer stands on: the canonical tables (:mod:`~rcmkit.core.schema`), their store
(:mod:`~rcmkit.core.store`), the ledger derived from them (:mod:`~rcmkit.core.ledger`), the engines the metrics run
on (:mod:`~rcmkit.core.engine`) and the versioned reference data (:mod:`~rcmkit.core.refdata`: CARC crosswalk,
benchmark targets, timely-filing limits). Nothing here imports ingest, metrics or presentation code.
"""
