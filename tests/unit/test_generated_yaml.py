"""What generated YAML carries loads (issue 20): `kubectl get -o yaml`, `kubectl run
--dry-run=client -o yaml` and `podman kube generate` output, written by hand in
tests/unit/data/generated/, loads and compiles to the unit it means; explicit defaults
mean what their absence means; what asks for more is refused, naming the field."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig, compile_units
from reconciler.core.manifests import LoadResult, load_paths, load_text
from reconciler.core.policy import PRIVILEGED
from reconciler.core.spec import DesiredUnit, EnvVar, MountSpec, PortSpec, User
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.formats.schema import schema

from .test_manifests import at

GENERATED = Path(__file__).parent / "data" / "generated"
SAMPLES = sorted(GENERATED.glob("*.yaml"))


def loaded(name: str) -> LoadResult:
    result = load_paths([str(GENERATED / name)])
    assert result.ok, [str(p) for p in result.errors]
    return result


def units(result: LoadResult) -> list[DesiredUnit]:
    build = BuildConfig("i", infra_image="p:1", policy=PRIVILEGED, driver=DOCKER)
    desired = compile_and_admit(result.manifests, build, values=result.values)
    assert desired.refused == ()
    return list(desired.units)


def warned(result: LoadResult) -> list[tuple[int | None, str]]:
    return [(w.location.line, w.field) for w in result.warnings]


def load(text: str) -> LoadResult:
    return load_text(dedent(text), "pod.yaml")


# --- the samples ------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_loads_and_its_schema_agrees(path: Path) -> None:
    result = loaded(path.name)
    assert result.manifests
    units(result)
    for document in yaml.safe_load_all(path.read_text()):
        assert [e.message for e in Draft202012Validator(schema()).iter_errors(document)] == []


def test_kubectl_get_pod_is_the_pod_it_describes() -> None:
    result = loaded("kubectl-get-pod.yaml")
    # Only what asks for something that does not happen here is said; defaults are quiet.
    assert warned(result) == [(67, "spec.nodeName"), (106, "status"), (88, "spec.volumes[1]")]
    assert "service account token" in result.warnings[2].message
    (unit,) = units(result)
    assert unit.infra is not None and unit.infra.spec.hostname == "web"
    (web,) = unit.workloads
    assert (web.spec.command, web.spec.args) == (("httpd",), ("-f", "-p", "8080", "-h", "/www"))
    assert web.spec.env == (EnvVar("MODE", "production"), EnvVar("EMPTY", ""))
    assert web.spec.working_dir == "/www"
    assert web.spec.user == User(1000)
    assert web.spec.no_new_privileges
    assert (web.spec.memory_limit, web.spec.cpu_request) == (64 * 2**20, 50)
    # The token volume and its mount are gone; the emptyDir stays.
    assert [m.target for m in web.spec.mounts] == ["/www"]
    (manifest,) = [m.manifest for m in result.manifests]
    assert manifest.metadata.labels == {"app": "web"}
    assert manifest.spec.termination_grace_period_seconds == 1


def test_kubectl_run_dry_run_is_the_pod_written_without_defaults() -> None:
    result = loaded("kubectl-run-dry-run.yaml")
    assert result.warnings == []
    plain = load(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: cache, labels: {run: cache}}
        spec:
          containers: [{name: cache, image: "redis:7", ports: [{containerPort: 6379}]}]
        """
    )
    (generated,), (written,) = units(result), units(plain)
    # The same containers, hash for hash: an explicit default recreates nothing.
    assert [m.hash for m in generated.workloads] == [m.hash for m in written.workloads]
    assert generated.infra is not None and written.infra is not None
    assert generated.infra.hash == written.infra.hash


def test_a_kubectl_list_is_each_item_its_own_unit() -> None:
    result = loaded("kubectl-get-pods-list.yaml")
    names = [m.manifest.metadata.name for m in result.manifests]
    assert names == ["api-5d59d67564-8xq2w", "api-5d59d67564-k7m4t"]
    assert [m.location.line for m in result.manifests] == [5, 43]
    assert warned(result) == [
        (15, "items[0].metadata.ownerReferences"),
        (35, "items[0].spec.nodeName"),
        (40, "items[0].status"),
        (53, "items[1].metadata.ownerReferences"),
        (73, "items[1].spec.nodeName"),
        (78, "items[1].status"),
    ]
    assert "no controller owns the pod here" in result.warnings[0].message
    assert [u.workloads[0].spec.command for u in units(result)] == [("sleep", "3600")] * 2


