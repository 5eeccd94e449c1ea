"""A lifter's files, read without PyTorch: the embedded checkpoints, sidecars, calibration, and the key
that names its exported graphs in the export cache.

``uao infer`` finds a cached export by that key on every run; keying a registered architecture's
checkpoint needs only files, so a run on a cached export does not load PyTorch (about 2 CPU s and
200 MB). A user's module (``--model FILE.py:NAME``) is imported by :mod:`.registry`, with PyTorch.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..contract import Calibration
from ..errors import UaoError, one_line
from ..fileio import file_sha256

DEFAULT_ARCHITECTURE = "gumlp"
# The source file of each registered architecture (:mod:`.registry` registers its module and checks the
# file is this one): its sha256 keys the architecture's exports.
REGISTERED_SOURCES = {"gumlp": "gumlp.py", "martinez": "martinez.py"}
_ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class ModelRef:
    """A lifter named by ``--model`` (see :mod:`.registry`) and the checkpoint of its weights.

    ``checkpoint`` None: the architecture's embedded model, or a user's module as its function builds it.
    """

    model: str | None = None
    checkpoint: Path | None = None


def model_ref(model: str | None, checkpoint: str | os.PathLike | None):
    """What the commands pass on for ``--model`` and ``--checkpoint``: the checkpoint alone without --model."""
    if model is None:
        return checkpoint
    return ModelRef(model, None if checkpoint is None else Path(checkpoint))


def as_ref(model_or_checkpoint) -> ModelRef:
    if isinstance(model_or_checkpoint, ModelRef):
        return model_or_checkpoint
    return ModelRef(None, None if model_or_checkpoint is None else Path(model_or_checkpoint))


def default_checkpoint(architecture: str = DEFAULT_ARCHITECTURE) -> Path:
    """Path of a registered architecture's model that ships inside the package (default: GUMLP's)."""
    return _ASSETS / f"{architecture}_default.pth"


def source_identity(name: str, source: Path) -> dict:
    """An architecture as exports and checkpoints record it: name, source file and its sha256."""
    return {"name": name, "source": source.name, "source_sha256": file_sha256(source)}


def registered_source(name: str) -> Path:
    return Path(__file__).resolve().parent / REGISTERED_SOURCES[name]


def checkpoint_path(checkpoint=None) -> Path | None:
    """The checkpoint file meant: ``checkpoint`` (a path or a ModelRef), or the embedded model of its
    architecture (GUMLP's when none is named); None for a user's module given without weights."""
    ref = as_ref(checkpoint)
    if ref.checkpoint is not None:
        path = Path(ref.checkpoint)
    elif (ref.model or DEFAULT_ARCHITECTURE) in REGISTERED_SOURCES:
        path = default_checkpoint(ref.model or DEFAULT_ARCHITECTURE)
    else:
        from .registry import model_spec

        model_spec(ref.model)  # a user's module, checked to be one: it has no embedded weights
        return None
    if not path.is_file():
        raise UaoError(f"checkpoint not found: {path}")
    return path


def architecture_of(checkpoint=None) -> str | None:
    """The ``--model`` of ``checkpoint``: the one named, else the registered one its sidecar records."""
    ref = as_ref(checkpoint)
    if ref.model is not None or ref.checkpoint is None:
        return ref.model
    recorded = read_sidecar(ref.checkpoint).get("architecture", {}).get("name")
    if recorded is not None and recorded not in REGISTERED_SOURCES:
        raise UaoError(f"{ref.checkpoint} holds weights of the architecture {recorded}: name it with --model")
    return recorded


def lifter_key(model_or_checkpoint=None) -> dict:
    """What decides a lifter's exported graphs, without building it when its weights are a file: the
    architecture (name, source sha256), the weights' sha256 and the calibration."""
    ref = as_ref(model_or_checkpoint)
    name = architecture_of(ref) or DEFAULT_ARCHITECTURE
    if name in REGISTERED_SOURCES:
        identity = source_identity(name, registered_source(name))
    else:  # a user's module: imported (with PyTorch) to find its source
        from .registry import model_spec

        identity = model_spec(name).identity()
    path = checkpoint_path(ModelRef(name, ref.checkpoint))
    if path is None:  # a user's module as its function builds it: only its weights tell
        from .checkpoint import resolve_model

        return {"architecture": identity, "weights_sha256": resolve_model(ref).sha256, "calibration": {}}
    return {"architecture": identity, "weights_sha256": file_sha256(path),
            "calibration": read_calibration(path).to_dict()}


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".json")


def read_sidecar(path: str | os.PathLike) -> dict:
    """The JSON metadata next to a checkpoint, or {} for a bare seed checkpoint; a sidecar that is
    not a JSON object is one UaoError (it would be overwritten, or misread, otherwise)."""
    side = sidecar_path(path)
    if not side.exists():
        return {}
    if not side.is_file():
        raise UaoError(f"{side} is not a regular file, so not a checkpoint's sidecar; remove it")
    try:
        sidecar = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UaoError(f"{side} is not a readable JSON sidecar ({one_line(exc)}); "
                       "fix or remove it") from None
    if not isinstance(sidecar, dict):
        raise UaoError(f"{side} holds a JSON {type(sidecar).__name__}, not the object a checkpoint's sidecar is; "
                       "fix or remove it")
    return sidecar


def read_calibration(path: str | os.PathLike) -> Calibration:
    """The checkpoint's measured biases (its sidecar's "calibration"), or none measured."""
    return Calibration.from_dict(read_sidecar(path).get("calibration", {}), sidecar_path(path))
