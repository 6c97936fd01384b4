"""Process-wide start-up choices of rcmkit's own programs (the ``rcmkit`` command, the test suite); a library
import of rcmkit never calls them.

:func:`skip_slow_iri_checks`: ``nbformat`` (which papermill and nbconvert load to read every notebook) validates
notebooks with ``jsonschema``, whose format checker imports ``rfc3987_syntax`` at start-up when it is installed
(``jsonschema[format-nongpl]``); that package compiles about 35 Lark grammars at import: 2-4 s on this project's
machine, once per process (python-jsonschema/jsonschema#1428). It only serves the ``iri`` and ``iri-reference``
formats, which no notebook schema uses.
"""

from __future__ import annotations

import sys

__all__ = ["skip_slow_iri_checks"]


def skip_slow_iri_checks() -> bool:
    """Keep ``rfc3987_syntax`` from loading in this process, so ``jsonschema`` registers no ``iri`` format check
    (notebook validation is otherwise unchanged). Returns False when it is too late (already imported)."""
    if "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is not None:
        return False
    if "jsonschema._format" in sys.modules:
        return False
    sys.modules["rfc3987_syntax"] = None  # an import of it raises ImportError, which jsonschema expects
    return True
