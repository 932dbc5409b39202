"""Manifests encrypted with age (*.yaml.age): decrypted with the host's identity, in
memory only. Does I/O: runs Debian's `age` (the reference implementation's CLI).

The plaintext goes from age's stdout to the loader through a pipe; it is never
written to a file, the state directory, a log or the status. A file that cannot
be decrypted fails like a broken file (manifests.py): under `run` it keeps its
last good units, under `sync` it fails the commit.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from reconciler.core.manifests import Decrypt

AGE = "age"
TIMEOUT = 30.0  # a stuck age (a passphrase prompt) must not hold the loop


def age_decryptor(identity: Path) -> Decrypt:
    """Decrypt with the age identity file ``identity`` (X25519 or SSH key)."""

    def decrypt(data: bytes) -> bytes:
        binary = shutil.which(AGE)
        if binary is None:
            raise ValueError("the age command is not installed (Debian: apt-get install age)")
        try:
            done = subprocess.run(
                [binary, "--decrypt", "--identity", str(identity)],
                input=data,
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
                stdin=None,
            )
        except subprocess.TimeoutExpired:
            raise ValueError(f"age did not finish within {TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()
            raise ValueError(why[-1] if why else f"age exited with {done.returncode}")
        return done.stdout

    return decrypt
