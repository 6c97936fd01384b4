"""X12 837P/837I and 835: the envelope and segment index (:mod:`~rcmkit.ingest.x12.envelope`), typed element values
(:mod:`~rcmkit.ingest.x12.fields`), the 835 and 837 readers, the file reader (:mod:`~rcmkit.ingest.x12.reader`),
pyx12 validation (:mod:`~rcmkit.ingest.x12.validate`) and the writer the demo and the tests use
(:mod:`~rcmkit.ingest.x12.write`).
"""
