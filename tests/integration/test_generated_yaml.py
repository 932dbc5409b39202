"""What `kubectl get pod -o yaml` prints runs as the Pod it describes (issue 20): the
API server's record, the defaults, the scheduler's fields, the token volume and the
status are read and left out, and the container is what the spec says."""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.core import labels as L

from .conftest import Harness

SAMPLE = Path(__file__).parents[1] / "unit" / "data" / "generated" / "kubectl-get-pod.yaml"


def test_a_kubectl_get_pod_runs_as_the_pod_it_describes(h: Harness) -> None:
    shutil.copy(SAMPLE, h.root / "web.yaml")
    done = h.apply()
    said = done.stdout + done.stderr
    for warned in ("spec.nodeName: ignored", "status: ignored", "spec.volumes[1]: ignored"):
        assert warned in said, said
    for quiet in ("dnsPolicy", "schedulerName", "tolerations", "terminationMessage", "metadata"):
        assert quiet not in said, said

    web = h.member("web", "web")
    config, host = web["Config"], web["HostConfig"]
    assert web["State"]["Running"], web["State"]
    assert config["Labels"][L.ROLE] == L.ROLE_WORKLOAD
    assert config["Image"] == "local/busybox:test"
    assert (config["Entrypoint"], config["Cmd"]) == (["httpd"], ["-f", "-p", "8080", "-h", "/www"])
    assert {"MODE=production", "EMPTY="} <= set(config["Env"])
    assert (config["WorkingDir"], config["User"]) == ("/www", "1000")
    assert host["Memory"] == 64 * 2**20
    assert host["SecurityOpt"] == ["no-new-privileges"]
    # The emptyDir is mounted; the service account token an API server would add is not.
    assert [m["Destination"] for m in web["Mounts"]] == ["/www"]
    # It starts empty, as under kubelet: Docker does not copy the image's /www into it.
    assert h.exec(web["Id"], "ls", "-A", "/www") == (0, "")
    assert host["NetworkMode"] == f"container:{h.member('web')['Id']}"

    # httpd serves on the Pod's port, in the sandbox's network namespace.
    code, out = h.exec(web["Id"], "sh", "-c", "wget -S -O- http://127.0.0.1:8080/ 2>&1; true")
    assert code == 0 and "HTTP/1.1 " in out, out
    # Nothing in it is a change: applying it again, or diffing, does nothing.
    assert h.cli("diff", "-f", str(h.root)).returncode == 0
