"""The Kubernetes fields of a Pod's objects, and what reconciler does with each one its
models lack. Pure data and lookups. No I/O.

``FIELDS`` lists every field of the core/v1 objects a Pod (and a ConfigMap or a
Secret) is made of, as the Kubernetes API reference has them (1.37), so a field
that exists in Kubernetes is never "unknown". Every one of them that no model
of ``models.py`` has carries a verdict in ``VERDICTS``:

- ``Refused``: reconciler cannot do what it asks; an error says so and why.
  ``accepts`` holds the explicit values that ask for what reconciler does
  anyway (Kubernetes' default, mostly): a v1 document may state them.
- ``Ignored``: it asks nothing of one host without an API server (a
  scheduler's field, an API server's record); a v1 document may carry it and
  it is dropped, with a warning unless its value is in ``quiet``.

The table is consulted only for a field the model lacks: once a model gains a
field, its entry here stops mattering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KUBERNETES_VERSION = "1.37"

_FIELDS = {
    "Pod": "apiVersion kind metadata spec status",
    "ObjectMeta": "annotations creationTimestamp deletionGracePeriodSeconds deletionTimestamp "
    "finalizers generateName generation labels managedFields name namespace ownerReferences "
    "resourceVersion selfLink uid",
    "PodSpec": "activeDeadlineSeconds affinity automountServiceAccountToken containers dnsConfig "
    "dnsPolicy enableServiceLinks ephemeralContainers evictionResponders hostAliases hostIPC "
    "hostNetwork hostPID hostUsers hostname hostnameOverride imagePullSecrets initContainers "
    "nodeName nodeSelector os overhead preemptionPolicy priority priorityClassName "
    "readinessGates resourceClaims resources restartPolicy runtimeClassName schedulerName "
    "schedulingGates schedulingGroup securityContext serviceAccount serviceAccountName "
    "setHostnameAsFQDN shareProcessNamespace subdomain terminationGracePeriodSeconds "
    "tolerations topologySpreadConstraints volumes",
    "Container": "args command env envFrom image imagePullPolicy lifecycle livenessProbe name "
    "ports readinessProbe resizePolicy resources restartPolicy restartPolicyRules "
    "securityContext startupProbe stdin stdinOnce terminationMessagePath "
    "terminationMessagePolicy tty volumeDevices volumeMounts workingDir",
    "PodSecurityContext": "appArmorProfile fsGroup fsGroupChangePolicy runAsGroup runAsNonRoot "
    "runAsUser seLinuxChangePolicy seLinuxOptions seccompProfile supplementalGroups "
    "supplementalGroupsPolicy sysctls windowsOptions",
    "SecurityContext": "allowPrivilegeEscalation appArmorProfile capabilities privileged "
    "procMount readOnlyRootFilesystem runAsGroup runAsNonRoot runAsUser seLinuxOptions "
    "seccompProfile windowsOptions",
    "Capabilities": "add drop",
    "SeccompProfile": "localhostProfile type",
    "Sysctl": "name value",
    "Volume": "awsElasticBlockStore azureDisk azureFile cephfs cinder configMap csi downwardAPI "
    "emptyDir ephemeral fc flexVolume flocker gcePersistentDisk gitRepo glusterfs hostPath "
    "image iscsi name nfs persistentVolumeClaim photonPersistentDisk portworxVolume projected "
    "quobyte rbd scaleIO secret storageos vsphereVolume",
    "EmptyDirVolumeSource": "medium mode sizeLimit",
    "ConfigMapVolumeSource": "defaultMode defaultUser items name optional",
    "SecretVolumeSource": "defaultMode defaultUser items optional secretName",
    "DownwardAPIVolumeSource": "defaultMode defaultUser items",
    "ProjectedVolumeSource": "defaultMode defaultUser sources",
    "VolumeProjection": "clusterTrustBundle configMap downwardAPI podCertificate secret "
    "serviceAccountToken",
    "ConfigMapProjection": "items name optional",
    "SecretProjection": "items name optional",
    "DownwardAPIProjection": "items",
    "KeyToPath": "key mode path user",
    "DownwardAPIVolumeFile": "fieldRef mode path resourceFieldRef user",
    "HostPathVolumeSource": "path type",
    "VolumeMount": "bindMountOptions mountPath mountPropagation name readOnly recursiveReadOnly "
    "subPath subPathExpr",
    "Probe": "exec failureThreshold grpc httpGet initialDelaySeconds periodSeconds "
    "successThreshold tcpSocket terminationGracePeriodSeconds timeoutSeconds",
    "ExecAction": "command",
    "HTTPGetAction": "host httpHeaders path port protocol scheme",
    "HTTPHeader": "name value",
    "TCPSocketAction": "host port",
    "GRPCAction": "mode port service",
    "Lifecycle": "postStart preStop stopSignal",
    "LifecycleHandler": "exec httpGet sleep tcpSocket",
    "SleepAction": "seconds",
    "EnvVar": "name value valueFrom",
    "EnvVarSource": "configMapKeyRef fieldRef fileKeyRef resourceFieldRef secretKeyRef",
    "ConfigMapKeySelector": "key name optional",
    "SecretKeySelector": "key name optional",
    "ObjectFieldSelector": "apiVersion fieldPath",
    "ResourceFieldSelector": "containerName divisor resource",
    "LocalObjectReference": "name",
    "EnvFromSource": "configMapRef prefix secretRef",
    "ConfigMapEnvSource": "name optional",
    "SecretEnvSource": "name optional",
    "ContainerPort": "containerPort hostIP hostPort name protocol",
    "ResourceRequirements": "claims limits requests",
    "HostAlias": "hostnames ip",
    "PodDNSConfig": "nameservers options searches",
    "PodDNSConfigOption": "name value",
    "ConfigMap": "apiVersion binaryData data immutable kind metadata",
    "Secret": "apiVersion data immutable kind metadata stringData type",
    # reconciler's own kinds, where their fields are Kubernetes' (the rest are modeled).
    "Sandbox": "apiVersion kind metadata spec",
    "ContainerUnit": "apiVersion kind metadata spec",
}
FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(text.split()) for name, text in _FIELDS.items()
}

# The object a field holds (each item, for a list), where reconciler reads inside it.
HOLDS: dict[tuple[str, str], str] = {
    ("Pod", "metadata"): "ObjectMeta",
    ("Pod", "spec"): "PodSpec",
    ("ConfigMap", "metadata"): "ObjectMeta",
    ("Secret", "metadata"): "ObjectMeta",
    ("Sandbox", "metadata"): "ObjectMeta",
    ("Sandbox", "spec"): "PodSpec",
    ("ContainerUnit", "metadata"): "ObjectMeta",
    ("ContainerUnit", "spec"): "ContainerUnitSpec",
    ("PodSpec", "containers"): "Container",
    ("PodSpec", "initContainers"): "Container",
    ("PodSpec", "volumes"): "Volume",
    ("PodSpec", "securityContext"): "PodSecurityContext",
    ("PodSpec", "dnsConfig"): "PodDNSConfig",
    ("PodSpec", "hostAliases"): "HostAlias",
    ("PodSpec", "resources"): "ResourceRequirements",
    ("PodSpec", "imagePullSecrets"): "LocalObjectReference",
    ("PodSecurityContext", "seccompProfile"): "SeccompProfile",
    ("PodSecurityContext", "sysctls"): "Sysctl",
    ("Container", "env"): "EnvVar",
    ("Container", "envFrom"): "EnvFromSource",
    ("Container", "ports"): "ContainerPort",
    ("Container", "volumeMounts"): "VolumeMount",
    ("Container", "resources"): "ResourceRequirements",
    ("Container", "securityContext"): "SecurityContext",
    ("Container", "lifecycle"): "Lifecycle",
    ("Container", "livenessProbe"): "Probe",
    ("Container", "readinessProbe"): "Probe",
    ("Container", "startupProbe"): "Probe",
    ("SecurityContext", "capabilities"): "Capabilities",
    ("SecurityContext", "seccompProfile"): "SeccompProfile",
    ("Volume", "emptyDir"): "EmptyDirVolumeSource",
    ("Volume", "hostPath"): "HostPathVolumeSource",
    ("Volume", "configMap"): "ConfigMapVolumeSource",
    ("Volume", "secret"): "SecretVolumeSource",
    ("Volume", "downwardAPI"): "DownwardAPIVolumeSource",
    ("Volume", "projected"): "ProjectedVolumeSource",
    ("ConfigMapVolumeSource", "items"): "KeyToPath",
    ("SecretVolumeSource", "items"): "KeyToPath",
    ("DownwardAPIVolumeSource", "items"): "DownwardAPIVolumeFile",
    ("ProjectedVolumeSource", "sources"): "VolumeProjection",
    ("VolumeProjection", "configMap"): "ConfigMapProjection",
    ("VolumeProjection", "secret"): "SecretProjection",
    ("VolumeProjection", "downwardAPI"): "DownwardAPIProjection",
    ("ConfigMapProjection", "items"): "KeyToPath",
    ("SecretProjection", "items"): "KeyToPath",
    ("DownwardAPIProjection", "items"): "DownwardAPIVolumeFile",
    ("DownwardAPIVolumeFile", "fieldRef"): "ObjectFieldSelector",
    ("DownwardAPIVolumeFile", "resourceFieldRef"): "ResourceFieldSelector",
    ("EnvVar", "valueFrom"): "EnvVarSource",
    ("EnvVarSource", "configMapKeyRef"): "ConfigMapKeySelector",
    ("EnvVarSource", "secretKeyRef"): "SecretKeySelector",
    ("EnvVarSource", "fieldRef"): "ObjectFieldSelector",
    ("EnvVarSource", "resourceFieldRef"): "ResourceFieldSelector",
    ("Probe", "exec"): "ExecAction",
    ("Probe", "httpGet"): "HTTPGetAction",
    ("Probe", "tcpSocket"): "TCPSocketAction",
    ("Probe", "grpc"): "GRPCAction",
    ("HTTPGetAction", "httpHeaders"): "HTTPHeader",
    ("Lifecycle", "postStart"): "LifecycleHandler",
    ("Lifecycle", "preStop"): "LifecycleHandler",
    ("LifecycleHandler", "exec"): "ExecAction",
    ("LifecycleHandler", "httpGet"): "HTTPGetAction",
    ("LifecycleHandler", "tcpSocket"): "TCPSocketAction",
    ("LifecycleHandler", "sleep"): "SleepAction",
    ("EnvFromSource", "configMapRef"): "ConfigMapEnvSource",
    ("EnvFromSource", "secretRef"): "SecretEnvSource",
    ("PodDNSConfig", "options"): "PodDNSConfigOption",
}

# A standalone Container's spec is a container and the pod-level fields of a unit.
_UNION = {"ContainerUnitSpec": ("Container", "PodSpec")}


@dataclass(frozen=True, slots=True)
class Refused:
    """Not supported by reconciler: an error naming the field and ``why``, unless the
    value is one of ``accepts`` (it asks for what reconciler does anyway)."""

    why: str
    accepts: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Ignored:
    """Asks nothing of one host with no API server: dropped from a v1 document, with a
    warning unless ``warns`` is false or the value is one of ``quiet``."""

    why: str
    quiet: tuple[Any, ...] = ()
    warns: bool = True


Verdict = Refused | Ignored

_HOST_NAMESPACES = "a sandbox's members share the infra's namespaces, never the host's"
_API_SERVER = "it needs a Kubernetes API server, which reconciler does not have"
_SCHEDULER = "only a cluster scheduler uses it"
_RECORD = "an API server keeps it as its record of the object"
_SELINUX = "SELinux labels are not supported (no SELinux on these Docker hosts)"
# Not even RuntimeDefault: Docker applies its profile only where the host has AppArmor,
# which kubelet checks (refusing the Pod where it has none) and reconciler does not.
_APPARMOR = (
    "Docker applies an AppArmor profile only where the host has AppArmor, which reconciler "
    "does not check as kubelet does"
)
_WINDOWS = "Windows containers are not supported"
_HOOKS = "only exec lifecycle hooks are supported"
_CLAIM = "a claim is bound to a volume by an API server: use emptyDir or hostPath"
_PLUGIN = "a network or cloud volume needs a cluster's volume plugins: mount it on the host and "
_PLUGIN += "use hostPath"
_DRA = "dynamic resource allocation needs a cluster's DRA drivers"
_FILES_USER = "the files are root's (group fsGroup's, with one)"
_NONE: tuple[Any, ...] = ([],)  # an empty list asks for nothing
# What the API server's DefaultTolerationSeconds admission adds to every pod.
_DEFAULT_TOLERATIONS = [
    {
        "key": f"node.kubernetes.io/{taint}",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    for taint in ("not-ready", "unreachable")
]
# The API server defaults these since in-place resize became beta (1.33).
_DEFAULT_RESIZE = [
    {"resourceName": name, "restartPolicy": "NotRequired"} for name in ("cpu", "memory")
]

_POD: dict[str, Verdict] = {
    "activeDeadlineSeconds": Refused("reconciler keeps a unit running as its manifest says"),
    "automountServiceAccountToken": Refused(
        "a service account token needs a Kubernetes API server, which reconciler does not have",
        (False,),
    ),
    "enableServiceLinks": Ignored("there are no Services to link", (True, False)),
    "ephemeralContainers": Refused(
        "ephemeral containers are added to a running pod through the API (kubectl debug)", _NONE
    ),
    "evictionResponders": Refused(_API_SERVER + " (eviction requests)", _NONE),
    "hostNetwork": Refused(_HOST_NAMESPACES, (False,)),
    "hostPID": Refused(_HOST_NAMESPACES, (False,)),
    "hostIPC": Refused(_HOST_NAMESPACES, (False,)),
    "hostUsers": Refused(
        "user namespaces are set per Docker daemon (userns-remap), not per container", (True,)
    ),
    "hostnameOverride": Refused("hostname (with subdomain) sets the hostname here"),
    "os": Refused("the Docker host's operating system decides", ({"name": "linux"},)),
    "overhead": Ignored(_SCHEDULER + " (a RuntimeClass's overhead, set by admission)", ({},)),
    "readinessGates": Refused(_API_SERVER + " (a controller sets the pod's conditions)", _NONE),
    "resourceClaims": Refused(_DRA, _NONE),
    "resources": Refused("resources are set on each container, not on the pod", ({},)),
    "setHostnameAsFQDN": Refused(
        "the hostname stays short; `hostname -f` gives the FQDN", (False,)
    ),
    "affinity": Ignored(_SCHEDULER, ({},)),
    "nodeName": Ignored("it names the node a scheduler bound the pod to; this host runs it"),
    "nodeSelector": Ignored(_SCHEDULER, ({},)),
    "preemptionPolicy": Ignored(_SCHEDULER, ("PreemptLowerPriority",)),
    "priority": Ignored(_SCHEDULER, (0,)),
    "priorityClassName": Ignored(_SCHEDULER, ("",)),
    "schedulerName": Ignored(_SCHEDULER, ("default-scheduler",)),
    "schedulingGates": Ignored(_SCHEDULER + ": the pod runs at once", _NONE),
    "schedulingGroup": Ignored(_SCHEDULER),
    "tolerations": Ignored(_SCHEDULER, ([], _DEFAULT_TOLERATIONS)),
    "topologySpreadConstraints": Ignored(_SCHEDULER, _NONE),
    "dnsPolicy": Ignored(
        "the container uses the host's resolver, with dnsConfig's entries in place of the "
        "host's (no cluster DNS)",
        ("ClusterFirst", "Default"),
    ),
    "serviceAccountName": Ignored(
        "a service account is an identity at an API server; none is mounted", ("default",)
    ),
    # A deprecated alias: the API server fills serviceAccountName from it (kubeyaml too).
    "serviceAccount": Ignored("it is serviceAccountName's deprecated alias", warns=False),
}

_CONTAINER: dict[str, Verdict] = {
    "resizePolicy": Refused(
        "in-place resize is an API operation; a resources change recreates the container",
        ([], _DEFAULT_RESIZE),
    ),
    "restartPolicyRules": Refused(
        "restart rules by exit code are not supported: the pod's restartPolicy decides", _NONE
    ),
    "volumeDevices": Refused(
        "raw block devices come from PersistentVolumeClaims: " + _API_SERVER, _NONE
    ),
}

_SECURITY: dict[str, Verdict] = {
    "appArmorProfile": Refused(_APPARMOR),
    "seLinuxOptions": Refused(_SELINUX, ({},)),
    "windowsOptions": Refused(_WINDOWS, ({},)),
}

_POD_SECURITY: dict[str, Verdict] = {
    **_SECURITY,
    # Kubernetes applies it to neither emptyDir nor hostPath, the only volumes here.
    "fsGroupChangePolicy": Refused(
        "it applies to no emptyDir or hostPath volume", ("Always", "OnRootMismatch")
    ),
    "seLinuxChangePolicy": Refused(_SELINUX, ("MountOption", "Recursive")),
    "supplementalGroupsPolicy": Refused(
        "the image's groups are always merged with the pod's (Merge)", ("Merge",)
    ),
}

_VOLUME: dict[str, Verdict] = {
    "persistentVolumeClaim": Refused(_CLAIM),
    "ephemeral": Refused(_CLAIM + " (a claim made from a template)"),
    "image": Refused("image volumes are not supported: copy the files into a hostPath"),
    "csi": Refused("CSI volumes need a cluster's CSI drivers"),
    "gitRepo": Refused("it is deprecated: clone into an emptyDir from an init container"),
    **{
        name: Refused(_PLUGIN)
        for name in (
            "awsElasticBlockStore",
            "azureDisk",
            "azureFile",
            "cephfs",
            "cinder",
            "fc",
            "flexVolume",
            "flocker",
            "gcePersistentDisk",
            "glusterfs",
            "iscsi",
            "nfs",
            "photonPersistentDisk",
            "portworxVolume",
            "quobyte",
            "rbd",
            "scaleIO",
            "storageos",
            "vsphereVolume",
        )
    },
}

_MOUNT: dict[str, Verdict] = {
    "mountPropagation": Refused(
        "mounts are private to the container (mount propagation None)", ("None",)
    ),
    "recursiveReadOnly": Refused(
        "a read-only mount is not made recursively read-only", ("Disabled",)
    ),
    "bindMountOptions": Refused("bind mount options (noexec, nodev, nosuid) are not set", _NONE),
}

# What an API server records of every object it keeps; it asks nothing of a container.
_RECORDS = (
    "creationTimestamp",
    "generation",
    "managedFields",
    "resourceVersion",
    "selfLink",
    "uid",
)

VERDICTS: dict[tuple[str, str], Verdict] = {
    **{("ObjectMeta", name): Ignored(_RECORD, warns=False) for name in _RECORDS},
    ("ObjectMeta", "generateName"): Ignored(_RECORD + " (the name is metadata.name)", warns=False),
    ("ObjectMeta", "ownerReferences"): Ignored(
        "no controller owns the pod here: its manifest does (no garbage collection)"
    ),
    ("ObjectMeta", "finalizers"): Ignored("no controller is here to finalize it", _NONE),
    ("ObjectMeta", "deletionTimestamp"): Ignored("it was being deleted when it was printed"),
    ("ObjectMeta", "deletionGracePeriodSeconds"): Ignored(
        "it was being deleted when it was printed"
    ),
    ("Pod", "status"): Ignored("status is observed, not desired", ({},)),
    **{("PodSpec", name): verdict for name, verdict in _POD.items()},
    **{("Container", name): verdict for name, verdict in _CONTAINER.items()},
    **{("SecurityContext", name): verdict for name, verdict in _SECURITY.items()},
    ("SecurityContext", "procMount"): Refused("Docker always masks /proc (Default)", ("Default",)),
    **{("PodSecurityContext", name): verdict for name, verdict in _POD_SECURITY.items()},
    **{("Volume", name): verdict for name, verdict in _VOLUME.items()},
    ("EmptyDirVolumeSource", "mode"): Refused("an emptyDir's mode is not taken from the manifest"),
    **{("VolumeMount", name): verdict for name, verdict in _MOUNT.items()},
    ("HTTPGetAction", "protocol"): Refused("probes speak HTTP/1.1 only"),
    ("GRPCAction", "mode"): Refused("gRPC probes connect in plaintext only"),
    ("LifecycleHandler", "httpGet"): Refused(_HOOKS),
    ("LifecycleHandler", "tcpSocket"): Refused(_HOOKS),
    ("LifecycleHandler", "sleep"): Refused(_HOOKS),
    ("ResourceRequirements", "claims"): Refused(_DRA, _NONE),
    ("EnvVarSource", "fileKeyRef"): Refused(
        "a value read from a file in a volume is not supported: use configMapKeyRef or secretKeyRef"
    ),
    ("VolumeProjection", "podCertificate"): Refused(_API_SERVER + " (a certificate signer)"),
    **{
        (kind, "defaultUser"): Refused(_FILES_USER)
        for kind in (
            "ConfigMapVolumeSource",
            "SecretVolumeSource",
            "DownwardAPIVolumeSource",
            "ProjectedVolumeSource",
        )
    },
    ("KeyToPath", "user"): Refused(_FILES_USER),
    ("DownwardAPIVolumeFile", "user"): Refused(_FILES_USER),
    ("ConfigMap", "binaryData"): Refused(
        "a container's variables are text: put the values in data", ({},)
    ),
}


def same(a: Any, b: Any) -> bool:
    """Equal as JSON: ``true`` is not ``1``, as it is not to the API server."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def parts(kind: str) -> tuple[str, ...]:
    """The Kubernetes objects whose fields make up ``kind``."""
    return _UNION.get(kind, (kind,))


