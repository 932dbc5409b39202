"""The rows of DESIGN.md's decision table that test_planner.py leaves out, one test each.

Each test builds a converged sandbox in the simulator, puts it in the row's
state, and checks the plan's actions; where it matters, it applies the plan
through the executor and checks that the simulated engine converged.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from reconciler.core import labels as L
from reconciler.core.actions import CreateInfra, Recreate, Remove, Start
from reconciler.core.models import Kind, Mode
from reconciler.core.naming import name_of
from reconciler.core.observed import ContainerId, Observation, State
from reconciler.core.planner import Plan, WarningKind, plan
from reconciler.core.spec import Desired, UnitKey

from .planning import (
    by_container,
    config,
    converge,
    desired,
    kinds,
    labels_of,
    sandbox,
    set_state,
)
from .simulator import Engine, divergence

WEB = UnitKey(Kind.SANDBOX, "default", "web")


def _copy(engine: Engine, name: str, **changes: object) -> ContainerId:
    """A second copy of a container (as a crash between create and record leaves)."""
    copy = engine.duplicate(by_container(engine, name).id)
    engine.containers[copy] = replace(engine.containers[copy], **changes)  # type: ignore[arg-type]
    return copy


def test_a_running_infra_is_preferred_over_a_newer_exited_duplicate() -> None:
    want = desired(sandbox())
    engine = converge(want)
    running = by_container(engine, "infra")
    newer = _copy(engine, "infra", state=State.EXITED, exit_code=137, created=running.created + 50)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Remove"]
    assert isinstance(p.actions[0], Remove) and p.actions[0].ref.id == newer
    assert "duplicate" in p.actions[0].reason
    assert p.units[0].infra_id == running.id


def test_of_duplicate_infras_only_one_whose_hash_matches_is_kept() -> None:
    want = desired(sandbox())
    engine = converge(want)
    current = by_container(engine, "infra")
    stale = _copy(
        engine,
        "infra",
        labels={**current.labels, L.SPEC_HASH: "1:old"},
        created=current.created + 50,
    )
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Remove"]
    assert p.actions[0].ref.id == stale and "spec changed" in p.actions[0].reason  # type: ignore[union-attr]
    assert p.units[0].infra_id == current.id


@pytest.mark.parametrize("state", [State.UNKNOWN])
def test_a_dead_or_removing_infra_is_replaced_with_every_member(state: State) -> None:
    want = desired(sandbox())
    engine = converge(want)
    old = by_container(engine, "infra")
    engine.set_state(old.id, state)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Remove", "Remove", "Remove", "CreateInfra", "CreateMember", "CreateMember"]
    assert [labels_of(a) for a in p.actions[:3]] == ["app", "sidecar", "infra"]
    assert f"the infra is {state}" in p.actions[2].reason
    assert isinstance(p.actions[3], CreateInfra) and p.units[0].infra_id is None
    assert engine.apply(p).ok
    assert divergence(want, engine) == []


def test_a_created_infra_is_started_and_its_members_rejoin() -> None:
    want = desired(sandbox())
    engine = converge(want)
    engine.set_state(by_container(engine, "infra").id, State.CREATED)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Start", "Restart", "Restart"]
    assert isinstance(p.actions[0], Start) and p.actions[0].is_infra
    assert engine.apply(p).ok
    assert divergence(want, engine) == []


def test_a_paused_infra_counts_as_running() -> None:
    want = desired(sandbox())
    engine = converge(want)
    engine.set_state(by_container(engine, "infra").id, State.PAUSED)
    assert plan(want, engine.observe(), config()).actions == []


def test_an_infra_whose_hash_version_is_unknown_is_kept_with_a_warning() -> None:
    want = desired(sandbox())
    engine = converge(want)
    infra = by_container(engine, "infra")
    engine.containers[infra.id] = replace(
        infra, labels={**infra.labels, L.SPEC_HASH: "9:from-a-newer-reconciler"}
    )
    p = plan(want, engine.observe(), config())
    assert p.actions == []
    assert p.units[0].infra_id == infra.id
    assert any("infra" in w.message and w.kind is WarningKind.UNKNOWN_HASH for w in p.warnings)


@pytest.mark.parametrize("state", [State.UNKNOWN])
def test_a_dead_or_removing_member_is_recreated(state: State) -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = by_container(engine, "app")
    engine.set_state(app.id, state)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Recreate"]
    assert isinstance(p.actions[0], Recreate) and p.actions[0].old.id == app.id
    assert f"it is {state}" in p.actions[0].reason
    assert engine.apply(p).ok
    assert divergence(want, engine) == []


def test_a_member_joined_to_the_current_infra_is_kept_over_a_newer_copy() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = by_container(engine, "app")
    other = _copy(
        engine, "app", labels={**app.labels, L.INFRA_ID: "e" * 64}, created=app.created + 50
    )
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Remove"] and p.actions[0].ref.id == other  # type: ignore[union-attr]


def test_init_containers_run_again_when_the_infra_restarts() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    setup = by_container(engine, "setup")
    engine.kill(by_container(engine, "infra").id)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Start", "Recreate", "Restart", "Restart"]
    assert isinstance(p.actions[1], Recreate) and p.actions[1].old.id == setup.id
    assert "init containers run again" in p.actions[1].reason
    assert engine.apply(p).ok
    assert divergence(want, engine) == []


def test_a_created_but_never_started_init_container_is_run_again() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    engine.set_state(by_container(engine, "setup").id, State.CREATED)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Recreate"] and "never started" in p.actions[0].reason


def test_a_failed_init_container_held_in_backoff_keeps_the_workloads_waiting() -> None:
    """Rule 1: workloads are created only after every init container succeeded."""
    want = desired(sandbox(init=True))
    engine = Engine()
    engine.faults.init_exit["test_default_web.setup"] = 1
    first = engine.apply(plan(want, engine.observe(), config()))
    assert not first.ok and "init container setup exited with code 1" in str(first.failed[0].error)
    assert first.failed[0].skipped == 2, "the workloads are not created"
    setup = by_container(engine, "setup")
    p = plan(want, engine.observe(), config(held={setup.id: "back-off 10s"}))
    assert p.actions == []
    assert [(ref.id, why) for ref, why in p.units[0].waiting] == [(setup.id, "back-off 10s")]


def test_a_runtime_the_daemon_does_not_offer_refuses_the_unit_before_anything_is_created() -> None:
    vm = """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: vm}
        spec: {image: busybox:1, runtime: kata}
        """
    for offered in (frozenset({"runc"}), frozenset({"runc", "runsc"})):
        observed = Engine(runtimes=offered).observe()
        p = plan(desired(vm, offered=observed.runtimes), observed, config())
        assert p.actions == []
        (unit,) = p.units
        assert unit.error and "runtime 'kata' is not offered" in unit.error
        assert "Kata Containers is not installed" in unit.error
    observed = Engine(runtimes=frozenset({"runc", "kata"})).observe()
    offered_p = plan(desired(vm, offered=observed.runtimes), observed, config())
    assert offered_p.units[0].error is None and kinds(offered_p) == ["CreateMember"]
    observed = Engine(runtimes=None).observe()
    unread = plan(desired(vm, offered=observed.runtimes), observed, config())
    assert kinds(unread) == ["CreateMember"], "runtimes not read: only runc was asked for"


def test_a_refused_runtime_leaves_the_running_unit_as_it_is() -> None:
    runc = desired(sandbox())
    engine = converge(runc)
    engine.offered = frozenset({"runc"})
    runsc = desired(
        sandbox(share="[network]").replace(
            "restartPolicy: Always", "restartPolicy: Always\n          runtime: runsc"
        ),
        offered=engine.observe().runtimes,
    )
    p = plan(runsc, engine.observe(), config(prune=True))
    assert p.actions == [] and p.units[0].error and "'runsc'" in p.units[0].error


def test_the_simulator_refuses_what_docker_refuses() -> None:
    """The engine the planner is tested against is no kinder than Docker."""
    want = desired(sandbox(share="[network, ipc, pid]"))
    engine = converge(want)
    infra, app = by_container(engine, "infra"), by_container(engine, "app")
    # Killing a PID-sharing infra kills its members.
    engine.kill(infra.id)
    assert by_container(engine, "app").state is State.EXITED
    # A member cannot start while the infra it joined is not running.
    with pytest.raises(Exception, match="non running container"):
        engine.start(app.id)
    # Nor can it be created once that infra is gone.
    engine.remove(infra.id, 0)
    member = want.units[0].workloads[0]
    engine.remove(app.id, 0)
    with pytest.raises(Exception, match="no such container"):
        engine.create_member(member, infra.id)
    # Names are unique, whoever holds them.
    infra_spec = want.units[0].infra
    assert infra_spec is not None
    engine.unmanaged.add(name_of(infra_spec.labels))
    with pytest.raises(Exception, match="already in use"):
        engine.create_infra(infra_spec)
    assert name_of(infra_spec.labels) in {t.name for t in engine.observe(want.units).taken}
    # A dead container cannot be started.
    sidecar = by_container(engine, "sidecar")
    engine.set_state(sidecar.id, State.UNKNOWN)
    with pytest.raises(Exception, match="marked for removal"):
        engine.start(sidecar.id)
    # A runtime the daemon lacks cannot be used.
    engine.unmanaged.clear()
    engine.offered = frozenset({"runsc"})
    with pytest.raises(Exception, match="unknown or invalid runtime"):
        engine.create_infra(infra_spec)


def test_exited_member_with_a_stopped_infra_waits_for_the_infra_in_the_same_plan() -> None:
    want = desired(sandbox(restart="OnFailure"))
    engine = converge(want)
    engine.kill(by_container(engine, "infra").id)
    engine.kill(by_container(engine, "app").id, 1)
    engine.kill(by_container(engine, "sidecar").id, 0)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Start", "Start"], "the infra first; sidecar exited 0 under OnFailure"
    assert engine.apply(p).ok
    assert divergence(want, engine) == []
    assert by_container(engine, "sidecar").state is State.EXITED


def test_removal_kills_the_infra_at_once_and_gives_members_their_grace_period() -> None:
    """Rule 1: members get SIGTERM and the grace period; the infra runs nothing worth one."""
    want = desired(
        sandbox().replace(
            "restartPolicy: Always",
            "restartPolicy: Always\n          terminationGracePeriodSeconds: 7",
        )
    )
    engine = converge(want)
    removal = plan(Desired(), engine.observe(), config(prune=True, allow_empty=True))
    graces = {labels_of(a): a.grace_period for a in removal.actions if isinstance(a, Remove)}
    assert graces == {"app": 7, "sidecar": 7, "infra": 0}
    replaced = plan(desired(sandbox(ports="[{containerPort: 80}]")), engine.observe(), config())
    graces = {labels_of(a): a.grace_period for a in replaced.actions if isinstance(a, Remove)}
    assert graces == {"app": 30, "sidecar": 30, "infra": 0}


def test_plans_are_immutable_values() -> None:
    want = desired(sandbox())
    cfg = config()
    p = plan(want, Observation(), cfg)
    for value, attr in ((cfg, "prune"), (p, "warnings"), (p.units[0], "error")):
        with pytest.raises(FrozenInstanceError):
            setattr(value, attr, None)


def test_a_refused_unit_names_no_infra() -> None:
    engine = Engine()
    engine.unmanaged.add("test_default_web_infra")
    want = desired(sandbox())
    (unit,) = plan(want, engine.observe(want.units), config()).units
    assert unit.error and unit.infra_id is None and unit.actions == ()


# -- what mutation testing found untested (docs/testing.md) ---------------------------


def test_a_plan_says_whether_it_changes_anything() -> None:
    assert Plan().has_changes is False and Plan().actions == [] and Plan().errors == []
    want = desired(sandbox())
    assert plan(want, Observation(), config()).has_changes is True
    assert plan(want, converge(want).observe(), config()).has_changes is False


def test_what_the_planner_skips_never_hides_the_containers_listed_after_it() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = by_container(engine, "app")
    stranger = engine.other_instance(app.id)
    unlabeled = replace(
        engine.containers[stranger], id=ContainerId("9" * 64), labels={L.MANAGED_BY: "test"}
    )
    engine.kill(app.id, 1)
    ours = [c for c in engine.containers.values() if c.id != stranger]
    first = Observation((engine.containers[stranger], unlabeled, *ours))
    p = plan(want, first, config())
    assert kinds(p) == ["Start"] and p.actions[0].ref.id == app.id  # type: ignore[union-attr]
    assert len(p.warnings) == 1 and "lacks the unit labels" in p.warnings[0].message
    assert "(999999999999)" in p.warnings[0].message, "the short id: 12 characters"


def test_skipping_a_unit_never_skips_the_units_after_it() -> None:
    from reconciler.core.ownership import watching

    both = desired(sandbox(name="api") + "---" + sandbox(name="web"))
    api = UnitKey(Kind.SANDBOX, "default", "api")
    only_web = plan(both, Observation(), config(only=frozenset({WEB})))
    assert [u.key for u in only_web.units] == [WEB] and only_web.units[0].actions
    # A unit another source owns is left alone; the next one is still planned.
    engine = converge(desired(sandbox(name="api")))
    p = plan(both, engine.observe(), config(owner=watching("/elsewhere")))
    assert [(u.key, bool(u.error), bool(u.actions)) for u in p.units] == [
        (api, True, False),
        (WEB, False, True),
    ]


def test_only_reports_the_refusals_of_the_units_it_names() -> None:
    refused = desired(sandbox(), Mode.STANDALONE)  # two containers cannot run standalone
    assert refused.refused
    assert [u.key for u in plan(refused, Observation(), config(only=frozenset({WEB}))).units] == [
        WEB
    ]
    other = UnitKey(Kind.SANDBOX, "default", "api")
    assert plan(refused, Observation(), config(only=frozenset({other}))).units == ()


def test_a_deletion_says_so() -> None:
    engine = converge(desired(sandbox()))
    p = plan(Desired(), engine.observe(), config(delete=frozenset({WEB})))
    assert {a.reason for a in p.actions} == {"deleted"}
    gone = plan(Desired(), engine.observe(), config(prune=True, allow_empty=True))
    assert {a.reason for a in gone.actions} == {"sandbox/web is no longer defined"}


def test_each_init_container_is_planned_on_its_own() -> None:
    two = sandbox(init=True).replace(
        "command: [sh, -c, 'true']}",
        "command: [sh, -c, 'true']}\n            - {name: migrate, image: busybox:1}",
    )
    want = desired(two)
    engine = converge(want)
    assert [m.name for m in want.units[0].init] == ["setup", "migrate"]
    assert plan(want, engine.observe(), config()).actions == []
    set_state(engine, "migrate", state=State.EXITED, exit_code=1)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Recreate"] and labels_of(p.actions[0]) == "migrate"


def _with_volume(text: str) -> str:
    return text.replace(
        "- {name: app, image: busybox:1}",
        "- {name: app, image: busybox:1, volumeMounts: [{name: data, mountPath: /d}]}",
    ).replace(
        "          containers:",
        "          volumes: [{name: data, emptyDir: {}}]\n          containers:",
    )


def test_volumes_are_ensured_whenever_any_member_is_created() -> None:
    want = desired(_with_volume(sandbox(init=True)))
    engine = converge(want)
    set_state(engine, "setup", state=State.EXITED, exit_code=1)  # the init container reruns
    assert kinds(plan(want, engine.observe(), config())) == ["EnsureVolume", "Recreate"]
    engine = converge(want)
    changed = desired(_with_volume(sandbox(init=True, image="busybox:2")))  # app, not sidecar
    assert kinds(plan(changed, engine.observe(), config())) == ["EnsureVolume", "Recreate"]


def test_reasons_name_the_container_and_short_ids() -> None:
    want = desired(sandbox())
    engine = converge(want)
    infra = by_container(engine, "infra")
    set_state(engine, "app", labels={**by_container(engine, "app").labels, L.INFRA_ID: "d" * 64})
    (action,) = plan(want, engine.observe(), config()).actions
    assert action.reason == (
        f"it joined infra {'d' * 12}, not the current {infra.id[:12]}: "
        "that namespace mode can never start again"
    )
    set_state(engine, "app", labels={**by_container(engine, "app").labels, L.INFRA_ID: ""})
    (action,) = plan(want, engine.observe(), config()).actions
    assert action.reason.startswith("it joined infra (none), not the current")
    one = desired(sandbox().replace("            - {name: sidecar, image: busybox:1}\n", ""))
    (dropped,) = plan(one, converge(want).observe(), config()).actions
    assert dropped.reason == "sidecar is no longer in the manifest"


def test_a_plan_made_by_hand_has_no_warnings() -> None:
    assert Plan().warnings == () and Plan().units == ()


def test_volumes_are_ensured_when_the_first_of_two_init_containers_reruns() -> None:
    two = _with_volume(sandbox(init=True)).replace(
        "command: [sh, -c, 'true']}",
        "command: [sh, -c, 'true']}\n            - {name: migrate, image: busybox:1}",
    )
    want = desired(two)
    engine = converge(want)
    set_state(engine, "setup", state=State.EXITED, exit_code=1)
    assert kinds(plan(want, engine.observe(), config())) == ["EnsureVolume", "Recreate"]


def test_a_replaced_infra_sees_workloads_leave_before_init_containers() -> None:
    """Rule 1, in reverse: workloads, then init containers, then the infra."""
    want = desired(sandbox(init=True))
    engine = converge(want)
    changed = desired(sandbox(init=True, ports="[{containerPort: 80}]"))
    removed = [
        labels_of(a)
        for a in plan(changed, engine.observe(), config()).actions
        if isinstance(a, Remove)
    ]
    assert removed == ["app", "sidecar", "setup", "infra"]


def test_of_two_copies_joined_to_the_infra_the_current_spec_is_kept() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = by_container(engine, "app")
    stale = _copy(
        engine, "app", labels={**app.labels, L.SPEC_HASH: "1:old"}, created=app.created + 50
    )
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Remove"] and p.actions[0].ref.id == stale  # type: ignore[union-attr]


def test_a_member_started_with_its_infra_is_not_rejoined() -> None:
    """Stale means started *before* the infra's current run."""
    want = desired(sandbox())
    engine = converge(want)
    infra = by_container(engine, "infra")
    set_state(engine, "app", started_at=infra.started_at)
    assert plan(want, engine.observe(), config()).actions == []
    set_state(engine, "app", started_at=(infra.started_at or 0) - 1)
    assert kinds(plan(want, engine.observe(), config())) == ["Restart"]


