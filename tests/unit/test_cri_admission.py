"""Admission under the cri driver: every runtime x share x mode, against Docker's verdicts."""

from __future__ import annotations

from textwrap import dedent

import pytest

from reconciler.core.admission import admit
from reconciler.core.compile import BuildConfig, compile_units
from reconciler.core.manifests import load_text
from reconciler.core.models import Mode
from reconciler.core.policy import PRIVILEGED
from reconciler.core.runtimes import DriverCapabilities, SandboxKind
from reconciler.drivers.cri.capabilities import CRI
from reconciler.drivers.docker.capabilities import DOCKER

RUNTIMES = ("runc", "runsc", "kata")
SHARES = ("[network]", "[network, ipc]", "[network, pid]", "[network, ipc, pid]")
OFFERED = frozenset({"runc", "runsc"})  # this machine's containerd: no Kata handler


def _pod(runtime: str, share: str, mode: str = "", member_runtime: str = "") -> str:
    override = f", runtime: {member_runtime}" if member_runtime else ""
    return dedent(
        f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: web}}
        spec:
          runtime: {runtime}
          share: {share}
          {f"mode: {mode}" if mode else ""}
          containers:
            - {{name: app, image: busybox:1{override}}}
            - {{name: side, image: busybox:1}}
        """
    )


def _admit(
    text: str,
    driver: DriverCapabilities,
    offered: frozenset[str] | None,
    allowed_modes: frozenset[Mode] | None = None,
) -> tuple[list[str], list[str]]:
    loaded = load_text(text, "pod.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    config = BuildConfig("t", driver=driver, allowed_modes=allowed_modes)
    compiled = compile_units(loaded.manifests, config, values=loaded.values)
    want = admit(compiled, config, offered)
    return [u.key.name for u in want.units], [why for _, why in want.refused]


def test_the_cri_capabilities_are_declared() -> None:
    assert CRI.name == "cri"
    assert CRI.modes == frozenset({Mode.CONTAINER_IN_SANDBOX})
    assert CRI.sandbox is SandboxKind.ENGINE_POD
    assert not CRI.in_place and DOCKER.in_place
    assert [p.name for p in CRI.profiles] == ["runc", "runsc", "kata"]


@pytest.mark.parametrize("share", SHARES)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_shares_every_namespace_of_its_pod(runtime: str, share: str) -> None:
    """One handler for the pod: runc namespaces, one gVisor kernel, one Kata VM; IPC is
    always the pod's under CRI, so a sandbox that keeps it apart is refused."""
    admitted, refused = _admit(_pod(runtime, share), CRI, None)
    if "ipc" in share:
        assert (admitted, refused) == (["web"], [])
    else:
        assert admitted == []
        assert refused == [
            "spec.share: share without ipc is not supported by the cri driver: containerd "
            "1.6 puts every container of a pod in the pod's IPC namespace (CRI has no "
            "container-level IPC namespace; measured): add ipc to share, or run the "
            "containers as pods of their own"
        ]


@pytest.mark.parametrize("share", SHARES)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_against_the_handlers_offered_only_kata_is_refused_by_name(
    runtime: str, share: str
) -> None:
    admitted, refused = _admit(_pod(runtime, share), CRI, OFFERED)
    if "ipc" not in share:
        assert admitted == [] and "IPC namespace" in refused[0]
    elif runtime == "kata":
        assert admitted == []
        assert refused == [
            "runtime 'kata' is not offered by the CRI runtime (no Kata runtime handler, "
            "containerd-shim-kata-v2, is configured here); it offers: runc, runsc"
        ]
    else:
        assert (admitted, refused) == (["web"], [])


@pytest.mark.parametrize("share", SHARES)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_docker_still_refuses_what_its_per_container_runtimes_cannot_share(
    runtime: str, share: str
) -> None:
    admitted, refused = _admit(_pod(runtime, share), DOCKER, None)
    really_shared = runtime == "runc" or (runtime == "runsc" and share == "[network]")
    assert (admitted == ["web"]) is really_shared
    assert bool(refused) is not really_shared


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_standalone_mode_is_refused_with_the_reason(runtime: str) -> None:
    text = _pod(runtime, "[network, ipc]", mode="standalone")
    admitted, refused = _admit(text, CRI, OFFERED, frozenset(Mode))
    assert admitted == []
    assert refused == ["the cri driver cannot run mode standalone"]


@pytest.mark.parametrize(
    ("pod", "member"), [("runc", "runsc"), ("runsc", "runc"), ("runc", "kata")]
)
def test_a_per_container_runtime_override_is_refused(pod: str, member: str) -> None:
    admitted, (refusal,) = _admit(_pod(pod, "[network, ipc]", member_runtime=member), CRI, None)
    assert admitted == []
    assert refusal == (
        "spec.containers[0].runtime: a runtime per container is not supported by the cri "
        "driver: a CRI pod runs one runtime handler (spec.runtime) for all its containers: "
        "drop the per-container runtime, or run it as a pod of its own"
    )


def test_a_member_naming_the_pods_own_runtime_is_no_override() -> None:
    assert _admit(_pod("runsc", "[network, ipc, pid]", member_runtime="runsc"), CRI, OFFERED) == (
        ["web"],
        [],
    )


@pytest.mark.parametrize("runtime", ["runc", "runsc", "kata"])
def test_a_container_runs_as_a_one_container_pod(runtime: str) -> None:
    text = dedent(
        f"""
        apiVersion: reconciler/v1
        kind: Container
        metadata: {{name: solo}}
        spec: {{image: busybox:1, runtime: {runtime}}}
        """
    )
    admitted, refused = _admit(text, CRI, OFFERED)
    assert admitted == ([] if runtime == "kata" else ["solo"])
    assert bool(refused) is (runtime == "kata")


def test_a_privileged_container_is_refused_before_a_pod_is_made() -> None:
    text = _pod("runc", "[network, ipc]").replace(
        "{name: side, image: busybox:1}",
        "{name: side, image: busybox:1, securityContext: {privileged: true}}",
    )
    loaded = load_text(text, "pod.yaml")
    config = BuildConfig("t", driver=CRI, policy=PRIVILEGED)
    compiled = compile_units(loaded.manifests, config, values=loaded.values)
    want = admit(compiled, config, OFFERED)
    assert [why for _, why in want.refused] == [
        "spec.containers[1].securityContext.privileged: a privileged container in a sandbox "
        "is not supported by the cri driver: containerd runs a privileged container only in a "
        'privileged pod sandbox ("no privileged container allowed in sandbox"), which this '
        "driver does not make"
    ]
