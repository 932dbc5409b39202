"""The members' part of planning one unit: create, start, restart, recreate or wait
for its init containers, sidecars and workloads. No I/O.

infraplan.py has decided the infra the members join (and removed those that
cannot stay); this plans each remaining member against that decision, in
order: init containers and native sidecars one at a time (rule 1: workloads
wait for every init container), then the workloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from reconciler.core import labels as L
from reconciler.core.actions import (
    Action,
    CreateMember,
    EnsureVolume,
    Recreate,
    Ref,
    Remove,
    Restart,
    RunInit,
    Start,
    Stop,
    WaitInit,
)
from reconciler.core.hashing import hash_matches
from reconciler.core.infraplan import InfraPlan, left_behind, rejoin
from reconciler.core.models import RestartPolicy
from reconciler.core.observed import ContainerId, ObservedContainer, State
from reconciler.core.planwarnings import PlanWarning, WarningKind
from reconciler.core.spec import DesiredMember, DesiredUnit

# Why a restart is a new container where the engine cannot restart one in place (CRI).
_NEXT_ATTEMPT = "the engine never restarts a container in place: a new one, its next attempt"


@dataclass(frozen=True, slots=True)
class Unhealthy:
    """A running container whose liveness or startup probe failed (the prober's verdict)."""

    why: str
    probe: Literal["liveness", "startup"] = "liveness"  # its terminationGracePeriodSeconds wins


@dataclass(frozen=True, slots=True)
class MembersPlan:
    """The members' actions in order, and what held them back or stopped them."""

    actions: tuple[Action, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()
    waiting: tuple[tuple[Ref, str], ...] = ()  # restarts held back (crash-loop backoff)
    error: str | None = None  # why the unit cannot go on (an init container failed for good)


def plan_members(
    unit: DesiredUnit,
    infra: InfraPlan,
    *,
    held: Mapping[ContainerId, str],
    unhealthy: Mapping[ContainerId, Unhealthy],
    in_place: bool,
    outdated: Mapping[ContainerId, str] | None = None,
) -> MembersPlan:
    """Plan the members ``infra`` leaves of ``unit`` against it. ``held``: restarts in
    crash-loop backoff, ``unhealthy``: liveness or startup failures, by container;
    ``in_place``: a container can be started or restarted again (Docker)."""
    return _MemberPlanner(unit, infra, held, unhealthy, in_place, outdated or {}).plan()


class _MemberPlanner:
    """Plans one unit's members. A class only to share its inputs between small steps."""

    def __init__(
        self,
        unit: DesiredUnit,
        infra: InfraPlan,
        held: Mapping[ContainerId, str],
        unhealthy: Mapping[ContainerId, Unhealthy],
        in_place: bool,
        outdated: Mapping[ContainerId, str],
    ) -> None:
        self.unit = unit
        self.outdated = outdated  # on an older image than its tag names now
        self.members = infra.members
        self.infra = infra.current  # the infra they join (None: none, or one created here)
        self.fresh = infra.fresh  # it (re)starts in this plan
        self.held = held
        self.unhealthy = unhealthy
        self.in_place = in_place
        self.waiting: list[tuple[Ref, str]] = []
        self.actions: list[Action] = []
        self.warnings: list[PlanWarning] = []
        self.failure = ""  # why the unit cannot go on (an init container failed for good)

    def plan(self) -> MembersPlan:
        unit, members = self.unit, self.members
        creating = False
        for desired in unit.init:
            role = desired.spec.role
            copies = [c for c in members if c.role == role and c.container == desired.name]
            if role == L.ROLE_SIDECAR:
                # A native sidecar starts in order with the init containers (the next
                # one runs once it is started) and then lives like a workload,
                # restarted whatever the pod's restartPolicy (Kubernetes 1.28+).
                led = self._plan_workload(desired, copies, policy="Always")
                creating |= led is _Led.CREATES
                continue
            outcome = self._plan_init(desired, copies)
            if outcome is _Led.FAILED:
                return MembersPlan(tuple(self.actions), tuple(self.warnings), error=self.failure)
            if outcome is _Led.HELD:  # rule 1: workloads wait for every init container
                return self._finish(creating)
            creating |= outcome is _Led.CREATES
        for desired in unit.workloads:
            copies = [
                c for c in members if c.role == L.ROLE_WORKLOAD and c.container == desired.name
            ]
            creating |= self._plan_workload(desired, copies) is _Led.CREATES
        return self._finish(creating)

    def _finish(self, creating: bool) -> MembersPlan:
        """Volumes before the first create (the infra mounts none), the restarts held back."""
        unit = self.unit
        if creating and unit.volumes:
            first = next(i for i, a in enumerate(self.actions) if _creates(a))
            self.actions[first:first] = [
                EnsureVolume(v, "mounted by containers about to be created") for v in unit.volumes
            ]
        self.warnings.extend(
            PlanWarning(WarningKind.HELD, f"{unit.key}: {r.label}: {why}")
            for r, why in self.waiting
        )
        return MembersPlan(tuple(self.actions), tuple(self.warnings), tuple(self.waiting))

    def _pick(
        self, desired: DesiredMember, copies: list[ObservedContainer]
    ) -> ObservedContainer | None:
        """Keep the best copy (joined to the current infra, current spec, alive, newest)."""
        infra = self.infra

        def rank(c: ObservedContainer) -> tuple[bool, bool, bool, float, str]:
            joined = infra is not None and c.infra_id == infra.id
            same = hash_matches(c.spec_hash, desired.hash, desired.spec) is not False
            return joined, same, c.state.alive, c.created, c.id

        keep = max(copies, key=rank, default=None)
        for c in copies:
            if c is not keep:
                self.actions.append(
                    Remove(Ref.of(c), self.unit.grace_period, f"a duplicate copy of {desired.name}")
                )
        return keep

    def _stale(self, desired: DesiredMember, keep: ObservedContainer) -> str | None:
        """Why ``keep`` must be recreated, or None."""
        left = left_behind(self.unit, keep, self.infra)
        if left is not None:
            return left
        match = hash_matches(keep.spec_hash, desired.hash, desired.spec)
        if match is None:
            self.warnings.append(
                PlanWarning(
                    WarningKind.UNKNOWN_HASH,
                    f"{self.unit.key}: {desired.name} has a spec hash of an unknown version "
                    f"({keep.spec_hash}); it is kept as it is",
                )
            )
        elif not match:
            return "its spec changed"
        if keep.id in self.outdated:
            return f"its image moved: {self.outdated[keep.id]}"
        if keep.state is State.UNKNOWN:
            return f"it is {keep.state}"
        return None

    def _plan_init(self, desired: DesiredMember, copies: list[ObservedContainer]) -> _Led:
        keep = self._pick(desired, copies)
        if keep is None:
            self.actions.append(RunInit(desired, "init container has not run"))
            return _Led.CREATES
        why = self._stale(desired, keep)
        if why is None and self.fresh and keep.state is State.EXITED:
            why = "the infra (re)starts: init containers run again"
        if why is not None:
            self._recreate(keep, desired, why)
            return _Led.CREATES
        if keep.state.alive:
            self.actions.append(WaitInit(Ref.of(keep), "init container is still running"))
            return _Led.NOTHING
        if keep.state is State.CREATED:
            self._recreate(keep, desired, "init container was created but never started")
            return _Led.CREATES
        if keep.exit_code == 0:
            return _Led.NOTHING
        if self.unit.restart_policy == "Never":
            self.failure = (
                f"init container {desired.name} failed (exit {keep.exit_code}) and "
                "restartPolicy is Never"
            )
            return _Led.FAILED
        if keep.id in self.held:
            self.waiting.append((Ref.of(keep), self.held[keep.id]))
            return _Led.HELD
        self._recreate(
            keep, desired, f"init container failed (exit {keep.exit_code}): run it again"
        )
        return _Led.CREATES

    def _plan_workload(
        self,
        desired: DesiredMember,
        copies: list[ObservedContainer],
        policy: RestartPolicy | None = None,
    ) -> _Led:
        keep = self._pick(desired, copies)
        if keep is None:
            self.actions.append(CreateMember(desired, "does not exist"))
            return _Led.CREATES
        why = self._stale(desired, keep)
        if why is not None:
            self._recreate(keep, desired, why)
            return _Led.CREATES
        ref = Ref.of(keep)
        policy = policy or self.unit.restart_policy
        if keep.state.alive and keep.id in self.unhealthy and not self.fresh:
            unhealthy = self.unhealthy[keep.id]
            why, grace = f"unhealthy: {unhealthy.why}", _kill_grace(self.unit, desired, unhealthy)
            if policy == "Never":
                self.actions.append(Stop(ref, grace, f"{why}; restartPolicy is Never"))
                return _Led.NOTHING
            return self._again(keep, desired, why, exited=False, grace=grace)
        if keep.state.alive:
            why = rejoin(keep, self.infra, self.fresh)
            if why is not None:
                self.actions.append(Restart(ref, self.unit.grace_period, why))
            return _Led.NOTHING
        if keep.state is State.CREATED:
            self.actions.append(Start(ref, "created but never started"))
            return _Led.NOTHING
        code = keep.exit_code
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            if keep.id in self.held:
                self.waiting.append((ref, self.held[keep.id]))
            else:
                reason = f"exited (code {code}); restartPolicy is {policy}"
                return self._again(keep, desired, reason, exited=True)
        return _Led.NOTHING

    def _again(
        self,
        keep: ObservedContainer,
        desired: DesiredMember,
        why: str,
        exited: bool,
        grace: int | None = None,
    ) -> _Led:
        """Run a member again: in place where the engine can (start the exited container,
        restart the running one), else as a new container, its next attempt (CRI).
        ``grace``: the stop's grace period, when not the unit's."""
        if not self.in_place:
            self._recreate(keep, desired, f"{why}; {_NEXT_ATTEMPT}", restart=True, grace=grace)
            return _Led.CREATES
        ref = Ref.of(keep)
        if exited:
            self.actions.append(Start(ref, why, restart=True))
        else:
            self.actions.append(Restart(ref, _or(grace, self.unit.grace_period), why))
        return _Led.NOTHING

    def _recreate(
        self,
        keep: ObservedContainer,
        desired: DesiredMember,
        why: str,
        restart: bool = False,
        grace: int | None = None,
    ) -> None:
        grace = _or(grace, self.unit.grace_period)
        self.actions.append(Recreate(Ref.of(keep), grace, desired, why, restart=restart))


class _Led(Enum):
    """What planning one member led to."""

    NOTHING = "nothing"  # no container is created for it
    CREATES = "creates"  # a container is created (volumes must exist first)
    FAILED = "failed"  # the unit cannot go on
    HELD = "held"  # a failed init container waits out its backoff: nothing after it runs


def _creates(action: Action) -> bool:
    return isinstance(action, CreateMember | RunInit | Recreate)


def _kill_grace(unit: DesiredUnit, member: DesiredMember, unhealthy: Unhealthy) -> int:
    """The grace period of the kill after a failed probe: the probe's own when it has one
    (Kubernetes' probe-level terminationGracePeriodSeconds), else the unit's."""
    probe = member.startup_probe if unhealthy.probe == "startup" else member.liveness_probe
    own = probe.termination_grace_period_seconds if probe is not None else None
    return _or(own, unit.grace_period)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


__all__ = ["MembersPlan", "Unhealthy", "plan_members"]
