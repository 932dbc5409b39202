"""Runs a Plan through a driver. Does I/O (through the driver only).

Units run in parallel on a bounded pool; the steps of one unit run in
order (the planner groups the stopping of independent members into one
step, run at once), and the first failing step ends that unit (later steps depend on it).
One unit's failure never stops another. Each action's result
is an immutable ``Outcome``; retries of transient engine errors happen in the
driver. The executor decides nothing: it does what the plan says.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from typing import assert_never

from reconciler.core import labels as L
from reconciler.core.actions import (
    Action,
    CreateInfra,
    CreateMember,
    EnsureVolume,
    LiftEviction,
    RecordEviction,
    RecordOwner,
    Recreate,
    Ref,
    Remove,
    RemoveVolumes,
    Restart,
    RunInit,
    Start,
    Stop,
    WaitInit,
)
from reconciler.core.errors import (
    DriverError,
    HookFailed,
    InitContainerFailed,
    ObserveAgain,
    ReconcilerError,
    UntranslatableSpec,
)
from reconciler.core.planner import Plan, UnitPlan
from reconciler.core.spec import DesiredMember, UnitKey
from reconciler.core.values import fill_pod_fields, pod_uid, waits_for_pod
from reconciler.drivers.base import Converging, RestartsInPlace

DEFAULT_PARALLEL = 4  # the daemon saturates at about 4 concurrent creates on two cores
POST_START_TIMEOUT = 30.0  # seconds a postStart hook may take before it counts as failed


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    seconds: float
    error: str | None = None
    # The engine changed under the plan (errors.ObserveAgain): plan this unit again.
    observe_again: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class UnitResult:
    key: UnitKey
    outcomes: tuple[Outcome, ...] = ()
    error: str | None = None  # the planning refusal or the failure that ended the unit
    skipped: int = 0  # actions not run because an earlier one failed

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> bool:
        return any(o.ok for o in self.outcomes)

    @property
    def observe_again(self) -> bool:
        """It ended because another process changed it meanwhile: observe and plan again."""
        return not self.ok and any(o.observe_again for o in self.outcomes)

    @property
    def removed(self) -> bool:
        """The whole unit is gone: its last action, removing its volumes, was done."""
        return (
            bool(self.outcomes) and isinstance(self.outcomes[-1].action, RemoveVolumes) and self.ok
        )


@dataclass(frozen=True, slots=True)
class Result:
    units: tuple[UnitResult, ...]

    @property
    def ok(self) -> bool:
        return all(u.ok for u in self.units)

    @property
    def failed(self) -> list[UnitResult]:
        return [u for u in self.units if not u.ok]

    def followed_by(self, more: Result) -> Result:
        """This result, with the units ``more`` ran again: their outcomes added, its verdict."""
        again = {u.key: u for u in more.units}
        return Result(
            tuple(
                UnitResult(
                    u.key,
                    (*u.outcomes, *again[u.key].outcomes),
                    again[u.key].error,
                    again[u.key].skipped,
                )
                if u.key in again
                else u
                for u in self.units
            )
        )


OnOutcome = Callable[[UnitKey, Outcome], None]
OnBegin = Callable[[UnitKey, Action], None]


def execute(
    plan: Plan,
    driver: Converging,
    parallel: int = DEFAULT_PARALLEL,
    on_outcome: OnOutcome | None = None,
    on_begin: OnBegin | None = None,
) -> Result:
    """Run every unit of ``plan``; return a result per unit, in plan order."""
    busy = [u for u in plan.units if u.actions]
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        done = dict(
            zip(
                (u.key for u in busy),
                pool.map(lambda u: _run_unit(u, driver, on_outcome, on_begin), busy),
                strict=True,
            )
        )
    return Result(tuple(done.get(u.key) or UnitResult(u.key, error=u.error) for u in plan.units))


def _run_unit(
    unit: UnitPlan, driver: Converging, on_outcome: OnOutcome | None, on_begin: OnBegin | None
) -> UnitResult:
    infra_id: str | None = unit.infra_id
    outcomes: list[Outcome] = []
    steps = unit.steps
    for index, step in enumerate(steps):
        if on_begin is not None:  # e.g. to say a grace period is being waited out
            for action in step:
                on_begin(unit.key, action)
        if len(step) == 1:
            results = [_timed(step[0], driver, infra_id)]
        else:
            # No action of a concurrent step changes the infra.
            with ThreadPoolExecutor(max_workers=len(step)) as pool:
                results = list(pool.map(_timed, step, repeat(driver), repeat(infra_id)))
        for outcome, infra_after in results:
            outcomes.append(outcome)
            infra_id = infra_after
            if on_outcome is not None:
                on_outcome(unit.key, outcome)
        failed = [o for o, _ in results if not o.ok]
        if failed:
            skipped = sum(len(s) for s in steps[index + 1 :])
            return UnitResult(unit.key, tuple(outcomes), failed[0].error, skipped)
    return UnitResult(unit.key, tuple(outcomes), unit.error)


def _timed(action: Action, driver: Converging, infra_id: str | None) -> tuple[Outcome, str | None]:
    began = time.monotonic()
    try:
        infra_id = _apply(action, driver, infra_id)
    except ObserveAgain as exc:
        return Outcome(action, time.monotonic() - began, str(exc), observe_again=True), infra_id
    except ReconcilerError as exc:
        return Outcome(action, time.monotonic() - began, str(exc) or type(exc).__name__), infra_id
    return Outcome(action, time.monotonic() - began), infra_id


def _apply(action: Action, driver: Converging, infra_id: str | None) -> str | None:
    """Perform one action; return the unit's current infra id afterwards."""
    match action:
        case CreateInfra(infra=infra):
            return driver.create_infra(infra)
        case Start(ref=ref, is_infra=True):
            driver.start(ref.id)
            return ref.id
        case CreateMember() | RunInit() | WaitInit() | Start() | Restart() | Recreate():
            _run_member(action, driver, infra_id)
        case (
            Stop()
            | Remove()
            | RecordOwner()
            | RecordEviction()
            | LiftEviction()
            | EnsureVolume()
            | RemoveVolumes()
        ):
            _stop_or_record(action, driver)
        case _:
            assert_never(action)
    return infra_id


