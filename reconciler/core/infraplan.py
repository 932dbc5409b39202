"""The infra's part of planning one unit: keep, start, create or replace its infra,
and what that asks of its members. No I/O.

A member joins its infra's namespaces, so when the infra is replaced or goes
away its members are removed first (rule 1: every member leaves before the
infra it joined is removed); a member that joined another infra than the one
kept is recreated, and a running one in stale namespaces restarts to rejoin.
The members that may stay are planned by memberplan.py against the
``InfraPlan`` decided here, asking ``left_behind`` and ``rejoin`` of each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.actions import Action, CreateInfra, Ref, Remove, Start
from reconciler.core.hashing import hash_matches
from reconciler.core.observed import ObservedContainer, State
from reconciler.core.planwarnings import PlanWarning, WarningKind
from reconciler.core.spec import DesiredInfra, DesiredUnit

# The infra runs nothing worth a grace period: it is killed once its members are gone.
INFRA_GRACE = 0


@dataclass(frozen=True, slots=True)
class InfraPlan:
    """What the infra's decision leaves for the members, and its actions in order."""

    current: ObservedContainer | None  # the infra kept; None: no infra, or one created here
    fresh: bool  # the infra (re)starts in this plan: its members rejoin it
    members: tuple[ObservedContainer, ...]  # the members still to plan (the rest are removed)
    actions: tuple[Action, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()


def plan_infra(
    unit: DesiredUnit,
    infras: Sequence[ObservedContainer],
    members: Sequence[ObservedContainer],
    in_place: bool,
) -> InfraPlan:
    """Decide ``unit``'s infra from the observed ``infras``, given the ``members`` the
    manifest still names; ``in_place``: a stopped infra can be started again (Docker)."""
    if unit.infra is None:
        return _without_infra(unit, infras, members)
    return _with_infra(unit, unit.infra, infras, members, in_place)


def _without_infra(
    unit: DesiredUnit, infras: Sequence[ObservedContainer], members: Sequence[ObservedContainer]
) -> InfraPlan:
    """The unit runs without an infra: if it had one, its members leave, then the infra goes."""
    why = "the sandbox now runs without an infra"
    actions: list[Action] = []
    if infras:
        actions.extend(_remove_members(unit, members, why))
        members = ()
    actions.extend(Remove(Ref.of(old), INFRA_GRACE, why) for old in infras)
    return InfraPlan(None, False, tuple(members), tuple(actions))


def _with_infra(
    unit: DesiredUnit,
    desired: DesiredInfra,
    infras: Sequence[ObservedContainer],
    members: Sequence[ObservedContainer],
    in_place: bool,
) -> InfraPlan:
    """Keep the best usable infra (starting it if it is stopped) or create one; remove
    every other, and the members that joined what is removed."""
    warnings: list[PlanWarning] = []
    usable = _usable(unit, desired, infras, in_place, warnings)
    current = _newest(usable)
    actions: list[Action] = []
    for c in infras:
        if c is current:
            continue
        why = _why_replaced(c, c in usable, in_place)
        if current is None:
            # Rule 1: every member leaves before the infra it joined is removed.
            actions.extend(_remove_members(unit, members, f"its infra is replaced: {why}"))
            members = ()
        actions.append(Remove(Ref.of(c), INFRA_GRACE, why))
    if current is None:
        actions.extend(
            _remove_members(
                unit, members, "its infra is gone: its namespace mode can never start again"
            )
        )
        reason = "the infra is replaced" if infras else "no infra exists"
        actions.append(CreateInfra(desired, reason))
        return InfraPlan(None, True, (), tuple(actions), tuple(warnings))
    fresh = not current.state.alive
    if fresh:
        actions.append(
            Start(
                Ref.of(current),
                f"the infra is {current.state}: start it (its members then rejoin it)",
                is_infra=True,
            )
        )
    return InfraPlan(current, fresh, tuple(members), tuple(actions), tuple(warnings))


def _usable(
    unit: DesiredUnit,
    desired: DesiredInfra,
    infras: Sequence[ObservedContainer],
    in_place: bool,
    warnings: list[PlanWarning],
) -> list[ObservedContainer]:
    """The infras that may be kept: the current spec (or one of an unknown hash version,
    kept as it is, with a warning), a known state, and alive where none starts again."""
    usable = []
    for c in infras:
        match = hash_matches(c.spec_hash, desired.hash, desired.spec)
        if match is None:
            warnings.append(
                PlanWarning(
                    WarningKind.UNKNOWN_HASH,
                    f"{unit.key}: infra {c.id[:12]} has a spec hash of an unknown "
                    f"version ({c.spec_hash}); it is kept as it is",
                )
            )
        # Without in-place starts (CRI) a pod that is not ready cannot be used again.
        alive_enough = in_place or c.state.alive
        if match is not False and c.state is not State.UNKNOWN and alive_enough:
            usable.append(c)
    return usable


def _why_replaced(c: ObservedContainer, usable: bool, in_place: bool) -> str:
    """Why the infra ``c`` is removed though another is kept or created."""
    if usable:
        return "a duplicate infra (keeping the newest)"
    if not in_place and not c.state.alive:
        return (
            f"the pod sandbox is {c.state}: the engine cannot start it again, so "
            "the pod is rebuilt (no rejoin)"
        )
    if c.state is not State.UNKNOWN:
        return "the infra's spec changed (ports, share or runtime)"
    return f"the infra is {c.state}"


def left_behind(
    unit: DesiredUnit, member: ObservedContainer, infra: ObservedContainer | None
) -> str | None:
    """Why ``member`` must be recreated to join ``infra`` (the one kept; None: none, or
    one created in this plan), or None: it is in the namespaces it should be in."""
    if unit.infra is None:
        return "the sandbox now runs without an infra" if member.infra_id else None
    if infra is None:
        return "the infra is new: its namespace mode names the old one"
    if member.infra_id != infra.id:
        return (
            f"it joined infra {member.infra_id[:12] or '(none)'}, not the current "
            f"{infra.id[:12]}: that namespace mode can never start again"
        )
    return None


def rejoin(member: ObservedContainer, infra: ObservedContainer | None, fresh: bool) -> str | None:
    """Why the running ``member`` restarts to join ``infra``'s current namespaces (``fresh``:
    the infra (re)starts in this plan), or None."""
    if fresh:
        return "rejoin: the infra restarts, so it gets new namespaces"
    if (
        infra is not None
        and infra.started_at is not None
        and member.started_at is not None
        and member.started_at < infra.started_at
    ):
        return "rejoin: it started before the infra's current run, so it is in stale namespaces"
    return None


def _newest(containers: Iterable[ObservedContainer]) -> ObservedContainer | None:
    """Prefer one with live processes, then the most recently created."""
    return max(containers, key=lambda c: (c.state.alive, c.created, c.id), default=None)


def _remove_members(
    unit: DesiredUnit, members: Iterable[ObservedContainer], why: str
) -> list[Action]:
    """Remove members before their infra: workloads, then sidecars, then init containers."""
    order: dict[L.Role | None, int] = {L.ROLE_WORKLOAD: 0, L.ROLE_SIDECAR: 1, L.ROLE_INIT: 2}
    return [
        Remove(Ref.of(c), unit.grace_period, why)
        for c in sorted(members, key=lambda c: (order.get(c.role, 0), c.created, c.id))
    ]


__all__ = ["INFRA_GRACE", "InfraPlan", "left_behind", "plan_infra", "rejoin"]
