"""emptyDir.sizeLimit on disk: the planner's decisions (core/eviction.py)."""

from __future__ import annotations

from reconciler.core.actions import LiftEviction, RecordEviction, Stop
from reconciler.core.eviction import fingerprint, message
from reconciler.core.models import Kind
from reconciler.core.observed import Eviction, State
from reconciler.core.planner import plan
from reconciler.core.quantity import bytes_quantity
from reconciler.core.spec import Desired, UnitKey

from .planning import INSTANCE, by_container, config, converge, desired, exited, kinds, set_state
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
CACHE = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi".'


def pod(limit: str = "1Mi", image: str = "busybox:1", restart: str = "Always") -> Desired:
    return desired(
        f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web}}
        spec:
          restartPolicy: {restart}
          terminationGracePeriodSeconds: 3
          volumes:
            - {{name: cache, emptyDir: {{sizeLimit: {limit}}}}}
            - {{name: scratch, emptyDir: {{medium: Memory, sizeLimit: 64Mi}}}}
          containers:
            - name: app
              image: {image}
              volumeMounts: [{{name: cache, mountPath: /cache}}, {{name: scratch, mountPath: /s}}]
            - {{name: sidecar, image: busybox:1}}
        """
    )


# -- what the eviction says and remembers ----------------------------------------------


def test_the_message_is_kubelets_and_the_limit_is_a_quantity() -> None:
    (volume,) = pod().units[0].volumes
    assert volume.size_limit == 2**20
    assert message(volume) == CACHE
    assert [bytes_quantity(n) for n in (2**20, 10 * 2**20, 5_000_000, 1536, 1234, 3 * 2**30)] == [
        "1Mi",
        "10Mi",
        "5M",
        "1536",
        "1234",
        "3Gi",
    ]


def test_only_disk_emptydirs_are_measured_a_memory_one_stays_a_sized_tmpfs() -> None:
    unit = pod().units[0]
    assert [(v.volume, v.size_limit) for v in unit.volumes] == [("cache", 2**20)]
    app = next(m for m in unit.members if m.name == "app")
    assert [(m.type, m.size) for m in app.spec.mounts] == [("volume", None), ("tmpfs", 64 * 2**20)]


def test_the_fingerprint_changes_with_specs_and_limits_not_with_what_steers() -> None:
    base = fingerprint(pod().units[0])
    assert fingerprint(pod().units[0]) == base
    assert fingerprint(pod(limit="2Mi").units[0]) != base
    assert fingerprint(pod(image="busybox:2").units[0]) != base
    assert fingerprint(pod(restart="OnFailure").units[0]) == base


# -- the planner's decisions -----------------------------------------------------------


def test_an_eviction_is_recorded_then_members_stop_together_then_the_infra() -> None:
    want = pod()
    engine = converge(want)
    p = plan(want, engine.observe(want.units), config(evict={WEB: CACHE}))
    assert kinds(p) == ["RecordEviction", "Stop", "Stop", "Stop"]
    (unit,) = p.units
    record, *stops = unit.actions
    assert isinstance(record, RecordEviction) and record.eviction == Eviction(
        CACHE, fingerprint(want.units[0])
    )
    assert [type(a).__name__ for a in unit.steps[1]] == ["Stop", "Stop"], "members at once"
    assert [a.ref.label for a in stops if isinstance(a, Stop)] == ["app", "sidecar", "infra"]
    assert [a.grace_period for a in stops if isinstance(a, Stop)] == [3, 3, 0]
    assert all(a.reason == f"evicted: {CACHE}" for a in stops)
    engine.apply(p)
    assert all(c.state is State.EXITED for c in engine.containers.values()), "stopped, kept"
    assert engine.evictions == {WEB: Eviction(CACHE, fingerprint(want.units[0]))}


def test_an_evicted_unit_stays_stopped_whatever_its_restart_policy() -> None:
    want = pod()
    engine = converge(want)
    engine.apply(plan(want, engine.observe(want.units), config(evict={WEB: CACHE})))
    again = plan(want, engine.observe(want.units), config())
    assert again.actions == [], "restartPolicy Always, yet nothing starts"
    # A container started behind the loop's back is stopped again.
    engine.start(by_container(engine, "infra").id)
    engine.start(by_container(engine, "app").id)
    p = plan(want, engine.observe(want.units), config())
    assert kinds(p) == ["Stop", "Stop"] and p.actions[0].reason == f"evicted: {CACHE}"


def test_a_finished_unit_is_not_evicted_its_infra_running_or_not() -> None:
    want = pod(restart="Never")
    engine = converge(want)
    for name in ("app", "sidecar"):
        set_state(engine, name, **exited(0))
    assert plan(want, engine.observe(want.units), config(evict={WEB: CACHE})).actions == []


def test_a_unit_in_a_crash_loop_is_active_and_evicted() -> None:
    want = pod()
    engine = converge(want)
    for name in ("app", "sidecar"):
        set_state(engine, name, **exited(1))
    held = {by_container(engine, n).id: "CrashLoopBackOff" for n in ("app", "sidecar")}
    p = plan(want, engine.observe(want.units), config(evict={WEB: CACHE}, held=held))
    assert kinds(p) == ["RecordEviction", "Stop"], "only the infra still runs"


def _evicted(want: Desired) -> Engine:
    engine = converge(want)
    engine.apply(plan(want, engine.observe(want.units), config(evict={WEB: CACHE})))
    return engine


def test_a_changed_size_limit_lifts_the_eviction_and_the_unit_starts_again() -> None:
    engine = _evicted(pod())
    bigger = pod(limit="8Mi")
    p = plan(bigger, engine.observe(bigger.units), config())
    assert kinds(p)[0] == "LiftEviction"
    assert p.actions[0].reason == "its manifest changed since it was evicted"
    assert "Start" in kinds(p)
    engine.apply(p)
    assert engine.evictions == {}
    assert all(c.state is State.RUNNING for c in engine.containers.values())
    assert plan(bigger, engine.observe(bigger.units), config()).actions == []


def test_a_changed_image_lifts_it_and_recreates_that_container() -> None:
    engine = _evicted(pod())
    newer = pod(image="busybox:2")
    p = plan(newer, engine.observe(newer.units), config())
    assert kinds(p)[0] == "LiftEviction" and "Recreate" in kinds(p)
    engine.apply(p)
    assert plan(newer, engine.observe(newer.units), config()).actions == []


def test_apply_lifts_it_the_loop_does_not_what_steers_only_neither() -> None:
    engine = _evicted(pod())
    assert plan(pod(restart="OnFailure"), engine.observe(), config()).actions == []
    p = plan(pod(), engine.observe(), config(lift_evictions=True))
    assert isinstance(p.actions[0], LiftEviction) and p.actions[0].reason.startswith("applied")
    engine.apply(p)
    assert engine.evictions == {} and by_container(engine, "app").state is State.RUNNING


def test_deleting_an_evicted_unit_removes_its_record_with_its_volumes() -> None:
    engine = _evicted(pod())
    p = plan(Desired(), engine.observe(), config(delete=frozenset({WEB})))
    assert kinds(p)[-1] == "RemoveVolumes"
    engine.apply(p)
    assert engine.evictions == {} and engine.containers == {}


def test_an_eviction_record_left_alone_is_pruned_with_its_unit() -> None:
    """A crash between removing the containers and the volumes can leave the record."""
    engine = Engine(instance=INSTANCE)
    engine.evictions[WEB] = Eviction(CACHE, "f")
    engine.volumes["v"] = {"io.reconciler.managed-by": INSTANCE}
    p = plan(Desired(), engine.observe(), config(delete=frozenset({WEB})))
    assert kinds(p) == ["RemoveVolumes"]