def test_podman_kube_generate_is_the_pod_podman_ran() -> None:
    result = loaded("podman-kube-generate.yaml")
    assert result.warnings == []
    (unit,) = units(result)
    assert unit.infra is not None
    assert unit.infra.spec.ports == (PortSpec(80, "tcp", 8080),)
    web, sidecar = unit.workloads
    assert web.spec.args == ("httpd", "-f", "-p", "80")
    assert web.spec.cap_drop == ("CAP_MKNOD", "CAP_NET_RAW", "CAP_AUDIT_WRITE")
    assert web.spec.mounts == (
        MountSpec("bind", "/www", "/srv/www", read_only=True, must_exist=True),
    )
    assert sidecar.spec.env == (EnvVar("LOGLEVEL", "debug"),)
    (manifest,) = [m.manifest for m in result.manifests]
    assert manifest.spec.restart_policy == "Never"


def test_podman_3_with_every_default_written_out() -> None:
    result = loaded("podman-generate-kube-3.yaml")
    assert result.warnings == []
    (worker,) = units(result)[0].workloads
    assert worker.spec.env[-1] == EnvVar("HOSTNAME", "")  # an entry with no value is ""
    assert (worker.spec.tty, worker.spec.working_dir, worker.spec.privileged) == (True, "/", False)
    assert not worker.spec.no_new_privileges  # allowPrivilegeEscalation: true


def test_a_pod_of_kubernetes_1_20_with_its_token_secret() -> None:
    result = loaded("kubectl-get-pod-1.20.yaml")
    assert warned(result) == [(38, "status"), (34, "spec.volumes[0]")]
    (old,) = units(result)[0].workloads
    assert old.spec.mounts == ()


# --- nulls, explicit defaults, and what they must not hide ----------------------------


def test_null_is_unset_as_kubernetes_reads_it() -> None:
    result = load(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: p, creationTimestamp: null, labels: null, annotations: null}
        spec:
          nodeSelector: null
          hostname: null
          volumes: null
          initContainers: null
          securityContext: null
          containers:
            - name: a
              image: x
              imagePullPolicy: null
              command: null
              env: [{name: A, value: null}]
              resources: {limits: null}
              livenessProbe: null
              workingDir: null
              ports: [{containerPort: 80, protocol: null, hostPort: null}]
        status: null
        """
    )
    assert result.ok, [str(p) for p in result.errors]
    assert result.warnings == []
    (a,) = units(result)[0].workloads
    assert a.spec.env == (EnvVar("A", ""),)


def test_null_is_no_way_around_a_required_field() -> None:
    result = load(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers: [{name: a, image: null}]
        """
    )
    assert [(at(p), p.message) for p in result.errors] == [
        ((6, 26, "spec.containers[0].image"), "required field is missing")
    ]


POD = """
    apiVersion: v1
    kind: Pod
    metadata: {{name: p}}
    spec:
      {spec}
      containers:
        - name: a
          image: x
          {container}
    """


VOLUME = "volumes: [{name: v, emptyDir: {}}]"
MOUNT = "name: v, mountPath: /v, readOnly: true"


