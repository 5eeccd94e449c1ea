"""Exports made on first use and kept in a cache folder, shared by ``uao infer``, ``verify`` and ``bench``.

Entries are checked against their manifests' sha256 on every use and rebuilt when damaged;
``uao cache`` lists them and ``uao cache --clear`` removes them.
"""
from __future__ import annotations

import hashlib
import json
import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from .. import __version__
from ..contract import TTOConfig, check_tto_iters, checked_graph_files, read_manifest
from ..errors import UaoError
from ..fileio import file_sha256, sweep_stale_temporaries, temporary_prefix
from ..model.checkpoint import checkpoint_path, read_calibration

log = logging.getLogger(__name__)

# Folders whose code never reaches an exported graph (commands, jobs, timing, pictures).
NOT_IN_GRAPHS = ("cli", "jobs", "bench", "viz")


def cache_dir() -> Path:
    """Where default exports live: $UAO_CACHE_DIR, else $XDG_CACHE_HOME/uao-deploy, else ~/.cache/uao-deploy."""
    if os.environ.get("UAO_CACHE_DIR"):
        return Path(os.environ["UAO_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uao-deploy"


def exported_graphs(checkpoint=None, tto: TTOConfig = TTOConfig(), precision: str = "fp32") -> Path:
    """An ONNX export folder of ``checkpoint`` (default: the embedded model), made on first use.

    The folder's name hashes the checkpoint's sha256 and calibration, the TTO config, the precision, the uao
    version and the exporter's code, so neither a changed checkpoint nor a changed exporter reuses
    stale graphs; it is written to a temporary folder
    and renamed, so an interrupted export leaves nothing behind.
    """
    from . import export_onnx  # looked up at call time: torch.onnx is heavy

    check_tto_iters(tto.iters)
    checkpoint = checkpoint_path(checkpoint)
    key = json.dumps([file_sha256(checkpoint), read_calibration(checkpoint).to_dict(), tto.to_dict(), precision,
                      __version__, exporter_fingerprint()], sort_keys=True)
    folder = cache_dir() / "export" / hashlib.sha256(key.encode()).hexdigest()[:16]

    def export(staging):
        log.info("exporting %s to ONNX once, into the cache %s (each later run reuses it):",
                 checkpoint.name, folder)
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
        log.warning("rebuilding the damaged cache entry %s (%s)", folder, str(exc).rstrip("; "))
        with contextlib.suppress(OSError):  # a concurrent run may have moved it already
            os.replace(folder, folder.parent / f"{temporary_prefix(folder.name)}damaged")
        shutil.rmtree(folder.parent / f"{temporary_prefix(folder.name)}damaged", ignore_errors=True)
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
        make(staging)
        os.replace(staging, folder)
    except OSError as exc:
        if not (folder / "manifest.json").is_file():  # not a concurrent run that finished first
            raise UaoError(f"cannot write the cache entry {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def cache_entries() -> list[dict]:
    """Every cache entry: folder, size in bytes, age in days, and what it holds (from its manifest)."""
    root = cache_dir() / "export"
    entries = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not folder.is_dir():
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
        files = [path for path in folder.rglob("*") if path.is_file()]
        entries.append({"folder": folder, "bytes": sum(path.stat().st_size for path in files),
                        "age_days": (time.time() - folder.stat().st_mtime) / 86400, "holds": holds})
    return entries


def clear_cache() -> tuple[int, int]:
    """Remove every cache entry and leftover staging folder; return (folders removed, bytes freed)."""
    root = cache_dir() / "export"
    removed = freed = 0
    for folder in list(root.iterdir()) if root.is_dir() else []:
        freed += sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
        removed += 1
    return removed, freed
