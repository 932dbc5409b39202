"""The health gate's decision: is a unit a revision changed Ready, on its way, or broken? No I/O.

Pure functions of the loop's status records (statusrecord.py: what the last
pass saw of each unit, with its readiness and startup verdicts and crash-loop
backoff) and of the units as compiled. gate.py keeps the time and the state.

- ``changed``: the units a revision changes: those it adds, and those whose
  compiled unit (``DesiredUnit``: specs, probes, policy) differs from the same
  unit in the revisions it is compared with. A unit it removes is pruned, not
  gated.
- ``unit_health``: one unit is **ready** when its infra and every member that
  keeps running (sidecars, workloads) run the spec it asks for (the planner's
  ``hash_matches``), each started (startup probe passed) and ready (readiness
  probe passed) where it has such a probe; a workload that completed as its
  restartPolicy allows (exit 0 under OnFailure or Never) counts as ready. It is
  **broken**, and waiting longer will not help, when a member is in
  CrashLoopBackOff, an init container failed, a workload failed under
  ``restartPolicy: Never``, or the unit is refused (admission, ownership); it
  is **waiting** otherwise, with what it waits for.

A record is trusted only as far as it names the desired spec: a record the
last pass wrote before the revision (the old containers, ready) waits, so the
decision does not depend on when the revision reached the loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from reconciler.core import labels as L
from reconciler.core.compile import Compiled
from reconciler.core.hashing import hash_matches
from reconciler.core.spec import DesiredMember, DesiredUnit, UnitKey
from reconciler.loop.statusrecord import ContainerRecord, UnitRecord

State = Literal["ready", "waiting", "broken"]


@dataclass(frozen=True, slots=True)
class UnitHealth:
    state: State
    reason: str = ""  # why it is not ready: "app: CrashLoopBackOff (exited 1)"
    # What the record shows of the unit's run (ids, restarts): another run is another tuple,
    # so a unit is ready *for* a time only while this stays the same.
    run: tuple[tuple[str, str, int], ...] = ()

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def units_of(compiled: tuple[Compiled, ...]) -> dict[UnitKey, DesiredUnit]:
    """The compiled units by key."""
    return {c.unit.key: c.unit for c in compiled}


def changed(
    new: Mapping[UnitKey, DesiredUnit], *before: Mapping[UnitKey, DesiredUnit] | None
) -> frozenset[UnitKey]:
    """The units of ``new`` added or changed against any of ``before`` (None: nothing was
    known before, so every unit counts as changed)."""
    known = [b for b in before if b is not None]
    if not known:
        return frozenset(new)
    return frozenset(key for key, unit in new.items() if any(b.get(key) != unit for b in known))


def unit_health(unit: DesiredUnit, record: UnitRecord | None) -> UnitHealth:
    """Whether ``unit`` is Ready as ``record`` (its status, None before its first pass)
    shows it; see the module."""
    if record is None:
        return UnitHealth("waiting", "not reconciled yet")
    if record.phase == "Refused":
        return UnitHealth("broken", f"refused: {record.last_error or 'by the loop'}")
    containers = record.containers
    run = tuple(sorted((name, c.id, c.restarts) for name, c in containers.items()))
    problems = _problems(unit, containers)
    if not problems:
        return UnitHealth("ready", "", run)
    state, reason = problems[0]
    if state == "waiting" and record.last_error:
        reason += f"; last error: {record.last_error}"
    return UnitHealth(state, reason, run)


def _problems(
    unit: DesiredUnit, containers: Mapping[str, ContainerRecord]
) -> list[tuple[State, str]]:
    """What keeps the unit from being ready, broken first."""
    found: list[tuple[State, str]] = []
    for member in unit.init:
        if member.spec.role == L.ROLE_SIDECAR:
            continue
        c = containers.get(member.name)
        if c is not None and _current(c, member) and c.state == "exited" and c.exit_code:
            found.append(("broken", f"{member.name}: init container failed (exited {c.exit_code})"))
    if unit.infra is not None:
        infra = containers.get("infra")
        if infra is None or infra.state != "running":
            found.append(("waiting", f"infra: {_state(infra)}"))
        elif hash_matches(infra.spec_hash, unit.infra.hash, unit.infra.spec) is False:
            found.append(("waiting", "infra: still at the previous spec"))
    for member in unit.running:
        found.extend(_member(unit, member, containers.get(member.name)))
    return sorted(found, key=lambda p: p[0] != "broken")


def _member(
    unit: DesiredUnit, member: DesiredMember, c: ContainerRecord | None
) -> list[tuple[State, str]]:
    name = member.name
    if c is None:
        return [("waiting", f"{name}: not created yet")]
    if not _current(c, member):
        return [("waiting", f"{name}: still at the previous spec")]
    if c.waiting is not None:
        return [("broken", f"{name}: CrashLoopBackOff{_exited(c)}")]
    if c.state == "exited":
        policy = unit.restart_policy
        if c.exit_code == 0 and policy != "Always" and member.spec.role == L.ROLE_WORKLOAD:
            return []  # completed, as its policy lets it
        if policy == "Never" and member.spec.role == L.ROLE_WORKLOAD:
            return [("broken", f"{name}: failed{_exited(c)} (restartPolicy Never)")]
        return [("waiting", f"{name}: exited{_exited(c)}")]
    if c.state != "running":
        return [("waiting", f"{name}: {_state(c)}")]
    if member.startup_probe is not None and c.started is not True:
        return [("waiting", f"{name}: startup probe not passed yet")]
    if member.readiness_probe is not None and c.ready is not True:
        failing = "failing" if c.ready is False else "not passed yet"
        return [("waiting", f"{name}: readiness probe {failing}")]
    return []


def _current(c: ContainerRecord, member: DesiredMember) -> bool:
    """Whether the recorded container runs ``member``'s spec (as the planner judges it)."""
    return hash_matches(c.spec_hash, member.hash, member.spec) is not False


def _exited(c: ContainerRecord) -> str:
    return f" (exited {c.exit_code})" if c.exit_code is not None else ""


def _state(c: ContainerRecord | None) -> str:
    if c is None:
        return "not created yet"
    return "created, not started" if c.state == "created" else f"{c.state}{_exited(c)}"


__all__ = ["State", "UnitHealth", "changed", "unit_health", "units_of"]
