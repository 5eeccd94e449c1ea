"""Loading and saving lifter checkpoints (a plain state dict: the seed's format for GUMLP) plus a JSON sidecar."""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..contract import Calibration
from ..errors import UaoError, first_line, one_line
from ..fileio import atomic_write_bytes, file_sha256
from .files import ModelRef, architecture_of, as_ref, checkpoint_path, read_calibration, read_sidecar, sidecar_path
from .gumlp import GUMLP
from .registry import ARCHITECTURES, Lifter, check_lifter, model_spec


def load_tensors(path: Path, what: str, map_location="cpu"):
    """``torch.load`` with ``weights_only=True``: tensors and plain containers, never code. Anything
    else is one UaoError that names the reason without torch's advice to load it unsafely."""
    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before refusing it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's message advises weights_only=False: keep only the reason
        reason = str(exc).partition("WeightsUnpickler error:")[2].strip()
        reason = first_line(reason.partition(". ")[0]) if reason else "not a PyTorch file"
        raise UaoError(f"{path} is not {what}: it holds more than tensors and plain containers ({reason}); "
                       "uao never unpickles code from it") from None
    except Exception as exc:  # torch.load raises many types on garbage; all mean the same to a user
        raise UaoError(f"{path} is not {what} ({one_line(exc)})") from None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict with ``weights_only=True`` (no code runs), or raise a clear UaoError."""
    path = Path(path)
    if not path.is_file():
        raise UaoError(f"checkpoint not found: {path}")
    state = load_tensors(path, "a readable PyTorch checkpoint")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UaoError(f"{path} does not hold a state dict (a mapping of parameter names to tensors)")
    broken = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if broken:
        raise UaoError(f"{path} holds NaN or infinite weights (in {broken[0]}"
                       f"{f' and {len(broken) - 1} more tensors' if len(broken) > 1 else ''}): a damaged checkpoint "
                       "or a diverged training run")
    return state


def load_state_dict_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str, label: str) -> None:
    """Load ``state`` into ``model`` (``label`` names the architecture), or one UaoError listing what differs."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
                   for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    for kind, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong_shape)):
        if items:
            shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            problems.append(f"{kind}: {shown}")
    if problems:
        raise UaoError(f"{source} does not match {label}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


@dataclass(frozen=True)
class ResolvedModel:
    """A lifter with what identifies it: the checkpoint file's sha256 (or the weights' for a module
    given without one), its path, its calibration and its architecture (name, source, source sha256)."""

    model: nn.Module
    sha256: str
    path: Path | None
    calibration: Calibration = Calibration()
    architecture: dict = field(default_factory=dict)

    @property
    def config(self) -> dict:
        """The sizes of a registered architecture ({} for a user's module)."""
        config = getattr(self.model, "config", None)
        return config.to_dict() if config is not None else {}


def weights_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def module_identity(model: nn.Module) -> dict:
    """The architecture of a module given directly: its registered name, else its class and source."""
    for architecture in ARCHITECTURES.values():
        if type(model) is architecture.module:
            return model_spec(architecture.name).identity()
    module = model.net if isinstance(model, Lifter) else model
    source = Path(inspect.getsourcefile(type(module)) or "")
    return {"name": type(module).__name__, "source": source.name,
            "source_sha256": file_sha256(source) if source.is_file() else None}


def resolve_model(model_or_checkpoint=None) -> ResolvedModel:
    """The one way from what a user gives (a module, a checkpoint path, a ModelRef, None: the embedded
    model) to a lifter checked against the contract (:func:`.registry.check_lifter`)."""
    if isinstance(model_or_checkpoint, nn.Module):
        identity = module_identity(model_or_checkpoint)
        model = check_lifter(model_or_checkpoint, identity["name"])
        return ResolvedModel(model, weights_sha256(model), None, architecture=identity)
    ref = as_ref(model_or_checkpoint)
    spec = model_spec(architecture_of(ref))
    path = checkpoint_path(ModelRef(spec.name, ref.checkpoint))
    state = None if path is None else read_state_dict(path)
    model = spec.build(state)
    if state is not None:
        label = f"the {spec.name} architecture" + (f" {_sizes(model)}" if hasattr(model, "config") else "")
        load_state_dict_strict(model.net if isinstance(model, Lifter) else model, state, str(path), label)
    check_lifter(model.eval(), spec.name)
    calibration = Calibration() if path is None else read_calibration(path)
    sha256 = weights_sha256(model) if path is None else file_sha256(path)
    return ResolvedModel(model, sha256, path, calibration, spec.identity())


def _sizes(model: nn.Module) -> str:
    return "(" + ", ".join(f"{key} {value}" for key, value in model.config.to_dict().items()) + ")"


def load_checkpoint(path=None) -> nn.Module:
    """The lifter in eval mode from a checkpoint (seed or uao format), a ModelRef, or None (the embedded GUMLP)."""
    return resolve_model(path).model


def _describe_weights(model: nn.Module) -> dict:
    """The sidecar's description of a lifter: format, architecture and (registered ones) config."""
    described = {"format": "gumlp-state-dict" if isinstance(model, GUMLP) else "uao-state-dict",
                 "architecture": module_identity(model)}
    if hasattr(model, "config"):
        described["config"] = model.config.to_dict()
    return described


def write_calibration(checkpoint, calibration: Calibration) -> Path:
    """Record ``calibration`` in the sidecar of ``checkpoint`` (a path or a ModelRef; made if it has none), atomically."""
    resolved = resolve_model(checkpoint)
    path = resolved.path
    if path is None:
        raise UaoError("a calibration is recorded beside the checkpoint it measured: give the checkpoint")
    sidecar = read_sidecar(path) or {**_describe_weights(resolved.model), "sha256": file_sha256(path)}
    sidecar["calibration"] = calibration.to_dict()
    target = sidecar_path(path)
    atomic_write_bytes(target, lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=2) + "\n"))
    return target


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Save the weights as a plain state dict (the seed's format for GUMLP) and a sidecar with the
    architecture, config and sha256."""
    path = Path(path)
    weights = model.net if isinstance(model, Lifter) else model
    state = {k: v.detach().cpu().contiguous() for k, v in weights.state_dict().items()}
    atomic_write_bytes(path, lambda tmp: torch.save(state, tmp))
    sidecar = {**_describe_weights(model), "sha256": file_sha256(path)}
    sidecar.update(metadata or {})
    atomic_write_bytes(sidecar_path(path), lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=2) + "\n"))
    return path
