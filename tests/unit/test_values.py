"""env's valueFrom and envFrom across the files of a source, as kubelet resolves them."""

from __future__ import annotations

from textwrap import dedent

import pytest

from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import LoadResult, load_text
from reconciler.core.policy import PRIVILEGED
from reconciler.core.spec import Desired
from reconciler.core.values import Node, fill_pod_fields, pod_uid, waits_for_pod
from reconciler.drivers.docker.capabilities import DOCKER

NODE = Node(name="node-1", ip="10.0.0.5", cpu_millis=4000, memory_bytes=8 * 2**30)
SETTINGS = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {MODE: prod, RAW: "$(MODE)"}
    ---
    apiVersion: v1
    kind: Secret
    metadata: {name: creds}
    stringData: {PASSWORD: s3cret}
    """


def pod(env: str, more: str = "", name: str = "web") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {name}
          labels: {{app: web}}
          annotations: {{team: core}}
        spec:
          containers:
            - name: app
              image: x
              resources: {{limits: {{memory: 64Mi}}, requests: {{cpu: 250m}}}}
              env: {env}
              {more}
            - name: side
              image: x
              resources: {{limits: {{cpu: "1.5"}}}}
        """


def load(*files: str) -> LoadResult:
    loaded = LoadResult()
    for index, text in enumerate(files):
        loaded.extend(load_text(dedent(text), f"f{index}.yaml"))
    assert loaded.ok, [str(p) for p in loaded.errors]
    return loaded


def desired(*files: str, node: Node = NODE) -> Desired:
    loaded = load(*files)
    config = BuildConfig("i", policy=PRIVILEGED, driver=DOCKER, node=node)
    return compile_and_admit(loaded.manifests, config, values=loaded.values)


def env_of(*files: str) -> dict[str, str]:
    want = desired(*files)
    assert not want.refused, want.refused
    return {e.name: e.value for e in want.units[0].workloads[0].spec.env}


def refusal(*files: str) -> str:
    want = desired(*files)
    ((_, why),) = want.refused
    return why


def test_a_key_of_a_config_map_or_secret_in_another_file() -> None:
    env = env_of(
        SETTINGS,
        pod(
            "[{name: M, valueFrom: {configMapKeyRef: {name: settings, key: MODE}}},"
            " {name: P, valueFrom: {secretKeyRef: {name: creds, key: PASSWORD}}},"
            " {name: R, valueFrom: {configMapKeyRef: {name: settings, key: RAW}}},"
            " {name: S, value: '$(M)-$(R)'}]"
        ),
    )
    # A value read from elsewhere is never expanded; a later entry's reference sees it.
    assert env == {"M": "prod", "P": "s3cret", "R": "$(MODE)", "S": "prod-$(MODE)"}


def test_a_key_that_is_not_there_refuses_the_unit_unless_optional() -> None:
    why = refusal(
        SETTINGS, pod("[{name: M, valueFrom: {configMapKeyRef: {name: settings, key: NOPE}}}]")
    )
    assert why.startswith("f1.yaml:")
    assert "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: ConfigMap " in why
    assert "default/settings has no key 'NOPE'" in why
    optional = "{configMapKeyRef: {name: settings, key: NOPE, optional: true}}"
    assert env_of(SETTINGS, pod(f"[{{name: M, valueFrom: {optional}}}]")) == {}


def test_a_config_map_defined_nowhere_or_twice_is_named() -> None:
    read = pod("[{name: M, valueFrom: {configMapKeyRef: {name: settings, key: MODE}}}]")
    assert "ConfigMap default/settings is not defined in the source" in refusal(read)
    twice = refusal(SETTINGS, SETTINGS.replace("creds", "other"), read)
    assert (
        "ConfigMap default/settings is defined more than once (f0.yaml:2:1 and f1.yaml:2:1)"
        in twice
    )


def test_the_pods_fields_as_the_downward_api_gives_them() -> None:
    fields = {
        "N": "metadata.name",
        "NS": "metadata.namespace",
        "L": "metadata.labels['app']",
        "A": "metadata.annotations['team']",
        "MISSING": "metadata.labels['nope']",
        "NODE": "spec.nodeName",
        "SA": "spec.serviceAccountName",
        "HOST": "status.hostIP",
    }
    entries = ", ".join(
        f'{{name: {name}, valueFrom: {{fieldRef: {{fieldPath: "{path}"}}}}}}'
        for name, path in fields.items()
    )
    assert env_of(pod(f"[{entries}]")) == {
        "N": "web",
        "NS": "default",
        "L": "web",
        "A": "core",
        "MISSING": "",
        "NODE": "node-1",
        "SA": "default",
        "HOST": "10.0.0.5",
    }


def test_a_field_kubernetes_does_not_give_env_is_refused_by_name() -> None:
    loaded = load_text(
        dedent(pod("[{name: X, valueFrom: {fieldRef: {fieldPath: spec.hostname}}}]")), "p.yaml"
    )
    (problem,) = loaded.errors
    assert "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath" in str(problem)
    assert "'spec.hostname' is not one Kubernetes gives an env var" in str(problem)


