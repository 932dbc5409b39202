"""What a plan warns a person about, as values. No I/O.

Its own module so that the planner and the parts it plans a unit with
(infraplan.py, memberplan.py) can all make them; planner.py re-exports both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class WarningKind(Enum):
    """What a planner warning is about, for callers that act on one kind (the loop)."""

    UNLABELED = "unlabeled"  # a container of the instance lacks the unit labels
    UNKNOWN_HASH = "unknown-hash"  # a spec hash of a version this planner cannot read
    HELD = "held"  # a restart held back (crash-loop backoff)
    INCOMPLETE = "incomplete"  # not pruning: some manifests failed to load
    EMPTY = "empty"  # not pruning everything: nothing is desired and allow_empty is off


@dataclass(frozen=True, slots=True)
class PlanWarning:
    """Something a person should know about a plan; ``message`` says it, ``kind`` names it."""

    kind: WarningKind
    message: str

    def __str__(self) -> str:
        return self.message


__all__ = ["PlanWarning", "WarningKind"]
