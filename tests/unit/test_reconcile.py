"""The one reconcile (converge/reconcile.py) over the simulator: observe → admit → plan →
execute, what it returns, and the verdict the commands turn into exit codes."""

from __future__ import annotations

from collections.abc import Collection
from textwrap import dedent

import pytest

from reconciler.converge.executor import Result, UnitResult
from reconciler.converge.reconcile import (
    OBSERVE_AGAIN_ROUNDS,
    Reconciled,
    Verdict,
    reconcile,
    verdict,
)
from reconciler.core.compile import BuildConfig, Compiled, compile_units
from reconciler.core.errors import DaemonUnavailable, ObserveAgain
from reconciler.core.manifests import load_text
from reconciler.core.models import Kind, Mode
from reconciler.core.naming import name_of
from reconciler.core.observed import ContainerId, Observation
from reconciler.core.planner import Plan, PlanConfig, UnitPlan
from reconciler.core.spec import Desired, DesiredMember, DesiredUnit, UnitKey
from reconciler.drivers.docker.capabilities import DOCKER

from .planning import INSTANCE, sandbox
from .simulator import Engine

BUILD = BuildConfig(INSTANCE, Mode.CONTAINER_IN_SANDBOX, "pause:test", driver=DOCKER)
CONFIG = PlanConfig(instance=INSTANCE)
WEB = UnitKey(Kind.SANDBOX, "default", "web")


