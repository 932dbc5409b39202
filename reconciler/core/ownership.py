"""Which source owns a unit: the rules a source follows before it touches one. No I/O.

Three kinds of source feed one instance: one-shot applies (``apply``), a
watched directory (``dir:<absolute path>``) and a git branch
(``git:<url>#<branch>:<path>``). Every container records its creator in the
``owner`` label (and an apply its set of paths in ``apply-set``). Docker
cannot relabel a container, so when a unit changes hands without being
recreated (an adoption, or an apply from another set of paths) the new owner
is written as a *claim*: a labelled, empty volume that outranks the
containers' labels. As with kubectl's ApplySets and Flux's inventories, a
source prunes only its own units; a unit another source owns is a conflict,
left untouched until its owner lets go or the user passes ``--adopt``.
Units made before owners existed (no label, no claim) are adopted by the
first source that defines them and pruned by none that does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.core import labels as L

APPLY = "apply"


@dataclass(frozen=True, slots=True)
class Owner:
    """A source: ``apply``, ``dir:/abs/path`` or ``git:url#branch:path``.

    ``apply_set`` is the set of paths an ``apply`` read (only ``apply
    --prune`` looks at it: it prunes what was last applied from the same set).
    """

    source: str
    apply_set: str = ""

    def __str__(self) -> str:
        return self.source

    def labels(self) -> dict[str, str]:
        return {L.OWNER: self.source} | ({L.APPLY_SET: self.apply_set} if self.apply_set else {})

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner | None:
        source = labels.get(L.OWNER)
        return cls(source, labels.get(L.APPLY_SET, "")) if source else None


ONE_SHOT = Owner(APPLY)  # an apply whose paths are not known (the default of library callers)


def applied(paths: Iterable[str]) -> Owner:
    """The owner an ``apply -f PATHS`` writes: absolute paths, sorted (``-`` is stdin)."""
    return Owner(APPLY, ",".join(sorted(set(paths))))


def watching(directory: str) -> Owner:
    """The owner ``run DIR`` writes (``directory`` absolute)."""
    return Owner(f"dir:{directory}")


@dataclass(frozen=True, slots=True)
class Claim:
    """A unit's owner recorded apart from its containers (see the module docstring)."""

    name: str  # the volume's name
    owner: Owner
    created: float  # unix seconds; the newest claim of a unit counts


def claim_name(instance: str, kind: str, namespace: str, name: str, owner: Owner) -> str:
    """A volume name no emptyDir can take ('--' never occurs in a DNS label's join)."""
    digest = hashlib.sha256(f"{owner.source}\0{owner.apply_set}".encode()).hexdigest()[:12]
    return f"{instance}_{namespace}_{name}--{kind.lower()}-owner-{digest}"


def owner_of(labels: Iterable[Mapping[str, str]], claims: Iterable[Claim]) -> Owner | None:
    """The unit's owner: its newest claim, else the owner label of its containers.

    When containers disagree (a unit half recreated by another source before
    claims existed), the infra's label counts, then the oldest container's:
    callers pass labels oldest first, infra first.
    """
    newest = max(claims, key=lambda c: (c.created, c.name), default=None)
    if newest is not None:
        return newest.owner
    for found in labels:
        owner = Owner.from_labels(found)
        if owner is not None:
            return owner
    return None


def conflict(owner: Owner | None, source: Owner) -> bool:
    """Whether ``source`` must leave a unit alone: another source owns it."""
    return owner is not None and owner.source != source.source


__all__ = [
    "APPLY",
    "ONE_SHOT",
    "Claim",
    "Owner",
    "applied",
    "claim_name",
    "conflict",
    "owner_of",
    "watching",
]
