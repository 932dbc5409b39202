"""The health gate's decision (reconciler/loop/health.py): a unit's health from its record."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.spec import DesiredUnit
from reconciler.loop.health import changed, unit_health, units_of
from reconciler.loop.statusrecord import ContainerRecord, UnitRecord

from .planning import desired, sandbox

EXEC = "{exec: {command: [check]}, periodSeconds: 1}"


def unit(**options: str | bool) -> DesiredUnit:
    (one,) = desired(sandbox(**options)).units  # type: ignore[arg-type]
    return one


def running(u: DesiredUnit, **changes: ContainerRecord) -> UnitRecord:
    """The record of ``u`` with every container running its desired spec; ``changes`` by name."""
    assert u.infra is not None
    containers = {"infra": ContainerRecord("i0", "running", spec_hash=u.infra.hash)}
    for n, m in enumerate(u.members):
        state, code = ("exited", 0) if m.spec.role == "init" else ("running", None)
        containers[m.name] = ContainerRecord(f"c{n}", state, code, spec_hash=m.hash)
    return UnitRecord("Sandbox", "default", u.key.name, "Running", containers | changes)


def member(record: UnitRecord, name: str, **fields: object) -> ContainerRecord:
    return replace(record.containers[name], **fields)  # type: ignore[arg-type]


def test_a_unit_running_its_desired_spec_is_ready() -> None:
    web = unit()
    assert unit_health(web, running(web)).ready


def test_before_its_first_pass_a_unit_waits() -> None:
    health = unit_health(unit(), None)
    assert (health.state, health.reason) == ("waiting", "not reconciled yet")


def test_a_record_of_the_previous_spec_waits_for_the_new_containers() -> None:
    """The old containers, running and ready, are what the last pass before the revision
    saw: they do not make the new revision healthy."""
    old, new = unit(image="busybox:1"), unit(image="busybox:2")
    health = unit_health(new, running(old))
    assert (health.state, health.reason) == ("waiting", "app: still at the previous spec")
    assert unit_health(new, running(new)).ready


def test_a_member_not_there_yet_or_not_started_waits() -> None:
    web = unit()
    record = running(web)
    gone = replace(record, containers={k: v for k, v in record.containers.items() if k != "app"})
    assert unit_health(web, gone).reason == "app: not created yet"
    created = replace(
        record, containers={**record.containers, "app": member(record, "app", state="created")}
    )
    assert unit_health(web, created).reason == "app: created, not started"


def test_a_crash_loop_is_broken_with_its_exit_code() -> None:
    web = unit()
    record = running(web)
    looping = member(record, "app", state="exited", exit_code=1, waiting="CrashLoopBackOff: ...")
    health = unit_health(web, replace(record, containers={**record.containers, "app": looping}))
    assert (health.state, health.reason) == ("broken", "app: CrashLoopBackOff (exited 1)")


def test_an_exit_about_to_be_restarted_waits() -> None:
    web = unit()
    record = running(web)
    exited = member(record, "app", state="exited", exit_code=1)
    health = unit_health(web, replace(record, containers={**record.containers, "app": exited}))
    assert (health.state, health.reason) == ("waiting", "app: exited (exited 1)")


@pytest.mark.parametrize(
    ("policy", "code", "state"),
    [
        ("Never", 0, "ready"),
        ("OnFailure", 0, "ready"),
        ("Always", 0, "waiting"),
        ("Never", 2, "broken"),
        ("OnFailure", 2, "waiting"),
    ],
)
def test_a_completed_workload_counts_as_its_restart_policy_says(
    policy: str, code: int, state: str
) -> None:
    web = unit(restart=policy)
    record = running(web)
    done = member(record, "app", state="exited", exit_code=code)
    health = unit_health(web, replace(record, containers={**record.containers, "app": done}))
    assert health.state == state, health.reason


def test_a_failed_init_container_is_broken() -> None:
    web = unit(init=True)
    record = running(web)
    failed = member(record, "setup", exit_code=3)
    health = unit_health(web, replace(record, containers={**record.containers, "setup": failed}))
    assert (health.state, health.reason) == ("broken", "setup: init container failed (exited 3)")


def test_readiness_and_startup_probes_must_have_passed() -> None:
    web = unit(extra=f", readinessProbe: {EXEC}, startupProbe: {EXEC}")
    record = running(web)

    def with_app(**fields: object) -> UnitRecord:
        return replace(
            record, containers={**record.containers, "app": member(record, "app", **fields)}
        )

    assert unit_health(web, with_app(started=False)).reason == "app: startup probe not passed yet"
    assert unit_health(web, with_app(started=True)).reason == "app: readiness probe not passed yet"
    assert unit_health(web, with_app(started=True, ready=False)).reason == (
        "app: readiness probe failing"
    )
    assert unit_health(web, with_app(started=True, ready=True)).ready
    # Without a readiness probe, a verdict of an earlier run's probe does not count.
    assert unit_health(unit(), with_app(ready=False)).ready


def test_a_stopped_infra_waits_and_a_refused_unit_is_broken() -> None:
    web = unit()
    record = running(web)
    stopped = member(record, "infra", state="exited", exit_code=137)
    health = unit_health(web, replace(record, containers={**record.containers, "infra": stopped}))
    assert (health.state, health.reason) == ("waiting", "infra: exited (exited 137)")
    refused = UnitRecord("Sandbox", "default", "web", "Refused", last_error="owned by apply")
    health = unit_health(web, refused)
    assert (health.state, health.reason) == ("broken", "refused: owned by apply")


def test_a_failing_pass_adds_its_error_to_what_is_waited_for() -> None:
    web = unit()
    failing = UnitRecord("Sandbox", "default", "web", "Failed", last_error="pulling busybox:1: no")
    assert (
        unit_health(web, failing).reason
        == "infra: not created yet; last error: pulling busybox:1: no"
    )


def test_another_run_of_a_ready_unit_is_another_run() -> None:
    web = unit()
    record = running(web)
    again = replace(
        record, containers={**record.containers, "app": member(record, "app", restarts=1)}
    )
    assert unit_health(web, record).run != unit_health(web, again).run


def test_changed_units_are_those_added_or_compiled_differently() -> None:
    def compiled(*texts: str) -> dict:  # type: ignore[type-arg]
        return {u.key: u for t in texts for u in desired(t).units}

    a, b = sandbox("a"), sandbox("b")
    before = compiled(a, b)
    after = compiled(a, sandbox("b", image="busybox:2"), sandbox("c"))
    assert {k.name for k in changed(after, before)} == {"b", "c"}
    assert {k.name for k in changed(after, None)} == {"a", "b", "c"}, "nothing known: all"
    assert changed(before, before) == frozenset()
    # Against two revisions: what differs from either.
    probe = compiled(sandbox("a", extra=f", readinessProbe: {EXEC}"), b)
    assert {k.name for k in changed(before, before, probe)} == {"a"}
    assert units_of(()) == {}
