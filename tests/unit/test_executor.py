"""The executor (reconciler/converge/executor.py) with the simulator as its driver.

Concurrency is shown with barriers (they can only be passed when the calls
really overlap) and by counting the calls in flight, never by timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from reconciler.converge.executor import Outcome, execute
from reconciler.core.actions import CreateInfra, CreateMember
from reconciler.core.errors import ObserveAgain
from reconciler.core.naming import name_of
from reconciler.core.observed import ContainerId, State
from reconciler.core.planner import Plan, UnitPlan, plan
from reconciler.core.spec import Desired, DesiredInfra, DesiredMember, UnitKey
from reconciler.drivers.docker.spec import member_body

from .planning import by_container, config, converge, desired, exited, sandbox, set_state
from .simulator import Engine, divergence


class Overlapping(Engine):
    """The simulator, counting how many creates and removes are in flight at once."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        super().__init__()
        self.barrier = barrier
        self.in_flight = 0
        self.most = 0
        self._count = threading.Lock()

    @contextmanager
    def _flight(self) -> Iterator[None]:
        with self._count:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait(timeout=30)  # passes only if the calls overlap
            yield
        finally:
            with self._count:
                self.in_flight -= 1

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        with self._flight():
            return super().create_infra(infra)

    def remove(self, container_id: str, grace_period: int) -> None:
        with self._flight():
            super().remove(container_id, grace_period)


def _three() -> str:
    return sandbox(name="web") + "---" + sandbox(name="api") + "---" + sandbox(name="db")


def test_a_unit_runs_in_plan_order_infra_init_then_workloads() -> None:
    want = desired(sandbox(init=True))
    engine = Engine()
    p = plan(want, engine.observe(), config())
    result = execute(p, engine)
    assert result.ok and result.units[0].changed
    assert engine.calls == [
        ("create", "test_default_web_infra"),
        ("start", "test_default_web_infra"),
        ("create", "test_default_web.setup"),
        ("start", "test_default_web.setup"),
        ("wait", "test_default_web.setup"),
        ("create", "test_default_web.app"),
        ("start", "test_default_web.app"),
        ("create", "test_default_web.sidecar"),
        ("start", "test_default_web.sidecar"),
    ]
    assert [type(o.action).__name__ for o in result.units[0].outcomes] == [
        "CreateInfra",
        "RunInit",
        "CreateMember",
        "CreateMember",
    ]
    assert divergence(want, engine) == []


def test_units_run_in_parallel_up_to_the_limit() -> None:
    want = desired(_three())
    engine = Overlapping(threading.Barrier(3))
    assert execute(plan(want, engine.observe(), config()), engine, parallel=3).ok
    assert engine.most == 3
    serial = Overlapping()
    assert execute(plan(want, serial.observe(), config()), serial, parallel=1).ok
    assert serial.most == 1
    assert divergence(want, serial) == []


def test_the_members_of_one_unit_are_stopped_at_once() -> None:
    want = desired(sandbox())
    engine = Overlapping()
    converge(want, engine)
    removal = plan(Desired(), engine.observe(), config(prune=True, allow_empty=True))
    (unit,) = removal.units
    assert [len(s) for s in unit.steps] == [2, 1, 1], "members together, then infra, volumes"
    engine.barrier = threading.Barrier(2)  # app and sidecar must meet here
    members = execute(Plan((replace(unit, actions=unit.steps[0]),)), engine)
    assert members.ok and engine.most == 2
    engine.barrier = None
    assert execute(Plan((replace(unit, actions=unit.actions[2:]),)), engine).ok
    assert engine.containers == {}
    assert engine.calls[-2:] == [
        ("remove", "test_default_web_infra"),
        ("remove-volumes", "sandbox/web"),
    ]


def test_a_failed_step_ends_its_unit_and_no_other() -> None:
    want = desired(sandbox(name="web") + "---" + sandbox(name="api"))
    engine = Engine()
    engine.faults.fail_once.add("test_default_web.app")
    seen: list[tuple[UnitKey, Outcome]] = []
    lock = threading.Lock()

    def record(key: UnitKey, outcome: Outcome) -> None:
        with lock:
            seen.append((key, outcome))

    p = plan(want, engine.observe(), config())
    result = execute(p, engine, on_outcome=record)
    assert not result.ok
    (failed,) = result.failed
    assert failed.key.name == "web"
    assert "injected failure" in (failed.error or "")
    assert failed.skipped == 1, "the sidecar after it is not created"
    assert [type(o.action).__name__ for o in failed.outcomes] == ["CreateInfra", "CreateMember"]
    assert not failed.outcomes[-1].ok and failed.outcomes[0].ok
    api = next(u for u in result.units if u.key.name == "api")
    assert api.ok and len(api.outcomes) == 3
    assert len(seen) == 5, "every action run is reported as it ends"
    assert ("create", "test_default_web.sidecar") not in engine.calls


def test_a_failing_init_container_fails_the_unit_before_its_workloads() -> None:
    want = desired(sandbox(init=True))
    engine = Engine()
    engine.faults.init_exit["test_default_web.setup"] = 3
    result = execute(plan(want, engine.observe(), config()), engine)
    (failed,) = result.failed
    assert failed.error == "init container setup exited with code 3"
    assert failed.skipped == 2
    assert not any(name.endswith((".app", ".sidecar")) for _, name in engine.calls)


