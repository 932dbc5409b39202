"""The planner: every convergence decision, as one pure function. No I/O.

``plan(desired, observed, config) -> Plan`` compares what the manifests ask
for with what the engine reports and returns, per unit, the ordered actions
that converge it, each with its reason. This module and the two it plans a
unit's containers with (infraplan.py for the infra, memberplan.py for the
members) are the one place that decides to create, start, rejoin, recreate
or remove a container (DESIGN.md, "The planner's decision table"). It never
touches a container that does not carry this instance's ``managed-by``
label. ``desired`` comes from admission (admission.py), which refused what
needs no observed container; what is refused here needs one: another owner,
a name an unmanaged container holds, a host port a container of another unit
publishes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from reconciler.core import labels as L
from reconciler.core.actions import Action, RecordOwner, Ref, Remove, RemoveVolumes, steps
from reconciler.core.compile import BuildConfig
from reconciler.core.eviction import plan_eviction
from reconciler.core.infraplan import INFRA_GRACE, plan_infra
from reconciler.core.memberplan import Unhealthy, plan_members
from reconciler.core.observed import ContainerId, Eviction, Observation, ObservedContainer, Taken
from reconciler.core.ownership import ONE_SHOT, Owner, conflict
from reconciler.core.planwarnings import PlanWarning, WarningKind
from reconciler.core.spec import Desired, DesiredUnit, UnitKey, ports_overlap, published


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
    unhealthy: Mapping[ContainerId, Unhealthy] = field(default_factory=dict)  # probe failed
    # An emptyDir over its sizeLimit, as the loop measured it: evict the unit (the message).
    evict: Mapping[UnitKey, str] = field(default_factory=dict)
    # Lift the evictions recorded (apply: run the unit again); else an evicted unit stays
    # stopped until its manifest changes (eviction.py).
    lift_evictions: bool = False
    # Containers on an older image than their tag names now (the loop's image watch,
    # reconciler.io/image-update), with what moved: they are made again.
    outdated: Mapping[ContainerId, str] = field(default_factory=dict)
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
        unhealthy: Mapping[ContainerId, Unhealthy] | None = None,
        evict: Mapping[UnitKey, str] | None = None,
        lift_evictions: bool = False,
        outdated: Mapping[ContainerId, str] | None = None,
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
            evict=evict or {},
            lift_evictions=lift_evictions,
            outdated=outdated or {},
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
        _plan_unit(unit, groups, owners.get(unit.key), observed, config, warnings)
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
    for key, _labels in (*observed.volumes, *observed.evictions):
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
    observed: Observation,
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
    planned, unit_warnings = _plan_containers(
        unit, groups.get(unit.key, []), observed.taken, observed.eviction(unit.key), config
    )
    warnings.extend(unit_warnings)
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


def _plan_containers(
    unit: DesiredUnit,
    observed: Sequence[ObservedContainer],
    names_taken: frozenset[Taken],
    recorded: Eviction | None,
    config: PlanConfig,
) -> tuple[UnitPlan, tuple[PlanWarning, ...]]:
    """One unit's containers, in the order the actions run: an evicted unit is stopped
    (eviction.py); else the members the manifest no longer names leave, then the infra
    is decided (infraplan.py), then the members that stay are planned against it
    (memberplan.py)."""
    clash = _name_clash(unit, names_taken)
    if clash:
        return UnitPlan(unit.key, error=clash), ()
    asked = config.evict.get(unit.key)
    eviction = plan_eviction(unit, observed, recorded, asked, config.lift_evictions)
    if eviction.hold is not None:
        return UnitPlan(unit.key, eviction.hold), ()
    wanted = {(m.spec.role, m.name) for m in unit.members}
    infras = [c for c in observed if c.role == L.ROLE_INFRA]
    members = [c for c in observed if c.role != L.ROLE_INFRA]
    gone = [
        Remove(
            Ref.of(c), unit.grace_period, f"{c.container or c.name} is no longer in the manifest"
        )
        for c in members
        if (c.role, c.container) not in wanted
    ]
    staying = [c for c in members if (c.role, c.container) in wanted]
    infra_plan = plan_infra(unit, infras, staying, config.in_place)
    member_plan = plan_members(
        unit,
        infra_plan,
        held=config.held,
        unhealthy=config.unhealthy,
        outdated=config.outdated,
        in_place=config.in_place,
    )
    planned = UnitPlan(
        unit.key,
        (*eviction.before, *gone, *infra_plan.actions, *member_plan.actions),
        _id(infra_plan.current),
        member_plan.error,
        member_plan.waiting,
    )
    return planned, (*infra_plan.warnings, *member_plan.warnings)


def _name_clash(unit: DesiredUnit, names_taken: frozenset[Taken]) -> str | None:
    """Why ``unit`` is not converged: containers it needs the names of are not managed."""
    taken = sorted(t.name for t in names_taken if t.unit == unit.key)
    if not taken:
        return None
    return (
        f"container name(s) {', '.join(taken)} already taken by container(s) this "
        "instance does not manage; they are left untouched and this unit is not converged"
    )


def _id(infra: ObservedContainer | None) -> ContainerId | None:
    return infra.id if infra is not None else None


__all__ = ["Plan", "PlanConfig", "PlanWarning", "Unhealthy", "UnitPlan", "WarningKind", "plan"]
