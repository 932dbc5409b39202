"""Properties of the planner over generated states (hypothesis), without a daemon.

1. Applying a plan to a simulated engine and planning again gives no actions.
2. The order in which the engine lists containers does not change the plan.
3. Containers of another instance never appear in a plan.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import labels as L
from reconciler.desired import Desired
from reconciler.models import Mode
from reconciler.observed import ContainerId, Observation, State
from reconciler.planner import plan

from .planning import INSTANCE, config, converge, desired
from .simulator import Engine

IMAGES = ["busybox:1", "busybox:2"]


@st.composite
def manifests(draw: st.DrawFn) -> str:
    docs = []
    for name in draw(st.lists(st.sampled_from(["web", "api", "db"]), unique=True, max_size=3)):
        standalone_kind = draw(st.booleans()) and name == "db"
        policy = draw(st.sampled_from(["Always", "OnFailure", "Never"]))
        if standalone_kind:
            docs.append(
                f"""
apiVersion: reconciler/v1
kind: Container
metadata: {{name: {name}}}
spec: {{image: {draw(st.sampled_from(IMAGES))}, restartPolicy: {policy}}}
"""
            )
            continue
        members = draw(
            st.lists(st.sampled_from(["a", "b", "c"]), unique=True, min_size=1, max_size=3)
        )
        containers = "\n".join(
            f"    - {{name: {m}, image: {draw(st.sampled_from(IMAGES))}}}" for m in members
        )
        init = draw(
            st.sampled_from(
                [
                    "",
                    "  initContainers: [{name: setup, image: busybox:1}]\n",
                    # a native sidecar between two init containers
                    "  initContainers: [{name: setup, image: busybox:1}, {name: log, image: "
                    f"{draw(st.sampled_from(IMAGES))}, restartPolicy: Always}}, "
                    "{name: check, image: busybox:1}]\n",
                ]
            )
        )
        share = draw(st.sampled_from(["[network]", "[network, ipc]", "[network, ipc, pid]"]))
        port = draw(st.sampled_from(["[]", "[{containerPort: 80, hostPort: 8080}]"]))
        docs.append(
            f"""
apiVersion: reconciler/v1
kind: Sandbox
metadata: {{name: {name}}}
spec:
  restartPolicy: {policy}
  share: {share}
  ports: {port}
{init}  containers:
{containers}
"""
        )
    return "---".join(docs) or "{}\n"


def _desired(text: str, mode: Mode) -> Desired:
    if text.strip() == "{}":
        return Desired()
    return desired(text, mode)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Desired, Observation]:
    """A previous desired state, converged, then disturbed; and a new desired state."""
    mode = draw(st.sampled_from(list(Mode)))
    before = _desired(draw(manifests()), Mode.CONTAINER_IN_SANDBOX)
    engine = converge(before)
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(0, 6))):
        if not engine.containers:
            break
        victim = engine.containers[rng.choice(sorted(engine.containers))]
        match rng.choice(["kill", "remove", "restart", "duplicate", "foreign", "create"]):
            case "kill":
                engine.containers[victim.id] = replace(
                    victim, state=State.EXITED, exit_code=rng.choice([0, 1, 137])
                )
            case "remove":
                del engine.containers[victim.id]
            case "restart":
                engine.start(victim.id, restart=True)
            case "duplicate":
                copy = ContainerId(f"{rng.getrandbits(256):064x}")
                engine.containers[copy] = replace(victim, id=copy, created=victim.created + 0.5)
            case "foreign":
                copy = ContainerId(f"{rng.getrandbits(256):064x}")
                engine.containers[copy] = replace(
                    victim, id=copy, labels={**victim.labels, L.MANAGED_BY: "other"}
                )
            case "create":
                engine.containers[victim.id] = replace(victim, state=State.CREATED, started_at=None)
    after = _desired(draw(manifests()), mode)
    return after, engine.observe()


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.booleans())
def test_applying_a_plan_then_planning_again_changes_nothing(
    scenario: tuple[Desired, Observation], prune: bool
) -> None:
    want, observed = scenario
    engine = Engine(observed)
    cfg = config(prune=prune, allow_empty=True)
    engine.apply(plan(want, engine.observe(), cfg))
    again = plan(want, engine.observe(), cfg)
    assert again.actions == [], [(type(a).__name__, a.reason) for a in again.actions]


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_observed_order_does_not_change_the_plan(
    scenario: tuple[Desired, Observation], rng: random.Random
) -> None:
    want, observed = scenario
    shuffled = list(observed.containers)
    rng.shuffle(shuffled)
    cfg = config(prune=True, allow_empty=True)
    assert plan(want, observed, cfg) == plan(want, Observation(tuple(shuffled)), cfg)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_unmanaged_containers_never_appear_in_a_plan(scenario: tuple[Desired, Observation]) -> None:
    want, observed = scenario
    theirs = {c.id for c in observed.containers if c.labels.get(L.MANAGED_BY) != INSTANCE}
    p = plan(want, observed, config(prune=True, allow_empty=True))
    for action in p.actions:
        for attr in ("ref", "old"):
            ref = getattr(action, attr, None)
            assert ref is None or ref.id not in theirs
    assert all(u.infra_id not in theirs for u in p.units)
