"""`$(VAR)` expansion on a real daemon: the container runs with the values Kubernetes gives."""

from __future__ import annotations

from .conftest import BUSYBOX, Harness

# "Define Dependent Environment Variables" (kubernetes.io), on the local busybox, with a
# second container whose args use references and the `$$` escape.
DEPENDENT_ENVARS = f"""
    apiVersion: v1
    kind: Pod
    metadata: {{name: dependent-envars-demo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: dependent-envars-demo
          args:
            - while true; do echo -en '\\n'; printf UNCHANGED_REFERENCE=$UNCHANGED_REFERENCE'\\n'; printf SERVICE_ADDRESS=$SERVICE_ADDRESS'\\n';printf ESCAPED_REFERENCE=$ESCAPED_REFERENCE'\\n'; sleep 30; done;
          command: [sh, -c]
          image: {BUSYBOX}
          env:
            - {{name: SERVICE_PORT, value: "80"}}
            - {{name: SERVICE_IP, value: "172.17.0.1"}}
            - {{name: UNCHANGED_REFERENCE, value: "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}}
            - {{name: PROTOCOL, value: "https"}}
            - {{name: SERVICE_ADDRESS, value: "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}}
            - {{name: ESCAPED_REFERENCE, value: "$$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}}
        - name: args
          image: {BUSYBOX}
          command: [sh, -c]
          args: ["echo said=$(GREETING) 'kept=$$(GREETING)' 'none=$(NONE)'; exec sleep 3600"]
          env: [{{name: GREETING, value: hello}}]
    """  # noqa: E501 (the documentation's line, as it is)

EXPECTED = {
    "SERVICE_PORT": "80",
    "SERVICE_IP": "172.17.0.1",
    "UNCHANGED_REFERENCE": "$(PROTOCOL)://172.17.0.1:80",
    "PROTOCOL": "https",
    "SERVICE_ADDRESS": "https://172.17.0.1:80",
    "ESCAPED_REFERENCE": "$(PROTOCOL)://172.17.0.1:80",
}


def test_the_dependent_envars_pod_runs_with_the_expanded_values(h: Harness) -> None:
    h.write("demo.yaml", DEPENDENT_ENVARS)
    h.apply()
    demo = h.member("dependent-envars-demo", "dependent-envars-demo")
    # What the daemon was given, and what the process inside reads.
    assert [e for e in demo["Config"]["Env"] if e.split("=", 1)[0] in EXPECTED] == [
        f"{k}={v}" for k, v in EXPECTED.items()
    ]
    code, out = h.exec(demo["Id"], "env")
    assert code == 0, out
    inside = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {k: inside.get(k) for k in EXPECTED} == EXPECTED

    def logged() -> bytes:
        return bytes(h.api.logs(demo["Id"]))

    h.wait_until(lambda: b"ESCAPED_REFERENCE=" in logged())
    for k in ("UNCHANGED_REFERENCE", "SERVICE_ADDRESS", "ESCAPED_REFERENCE"):
        assert f"{k}={EXPECTED[k]}\n".encode() in logged()

    args = h.member("dependent-envars-demo", "args")
    assert args["Config"]["Entrypoint"] == ["sh", "-c"]
    said = "echo said=hello 'kept=$(GREETING)' 'none=$(NONE)'; exec sleep 3600"
    assert args["Config"]["Cmd"] == [said]
    h.wait_until(lambda: b"said=" in bytes(h.api.logs(args["Id"])))
    assert bytes(h.api.logs(args["Id"])) == b"said=hello kept=$(GREETING) none=$(NONE)\n"

    # Nothing to change on a second look: the hash is of the expanded values.
    again = h.cli("diff", "-f", str(h.root))
    assert again.returncode == 0, again.stdout + again.stderr