def test_value_and_value_from_together_are_refused() -> None:
    loaded = load_text(
        dedent(pod("[{name: X, value: a, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]")),
        "p.yaml",
    )
    (problem,) = loaded.errors
    assert "value and valueFrom are exclusive" in str(problem)


def test_resources_with_divisors_and_the_nodes_allocatable_for_unset_limits() -> None:
    def ref(resource: str, divisor: str = "1", container: str = "") -> str:
        return (
            f"{{resourceFieldRef: {{resource: {resource}, divisor: '{divisor}'"
            f"{', containerName: ' + container if container else ''}}}}}"
        )

    refs = {
        "MEM_MI": ref("limits.memory", "1Mi"),
        "MEM_REQ": ref("requests.memory"),  # unset: the limit, as the API server defaults it
        "CPU_LIMIT": ref("limits.cpu"),  # unset: the node's 4 cores
        "CPU_REQ_M": ref("requests.cpu", "1m"),
        "CPU_REQ": ref("requests.cpu"),  # 250m, rounded up to whole cores
        "SIDE_CPU": ref("limits.cpu", "1", "side"),  # 1.5 rounded up
    }
    entries = ", ".join(f"{{name: {n}, valueFrom: {v}}}" for n, v in refs.items())
    assert env_of(pod(f"[{entries}]")) == {
        "MEM_MI": "64",
        "MEM_REQ": str(64 * 2**20),
        "CPU_LIMIT": "4",
        "CPU_REQ_M": "250",
        "CPU_REQ": "1",
        "SIDE_CPU": "2",
    }


@pytest.mark.parametrize(
    ("resource", "divisor", "why"),
    [
        ("limits.cpu", "1Mi", "'1Mi' is not a divisor Kubernetes takes for cpu"),
        ("limits.memory", "1m", "'1m' is not a divisor Kubernetes takes for memory"),
    ],
)
def test_a_divisor_kubernetes_refuses_is_refused(resource: str, divisor: str, why: str) -> None:
    text = pod(
        f"[{{name: X, valueFrom: {{resourceFieldRef: {{resource: {resource}, "
        f"divisor: '{divisor}'}}}}}}]"
    )
    assert why in refusal(text)
    other = pod(
        "[{name: X, valueFrom: {resourceFieldRef: {resource: limits.cpu, containerName: nope}}}]"
    )
    assert "no container 'nope' in this pod" in refusal(other)


def test_the_pods_address_and_uid_are_filled_in_when_the_container_is_created() -> None:
    text = pod(
        "[{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}},"
        " {name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}},"
        " {name: URL, value: 'http://$(POD_IP):80'}]",
        more='args: ["--listen=$(POD_IP)", "$$(POD_IP)"]',
    )
    (unit,) = desired(text).units
    app = unit.workloads[0]
    assert waits_for_pod(app.spec) and not waits_for_pod(unit.workloads[1].spec)
    filled = fill_pod_fields(app, "172.17.0.9", pod_uid("abc"))
    env = {e.name: e.value for e in filled.spec.env}
    assert env["POD_IP"] == "172.17.0.9" and env["URL"] == "http://172.17.0.9:80"
    assert env["UID"] == pod_uid("abc") != pod_uid("abd")
    assert filled.spec.args == ("--listen=172.17.0.9", "$(POD_IP)")
    assert not waits_for_pod(filled.spec)
    # The hash is the compiled spec's: the same for every pod the unit gets.
    assert filled.hash == app.hash
    assert desired(text).units[0].workloads[0].hash == app.hash


def test_a_standalone_container_cannot_have_its_pods_address() -> None:
    text = """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: solo}
        spec:
          image: x
          env: [{name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
        """
    assert "status.podIP, status.podIPs and metadata.uid need a sandbox" in refusal(text)


def test_a_changed_value_changes_the_hash_of_its_readers_only() -> None:
    reader = pod("[{name: M, valueFrom: {configMapKeyRef: {name: settings, key: MODE}}}]")
    other = pod("[{name: A, value: b}]", name="other")
    before = {u.key.name: u.workloads[0].hash for u in desired(SETTINGS, reader, other).units}
    changed = SETTINGS.replace("MODE: prod", "MODE: dev")
    after = {u.key.name: u.workloads[0].hash for u in desired(changed, reader, other).units}
    assert before["web"] != after["web"] and before["other"] == after["other"]


def test_a_sub_path_expr_of_the_pods_address_is_filled_in_too() -> None:
    text = pod(
        "[{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]",
        more="volumeMounts: [{name: v, mountPath: /v, subPathExpr: '$(POD_IP)'}]",
    ).replace("containers:", "volumes: [{name: v, emptyDir: {}}]\n          containers:")
    app = desired(text).units[0].workloads[0]
    assert waits_for_pod(app.spec)
    (mount,) = fill_pod_fields(app, "172.17.0.9", pod_uid("abc")).spec.mounts
    assert mount.sub_path == "172.17.0.9"