def test_waiting_for_a_running_init_container_checks_its_exit_code() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    setup = by_container(engine, "setup")
    engine.set_state(setup.id, State.RUNNING)
    engine.faults.init_exit[setup.name] = 1
    for name in ("app", "sidecar"):
        del engine.containers[by_container(engine, name).id]
    result = execute(plan(want, engine.observe(), config()), engine)
    (failed,) = result.failed
    assert failed.error == "init container setup exited with code 1"
    assert [type(o.action).__name__ for o in failed.outcomes] == ["WaitInit"]


def test_a_refused_unit_is_reported_without_running_anything() -> None:
    want = desired(sandbox())
    refused = Plan((UnitPlan(want.units[0].key, error="a name clash"),))
    engine = Engine()
    result = execute(refused, engine)
    assert result.units[0].error == "a name clash" and not result.units[0].changed
    assert engine.calls == []


def test_a_recreated_init_container_is_run_and_waited_for() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    set_state(engine, "setup", **exited(1))
    engine.calls.clear()
    p = plan(want, engine.observe(), config())
    assert execute(p, engine).ok
    assert engine.calls == [
        ("remove", "test_default_web.setup"),
        ("create", "test_default_web.setup"),
        ("start", "test_default_web.setup"),
        ("wait", "test_default_web.setup"),
    ]


def test_removing_what_is_already_gone_succeeds() -> None:
    want = desired(sandbox())
    engine = converge(want)
    p = plan(
        Plan.__new__(Plan) and type(want)(), engine.observe(), config(prune=True, allow_empty=True)
    )
    engine.containers.clear()
    result = execute(p, engine)
    assert result.ok and len(result.units[0].outcomes) == 4


@pytest.mark.parametrize("parallel", [0, 1, 8])
def test_any_pool_size_runs_every_unit(parallel: int) -> None:
    want = desired(_three())
    engine = Engine()
    assert execute(plan(want, engine.observe(), config()), engine, parallel=parallel).ok
    assert divergence(want, engine) == []


class Translating(Engine):
    """The simulator, building each member's Docker create body first, as the Docker
    driver does: docker_spec raises what it cannot express."""

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        member_body(member, infra_id)
        return super().create_member(member, infra_id)


def test_a_spec_the_driver_cannot_express_fails_its_unit_and_no_other() -> None:
    want = desired(sandbox(name="web") + "---" + sandbox(name="api"))
    engine = Translating()
    planned = plan(want, engine.observe(), config())
    web = next(u for u in planned.units if u.key.name == "web")
    # Its members, with no infra known to join: what a stale or broken plan would ask.
    members = tuple(a for a in web.actions if isinstance(a, CreateMember))
    broken = Plan(tuple(UnitPlan(web.key, members) if u is web else u for u in planned.units))
    result = execute(broken, engine, parallel=2)
    (failed,) = result.failed
    assert failed.key == web.key
    assert failed.error == "app joins an infra but none is known"
    assert [o.ok for o in failed.outcomes] == [False]
    assert failed.skipped == len(members) - 1
    assert not any(name.startswith("test_default_web") for _, name in engine.calls)
    api = next(u for u in result.units if u.key.name == "api")
    assert api.ok and api.changed


class Racing(Engine):
    """Another process makes every infra a moment before this one does."""

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        raise ObserveAgain(f"creating {name_of(infra.labels)}: made meanwhile by another process")


def test_a_unit_changed_under_the_plan_is_marked_to_be_observed_again() -> None:
    want = desired(sandbox())
    engine = Racing()
    (unit,) = execute(plan(want, engine.observe(), config()), engine).units
    assert not unit.ok and unit.observe_again
    assert unit.outcomes[0].observe_again and "made meanwhile" in (unit.error or "")
    assert unit.skipped == 2


class LastFirst(Engine):
    """The first unit's infra is made only once the last unit's is."""

    def __init__(self, first: str, last: str) -> None:
        super().__init__()
        self.first, self.last = first, last
        self.last_made = threading.Event()

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        if name_of(infra.labels) == self.first:
            assert self.last_made.wait(timeout=30), "the units did not run at once"
        made = super().create_infra(infra)
        if name_of(infra.labels) == self.last:
            self.last_made.set()
        return made


def test_results_come_in_plan_order_whatever_order_the_units_end_in() -> None:
    want = desired(_three())
    planned = plan(want, Engine().observe(), config())
    infras = [
        name_of(a.infra.labels)
        for u in planned.units
        for a in u.actions
        if isinstance(a, CreateInfra)
    ]
    engine = LastFirst(infras[0], infras[-1])
    ended: list[UnitKey] = []
    lock = threading.Lock()

    def record(key: UnitKey, outcome: Outcome) -> None:
        with lock:
            ended.append(key)

    result = execute(planned, engine, parallel=3, on_outcome=record)
    assert result.ok
    assert [u.key for u in result.units] == [u.key for u in planned.units]
    assert ended.index(planned.units[-1].key) < ended.index(planned.units[0].key)
