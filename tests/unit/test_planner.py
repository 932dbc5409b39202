"""The planner's decision table, row by row, without a daemon."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core import labels as L
from reconciler.core.actions import (
    CreateMember,
    EnsureVolume,
    Recreate,
    Remove,
    RemoveVolumes,
    Start,
    WaitInit,
)
from reconciler.core.models import Kind, Mode
from reconciler.core.observed import ContainerId, Observation, State, Taken
from reconciler.core.planner import Unhealthy, WarningKind, plan
from reconciler.core.spec import Desired, UnitKey

from .planning import (
    by_container,
    config,
    converge,
    desired,
    exited,
    kinds,
    labels_of,
    sandbox,
    set_state,
)
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")


def test_from_nothing_infra_first_then_init_then_workloads() -> None:
    want = desired(sandbox(init=True))
    p = plan(want, Observation(), config())
    assert kinds(p) == ["CreateInfra", "RunInit", "CreateMember", "CreateMember"]
    assert [labels_of(a) for a in p.actions] == ["infra", "setup", "app", "sidecar"]
    assert all(a.reason for a in p.actions)


def test_converged_state_plans_nothing() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    assert plan(want, engine.observe(), config()).actions == []


def test_changed_workload_is_recreated_alone() -> None:
    engine = converge(desired(sandbox()))
    app = by_container(engine, "app")
    p = plan(desired(sandbox(image="busybox:2")), engine.observe(), config())
    assert kinds(p) == ["Recreate"]
    (action,) = p.actions
    assert isinstance(action, Recreate)
    assert action.old.id == app.id
    assert "spec changed" in action.reason


def test_probe_pull_policy_and_grace_changes_recreate_nothing() -> None:
    engine = converge(desired(sandbox()))
    changed = sandbox(extra=', imagePullPolicy: Never, livenessProbe: {exec: {command: ["true"]}}')
    changed = changed.replace(
        "restartPolicy: Always", "restartPolicy: Always\n          terminationGracePeriodSeconds: 3"
    )
    assert plan(desired(changed), engine.observe(), config()).actions == []


def test_sandbox_level_change_replaces_infra_and_every_member_in_order() -> None:
    engine = converge(desired(sandbox()))
    changed = desired(sandbox(ports="[{containerPort: 80, hostPort: 8080}]"))
    p = plan(changed, engine.observe(), config())
    assert kinds(p) == ["Remove", "Remove", "Remove", "CreateInfra", "CreateMember", "CreateMember"]
    removed = [labels_of(a) for a in p.actions if isinstance(a, Remove)]
    assert removed[-1] == "infra", "members leave before the infra they joined"
    assert p.units[0].infra_id is None


def test_missing_infra_recreates_members_joined_to_it() -> None:
    engine = converge(desired(sandbox()))
    del engine.containers[by_container(engine, "infra").id]
    p = plan(desired(sandbox()), engine.observe(), config())
    assert kinds(p) == ["Remove", "Remove", "CreateInfra", "CreateMember", "CreateMember"]
    assert "never start again" in p.actions[0].reason


def test_exited_infra_is_started_and_running_members_rejoin() -> None:
    engine = converge(desired(sandbox()))
    infra = set_state(engine, "infra", state=State.EXITED, exit_code=137)
    set_state(engine, "sidecar", **exited(1))
    p = plan(desired(sandbox()), engine.observe(), config())
    assert kinds(p) == ["Start", "Restart", "Start"]
    start = p.actions[0]
    assert isinstance(start, Start) and start.is_infra and start.ref.id == infra.id
    assert labels_of(p.actions[1]) == "app" and "rejoin" in p.actions[1].reason
    assert labels_of(p.actions[2]) == "sidecar"


def test_infra_restarted_in_place_rejoins_members_without_recreating() -> None:
    engine = converge(desired(sandbox()))
    infra = by_container(engine, "infra")
    engine.restart_behind(infra.id)  # a newer start time, same id
    p = plan(desired(sandbox()), engine.observe(), config())
    assert kinds(p) == ["Restart", "Restart"]
    assert {labels_of(a) for a in p.actions} == {"app", "sidecar"}
    assert p.units[0].infra_id == infra.id


def test_unknown_start_times_do_not_rejoin() -> None:
    engine = converge(desired(sandbox()))
    for c in list(engine.containers.values()):
        engine.containers[c.id] = replace(c, started_at=None)
    assert plan(desired(sandbox()), engine.observe(), config()).actions == []


def test_duplicate_infra_keeps_newest_running_and_recreates_members_of_the_other() -> None:
    engine = converge(desired(sandbox()))
    old = by_container(engine, "infra")
    new_id = ContainerId("f" * 64)
    engine.containers[new_id] = replace(old, id=new_id, created=old.created + 100)
    p = plan(desired(sandbox()), engine.observe(), config())
    assert kinds(p) == ["Remove", "Recreate", "Recreate"]
    assert isinstance(p.actions[0], Remove) and p.actions[0].ref.id == old.id
    assert p.units[0].infra_id == new_id


def test_member_joined_to_another_infra_is_recreated() -> None:
    engine = converge(desired(sandbox()))
    set_state(engine, "app", labels={**by_container(engine, "app").labels, L.INFRA_ID: "dead" * 16})
    p = plan(desired(sandbox()), engine.observe(), config())
    assert kinds(p) == ["Recreate"]
    assert "never start again" in p.actions[0].reason


def test_exited_workloads_follow_restart_policy() -> None:
    cases = {
        ("Always", 0): ["Start"],
        ("Always", 3): ["Start"],
        ("OnFailure", 0): [],
        ("OnFailure", 3): ["Start"],
        ("Never", 0): [],
        ("Never", 3): [],
    }
    for (policy, code), expected in cases.items():
        want = desired(sandbox(restart=policy))
        engine = converge(want)
        set_state(engine, "app", **exited(code))
        assert kinds(plan(want, engine.observe(), config())) == expected, (policy, code)


def test_created_but_never_started_member_is_started() -> None:
    want = desired(sandbox())
    engine = converge(want)
    set_state(engine, "app", state=State.CREATED, started_at=None)
    assert kinds(plan(want, engine.observe(), config())) == ["Start"]


def test_duplicate_workload_copies_are_reduced_to_one() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = by_container(engine, "app")
    copy = ContainerId("c" * 64)
    engine.containers[copy] = replace(app, id=copy, created=app.created - 1)
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Remove"]
    assert isinstance(p.actions[0], Remove) and p.actions[0].ref.id == copy


def test_member_dropped_from_manifest_is_removed() -> None:
    engine = converge(desired(sandbox()))
    one = desired(sandbox().replace("            - {name: sidecar, image: busybox:1}\n", ""))
    p = plan(one, engine.observe(), config())
    assert kinds(p) == ["Remove"]
    assert labels_of(p.actions[0]) == "sidecar"


def test_other_instances_containers_never_appear() -> None:
    want = desired(sandbox())
    other = converge(want)
    foreign = Observation(
        tuple(
            replace(c, labels={**c.labels, L.MANAGED_BY: "someone-else"})
            for c in other.containers.values()
        )
    )
    p = plan(want, foreign, config(prune=True))
    assert kinds(p) == ["CreateInfra", "CreateMember", "CreateMember"]
    p = plan(Desired(), foreign, config(prune=True, allow_empty=True))
    assert p.actions == []


def test_name_clash_with_unmanaged_container_refuses_that_unit_only() -> None:
    want = desired(sandbox() + "---" + sandbox(name="api"))
    clash = Observation(taken=frozenset({Taken(WEB, "app", "test_default_web.app")}))
    p = plan(want, clash, config())
    web = next(u for u in p.units if u.key == WEB)
    api = next(u for u in p.units if u.key.name == "api")
    assert web.actions == () and web.error and "test_default_web.app" in web.error
    assert [type(a).__name__ for a in api.actions] == [
        "CreateInfra",
        "CreateMember",
        "CreateMember",
    ]


def test_prune_removes_undesired_units_members_first_then_volumes() -> None:
    engine = converge(desired(sandbox(init=True) + "---" + sandbox(name="api")))
    keep_api = desired(sandbox(name="api"))
    assert plan(keep_api, engine.observe(), config()).actions == [], "no prune without --prune"
    p = plan(keep_api, engine.observe(), config(prune=True))
    assert kinds(p) == ["Remove"] * 4 + ["RemoveVolumes"]
    assert [labels_of(a) for a in p.actions][:4] == ["app", "sidecar", "setup", "infra"]
    assert all(isinstance(a, Remove | RemoveVolumes) for a in p.actions)


def test_prune_never_follows_a_broken_manifest_or_an_empty_desire() -> None:
    engine = converge(desired(sandbox()))
    p = plan(Desired(), engine.observe(), config(prune=True, incomplete=True))
    assert p.actions == [] and "failed to load" in p.warnings[0].message
    assert p.warnings[0].kind is WarningKind.INCOMPLETE
    p = plan(Desired(), engine.observe(), config(prune=True))
    assert p.actions == [] and "--allow-empty" in p.warnings[0].message
    assert p.warnings[0].kind is WarningKind.EMPTY, "the loop matches on the kind, not the text"
    p = plan(Desired(), engine.observe(), config(prune=True, allow_empty=True))
    assert kinds(p) == ["Remove"] * 3 + ["RemoveVolumes"]


def test_refused_units_are_neither_converged_nor_pruned() -> None:
    engine = converge(desired(sandbox()))
    refused = Desired(refused=((WEB, "not possible here"),))
    p = plan(refused, engine.observe(), config(prune=True))
    assert p.actions == [] and p.units[0].error == "not possible here"


def test_delete_removes_only_the_named_units() -> None:
    engine = converge(desired(sandbox() + "---" + sandbox(name="api")))
    p = plan(Desired(), engine.observe(), config(delete=frozenset({WEB})))
    assert {u.key for u in p.units if u.actions} == {WEB}


def test_init_containers_rerun_when_failed_unless_never() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    set_state(engine, "setup", **exited(2))
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["Recreate"] and labels_of(p.actions[0]) == "setup"
    never = desired(sandbox(init=True, restart="Never"))
    p = plan(never, engine.observe(), config())
    assert p.actions == [] and p.units[0].error and "exit 2" in p.units[0].error


def test_running_init_is_waited_for_before_workloads_are_created() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    set_state(engine, "setup", state=State.RUNNING, exit_code=None)
    for name in ("app", "sidecar"):
        del engine.containers[by_container(engine, name).id]
    p = plan(want, engine.observe(), config())
    assert kinds(p) == ["WaitInit", "CreateMember", "CreateMember"]
    assert isinstance(p.actions[0], WaitInit)


def test_volumes_are_ensured_before_the_first_create_only() -> None:
    with_volume = sandbox(extra=", volumeMounts: [{name: data, mountPath: /data}]").replace(
        "          containers:",
        "          volumes: [{name: data, emptyDir: {}}]\n          containers:",
    )
    want = desired(with_volume)
    p = plan(want, Observation(), config())
    assert kinds(p)[:2] == ["CreateInfra", "EnsureVolume"]
    assert isinstance(p.actions[1], EnsureVolume)
    assert plan(want, converge(want).observe(), config()).actions == []


def test_unknown_hash_version_is_kept_with_a_warning() -> None:
    want = desired(sandbox())
    engine = converge(want)
    app = by_container(engine, "app")
    set_state(engine, "app", labels={**app.labels, L.SPEC_HASH: "9:from-the-future"})
    p = plan(want, engine.observe(), config())
    assert p.actions == []
    assert any("unknown version" in w.message for w in p.warnings)


def test_switching_to_standalone_removes_members_then_infra_then_creates_bare() -> None:
    one = sandbox().replace("            - {name: sidecar, image: busybox:1}\n", "")
    engine = converge(desired(one))
    p = plan(desired(one, Mode.STANDALONE), engine.observe(), config())
    assert kinds(p) == ["Remove", "Remove", "CreateMember"]
    assert [labels_of(a) for a in p.actions] == ["app", "infra", "app"]
    assert isinstance(p.actions[-1], CreateMember) and p.actions[-1].member.spec.joins == ()
    engine.apply(p)
    assert plan(desired(one, Mode.STANDALONE), engine.observe(), config()).actions == []
    back = plan(desired(one), engine.observe(), config())
    assert kinds(back) == ["Remove", "CreateInfra", "CreateMember"]


def test_containers_lacking_unit_labels_are_left_alone_with_a_warning() -> None:
    engine = converge(desired(sandbox()))
    app = by_container(engine, "app")
    engine.containers[app.id] = replace(app, labels={L.MANAGED_BY: "test"})
    p = plan(Desired(), engine.observe(), config(prune=True, allow_empty=True))
    assert all(getattr(a, "ref", None) is None or a.ref.id != app.id for a in p.actions)
    assert any(
        "lacks the unit labels" in w.message and w.kind is WarningKind.UNLABELED for w in p.warnings
    )


def test_standalone_container_kind_has_no_infra() -> None:
    want = desired(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: cache}
        spec: {image: redis:7, ports: [{containerPort: 6379, hostPort: 6379}]}
        """
    )
    p = plan(want, Observation(), config())
    assert kinds(p) == ["CreateMember"]
    assert p.units[0].infra_id is None
    engine = Engine()
    engine.apply(p)
    assert plan(want, engine.observe(), config()).actions == []


