"""Admission (core/admission.py, runtimes.py): every refusal kind, and its properties."""

from __future__ import annotations

from textwrap import dedent

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.admission import admit, port_clash
from reconciler.core.compile import BuildConfig, Compiled, compile_units
from reconciler.core.manifests import load_text
from reconciler.core.models import Kind, Mode, Namespace
from reconciler.core.policy import PRIVILEGED
from reconciler.core.runtimes import DriverCapabilities, sharing_problems, unavailable
from reconciler.core.spec import Desired, UnitKey
from reconciler.drivers.docker.capabilities import DOCKER, PROFILES

from .planning import desired, sandbox


def test_a_runtime_without_a_profile_that_the_daemon_lacks_is_named_without_a_hint() -> None:
    (problem,) = unavailable(["my-vm"], frozenset({"runc"}), DOCKER)
    assert problem == "runtime 'my-vm' is not offered by the Docker daemon; it offers: runc"
    (problem,) = unavailable(["runsc"], frozenset(), DOCKER)
    assert problem == "runtime 'runsc' is not offered by the Docker daemon; it offers: none"
    assert unavailable(["runc", "runsc"], frozenset({"runc", "runsc"}), DOCKER) == []


def test_every_member_that_cannot_share_is_named() -> None:
    problems = sharing_problems(
        "runc",
        [("odd", "my-vm"), ("gvisor", "runsc"), ("vm", "kata")],
        [Namespace.NETWORK, Namespace.IPC],
        PROFILES,
    )
    assert any("container odd: no capability profile for runtime 'my-vm'" in p for p in problems)
    assert any(p.startswith("container gvisor (runsc) cannot join the ipc") for p in problems)
    assert any(p.startswith("container vm (kata) cannot join the network") for p in problems)


def test_a_refused_unit_never_hides_the_units_after_it() -> None:
    bad = sandbox(name="api", share="[network, ipc]").replace(
        "restartPolicy: Always", "restartPolicy: Always\n          runtime: runsc"
    )
    want = desired(bad + "---" + sandbox(name="web"))
    assert [key.name for key, _ in want.refused] == ["api"]
    assert [u.key.name for u in want.units] == ["web"]
    web = want.unit(UnitKey(Kind.SANDBOX, "default", "web"))
    assert web is not None and web.key.name == "web"
    assert want.unit(UnitKey(Kind.SANDBOX, "default", "api")) is None


# --- admission.admit: every refusal kind, its message and its order ------------------

CIS, STANDALONE = Mode.CONTAINER_IN_SANDBOX, Mode.STANDALONE
CRI_LIKE = DriverCapabilities("cri", frozenset({CIS}), PROFILES)


def compiled(*docs: tuple[str, str], **config: object) -> tuple[Compiled, ...]:
    """Compile (text, file) pairs, in order, with BuildConfig("t", **config)."""
    pairs = []
    for text, path in docs:
        loaded = load_text(dedent(text), path)
        assert loaded.ok, [str(p) for p in loaded.errors]
        pairs += loaded.manifests
    return compile_units(pairs, _config(config))


def _config(config: dict[str, object]) -> BuildConfig:
    return BuildConfig("t", infra_image="pause:test", **({"driver": DOCKER} | config))  # type: ignore[arg-type]


def admitted(
    *docs: tuple[str, str], offered: frozenset[str] | None = None, **config: object
) -> Desired:
    return admit(
        compiled(*docs, **config),
        _config(config),
        offered,
    )


