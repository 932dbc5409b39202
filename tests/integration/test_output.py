"""`-o json` of apply, diff and delete (docs/output.md), and the terminal's progress line."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .conftest import PAUSE, Harness

SCHEMA = Draft202012Validator(
    json.loads((Path(__file__).parents[2] / "docs" / "output.schema.json").read_text())
)

WEB = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {name: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: app, image: local/busybox:test, command: [sleep, "3600"]}
---
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: cache}
    spec:
      image: local/busybox:test
      command: [sleep, "3600"]
      terminationGracePeriodSeconds: 1
"""


def _doc(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout)  # the whole of stdout is one document
    errors = [e.message for e in SCHEMA.iter_errors(data)]
    assert errors == [], errors
    return data


def _statuses(data: dict[str, Any]) -> dict[str, str]:
    return {f"{u['kind']}/{u['name']}": u["status"] for u in data["units"]}


def test_diff_apply_and_delete_print_one_documented_document(h: Harness) -> None:
    h.write("web.yaml", WEB)
    diff = h.cli("diff", "-f", str(h.root), "-o", "json")
    assert diff.returncode == 1, diff.stderr
    planned = _doc(diff)
    assert (planned["kind"], planned["changes"], planned["ok"]) == ("DiffResult", True, True)
    assert _statuses(planned) == {"Sandbox/web": "changes", "Container/cache": "changes"}
    web = next(u for u in planned["units"] if u["name"] == "web")
    assert [a["type"] for a in web["actions"]] == ["CreateInfra", "CreateMember"]
    assert web["actions"][1]["target"]["container"] == "app"
    assert all(a["reason"] for a in web["actions"])

    applied = _doc(h.apply("-o", "json"))
    assert applied["kind"] == "ApplyResult" and applied["ok"]
    assert _statuses(applied) == {"Sandbox/web": "configured", "Container/cache": "configured"}
    web = next(u for u in applied["units"] if u["name"] == "web")
    assert [r["ok"] for r in web["results"]] == [True, True] and web["skipped"] == 0

    again = _doc(h.apply("-o", "json"))
    assert again["changes"] is False
    assert set(_statuses(again).values()) == {"unchanged"}

    deleted = h.cli("delete", "web", "ghost", "-o", "json")
    assert deleted.returncode == 1
    gone = _doc(deleted)
    assert gone["kind"] == "DeleteResult" and gone["ok"] is False
    assert _statuses(gone) == {"Sandbox/web": "deleted"}
    assert gone["notFound"] == ["ghost: no sandbox or container of that name in namespace default"]


def test_manifest_errors_are_in_the_document_with_file_line_and_field(h: Harness) -> None:
    path = h.write("bad.yaml", WEB.replace('command: [sleep, "3600"]}', "comand: [x]}"))
    done = h.apply("-o", "json", expect=1)
    data = _doc(done)
    assert data["ok"] is False
    (problem,) = data["errors"]
    assert problem["file"] == str(path)
    assert problem["field"] == "spec.containers[0].comand"
    assert problem["line"] == 1 + path.read_text().splitlines().index(
        next(line for line in path.read_text().splitlines() if "comand" in line)
    )
    assert _statuses(data) == {"Container/cache": "configured"}  # the valid one still applied


def test_progress_and_color_on_a_terminal_never_on_a_pipe(h: Harness) -> None:
    h.write("web.yaml", WEB)
    env = os.environ | {"RECONCILER_INSTANCE": h.instance, "RECONCILER_INFRA_IMAGE": PAUSE}
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "-f", str(h.root)],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert proc.wait(timeout=120) == 0
    text = seen.decode()
    assert "/2 units] " in text  # the progress line: units done / total, current action
    assert "\x1b[" in text  # colored
    assert "sandbox/web configured" in re.sub(r"\x1b\[[0-9;]*m", "", text)

    h.write("web.yaml", WEB.replace('"3600"]}', '"3601"]}'))
    piped = h.apply()
    assert "\x1b[" not in piped.stdout + piped.stderr and "\r" not in piped.stdout + piped.stderr
    assert "units]" not in piped.stdout + piped.stderr