def held(kind: str, name: str) -> str | None:
    """The object ``kind``'s field ``name`` holds, if reconciler reads inside it."""
    return next((HOLDS[p, name] for p in parts(kind) if (p, name) in HOLDS), None)


def is_field(kind: str, name: str) -> bool:
    return any(name in FIELDS.get(p, ()) for p in parts(kind))


def verdict(kind: str, name: str) -> Verdict | None:
    return next((VERDICTS[p, name] for p in parts(kind) if (p, name) in VERDICTS), None)


def kind_at(root: str, path: tuple[str | int, ...]) -> str | None:
    """The object at ``path`` of a document whose root is ``root`` (None: not one here)."""
    kind: str | None = root
    for part in path:
        if isinstance(part, int):
            continue  # a list's items are what the list holds
        if kind is None:
            return None
        kind = held(kind, part)
    return kind


def accepted(found: Verdict, value: Any) -> bool:
    """Whether ``value`` asks for nothing reconciler does not do: it may be dropped."""
    values = found.accepts if isinstance(found, Refused) else found.quiet
    return value is None or any(same(value, v) for v in values)


def refusal(root: str, path: tuple[str | int, ...], value: Any) -> str | None:
    """Why the field at ``path`` (that the model lacks) is refused, if Kubernetes has it."""
    if not path or not isinstance(path[-1], str):
        return None
    kind = kind_at(root, path[:-1])
    name = path[-1]
    if kind is None or not is_field(kind, name):
        return None
    found = verdict(kind, name)
    why = found.why if found is not None else "reconciler does not read it"
    shown = name
    if (
        isinstance(found, Refused)
        and found.accepts
        and isinstance(value, bool | int | str)
        and not accepted(found, value)
    ):
        # Another value would be accepted: the one written is what is refused.
        shown = f"{name}: {value if isinstance(value, str) and value else json.dumps(value)}"
    return f"not supported by reconciler: {shown}, because {why}"
