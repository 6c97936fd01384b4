"""The claim scrubber (issue #17): checks outgoing 837s before they go out, and scores each claim's denial risk
from the practice's own 835 history. See docs/scrub.md."""

from rcmkit.scrub.batch import ScrubResult, caught_denials, scrub_files, scrub_tables
from rcmkit.scrub.rules import FINDING_COLUMNS, RULES, ScrubContext, run_rules

__all__ = ["ScrubResult", "scrub_files", "scrub_tables", "caught_denials", "FINDING_COLUMNS", "RULES",
           "ScrubContext", "run_rules"]
