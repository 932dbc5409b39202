"""ConfigMaps and Secrets from other files, and env's valueFrom, read back from running
containers: the values Kubernetes would give."""

from __future__ import annotations

from reconciler.core import labels as L

from .conftest import Harness

VALUES = """
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

READER = """
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          resources: {limits: {memory: 64Mi}}
          envFrom: [{configMapRef: {name: settings}, prefix: CFG_}]
          env:
            - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: MODE}}}
            - {name: RAW, valueFrom: {configMapKeyRef: {name: settings, key: RAW}}}
            - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: PASSWORD}}}
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
            - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
            - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
            - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
            - {name: URL, value: "http://$(POD_IP):8080/$(MODE)"}
    """

BYSTANDER = """
    apiVersion: v1
    kind: Pod
    metadata: {name: other}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: app, image: local/busybox:test, command: [sleep, "3600"]}
    """


def _env(h: Harness, unit: str) -> dict[str, str]:
    app = h.member(unit, "app")
    code, out = h.exec(app["Id"], "env")
    assert code == 0, out
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _infra_ip(h: Harness, unit: str) -> str:
    networks = h.member(unit)["NetworkSettings"]["Networks"]
    return next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))


def test_values_from_other_files_and_the_pods_fields_reach_the_container(h: Harness) -> None:
    h.write("values/settings.yaml", VALUES)
    h.write("web.yaml", READER)
    h.write("other.yaml", BYSTANDER)
    said = h.apply("-R")
    env = _env(h, "web")
    ip = _infra_ip(h, "web")
    assert env["CFG_MODE"] == env["MODE"] == "prod"
    assert env["CFG_RAW"] == env["RAW"] == "$(MODE)"  # a ConfigMap's value is never expanded
    assert env["PASSWORD"] == "s3cret"
    assert (env["POD_NAME"], env["APP"], env["MEM_MI"]) == ("web", "web", "64")
    assert env["POD_IP"] == ip and env["URL"] == f"http://{ip}:8080/prod"
    assert len(env["POD_UID"]) == 36
    diff = h.cli("diff", "-R", "-f", str(h.root))
    assert diff.returncode == 0, "converged: nothing to do"
    h.write("web.yaml", READER.replace("64Mi", "32Mi"))
    changed = h.cli("diff", "-R", "-f", str(h.root))
    assert changed.returncode == 1 and "recreate app" in changed.stdout, changed.stdout
    for output in (said, diff, changed, h.cli("get", "-o", "json")):
        assert "s3cret" not in output.stdout + output.stderr, "a Secret's value is never shown"
    h.write("web.yaml", READER)

    # A changed value recreates exactly its reader.
    web, other = h.member("web", "app")["Id"], h.member("other", "app")["Id"]
    h.write("values/settings.yaml", VALUES.replace("MODE: prod", "MODE: dev"))
    h.apply("-R")
    assert h.member("web", "app")["Id"] != web and _env(h, "web")["MODE"] == "dev"
    assert h.member("other", "app")["Id"] == other


def test_a_reference_defined_nowhere_creates_nothing_and_removes_nothing(h: Harness) -> None:
    h.write("values/settings.yaml", VALUES)
    h.write("web.yaml", READER)
    h.apply("-R")
    running = h.member("web", "app")["Id"]
    (h.root / "values" / "settings.yaml").unlink()
    done = h.apply("-R", "--prune", expect=1)
    out = done.stdout + done.stderr
    assert (
        "web.yaml:" in out
        and "envFrom[0].configMapRef.name: ConfigMap default/settings is not defined in the source"
        in out
    )
    assert h.member("web", "app")["Id"] == running, "refused: left as it is"

    h.write("fresh.yaml", READER.replace("name: web", "name: fresh"))
    done = h.apply("-R", expect=1)
    assert "fresh.yaml:" in done.stdout + done.stderr
    assert h.containers(**{L.SANDBOX: "fresh"}) == [], "nothing of it is created"


FILES = """
    apiVersion: v1
    kind: Pod
    metadata:
      name: files
      labels: {app: files, tier: web}
      annotations: {owner: "team \\"core\\""}
    spec:
      terminationGracePeriodSeconds: 1
      volumes:
        - name: config
          configMap:
            name: settings
            items: [{key: MODE, path: conf/mode.txt}]
        - name: creds
          secret: {secretName: creds, defaultMode: 0400}
        - name: info
          downwardAPI:
            items:
              - {path: labels, fieldRef: {fieldPath: metadata.labels}}
              - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
              - {path: name, fieldRef: {fieldPath: metadata.name}}
              - path: mem
                resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}
        - name: all
          projected:
            sources:
              - configMap: {name: settings}
              - secret: {name: creds, items: [{key: PASSWORD, path: pw, mode: 0440}]}
              - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
        - name: scratch
          emptyDir: {}
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          resources: {limits: {memory: 32Mi}}
          env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
          volumeMounts:
            - {name: config, mountPath: /etc/config}
            - {name: creds, mountPath: /etc/creds}
            - {name: info, mountPath: /etc/info}
            - {name: all, mountPath: /etc/all}
            - {name: config, mountPath: /etc/mode.txt, subPath: conf/mode.txt}
            - {name: scratch, mountPath: /work, subPathExpr: "$(POD_NAME)"}
    """


def test_volumes_of_files_hold_what_kubelet_would_write(h: Harness) -> None:
    h.write("values/settings.yaml", VALUES)
    h.write("files.yaml", FILES)
    h.apply("-R")
    app = h.member("files", "app")["Id"]

    def sh(script: str) -> str:
        code, out = h.exec(app, "sh", "-c", script)
        assert code == 0, out
        return out

    assert sh("cat /etc/config/conf/mode.txt /etc/mode.txt") == "prodprod"
    assert sh("cat /etc/creds/PASSWORD; stat -L -c %a /etc/creds/PASSWORD") == "s3cret400\n"
    assert sh("cat /etc/info/labels") == 'app="files"\ntier="web"'
    assert sh("cat /etc/info/annotations") == 'owner="team \\"core\\""'
    assert sh("cat /etc/info/name /etc/info/mem") == "files32"
    assert (
        sh("cat /etc/all/MODE /etc/all/RAW /etc/all/pw /etc/all/ns") == "prod$(MODE)s3cretdefault"
    )
    assert sh("stat -L -c %a /etc/all/pw /etc/all/MODE") == "440\n644\n"
    # Read-only, as kubelet mounts them; the subPathExpr made a directory of the pod's name.
    assert h.exec(app, "sh", "-c", "echo x > /etc/config/new")[0] != 0
    sh("echo data > /work/f")
    scratch = next(m for m in h.member("files", "app")["Mounts"] if m["Destination"] == "/work")
    assert scratch["Source"].endswith("/_data/files")
    # A changed value: the containers that mount it are recreated with the new files.
    h.write("values/settings.yaml", VALUES.replace("MODE: prod", "MODE: dev"))
    h.apply("-R")
    again = h.member("files", "app")["Id"]
    assert again != app
    assert h.exec(again, "cat", "/etc/mode.txt")[1] == "dev"