def _run_member(
    action: CreateMember | RunInit | WaitInit | Start | Restart | Recreate,
    driver: Converging,
    infra_id: str | None,
) -> None:
    """The actions that make a member run (its hooks with them)."""
    match action:
        case CreateMember(member=member):
            _create(driver, member, infra_id)
        case RunInit(member=member):
            _run_init(driver, member, infra_id)
        case WaitInit(ref=ref):
            _check_init(ref.container, driver.wait(ref.id))
        case Start(ref=ref):
            driver.start(ref.id)
            _post_start(driver, ref.id, ref.container, ref.post_start)
        case Restart(ref=ref, grace_period=grace):
            if not isinstance(driver, RestartsInPlace):  # the planner never asks it of one
                raise UntranslatableSpec(f"{ref.label}: this engine cannot restart in place")
            driver.restart(ref.id, _pre_stop(driver, ref, grace))
            _post_start(driver, ref.id, ref.container, ref.post_start)
        case Recreate(old=old, grace_period=grace, member=member):
            driver.remove(old.id, _pre_stop(driver, old, grace))
            if member.spec.role == L.ROLE_INIT:
                _run_init(driver, member, infra_id)
            else:
                _create(driver, member, infra_id)
        case _:
            assert_never(action)


def _stop_or_record(
    action: Stop
    | Remove
    | RecordOwner
    | RecordEviction
    | LiftEviction
    | EnsureVolume
    | RemoveVolumes,
    driver: Converging,
) -> None:
    """The actions that stop, remove or record, and change no infra."""
    match action:
        case Stop(ref=ref, grace_period=grace):
            driver.stop(ref.id, _pre_stop(driver, ref, grace))
        case Remove(ref=ref, grace_period=grace):
            driver.remove(ref.id, _pre_stop(driver, ref, grace))
        case RecordOwner(unit=key, owner=owner):
            driver.record_owner(key, owner)
        case RecordEviction(unit=key, eviction=eviction):
            driver.record_eviction(key, eviction)
        case LiftEviction(unit=key):
            driver.lift_eviction(key)
        case EnsureVolume(volume=volume):
            driver.ensure_volume(volume)
        case RemoveVolumes(unit=key):
            driver.remove_volumes(key)
        case _:
            assert_never(action)


def _create(driver: Converging, member: DesiredMember, infra_id: str | None) -> None:
    container_id = driver.create_member(_pod_fields(driver, member, infra_id), infra_id)
    _post_start(driver, container_id, member.name, member.spec.post_start)


def _pod_fields(driver: Converging, member: DesiredMember, infra_id: str | None) -> DesiredMember:
    """The member with the pod's address and uid where its env (or a reference to it)
    asks for them: known only now that its infra exists (core/values.py)."""
    if infra_id is None or not waits_for_pod(member.spec):
        return member
    address = driver.address(infra_id)
    if address is None:
        raise DriverError(f"the sandbox {infra_id[:12]} has no address for status.podIP yet")
    return fill_pod_fields(member, address, pod_uid(infra_id))


def _post_start(driver: Converging, container_id: str, name: str, hook: tuple[str, ...]) -> None:
    """Run the postStart hook right after a start; on failure stop the container (kubelet
    kills it) and fail the action, so it is restarted under its policy and backoff."""
    if not hook:
        return
    try:
        code = driver.exec(container_id, list(hook), POST_START_TIMEOUT)
        why = f"exited with code {code}" if code != 0 else ""
    except (DriverError, TimeoutError) as exc:
        why = str(exc)
    if why:
        driver.stop(container_id, 0)
        raise HookFailed(f"postStart hook of {name} failed ({why}): the container is stopped")


def _pre_stop(driver: Converging, ref: Ref, grace: int) -> int:
    """Run the preStop hook within the grace period; what is left of it for SIGTERM.

    A failing hook does not hold the stop back (as in Kubernetes); a container
    that is not running fails the exec at once.
    """
    if not ref.pre_stop:
        return grace
    began = time.monotonic()
    with contextlib.suppress(DriverError, TimeoutError):
        driver.exec(ref.id, list(ref.pre_stop), max(grace, 1))
    return max(0, grace - int(time.monotonic() - began))


def _run_init(driver: Converging, member: DesiredMember, infra_id: str | None) -> None:
    container_id = driver.create_member(_pod_fields(driver, member, infra_id), infra_id)
    _check_init(member.name, driver.wait(container_id))


def _check_init(name: str, code: int) -> None:
    if code != 0:
        raise InitContainerFailed(f"init container {name} exited with code {code}")
