"""Helpers to build desired units and observed states for planner tests."""

from __future__ import annotations

from dataclasses import replace
from textwrap import dedent

from reconciler.core.actions import Action
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_text
from reconciler.core.models import Mode
from reconciler.core.observed import Observation, ObservedContainer, State
from reconciler.core.planner import Plan, PlanConfig, plan
from reconciler.core.spec import Desired
from reconciler.drivers.docker.capabilities import DOCKER

from .simulator import INSTANCE, Engine


def desired(
    text: str, mode: Mode = Mode.CONTAINER_IN_SANDBOX, offered: frozenset[str] | None = None
) -> Desired:
    """The admitted units of ``text``; ``offered``: the runtimes the engine offers."""
    loaded = load_text(dedent(text), "test.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    return compile_and_admit(
        loaded.manifests,
        BuildConfig(INSTANCE, mode, "pause:test", driver=DOCKER),
        offered,
        values=loaded.values,
    )


def sandbox(
    name: str = "web",
    image: str = "busybox:1",
    sidecar_image: str = "busybox:1",
    restart: str = "Always",
    ports: str = "[]",
    share: str = "[network, ipc]",
    init: bool = False,
    extra: str = "",
) -> str:
    init_block = (
        """
          initContainers:
            - {name: setup, image: busybox:1, command: [sh, -c, 'true']}"""
        if init
        else ""
    )
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: {name}}}
        spec:
          restartPolicy: {restart}
          share: {share}
          ports: {ports}{init_block}
          containers:
            - {{name: app, image: {image}{extra}}}
            - {{name: sidecar, image: {sidecar_image}}}
        """


def config(**kwargs: object) -> PlanConfig:
    return PlanConfig(instance=INSTANCE, **kwargs)  # type: ignore[arg-type]


def converge(want: Desired, engine: Engine | None = None) -> Engine:
    engine = engine or Engine()
    result = engine.apply(plan(want, engine.observe(want.units), config()))
    failed = [u.error for u in result.units if any(not o.ok for o in u.outcomes)]
    assert not failed, failed  # refused units (a port clash, say) are left out, not failed
    return engine


def kinds(p: Plan) -> list[str]:
    return [type(a).__name__ for a in p.actions]


def labels_of(action: Action) -> str:
    for attr in ("ref", "old"):
        ref = getattr(action, attr, None)
        if ref is not None:
            return str(ref.label)
    member = getattr(action, "member", None)
    if member is not None:
        return str(member.name)
    return "infra" if type(action).__name__ == "CreateInfra" else ""


def by_container(engine: Engine, name: str) -> ObservedContainer:
    (found,) = [c for c in engine.containers.values() if (c.container or "infra") == name]
    return found


def set_state(engine: Engine, name: str, **changes: object) -> ObservedContainer:
    c = by_container(engine, name)
    engine.containers[c.id] = replace(c, **changes)  # type: ignore[arg-type]
    return engine.containers[c.id]


def exited(code: int) -> dict[str, object]:
    return {"state": State.EXITED, "exit_code": code}


def observe(engine: Engine) -> Observation:
    return engine.observe()
