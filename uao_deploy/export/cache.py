"""Exports made on first use and kept in a cache folder, shared by ``uao infer``, ``verify`` and ``bench``.

Entries are checked against their manifests' sha256 on every use and rebuilt when damaged;
``uao cache`` lists them and ``uao cache --clear`` removes them. Each entry holds a marker file
(``MARKER``) written before anything else: only marked folders are ever removed, never through a
link, so a cache folder pointed at a user's folder (or holding links to others) loses nothing else.
"""
from __future__ import annotations

import hashlib
import json
import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from .. import __version__
from ..contract import TTOConfig, check_tto_iters, checked_graph_files, read_manifest
from ..errors import UaoError
from ..fileio import file_sha256, sweep_stale_temporaries, temporary_prefix
from ..model.files import lifter_key

log = logging.getLogger(__name__)

# Folders whose code never reaches an exported graph (commands, jobs, the host-side lifting core,
# timing, pictures): editing them reuses the cached exports.
NOT_IN_GRAPHS = ("cli", "jobs", "pipeline", "bench", "viz")
MARKER = ".uao-cache-entry"  # in every folder this module made, holding SIGNATURE
SIGNATURE = "made by uao-deploy's export cache (uao_deploy.export.cache); `uao cache --clear` removes this folder\n"


