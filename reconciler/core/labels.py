"""The container labels reconciler writes and reads: the only state it keeps. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TypeGuard, get_args

PREFIX = "io.reconciler."
MANAGED_BY = PREFIX + "managed-by"  # the instance name; the only ownership test
KIND = PREFIX + "kind"  # Sandbox | Container
NAMESPACE = PREFIX + "namespace"  # metadata.namespace
SANDBOX = PREFIX + "sandbox"  # metadata.name of the unit
ROLE = PREFIX + "role"  # infra | init | sidecar | workload
CONTAINER = PREFIX + "container"  # the container's name in the manifest; empty for infra
SPEC_HASH = PREFIX + "spec-hash"  # "<version>:<sha256>" of the effective spec
INFRA_ID = PREFIX + "infra-id"  # on members: the id of the infra they joined
# On members: the infra's run when the member was created (a digest of its network
# endpoint ids, new at every start): while the infra shows the same, the member
# started after it and is in its current namespaces. Daemon data: never hashed.
INFRA_RUN = PREFIX + "infra-run"
SOURCE = PREFIX + "source"  # the manifest file, relative to its root
GRACE = PREFIX + "grace-period"  # seconds between SIGTERM and SIGKILL when stopping
RUNTIME = PREFIX + "runtime"  # the OCI runtime asked for
MODE = PREFIX + "mode"  # container-in-sandbox | standalone
VOLUME = PREFIX + "volume"  # on volumes: the volume's name in the manifest
POSITION = PREFIX + "position"  # the container's place in the manifest (init first), for get
OWNER = PREFIX + "owner"  # the source that made it: apply, dir:<path>, git:<url>#<branch>:<path>
APPLY_SET = PREFIX + "apply-set"  # an apply's paths, comma-separated (what apply --prune prunes)
CLAIM = PREFIX + "claim"  # on a claim volume: a unit's owner recorded apart from its containers
POST_START = PREFIX + "post-start"  # the postStart exec hook, a JSON list (when there is one)
PRE_STOP = PREFIX + "pre-stop"  # the preStop exec hook, a JSON list (when there is one)
# On an eviction record (a labelled volume): the unit's fingerprint when it was evicted
# (eviction.fingerprint), and the eviction's message.
EVICTED = PREFIX + "evicted"
EVICTION_MESSAGE = PREFIX + "eviction-message"
HELPER = PREFIX + "helper"  # a throwaway container of the driver's (the instance name)

# A container's part in its unit, as the ROLE label says it. init: runs to
# completion before the next; sidecar: an init container with restartPolicy
# Always (starts in order, keeps running, stops after the workloads).
MemberRole = Literal["init", "sidecar", "workload"]
Role = Literal["infra", MemberRole]

ROLE_INFRA: Final = "infra"
ROLE_INIT: Final = "init"
ROLE_SIDECAR: Final = "sidecar"
ROLE_WORKLOAD: Final = "workload"
_ROLES: Final[frozenset[str]] = frozenset(get_args(Role))


def role_of(labels: Mapping[str, str]) -> Role | None:
    """The role a container's labels give it; None when the label is missing or unknown."""
    value = labels.get(ROLE, "")
    return value if _is_role(value) else None


def _is_role(value: str) -> TypeGuard[Role]:
    return value in _ROLES
