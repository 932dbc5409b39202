"""Native sidecars (initContainers with restartPolicy Always) in the planner, without a daemon."""

from __future__ import annotations

from reconciler.core import labels as L
from reconciler.core.actions import CreateMember, Remove, RunInit, Start, steps
from reconciler.core.models import Kind
from reconciler.core.observed import ContainerId, Observation, State
from reconciler.core.planner import plan
from reconciler.core.spec import Desired, UnitKey

from .planning import by_container, config, converge, desired, exited, kinds, labels_of, set_state

WEB = UnitKey(Kind.SANDBOX, "default", "web")


def pod(restart: str = "Always", log_image: str = "busybox:1") -> Desired:
    return desired(
        f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web}}
        spec:
          restartPolicy: {restart}
          initContainers:
            - {{name: setup, image: busybox:1}}
            - {{name: log, image: {log_image}, restartPolicy: Always}}
            - {{name: check, image: busybox:1}}
          containers:
            - {{name: app, image: busybox:1}}
        """
    )


def test_a_sidecar_starts_in_order_with_the_init_containers() -> None:
    p = plan(pod(), Observation(), config())
    assert kinds(p) == ["CreateInfra", "RunInit", "CreateMember", "RunInit", "CreateMember"]
    assert [labels_of(a) for a in p.actions] == ["infra", "setup", "log", "check", "app"]
    # Each runs alone, in order: `check` runs once `log` is started, not exited.
    assert [len(s) for s in p.units[0].steps] == [1, 1, 1, 1, 1]
    log = p.actions[2]
    assert isinstance(log, CreateMember) and log.member.spec.role == "sidecar"


def test_a_running_sidecar_is_left_alone() -> None:
    want = pod()
    engine = converge(want)
    assert by_container(engine, "log").state is State.RUNNING
    assert by_container(engine, "log").role == L.ROLE_SIDECAR
    assert plan(want, engine.observe(), config()).actions == []


def test_an_exited_sidecar_is_restarted_whatever_the_pods_restart_policy() -> None:
    want = pod(restart="Never")
    engine = converge(want)
    log = set_state(engine, "log", **exited(0))
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Start"]
    (start,) = p.actions
    assert isinstance(start, Start) and start.restart and start.ref.id == log.id
    assert "restartPolicy is Always" in start.reason


def test_a_sidecar_in_crash_loop_backoff_waits() -> None:
    want = pod()
    engine = converge(want)
    log = set_state(engine, "log", **exited(1))
    p = plan(want, engine.observe(), config(held={log.id: "CrashLoopBackOff: back-off 10s"}))
    assert p.actions == []
    assert [(r.container, why) for r, why in p.units[0].waiting] == [
        ("log", "CrashLoopBackOff: back-off 10s")
    ]


def test_a_changed_sidecar_is_recreated_alone_without_rerunning_init() -> None:
    engine = converge(pod())
    p = plan(pod(log_image="busybox:2"), engine.observe(), config())
    assert kinds(p) == ["Recreate"]
    assert labels_of(p.actions[0]) == "log"


def test_a_restarted_infra_rejoins_the_sidecar_and_reruns_init() -> None:
    want = pod()
    engine = converge(want)
    set_state(engine, "infra", state=State.EXITED, exit_code=137)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Start", "Recreate", "Restart", "Recreate", "Restart"]
    assert [labels_of(a) for a in p.actions] == ["infra", "setup", "log", "check", "app"]


def test_sidecars_stop_after_the_workloads_and_before_init_containers() -> None:
    engine = converge(pod())
    p = plan(Desired(), engine.observe(), config(prune=True, allow_empty=True))
    removes = [a for a in p.actions if isinstance(a, Remove)]
    assert [labels_of(a) for a in removes][:2] == ["app", "log"]
    assert labels_of(removes[-1]) == "infra"
    grouped = [[labels_of(a) for a in s] for s in steps(p.units[0].actions)]
    assert grouped.index(["app"]) < grouped.index(["log"]) < grouped.index(["infra"])


def test_a_missing_sidecar_is_created_without_rerunning_the_init_containers() -> None:
    want = pod()
    engine = converge(want)
    del engine.containers[ContainerId(by_container(engine, "log").id)]
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["CreateMember"]
    assert labels_of(p.actions[0]) == "log"
    assert not any(isinstance(a, RunInit) for a in p.actions)