@pytest.mark.parametrize(
    ("spec", "container"),
    [
        ("hostNetwork: false", ""),
        ("hostPID: false", ""),
        ("hostIPC: false", ""),
        ("hostUsers: true", ""),
        ("automountServiceAccountToken: false", ""),
        ("setHostnameAsFQDN: false", ""),
        ("enableServiceLinks: true", ""),
        ("enableServiceLinks: false", ""),
        ("os: {name: linux}", ""),
        ("imagePullSecrets: []", ""),
        ("ephemeralContainers: []", ""),
        ("readinessGates: []", ""),
        ("resources: {}", ""),
        ("schedulerName: default-scheduler", ""),
        ("priority: 0", ""),
        ("priorityClassName: ''", ""),
        ("preemptionPolicy: PreemptLowerPriority", ""),
        ("dnsPolicy: ClusterFirst", ""),
        ("dnsPolicy: Default", ""),
        ("serviceAccountName: default", ""),
        ("serviceAccount: default", ""),
        ("tolerations: []", ""),
        ("securityContext: {seLinuxOptions: {}, supplementalGroupsPolicy: Merge}", ""),
        ("securityContext: {fsGroupChangePolicy: OnRootMismatch}", ""),
        ("", "securityContext: {procMount: Default, windowsOptions: {}}"),
        ("", "terminationMessagePolicy: File"),
        ("", "resizePolicy: []"),
        ("", "resources: {claims: []}"),
        (VOLUME, f"volumeMounts: [{{{MOUNT}, mountPropagation: None, subPath: ''}}]"),
        (VOLUME, f"volumeMounts: [{{{MOUNT}, recursiveReadOnly: Disabled}}]"),
        (
            "",
            "resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired},"
            " {resourceName: memory, restartPolicy: NotRequired}]",
        ),
    ],
)
def test_an_explicit_default_means_what_its_absence_means(spec: str, container: str) -> None:
    result = load(POD.format(spec=spec or "restartPolicy: Always", container=container))
    assert result.ok, [str(p) for p in result.errors]
    assert result.warnings == []
    explicit = units(result)[0]
    without = (spec, f"volumeMounts: [{{{MOUNT}}}]") if spec == VOLUME else ("", "")
    plain = units(
        load(POD.format(spec=without[0] or "restartPolicy: Always", container=without[1]))
    )
    assert [m.hash for m in explicit.workloads] == [m.hash for m in plain[0].workloads]


@pytest.mark.parametrize(
    ("spec", "container", "field", "message"),
    [
        ("hostNetwork: true", "", "spec.hostNetwork", "hostNetwork: true, because a sandbox's"),
        ("hostPID: true", "", "spec.hostPID", "hostPID: true, because"),
        ("hostUsers: false", "", "spec.hostUsers", "hostUsers: false, because user namespaces"),
        (
            "automountServiceAccountToken: true",
            "",
            "spec.automountServiceAccountToken",
            "automountServiceAccountToken: true, because a service account token needs",
        ),
        ("setHostnameAsFQDN: true", "", "spec.setHostnameAsFQDN", "`hostname -f`"),
        ("os: {name: windows}", "", "spec.os", "os, because the Docker host's"),
        ("activeDeadlineSeconds: 60", "", "spec.activeDeadlineSeconds", "keeps a unit running"),
        ("resources: {limits: {cpu: '1'}}", "", "spec.resources", "set on each container"),
        ("hostnameOverride: h", "", "spec.hostnameOverride", "hostname (with subdomain)"),
        (
            "securityContext: {supplementalGroupsPolicy: Strict}",
            "",
            "spec.securityContext.supplementalGroupsPolicy",
            "supplementalGroupsPolicy: Strict, because the image's groups",
        ),
        (
            "securityContext: {appArmorProfile: {type: RuntimeDefault}}",
            "",
            "spec.securityContext.appArmorProfile",
            "appArmorProfile, because Docker applies an AppArmor profile only where",
        ),
        (
            "",
            "securityContext: {procMount: Unmasked}",
            "spec.containers[0].securityContext.procMount",
            "procMount: Unmasked, because Docker always masks /proc",
        ),
        (
            "",
            "resizePolicy: [{resourceName: cpu, restartPolicy: RestartContainer}]",
            "spec.containers[0].resizePolicy",
            "in-place resize is an API operation",
        ),
        (
            "",
            "restartPolicyRules: [{action: Restart, exitCodes: {operator: In, values: [42]}}]",
            "spec.containers[0].restartPolicyRules",
            "the pod's restartPolicy decides",
        ),
        (
            "volumes: [{name: v, emptyDir: {}}]",
            "volumeMounts: [{name: v, mountPath: /v, mountPropagation: Bidirectional}]",
            "spec.containers[0].volumeMounts[0].mountPropagation",
            "mountPropagation: Bidirectional, because mounts are private",
        ),
        (
            "volumes: [{name: v, emptyDir: {}}]",
            "volumeMounts: [{name: v, mountPath: /v, readOnly: true, recursiveReadOnly: Enabled}]",
            "spec.containers[0].volumeMounts[0].recursiveReadOnly",
            "not made recursively read-only",
        ),
        (
            "volumes: [{name: v, persistentVolumeClaim: {claimName: data}}]",
            "",
            "spec.volumes[0].persistentVolumeClaim",
            "a claim is bound to a volume by an API server",
        ),
        (
            "volumes: [{name: v, nfs: {server: nas, path: /x}}]",
            "",
            "spec.volumes[0].nfs",
            "needs a cluster's volume plugins",
        ),
        (
            "",
            "lifecycle: {preStop: {sleep: {seconds: 5}}}",
            "spec.containers[0].lifecycle.preStop.sleep",
            "only exec lifecycle hooks",
        ),
        (
            "",
            "env: [{name: A, valueFrom: {fileKeyRef: {path: a.env, volumeName: v, key: A}}}]",
            "spec.containers[0].env[0].valueFrom.fileKeyRef",
            "a value read from a file in a volume",
        ),
        (
            "volumes: [{name: v, configMap: {name: c, defaultUser: 1000}}]",
            "",
            "spec.volumes[0].configMap.defaultUser",
            "defaultUser, because the files are root's",
        ),
        (
            "",
            "resources: {claims: [{name: gpu}]}",
            "spec.containers[0].resources.claims",
            "DRA drivers",
        ),
    ],
)
def test_what_asks_for_more_is_refused_naming_it_and_why(
    spec: str, container: str, field: str, message: str
) -> None:
    result = load(POD.format(spec=spec or "restartPolicy: Always", container=container))
    assert result.manifests == []
    (problem,) = [p for p in result.errors if p.field == field]
    assert problem.message.startswith("not supported by reconciler: "), problem.message
    assert message in problem.message
    assert problem.location.line == (10 if field.startswith("spec.containers") else 6)