def compiled(*texts: str) -> tuple[Compiled, ...]:
    loaded = load_text("---\n".join(dedent(t) for t in texts), "test.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    return compile_units(loaded.manifests, BUILD, values=loaded.values)


def no_sleep(_seconds: float) -> None:
    raise AssertionError("no round should wait here")


def test_from_empty_it_converges_and_says_ok() -> None:
    engine = Engine()
    done = reconcile(engine, compiled(sandbox()), BUILD, CONFIG, sleep=no_sleep)
    assert done.verdict is Verdict.OK and done.error is None
    assert done.result is not None and done.result.ok
    assert len(engine.containers) == 3, "infra, app, sidecar"
    assert done.plan.has_changes and done.desired is not None and done.desired.keys == {WEB}


def test_a_second_reconcile_has_nothing_to_change() -> None:
    engine = Engine()
    units = compiled(sandbox())
    reconcile(engine, units, BUILD, CONFIG)
    calls = len(engine.calls)
    again = reconcile(engine, units, BUILD, CONFIG, sleep=no_sleep)
    assert again.verdict is Verdict.OK and not again.plan.has_changes
    assert again.result is not None and not any(u.outcomes for u in again.result.units)
    assert len(engine.calls) == calls, "nothing was done to the engine"


def test_a_dry_run_plans_and_changes_nothing() -> None:
    engine = Engine()
    done = reconcile(engine, compiled(sandbox()), BUILD, CONFIG, dry_run=True)
    assert done.verdict is Verdict.CHANGES
    assert done.result is None and done.plan.has_changes
    assert engine.containers == {} and engine.calls == []


def test_a_unit_admission_refuses_is_left_alone_and_fails_the_verdict() -> None:
    engine = Engine(runtimes=frozenset({"runc"}))
    api = sandbox("api").replace(
        "restartPolicy: Always", "restartPolicy: Always\n          runtime: runsc"
    )
    done = reconcile(engine, compiled(sandbox(), api), BUILD, CONFIG)
    assert done.verdict is Verdict.FAILED
    assert done.desired is not None
    assert [key.name for key, _ in done.desired.refused] == ["api"]
    assert {c.unit_key for c in engine.containers.values()} == {WEB}, "the other converged"
    assert done.result is not None
    (refused,) = done.result.failed
    assert refused.key.name == "api" and "runsc" in (refused.error or "")


class Raced(Engine):
    """Another process beats us to the app's name ``times`` times: it holds it, then is gone."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        if member.name == "app" and self.times > 0:
            self.times -= 1
            raise ObserveAgain(f"creating {name_of(member.labels)}: the name is taken meanwhile")
        return super().create_member(member, infra_id)


def test_units_changed_meanwhile_are_observed_and_planned_again_after_growing_waits() -> None:
    engine = Raced(times=2)
    waits: list[float] = []
    plans: list[Plan] = []
    done = reconcile(
        engine,
        compiled(sandbox()),
        BUILD,
        CONFIG,
        sleep=waits.append,
        on_plan=lambda _desired, planned: plans.append(planned),
    )
    assert waits == pytest.approx([0.2, 0.4])
    assert len(plans) == 3 and done.plan is plans[0], "the first plan is the one reported"
    assert done.verdict is Verdict.OK
    assert sorted(c.container for c in engine.containers.values()) == ["", "app", "sidecar"]


def test_the_rounds_are_bounded_and_then_the_unit_fails() -> None:
    engine = Raced(times=OBSERVE_AGAIN_ROUNDS + 5)
    waits: list[float] = []
    done = reconcile(engine, compiled(sandbox()), BUILD, CONFIG, sleep=waits.append)
    assert len(waits) == OBSERVE_AGAIN_ROUNDS
    assert done.verdict is Verdict.FAILED
    assert done.result is not None and done.result.units[0].observe_again


def test_no_rounds_when_asked_for_none() -> None:
    done = reconcile(Engine(), (), BUILD, CONFIG, rounds=0, sleep=no_sleep)
    assert done.verdict is Verdict.OK


class Unreachable(Engine):
    def observe(
        self,
        desired_names: Collection[str] = (),
        runtimes: Collection[str] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        raise DaemonUnavailable("the Docker daemon does not answer at unix:///nowhere")


def test_an_unreachable_daemon_is_an_error_and_nothing_is_planned() -> None:
    planned: list[Plan] = []
    done = reconcile(
        Unreachable(),
        compiled(sandbox()),
        BUILD,
        CONFIG,
        on_plan=lambda _d, p: planned.append(p),
    )
    assert done.verdict is Verdict.ERROR
    assert done.error == "the Docker daemon does not answer at unix:///nowhere"
    assert planned == [] and done.result is None and done.observed is None


def test_an_observation_handed_in_is_planned_from_without_asking_the_driver() -> None:
    """The loop's pass, planning from a view it knows is fresh (loop/views.py)."""
    engine = Unreachable()
    seen = Engine.observe(engine)  # what the caller saw before; the driver is not asked
    done = reconcile(engine, compiled(sandbox()), BUILD, CONFIG, observed=seen, sleep=no_sleep)
    assert done.error is None and done.observed is seen
    assert done.result is not None and done.result.ok and len(engine.containers) == 3


def test_the_driver_is_asked_about_the_unit_alone() -> None:
    asked: list[tuple[list[UnitKey], UnitKey | None]] = []

    class Asked(Engine):
        def observe(
            self,
            units: Collection[DesiredUnit] = (),
            unit: UnitKey | None = None,
            start_times: bool = True,
        ) -> Observation:
            asked.append(([u.key for u in units], unit))
            return super().observe(units, unit, start_times)

    units = compiled(sandbox(), sandbox("api"))
    reconcile(Asked(), units, BUILD, CONFIG, dry_run=True, unit=WEB)
    assert asked == [([WEB], WEB)], "only the unit asked for"


def test_a_configure_function_sees_the_observation_and_may_plan_nothing() -> None:
    seen: list[tuple[Observation, Desired]] = []

    def configure(observed: Observation, desired: Desired) -> PlanConfig | None:
        seen.append((observed, desired))
        return None

    engine = Engine()
    done = reconcile(engine, compiled(sandbox()), BUILD, configure)
    assert len(seen) == 1 and done.observed is seen[0][0] and done.desired is seen[0][1]
    assert done.result is None and done.config is None and engine.calls == []


def test_an_admitted_desire_is_kept_while_the_engine_offers_what_it_was_admitted_against() -> None:
    engine = Engine()
    units = compiled(sandbox())
    first = reconcile(engine, units, BUILD, CONFIG, dry_run=True)
    assert first.desired is not None
    again = reconcile(engine, units, BUILD, CONFIG, dry_run=True, admitted=first.desired)
    assert again.desired is first.desired


@pytest.mark.parametrize(
    ("reconciled", "expected"),
    [
        (Reconciled(error="no daemon"), Verdict.ERROR),
        (Reconciled(Plan((UnitPlan(WEB, error="refused"),))), Verdict.FAILED),
        (Reconciled(Plan((UnitPlan(WEB, actions=()),))), Verdict.OK),
        (Reconciled(result=Result((UnitResult(WEB),))), Verdict.OK),
        (Reconciled(result=Result((UnitResult(WEB, error="boom"),))), Verdict.FAILED),
    ],
)
def test_the_verdict(reconciled: Reconciled, expected: Verdict) -> None:
    assert verdict(reconciled) is expected is reconciled.verdict


def test_a_dry_runs_changes_are_its_verdict() -> None:
    done = reconcile(Engine(), compiled(sandbox()), BUILD, CONFIG, dry_run=True)
    assert verdict(done) is Verdict.CHANGES


def test_each_command_maps_every_verdict_to_its_documented_exit_code() -> None:
    from reconciler.cli.converge import APPLY_CODES, DIFF_CODES

    assert APPLY_CODES == {
        Verdict.OK: 0,
        Verdict.CHANGES: 0,
        Verdict.FAILED: 1,
        Verdict.ERROR: 1,
    }
    assert DIFF_CODES == {
        Verdict.OK: 0,
        Verdict.CHANGES: 1,
        Verdict.FAILED: 2,
        Verdict.ERROR: 2,
    }