def _pod_with_sidecar(log_image: str = "busybox:1", volume: bool = False) -> str:
    mount = ", volumeMounts: [{name: data, mountPath: /d}]" if volume else ""
    volumes = "\n          volumes: [{name: data, emptyDir: {}}]" if volume else ""
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web}}
        spec:{volumes}
          initContainers:
            - {{name: setup, image: busybox:1}}
            - {{name: log, image: {log_image}, restartPolicy: Always{mount}}}
          containers:
            - {{name: app, image: busybox:1}}
        """


def test_a_replaced_infra_sees_workloads_then_sidecars_then_init_containers_leave() -> None:
    engine = converge(desired(_pod_with_sidecar()))
    changed = desired(_pod_with_sidecar().replace("spec:", "spec:\n          hostname: other", 1))
    p = plan(changed, engine.observe(), config())
    removed = [labels_of(a) for a in p.actions if isinstance(a, Remove)]
    assert removed == ["app", "log", "setup", "infra"]


def test_volumes_are_ensured_when_only_a_sidecar_is_created() -> None:
    engine = converge(desired(_pod_with_sidecar(volume=True)))
    changed = desired(_pod_with_sidecar(log_image="busybox:2", volume=True))
    assert kinds(plan(changed, engine.observe(), config())) == ["EnsureVolume", "Recreate"]


def test_volumes_are_ensured_when_an_init_container_before_a_running_sidecar_reruns() -> None:
    want = desired(_pod_with_sidecar(volume=True))
    engine = converge(want)
    set_state(engine, "setup", state=State.EXITED, exit_code=1)
    assert kinds(plan(want, engine.observe(), config())) == ["EnsureVolume", "Recreate"]
