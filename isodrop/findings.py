"""One finding type for what a check or a side effect found: a level and a sentence.

`isodrop check` prints findings and fails on FAIL; the service logs the findings of its side effects
(a signal, a re-read command, a copied boot loader file), keeps them for the status report and tries
again later. A failure that stops a command is an exception (isodrop.errors.IsodropError), never a
finding.
"""

from __future__ import annotations

from typing import NamedTuple

OK = "ok"
WARN = "WARN"  # isodrop serves, but something is off (a limit, a missing optional file)
FAIL = "FAIL"  # something would stop isodrop from serving, or a side effect did not happen


class Finding(NamedTuple):
    level: str  # OK, WARN or FAIL
    message: str  # one sentence for a person

    @property
    def ok(self) -> bool:
        return self.level == OK
