"""The loop's restart book (reconciler/loop/restarts.py): backoff, counts, pruning; a fake clock."""

from __future__ import annotations

from reconciler.core import labels as L
from reconciler.core.models import Kind
from reconciler.core.observed import ObservedContainer
from reconciler.core.spec import UnitKey
from reconciler.loop.backoff import BackoffPolicy
from reconciler.loop.restarts import RestartBook

from .planning import by_container, converge, desired, exited, sandbox, set_state
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
POLICY = BackoffPolicy(initial=10.0, maximum=40.0, reset_after=600.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _web() -> Engine:
    return converge(desired(sandbox()))


def _containers(engine: Engine) -> list[ObservedContainer]:
    return list(engine.observe().containers)


def _crash(engine: Engine, book: RestartBook, clock: Clock) -> str | None:
    """The app exits; the loop restarts it if the book lets it. Its held reason, if held."""
    set_state(engine, "app", **exited(1))
    held = book.hold(WEB, _containers(engine))
    app = by_container(engine, "app")
    if app.id in held.reasons:
        return held.reasons[app.id]
    engine.start(app.id)
    book.restarted(WEB, "app")
    return None


def test_a_crash_loop_backs_off_doubling_up_to_the_cap() -> None:
    engine, clock = _web(), Clock()
    book = RestartBook(POLICY, clock)
    book.hold(WEB, _containers(engine))  # all running: their starts are noted
    assert _crash(engine, book, clock) is None, "the first restart is immediate"
    waits = []
    for _ in range(4):
        clock.now += 1
        reason = _crash(engine, book, clock)
        assert reason is not None and reason.startswith("CrashLoopBackOff: back-off")
        held = book.hold(WEB, _containers(engine))
        assert held.backed_off == (), "seeing the same exit again is not a new backoff"
        assert held.retry_in is not None
        waits.append(held.retry_in)
        clock.now += held.retry_in
        assert _crash(engine, book, clock) is None, "its time came: it may start"
    assert waits == [10.0, 20.0, 40.0, 40.0]
    assert book.restarts(WEB, "app") == 5


def test_a_new_backoff_is_reported_once_for_metrics() -> None:
    engine, clock = _web(), Clock()
    book = RestartBook(POLICY, clock)
    _crash(engine, book, clock)
    clock.now += 1
    set_state(engine, "app", **exited(1))
    first = book.hold(WEB, _containers(engine))
    again = book.hold(WEB, _containers(engine))
    assert first.backed_off == ("app",) and again.backed_off == ()
    assert first.reasons == again.reasons


def test_the_infra_is_never_held() -> None:
    engine, clock = _web(), Clock()
    book = RestartBook(POLICY, clock)
    set_state(engine, "infra", **exited(137))
    assert book.hold(WEB, _containers(engine)).reasons == {}
    assert len(book) == 2, "app and sidecar are running: their starts are noted"


def test_a_stable_container_is_pruned_and_its_next_exit_is_immediate() -> None:
    engine, clock = _web(), Clock()
    book = RestartBook(POLICY, clock)
    _crash(engine, book, clock)
    clock.now += 1
    assert _crash(engine, book, clock) is not None
    clock.now += 10
    assert _crash(engine, book, clock) is None
    clock.now += POLICY.reset_after
    book.prune(WEB, _containers(engine), {"app", "sidecar"})
    assert len(book) == 0, "every container ran reset_after seconds: nothing left to remember"
    assert book.restarts(WEB, "app") == 2, "counts stay while the member is there"
    clock.now += 1
    assert _crash(engine, book, clock) is None, "out of the crash loop: restarted at once"


def test_a_gone_container_and_a_replaced_spec_are_pruned() -> None:
    engine, clock = _web(), Clock()
    book = RestartBook(POLICY, clock)
    _crash(engine, book, clock)
    engine.remove(by_container(engine, "app").id, 1)
    book.prune(WEB, _containers(engine), {"app", "sidecar"})
    assert len(book) == 1, "only the sidecar's start is left"
    assert book.restarts(WEB, "app") == 1, "still a member: a new app keeps its count"
    sidecar = by_container(engine, "sidecar")
    set_state(engine, "sidecar", labels={**sidecar.labels, L.SPEC_HASH: "v1:another"})
    book.prune(WEB, _containers(engine), {"app", "sidecar"})
    assert len(book) == 0


def test_a_unit_that_left_desired_state_leaves_nothing_behind() -> None:
    engine, clock = _web(), Clock()
    book = RestartBook(POLICY, clock)
    _crash(engine, book, clock)
    other = UnitKey(Kind.SANDBOX, "default", "other")
    book.restarted(other, "app")
    for c in _containers(engine):
        engine.remove(c.id, 1)
    book.prune(WEB, _containers(engine), ())
    assert len(book) == 0 and book.restarts(WEB, "app") == 0
    assert book.restarts(other, "app") == 1, "another unit's book is its own"


def test_a_member_removed_from_the_manifest_but_still_running_keeps_its_count() -> None:
    engine, clock = _web(), Clock()
    book = RestartBook(POLICY, clock)
    _crash(engine, book, clock)
    book.prune(WEB, _containers(engine), {"sidecar"})
    assert book.restarts(WEB, "app") == 1
