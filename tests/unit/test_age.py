"""*.yaml.age manifests: decrypted with an age identity, in memory, or refused saying why."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.core.manifests import is_manifest_name, load_paths
from reconciler.sources.age import age_decryptor

pytestmark = pytest.mark.skipif(
    shutil.which("age") is None, reason="Debian's age is not installed (test.sh installs it)"
)

SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {PASSWORD: s3cret}
"""


def keypair(directory: Path, name: str) -> tuple[Path, str]:
    identity = directory / f"{name}.key"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return identity, public


def encrypt(text: str, recipient: str, to: Path) -> None:
    subprocess.run(
        ["age", "-r", recipient, "-o", str(to)],
        input=text.encode(),
        check=True,
        capture_output=True,
    )


def test_an_encrypted_manifest_is_read_with_the_identity(tmp_path: Path) -> None:
    identity, public = keypair(tmp_path, "host")
    manifests = tmp_path / "m"
    manifests.mkdir()
    encrypt(SECRET, public, manifests / "creds.yaml.age")
    assert b"s3cret" not in (manifests / "creds.yaml.age").read_bytes()
    loaded = load_paths([str(manifests)], decrypt=age_decryptor(identity))
    assert loaded.ok, [str(p) for p in loaded.errors]
    (values,) = loaded.values
    assert values.data == {"PASSWORD": "s3cret"}
    assert values.location.path.endswith("creds.yaml.age")


def test_without_the_identity_or_with_another_it_fails_like_a_broken_file(tmp_path: Path) -> None:
    _, public = keypair(tmp_path, "host")
    other, _ = keypair(tmp_path, "other")
    manifests = tmp_path / "m"
    manifests.mkdir()
    encrypt(SECRET, public, manifests / "creds.yaml.age")
    (missing,) = load_paths([str(manifests)]).errors
    assert "encrypted with age: give --age-identity" in str(missing)
    (wrong,) = load_paths([str(manifests)], decrypt=age_decryptor(other)).errors
    assert "creds.yaml.age: cannot decrypt: " in str(wrong) and "s3cret" not in str(wrong)


def test_which_names_are_encrypted_manifests() -> None:
    assert is_manifest_name(Path("a.yaml.age")) and is_manifest_name(Path("a.json.age"))
    assert not is_manifest_name(Path("a.age")) and not is_manifest_name(Path("a.txt.age"))
