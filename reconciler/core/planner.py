"""The planner: every convergence decision, as one pure function. No I/O.

``plan(desired, observed, config) -> Plan`` compares what the manifests ask
for with what the engine reports and returns, per unit, the ordered actions
that converge it, each with its reason. This is the one place that decides to
create, start, rejoin, recreate or remove a container (DESIGN.md, "The
planner's decision table"). It never touches a container that does not carry
this instance's ``managed-by`` label. ``desired`` comes from admission
(admission.py), which refused what needs no observed container; what is
refused here needs one: another owner, a name an unmanaged container holds,
a host port a container of another unit publishes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from reconciler.core import labels as L
from reconciler.core.actions import (
    Action,
    CreateInfra,
    CreateMember,
    EnsureVolume,
    RecordOwner,
    Recreate,
    Ref,
    Remove,
    RemoveVolumes,
    Restart,
    RunInit,
    Start,
    Stop,
    WaitInit,
    steps,
)
from reconciler.core.compile import BuildConfig
from reconciler.core.hashing import hash_matches
from reconciler.core.models import RestartPolicy
from reconciler.core.observed import ContainerId, Observation, ObservedContainer, State, Taken
from reconciler.core.ownership import ONE_SHOT, Owner, conflict
from reconciler.core.spec import (
    Desired,
    DesiredMember,
    DesiredUnit,
    UnitKey,
    ports_overlap,
    published,
)

# The infra runs nothing worth a grace period: it is killed once its members are gone.
INFRA_GRACE = 0
# Why a restart is a new container where the engine cannot restart one in place (CRI).
_NEXT_ATTEMPT = "the engine never restarts a container in place: a new one, its next attempt"


@dataclass(frozen=True, slots=True)
class PlanConfig:
    instance: str
    owner: Owner = ONE_SHOT  # the source planning: it prunes only its own units
    adopt: bool = False  # take over desired units another source owns (--adopt)
    prune: bool = False  # remove this source's units that `desired` does not name
    allow_empty: bool = False  # let a prune remove everything when nothing is desired
    incomplete: bool = False  # some manifests failed to load: never prune
    delete: frozenset[UnitKey] = frozenset()  # remove these units (`reconciler delete`)
    # The control loop's inputs (reconciler run):
    only: frozenset[UnitKey] | None = None  # plan just these units (the rest is unobserved)
    held: Mapping[ContainerId, str] = field(default_factory=dict)  # crash-loop backoff: why
    unhealthy: Mapping[ContainerId, str] = field(default_factory=dict)  # liveness failed: why
    # The driver's (runtimes.DriverCapabilities.in_place): whether a stopped container
    # starts again in place and members rejoin a restarted infra (Docker). Under CRI
    # neither: a restart is a new container (its next attempt), a dead pod is rebuilt.
    in_place: bool = True

    @classmethod
    def of(
        cls,
        build: BuildConfig,
        *,
        adopt: bool = False,
        prune: bool = False,
        allow_empty: bool = False,
        incomplete: bool = False,
        delete: frozenset[UnitKey] = frozenset(),
        only: frozenset[UnitKey] | None = None,
        held: Mapping[ContainerId, str] | None = None,
        unhealthy: Mapping[ContainerId, str] | None = None,
    ) -> PlanConfig:
        """The one place a plan's configuration is made: the instance, the source that plans
        (the build's owner) and what the engine's containers can do, from the operator's
        settings, so no caller plans a CRI pod as if it restarted in place; then what the
        caller asks of this plan."""
        return cls(
            instance=build.instance,
            owner=build.owner,
            adopt=adopt,
            prune=prune,
            allow_empty=allow_empty,
            incomplete=incomplete,
            delete=delete,
            only=only,
            held=held or {},
            unhealthy=unhealthy or {},
            in_place=build.driver.in_place,
        )


@dataclass(frozen=True, slots=True)
class UnitPlan:
    key: UnitKey
    actions: tuple[Action, ...] = ()
    infra_id: ContainerId | None = None  # the current infra when the actions start
    error: str | None = None  # why this unit is left as it is
    waiting: tuple[tuple[Ref, str], ...] = ()  # restarts held back (crash-loop backoff)

    @property
    def steps(self) -> list[tuple[Action, ...]]:
        """The actions in order, grouped where they may run at once."""
        return steps(self.actions)


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


@dataclass(frozen=True, slots=True)
class Plan:
    units: tuple[UnitPlan, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()

    @property
    def actions(self) -> list[Action]:
        return [a for u in self.units for a in u.actions]

    @property
    def has_changes(self) -> bool:
        return any(u.actions for u in self.units)

    @property
    def errors(self) -> list[UnitPlan]:
        return [u for u in self.units if u.error]


def plan(desired: Desired, observed: Observation, config: PlanConfig) -> Plan:
    """The actions that converge ``observed`` towards ``desired``, per unit."""
    warnings: list[PlanWarning] = []
    groups = _groups(observed, config, warnings)
    owners = {key: observed.owner(key, members) for key, members in groups.items()}
    units = [
        _plan_unit(unit, groups, owners.get(unit.key), observed.taken, config, warnings)
        for unit in desired.units
        if config.only is None or unit.key in config.only
    ]
    units.extend(
        UnitPlan(key, error=reason)
        for key, reason in desired.refused
        if config.only is None or key in config.only
    )
    units.extend(
        _removal(
            key, groups[key], "deleted" if key in config.delete else f"{key} is no longer defined"
        )
        for key in sorted(_doomed(desired, groups, owners, config, warnings))
    )
    return Plan(tuple(sorted(units, key=lambda u: u.key)), tuple(warnings))


def _groups(
    observed: Observation, config: PlanConfig, warnings: list[PlanWarning]
) -> dict[UnitKey, list[ObservedContainer]]:
    """This instance's containers by unit (oldest first); units known only by a claim or
    a volume have none."""
    groups: dict[UnitKey, list[ObservedContainer]] = defaultdict(list)
    for container in observed.containers:
        if container.instance != config.instance:
            continue  # rule 6: never touch what this instance does not own
        key = container.unit_key
        if key is None:
            warnings.append(
                PlanWarning(
                    WarningKind.UNLABELED,
                    f"container {container.name} ({container.id[:12]}) is labeled for instance "
                    f"{config.instance!r} but lacks the unit labels; it is left alone",
                )
            )
            continue
        groups[key].append(container)
    for key, _claim in observed.claims:
        groups.setdefault(key, [])  # a unit whose containers are gone may still be claimed
    for key, _labels in observed.volumes:
        # A crash between removing a unit's containers and its volumes leaves only
        # a volume: it is a leftover like any other, pruned by its owner.
        groups.setdefault(key, [])
    for members in groups.values():
        members.sort(key=lambda c: (c.created, c.id))  # observed order never matters
    return groups


def _plan_unit(
    unit: DesiredUnit,
    groups: Mapping[UnitKey, Sequence[ObservedContainer]],
    owner: Owner | None,
    names_taken: frozenset[Taken],
    config: PlanConfig,
    warnings: list[PlanWarning],
) -> UnitPlan:
    """One desired unit: refused (another owner, a host port taken) or its actions."""
    if conflict(owner, config.owner) and not config.adopt:
        return UnitPlan(
            unit.key,
            error=f"{unit.key} is owned by {owner}; it is left as it is "
            "(until its owner lets it go, or pass --adopt to take it over)",
        )
    taken = _port_taken(unit, groups)
    if taken is not None:  # refused before anything is created: the daemon would refuse it
        return UnitPlan(unit.key, error=taken)
    planner = _UnitPlanner(unit, groups.get(unit.key, []), names_taken, config)
    planned = planner.plan()
    warnings.extend(planner.warnings)
    if unit.key in groups and owner != config.owner and not planned.error:
        why = (
            "it had no owner: adopted"
            if owner is None
            else f"taken over from {owner} (--adopt)"
            if conflict(owner, config.owner)
            else "last applied from another set of paths"
        )
        record = RecordOwner(unit.key, config.owner, why)
        planned = replace(planned, actions=(record, *planned.actions))
    return planned


def _doomed(
    desired: Desired,
    groups: Mapping[UnitKey, Sequence[ObservedContainer]],
    owners: Mapping[UnitKey, Owner | None],
    config: PlanConfig,
    warnings: list[PlanWarning],
) -> list[UnitKey]:
    """The observed units to remove: those deleted, and those pruned."""
    leftovers = sorted(
        k for k in groups if k not in desired.keys and (config.only is None or k in config.only)
    )
    doomed = [k for k in leftovers if k in config.delete]
    # A source prunes only what it owns: never another source's units, nor
    # units from before owners existed (their source is unknown).
    prunable = [k for k in leftovers if k not in config.delete and owners[k] == config.owner]
    if not config.prune or not prunable:
        return doomed
    if config.incomplete:
        warnings.append(
            PlanWarning(
                WarningKind.INCOMPLETE,
                f"not pruning {len(prunable)} unit(s): some manifests failed to load, "
                "so what they define is unknown (last known good is kept)",
            )
        )
    elif not desired.units and not desired.refused and not config.allow_empty:
        warnings.append(
            PlanWarning(
                WarningKind.EMPTY,
                f"refusing to prune all {len(prunable)} unit(s) {config.owner} owns in "
                f"instance {config.instance!r}: nothing is desired (pass --allow-empty to "
                "mean it)",
            )
        )
    else:
        doomed.extend(prunable)
    return doomed


def _port_taken(
    unit: DesiredUnit, groups: Mapping[UnitKey, Sequence[ObservedContainer]]
) -> str | None:
    """Why ``unit`` cannot publish its ports: another unit of this instance holds one."""
    wanted = published(unit)
    if not wanted:
        return None
    for key, containers in groups.items():
        if key == unit.key:
            continue
        for c in containers:
            for ip, port, protocol in c.ports:
                for mine in wanted:
                    if ports_overlap(mine, ip, port, protocol):
                        return (
                            f"host port {mine.host_ip or '0.0.0.0'}:{mine.host_port}/"
                            f"{mine.protocol} is already published by {key} "
                            f"({c.name}); it is not created until that port is free"
                        )
    return None


def _removal(key: UnitKey, containers: Sequence[ObservedContainer], why: str) -> UnitPlan:
    """Remove a whole unit: workloads, then init containers, then the infra, then volumes."""
    order: dict[L.Role | None, int] = {
        L.ROLE_WORKLOAD: 0,
        L.ROLE_SIDECAR: 1,
        L.ROLE_INIT: 2,
        L.ROLE_INFRA: 3,
    }
    actions: list[Action] = []
    for c in sorted(containers, key=lambda c: (order.get(c.role, 0), c.created, c.id)):
        grace = INFRA_GRACE if c.role == L.ROLE_INFRA else c.grace_period
        actions.append(Remove(Ref.of(c), grace, why))
    actions.append(RemoveVolumes(key, why))
    return UnitPlan(key, tuple(actions))


def _short(container_id: str) -> str:
    return container_id[:12]


def _newest(containers: Iterable[ObservedContainer]) -> ObservedContainer | None:
    """Prefer one with live processes, then the most recently created."""
    return max(containers, key=lambda c: (c.state.alive, c.created, c.id), default=None)


class _UnitPlanner:
    """Plans one unit. A class only to share its inputs between small steps."""

    def __init__(
        self,
        unit: DesiredUnit,
        observed: Sequence[ObservedContainer],
        taken: frozenset[Taken],
        config: PlanConfig,
    ) -> None:
        self.unit = unit
        self.observed = observed
        self.taken = sorted(t.name for t in taken if t.unit == unit.key)
        self.held = config.held
        self.unhealthy = config.unhealthy
        self.in_place = config.in_place
        self.waiting: list[tuple[Ref, str]] = []
        self.actions: list[Action] = []
        self.warnings: list[PlanWarning] = []
        self.failure = ""  # why the unit cannot go on (an init container failed for good)

    def plan(self) -> UnitPlan:
        unit = self.unit
        clash = self._name_clash()
        if clash:
            return UnitPlan(unit.key, error=clash)
        infras = [c for c in self.observed if c.role == L.ROLE_INFRA]
        members = [c for c in self.observed if c.role != L.ROLE_INFRA]
        wanted = {(m.spec.role, m.name) for m in unit.members}
        for c in members:
            if (c.role, c.container) not in wanted:
                self._remove(c, f"{c.container or c.name} is no longer in the manifest")
        members = [c for c in members if (c.role, c.container) in wanted]

        if unit.infra is None:
            infra, fresh = None, False
            if infras:  # the unit became standalone: members leave, then the infra goes
                self._remove_members(members, "the sandbox now runs without an infra")
                members = []
            for old in infras:
                self.actions.append(
                    Remove(Ref.of(old), INFRA_GRACE, "the sandbox now runs without an infra")
                )
        else:
            infra, fresh, members = self._plan_infra(infras, members)

        creating = False
        for desired in unit.init:
            role = desired.spec.role
            copies = [c for c in members if c.role == role and c.container == desired.name]
            if role == L.ROLE_SIDECAR:
                # A native sidecar starts in order with the init containers (the next
                # one runs once it is started) and then lives like a workload,
                # restarted whatever the pod's restartPolicy (Kubernetes 1.28+).
                led = self._plan_workload(desired, copies, infra, fresh, policy="Always")
                creating |= led is _Led.CREATES
                continue
            outcome = self._plan_init(desired, copies, infra, fresh)
            if outcome is _Led.FAILED:
                return UnitPlan(unit.key, tuple(self.actions), _id(infra), self.failure)
            if outcome is _Led.HELD:  # rule 1: workloads wait for every init container
                return self._finish(infra, creating)
            creating |= outcome is _Led.CREATES
        for desired in unit.workloads:
            copies = [
                c for c in members if c.role == L.ROLE_WORKLOAD and c.container == desired.name
            ]
            creating |= self._plan_workload(desired, copies, infra, fresh) is _Led.CREATES
        return self._finish(infra, creating)

    def _finish(self, infra: ObservedContainer | None, creating: bool) -> UnitPlan:
        """The unit's plan: volumes before the first create, the restarts held back."""
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
        return UnitPlan(unit.key, tuple(self.actions), _id(infra), waiting=tuple(self.waiting))

    # -- the infra -------------------------------------------------------------

    def _plan_infra(
        self, infras: list[ObservedContainer], members: list[ObservedContainer]
    ) -> tuple[ObservedContainer | None, bool, list[ObservedContainer]]:
        """Decide the infra; return it (None when created in this plan), whether
        it (re)starts in this plan, and the members still to plan."""
        desired = self.unit.infra
        assert desired is not None
        usable = []
        for c in infras:
            match = hash_matches(c.spec_hash, desired.hash, desired.spec)
            if match is None:
                self.warnings.append(
                    PlanWarning(
                        WarningKind.UNKNOWN_HASH,
                        f"{self.unit.key}: infra {_short(c.id)} has a spec hash of an unknown "
                        f"version ({c.spec_hash}); it is kept as it is",
                    )
                )
            # Without in-place starts (CRI) a pod that is not ready cannot be used again.
            alive_enough = self.in_place or c.state.alive
            if match is not False and c.state is not State.UNKNOWN and alive_enough:
                usable.append(c)
        current = _newest(usable)
        for c in infras:
            if c is current:
                continue
            why = (
                "a duplicate infra (keeping the newest)"
                if c in usable
                else f"the pod sandbox is {c.state}: the engine cannot start it again, so "
                "the pod is rebuilt (no rejoin)"
                if not self.in_place and not c.state.alive
                else "the infra's spec changed (ports, share or runtime)"
                if c.state is not State.UNKNOWN
                else f"the infra is {c.state}"
            )
            if current is None:
                # Rule 1: every member leaves before the infra it joined is removed.
                self._remove_members(members, f"its infra is replaced: {why}")
                members = []
            self.actions.append(Remove(Ref.of(c), INFRA_GRACE, why))
        if current is None:
            self._remove_members(
                members, "its infra is gone: its namespace mode can never start again"
            )
            reason = "the infra is replaced" if infras else "no infra exists"
            self.actions.append(CreateInfra(desired, reason))
            return None, True, []
        if not current.state.alive:
            self.actions.append(
                Start(
                    Ref.of(current),
                    f"the infra is {current.state}: start it (its members then rejoin it)",
                    is_infra=True,
                )
            )
            return current, True, members
        return current, False, members

    def _remove_members(self, members: Iterable[ObservedContainer], why: str) -> None:
        order: dict[L.Role | None, int] = {L.ROLE_WORKLOAD: 0, L.ROLE_SIDECAR: 1, L.ROLE_INIT: 2}
        for c in sorted(members, key=lambda c: (order.get(c.role, 0), c.created, c.id)):
            self._remove(c, why)

    def _remove(self, c: ObservedContainer, why: str) -> None:
        self.actions.append(Remove(Ref.of(c), self.unit.grace_period, why))

    # -- members -----------------------------------------------------------------

    def _pick(
        self,
        desired: DesiredMember,
        copies: list[ObservedContainer],
        infra: ObservedContainer | None,
    ) -> ObservedContainer | None:
        """Keep the best copy (joined to the current infra, current spec, alive, newest)."""

        def rank(c: ObservedContainer) -> tuple[bool, bool, bool, float, str]:
            joined = infra is not None and c.infra_id == infra.id
            same = hash_matches(c.spec_hash, desired.hash, desired.spec) is not False
            return joined, same, c.state.alive, c.created, c.id

        keep = max(copies, key=rank, default=None)
        for c in copies:
            if c is not keep:
                self._remove(c, f"a duplicate copy of {desired.name}")
        return keep

    def _stale(
        self, desired: DesiredMember, keep: ObservedContainer, infra: ObservedContainer | None
    ) -> str | None:
        """Why ``keep`` must be recreated, or None."""
        if self.unit.infra is not None:
            if infra is None:
                return "the infra is new: its namespace mode names the old one"
            if keep.infra_id != infra.id:
                return (
                    f"it joined infra {_short(keep.infra_id) or '(none)'}, not the current "
                    f"{_short(infra.id)}: that namespace mode can never start again"
                )
        elif keep.infra_id:
            return "the sandbox now runs without an infra"
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
        if keep.state is State.UNKNOWN:
            return f"it is {keep.state}"
        return None

    def _plan_init(
        self,
        desired: DesiredMember,
        copies: list[ObservedContainer],
        infra: ObservedContainer | None,
        fresh: bool,
    ) -> _Led:
        keep = self._pick(desired, copies, infra)
        if keep is None:
            self.actions.append(RunInit(desired, "init container has not run"))
            return _Led.CREATES
        why = self._stale(desired, keep, infra)
        if why is None and fresh and keep.state is State.EXITED:
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
        infra: ObservedContainer | None,
        fresh: bool,
        policy: RestartPolicy | None = None,
    ) -> _Led:
        keep = self._pick(desired, copies, infra)
        if keep is None:
            self.actions.append(CreateMember(desired, "does not exist"))
            return _Led.CREATES
        why = self._stale(desired, keep, infra)
        if why is not None:
            self._recreate(keep, desired, why)
            return _Led.CREATES
        ref = Ref.of(keep)
        policy = policy or self.unit.restart_policy
        if keep.state.alive and keep.id in self.unhealthy and not fresh:
            why = f"unhealthy: {self.unhealthy[keep.id]}"
            if policy == "Never":
                self.actions.append(
                    Stop(ref, self.unit.grace_period, f"{why}; restartPolicy is Never")
                )
                return _Led.NOTHING
            return self._again(keep, desired, why, exited=False)
        if keep.state.alive:
            if fresh:
                self.actions.append(
                    Restart(
                        ref,
                        self.unit.grace_period,
                        "rejoin: the infra restarts, so it gets new namespaces",
                    )
                )
            elif (
                infra is not None
                and infra.started_at is not None
                and keep.started_at is not None
                and keep.started_at < infra.started_at
            ):
                self.actions.append(
                    Restart(
                        ref,
                        self.unit.grace_period,
                        "rejoin: it started before the infra's current run, "
                        "so it is in stale namespaces",
                    )
                )
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
        self, keep: ObservedContainer, desired: DesiredMember, why: str, exited: bool
    ) -> _Led:
        """Run a member again: in place where the engine can (start the exited container,
        restart the running one), else as a new container, its next attempt (CRI)."""
        if not self.in_place:
            self._recreate(keep, desired, f"{why}; {_NEXT_ATTEMPT}", restart=True)
            return _Led.CREATES
        ref = Ref.of(keep)
        if exited:
            self.actions.append(Start(ref, why, restart=True))
        else:
            self.actions.append(Restart(ref, self.unit.grace_period, why))
        return _Led.NOTHING

    def _recreate(
        self, keep: ObservedContainer, desired: DesiredMember, why: str, restart: bool = False
    ) -> None:
        self.actions.append(
            Recreate(Ref.of(keep), self.unit.grace_period, desired, why, restart=restart)
        )

    def _name_clash(self) -> str | None:
        if not self.taken:
            return None
        return (
            f"container name(s) {', '.join(self.taken)} already taken by container(s) this "
            "instance does not manage; they are left untouched and this unit is not converged"
        )


class _Led(Enum):
    """What planning one member led to."""

    NOTHING = "nothing"  # no container is created for it
    CREATES = "creates"  # a container is created (volumes must exist first)
    FAILED = "failed"  # the unit cannot go on
    HELD = "held"  # a failed init container waits out its backoff: nothing after it runs


def _creates(action: Action) -> bool:
    return isinstance(action, CreateMember | RunInit | Recreate)


def _id(infra: ObservedContainer | None) -> ContainerId | None:
    return infra.id if infra is not None else None


__all__ = ["Plan", "PlanConfig", "PlanWarning", "UnitPlan", "WarningKind", "plan"]
