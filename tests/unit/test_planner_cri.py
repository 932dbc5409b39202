"""The planner where the engine restarts nothing in place (``PlanConfig.in_place`` False,
the cri driver's capability): a restart is a new container, a dead pod is rebuilt."""

from __future__ import annotations

from reconciler.core.actions import CreateInfra, Recreate, Remove, Restart, Start
from reconciler.core.observed import State
from reconciler.core.planner import Unhealthy, plan

from .planning import by_container, config, converge, desired, exited, kinds, sandbox, set_state

NO_IN_PLACE = {"in_place": False}


def test_an_exited_workload_is_replaced_by_a_new_container_not_started_again() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = set_state(engine, "app", **exited(137))
    (action,) = plan(want, engine.observe(), config(**NO_IN_PLACE)).actions
    assert isinstance(action, Recreate) and action.restart
    assert action.old.id == app.id and action.member.name == "app"
    assert action.reason == (
        "exited (code 137); restartPolicy is Always; the engine never restarts a container "
        "in place: a new one, its next attempt"
    )
    # Docker's engine starts the same container again.
    (docker,) = plan(want, engine.observe(), config()).actions
    assert isinstance(docker, Start) and docker.restart


def test_restart_policies_still_decide_whether_there_is_a_new_attempt() -> None:
    for policy, code, replaced in [
        ("OnFailure", 0, False),
        ("OnFailure", 1, True),
        ("Never", 1, False),
    ]:
        want = desired(sandbox(restart=policy))
        engine = converge(want)
        set_state(engine, "app", **exited(code))
        p = plan(want, engine.observe(), config(**NO_IN_PLACE))
        assert kinds(p) == (["Recreate"] if replaced else []), (policy, code)


def test_a_held_restart_waits_and_creates_nothing() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = set_state(engine, "app", **exited(1))
    p = plan(want, engine.observe(), config(held={app.id: "CrashLoopBackOff"}, **NO_IN_PLACE))
    assert p.actions == [] and p.units[0].waiting[0][1] == "CrashLoopBackOff"


def test_an_unhealthy_workload_is_replaced_not_restarted() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = by_container(engine, "app")
    (action,) = plan(
        want, engine.observe(), config(unhealthy={app.id: Unhealthy("probe")}, **NO_IN_PLACE)
    ).actions
    assert isinstance(action, Recreate) and action.restart
    assert action.reason.startswith("unhealthy: probe; the engine never restarts")
    (docker,) = plan(want, engine.observe(), config(unhealthy={app.id: Unhealthy("probe")})).actions
    assert isinstance(docker, Restart)


def test_a_dead_pod_is_rebuilt_members_first_with_no_rejoin() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    set_state(engine, "infra", state=State.EXITED)
    p = plan(want, engine.observe(), config(**NO_IN_PLACE))
    assert kinds(p) == [
        "Remove", "Remove", "Remove", "Remove", "CreateInfra", "RunInit", "CreateMember",
        "CreateMember",
    ]  # fmt: skip
    removes = [a for a in p.actions if isinstance(a, Remove)]
    assert removes[-1].ref.container == ""  # the pod goes after every container in it
    assert all("no rejoin" in a.reason for a in removes)
    assert isinstance(p.actions[4], CreateInfra)
    # Docker's engine starts the infra again and its members rejoin it.
    docker = plan(want, engine.observe(), config())
    assert "CreateInfra" not in kinds(docker)
    assert any(isinstance(a, Start) and a.is_infra for a in docker.actions)


def test_a_changed_container_is_the_only_one_replaced() -> None:
    want = desired(sandbox())
    engine = converge(want)
    edited = desired(sandbox(image="busybox:2"))
    (action,) = plan(edited, engine.observe(), config(**NO_IN_PLACE)).actions
    assert isinstance(action, Recreate) and not action.restart
    assert action.member.name == "app" and action.reason == "its spec changed"


def test_a_running_pod_is_left_alone() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    assert plan(want, engine.observe(), config(**NO_IN_PLACE)).actions == []
