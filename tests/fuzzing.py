"""What the fuzz harness feeds the loader and validator, and what it checks.

Shared by tests/unit/test_fuzz.py (a few hundred cases in every run) and
scripts/fuzz.py (10,000 cases, with figures). Three kinds of input:
mutations of real manifests as text (the examples and a corpus of every
field the models know), mutations of their parsed trees dumped back to
YAML, and random documents. The property: loading and building desired
units (under the baseline policy), and checking the restricted policy,
either succeeds or reports problems (the documented ``ManifestError``
path: ``LoadResult.errors``); nothing raises, nothing hangs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import LoadResult, load_bytes
from reconciler.core.policy import RESTRICTED
from reconciler.core.policy import check as check_policy
from reconciler.drivers.docker.capabilities import DOCKER

ROOT = Path(__file__).resolve().parent.parent

# Every field the models know, in one place, so mutations reach all of them.
CORPUS = [
    """\
apiVersion: reconciler/v1
kind: Sandbox
metadata: {name: full, namespace: ns, labels: {app: web}, annotations: {note: hi}}
spec:
  runtime: runc
  mode: container-in-sandbox
  share: [network, ipc, pid]
  ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1, protocol: TCP, name: http}]
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: data, emptyDir: {}}
    - {name: mem, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
    - {name: host, hostPath: {path: /srv/data, type: DirectoryOrCreate}}
  initContainers:
    - {name: init, image: local/busybox:test, command: [sh, -c, "true"]}
  containers:
    - name: app
      image: local/busybox:test
      imagePullPolicy: Never
      command: [sleep]
      args: ["3600"]
      workingDir: /tmp
      env: [{name: MODE, value: prod}]
      volumeMounts: [{name: data, mountPath: /data, readOnly: true}]
      resources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: "0.1", memory: 1e6}}
      securityContext:
        runAsUser: 1000
        runAsGroup: 1000
        privileged: false
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
      tty: true
      livenessProbe: {exec: {command: ["true"]}, periodSeconds: 5}
      readinessProbe: {httpGet: {path: /, port: 80, scheme: HTTP}}
      startupProbe: {tcpSocket: {port: 80}, failureThreshold: 30}
""",
    """\
apiVersion: v1
kind: Pod
metadata: {name: pod}
spec:
  shareProcessNamespace: true
  runtimeClassName: runc
  nodeSelector: {disk: ssd}
  containers:
    - name: c
      image: busybox
      securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}
      ports: [{containerPort: 53, hostPort: 53, protocol: UDP}]
status: {phase: Running}
""",
    """\
apiVersion: reconciler/v1
kind: Container
metadata: {name: one}
spec:
  image: busybox:1
  ports: [{containerPort: 6379, hostPort: 6379}]
  volumes: [{name: h, hostPath: {path: /etc, type: Directory}}]
  volumeMounts: [{name: h, mountPath: /host}]
""",
    "a: &a [x, y]\nb: &b [*a, *a, *a]\nc: [*b, *b]\n",
    "%YAML 1.1\n---\nkey: !!binary aGVsbG8=\nwhen: 2001-12-14t21:59:43.10-05:00\n---\n...\n",
]


@functools.cache
def seeds() -> list[str]:
    examples = sorted((ROOT / "manifests" / "examples").glob("*.yaml"))
    # What kubectl and podman print: server fields, defaults, nulls, a List, a token volume.
    generated = sorted((ROOT / "tests" / "unit" / "data" / "generated").glob("*.yaml"))
    return [p.read_text() for p in [*examples, *generated]] + CORPUS


_YAML_BITS = [
    "\n",
    "  ",
    "- ",
    ": ",
    "---\n",
    "...\n",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!str ",
    "!!python/object:os.system ",
    "!!binary ",
    "? ",
    "|",
    ">-",
    "'",
    '"',
    "\\",
    "#",
    "%TAG ! tag:x,2000:\n",
    "\t",
    "\x00",
    "\ufeff",
    "\u2028",
    "é",
    "null",
    "~",
    "true",
    "0x1F",
    "1e400",
    ".inf",
    "-.nan",
    "99999999999999999999999",
    "2001-13-45",
    "/etc",
    "/../",
    "=",
    "a" * 300,
]


@st.composite
def text_mutation(draw: st.DrawFn) -> str:
    """A seed with a few edits: slices cut, repeated or moved; YAML syntax dropped in."""
    text = draw(st.sampled_from(seeds()))
    for _ in range(draw(st.integers(1, 6))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 80)))
        match draw(st.integers(0, 4)):
            case 0:
                text = text[:i] + text[j:]
            case 1:
                text = text[:j] + text[i:j] * draw(st.integers(1, 4)) + text[j:]
            case 2:
                text = text[:i] + draw(st.sampled_from(_YAML_BITS)) + text[i:]
            case 3:
                text = text[:i] + draw(st.text(max_size=8)) + text[j:]
            case _:
                lines = text.splitlines(keepends=True)
                if len(lines) > 1:
                    a = draw(st.integers(0, len(lines) - 1))
                    b = draw(st.integers(0, len(lines) - 1))
                    lines[a], lines[b] = lines[b], lines[a]
                    text = "".join(lines)
    return text


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "ALL", "SYS_ADMIN", "/", "/etc", "runc", "0.5", "128Mi", "A=B"])
)
values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*at, index))
    return found


@st.composite
def tree_mutation(draw: st.DrawFn) -> str:
    """A seed's parsed tree with a value replaced, a key dropped or added; dumped to YAML."""
    docs = [d for d in yaml.safe_load_all(draw(st.sampled_from(seeds()[:-2]))) if d]
    doc = draw(st.sampled_from(docs))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        match draw(st.integers(0, 2)):
            case 0:
                parent[last] = draw(values)
            case 1:
                del parent[last]
            case _:
                if isinstance(parent, dict):
                    parent[draw(st.text(max_size=12))] = draw(values)
                else:
                    parent.insert(last, draw(values))
    return yaml.safe_dump(doc, allow_unicode=draw(st.booleans()))


@st.composite
def random_document(draw: st.DrawFn) -> str:
    """Random YAML values, or random text."""
    if draw(st.booleans()):
        return yaml.safe_dump(draw(values))
    return draw(st.text(max_size=300))


cases = text_mutation() | tree_mutation() | random_document()


def check(text: str | bytes) -> LoadResult:
    """Load and validate ``text``; raising anything at all is the failure."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    result = load_bytes(data, "fuzz.yaml")
    for problem in result.errors:
        assert problem.location.path == "fuzz.yaml" and problem.message
    desired = compile_and_admit(
        result.manifests, BuildConfig("fuzz", driver=DOCKER), values=result.values
    )
    for _key, reason in desired.refused:
        assert reason
    for loaded in result.manifests:
        for violation in check_policy(loaded.manifest, RESTRICTED):
            assert violation.field and violation.rule
    return result
