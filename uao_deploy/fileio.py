"""Files written whole or not at all, output locations checked before work starts, and content
hashes (no torch: the runtime uses these)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import UaoError


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Folders already swept by this process (sweeping lists the folder: once is enough).
_SWEPT: set[Path] = set()


def temporary_prefix(name: str) -> str:
    """Prefix of a temporary file or folder for ``name``: ``.<name>.uao-tmp-<pid>.``, so a later run
    can tell the temporaries of a killed run (its process is gone) from those of a run still writing."""
    return f".{name}.uao-tmp-{os.getpid()}."


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def sweep_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries (see :func:`temporary_prefix`) in ``folder`` whose process no longer
    runs; return what was removed."""
    pattern = re.compile(r"^\..+\.uao-tmp-(\d+)\.")
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or int(match.group(1)) == os.getpid() or _process_alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def atomic_write_bytes(path: Path, write, suffix: str = ".tmp") -> None:
    """Write through a temporary file in the same folder and rename, so no half-written file remains.

    ``suffix`` names the temporary file for writers that pick the format from it (e.g. .gif).
    Temporaries of earlier, killed runs in the folder are removed first. A failed write (full
    disk, no permission) raises UaoError and leaves any earlier file at ``path`` as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if real_path(path.parent) not in _SWEPT:
            sweep_stale_temporaries(path.parent)
            _SWEPT.add(real_path(path.parent))
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=suffix)
    except OSError as exc:
        raise UaoError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(handle)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UaoError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, payload) -> None:
    """JSON (indented, newline-terminated), written atomically."""
    atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))


def check_writable_folder(folder: str | os.PathLike) -> None:
    """Refuse, before any work, a folder that cannot be created or written: a path under a file,
    a read-only or virtual file system (e.g. /proc), a folder without write permission."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UaoError(f"cannot write {folder}: {existing} is a file, not a folder")
    try:  # a real file proves it: permissions, read-only mounts and /proc all answer differently
        handle, probe = tempfile.mkstemp(dir=existing, prefix=temporary_prefix("write-check"))
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise UaoError(f"cannot write in {existing}: {exc.strerror or exc}") from None


def real_path(path: str | os.PathLike) -> Path:
    """``path`` with every link and ``..`` resolved; a link loop stays as it is (``Path.resolve``
    raises RuntimeError on one), for the read that follows to name it."""
    return Path(os.path.realpath(path))


class Inputs:
    """The files and folders a run reads, to refuse an output that is one of them or lies inside one
    of the folders, by any spelling (``..``, ``.``, symbolic links, hard links)."""

    def __init__(self, paths=()):
        self.files: dict[Path, str] = {}  # resolved path -> as given
        self.inodes: dict[tuple[int, int], str] = {}  # (device, inode) -> as given: hard links
        self.folders: dict[Path, str] = {}
        for path in paths:
            given, resolved = str(path), real_path(path)
            (self.folders if resolved.is_dir() else self.files)[resolved] = given
            with contextlib.suppress(OSError):
                status = os.stat(path)
                self.inodes[(status.st_dev, status.st_ino)] = given

    def holding(self, path: Path) -> str | None:
        """The input ``path`` is, or the input folder it lies in (or is); None when it touches none."""
        resolved = real_path(path)
        if resolved in self.files:
            return self.files[resolved]
        with contextlib.suppress(OSError):
            status = os.stat(path)
            if (status.st_dev, status.st_ino) in self.inodes:
                return self.inodes[(status.st_dev, status.st_ino)]
        for folder in (resolved, *resolved.parents):
            if folder in self.folders:
                return self.folders[folder]
        return None


def _as_inputs(inputs) -> Inputs:
    return inputs if isinstance(inputs, Inputs) else Inputs(inputs)


def check_output_file(path: str | os.PathLike, inputs=(), what: str = "output") -> Path:
    """Refuse, before any work, an output file that is an input or lies inside an input folder (by
    any spelling), that is a link or a special file (a terminal, ``/dev/stdout``, a pipe: never
    replaced, never written to), or that cannot be written (an existing folder of that name, a
    location that cannot be written)."""
    path = Path(path)
    source = _as_inputs(inputs).holding(path)
    if source is not None:
        inside = real_path(source) != real_path(path) and Path(source).is_dir()
        raise UaoError(f"{what} {path} is {'inside ' if inside else ''}the input {source}; "
                       "refusing to overwrite an input")
    if path.is_dir():
        raise UaoError(f"{what} {path} is an existing folder; name a file")
    if path.exists() and not path.is_file():
        raise UaoError(f"{what} {path} is not a regular file (a terminal, pipe, device or socket); name a file")
    if path.is_symlink():
        raise UaoError(f"{what} {path} is a symbolic link; name a file (a link is never replaced)")
    check_writable_folder(path.parent)
    return path


def check_output_folder(folder: str | os.PathLike, what: str = "output folder", inputs=()) -> Path:
    """Refuse, before any work, an output folder that is a file, cannot be written, or is (or lies
    inside) an input folder: its outputs would be read as inputs by the next run."""
    folder = Path(folder)
    source = _as_inputs(inputs).holding(folder)
    if source is not None:
        raise UaoError(f"{what} {folder} is {'' if real_path(source) == real_path(folder) else 'inside '}"
                       f"the input {source}; write the outputs elsewhere (the next run would read them as inputs)")
    if folder.exists() and not folder.is_dir():
        raise UaoError(f"{what} {folder} exists and is not a folder")
    check_writable_folder(folder)
    return folder