def unit(
    name: str,
    runtime: str = "runc",
    member: str = "runc",
    share: str = "[network]",
    ports: str = "[]",
    extra: str = "",
    containers: int = 2,
) -> str:
    more = "".join(
        f"\n            - {{name: c{i}, image: x, runtime: {member}}}" for i in range(1, containers)
    )
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: {name}}}
        spec:
          runtime: {runtime}
          share: {share}
          ports: {ports}{extra}
          containers:
            - {{name: c0, image: x}}{more}
        """


def container(name: str, runtime: str = "runc", ports: str = "[]") -> str:
    return f"""
        apiVersion: reconciler/v1
        kind: Container
        metadata: {{name: {name}}}
        spec: {{image: x, runtime: {runtime}, ports: {ports}}}
        """


def reason(desired: Desired, name: str) -> str:
    (found,) = [r for key, r in desired.refused if key.name == name]
    return found


def test_the_policy_refuses_naming_the_file_the_field_and_the_level() -> None:
    privileged = unit("p").replace(
        "- {name: c0, image: x}", "- {name: c0, image: x, securityContext: {privileged: true}}"
    )
    desired = admitted((privileged, "p.yaml"), (unit("ok"), "ok.yaml"))
    assert [u.key.name for u in desired.units] == ["ok"]
    assert reason(desired, "p") == (
        "refused by policy baseline in p.yaml: spec.containers[0].securityContext.privileged: "
        "a privileged container has every capability and the host's devices "
        "(allow: policy.allowPrivileged) (rule privileged)"
    )
    assert not admitted((privileged, "p.yaml"), policy=PRIVILEGED).refused


def test_a_mode_the_driver_cannot_run_is_refused_whether_asked_or_the_default() -> None:
    one = unit("s", containers=1)
    asked = one.replace("share: [network]", "share: [network]\n          mode: standalone")
    for text, mode in ((one, STANDALONE), (asked, CIS)):
        desired = admit(
            compiled((text, "s.yaml"), mode=mode, allowed_modes=frozenset(Mode)),
            BuildConfig("t", mode, allowed_modes=frozenset(Mode), driver=CRI_LIKE),
            None,
        )
        assert reason(desired, "s") == "the cri driver cannot run mode standalone"
    assert admitted((asked, "s.yaml"), allowed_modes=frozenset(Mode)).units


def test_spec_mode_outside_the_allowed_modes_is_refused_and_the_default_needs_no_allowance() -> (
    None
):
    asked = unit("s", containers=1).replace(
        "share: [network]", "share: [network]\n          mode: standalone"
    )
    assert reason(admitted((asked, "s.yaml")), "s") == (
        "spec.mode standalone is not allowed by the operator (allowedModes: container-in-sandbox)"
    )
    assert admitted((asked, "s.yaml"), mode=STANDALONE).units, "the operator's own mode"
    default = admitted((unit("s", containers=1), "s.yaml"), allowed_modes=frozenset({STANDALONE}))
    assert default.units and default.units[0].mode is CIS, "allowedModes bind spec.mode only"


def test_standalone_mode_refuses_more_than_one_container() -> None:
    desired = admitted((unit("s", containers=3), "s.yaml"), mode=STANDALONE)
    assert reason(desired, "s").startswith(
        "standalone mode runs a Sandbox with exactly one container, this one has 3"
    )


def test_what_the_runtimes_cannot_share_is_refused_with_what_would_work() -> None:
    desired = admitted((unit("s", "runc", "runsc", share="[network, ipc]"), "s.yaml"))
    assert reason(desired, "s") == (
        "container c1 (runsc) cannot join the ipc namespace: every runsc container runs its own "
        "gVisor kernel, which keeps its own IPC objects: Docker accepts --ipc=container: and "
        "nothing is shared; what would work: share only what every runtime lends and joins "
        "(e.g. share: [network] with runsc), or run it standalone"
    )
    assert not desired.notes, "a refused unit has no notes"


def test_the_driver_profiles_decide_what_sharing_is_real() -> None:
    runc_only = DriverCapabilities("docker", frozenset(Mode), PROFILES[:1])
    desired = admit(
        compiled((unit("s", "runc", "runsc"), "s.yaml")), BuildConfig("t", driver=runc_only), None
    )
    assert "no capability profile for runtime 'runsc'" in reason(desired, "s")


def test_an_admitted_mixed_sandbox_carries_notes() -> None:
    desired = admitted((unit("s", "runc", "runsc"), "s.yaml"))
    assert desired.units and not desired.refused
    assert [key.name for key, _ in desired.notes] == ["s", "s"]


def test_runtimes_the_operator_does_not_allow_are_refused() -> None:
    desired = admitted((container("c", "runsc"), "c.yaml"), allowed_runtimes=frozenset({"runc"}))
    assert reason(desired, "c") == (
        "runtime(s) runsc not allowed by the operator (allowedRuntimes: runc)"
    )
    none = admitted((container("c"), "c.yaml"), allowed_runtimes=frozenset())
    assert reason(none, "c").endswith("(allowedRuntimes: none)")


def test_a_host_port_goes_to_the_first_manifest_only() -> None:
    port = "[{containerPort: 80, hostPort: 8080}]"
    desired = admitted((unit("a", ports=port), "a.yaml"), (container("b", ports=port), "b.yaml"))
    assert [u.key.name for u in desired.units] == ["a"]
    assert reason(desired, "b") == (
        "host port 0.0.0.0:8080/tcp (b.yaml) is also published by sandbox/a (a.yaml); "
        "one host port takes one unit"
    )


def test_a_refused_unit_holds_no_host_port() -> None:
    port = "[{containerPort: 80, hostPort: 8080}]"
    bad = unit("a", "runc", "runsc", share="[network, ipc]", ports=port)
    desired = admitted((bad, "a.yaml"), (unit("b", ports=port), "b.yaml"))
    assert [u.key.name for u in desired.units] == ["b"]


def test_a_runtime_the_engine_does_not_offer_is_refused_only_when_known() -> None:
    docs = ((container("vm", "kata"), "vm.yaml"), (container("ok"), "ok.yaml"))
    unknown = admitted(*docs)
    assert [u.key.name for u in unknown.units] == ["vm", "ok"] and unknown.offered is None
    known = admitted(*docs, offered=frozenset({"runc"}))
    assert [u.key.name for u in known.units] == ["ok"]
    assert known.offered == frozenset({"runc"})
    assert reason(known, "vm") == (
        "runtime 'kata' is not offered by the Docker daemon (Kata Containers is not installed "
        "on this Docker host); it offers: runc"
    )


def test_every_missing_runtime_of_a_unit_is_named_in_its_one_refusal() -> None:
    one = admitted((unit("s", "runsc", "runc"), "s.yaml"), offered=frozenset({"runc"}))
    assert reason(one, "s") == (
        "runtime 'runsc' is not offered by the Docker daemon; it offers: runc"
    )
    both = admitted((unit("s", "runsc", "crun"), "s.yaml"), offered=frozenset({"runc"}))
    assert reason(both, "s") == (
        "runtime 'crun' is not offered by the Docker daemon; it offers: runc; "
        "runtime 'runsc' is not offered by the Docker daemon; it offers: runc"
    )
    assert not both.notes, "notes are for admitted units only"


def test_a_unit_missing_a_runtime_still_holds_its_host_port() -> None:
    """Which unit holds a port depends on the manifests, never on what the engine has."""
    port = "[{containerPort: 80, hostPort: 8080}]"
    docs = ((container("vm", "kata", port), "vm.yaml"), (container("b", ports=port), "b.yaml"))
    desired = admitted(*docs, offered=frozenset({"runc"}))
    assert not desired.units
    assert [key.name for key, _ in desired.refused] == ["vm", "b"], "in manifest order"
    assert "also published by container/vm" in reason(desired, "b")


def test_the_first_refusal_that_applies_is_the_reason() -> None:
    """Policy, then mode, then sharing, then allowed runtimes, then ports, then the engine."""
    port = "[{containerPort: 80, hostPort: 8080}]"
    privileged_kata = container("c", "kata", port).replace(
        "ports: [", "securityContext: {privileged: true}, ports: ["
    )
    desired = admitted(
        (privileged_kata, "c.yaml"),
        offered=frozenset({"runc"}),
        allowed_runtimes=frozenset({"runc"}),
    )
    assert reason(desired, "c").startswith("refused by policy baseline")
    desired = admitted(
        (container("c", "kata"), "c.yaml"),
        offered=frozenset({"runc"}),
        allowed_runtimes=frozenset({"runc"}),
    )
    assert reason(desired, "c").startswith("runtime(s) kata not allowed by the operator")


# --- properties -------------------------------------------------------------------------

RUNTIME_NAMES = ["runc", "runsc", "kata", "youki"]
SHARE_SETS = ["[network]", "[network, ipc]", "[network, pid]", "[network, ipc, pid]"]
PORTS = ["[]", "[{containerPort: 80, hostPort: 8080}]", "[{containerPort: 80, hostPort: 8081}]"]


@st.composite
def manifests(draw: st.DrawFn) -> list[tuple[str, str]]:
    docs = []
    for i in range(draw(st.integers(1, 5))):
        runtime = draw(st.sampled_from(RUNTIME_NAMES))
        ports = draw(st.sampled_from(PORTS))
        if draw(st.booleans()):
            docs.append((container(f"u{i}", runtime, ports), f"u{i}.yaml"))
        else:
            text = unit(
                f"u{i}",
                runtime,
                draw(st.sampled_from(RUNTIME_NAMES)),
                draw(st.sampled_from(SHARE_SETS)),
                ports,
                containers=draw(st.integers(1, 2)),
            )
            docs.append((text, f"u{i}.yaml"))
    return docs


offered_sets = st.none() | st.frozensets(st.sampled_from(RUNTIME_NAMES))


@given(manifests(), offered_sets, st.sampled_from(list(Mode)))
def test_admission_never_admits_a_runtime_the_engine_does_not_offer(
    docs: list[tuple[str, str]], offered: frozenset[str] | None, mode: Mode
) -> None:
    desired = admitted(*docs, offered=offered, mode=mode)
    for admitted_unit in desired.units:
        assert offered is None or admitted_unit.runtimes <= offered


@given(manifests(), offered_sets, st.sampled_from(list(Mode)))
def test_every_unit_is_admitted_or_refused_once_in_manifest_order(
    docs: list[tuple[str, str]], offered: frozenset[str] | None, mode: Mode
) -> None:
    units = compiled(*docs, mode=mode)
    desired = admit(units, BuildConfig("t", mode, driver=DOCKER), offered)
    keys = [c.unit.key for c in units]
    admitted_keys = [u.key for u in desired.units]
    refused_keys = [key for key, _ in desired.refused]
    assert sorted(admitted_keys + refused_keys) == sorted(keys)
    assert admitted_keys == [k for k in keys if k in admitted_keys]
    assert refused_keys == [k for k in keys if k in refused_keys]
    assert all(r for _, r in desired.refused)
    assert {key for key, _ in desired.notes} <= set(admitted_keys)


@given(manifests(), st.frozensets(st.sampled_from(RUNTIME_NAMES)))
def test_knowing_the_engine_only_refuses_more_and_only_for_its_runtimes(
    docs: list[tuple[str, str]], offered: frozenset[str]
) -> None:
    unknown = admitted(*docs)
    known = admitted(*docs, offered=offered)
    assert {u.key for u in known.units} <= {u.key for u in unknown.units}
    for key, why in known.refused:
        if unknown.unit(key) is not None:
            assert "is not offered by the Docker daemon" in why
    assert dict(unknown.refused).items() <= dict(known.refused).items()


@given(manifests(), offered_sets)
def test_admitted_units_never_publish_one_host_port_twice(
    docs: list[tuple[str, str]], offered: frozenset[str] | None
) -> None:
    desired = admitted(*docs, offered=offered)
    for i, a in enumerate(desired.units):
        for b in desired.units[i + 1 :]:
            assert port_clash(b, a) is None
