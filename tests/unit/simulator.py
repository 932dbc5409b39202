"""A pure in-memory engine for planner tests: applies a Plan to an Observation.

It mimics what the Docker driver does, closely enough for the planner's
properties: ids are fresh on create, starts stamp a newer start time,
members record the infra they joined, init containers exit 0.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from reconciler import labels as L
from reconciler.actions import (
    CreateInfra,
    CreateMember,
    EnsureVolume,
    RecordOwner,
    Recreate,
    Remove,
    RemoveVolumes,
    Restart,
    RunInit,
    Start,
    Stop,
    WaitInit,
)
from reconciler.desired import DesiredInfra, DesiredMember, UnitKey
from reconciler.observed import ContainerId, Observation, ObservedContainer, State
from reconciler.ownership import Claim
from reconciler.planner import Plan


class Engine:
    def __init__(self, observation: Observation | None = None) -> None:
        observation = observation or Observation()
        self.containers = {c.id: c for c in observation.containers}
        self.foreign = observation.foreign_names
        self.claims: dict[UnitKey, Claim] = dict(observation.claims)
        latest = max((c.started_at or c.created for c in self.containers.values()), default=1000.0)
        self.clock = itertools.count(start=int(latest) + 1)
        taken = [int(c, 16) for c in self.containers if all(ch in "0123456789abcdef" for ch in c)]
        self.ids = itertools.count(start=max(taken, default=0) + 1)

    def observe(self) -> Observation:
        return Observation(
            tuple(self.containers.values()), self.foreign, claims=tuple(self.claims.items())
        )

    def _new_id(self) -> ContainerId:
        return ContainerId(f"{next(self.ids):064x}")

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        now = float(next(self.clock))
        cid = self._new_id()
        self.containers[cid] = ObservedContainer(
            cid, infra.docker_name, dict(infra.labels), State.RUNNING, now, None, now
        )
        return cid

    def create_member(self, member: DesiredMember, infra_id: str | None, init: bool) -> ContainerId:
        now = float(next(self.clock))
        cid = self._new_id()
        labels = dict(member.labels)
        if member.spec.joins:
            assert infra_id is not None, "a joined member needs an infra"
            labels[L.INFRA_ID] = infra_id
        state, code = (State.EXITED, 0) if init else (State.RUNNING, None)
        self.containers[cid] = ObservedContainer(
            cid, member.docker_name, labels, state, now, code, now
        )
        return cid

    def start(self, cid: str, restart: bool = False) -> None:
        c = self.containers[ContainerId(cid)]
        if c.state is State.RUNNING and not restart:
            return
        now = float(next(self.clock))
        self.containers[c.id] = replace(c, state=State.RUNNING, exit_code=None, started_at=now)

    def apply(self, plan: Plan) -> None:
        for unit in plan.units:
            infra_id = unit.infra_id
            for action in unit.actions:
                match action:
                    case EnsureVolume():
                        pass
                    case RemoveVolumes(unit=key):
                        self.claims.pop(key, None)
                    case RecordOwner(unit=key, owner=owner):
                        now = float(next(self.clock))
                        self.claims[key] = Claim(f"claim-{key.name}-{now}", owner, now)
                    case CreateInfra(infra=infra):
                        infra_id = self.create_infra(infra)
                    case CreateMember(member=m):
                        self.create_member(m, infra_id, init=False)
                    case RunInit(member=m):
                        self.create_member(m, infra_id, init=True)
                    case WaitInit(ref=ref):
                        c = self.containers[ref.id]
                        self.containers[c.id] = replace(c, state=State.EXITED, exit_code=0)
                    case Start(ref=ref, is_infra=is_infra):
                        self.start(ref.id)
                        if is_infra:
                            infra_id = ref.id
                    case Restart(ref=ref):
                        self.start(ref.id, restart=True)
                    case Stop(ref=ref):
                        c = self.containers[ref.id]
                        self.containers[c.id] = replace(c, state=State.EXITED, exit_code=137)
                    case Remove(ref=ref):
                        self.containers.pop(ref.id, None)
                    case Recreate(old=old, member=m):
                        self.containers.pop(old.id, None)
                        self.create_member(m, infra_id, init=m.spec.role == "init")
