"""`$(VAR)` expansion in env values, command and args, as kubelet does it; no daemon."""

from __future__ import annotations

from collections.abc import Mapping
from textwrap import dedent

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.expansion import escape, expand, expand_env
from reconciler.core.hashing import spec_hash
from reconciler.core.manifests import load_text
from reconciler.core.values import LOCALHOST, ValueStore, resolve
from reconciler.drivers.docker.spec import member_body

from .test_pod_subset import INFRA_ID, pod, unit_of

VALUES = {"A": "1", "B": "two", "EMPTY": "", "REF": "$(A)"}


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("", ""),
        ("plain text", "plain text"),
        ("$(A)", "1"),
        ("x$(A)y$(B)z$(A)", "x1ytwoz1"),
        ("$(EMPTY)-", "-"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),  # not defined: as written
        ("$(REF)", "$(A)"),  # a value is not expanded again
        ("$$(A)", "$(A)"),  # the escape
        ("$$$(A)", "$1"),
        ("$$$$(A)", "$$(A)"),
        ("$$", "$"),
        ("a$$b", "a$b"),
        ("$A ${A} $? $!", "$A ${A} $? $!"),  # any other `$` stays
        ("$", "$"),
        ("cost: 5$", "cost: 5$"),
        ("$(A", "$(A"),  # never closed: as written
        ("$(A)$(", "1$("),
        ("$(A$$", "$(A$"),  # scanning goes on after an unclosed `$(`
        ("$()", "$()"),  # the empty name is not defined
        ("$(A$(B))", "$(A$(B))"),  # the name runs to the first `)`: `A$(B`
        ("$(A$$B)", "$(A$$B)"),  # nothing inside a name is expanded
        ("$(a b)", "$(a b)"),
        ("\\$(A)", "\\1"),  # a backslash escapes nothing
        ("(A)", "(A)"),
    ],
)
def test_expand(text: str, expanded: str) -> None:
    assert expand(text, VALUES) == expanded


