"""Read manifests from files, directories and text into validated models.

Reads the file system (and stdin when asked); never talks to Docker. Every
problem names ``path:line:column`` and the field, and one bad document never
hides the others: a file is split at its ``---`` markers and each document is
parsed and validated on its own.

Input may be hostile (docs/safety.md): a file is read only when it is a
regular file (a FIFO or a device is refused from ``stat`` alone, never
opened), no larger than ``InputLimits.max_bytes``, and, when found by
scanning a directory, inside that directory once symlinks are resolved.
Each document's YAML events are measured before any node is built: too many
documents, nesting too deep, or aliases that would expand past
``max_nodes`` are refused in one linear pass.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from reconciler.core import kubefields, kubeyaml
from reconciler.core.errors import Location, ManifestError, Problem
from reconciler.core.models import (
    ConfigMapManifest,
    ContainerManifest,
    Kind,
    Manifest,
    PodManifest,
    SandboxManifest,
    SecretManifest,
)
from reconciler.core.seccomp import localhost_uses
from reconciler.core.values import LoadedValues, reads_values
from reconciler.core.values import Path as ValuesPath

MANIFEST_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
ENCRYPTED = ".age"  # web.yaml.age: a manifest encrypted with age (sources/age.py)
# Decrypts one file's bytes; raises ValueError saying why it cannot.
Decrypt = Callable[[bytes], bytes]
STDIN = "-"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DOC_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$")
_DIRECTIVE_OR_BLANK = re.compile(r"^\s*(?:[%#].*)?$")
_KINDS: dict[tuple[str, str], type[BaseModel]] = {
    ("reconciler/v1", "Sandbox"): SandboxManifest,
    ("reconciler/v1", "Container"): ContainerManifest,
    ("v1", "Pod"): PodManifest,
}
# Not units: values that envFrom in the same file reads.
_VALUES: dict[tuple[str, str], type[ConfigMapManifest | SecretManifest]] = {
    ("v1", "ConfigMap"): ConfigMapManifest,
    ("v1", "Secret"): SecretManifest,
}
_SUPPORTED = ", ".join(f"{api}/{kind}" for api, kind in [*_KINDS, *_VALUES])
# The Kubernetes object at the root of each kind, for the fields it names (kubefields).
_ROOTS: dict[type[BaseModel], str] = {
    PodManifest: "Pod",
    ConfigMapManifest: "ConfigMap",
    SecretManifest: "Secret",
    SandboxManifest: "Sandbox",
    ContainerManifest: "ContainerUnit",
}
# v1 documents: read as Kubernetes reads them (kubeyaml) before they are validated.
_KUBERNETES = {("v1", "Pod"): "Pod", ("v1", "ConfigMap"): "ConfigMap", ("v1", "Secret"): "Secret"}
_LIST = ("v1", "List")  # what `kubectl get -o yaml` prints for more than one object

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What one manifest file may cost to read (docs/safety.md, "Hostile input")."""

    max_bytes: int = 1 << 20  # per file
    max_documents: int = 1000  # per file
    max_depth: int = 64  # nesting of one document, aliases expanded
    max_nodes: int = 50_000  # nodes of one file (all its documents), aliases expanded
    # Follow a symlink found in a scanned directory that resolves outside it.
    allow_external_symlinks: bool = False


DEFAULT_LIMITS = InputLimits()