def test_a_schedulers_fields_that_ask_something_are_warned() -> None:
    result = load(
        POD.format(
            spec="nodeName: worker-9\n      priority: 1000\n      schedulerName: gang",
            container="",
        )
    )
    assert result.ok
    assert warned(result) == [(6, "spec.nodeName"), (7, "spec.priority"), (8, "spec.schedulerName")]


def test_service_account_is_the_deprecated_alias_of_service_account_name() -> None:
    result = load(
        POD.format(
            spec="serviceAccount: builder",
            container="env: [{name: SA, valueFrom: {fieldRef: {fieldPath: "
            "spec.serviceAccountName}}}]",
        )
    )
    assert result.ok and result.warnings == [], [str(p) for p in result.errors]
    assert units(result)[0].workloads[0].spec.env == (EnvVar("SA", "builder"),)


def test_an_api_servers_record_is_ignored_but_not_what_it_means() -> None:
    result = load(
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: p
          uid: 0f0e
          resourceVersion: "7"
          generation: 2
          creationTimestamp: 2025-03-04T09:12:31Z
          managedFields: [{manager: kubectl, operation: Update}]
          selfLink: /api/v1/namespaces/default/pods/p
          deletionTimestamp: "2025-03-04T10:00:00Z"
          finalizers: [example.com/keep]
        spec:
          containers: [{name: a, image: x}]
        """
    )
    assert result.ok, [str(p) for p in result.errors]
    # The record is quiet; a deletion under way and a finalizer say what they were.
    assert warned(result) == [(12, "metadata.deletionTimestamp"), (13, "metadata.finalizers")]


# --- the service account token volume -------------------------------------------------


def test_the_token_volume_goes_and_problems_still_name_items_as_written() -> None:
    result = load(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          volumes:
            - name: kube-api-access-abcde
              projected: {sources: [{serviceAccountToken: {path: token}}]}
            - {name: data, emptyDir: {medium: Disk}}
          containers:
            - name: a
              image: x
              volumeMounts:
                - name: kube-api-access-abcde
                  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
                - {name: data, mountPath: relative}
        """
    )
    assert sorted((at(p), p.message[:25]) for p in result.errors) == [
        ((9, 31, "spec.volumes[1].emptyDir.medium"), "Input should be '' or 'Me"),
        ((16, 24, "spec.containers[0].volumeMounts[1].mountPath"), "'relative' is not an abso"),
    ]


def test_the_compile_step_names_a_volume_after_the_token_as_written() -> None:
    result = load(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          volumes:
            - name: kube-api-access-abcde
              projected: {sources: [{serviceAccountToken: {path: token}}]}
            - {name: settings, configMap: {name: absent}}
          containers:
            - name: a
              image: x
              volumeMounts:
                - name: kube-api-access-abcde
                  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
                - {name: settings, mountPath: /etc/settings}
        """
    )
    assert result.ok, [str(p) for p in result.errors]
    build = BuildConfig("i", infra_image="p:1", policy=PRIVILEGED, driver=DOCKER)
    (compiled,) = compile_units(result.manifests, build, result.values)
    (problem,) = compiled.problems
    assert at(problem) == (9, 36, "spec.volumes[1].configMap.name")
    assert "absent" in problem.message


def test_a_projected_volume_that_is_no_token_is_refused() -> None:
    result = load(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          volumes:
            - name: kube-api-access-abcde
              projected: {sources: [{serviceAccountToken: {path: token}}]}
          containers:
            - name: a
              image: x
              volumeMounts: [{name: kube-api-access-abcde, mountPath: /token}]
        """
    )
    (problem,) = result.errors
    assert at(problem) == (8, 29, "spec.volumes[0].projected.sources[0]")
    assert "serviceAccountToken and clusterTrustBundle projections need a Kubernetes API" in (
        problem.message
    )


