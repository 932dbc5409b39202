"""One reconcile: observe → admit → plan → execute. Does I/O (through the driver only).

``apply``, ``diff``, ``delete``, ``sync --once`` and the control loop's pass
over one unit all go through ``reconcile``: it observes the containers the
units concern, admits the units against the runtimes the engine offers and,
where a unit needs them, the facts the engine tells of its images and
storage (core/admission.py), plans (core/planner.py) and, unless it is a dry
run, executes the plan (executor.py). Units another process changed meanwhile
(``observe_again``) are observed and planned again, a few rounds at most.

It prints nothing and picks no exit code: callers print through the hooks
and map ``Reconciled.verdict`` to their own exit codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from reconciler.converge.executor import DEFAULT_PARALLEL, OnBegin, OnOutcome, Result, execute
from reconciler.core.admission import admit, admit_facts, facts_wanted
from reconciler.core.compile import BuildConfig, Compiled
from reconciler.core.errors import ReconcilerError
from reconciler.core.observed import Observation
from reconciler.core.planner import Plan, PlanConfig, plan
from reconciler.core.spec import Desired, UnitKey
from reconciler.drivers.base import Converging

# How often a unit that another process changed meanwhile is observed and planned
# again: a process converging the same sandbox can beat us to each of its members
# in turn, so a round waits a little longer each time (0.2 s, 0.4 s, ...).
OBSERVE_AGAIN_ROUNDS = 10
OBSERVE_AGAIN_WAIT = 0.2

# The plan's configuration, or a function of what was observed and admitted that
# gives it (None: nothing of this is to be planned, e.g. another source's unit).
Configure = PlanConfig | Callable[[Observation, Desired], PlanConfig | None]
OnPlan = Callable[[Desired, Plan], None]


class Verdict(Enum):
    """How a reconcile ended, for callers that turn it into an exit code."""

    OK = "ok"  # converged, or nothing to change
    CHANGES = "changes"  # not executed (dry run) and the plan changes something
    FAILED = "failed"  # a unit was refused or an action failed
    ERROR = "error"  # the engine could not be observed: nothing is known


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconcile saw, decided and did.

    ``plan`` is the first plan (replans only add outcomes to ``result``);
    ``result`` is None when nothing was executed (a dry run, an error, or
    nothing to plan); ``error`` says why the engine could not be observed.
    """

    plan: Plan = field(default_factory=Plan)
    result: Result | None = None
    observed: Observation | None = None
    desired: Desired | None = None  # as planned: admitted, then held to the engine's facts
    config: PlanConfig | None = None  # None: nothing was planned
    admitted: Desired | None = None  # before the facts: what a caller may keep and hand back
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        return verdict(self)


def verdict(reconciled: Reconciled) -> Verdict:
    """ok / changes / failed / error, from what was planned and done."""
    if reconciled.error is not None:
        return Verdict.ERROR
    if reconciled.result is not None:
        return Verdict.OK if reconciled.result.ok else Verdict.FAILED
    if reconciled.plan.errors:
        return Verdict.FAILED
    return Verdict.CHANGES if reconciled.plan.has_changes else Verdict.OK


def reconcile(
    driver: Converging,
    compiled: Sequence[Compiled],
    build: BuildConfig,
    configure: Configure,
    *,
    dry_run: bool = False,
    parallel: int = DEFAULT_PARALLEL,
    unit: UnitKey | None = None,
    admitted: Desired | None = None,
    rounds: int = OBSERVE_AGAIN_ROUNDS,
    observed: Observation | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_plan: OnPlan | None = None,
    on_begin: OnBegin | None = None,
    on_outcome: OnOutcome | None = None,
) -> Reconciled:
    """Observe, admit, plan and (unless ``dry_run``) execute ``compiled``'s units.

    ``unit``: observe only that unit (the loop's pass); ``admitted``: the units
    as already admitted, kept while the engine offers the runtimes they were
    admitted against; ``rounds``: how often units another process changed
    meanwhile are planned again, waiting ``sleep(0.2 s * round)`` before each;
    ``observed``: a view the caller knows to be fresh enough (the loop's, see
    loop/views.py), planned from instead of a first observation;
    ``on_plan`` sees every plan before it runs.
    """
    units = [c.unit for c in compiled if unit is None or c.unit.key == unit]

    def observe() -> Observation:
        return driver.observe(units, unit=unit)

    if observed is None:
        try:
            observed = observe()
        except ReconcilerError as exc:
            return Reconciled(error=str(exc))
    if admitted is None or (
        observed.runtimes is not None and observed.runtimes != admitted.offered
    ):
        admitted = admit(compiled, build, observed.runtimes)
    desired = admitted
    wanted = facts_wanted(desired, unit)
    if wanted:
        try:
            desired = admit_facts(desired, driver.facts(wanted, pull=not dry_run), dry_run)
        except ReconcilerError as exc:
            return Reconciled(observed=observed, error=str(exc), admitted=admitted)
    config = configure(observed, desired) if callable(configure) else configure
    if config is None:
        return Reconciled(observed=observed, desired=desired, admitted=admitted)
    first = _plan(desired, observed, config, on_plan)
    done = Reconciled(first, None, observed, desired, config, admitted=admitted)
    if dry_run:
        return done
    result = execute(first, driver, parallel, on_outcome=on_outcome, on_begin=on_begin)
    for round_ in range(rounds):
        again = frozenset(u.key for u in result.units if u.observe_again)
        if not again:
            break
        sleep(OBSERVE_AGAIN_WAIT * (round_ + 1))
        try:
            observed = observe()
        except ReconcilerError as exc:
            return replace(done, result=result, error=str(exc))
        replanned = _plan(desired, observed, replace(config, only=again), on_plan)
        more = execute(replanned, driver, parallel, on_outcome=on_outcome, on_begin=on_begin)
        result = result.followed_by(more)
    return replace(done, result=result)


def _plan(
    desired: Desired, observed: Observation, config: PlanConfig, on_plan: OnPlan | None
) -> Plan:
    planned = plan(desired, observed, config)
    if on_plan is not None:
        on_plan(desired, planned)
    return planned


__all__ = [
    "OBSERVE_AGAIN_ROUNDS",
    "Configure",
    "Reconciled",
    "Verdict",
    "reconcile",
    "verdict",
]