class _Refused(Exception):
    """A document exceeds the input limits; carries the problem to report."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


@dataclass(frozen=True, slots=True)
class LoadedManifest:
    """A validated manifest and where it came from."""

    manifest: Manifest
    location: Location
    source: str  # the file relative to the root it was found under; the `source` label
    # Where each key stands, kept only for a unit that reads a ConfigMap, Secret or
    # pod field: the compile step resolves those and names the line of a bad one.
    positions: Mapping[ValuesPath, Location] | None = field(default=None, compare=False)
    # The paths of ``positions`` are as written: items dropped before validation
    # (kubeyaml), and a List's item stands at ``root`` in its file.
    renumbered: Mapping[ValuesPath, tuple[int, ...]] = field(default_factory=dict, compare=False)
    root: ValuesPath = field(default=(), compare=False)

    def at(self, path: ValuesPath) -> Location:
        """Where ``path`` (or the nearest part of it that is written) stands."""
        written = _written_path(self.root, self.renumbered, path)
        for end in range(len(written), 0, -1):
            if self.positions is not None and written[:end] in self.positions:
                return self.positions[written[:end]]
        return self.location

    def field(self, path: ValuesPath) -> str:
        """The field at ``path`` of the manifest, named as written."""
        return _dotted(_written_path(self.root, self.renumbered, path))

    @property
    def identity(self) -> tuple[Kind, str, str]:
        meta = self.manifest.metadata
        return Kind(self.manifest.kind), meta.namespace, meta.name


@dataclass(slots=True)
class LoadResult:
    manifests: list[LoadedManifest] = field(default_factory=list)
    values: list[LoadedValues] = field(default_factory=list)  # the ConfigMaps and Secrets
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def extend(self, other: LoadResult) -> None:
        self.manifests.extend(other.manifests)
        self.values.extend(other.values)
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)
        self.files.extend(other.files)


def is_manifest_name(relative: PurePath) -> bool:
    """Whether a path below a scanned directory names a manifest: *.yaml, *.yml,
    *.json; nothing in a dot directory, no dot files, no editor leftovers (#..., ~...).

    Names only (no stat): the watcher asks it about files already deleted.
    """
    name = PurePath(relative.stem) if relative.suffix == ENCRYPTED else relative
    if name.suffix not in MANIFEST_SUFFIXES or relative.name.startswith(("#", "~")):
        return False
    return not any(part.startswith(".") for part in relative.parts)


def is_manifest_file(path: Path) -> bool:
    """What a directory scan reads: a manifest's name (``is_manifest_name``), not a directory.

    Anything of such a name that is not a directory counts (a FIFO, a device, a
    dangling symlink), so that reading it is refused with a reason, not skipped.
    """
    if not is_manifest_name(PurePath(path.name)):
        return False
    try:
        return not stat.S_ISDIR(os.stat(path).st_mode)  # stat never opens: no FIFO blocks
    except OSError:
        return path.is_symlink()  # dangling, or a loop: refused when read


def discover(path: Path, recursive: bool = False) -> list[tuple[Path, Path]]:
    """(file, root) pairs to read under ``path``; a file named directly is always read."""
    if not path.is_dir():
        return [(path, path.parent)]
    pattern = "**/*" if recursive else "*"
    files = (
        p
        for p in path.glob(pattern)
        if is_manifest_name(p.relative_to(path)) and is_manifest_file(p)
    )
    return [(p, path) for p in sorted(files)]


def load_paths(
    paths: Sequence[str],
    recursive: bool = False,
    limits: InputLimits = DEFAULT_LIMITS,
    decrypt: Decrypt | None = None,
) -> LoadResult:
    """Load every manifest under ``paths`` (``-`` is stdin); identities must be unique.
    ``decrypt`` opens *.age files (none: they are errors that say so)."""
    result = LoadResult()
    for raw in paths:
        if raw == STDIN:
            data = sys.stdin.buffer.read(limits.max_bytes + 1)
            result.extend(load_bytes(data, "<stdin>", STDIN, limits))
            continue
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            result.errors.append(Problem(Location(raw), "", "no such file or directory"))
            continue
        found = discover(path, recursive)
        if not found and path.is_dir():
            result.warnings.append(Problem(Location(raw), "", "no *.yaml, *.yml or *.json files"))
        for file, root in found:
            # A file named on the command line is read wherever it leads; one found
            # by scanning a directory must stay inside it.
            result.extend(load_file(file, root, limits, confined=path.is_dir(), decrypt=decrypt))
    _check_unique(result)
    return result


def read_manifest(
    file: Path, root: Path, limits: InputLimits = DEFAULT_LIMITS, confined: bool = True
) -> bytes:
    """The bytes of one manifest file, read only if it is safe to read.

    Raises ManifestError (one problem naming the file) when it is refused:
    not a regular file, larger than ``limits.max_bytes``, or (``confined``) a
    symlink that resolves outside ``root``. Raises FileNotFoundError when it
    is gone. A FIFO or device is never opened: ``stat`` decides, and the open
    is non-blocking and checked again with ``fstat`` against a swap.
    """

    def refuse(message: str) -> ManifestError:
        return ManifestError([Problem(Location(str(file)), "", message)])

    if confined and not limits.allow_external_symlinks:
        real, real_root = os.path.realpath(file), os.path.realpath(root)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise refuse(
                f"refused: a symlink leading out of {root} (to {real}); "
                "an operator may allow it (input.allowExternalSymlinks)"
            )
    try:
        info = os.stat(file)
    except FileNotFoundError:
        if file.is_symlink():
            raise refuse("cannot read: a dangling symlink") from None
        raise
    except OSError as exc:
        raise refuse(f"cannot read: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"refused: not a regular file ({_file_kind(info.st_mode)}); it is not opened")
    if info.st_size > limits.max_bytes:
        raise refuse(f"refused: {info.st_size} bytes, over the limit of {limits.max_bytes} bytes")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(file, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise refuse(f"cannot read: {exc}") from exc
    try:
        data = _read_regular(fd, limits.max_bytes)
    except OSError as exc:
        raise refuse(f"cannot read: {exc}") from exc
    except ValueError as exc:
        raise refuse(str(exc)) from None
    finally:
        os.close(fd)
    return data


def _read_regular(fd: int, max_bytes: int) -> bytes:
    """At most ``max_bytes`` from ``fd``; ValueError if it is not a regular file or is larger."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise ValueError("refused: not a regular file (it changed while being opened)")
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = os.read(fd, min(1 << 16, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > max_bytes:
        raise ValueError(f"refused: over the limit of {max_bytes} bytes")
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def source_of(file: Path, root: Path) -> str:
    """The `source` label: the file relative to the root it was found under."""
    return file.relative_to(root).as_posix() if file.is_relative_to(root) else file.as_posix()


def load_file(
    file: Path,
    root: Path,
    limits: InputLimits = DEFAULT_LIMITS,
    confined: bool = True,
    decrypt: Decrypt | None = None,
) -> LoadResult:
    try:
        data = opened(read_manifest(file, root, limits, confined), file, decrypt)
    except ManifestError as exc:
        return LoadResult(errors=exc.problems, files=[str(file)])
    except OSError as exc:
        return LoadResult(errors=[Problem(Location(str(file)), "", f"cannot read: {exc}")])
    return load_bytes(data, str(file), source_of(file, root), limits)


def opened(data: bytes, file: Path, decrypt: Decrypt | None) -> bytes:
    """A file's bytes as the loader reads them: an *.age file decrypted (in memory).
    Raises ManifestError when it cannot be."""
    if file.suffix != ENCRYPTED:
        return data
    if decrypt is None:
        why = "encrypted with age: give --age-identity (or RECONCILER_AGE_IDENTITY) to read it"
        raise ManifestError([Problem(Location(str(file)), "", why)])
    try:
        return decrypt(data)
    except ValueError as exc:
        raise ManifestError([Problem(Location(str(file)), "", f"cannot decrypt: {exc}")]) from None


def load_bytes(
    data: bytes, path: str, source: str | None = None, limits: InputLimits = DEFAULT_LIMITS
) -> LoadResult:
    """Load the documents of one file's bytes (UTF-8), within ``limits``."""
    if len(data) > limits.max_bytes:
        message = f"refused: over the limit of {limits.max_bytes} bytes"
        return LoadResult(errors=[Problem(Location(path), "", message)], files=[path])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LoadResult(errors=[Problem(Location(path), "", f"cannot read: {exc}")], files=[path])
    return load_text(text, path, source, limits)


def load_text(
    text: str, path: str, source: str | None = None, limits: InputLimits = DEFAULT_LIMITS
) -> LoadResult:
    """Load every document of one file's text; ``path`` is used in messages."""
    result = LoadResult(files=[path])
    if len(text) > limits.max_bytes:  # characters: at most as many as bytes
        message = f"refused: over the limit of {limits.max_bytes} bytes"
        result.errors.append(Problem(Location(path), "", message))
        return result
    documents = list(_split_documents(text))
    if len(documents) > limits.max_documents:
        message = f"refused: {len(documents)} documents, over the limit of {limits.max_documents}"
        result.errors.append(Problem(Location(path), "", message))
        return result
    budget = [limits.max_nodes]  # what is left for this file's documents
    for first_line, chunk in documents:
        _load_document(chunk, path, first_line, source or path, result, limits, budget)
    return result


def _values(manifest: ConfigMapManifest | SecretManifest, at: Location) -> LoadedValues:
    meta = manifest.metadata
    secret_type = manifest.type if isinstance(manifest, SecretManifest) else ""
    return LoadedValues(
        manifest.kind, meta.namespace, meta.name, manifest.values(), at, secret_type
    )


def _split_documents(text: str) -> Iterable[tuple[int, str]]:
    """Yield (0-based first line, text) per document.

    Each chunk keeps its own `---` line (a document may start on it), and what
    precedes the first one joins it when it is only directives and comments.
    """
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _DOC_SEPARATOR.match(line.rstrip("\r\n"))]
    if not starts or starts[0] != 0:
        head = lines[: starts[0]] if starts else lines
        if starts and all(_DIRECTIVE_OR_BLANK.match(line) for line in head):
            starts[0] = 0  # `%YAML 1.1` and comments belong to the document below them
        else:
            starts.insert(0, 0)
    for begin, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        yield begin, "".join(lines[begin:end])


@dataclass(frozen=True, slots=True)
class Parsed:
    """One YAML document as Python values, with where each key and item stands.

    ``positions`` are keyed by the paths as written in the file. A paths into
    ``data`` is one of them with ``root`` before it (an item of a List is a
    document of its own) and, where ``renumbered`` says so, other indexes (items
    dropped from a list before validation: kubeyaml).
    """

    data: Any
    start: Location
    positions: dict[Path_, Location]
    root: Path_ = ()
    renumbered: Mapping[Path_, tuple[int, ...]] = field(default_factory=dict)


def parse_document(
    chunk: str,
    path: str,
    offset: int = 0,
    limits: InputLimits = DEFAULT_LIMITS,
    budget: list[int] | None = None,
) -> tuple[Parsed | None, list[Problem]]:
    """Parse one YAML document; (None, []) when it is empty.

    Its events are measured first (``_measure``): nothing is composed or
    built from a document over the limits. ``budget`` holds the nodes the
    rest of its file may still have; the document's nodes are taken from it.
    """
    budget = budget if budget is not None else [limits.max_nodes]
    try:
        budget[0] -= _measure(chunk, limits, budget[0])
        node = yaml.compose(chunk, Loader=_Loader)
    except _Refused as exc:
        line = exc.mark.line + offset + 1 if exc.mark else offset + 1
        column = exc.mark.column + 1 if exc.mark else None
        return None, [Problem(Location(path, line, column), "", f"refused: {exc.message}")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + offset + 1 if mark else offset + 1
        column = mark.column + 1 if mark else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return None, [Problem(Location(path, line, column), "", f"invalid YAML: {message}")]
    except yaml.YAMLError as exc:
        return None, [Problem(Location(path, offset + 1), "", f"invalid YAML: {exc}")]
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return None, []  # an empty document, e.g. a trailing `---`
    positions: dict[Path_, Location] = {}
    builder = _Builder(path, offset, positions)
    data = builder.build(node, ())
    return Parsed(data, builder.location(node), positions), builder.problems


def _measure(chunk: str, limits: InputLimits, budget: int) -> int:
    """The nodes of a document, aliases expanded; refuse it when too deep or too large.

    One pass over the parser's events, before any node is composed: each
    anchor remembers the size and height of its node, and an alias adds them
    where it stands, so a "billion laughs" document is refused after reading
    its few hundred bytes, not after expanding them. An alias to a node that
    is not finished yet (a recursive document) is refused too. ``budget``
    is the most nodes it may have.
    Raises _Refused, or yaml.YAMLError for what the parser rejects.
    """
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)
    open_: set[str] = set()
    # Per open collection: [anchor, nodes so far, height of the tallest child].
    stack: list[list[Any]] = []
    total = 0

    def add(nodes: int, height: int, mark: Any) -> None:
        nonlocal total
        if len(stack) + height > limits.max_depth:
            raise _Refused(f"nesting deeper than {limits.max_depth} levels", mark)
        if stack:
            frame = stack[-1]
            frame[1] += nodes
            frame[2] = max(frame[2], height)
            if frame[1] > budget:
                raise _Refused(_too_many(limits), mark)
        else:
            total += nodes
            if total > budget:
                raise _Refused(_too_many(limits), mark)

    for event in yaml.parse(chunk, Loader=_Loader):
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if anchor in open_:
                raise _Refused(f"alias *{anchor} refers to a node that contains it", mark)
            if anchor not in anchors:
                continue  # the composer reports an undefined alias with its line
            add(*anchors[anchor], mark)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchors[str(event.anchor)] = (1, 1)
            add(1, 1, mark)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) + 1 > limits.max_depth:
                raise _Refused(f"nesting deeper than {limits.max_depth} levels", mark)
            if event.anchor is not None:
                open_.add(str(event.anchor))
            stack.append([event.anchor, 1, 0])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes, height = stack.pop()
            if anchor is not None:
                open_.discard(str(anchor))
                anchors[str(anchor)] = (nodes, height + 1)
            add(nodes, height + 1, mark)
    return total


def _too_many(limits: InputLimits) -> str:
    return (
        f"more than {limits.max_nodes} YAML nodes in this file once aliases are expanded "
        "(aliases that expand out of proportion are refused)"
    )


M = TypeVar("M", bound=BaseModel)


def validate(
    model: type[M], parsed: Parsed, unknown: str = "unknown field"
) -> tuple[M | None, list[Problem]]:
    """Validate a parsed document; every problem names its line and field (a field a
    manifest's Kubernetes object has, but its model lacks, is refused saying why)."""
    try:
        return model.model_validate(parsed.data), []
    except ValidationError as exc:
        return None, _problems(exc, parsed, _ROOTS.get(model), unknown)


def _load_document(
    chunk: str,
    path: str,
    offset: int,
    source: str,
    result: LoadResult,
    limits: InputLimits,
    budget: list[int],
) -> None:
    """Load one document into ``result``: a unit, or a ConfigMap or Secret (its values),
    or each item of a v1 List so; what is wrong goes to ``result``'s errors and warnings."""
    parsed, problems = parse_document(chunk, path, offset, limits, budget)
    if problems or parsed is None:
        result.errors.extend(problems)
        return
    if isinstance(parsed.data, dict) and _kind_key(parsed.data) == _LIST:
        for item in _list_items(parsed, result):
            _load_object(item, source, result)
        return
    _load_object(parsed, source, result)


def _load_object(parsed: Parsed, source: str, result: LoadResult) -> None:
    """Load one object: a document, or an item of a List."""
    if not isinstance(parsed.data, dict):
        result.errors.append(
            Problem(
                parsed.start,
                _field(parsed, ()),
                "a document must be a mapping with apiVersion and kind",
            )
        )
        return
    kind_key = _kind_key(parsed.data)
    if kind_key in _KUBERNETES:
        parsed = _as_kubernetes_reads(parsed, _KUBERNETES[kind_key], result)
    if kind_key in _VALUES:
        _load_values(_VALUES[kind_key], parsed, result)
        return
    manifest = _load_unit(parsed, result)
    if manifest is None:
        return
    # Where its references stand, for the compile step's errors (values.py, pullsecrets.py,
    # seccomp.py).
    reads = (
        reads_values(manifest)
        or bool(manifest.spec.image_pull_secrets)
        or any(localhost_uses(manifest))
    )
    positions = parsed.positions if reads else None
    result.manifests.append(
        LoadedManifest(manifest, parsed.start, source, positions, parsed.renumbered, parsed.root)
    )


def _kind_key(data: dict[str, Any]) -> tuple[str, str]:
    return str(data.get("apiVersion")), str(data.get("kind"))


def _list_items(parsed: Parsed, result: LoadResult) -> list[Parsed]:
    """The items of a v1 List, each a document of its own: a problem names items[i]."""
    data = parsed.data
    for key in data:
        if key not in ("apiVersion", "kind", "metadata", "items"):
            result.errors.append(Problem(_at(parsed, (key,)), key, "unknown field"))
    # Its metadata (resourceVersion, selfLink, continue) is an API server's record.
    items = data.get("items") or []
    if not isinstance(items, list):
        result.errors.append(Problem(_at(parsed, ("items",)), "items", "must be a list"))
        return []
    found = []
    for index, item in enumerate(items):
        at = ("items", index)
        if isinstance(item, dict) and _kind_key(item) == _LIST:
            where = Problem(_at(parsed, (*at, "kind")), _dotted((*at, "kind")), "a List in a List")
            result.errors.append(where)
            continue
        found.append(Parsed(item, parsed.positions.get(at, parsed.start), parsed.positions, at))
    return found


def _as_kubernetes_reads(parsed: Parsed, root: str, result: LoadResult) -> Parsed:
    """A v1 document as Kubernetes reads it (kubeyaml), warning of what it ignores."""
    reading = kubeyaml.read(parsed.data, root)
    result.warnings += [
        Problem(_at(parsed, p), _field(parsed, p), why) for p, why in reading.warnings
    ]
    return replace(parsed, data=reading.data, renumbered=reading.renumbered)


def _load_values(
    model: type[ConfigMapManifest | SecretManifest], parsed: Parsed, result: LoadResult
) -> None:
    """Keep a ConfigMap or Secret in ``result.values``, for the units of the source."""
    found, problems = validate(model, parsed)
    result.errors.extend(problems)
    if found is None:
        return
    values = _values(found, parsed.start)
    first = next((v for v in result.values if v.key == values.key), None)
    if first is not None:
        result.errors.append(
            Problem(
                parsed.start,
                "metadata.name",
                f"duplicate {values.kind} (first defined at {first.location})",
            )
        )
        return
    result.values.append(values)


def _load_unit(parsed: Parsed, result: LoadResult) -> SandboxManifest | ContainerManifest | None:
    """Validate a Sandbox, a Container or a Pod (as the Sandbox it means); None when it is
    refused (the problems are in ``result``)."""
    data = parsed.data
    model = _KINDS.get(_kind_key(data))
    if model is None:
        result.errors.append(_unsupported(parsed))
        return None
    manifest, problems = validate(model, parsed)
    if manifest is None:
        result.errors.extend(problems)
        return None
    if isinstance(manifest, PodManifest):
        manifest = _pod_as_sandbox(manifest, parsed, result)
        if manifest is None:
            return None
    assert isinstance(manifest, SandboxManifest | ContainerManifest)
    for at in _ignored_fields(manifest, data):
        result.warnings.append(
            Problem(
                _at(parsed, at),
                _field(parsed, at),
                "ignored: reconciler does not collect termination messages",
            )
        )
    return manifest


def _unsupported(parsed: Parsed) -> Problem:
    """No model loads this apiVersion/kind: blame apiVersion when the kind is one we know."""
    data = parsed.data
    known_kinds = {kind for _, kind in [*_KINDS, *_VALUES]}
    field_name = "apiVersion" if str(data.get("kind")) in known_kinds else "kind"
    return Problem(
        _at(parsed, (field_name,)),
        _field(parsed, (field_name,)),
        f"unsupported apiVersion/kind {data.get('apiVersion')!r}/{data.get('kind')!r}"
        f" (supported: {_SUPPORTED})",
    )


def _pod_as_sandbox(pod: PodManifest, parsed: Parsed, result: LoadResult) -> SandboxManifest | None:
    """The Sandbox a Pod means; None when it cannot be one (the problems are in ``result``).
    What only a cluster reads was dropped, with warnings, before (kubeyaml)."""
    annotations = ("metadata", "annotations")
    apparmor = [
        Problem(
            _at(parsed, (*annotations, key)),
            f"{_field(parsed, annotations)}[{key}]",
            "not supported by reconciler: AppArmor profiles (Kubernetes enforces this "
            "annotation or rejects the Pod; Docker here would apply its default)",
        )
        for key in pod.metadata.annotations
        if key.startswith(_APPARMOR)
    ]
    if apparmor:
        result.errors.extend(apparmor)
        return None
    try:
        return pod.to_sandbox()
    except ValidationError as exc:
        result.errors.extend(_problems(exc, parsed, "Pod"))
        return None


_APPARMOR = "container.apparmor.security.beta.kubernetes.io/"
# Kubernetes' defaults, which it fills in: written, they mean what their absence means.
_TERMINATION_MESSAGE = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}