# --- a List -------------------------------------------------------------------------


def test_a_lists_items_are_located_as_items() -> None:
    result = load(
        """
        apiVersion: v1
        kind: List
        metadata: {resourceVersion: ""}
        items:
          - apiVersion: v1
            kind: Pod
            metadata: {name: good}
            spec:
              containers: [{name: a, image: x}]
          - apiVersion: v1
            kind: Pod
            metadata: {name: bad}
            spec:
              hostNetwork: true
              containers: [{name: a, image: x, imagePullPolicy: Sometimes}]
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings}
            data: {MODE: prod}
          - apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d}
        """
    )
    assert [m.manifest.metadata.name for m in result.manifests] == ["good"]
    assert sorted(at(p) for p in result.errors) == [
        (15, 7, "items[1].spec.hostNetwork"),
        (16, 40, "items[1].spec.containers[0].imagePullPolicy"),
        (22, 5, "items[3].kind"),
    ]
    messages = {p.field: p.message for p in result.errors}
    assert messages["items[1].spec.hostNetwork"].startswith("not supported by reconciler:")
    assert "unsupported apiVersion/kind 'apps/v1'/'Deployment'" in messages["items[3].kind"]


def test_a_list_item_reads_the_configmaps_of_its_source() -> None:
    result = load(
        """
        apiVersion: v1
        kind: List
        items:
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, uid: 1f, resourceVersion: "3"}
            data: {MODE: prod}
          - apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
                - name: a
                  image: x
                  envFrom: [{configMapRef: {name: settings}}, {configMapRef: {name: absent}}]
        """
    )
    assert result.ok, [str(p) for p in result.errors]
    build = BuildConfig("i", infra_image="p:1", policy=PRIVILEGED, driver=DOCKER)
    (compiled,) = compile_units(result.manifests, build, result.values)
    (problem,) = compiled.problems  # the compile step's, named and located as written
    assert at(problem) == (16, 71, "items[1].spec.containers[0].envFrom[1].configMapRef.name")
    assert "absent" in problem.message


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("items: []", []),
        ("items: null", []),
        ("items: {a: b}", ["items: must be a list"]),
        ("items: [[1]]", ["items[0]: a document must be a mapping with apiVersion and kind"]),
        ("items: [{apiVersion: v1, kind: List}]", ["items[0].kind: a List in a List"]),
        ("items: []\nextra: 1", ["extra: unknown field"]),
    ],
)
def test_what_a_list_may_hold(items: str, expected: list[str]) -> None:
    result = load_text(f"apiVersion: v1\nkind: List\n{items}\n", "list.yaml")
    assert result.manifests == []
    assert [f"{p.field}: {p.message}" for p in result.errors] == expected


# --- the protocol of a port ------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["tcp", "udp", "Tcp", "sctp", "HTTP"])
def test_a_protocol_kubernetes_refuses_is_refused_saying_so(protocol: str) -> None:
    result = load(
        POD.format(spec="", container=f"ports: [{{containerPort: 80, protocol: {protocol}}}]")
    )
    (problem,) = result.errors
    assert at(problem) == (10, 35, "spec.containers[0].ports[0].protocol")
    assert problem.message == (
        f"Kubernetes accepts TCP, UDP or SCTP; the API server refuses '{protocol}'"
    )


def test_sctp_is_kubernetes_but_not_reconciler() -> None:
    result = load(POD.format(spec="", container="ports: [{containerPort: 80, protocol: SCTP}]"))
    (problem,) = result.errors
    assert problem.message.startswith("not supported by reconciler: protocol: SCTP, because")
    for fine in ("TCP", "UDP"):
        assert load(
            POD.format(spec="", container=f"ports: [{{containerPort: 80, protocol: {fine}}}]")
        ).ok
