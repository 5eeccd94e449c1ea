"""Exports made on first use and kept in a cache folder, shared by ``uao infer``, ``verify`` and ``bench``."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .. import __version__
from ..model.checkpoint import checkpoint_path
from ..fileio import file_sha256
from ..contract import TTOConfig

# Folders whose code never reaches an exported graph (commands, jobs, timing, pictures).
NOT_IN_GRAPHS = ("cli", "jobs", "bench", "viz")


def cache_dir() -> Path:
    """Where default exports live: $UAO_CACHE_DIR, else $XDG_CACHE_HOME/uao-deploy, else ~/.cache/uao-deploy."""
    if os.environ.get("UAO_CACHE_DIR"):
        return Path(os.environ["UAO_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uao-deploy"


def exported_graphs(checkpoint=None, tto: TTOConfig = TTOConfig(), precision: str = "fp32") -> Path:
    """An ONNX export folder of ``checkpoint`` (default: the embedded model), made on first use.

    The folder's name hashes the checkpoint's sha256, the TTO config, the precision, the uao
    version and the exporter's code, so neither a changed checkpoint nor a changed exporter reuses
    stale graphs; it is written to a temporary folder
    and renamed, so an interrupted export leaves nothing behind.
    """
    from . import export_onnx  # looked up at call time: torch.onnx is heavy

    checkpoint = checkpoint_path(checkpoint)
    key = json.dumps([file_sha256(checkpoint), tto.to_dict(), precision, __version__, exporter_fingerprint()],
                     sort_keys=True)
    folder = cache_dir() / "export" / hashlib.sha256(key.encode()).hexdigest()[:16]
    return _cached(folder, lambda staging: export_onnx(checkpoint, staging, tto=tto, precision=precision))


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


def _cached(folder: Path, make) -> Path:
    """``folder`` once ``make(staging)`` has filled a temporary sibling and it was renamed into place."""
    if (folder / "manifest.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        make(staging)
        os.replace(staging, folder)
    except OSError:
        if not (folder / "manifest.json").is_file():  # not a concurrent run that finished first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
