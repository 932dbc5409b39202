"""Crash-loop backoff arithmetic: kubelet's delays, reset and refusal, with properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.loop.backoff import (
    BackoffPolicy,
    RestartState,
    in_backoff,
    may_start,
    on_exit,
    on_start,
    prune,
    seconds_left,
    stable,
)

POLICY = BackoffPolicy()


def crash_loop(runs: list[float], policy: BackoffPolicy = POLICY) -> list[float]:
    """Delays of a container that exits after running each of ``runs`` seconds,
    restarted as soon as its backoff allows."""
    now, state, delays = 1000.0, on_start(None, 1000.0), []
    for run in runs:
        now += run
        state = on_exit(state, now, policy)
        delays.append(state.delay)
        now = state.not_before
        assert may_start(state, now)
        state = on_start(state, now)
    return delays


def test_kubelet_delay_sequence() -> None:
    assert crash_loop([1.0] * 8) == [0, 10, 20, 40, 80, 160, 300, 300]


def test_first_exit_without_a_record_restarts_at_once() -> None:
    state = on_exit(None, 50.0, POLICY)
    assert state == RestartState(restarts=1, delay=0.0, not_before=50.0)
    assert may_start(state, 50.0)
    assert not in_backoff(state, 50.0)
    assert seconds_left(state, 50.0) == 0


def test_reset_after_ten_minutes_stable() -> None:
    # Five quick crashes, then ten minutes up: the next crash loop starts over.
    assert crash_loop([1.0] * 5 + [600.0, 1.0, 1.0]) == [0, 10, 20, 40, 80, 0, 10, 20]
    # Just short of ten minutes is still the same crash loop.
    assert crash_loop([1.0] * 5 + [599.0]) == [0, 10, 20, 40, 80, 160]


def test_a_start_during_backoff_is_refused_until_not_before() -> None:
    state = on_start(on_exit(None, 0.0, POLICY), 0.0)
    state = on_exit(state, 2.0, POLICY)  # second exit in the loop: wait 10 s
    assert state.not_before == 12.0
    for now in (2.0, 5.0, 11.99):
        assert not may_start(state, now)
        assert in_backoff(state, now)
    assert seconds_left(state, 5.0) == pytest.approx(7.0)
    assert may_start(state, 12.0)
    assert not in_backoff(state, 12.0)
    assert seconds_left(state, 13.0) == 0


def test_seeing_the_same_exit_again_does_not_extend_the_backoff() -> None:
    state = on_start(on_exit(None, 0.0, POLICY), 0.0)
    state = on_exit(state, 2.0, POLICY)
    assert on_exit(state, 5.0, POLICY) is state
    assert on_exit(on_exit(state, 9.0, POLICY), 30.0, POLICY) is state


def test_a_running_container_is_not_in_backoff() -> None:
    state = on_start(on_exit(on_start(on_exit(None, 0, POLICY), 0), 1, POLICY), 11)
    assert not in_backoff(state, 11.5)
    assert may_start(state, 11.5)


def test_stable_and_prune_drop_records_of_settled_containers() -> None:
    crashing = on_exit(on_start(None, 0.0), 5.0, POLICY)
    running = on_start(None, 0.0)
    settled = on_start(None, -600.0)
    states = {("web", "app"): crashing, ("web", "db"): running, ("api", "app"): settled}
    assert not stable(crashing, 0.0, POLICY)
    assert stable(settled, 0.0, POLICY)
    assert prune(states, 0.0, POLICY) == {("web", "app"): crashing, ("web", "db"): running}


def test_custom_policy() -> None:
    policy = BackoffPolicy(initial=1.0, maximum=5.0, reset_after=60.0)
    assert crash_loop([0.5] * 6, policy) == [0, 1, 2, 4, 5, 5]


@pytest.mark.parametrize(
    ("initial", "maximum", "reset_after"), [(-1, 10, 10), (20, 10, 10), (1, 10, 0)]
)
def test_invalid_policy_is_refused(initial: float, maximum: float, reset_after: float) -> None:
    with pytest.raises(ValueError, match="invalid backoff policy"):
        BackoffPolicy(initial, maximum, reset_after)


policies = st.builds(
    BackoffPolicy,
    initial=st.floats(0, 100),
    maximum=st.floats(100, 1000),
    reset_after=st.floats(1, 1000),
)


@given(policy=policies, runs=st.lists(st.floats(0, 2000), max_size=30))
def test_delay_never_exceeds_the_maximum(policy: BackoffPolicy, runs: list[float]) -> None:
    assert all(0 <= d <= policy.maximum for d in crash_loop(runs, policy))


@given(
    policy=policies,
    runs=st.lists(st.floats(0, 1), max_size=30),
    late=st.lists(st.floats(0, 50), max_size=30),
)
def test_delays_do_not_decrease_within_a_crash_loop(
    policy: BackoffPolicy, runs: list[float], late: list[float]
) -> None:
    # Runs shorter than reset_after, started at or after not_before (the loop may be late).
    now, state, delays = 0.0, None, []
    for run, lag in zip(runs, late, strict=False):
        now += min(run, policy.reset_after / 2)
        state = on_exit(state, now, policy)
        delays.append(state.delay)
        now = state.not_before + min(lag, policy.reset_after / 4)
        state = on_start(state, now)
    assert delays == sorted(delays)
    assert delays[:1] in ([], [0])
