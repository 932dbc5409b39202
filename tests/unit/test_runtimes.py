"""The runtime, mode and shared-namespace matrix, exhaustively, without a daemon."""

from __future__ import annotations

import itertools
from textwrap import dedent

import pytest

from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_text
from reconciler.core.models import Mode
from reconciler.core.runtimes import profile, unavailable
from reconciler.core.spec import Desired
from reconciler.drivers.docker.capabilities import DOCKER, PROFILES

RUNTIMES = ["runc", "runsc", "kata"]
SHARES = [["network"], ["network", "ipc"], ["network", "pid"], ["network", "ipc", "pid"]]

# The facts (docs/isolation.md): which (infra, member, share) really share.
REAL = {("runc", "runc", tuple(s)) for s in SHARES} | {
    ("runc", "runsc", ("network",)),
    ("runsc", "runc", ("network",)),
    ("runsc", "runsc", ("network",)),
}


def build(text: str, **config: object) -> Desired:
    loaded = load_text(dedent(text), "t.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    return compile_and_admit(
        loaded.manifests,
        BuildConfig("t", **({"driver": DOCKER} | config)),  # type: ignore[arg-type], values=loaded.values
    )


def sandbox(infra: str, member: str, share: list[str], mode: str = "") -> str:
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: s}}
        spec:
          runtime: {infra}
          share: [{", ".join(share)}]
          {f"mode: {mode}" if mode else ""}
          containers:
            - {{name: a, image: x, runtime: {member}}}
            - {{name: b, image: x}}
        """


@pytest.mark.parametrize(
    ("infra", "member", "share"),
    [(i, m, tuple(s)) for i, m, s in itertools.product(RUNTIMES, RUNTIMES, SHARES)],
)
def test_every_combination_is_either_real_or_refused_with_a_reason(
    infra: str, member: str, share: tuple[str, ...]
) -> None:
    desired = build(sandbox(infra, member, list(share)))
    if (infra, member, share) in REAL:
        assert len(desired.units) == 1 and not desired.refused
        (unit,) = desired.units
        assert unit.infra is not None and unit.infra.spec.runtime == infra
        assert [m.spec.runtime for m in unit.members] == [member, infra]
        assert all(m.spec.joins == share for m in unit.members)
    else:
        assert not desired.units
        ((_, reason),) = desired.refused
        assert "what would work" in reason
        culprit = "kata" if "kata" in (infra, member) else "runsc"
        assert culprit in reason
        assert any(ns in reason for ns in share)


def test_runsc_sharing_the_network_says_what_it_costs() -> None:
    desired = build(sandbox("runc", "runsc", ["network"]))
    notes = [n for _, n in desired.notes]
    assert any("--network=host" in n and "bypassed" in n for n in notes)
    assert any("mixed runtimes" in n and "gVisor" in n for n in notes)
    assert not build(sandbox("runc", "runc", ["network", "ipc", "pid"])).notes


def test_unknown_runtime_is_refused_in_a_sandbox_but_runs_standalone() -> None:
    refused = build(sandbox("youki", "youki", ["network"]))
    assert "no capability profile for runtime 'youki'" in refused.refused[0][1]
    standalone = build(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec: {image: x, runtime: youki}
        """
    )
    assert standalone.units and standalone.units[0].runtimes == {"youki"}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_any_runtime_runs_a_one_container_sandbox_standalone(runtime: str) -> None:
    text = f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: s}}
        spec:
          runtime: {runtime}
          ports: [{{containerPort: 80, hostPort: 8080}}]
          containers: [{{name: a, image: x}}]
        """
    (unit,) = build(text, mode=Mode.STANDALONE).units
    assert unit.infra is None
    (member,) = unit.members
    assert member.spec.runtime == runtime and member.spec.joins == ()
    assert [p.host_port for p in member.spec.ports] == [8080]


def test_standalone_mode_refuses_a_three_container_sandbox() -> None:
    text = sandbox("runc", "runc", ["network"]).replace(
        "            - {name: b, image: x}",
        "            - {name: b, image: x}\n            - {name: c, image: x}",
    )
    desired = build(text, mode=Mode.STANDALONE)
    assert not desired.units
    assert "exactly one container, this one has 3" in desired.refused[0][1]


def test_spec_mode_only_where_the_operator_allows_it() -> None:
    one = """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: s}
        spec:
          mode: standalone
          containers: [{name: a, image: x}]
        """
    refused = build(one)
    assert "spec.mode standalone is not allowed" in refused.refused[0][1]
    allowed = build(one, allowed_modes=frozenset(Mode))
    assert allowed.units[0].infra is None and allowed.units[0].mode is Mode.STANDALONE


def test_default_and_allowed_runtimes_come_from_the_operator() -> None:
    text = """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: s}
        spec:
          containers: [{name: a, image: x}]
        """
    (unit,) = build(text, default_runtime="crun").units
    assert unit.runtimes == {"crun"}
    refused = build(text, allowed_runtimes=frozenset({"runsc"}))
    assert "runtime(s) runc not allowed by the operator" in refused.refused[0][1]


def test_a_pod_cannot_name_a_runtime_per_container() -> None:
    loaded = load_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec:\n  containers: [{name: a, image: x, runtime: runsc}]\n",
        "p.yaml",
    )
    assert [str(p) for p in loaded.errors] == [
        "p.yaml:5:36: spec.containers[0].runtime: unknown field"
    ]


def test_aliases_and_unavailable_runtimes() -> None:
    assert profile("io.containerd.kata.v2", PROFILES) is profile("kata", PROFILES)
    assert profile("io.containerd.runc.v2", PROFILES) is profile("runc", PROFILES)
    offered = frozenset({"runc", "runsc"})
    assert unavailable({"runc", "runsc"}, offered, DOCKER) == []
    (problem,) = unavailable({"kata", "runc"}, offered, DOCKER)
    assert "'kata' is not offered" in problem and "Kata Containers is not installed" in problem