def cache_dir() -> Path:
    """Where default exports live: $UAO_CACHE_DIR, else $XDG_CACHE_HOME/uao-deploy, else ~/.cache/uao-deploy."""
    if os.environ.get("UAO_CACHE_DIR"):
        return Path(os.environ["UAO_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uao-deploy"


def exported_graphs(checkpoint=None, tto: TTOConfig = TTOConfig(), precision: str = "fp32") -> Path:
    """An ONNX export folder of ``checkpoint`` (a path or a ModelRef; default: the embedded model),
    made on first use.

    The folder's name hashes the architecture, the weights' sha256 and calibration, the TTO config, the precision, the uao
    version and the exporter's code, so neither a changed checkpoint nor a changed exporter reuses
    stale graphs; it is written to a temporary folder
    and renamed, so an interrupted export leaves nothing behind.
    """
    check_tto_iters(tto.iters)
    lifter = lifter_key(checkpoint)
    key = json.dumps([lifter, tto.to_dict(), precision, __version__, exporter_fingerprint()], sort_keys=True)
    folder = cache_dir() / "export" / hashlib.sha256(key.encode()).hexdigest()[:16]
    weights = getattr(checkpoint, "checkpoint", checkpoint)  # a ModelRef's weights, or the path itself
    label = f"{lifter['architecture']['name']} ({Path(weights).name if weights else 'embedded weights'})"

    def export(staging):
        from . import export_onnx  # only on a miss: the exporter loads PyTorch (seconds), finding an export does not

        log.info("exporting %s to ONNX once, into the cache %s (each later run reuses it):", label, folder)
        export_onnx(checkpoint, staging, tto=tto, precision=precision)
    return _cached(folder, export)


def exporter_fingerprint() -> str:
    """sha256 of the package code that can decide what the graphs compute: a changed exporter (an
    edited checkout, or another release) never reuses graphs cached by the old one. Every module
    counts except the folders that only drive or show results, so code in a new folder is covered."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] not in NOT_IN_GRAPHS:
            digest.update(str(relative).encode() + path.read_bytes())
    return digest.hexdigest()


def built_engines(onnx_dir, max_batch: int) -> Path:
    """TensorRT engines of an export folder for batches up to ``max_batch``, built on first use."""
    from . import build_engines

    onnx_dir = Path(onnx_dir)
    profile = (1, min(8, max_batch), max_batch)
    folder = onnx_dir.parent / f"{onnx_dir.name}-tensorrt-{max_batch}"
    return _cached(folder, lambda staging: build_engines(onnx_dir, staging, profile=profile))


def _intact(folder: Path) -> bool:
    """Whether a cache entry is complete with every graph as exported; a damaged one is moved aside."""
    if not (folder / "manifest.json").is_file():
        return False
    try:
        checked_graph_files(folder, read_manifest(folder), "")
        return True
    except UaoError as exc:
        if not is_entry(folder):
            raise UaoError(f"{folder} is in the way of a cache entry and was not made by uao "
                           f"({str(exc).rstrip('; ')}); remove it") from None
        log.warning("rebuilding the damaged cache entry %s (%s)", folder, str(exc).rstrip("; "))
        with contextlib.suppress(OSError):  # a concurrent run may have moved it already
            os.replace(folder, folder.parent / f"{temporary_prefix(folder.name)}damaged")
        shutil.rmtree(folder.parent / f"{temporary_prefix(folder.name)}damaged", ignore_errors=True)
        return False


def is_entry(path: Path) -> bool:
    """Whether ``path`` is a folder this module made: a real folder (not a link) holding the marker."""
    marker = Path(path) / MARKER
    try:
        if Path(path).is_symlink() or not Path(path).is_dir() or marker.is_symlink() or not marker.is_file():
            return False
        with open(marker, encoding="utf-8") as handle:
            return handle.read(len(SIGNATURE) + 1) == SIGNATURE
    except (OSError, UnicodeDecodeError):
        return False


def _cached(folder: Path, make) -> Path:
    """``folder`` once ``make(staging)`` has filled a temporary sibling and it was renamed into place.

    Staging folders of killed runs are removed first; a damaged entry is rebuilt."""
    if _intact(folder):
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UaoError(f"cannot create the cache folder {folder.parent}: {exc.strerror or exc}; "
                       "set UAO_CACHE_DIR to a writable folder") from None
    sweep_stale_temporaries(folder.parent)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=temporary_prefix(folder.name)))
    try:
        (staging / MARKER).write_text(SIGNATURE, encoding="utf-8")
        make(staging)
        os.replace(staging, folder)
    except OSError as exc:
        if not (folder / "manifest.json").is_file():  # not a concurrent run that finished first
            raise UaoError(f"cannot write the cache entry {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _tree_bytes(folder: Path) -> int:
    """Bytes of the files below ``folder``, links neither followed nor counted."""
    total = 0
    for base, _, files in os.walk(folder):  # os.walk does not follow links into folders
        for name in files:
            with contextlib.suppress(OSError):
                status = os.lstat(os.path.join(base, name))
                total += status.st_size if stat.S_ISREG(status.st_mode) else 0
    return total


def _export_root() -> Path:
    """The folder of the entries; refused when it is a link (uao never works through one there)."""
    root = cache_dir() / "export"
    if root.is_symlink():
        raise UaoError(f"{root} is a link, not a folder uao made; remove the link (uao never clears through it)")
    return root


def cache_entries() -> tuple[list[dict], list[Path]]:
    """(every cache entry: folder, size in bytes, age in days, what it holds (from its manifest);
    the other things in the cache folder, which uao did not make and leaves alone)."""
    root = _export_root()
    entries, foreign = [], []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith("."):
            continue  # a run's staging folder, or hidden files
        if not is_entry(folder):
            foreign.append(folder)
            continue
        try:
            manifest = read_manifest(folder)
        except UaoError:
            holds = "incomplete (no valid manifest)"
        else:
            tto = manifest.get("tto")
            iters = tto.get("iters", "?") if isinstance(tto, dict) else "?"
            holds = (f"{manifest.get('format', '?')} {manifest.get('precision', '?')}, K = {iters}, "
                     f"checkpoint {str(manifest.get('checkpoint_sha256', '?'))[:12]}")
        entries.append({"folder": folder, "bytes": _tree_bytes(folder),
                        "age_days": (time.time() - folder.lstat().st_mtime) / 86400, "holds": holds})
    return entries, foreign


def clear_cache() -> tuple[int, int, list[Path]]:
    """Remove every cache entry (marked folders only, never through a link) and the staging folders
    of killed runs; return (folders removed, bytes freed, what was left alone: not made by uao)."""
    root = _export_root()
    if not root.is_dir():
        return 0, 0, []
    removed, freed = len(sweep_stale_temporaries(root)), 0
    entries, foreign = cache_entries()
    for entry in entries:
        shutil.rmtree(entry["folder"], ignore_errors=True)  # removes links inside, never what they point to
        removed, freed = removed + 1, freed + entry["bytes"]
    return removed, freed, foreign
