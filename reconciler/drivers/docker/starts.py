"""When a sandbox's members started against their infra's current run, cheaply. Does I/O.

Docker's list call has no start times, yet telling a member left in a
restarted infra's old namespaces (rule 4: rejoin) from a current one needs
them. Docker gives a container new network endpoints at every start
(bridge, host and none alike; measured on 20.10 after restart, stop/start
and kill/start) and shows their ids in the list (``run_key``). So a member
needs no inspect when the list proves it started after its infra's current
run began:

- its ``L.INFRA_RUN`` label, written when it was created, names the infra's
  current run: the infra has not restarted since, and the member can only
  have started after its own creation (its start times stay None: not needed);
- or an earlier observation inspected it starting after the infra's start,
  and the infra is still in that run (a member rejoined in place, or started
  again after a daemon restart, keeps a label naming a run that is over). It
  keeps the start times read then.

The rest, and their infras, are inspected (concurrently). A steady state
costs one list call.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from reconciler.core import labels as L
from reconciler.core.errors import NotFound
from reconciler.core.observed import ObservedContainer
from reconciler.core.spec import UnitKey
from reconciler.drivers.docker.connection import Connection, timestamp
from reconciler.drivers.docker.errors import calling


def run_key(settings: Mapping[str, Any] | None) -> tuple[str, ...]:
    """One run of a container, as list and inspect both show it: its network endpoints'
    ids (none while it is stopped; () when there is nothing to go by)."""
    networks = (settings or {}).get("Networks") or {}
    return tuple(sorted(e for n in networks.values() if (e := (n or {}).get("EndpointID"))))


def run_label(run: tuple[str, ...]) -> str:
    """The value of ``L.INFRA_RUN`` for a run ("" for none): short, fixed length."""
    return hashlib.sha256(",".join(run).encode()).hexdigest()[:16] if run else ""


@dataclass(slots=True)
class _Proof:
    """Members seen to start after an infra's run ``run`` began, with the start times read."""

    run: tuple[str, ...]
    infra_started: float
    members: dict[str, float]


class StartTimes:
    """The proofs kept from one observation to the next, by infra id."""

    def __init__(self, connection: Connection) -> None:
        self._engine = connection
        self._lock = threading.Lock()
        self._proofs: dict[str, _Proof] = {}

    def fill(
        self,
        containers: list[ObservedContainer],
        runs: Mapping[str, tuple[str, ...]],
        whole: bool,
    ) -> list[ObservedContainer]:
        """``containers`` with the start times of the running members of running sandboxes
        (and their infras) that the list cannot prove current. ``runs``: each listed
        container's run; ``whole``: the list covered every unit, so proofs of
        containers gone are dropped."""
        infras = {c.unit_key: c for c in containers if c.role == L.ROLE_INFRA and c.state.alive}
        members = [
            c
            for c in containers
            if c.state.alive and c.unit_key in infras and c.role not in (L.ROLE_INFRA, L.ROLE_INIT)
        ]
        started, unproven = self._proven(containers, members, infras, runs, whole)
        if unproven:
            needed: dict[str, ObservedContainer] = {}
            for member in unproven:
                needed[member.id] = member
                needed[infras[member.unit_key].id] = infras[member.unit_key]
            with ThreadPoolExecutor(max_workers=8) as pool:
                found = dict(zip(needed, pool.map(self._started_at, needed.values()), strict=True))
            started |= {cid: at for cid, (at, _) in found.items()}
            self._prove(unproven, infras, found)
        return [replace(c, started_at=started[c.id]) if c.id in started else c for c in containers]

    def _proven(
        self,
        containers: list[ObservedContainer],
        members: list[ObservedContainer],
        infras: Mapping[UnitKey | None, ObservedContainer],
        runs: Mapping[str, tuple[str, ...]],
        whole: bool,
    ) -> tuple[dict[str, float | None], list[ObservedContainer]]:
        """The start times the proofs give, and the members they leave unproven."""
        started: dict[str, float | None] = {}
        unproven: list[ObservedContainer] = []
        with self._lock:
            if whole:  # forget infras and members gone
                alive = {c.id for c in containers if c.state.alive}
                self._proofs = {k: v for k, v in self._proofs.items() if k in alive}
                for kept in self._proofs.values():
                    kept.members = {k: v for k, v in kept.members.items() if k in alive}
            for member in members:
                infra = infras[member.unit_key]
                label = member.labels.get(L.INFRA_RUN)
                if label and label == run_label(runs.get(infra.id, ())):
                    continue  # created in the infra's current run: started after it
                proof = self._proofs.get(infra.id)
                if (
                    proof is not None
                    and proof.run == runs.get(infra.id)
                    and member.id in proof.members
                ):
                    started[infra.id] = proof.infra_started
                    started[member.id] = proof.members[member.id]
                else:
                    unproven.append(member)
        return started, unproven

    def _prove(
        self,
        members: list[ObservedContainer],
        infras: Mapping[UnitKey | None, ObservedContainer],
        found: Mapping[str, tuple[float | None, tuple[str, ...]]],
    ) -> None:
        """Remember the members inspected to have started after their infra's current run
        began. The infra's run is read from its own inspect, with its start time, so the
        two belong together even if it restarted after the list call."""
        with self._lock:
            for member in members:
                infra = infras[member.unit_key]
                infra_started, run = found[infra.id]
                member_started, _ = found[member.id]
                if infra_started is None or member_started is None or not run:
                    continue
                if member_started < infra_started:
                    continue  # stale namespaces: the plan rejoins it
                proof = self._proofs.get(infra.id)
                if proof is None or proof.run != run:
                    proof = self._proofs[infra.id] = _Proof(run, infra_started, {})
                proof.members[member.id] = member_started

    def _started_at(self, container: ObservedContainer) -> tuple[float | None, tuple[str, ...]]:
        """When the container's current run began, and that run's endpoints."""
        try:
            with calling(f"inspecting {container.name}"):
                info = self._engine.calls.inspect_container(container.id)
        except NotFound:
            return None, ()
        started = timestamp(info.get("State", {}).get("StartedAt"))
        return started, run_key(info.get("NetworkSettings"))


__all__ = ["StartTimes", "run_key", "run_label"]
