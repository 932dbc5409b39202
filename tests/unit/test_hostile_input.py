"""Hostile and broken input: limits, aliases, special files, symlinks, injection."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import Problem
from reconciler.core.manifests import InputLimits, LoadResult, load_file, load_paths, load_text
from reconciler.sources.directory import ManifestDirectory


def container_doc(name: str, extra: str = "") -> str:
    return (
        "apiVersion: reconciler/v1\n"
        "kind: Container\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{image: busybox:1{extra}}}\n"
    )


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, this = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{this}: &{this} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


def only_error(result: LoadResult) -> Problem:
    assert len(result.errors) == 1, [str(p) for p in result.errors]
    return result.errors[0]


def finishes(call: Callable[[], Any]) -> Any:
    """Run ``call`` in a thread; a hang (a blocked FIFO read) fails the test instead."""
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(call()), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the call blocked"
    return box[0]


# --- YAML that expands out of proportion --------------------------------------


def test_billion_laughs_is_refused_before_it_expands() -> None:
    text = billion_laughs()
    assert len(text) < 400
    problem = only_error(load_text(text, "m.yaml"))
    assert "refused" in problem.message and "aliases" in problem.message
    assert problem.location.line is not None


def test_a_few_aliases_are_fine() -> None:
    text = container_doc("c").replace("busybox:1", "&img busybox:1, args: [*img, *img]")
    result = load_text(text, "m.yaml")
    assert result.ok, [str(p) for p in result.errors]
    assert result.manifests[0].manifest.spec.args == ["busybox:1"] * 2  # type: ignore[union-attr]


def test_a_recursive_alias_is_refused() -> None:
    problem = only_error(load_text("a: &x [1, *x]\n", "m.yaml"))
    assert "alias *x refers to a node that contains it" in problem.message
    assert (problem.location.line, problem.location.column) == (1, 11)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_deeper_than_the_limit_is_refused(style: str) -> None:
    depth = 65
    if style == "flow":
        text = "x: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"
    problem = only_error(load_text(text, "m.yaml"))
    assert "nesting deeper than 64 levels" in problem.message


def test_depth_counts_what_aliases_bring_in() -> None:
    deep = "[" * 40 + "]" * 40
    text = f"a: &d {deep}\nb: " + "[" * 30 + "*d" + "]" * 30 + "\n"
    assert "nesting deeper" in only_error(load_text(text, "m.yaml")).message


def test_too_many_documents_are_refused_whole() -> None:
    limits = InputLimits(max_documents=3)
    text = "---\n".join(container_doc(f"c{i}") for i in range(4))
    problem = only_error(load_text(text, "m.yaml", limits=limits))
    assert problem.message == "refused: 4 documents, over the limit of 3"
    assert load_text(text, "m.yaml").ok


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(container_doc("c") + "#" * 200)
    problem = only_error(load_paths([str(path)], limits=InputLimits(max_bytes=100)))
    assert "over the limit of 100" in problem.message
    assert problem.location.path == str(path)
    assert load_paths([str(path)]).ok


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("2001-13-45", "month must be in 1..12"),
        ("!!binary abc", "base64"),
        ("1" + "0" * 5000, "digits"),
        ("!!python/name:os.system ''", "bad value"),
    ],
)
def test_a_scalar_that_cannot_be_built_is_a_problem_not_a_crash(value: str, what: str) -> None:
    problem = only_error(load_text(f"x: {value}\n", "m.yaml"))
    assert what in problem.message and problem.field == "x"


# --- files that are not files ---------------------------------------------------


def test_a_fifo_in_a_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(container_doc("good"))
    os.mkfifo(tmp_path / "pipe.yaml")
    result = finishes(lambda: load_paths([str(tmp_path)]))
    assert [m.manifest.metadata.name for m in result.manifests] == ["good"]
    problem = only_error(result)
    assert problem.location.path == str(tmp_path / "pipe.yaml")
    assert "not a regular file (a FIFO)" in problem.message


def test_a_fifo_named_directly_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    problem = only_error(finishes(lambda: load_paths([str(tmp_path / "pipe.yaml")])))
    assert "a FIFO" in problem.message


def test_a_device_is_refused_without_opening_it(tmp_path: Path) -> None:
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    problem = only_error(finishes(lambda: load_paths([str(link)])))
    assert "a character device" in problem.message


def test_the_watched_directory_refuses_a_fifo_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(container_doc("good"))
    os.mkfifo(tmp_path / "pipe.yaml")
    files = ManifestDirectory(tmp_path, recursive=False)
    finishes(lambda: files.scan(0.0))
    errors = files.errors()
    assert list(errors) == ["pipe.yaml"] and "a FIFO" in errors["pipe.yaml"][0].message
    assert [m.manifest.metadata.name for m in files._files[tmp_path / "good.yaml"].good] == ["good"]


# --- symlinks -----------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.yaml"
    path.parent.mkdir()
    path.write_text(container_doc("secret"))
    (tmp_path / "watched").mkdir()
    return path


def test_a_symlink_out_of_the_directory_is_refused(tmp_path: Path, outside: Path) -> None:
    watched = tmp_path / "watched"
    (watched / "link.yaml").symlink_to(outside)
    result = load_paths([str(watched)])
    assert not result.manifests
    problem = only_error(result)
    assert "a symlink leading out of" in problem.message and str(outside) in problem.message


def test_a_symlinked_directory_is_not_descended(tmp_path: Path, outside: Path) -> None:
    watched = tmp_path / "watched"
    (watched / "sub").symlink_to(outside.parent, target_is_directory=True)
    result = load_paths([str(watched)], recursive=True)
    assert not result.manifests and not result.errors


def test_an_operator_may_allow_external_symlinks(tmp_path: Path, outside: Path) -> None:
    watched = tmp_path / "watched"
    (watched / "link.yaml").symlink_to(outside)
    result = load_paths([str(watched)], limits=InputLimits(allow_external_symlinks=True))
    assert result.ok and result.manifests[0].manifest.metadata.name == "secret"


def test_a_symlink_inside_the_directory_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.yml.txt").write_text(container_doc("c"))
    (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yml.txt")
    result = load_paths([str(tmp_path)])
    assert result.ok and [m.source for m in result.manifests] == ["link.yaml"]


def test_a_file_named_directly_is_read_where_it_leads(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "watched" / "link.yaml"
    link.symlink_to(outside)
    assert load_paths([str(link)]).ok
    assert not load_file(link, link.parent).ok  # what a directory scan would do


def test_the_watched_directory_refuses_a_symlink_out(tmp_path: Path, outside: Path) -> None:
    watched = tmp_path / "watched"
    (watched / "link.yaml").symlink_to(outside)
    files = ManifestDirectory(watched, recursive=False)
    change = files.scan(0.0)
    assert not change.units
    assert "a symlink leading out of" in files.errors()["link.yaml"][0].message


# --- injection: names, labels, env, commands ----------------------------------------


HOST_PATH = "spec.volumes[0].hostPath.path"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (', env: [{name: "A=B", value: x}]', "spec.env[0].name"),
        (', env: [{name: A, value: "x\\0y"}]', "spec.env[0].value"),
        (', command: ["sh\\0", "-c"]', "spec.command[0]"),
        (', workingDir: "relative"', "spec.workingDir"),
        (", ports: [{containerPort: 80, hostPort: 80, hostIP: 'a;b'}]", "spec.ports[0].hostIP"),
        (', runtime: "runc --privileged"', "spec.runtime"),
        (', volumes: [{name: h, hostPath: {path: "/srv/../etc"}}]', HOST_PATH),
        (', volumes: [{name: h, hostPath: {path: "/etc:/x"}}]', HOST_PATH),
    ],
)
def test_what_could_inject_is_refused(extra: str, field: str) -> None:
    problem = only_error(load_text(container_doc("c", extra), "m.yaml"))
    assert problem.field == field


def test_an_image_reference_cannot_carry_options() -> None:
    doc = container_doc("c").replace("busybox:1", '"--privileged busybox"')
    assert only_error(load_text(doc, "m.yaml")).field == "spec.image"


@pytest.mark.parametrize(
    "labels",
    ['{"a b": x}', '{"io.reconciler.x/": y}', '{ok: "v=1;rm"}', '{"-x": y}', '{k: "a\\0"}'],
)
def test_labels_follow_kubernetes_syntax(labels: str) -> None:
    doc = container_doc("c").replace("{name: c}", f"{{name: c, labels: {labels}}}")
    assert only_error(load_text(doc, "m.yaml")).field.startswith("metadata.labels")


def test_good_labels_pass() -> None:
    labels = '{app: web, "example.com/tier": front-end, empty: ""}'
    doc = container_doc("c").replace("{name: c}", f"{{name: c, labels: {labels}}}")
    assert load_text(doc, "m.yaml").ok


def test_a_nul_anywhere_is_refused() -> None:
    doc = container_doc("c") + 'x-note: "a\\0b"\n'
    problem = only_error(load_text(doc, "m.yaml"))
    assert "NUL" in problem.message and problem.field == "x-note"


def test_the_node_limit_covers_the_whole_file() -> None:
    """Many documents each just under the limit would add up to minutes of work."""
    small = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: [*a,*a,*a,*a,*a]\n'
    limits = InputLimits(max_nodes=200)
    alone = load_text(small, "m.yaml", limits=limits).errors
    assert not any("refused" in p.message for p in alone)  # one document is within the limit
    errors = load_text("---\n".join([small] * 5), "m.yaml", limits=limits).errors
    assert any("more than 200 YAML nodes in this file" in p.message for p in errors)