def _ignored_fields(manifest: Manifest, data: dict[str, Any]) -> list[Path_]:
    """Container fields that have no effect here: warned, not refused (unless they hold
    Kubernetes' default)."""

    def asked(container: dict[str, Any]) -> list[str]:
        return [
            f
            for f, default in _TERMINATION_MESSAGE.items()
            if container.get(f) not in (None, default)
        ]

    spec = data.get("spec") or {}
    if isinstance(manifest, ContainerManifest):
        return [("spec", f) for f in asked(spec)]
    found: list[Path_] = []
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            if isinstance(container, dict):
                found += [("spec", group, index, f) for f in asked(container)]
    return found


class _Builder:
    """Turns a composed YAML node into Python values, remembering where each key stands."""

    def __init__(self, path: str, offset: int, positions: dict[Path_, Location]) -> None:
        self.path = path
        self.offset = offset
        self.positions = positions
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")  # a constructor for plain scalars only

    def location(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.path, mark.line + self.offset + 1, mark.column + 1)

    def build(self, node: yaml.Node, at: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, at)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.positions[(*at, index)] = self.location(item)
                items.append(self.build(item, (*at, index)))
            return items
        try:
            value = self._scalars.construct_object(node, deep=True)
            if isinstance(value, str) and "\x00" in value:
                # Docker and the kernel end a string at NUL: what follows would vanish.
                raise ValueError("a NUL character is not allowed")
            return value
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            # A timestamp with month 13, bad base64, an integer of 5000 digits, a
            # tag with no safe meaning: a problem at the value, never a crash.
            problem = getattr(exc, "problem", None) or str(exc)
            self.problems.append(Problem(self.location(node), _dotted(at), f"bad value: {problem}"))
            return None

    def _mapping(self, node: yaml.MappingNode, at: Path_) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    Problem(self.location(key_node), _dotted(at), "a mapping key must be a scalar")
                )
                continue
            # Keys are read as written: `1` and `true` are two keys, not 1 == True.
            key = str(key_node.value)
            if "\x00" in key:
                self.problems.append(
                    Problem(self.location(key_node), _dotted(at), "a NUL character is not allowed")
                )
                continue
            where = self.location(key_node)
            if key in mapping:
                first = self.positions[(*at, key)]
                self.problems.append(
                    Problem(
                        where, _dotted((*at, key)), f"duplicate key (first at line {first.line})"
                    )
                )
                continue
            self.positions[(*at, key)] = where
            mapping[key] = self.build(value_node, (*at, key))
        # `<<` merges: explicit keys win, then earlier merged mappings over later ones.
        for source in merged:
            sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
            for each in sources:
                if not isinstance(each, yaml.MappingNode):
                    self.problems.append(
                        Problem(self.location(each), _dotted(at), "`<<` merges only mappings")
                    )
                    continue
                for key, value in self._mapping(each, at).items():
                    mapping.setdefault(key, value)
        return mapping


