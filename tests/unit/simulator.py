"""A pure in-memory engine for planner, executor and CLI tests. No I/O.

``Engine`` implements the whole ``reconciler.drivers.base.Driver`` protocol
(mypy checks it: see the end of this file), so a plan is applied the way
``reconciler apply`` applies it: through ``reconciler.converge.executor``. It
refuses what Docker refuses, so a plan that only works on a kind engine
fails here too:

- names are unique, among this instance's containers and everybody else's
  (``NameConflict``); the names held by containers of others are reported as
  ``foreign_names``, as the Docker driver does;
- a member joins ``container:<infra-id>``: creating it fails when that infra
  is gone, starting it fails when the infra is not running;
- a runtime the daemon does not offer cannot be used (``runtimes``);
- UNKNOWN containers (Docker's dead or removing) cannot be started, PAUSED ones neither;
- a host port one running container publishes cannot be bound by another;
- stopping or removing an infra whose PID namespace is shared kills its members;
- every start of an infra gives it new namespaces (a *generation*); a member
  is in the generation its infra had when the member last started, which is
  what "sits in its current infra's namespaces" means in ``divergence``.

Faults, injected by the tests: ``init_exit`` (an init container exits with
this code the next time it runs), ``fail_once`` (the next create or start of
that Docker name fails, leaving a created container as Docker does when the
start is what fails).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, BinaryIO, Generic, TypeVar

from reconciler.converge.executor import Result, execute
from reconciler.core import labels as L
from reconciler.core.errors import (
    DriverError,
    InvalidSpec,
    NameConflict,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.core.models import Kind
from reconciler.core.naming import container_name, name_of
from reconciler.core.observed import (
    ContainerDetails,
    ContainerEvent,
    ContainerId,
    EngineFacts,
    Eviction,
    FactsWanted,
    Observation,
    ObservedContainer,
    State,
    Taken,
)
from reconciler.core.ownership import Claim, Owner
from reconciler.core.planner import Plan
from reconciler.core.runtimes import DriverCapabilities
from reconciler.core.spec import (
    Desired,
    DesiredInfra,
    DesiredMember,
    DesiredUnit,
    DesiredVolume,
    PortSpec,
    PullAuth,
    UnitKey,
    ports_overlap,
)
from reconciler.drivers.base import EngineInfo
from reconciler.drivers.docker.capabilities import DOCKER

if TYPE_CHECKING:
    from reconciler.drivers.base import Driver

INSTANCE = "test"


@dataclass(slots=True)
class _Extra:
    """What Docker knows about a container that the list call does not show."""

    joins: tuple[str, ...] = ()  # namespaces of the infra it joined (members)
    shares: tuple[str, ...] = ()  # namespaces it lends (infra)
    runtime: str = "runc"
    ports: tuple[PortSpec, ...] = ()  # the host ports it publishes
    generation: int = 0  # infra: bumped on every start; member: its infra's, when it started


@dataclass(slots=True)
class Faults:
    init_exit: dict[str, int] = field(default_factory=dict)  # docker name -> next exit code
    fail_once: set[str] = field(default_factory=set)  # docker names whose next start fails


T = TypeVar("T")


class _Stream(Generic[T]):
    """What the engine has to say, once; ``close()`` ends it early."""

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items = list(items)
        self.closed = False

    def __iter__(self) -> Iterator[T]:
        for item in self._items:
            if self.closed:
                return
            yield item

    def close(self) -> None:
        self.closed = True


class Engine:
    # What the Docker driver declares: the simulator refuses what Docker refuses.
    capabilities: DriverCapabilities = DOCKER

    def __init__(
        self,
        observation: Observation | None = None,
        runtimes: frozenset[str] | None = None,
        instance: str = INSTANCE,
    ) -> None:
        observation = observation or Observation()
        self.instance = instance
        self.containers: dict[ContainerId, ObservedContainer] = {
            c.id: c for c in observation.containers
        }
        self.extra: dict[ContainerId, _Extra] = {}
        # Names held by containers nobody manages (the driver never lists those).
        self.unmanaged: set[str] = {t.name for t in observation.taken}
        # The runtimes the engine offers; None: not read (observe reports None too).
        self.offered = runtimes if runtimes is not None else observation.runtimes
        self.faults = Faults()
        self.volumes: dict[str, Mapping[str, str]] = {}  # name -> labels
        self.claims: dict[UnitKey, Claim] = dict(observation.claims)  # owners apart from labels
        self.evictions: dict[UnitKey, Eviction] = dict(observation.evictions)
        self.paths: dict[str, str] = {}  # volume name -> where its data is (volume_path)
        self.calls: list[tuple[str, str]] = []  # (operation, docker name), in the order made
        self.exec_codes: dict[str, int] = {}  # a command's exit code, by its first word
        self.image_users: dict[str, str] = {}  # an image's user (facts); unset: "" (root)
        self.image_ids: dict[str, str] = {}  # the image a tag names (latest_image)
        self.storage: str | None = None  # why a storage limit cannot be enforced (facts)
        self.pending: list[ContainerEvent] = []  # what events() reports next
        self._lock = threading.RLock()
        latest = max((c.started_at or c.created for c in self.containers.values()), default=1000.0)
        self.clock = itertools.count(start=int(latest) + 1)
        taken = [int(c, 16) for c in self.containers if all(ch in "0123456789abcdef" for ch in c)]
        self.ids = itertools.count(start=max(taken, default=0) + 1)
        for c in self.containers.values():
            self.extra[c.id] = _Extra()
        for c in self.containers.values():  # members started before their infra's run are stale
            infra = self.containers.get(ContainerId(c.infra_id))
            if (
                infra is not None
                and infra.started_at is not None
                and c.started_at is not None
                and c.started_at < infra.started_at
            ):
                self.extra[c.id].generation = -1

    # -- what the driver reports ---------------------------------------------------

    def observe(
        self,
        units: Collection[DesiredUnit] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        """Everything (the offered runtimes as set), or ``unit``'s; which of ``units``'
        names others hold, as the Docker driver does."""
        with self._lock:
            foreign = self.unmanaged | {
                c.name for c in self.containers.values() if c.instance != self.instance
            }
            wanted = {
                container_name(self.instance, u.key, None if m is None else m.name): (u.key, m)
                for u in units
                for m in (*u.members, *((None,) if u.infra is not None else ()))
            }
            listed = {c.name for c in self.containers.values() if c.instance == self.instance}
            taken = frozenset(
                Taken(key, "" if m is None else m.name, name)
                for name, (key, m) in wanted.items()
                if name in foreign and name not in listed
            )
            return Observation(
                tuple(c for c in self.containers.values() if unit is None or c.unit_key == unit),
                taken,
                frozenset(u.key for u in units),
                self.offered,
                claims=tuple((k, c) for k, c in self.claims.items() if unit in (None, k)),
                volumes=tuple(
                    (key, labels)
                    for labels in self.volumes.values()
                    if labels.get(L.MANAGED_BY) == self.instance
                    and (key := _unit_of(labels)) is not None
                    and unit in (None, key)
                ),
                evictions=tuple((k, e) for k, e in self.evictions.items() if unit in (None, k)),
            )

    def runtimes(self) -> frozenset[str]:
        return self.offered if self.offered is not None else frozenset({"runc"})

    def events(self) -> _Stream[ContainerEvent]:
        """The events queued in ``pending`` so far (then they are gone)."""
        with self._lock:
            pending, self.pending = self.pending, []
        return _Stream(pending)

    def facts(self, wanted: FactsWanted, pull: bool) -> EngineFacts:
        return EngineFacts(
            {i: self.image_users.get(i, "") for i in wanted.images}, {}, self.storage
        )

    def details(self, ids: Collection[str]) -> dict[str, ContainerDetails]:
        with self._lock:
            return {
                cid: ContainerDetails(started_at=c.started_at, runtime=self.extra[c.id].runtime)
                for cid in ids
                if (c := self.containers.get(ContainerId(cid))) is not None
            }

    def address(self, container_id: str) -> str | None:
        return None

    def volume_path(self, name: str) -> str | None:
        """``paths[name]`` (a test's directory), for a volume that exists."""
        with self._lock:
            return self.paths.get(name) if name in self.volumes else None

    def engine(self) -> EngineInfo:
        return EngineInfo("simulated", "simulated", tuple(sorted(self.runtimes())), "runc")

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> _Stream[bytes]:
        self._get(container_id, "reading the logs of")
        return _Stream()

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        """Exit code 0 in a running container (``exec_codes`` by command name says else)."""
        with self._lock:
            c = self._get(container_id, "exec in")
            self.calls.append(("exec", c.name))
            if not c.state.alive:
                raise PermanentDriverError(f"exec in {c.name}: container is not running")
            return self.exec_codes.get(command[0], 0)

    def exec_attached(
        self,
        container_id: str,
        command: list[str],
        out: BinaryIO,
        err: BinaryIO,
        stdin: BinaryIO | None = None,
        tty: bool = False,
        size: tuple[int, int] | None = None,
    ) -> int:
        return self.exec(container_id, command, 0.0)

    def close(self) -> None:
        pass

    def _get(self, container_id: str, what: str) -> ObservedContainer:
        c = self.containers.get(ContainerId(container_id))
        if c is None:
            raise DriverError(f"{what} {container_id[:12]}: No such container")
        return c

    def names(self) -> set[str]:
        return {c.name for c in self.containers.values()} | self.unmanaged

    # -- the executor's Driver protocol --------------------------------------------

    def _tick(self) -> float:
        return float(next(self.clock))

    def _new(
        self, name: str, labels: Mapping[str, str], runtime: str, extra: _Extra
    ) -> ContainerId:
        self.calls.append(("create", name))
        if name in self.names():
            raise NameConflict(f"creating {name}: the name is already in use")
        if self.offered is not None and runtime not in self.offered:
            raise InvalidSpec(f"creating {name}: unknown or invalid runtime name: {runtime}")
        cid = ContainerId(f"{next(self.ids):064x}")
        bindings = tuple((p.host_ip, p.host_port or 0, p.protocol) for p in extra.ports)
        self.containers[cid] = ObservedContainer(
            cid, name, dict(labels), State.CREATED, self._tick(), None, None, ports=bindings
        )
        extra.runtime = runtime
        self.extra[cid] = extra
        return cid

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        with self._lock:
            extra = _Extra(shares=infra.spec.share, ports=_host(infra.spec.ports))
            cid = self._new(name_of(infra.labels), infra.labels, infra.spec.runtime, extra)
            self.start(cid)
            return cid

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        with self._lock:
            labels = dict(member.labels)
            if member.spec.joins:
                if infra_id is None or ContainerId(infra_id) not in self.containers:
                    self.calls.append(("create", name_of(member.labels)))
                    raise InvalidSpec(
                        f"creating {name_of(member.labels)}: no such container: {infra_id}"
                    )
                labels[L.INFRA_ID] = infra_id
            extra = _Extra(joins=member.spec.joins, ports=_host(member.spec.ports))
            cid = self._new(name_of(member.labels), labels, member.spec.runtime, extra)
            image_id = self.latest_image(member.spec.image)
            self.containers[cid] = replace(self.containers[cid], image_id=image_id)
            self.start(cid)
            return cid

    def latest_image(self, image: str, auth: tuple[PullAuth, ...] = ()) -> str:
        """``image_ids[image]`` (a test moves a tag by setting it), else one of its own."""
        del auth
        return self.image_ids.get(image, f"sha256:{image}")

    def start(self, container_id: str) -> None:
        with self._lock:
            c = self.containers[ContainerId(container_id)]
            self.calls.append(("start", c.name))
            if c.state.alive:
                if c.state is State.PAUSED:
                    raise PermanentDriverError(
                        f"starting {c.name}: cannot start a paused container"
                    )
                return
            self._run(c)

    def _run(self, c: ObservedContainer) -> None:
        """Start ``c`` (stopped): Docker's checks, then its new run."""
        extra = self.extra[c.id]
        infra = self._may_start(c, extra)
        now = self._tick()
        if c.role == L.ROLE_INIT:
            code = self.faults.init_exit.pop(c.name, 0)
            self.containers[c.id] = replace(c, state=State.EXITED, exit_code=code, started_at=now)
        else:
            self.containers[c.id] = replace(c, state=State.RUNNING, exit_code=None, started_at=now)
        if infra is not None:
            extra.generation = self.extra[infra.id].generation
        elif extra.shares or c.role == L.ROLE_INFRA:
            extra.generation += 1

    def _may_start(self, c: ObservedContainer, extra: _Extra) -> ObservedContainer | None:
        """What Docker checks before a start (and the injected faults); the infra joined."""
        if c.state is State.UNKNOWN:
            raise PermanentDriverError(f"starting {c.name}: container is marked for removal")
        infra = None
        if extra.joins:
            infra = self.containers.get(ContainerId(c.infra_id))
            if infra is None:
                raise InvalidSpec(f"starting {c.name}: joining network of {c.infra_id}: gone")
            if not infra.state.alive:
                raise InvalidSpec(
                    f"starting {c.name}: cannot join network of a non running container"
                )
        for other in self.containers.values():
            if other.id != c.id and other.state.alive:
                for mine in extra.ports:
                    if any(ports_overlap(mine, *theirs) for theirs in other.ports):
                        raise InvalidSpec(
                            f"starting {c.name}: Bind for {mine.host_ip or '0.0.0.0'}:"
                            f"{mine.host_port} failed: port is already allocated"
                        )
        if c.name in self.faults.fail_once:
            self.faults.fail_once.discard(c.name)
            raise TransientDriverError(f"starting {c.name}: injected failure")
        return infra

    def restart(self, container_id: str, grace_period: int) -> None:
        with self._lock:
            c = self.containers[ContainerId(container_id)]
            self.calls.append(("restart", c.name))
            self._kill(c, 137)
            self._run(self.containers[c.id])

    def stop(self, container_id: str, grace_period: int) -> None:
        with self._lock:
            c = self.containers.get(ContainerId(container_id))
            if c is None:
                return  # already gone is success
            self.calls.append(("stop", c.name))
            self._kill(c, 137)

    def _kill(self, c: ObservedContainer, code: int) -> None:
        if c.state.alive:
            self.containers[c.id] = replace(c, state=State.EXITED, exit_code=code)
        if "pid" in self.extra[c.id].shares:  # the PID namespace's init is gone: all of it dies
            for m in list(self.containers.values()):
                if m.infra_id == c.id and "pid" in self.extra[m.id].joins and m.state.alive:
                    self.containers[m.id] = replace(m, state=State.EXITED, exit_code=137)

    def wait(self, container_id: str) -> int:
        with self._lock:
            c = self.containers[ContainerId(container_id)]
            self.calls.append(("wait", c.name))
            if c.state.alive:
                assert c.role == L.ROLE_INIT, f"waiting for {c.name} would block for ever"
                code = self.faults.init_exit.pop(c.name, 0)
                self.containers[c.id] = c = replace(c, state=State.EXITED, exit_code=code)
            assert c.exit_code is not None, f"{c.name} never ran"
            return c.exit_code

    def remove(self, container_id: str, grace_period: int) -> None:
        with self._lock:
            c = self.containers.get(ContainerId(container_id))
            if c is None:
                return  # already gone is success
            self.calls.append(("remove", c.name))
            self._kill(c, 137)
            del self.containers[c.id]

    def ensure_volume(self, volume: DesiredVolume) -> None:
        with self._lock:
            self.calls.append(("volume", volume.name))
            self.volumes.setdefault(volume.name, dict(volume.labels))

    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        with self._lock:
            self.calls.append(("record-owner", str(unit)))
            now = self._tick()
            self.claims[unit] = Claim(f"claim-{unit.name}-{now}", owner, now)

    def record_eviction(self, unit: UnitKey, eviction: Eviction) -> None:
        with self._lock:
            self.calls.append(("record-eviction", str(unit)))
            self.evictions[unit] = eviction

    def lift_eviction(self, unit: UnitKey) -> None:
        with self._lock:
            self.calls.append(("lift-eviction", str(unit)))
            self.evictions.pop(unit, None)

    def remove_volumes(self, unit: UnitKey) -> None:
        with self._lock:
            self.calls.append(("remove-volumes", str(unit)))
            self.claims.pop(unit, None)
            self.evictions.pop(unit, None)
            for name, labels in list(self.volumes.items()):
                if (labels.get(L.KIND), labels.get(L.NAMESPACE), labels.get(L.SANDBOX)) == (
                    unit.kind.value,
                    unit.namespace,
                    unit.name,
                ) and labels.get(L.MANAGED_BY) == self.instance:
                    del self.volumes[name]

    # -- applying a plan ----------------------------------------------------------

    def apply(self, plan: Plan, parallel: int = 1) -> Result:
        """Run ``plan`` through the real executor against this engine."""
        return execute(plan, self, parallel=parallel)

    # -- what happens behind the reconciler's back (faults for the tests) ----------

    def kill(self, cid: str, code: int = 137) -> None:
        """The container's processes die (OOM, a crash, `docker kill`)."""
        self._kill(self.containers[ContainerId(cid)], code)

    def restart_behind(self, cid: str) -> None:
        """`docker restart`: an infra gets new namespaces, its members keep the old ones."""
        c = self.containers[ContainerId(cid)]
        self._kill(c, 137)
        with contextlib.suppress(PermanentDriverError):  # Docker refuses it too
            self._run(self.containers[c.id])

    def duplicate(self, cid: str) -> ContainerId:
        """A second copy with the same labels (a crash between create and record; a rename)."""
        c = self.containers[ContainerId(cid)]
        copy = ContainerId(f"{next(self.ids):064x}")
        self.containers[copy] = replace(
            c, id=copy, name=f"{c.name}-{copy[-6:]}", created=c.created + 0.5
        )
        if c.ports and c.state.alive:  # Docker would not have started it: the port is taken
            self.containers[copy] = replace(
                self.containers[copy], state=State.CREATED, started_at=None
            )
        self.extra[copy] = replace(self.extra[c.id])
        return copy

    def take_name(self, cid: str) -> str:
        """Our container is gone and somebody else's now holds its name."""
        c = self.containers[ContainerId(cid)]
        self._kill(c, 137)  # what its members see; then it is gone
        del self.containers[c.id]
        self.unmanaged.add(c.name)
        return c.name

    def other_instance(self, cid: str) -> ContainerId:
        """A look-alike that another instance manages (it must never be touched)."""
        c = self.containers[ContainerId(cid)]
        copy = ContainerId(f"{next(self.ids):064x}")
        labels = {**c.labels, L.MANAGED_BY: "other"}
        self.containers[copy] = replace(c, id=copy, name=f"other-{c.name}", labels=labels, ports=())
        self.extra[copy] = replace(self.extra[c.id], ports=())
        return copy

    def set_state(self, cid: str, state: State) -> None:
        c = self.containers[ContainerId(cid)]
        code = 137 if state in (State.EXITED, State.UNKNOWN) else None
        started = None if state is State.CREATED else c.started_at
        self.containers[c.id] = replace(c, state=state, exit_code=code, started_at=started)


def _unit_of(labels: Mapping[str, str]) -> UnitKey | None:
    try:
        return UnitKey(Kind(labels[L.KIND]), labels[L.NAMESPACE], labels[L.SANDBOX])
    except (KeyError, ValueError):
        return None


def _host(ports: tuple[PortSpec, ...]) -> tuple[PortSpec, ...]:
    return tuple(p for p in ports if p.host_port)


def divergence(
    want: Desired,
    engine: Engine,
    *,
    skip: Iterable[UnitKey] = (),
    held: Mapping[ContainerId, str] | None = None,
    prune: bool = True,
    had: Iterable[UnitKey] = (),
) -> list[str]:
    """How the engine's state differs from ``want`` ([] when it *is* the desired state).

    Each desired unit (but ``skip``): every container exists exactly once, with
    the desired hash; the infra runs (a paused container counts as running, as
    the planner holds: its processes and namespaces exist, and the planner
    leaves somebody's `docker pause` alone); init containers exited 0; workloads run,
    or have exited as their restart policy allows (or are ``held`` in backoff);
    every member joined the current infra and sits in its current namespaces.
    With ``prune``, nothing of this instance remains outside the desired units,
    nor the volumes of the units in ``had`` (that had containers to prune: a
    plan is made from containers, so volumes alone are not seen).
    """
    held = held or {}
    skipped = set(skip)
    problems: list[str] = []
    ours: dict[UnitKey, list[ObservedContainer]] = {}
    for c in engine.containers.values():
        if c.instance == engine.instance and c.unit_key is not None:
            ours.setdefault(c.unit_key, []).append(c)
    for unit in want.units:
        if unit.key not in skipped:
            problems.extend(_unit_divergence(unit, ours.pop(unit.key, []), engine, held))
    if prune:
        gone = {(k.kind.value, k.namespace, k.name) for k in set(had) - want.keys - skipped}
        problems.extend(
            f"volume {name} remains, not desired"
            for name, labels in engine.volumes.items()
            if labels.get(L.MANAGED_BY) == engine.instance
            and (labels.get(L.KIND), labels.get(L.NAMESPACE), labels.get(L.SANDBOX)) in gone
        )
        problems.extend(
            f"{key}: {len(left)} container(s) remain, not desired"
            for key, left in ours.items()
            if key not in want.keys and key not in skipped
        )
    return problems


def _unit_divergence(
    unit: DesiredUnit,
    have: list[ObservedContainer],
    engine: Engine,
    held: Mapping[ContainerId, str],
) -> list[str]:
    """How one desired unit's containers differ from it (see ``divergence``)."""
    where = str(unit.key)
    problems: list[str] = []

    def one(role: str, name: str, want_hash: str) -> ObservedContainer | None:
        found = [c for c in have if c.role == role and c.container == name]
        if len(found) != 1:
            problems.append(f"{where}: {len(found)} {role} {name or 'infra'} container(s)")
            return None
        if found[0].spec_hash != want_hash:
            problems.append(f"{where}: {name or 'infra'} has hash {found[0].spec_hash}")
        return found[0]

    problems.extend(
        f"{where}: volume {v.name} is missing" for v in unit.volumes if v.name not in engine.volumes
    )
    infra = None
    if unit.infra is not None:
        infra = one(L.ROLE_INFRA, "", unit.infra.hash)
        if infra is not None and not infra.state.alive:
            problems.append(f"{where}: the infra is {infra.state}")
    elif any(c.role == L.ROLE_INFRA for c in have):
        problems.append(f"{where}: an infra remains in standalone mode")
    wanted = {(m.spec.role, m.name) for m in unit.members}
    problems.extend(
        f"{where}: {c.container} remains, no longer desired"
        for c in have
        if c.role != L.ROLE_INFRA and (c.role, c.container) not in wanted
    )
    for member in unit.members:
        found = one(member.spec.role, member.name, member.hash)
        if found is not None:
            problems.extend(_member_divergence(unit, member, found, infra, engine, held))
    return problems


def _member_divergence(
    unit: DesiredUnit,
    member: DesiredMember,
    c: ObservedContainer,
    infra: ObservedContainer | None,
    engine: Engine,
    held: Mapping[ContainerId, str],
) -> list[str]:
    """How one member's container differs: its infra, its namespaces, its state."""
    where = str(unit.key)
    problems: list[str] = []
    if unit.infra is not None and infra is not None:
        if c.infra_id != infra.id:
            problems.append(f"{where}: {member.name} joined {c.infra_id[:12]}, not the infra")
        elif c.state.alive and (engine.extra[c.id].generation != engine.extra[infra.id].generation):
            problems.append(f"{where}: {member.name} runs in the infra's old namespaces")
    elif c.infra_id:
        problems.append(f"{where}: {member.name} still names an infra")
    policy = unit.restart_policy
    if member.spec.role == "init":
        if c.state is not State.EXITED or c.exit_code != 0:
            problems.append(f"{where}: init {member.name} is {c.state} ({c.exit_code})")
    elif not c.state.alive and c.id not in held:
        allowed = (
            c.state is State.EXITED
            and c.exit_code is not None
            and (policy == "Never" or (policy == "OnFailure" and c.exit_code == 0))
        )
        if not allowed:
            problems.append(
                f"{where}: {member.name} is {c.state} (exit {c.exit_code}), restartPolicy {policy}"
            )
    return problems


if TYPE_CHECKING:  # mypy holds the simulator to the whole driver interface
    _check: Driver = Engine(instance="x")
