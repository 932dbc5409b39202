"""The container labels reconciler writes and reads: the only state it keeps. No I/O."""

from __future__ import annotations

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
HELPER = PREFIX + "helper"  # a throwaway container of the driver's (the instance name)

ROLE_INFRA = "infra"
ROLE_INIT = "init"
ROLE_SIDECAR = "sidecar"  # an init container with restartPolicy Always
ROLE_WORKLOAD = "workload"
