"""Which observation a unit's pass may plan from (reconciler/loop/views.py), on a fake clock."""

from __future__ import annotations

from reconciler.core.models import Kind
from reconciler.core.observed import Observation
from reconciler.core.spec import UnitKey
from reconciler.loop.views import View, Views, by_unit

from .planning import converge, desired, sandbox
from .simulator import INSTANCE, Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
API = UnitKey(Kind.SANDBOX, "default", "api")
WANTED = desired(sandbox("web")).units[0]  # the unit as compiled: what a pass asks about
ASKED = frozenset({WEB})  # an observation that asked about web's names


def two_sandboxes() -> Engine:
    """web and api converged: an infra and two members each."""
    return converge(desired(sandbox("web") + "---" + sandbox("api")))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def views() -> tuple[Views, Clock]:
    clock = Clock()
    return Views(clock), clock


def test_a_view_begun_after_the_unit_was_asked_for_serves_its_next_pass_once() -> None:
    made, clock = views()
    made.ask(WEB)
    clock.now += 1
    seen = Observation(looked_up=ASKED)
    made.offer(WEB, View(clock.now, seen))
    assert made.take(WEB, WANTED) is seen
    assert made.take(WEB, WANTED) is None, "used up: the pass after observes again"


def test_a_view_older_than_what_woke_the_unit_is_never_used() -> None:
    """An event after the observation began (a death the list may not show yet)."""
    made, clock = views()
    made.offer(WEB, View(clock.now, Observation(looked_up=ASKED)))
    clock.now += 0.05
    made.ask(WEB)
    assert made.take(WEB, WANTED) is None


def test_an_ask_at_the_very_moment_the_observation_began_is_not_taken_as_seen() -> None:
    made, clock = views()
    made.ask(WEB)
    made.offer(WEB, View(clock.now, Observation(looked_up=ASKED)))
    assert made.take(WEB, WANTED) is None


def test_a_container_neither_shown_nor_asked_about_makes_the_pass_observe() -> None:
    """Whether someone else holds a missing name decides a refusal: it must be asked."""
    made, clock = views()
    clock.now += 1
    made.offer(WEB, View(clock.now, Observation()))  # a resync's: no names looked up
    assert made.take(WEB, WANTED) is None
    made.offer(WEB, View(clock.now, Observation(looked_up=ASKED)))
    assert made.take(WEB, WANTED) is not None


def test_a_unit_whose_containers_are_all_shown_needs_no_lookup() -> None:
    made, clock = views()
    clock.now += 1
    shown = two_sandboxes().observe(unit=WEB)
    assert WEB not in shown.looked_up and len(shown.containers) == 1 + len(WANTED.members)
    made.offer(WEB, View(clock.now, shown))
    assert made.take(WEB, WANTED) is shown


def test_a_fresh_view_is_kept_and_a_stale_one_replaced() -> None:
    """A resync does not replace the first observation's view of a unit still waiting
    (it looked up names); a pass's own view replaces what the pass made stale."""
    made, clock = views()
    made.ask(WEB)
    clock.now += 1
    first = Observation(looked_up=ASKED)
    made.offer(WEB, View(clock.now, first))
    clock.now += 30
    made.offer(WEB, View(clock.now, Observation()))
    assert made.take(WEB, WANTED) is first
    made.offer(WEB, View(clock.now, first))
    clock.now += 1
    made.ask(WEB)  # the pass ended
    clock.now += 1
    after = Observation(looked_up=ASKED)
    made.offer(WEB, View(clock.now, after))
    assert made.take(WEB, WANTED) is after


def test_forgotten_units_keep_nothing() -> None:
    made, clock = views()
    made.ask(WEB)
    clock.now += 1
    made.offer(WEB, View(clock.now, Observation()))
    made.forget([WEB])
    assert len(made) == 0 and made.take(WEB, None) is None


def test_each_units_part_is_what_observing_that_unit_shows() -> None:
    engine = two_sandboxes()
    engine.unmanaged.add("test_default_web.extra")
    wanted = desired(
        sandbox("web").replace("containers:", "containers:\n            - {name: extra, image: x}")
    ).units
    whole = engine.observe(wanted)
    parts = by_unit(whole, [WEB, API])
    for key in (WEB, API):
        alone = engine.observe([u for u in wanted if u.key == key], unit=key)
        assert sorted(c.id for c in parts[key].containers) == sorted(c.id for c in alone.containers)
        assert (parts[key].claims, parts[key].volumes) == (alone.claims, alone.volumes)
        assert parts[key].taken == alone.taken
        assert parts[key].looked_up == alone.looked_up
    assert {t.name for t in parts[WEB].taken} == {"test_default_web.extra"}
    assert all(c.instance == INSTANCE for c in parts[WEB].containers)


def test_a_unit_the_engine_does_not_hold_gets_an_empty_part() -> None:
    gone = UnitKey(Kind.SANDBOX, "default", "gone")
    assert by_unit(two_sandboxes().observe(), [gone])[gone].containers == ()


def test_a_newer_view_that_asked_as_much_replaces_a_fresh_one() -> None:
    made, clock = views()
    clock.now += 1
    made.offer(WEB, View(clock.now, Observation(looked_up=ASKED)))
    clock.now += 1
    newer = Observation(looked_up=ASKED)
    made.offer(WEB, View(clock.now, newer))
    assert made.take(WEB, WANTED) is newer
