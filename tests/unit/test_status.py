"""What `reconciler get` reports (reconciler/loop/status.py), from simulated containers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from reconciler.core import labels as L
from reconciler.core.observed import ContainerDetails, ObservedContainer, State
from reconciler.loop.status import merge_loop_status, phase, unit_statuses

from .planning import INSTANCE, by_container, converge, desired, exited, sandbox, set_state
from .simulator import Engine


def _web(**kwargs: object) -> Engine:
    return converge(desired(sandbox(**kwargs)))  # type: ignore[arg-type]


def _members(engine: Engine) -> list[ObservedContainer]:
    return list(engine.containers.values())


def test_a_converged_sandbox_is_running() -> None:
    assert phase(_members(_web(init=True))) == "Running"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"infra": {"state": State.EXITED, "exit_code": 137}}, "Pending"),
        ({"app": {"state": State.CREATED}}, "Pending"),
        ({"app": exited(0), "sidecar": exited(0)}, "Succeeded"),
        ({"app": exited(0), "sidecar": exited(2)}, "Failed"),
        ({"app": exited(1)}, "Running"),
        ({"app": {"state": State.PAUSED}}, "Running"),
    ],
)
def test_phase_follows_the_containers(changes: dict[str, dict[str, object]], expected: str) -> None:
    engine = _web()
    for name, change in changes.items():
        set_state(engine, name, **change)
    assert phase(_members(engine)) == expected


def test_a_failed_init_container_without_workloads_is_failed() -> None:
    engine = _web(init=True)
    set_state(engine, "setup", **exited(1))
    for name in ("app", "sidecar"):
        del engine.containers[by_container(engine, name).id]
    assert phase(_members(engine)) == "Failed"
    set_state(engine, "setup", **exited(0))
    assert phase(_members(engine)) == "Pending", "init done, workloads not yet created"


def test_unit_statuses_group_this_instances_containers_in_start_order() -> None:
    engine = converge(desired(sandbox(init=True) + "---" + sandbox(name="api")))
    stranger = engine.other_instance(by_container(engine, "setup").id)
    unlabeled = replace(engine.containers[stranger], id="u" * 64, labels={L.MANAGED_BY: INSTANCE})
    engine.containers[unlabeled.id] = unlabeled  # type: ignore[index]
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    details = {
        c.id: ContainerDetails(started_at=started, restarts=2, runtime="runsc")
        for c in engine.containers.values()
        if c.container == "sidecar"
    }
    statuses = unit_statuses(engine.observe(), INSTANCE, details)
    assert [(s.kind, s.name) for s in statuses] == [("Sandbox", "api"), ("Sandbox", "web")]
    web = statuses[1]
    assert [c.name for c in web.containers] == ["infra", "setup", "app", "sidecar"]
    assert (web.phase, web.mode, web.runtime, web.source) == (
        "Running",
        "container-in-sandbox",
        "runc",
        "test.yaml",
    )
    sidecar = web.containers[-1]
    assert (sidecar.restarts, sidecar.runtime, sidecar.started_at) == (
        2,
        "runsc",
        "2026-01-02T03:04:05Z",
    )
    app_status = web.containers[2]
    assert (app_status.restarts, app_status.runtime, app_status.started_at) == (0, "runc", None)
    assert app_status.state == "running" and len(app_status.id) == 12


def test_a_container_never_started_has_no_start_time() -> None:
    engine = _web()
    app = by_container(engine, "app")
    details = {app.id: ContainerDetails(started_at=None)}
    (web,) = unit_statuses(engine.observe(), INSTANCE, details)
    assert next(c for c in web.containers if c.name == "app").started_at is None


def test_the_loops_view_is_merged_only_into_the_same_containers() -> None:
    engine = _web()
    set_state(engine, "sidecar", **exited(1))
    app, sidecar = by_container(engine, "app"), by_container(engine, "sidecar")
    (web,) = unit_statuses(engine.observe(), INSTANCE, {})
    loop = {
        "units": {
            "sandbox/web": {
                "lastError": "creating x: boom",
                "containers": {
                    "app": {"id": app.id[:12], "restarts": 3, "ready": True},
                    "sidecar": {"id": sidecar.id[:12], "restarts": 5, "waiting": "back-off 20s"},
                    "infra": {"id": "someone-else", "restarts": 9, "ready": False},
                },
            },
            "sandbox/gone": "not a mapping",
        }
    }
    (merged,) = merge_loop_status([web], loop)
    by_name = {c.name: c for c in merged.containers}
    assert (by_name["app"].restarts, by_name["app"].ready, by_name["app"].waiting) == (
        3,
        True,
        None,
    )
    assert (by_name["sidecar"].restarts, by_name["sidecar"].waiting) == (5, "back-off 20s")
    assert (by_name["infra"].restarts, by_name["infra"].ready) == (0, None), "another id: not ours"
    assert merged.phase == "CrashLoopBackOff"
    assert merged.last_error == "creating x: boom"
    assert merged.to_dict()["containers"][1]["ready"] is True


def test_without_the_loop_nothing_is_merged() -> None:
    (web,) = unit_statuses(_web().observe(), INSTANCE, {})
    assert merge_loop_status([web], {}) == [web]
    assert merge_loop_status([web], {"units": {"sandbox/web": None}}) == [web]