def _written(parsed: Parsed, path: Path_) -> Path_:
    """``path`` into ``parsed.data`` as the path written in the file."""
    return _written_path(parsed.root, parsed.renumbered, path)


def _written_path(root: Path_, renumbered: Mapping[Path_, tuple[int, ...]], path: Path_) -> Path_:
    """``path`` into a document's data as written in its file: after ``root``, with the
    index each item had before the items ``renumbered`` says were dropped."""
    written: list[str | int] = list(root)
    for end, part in enumerate(path):
        kept = renumbered.get(path[:end])
        if isinstance(part, int) and kept is not None and 0 <= part < len(kept):
            written.append(kept[part])
        else:
            written.append(part)
    return tuple(written)


def _at(parsed: Parsed, path: Path_) -> Location:
    """Where ``path`` (or the nearest part of it that is written) stands."""
    written = _written(parsed, path)
    for end in range(len(written), 0, -1):
        if written[:end] in parsed.positions:
            return parsed.positions[written[:end]]
    return parsed.start


def _field(parsed: Parsed, path: Path_) -> str:
    """The field at ``path`` named as written (``items[2].spec...`` in a List)."""
    return _dotted(_written(parsed, path))


def _problems(
    exc: ValidationError, parsed: Parsed, root: str | None, unknown: str = "unknown field"
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[Path_] = set()
    for error in exc.errors():
        loc = _data_path(error["loc"], parsed.data)
        if loc in seen:
            continue  # one message per field: union branches repeat themselves
        seen.add(loc)
        message = _message(error, root, loc, unknown)
        problems.append(Problem(_at(parsed, loc), _field(parsed, loc), message))
    return problems


def _data_path(loc: tuple[str | int, ...], data: Any) -> Path_:
    """Keep the parts of a pydantic location that index the document (drop union tags)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        indexes_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if (isinstance(node, dict) and part in node) or indexes_list:
            node = node[part]
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and part[:1].islower()
            and "[" not in part
        ):
            node = None  # a missing field: keep its name, it is what the user must add
        else:
            continue
        path.append(part)
    return tuple(path)


def _message(error: Any, root: str | None, loc: Path_, unknown: str) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        # A Kubernetes field reconciler lacks says so and why; any other is unknown.
        refused = kubefields.refusal(root, loc, error.get("input")) if root else None
        return refused or unknown
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def first_of_each(
    manifests: Iterable[LoadedManifest],
) -> tuple[list[LoadedManifest], list[tuple[LoadedManifest, Problem]]]:
    """Each identity (kind, namespace, name) where it is defined first, and every later
    definition with the problem it is (both apply and the watched directory say it so)."""
    first: dict[tuple[Kind, str, str], LoadedManifest] = {}
    duplicates: list[tuple[LoadedManifest, Problem]] = []
    for loaded in manifests:
        identity = loaded.identity
        if identity in first:
            kind, namespace, name = identity
            problem = Problem(
                loaded.location,
                "metadata.name",
                f"duplicate {kind} {namespace}/{name} "
                f"(first defined at {first[identity].location})",
            )
            duplicates.append((loaded, problem))
            continue
        first[identity] = loaded
    return list(first.values()), duplicates


def _check_unique(result: LoadResult) -> None:
    result.manifests, duplicates = first_of_each(result.manifests)
    result.errors.extend(problem for _, problem in duplicates)