def kubelet(text: str, values: Mapping[str, str]) -> str:
    """An independent statement of the rules: a cursor over the text, as kubelet scans."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            out.append(text[i])
            i += 1
        elif text[i + 1] == "$":
            out.append("$")
            i += 2
        elif text[i + 1] == "(" and ")" in text[i + 2 :]:
            end = text.index(")", i + 2)
            name = text[i + 2 : end]
            out.append(values.get(name, f"$({name})"))
            i = end + 1
        else:  # `$x`, or a `$(` that never closes: both characters as they are
            out.append(text[i : i + 2])
            i += 2
    return "".join(out)


# Texts dense in the characters that matter, with names that are and are not defined.
pieces = st.sampled_from([*"$()AB x", "$(A)", "$(B)", "$(Z)"])
texts = st.lists(pieces, max_size=20).map("".join)
values = st.dictionaries(st.sampled_from(["A", "B", "", "A$", "Z("]), texts, max_size=4)


@given(texts, values)
def test_expand_agrees_with_a_plain_scan(text: str, values: dict[str, str]) -> None:
    assert expand(text, values) == kubelet(text, values)


@given(st.text(), values)
def test_a_text_without_dollar_is_unchanged(text: str, values: dict[str, str]) -> None:
    text = text.replace("$", "")
    assert expand(text, values) == text


@given(st.lists(st.text().map(lambda t: t.replace("$", "")), min_size=1), values)
def test_a_double_dollar_is_always_one(parts: list[str], values: dict[str, str]) -> None:
    assert expand("$$".join(parts), values) == "$".join(parts)


@given(texts)
def test_with_nothing_defined_only_double_dollars_change(text: str) -> None:
    # Unknown references, bare `$` and unclosed `$(` are all kept as written.
    if "$$" not in text:
        assert expand(text, {}) == text


@given(st.text(), values)
def test_an_escaped_text_expands_to_itself(text: str, values: dict[str, str]) -> None:
    assert expand(escape(text), values) == text


@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), texts), max_size=5, unique_by=lambda e: e[0]
    )
)
def test_env_values_see_only_the_entries_before_them(env: list[tuple[str, str]]) -> None:
    expanded = expand_env(env)
    assert list(expanded) == [name for name, _ in env]
    for i, (name, value) in enumerate(env):
        assert expanded[name] == kubelet(value, {n: expanded[n] for n, _ in env[:i]})


# --- compiled specs -------------------------------------------------------------------------

# "Define Dependent Environment Variables" (kubernetes.io), with a local image.
DEPENDENT_ENVARS = """
    apiVersion: v1
    kind: Pod
    metadata: {name: dependent-envars-demo}
    spec:
      containers:
        - name: dependent-envars-demo
          args:
            - while true; do echo -en '\\n'; printf UNCHANGED_REFERENCE=$UNCHANGED_REFERENCE'\\n'; printf SERVICE_ADDRESS=$SERVICE_ADDRESS'\\n';printf ESCAPED_REFERENCE=$ESCAPED_REFERENCE'\\n'; sleep 30; done;
          command: [sh, -c]
          image: busybox:1.28
          env:
            - {name: SERVICE_PORT, value: "80"}
            - {name: SERVICE_IP, value: "172.17.0.1"}
            - {name: UNCHANGED_REFERENCE, value: "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}
            - {name: PROTOCOL, value: "https"}
            - {name: SERVICE_ADDRESS, value: "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}
            - {name: ESCAPED_REFERENCE, value: "$$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}
    """  # noqa: E501 (the documentation's line, as it is)

DEPENDENT_ENV = [
    "SERVICE_PORT=80",
    "SERVICE_IP=172.17.0.1",
    "UNCHANGED_REFERENCE=$(PROTOCOL)://172.17.0.1:80",  # PROTOCOL comes later
    "PROTOCOL=https",
    "SERVICE_ADDRESS=https://172.17.0.1:80",
    "ESCAPED_REFERENCE=$(PROTOCOL)://172.17.0.1:80",
]


def test_the_dependent_envars_pod_runs_with_the_values_kubernetes_gives() -> None:
    (member,) = unit_of(DEPENDENT_ENVARS).workloads
    assert [f"{e.name}={e.value}" for e in member.spec.env] == DEPENDENT_ENV
    assert member.spec.command == ("sh", "-c")
    assert "printf SERVICE_ADDRESS=$SERVICE_ADDRESS" in member.spec.args[0]  # a shell's `$X`
    body = member_body(member, INFRA_ID)
    assert body["Env"] == DEPENDENT_ENV
    assert body["Entrypoint"] == ["sh", "-c"] and body["Cmd"] == list(member.spec.args)


def test_command_and_args_see_every_entry_of_the_container() -> None:
    unit = unit_of(
        pod(
            """
            - name: app
              image: x
              command: ["$(BIN)", "$$(BIN)"]
              args: ["$(LAST) $(NONE) $$$(LAST)", "$(EMPTY)"]
              env:
                - {name: BIN, value: /bin/$(LAST)}
                - {name: EMPTY}
                - {name: LAST, value: sh}"""
        )
    )
    (app,) = unit.workloads
    # BIN refers to a later entry: kept as written, in the value and so in the command.
    assert [(e.name, e.value) for e in app.spec.env] == [
        ("BIN", "/bin/$(LAST)"),
        ("EMPTY", ""),  # an entry without a value is defined, as the empty string
        ("LAST", "sh"),
    ]
    assert app.spec.command == ("/bin/$(LAST)", "$(BIN)")
    assert app.spec.args == ("sh $(NONE) $sh", "")


def test_each_container_reads_its_own_env_and_init_containers_expand_too() -> None:
    unit = unit_of(
        pod(
            "[{name: app, image: x, args: ['$(WHO)'], env: [{name: OTHER, value: o}]}]",
            init="[{name: setup, image: x, args: ['$(WHO)'], env: [{name: WHO, value: init}]}]",
        )
    )
    (setup,) = unit.init
    (app,) = unit.workloads
    assert setup.spec.args == ("init",)
    assert app.spec.args == ("$(WHO)",)  # the init container's env is not the app's


def test_hooks_are_run_as_written() -> None:
    # kubelet expands command and args, not a lifecycle hook's exec command.
    (app,) = unit_of(
        pod(
            """
            - name: app
              image: x
              env: [{name: A, value: "1"}]
              lifecycle: {postStart: {exec: {command: [echo, "$(A)"]}}}"""
        )
    ).workloads
    assert app.spec.post_start == ("echo", "$(A)")


def test_an_exec_probes_command_sees_the_env_values_as_written() -> None:
    # kubelet: ExpandContainerCommandOnlyStatic(probe.exec.command, container.env).
    (app,) = unit_of(
        pod(
            """
            - name: app
              image: x
              env:
                - {name: A, value: "1"}
                - {name: B, value: "$(A)-b"}
              livenessProbe: {exec: {command: [sh, -c, "test $(A) $(B) $(C) $$(A) $HOME"]}}
              readinessProbe: {exec: {command: ["$(A)"]}}
              startupProbe: {exec: {command: ["$(B)"]}}
              lifecycle: {postStart: {exec: {command: [echo, "$(A)"]}}}"""
        )
    ).workloads
    assert app.liveness_probe and app.liveness_probe.exec
    # B's value goes in as written: a value substituted is not expanded again.
    assert app.liveness_probe.exec.command == ["sh", "-c", "test 1 $(A)-b $(C) $(A) $HOME"]
    assert app.readiness_probe and app.readiness_probe.exec
    assert app.readiness_probe.exec.command == ["1"]
    assert app.startup_probe and app.startup_probe.exec
    assert app.startup_probe.exec.command == ["$(A)-b"]
    assert app.spec.post_start == ("echo", "$(A)"), "hooks still run as written"


def test_an_exec_probe_never_sees_env_from_even_once_it_is_resolved() -> None:
    containers = """
            - name: app
              image: x
              envFrom: [{configMapRef: {name: settings}}]
              env: [{name: A, value: "$(MODE)-a"}, {name: MODE, value: dev}]
              livenessProbe: {exec: {command: ["$(MODE)", "$(A)", "$(PRICE)", "$$(MODE)"]}}"""
    kubelet = ["dev", "$(MODE)-a", "$(PRICE)", "$(MODE)"]  # env as written, not envFrom
    text = dedent(ENV_FROM) + dedent(pod(containers))
    (app,) = unit_of(text).workloads
    assert app.liveness_probe and app.liveness_probe.exec
    assert app.liveness_probe.exec.command == kubelet
    # What the loader wrote (and `export` writes) means the same to kubelet.
    (written,) = load_text(text, "pod.yaml").manifests[0].manifest.spec.containers  # type: ignore[union-attr]
    static = {e.name: e.value for e in written.env}
    command = written.liveness_probe.exec.command
    assert [expand(c, static) for c in command] == kubelet
    assert command[0] == "$(MODE)" and command[3] == "$$(MODE)", "unchanged where it means the same"


def test_the_hash_is_of_the_expanded_values() -> None:
    def hash_of(b: str, arg: str) -> str:
        env = f"[{{name: A, value: '1'}}, {{name: B, value: '{b}'}}]"
        (member,) = unit_of(pod(f"[{{name: a, image: x, args: ['{arg}'], env: {env}}}]")).workloads
        assert member.hash == spec_hash(member.spec)
        return member.hash

    # A reference hashes as the value it stands for: the same container either way.
    assert hash_of("$(A)", "$(B)") == hash_of("1", "1")
    assert hash_of("$(A)", "x") != hash_of("$$(A)", "x") != hash_of("$(A)x", "x")


# --- envFrom: kubelet puts its values first, as they are -----------------------------------

ENV_FROM = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {MODE: prod, PRICE: "5$", RAW: "$(MODE) $$ $(NONE)"}
    ---
    apiVersion: v1
    kind: Secret
    metadata: {name: creds}
    stringData: {TOKEN: "a$$b"}
    ---
    """


def env_from(env: str, args: str = "[]") -> list[str]:
    containers = f"""
            - name: app
              image: x
              args: {args}
              envFrom:
                - configMapRef: {{name: settings}}
                - {{prefix: DB_, secretRef: {{name: creds}}}}
              env: {env}"""
    (app,) = unit_of(dedent(ENV_FROM) + dedent(pod(containers))).workloads
    return [f"{e.name}={e.value}" for e in app.spec.env] + [f"args={a}" for a in app.spec.args]


def test_env_from_values_are_never_expanded() -> None:
    assert env_from("[]", "['$(RAW)']") == [
        "MODE=prod",
        "PRICE=5$",
        "RAW=$(MODE) $$ $(NONE)",
        "DB_TOKEN=a$$b",
        "args=$(MODE) $$ $(NONE)",  # the value, not expanded again
    ]


def test_env_sees_every_env_from_value_even_one_it_redefines_later() -> None:
    env = "[{name: URL, value: '$(MODE)://$(DB_TOKEN)'}, {name: MODE, value: dev}]"
    assert env_from(env, "['$(MODE) $(URL)']") == [
        "PRICE=5$",
        "RAW=$(MODE) $$ $(NONE)",
        "DB_TOKEN=a$$b",
        "URL=prod://a$$b",  # MODE from the ConfigMap: env's own MODE comes after URL
        "MODE=dev",  # env wins
        "args=dev prod://a$$b",  # command and args see the final values
    ]


def test_an_env_entry_may_extend_the_env_from_value_it_replaces() -> None:
    assert env_from("[{name: MODE, value: '$(MODE)-debug'}]")[-1] == "MODE=prod-debug"


def test_env_from_resolved_means_the_same_as_env_from_and_env() -> None:
    # The compile step writes envFrom into env; escaped, that list means what envFrom +
    # env did.
    containers = """
            - name: app
              image: x
              envFrom: [{configMapRef: {name: settings}}]
              env: [{name: B, value: '$(MODE)'}, {name: MODE, value: dev}]"""
    loaded = load_text(dedent(ENV_FROM) + dedent(pod(containers)), "pod.yaml")
    resolved = resolve(loaded.manifests[0].manifest, ValueStore(loaded.values), LOCALHOST)
    (app,) = resolved.manifest.spec.containers  # type: ignore[union-attr]
    written = expand_env((e.name, e.value) for e in app.env)
    assert written == {"PRICE": "5$", "RAW": "$(MODE) $$ $(NONE)", "B": "prod", "MODE": "dev"}
