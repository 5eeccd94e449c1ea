"""Files written whole or not at all, and content hashes (no torch: the runtime uses these)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, write, suffix: str = ".tmp") -> None:
    """Write through a temporary file in the same folder and rename, so no half-written file remains.

    ``suffix`` names the temporary file for writers that pick the format from it (e.g. .gif).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, payload) -> None:
    """JSON (indented, newline-terminated), written atomically."""
    atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