def test_independent_member_actions_share_a_step_and_barriers_stand_alone() -> None:
    want = desired(sandbox(init=True))
    fresh = plan(want, Observation(), config()).units[0]
    assert [len(s) for s in fresh.steps] == [1, 1, 1, 1]  # creating runs in order
    engine = converge(want)
    engine.restart_behind(by_container(engine, "infra").id)
    rejoin = plan(want, engine.observe(), config()).units[0]
    assert [[type(a).__name__ for a in s] for s in rejoin.steps] == [["Restart", "Restart"]]
    gone = plan(Desired(), engine.observe(), config(delete=frozenset({WEB}))).units[0]
    assert [[labels_of(a) for a in s] for s in gone.steps] == [
        ["app", "sidecar"],
        ["setup"],
        ["infra"],
        [""],
    ]


def test_loop_inputs_hold_restarts_and_act_on_liveness() -> None:
    want = desired(sandbox(init=True))
    engine = converge(want)
    app = set_state(engine, "app", **exited(1))
    held = plan(want, engine.observe(), config(held={app.id: "back-off 10s"})).units[0]
    assert held.actions == () and held.waiting[0][1] == "back-off 10s"
    free = plan(want, engine.observe(), config()).units[0]
    assert [(type(a).__name__, getattr(a, "restart", None)) for a in free.actions] == [
        ("Start", True)
    ]
    setup = set_state(engine, "setup", **exited(2))
    assert plan(want, engine.observe(), config(held={setup.id: "wait"})).units[0].waiting
    sidecar = by_container(engine, "sidecar")
    sick = plan(want, converge(want).observe(), config())
    assert sick.actions == []
    engine = converge(want)
    sidecar = by_container(engine, "sidecar")
    p = plan(want, engine.observe(), config(unhealthy={sidecar.id: Unhealthy("exit 1")}))
    assert kinds(p) == ["Restart"] and "unhealthy: exit 1" in p.actions[0].reason
    never = desired(sandbox(init=True, restart="Never"))
    engine = converge(never)
    sidecar = by_container(engine, "sidecar")
    p = plan(never, engine.observe(), config(unhealthy={sidecar.id: Unhealthy("exit 1")}))
    assert kinds(p) == ["Stop"]


def test_only_plans_the_named_units_but_guards_see_everything() -> None:
    both = desired(sandbox() + "---" + sandbox(name="api"))
    p = plan(both, Observation(), config(only=frozenset({WEB})))
    assert {u.key for u in p.units} == {WEB}
    engine = converge(both)
    web_only = desired(sandbox())
    gone = plan(web_only, engine.observe(), config(prune=True, only=frozenset({WEB})))
    assert gone.actions == [], "api is out of scope"
    api = UnitKey(Kind.SANDBOX, "default", "api")
    gone = plan(web_only, engine.observe(), config(prune=True, only=frozenset({api})))
    assert {u.key for u in gone.units if u.actions} == {api}
