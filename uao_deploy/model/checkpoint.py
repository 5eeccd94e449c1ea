"""Loading and saving GUMLP checkpoints in the seed's format (a plain state dict) plus a JSON sidecar."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..contract import Calibration
from ..errors import UaoError, first_line, one_line
from ..fileio import atomic_write_bytes, file_sha256
from .gumlp import GUMLP, GUMLPConfig

_ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_CHECKPOINT_NAME = "gumlp_default.pth"


def default_checkpoint() -> Path:
    """Path of the default model that ships inside the package."""
    return _ASSETS / DEFAULT_CHECKPOINT_NAME


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".json")


def load_tensors(path: Path, what: str, map_location="cpu"):
    """``torch.load`` with ``weights_only=True``: tensors and plain containers, never code. Anything
    else is one UaoError that names the reason without torch's advice to load it unsafely."""
    try:
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
        raise UaoError(f"{path} does not hold a GUMLP state dict (a mapping of parameter names to tensors)")
    broken = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if broken:
        raise UaoError(f"{path} holds NaN or infinite weights (in {broken[0]}"
                       f"{f' and {len(broken) - 1} more tensors' if len(broken) > 1 else ''}): a damaged checkpoint "
                       "or a diverged training run")
    return state


def config_from_state_dict(state: dict[str, torch.Tensor]) -> GUMLPConfig:
    """Recover channels, layers and the channel-MLP width from parameter shapes."""
    try:
        channels = state["encoder.fc5.weight"].shape[0]
        hidden = state["GCN_MLP.blocks.0.channel_mlp.linear_down.linear.0.weight"].shape[0]
    except KeyError as exc:
        raise UaoError(f"checkpoint is not a GUMLP state dict: missing key {exc.args[0]!r}") from None
    layers = 1 + max(int(m.group(1)) for key in state if (m := re.match(r"GCN_MLP\.blocks\.(\d+)\.", key)))
    return GUMLPConfig(channels=channels, layers=layers, channel_hidden=hidden)


def load_state_dict_strict(model: GUMLP, state: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
                   for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong_shape)):
        if items:
            shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise UaoError(f"{source} does not match GUMLP{model.config.channels}x{model.config.layers}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def checkpoint_path(checkpoint: str | os.PathLike | None = None) -> Path:
    """The checkpoint file meant: ``checkpoint``, or the embedded default model when None; it must exist."""
    path = default_checkpoint() if checkpoint is None else Path(checkpoint)
    if not path.is_file():
        raise UaoError(f"checkpoint not found: {path}")
    return path


@dataclass(frozen=True)
class ResolvedModel:
    """A GUMLP with what identifies it: the checkpoint file's sha256 (or the weights' for a module) and path."""

    model: GUMLP
    sha256: str
    path: Path | None
    calibration: Calibration = Calibration()


def resolve_model(model_or_checkpoint: GUMLP | str | os.PathLike | None = None) -> ResolvedModel:
    """The one way from what a user gives (a GUMLP, a checkpoint path, None: the embedded model) to a model."""
    if isinstance(model_or_checkpoint, torch.nn.Module):
        digest = hashlib.sha256()
        for name, tensor in model_or_checkpoint.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return ResolvedModel(model_or_checkpoint, digest.hexdigest(), None)
    path = checkpoint_path(model_or_checkpoint)
    return ResolvedModel(load_checkpoint(path), file_sha256(path), path, read_calibration(path))


def load_checkpoint(path: str | os.PathLike | None = None) -> GUMLP:
    """GUMLP in eval mode from the seed's checkpoint format or this project's (default: embedded model)."""
    path = checkpoint_path(path)
    state = read_state_dict(path)
    model = GUMLP(config_from_state_dict(state))
    load_state_dict_strict(model, state, str(path))
    return model.eval()


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


def write_calibration(path: str | os.PathLike, calibration: Calibration) -> Path:
    """Record ``calibration`` in the checkpoint's sidecar (made if it has none), atomically."""
    path = checkpoint_path(path)
    sidecar = read_sidecar(path) or {"format": "gumlp-state-dict", "config": load_checkpoint(path).config.to_dict(),
                                     "sha256": file_sha256(path)}
    sidecar["calibration"] = calibration.to_dict()
    target = sidecar_path(path)
    atomic_write_bytes(target, lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=2) + "\n"))
    return target


def save_checkpoint(model: GUMLP, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Save the weights in the seed's format (plain state dict) and a sidecar with config and sha256."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, lambda tmp: torch.save(state, tmp))
    sidecar = {"format": "gumlp-state-dict", "config": model.config.to_dict(), "sha256": file_sha256(path)}
    sidecar.update(metadata or {})
    atomic_write_bytes(sidecar_path(path), lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=2) + "\n"))
    return path
