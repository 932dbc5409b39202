"""The health gate of `sync --wait` (reconciler/loop/gate.py): a fake clock, records by hand."""

from __future__ import annotations

from dataclasses import replace
from textwrap import dedent

from reconciler.core.compile import BuildConfig, Compiled, compile_units
from reconciler.core.manifests import load_text
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.loop.gate import RevisionGate, Verdict
from reconciler.loop.health import units_of
from reconciler.loop.statusrecord import ContainerRecord, UnitRecord

from .planning import sandbox

PROBE = "{exec: {command: [check]}, periodSeconds: 1}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def compiled(*texts: str) -> tuple[Compiled, ...]:
    loaded = load_text("\n---\n".join(dedent(t) for t in texts), "deploy.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    return compile_units(loaded.manifests, BuildConfig("test", infra_image="p", driver=DOCKER))


def records(revision: tuple[Compiled, ...], **changes: ContainerRecord) -> dict[str, UnitRecord]:
    """Every unit of ``revision`` running its spec; ``changes``: ``<unit>_<container>``."""
    result = {}
    for key, u in units_of(revision).items():
        assert u.infra is not None
        containers = {"infra": ContainerRecord(f"{key.name}-i", "running", spec_hash=u.infra.hash)}
        for m in u.members:
            containers[m.name] = ContainerRecord(
                f"{key.name}-{m.name}", "running", spec_hash=m.hash
            )
        for name, record in changes.items():
            unit, _, container = name.partition("_")
            if unit == key.name:
                containers[container] = record
        result[str(key)] = UnitRecord("Sandbox", "default", key.name, "Running", containers)
    return result


class Harness:
    def __init__(self, wait: float = 30.0, min_ready: float = 2.0) -> None:
        self.clock = Clock()
        self.verdicts: list[Verdict] = []
        self.progress: list[tuple[str, tuple[str, ...]]] = []
        self.gate = RevisionGate(
            wait,
            self.verdicts.append,
            lambda revision, waiting: self.progress.append((revision, waiting)),
            min_ready=min_ready,
            clock=self.clock,
        )


def test_a_revision_is_healthy_once_its_changed_units_stayed_ready_for_min_ready() -> None:
    t = Harness()
    first = compiled(sandbox("web"), sandbox("db"))
    assert {k.name for k in t.gate.arm("c1", first)} == {"web", "db"}, "nothing known: all"
    assert t.gate.check({}) is True, "progress: both wait"
    assert t.progress[-1] == (
        "c1",
        ("sandbox/db: not reconciled yet", "sandbox/web: not reconciled yet"),
    )
    assert t.gate.check(records(first)) is True and t.verdicts == [], "ready, not for long"
    t.clock.now += 1.9
    t.gate.check(records(first))
    assert t.verdicts == []
    t.clock.now += 0.2
    t.gate.check(records(first))
    assert t.verdicts == [Verdict("c1", True, ("sandbox/db", "sandbox/web"))]
    assert t.gate.armed() is None and t.gate.check(records(first)) is False, "judged once"


def test_only_the_units_a_revision_changes_are_gated() -> None:
    t = Harness()
    first = compiled(sandbox("web"), sandbox("db"))
    t.gate.arm("c1", first)
    t.gate.check(records(first))
    t.clock.now += 3
    t.gate.check(records(first))
    second = compiled(sandbox("web", image="busybox:2"), sandbox("db"))
    assert {k.name for k in t.gate.arm("c2", second)} == {"web"}
    # db crash-loops, but c2 did not change it: not c2's fault.
    crashing = ContainerRecord("x", "exited", 1, waiting="CrashLoopBackOff", spec_hash="h")
    now = records(second, db_app=crashing)
    t.gate.check(now)
    t.clock.now += 3
    t.gate.check(now)
    assert t.verdicts[-1] == Verdict("c2", True, ("sandbox/web",))


def test_a_restart_while_ready_starts_the_wait_again() -> None:
    """A container that exits right after it starts is seen running by the pass that
    started it; restarted at once, it is seen running again: another run."""
    t = Harness()
    revision = compiled(sandbox("web"))
    t.gate.arm("c1", revision)
    t.gate.check(records(revision))
    t.clock.now += 1.5
    app = records(revision)["sandbox/web"].containers["app"]
    again = records(revision, web_app=replace(app, restarts=1))
    t.gate.check(again)
    t.clock.now += 1.5
    t.gate.check(again)
    assert t.verdicts == [], "ready 1.5 s since the restart: not yet"
    t.clock.now += 1
    t.gate.check(again)
    assert t.verdicts[-1].healthy


def test_a_crash_loop_fails_the_revision_at_once() -> None:
    t = Harness()
    revision = compiled(sandbox("web"), sandbox("db"))
    t.gate.arm("c1", revision)
    app = records(revision)["sandbox/web"].containers["app"]
    looping = replace(app, state="exited", exit_code=1, waiting="CrashLoopBackOff: back-off 10s")
    t.gate.check(records(revision, web_app=looping))
    assert t.verdicts == [
        Verdict("c1", False, ("sandbox/web",), ("sandbox/web: app: CrashLoopBackOff (exited 1)",))
    ]


def test_a_unit_not_ready_by_the_deadline_fails_it_saying_for_how_long() -> None:
    t = Harness(wait=30)
    revision = compiled(sandbox("api", extra=f", readinessProbe: {PROBE}"))
    t.gate.arm("c1", revision)
    app = records(revision)["sandbox/api"].containers["app"]
    t.gate.check(records(revision, api_app=app))
    assert t.progress[-1] == ("c1", ("sandbox/api: app: readiness probe not passed yet",))
    t.clock.now += 2
    failing = records(revision, api_app=replace(app, ready=False))
    t.gate.check(failing)
    assert t.progress[-1] == ("c1", ("sandbox/api: app: readiness probe failing",))
    t.clock.now += 27.9
    t.gate.check(failing)
    assert t.verdicts == []
    t.clock.now += 0.2
    t.gate.check(failing)
    assert t.verdicts == [
        Verdict(
            "c1",
            False,
            ("sandbox/api",),
            ("sandbox/api: app: readiness probe failing for 28 s",),
            timed_out=True,
        )
    ]


def test_a_newer_revision_replaces_the_one_in_progress_and_keeps_gating_its_changes() -> None:
    t = Harness()
    good = compiled(sandbox("web"), sandbox("db"))
    t.gate.arm("c1", good)
    t.gate.check(records(good))
    t.clock.now += 3
    t.gate.check(records(good))
    broken = compiled(sandbox("web", image="busybox:2"), sandbox("db"))
    t.gate.arm("c2", broken)
    # c3 changes only db, but web still differs from the last healthy revision (c1).
    newer = compiled(sandbox("web", image="busybox:2"), sandbox("db", image="busybox:3"))
    assert {k.name for k in t.gate.arm("c3", newer)} == {"web", "db"}
    # A rollback to c1 gates what it changes back.
    assert {k.name for k in t.gate.arm("c1", good)} == {"web", "db"}
    t.gate.check(records(good))
    t.clock.now += 3
    t.gate.check(records(good))
    assert [v.revision for v in t.verdicts] == ["c1", "c1"], "c2 and c3 were never judged"


def test_a_revision_resumed_healthy_is_not_judged_but_compared_with() -> None:
    t = Harness()
    resumed = compiled(sandbox("web"), sandbox("db"))
    assert t.gate.arm("c1", resumed, judged=True) == frozenset()
    assert t.gate.armed() is None and t.gate.check({}) is False
    newer = compiled(sandbox("web", image="busybox:2"), sandbox("db"))
    assert {k.name for k in t.gate.arm("c2", newer)} == {"web"}


def test_a_revision_that_changes_nothing_is_healthy_at_once() -> None:
    t = Harness()
    revision = compiled(sandbox("web"))
    t.gate.arm("c1", revision)
    t.gate.check(records(revision))
    t.clock.now += 3
    t.gate.check(records(revision))
    assert t.gate.arm("c2", revision) == frozenset()
    t.gate.check({})
    assert t.verdicts[-1] == Verdict("c2", True, ())
