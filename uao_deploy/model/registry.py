"""The registry of lifter architectures, and the lifter contract every architecture must meet.

A lifter is a ``torch.nn.Module`` mapping normalized 2D keypoints x (B, 17, 2) to ``(mu, s)``:
mu (B, 17, 3) the root-relative pose in metres (camera frame), s (B, 17, 1) a per-joint log-scale
uncertainty (the per-joint loss is ``||target - mu|| * exp(-s) + s``). Per-frame: a sample's
outputs never depend on its batch neighbours. Every command that loads weights names the
architecture with ``--model``: a registered name (below), ``FILE.py:NAME`` or
``package.module:NAME``, NAME a function that returns the module (weights then load from
``--checkpoint``). The exporter, every engine, ``uao infer/verify/bench/eval/train`` take any lifter.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .. import skeleton
from ..errors import UaoError, first_line, one_line
from . import gumlp, martinez
from .files import DEFAULT_ARCHITECTURE, REGISTERED_SOURCES, source_identity


@dataclass(frozen=True)
class Architecture:
    """A lifter family shipped in the package: its module class, config and how to size it."""

    name: str
    module: type[nn.Module]
    config: type  # a frozen dataclass with to_dict()
    config_from_state: Callable[[dict], object]  # the config that the weights of a state dict fit
    sized: Callable[[int | None, int | None], object]  # (channels, layers) of `uao train` -> config

    def build(self, config=None) -> nn.Module:
        return self.module(self.config() if config is None else config)

    @property
    def source(self) -> Path:
        return Path(sys.modules[self.module.__module__].__file__)


ARCHITECTURES: dict[str, Architecture] = {}


def register(architecture: Architecture) -> Architecture:
    if REGISTERED_SOURCES.get(architecture.name) != architecture.source.name:  # what keys its exports without torch
        raise UaoError(f"register the source file of architecture {architecture.name} ({architecture.source.name}) "
                       "in uao_deploy.model.files.REGISTERED_SOURCES")
    ARCHITECTURES[architecture.name] = architecture
    return architecture


def _sized(config_class, channels_field: str, layers_field: str):
    def sized(channels, layers):
        given = {channels_field: channels, layers_field: layers}
        return config_class(**{key: value for key, value in given.items() if value is not None})
    return sized


register(Architecture("gumlp", gumlp.GUMLP, gumlp.GUMLPConfig, gumlp.config_from_state_dict,
                      _sized(gumlp.GUMLPConfig, "channels", "layers")))
register(Architecture("martinez", martinez.MartinezMLP, martinez.MartinezConfig, martinez.config_from_state_dict,
                      _sized(martinez.MartinezConfig, "width", "blocks")))


class Lifter(nn.Module):
    """A user's module given GUMLP's input handling: any leading shape, e.g. the seed's (B, 1, 17, 2).

    The module sees (N, 17, 2); its outputs may be (N, 17, C) or (N, 1, 17, C). Its outputs' kind
    and shapes are checked here, where they are static (also while tracing).
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead, joints = x.shape[:-2], skeleton.NUM_JOINTS
        outputs = self.net(x.reshape(-1, joints, 2))
        if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2):
            raise UaoError(f"must return (mu, s), two tensors; it returned {_describe(outputs)}")
        for output, label, size in zip(outputs, ("mu", "s"), (3, 1)):
            if not isinstance(output, torch.Tensor) or tuple(output.shape[-2:]) != (joints, size) \
                    or output.numel() != x.numel() // 2 * size:
                shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
                raise UaoError(f"returns {label} of shape {shape} for keypoints of shape {tuple(x.shape)}; "
                               f"expected (N, {joints}, {size})")
        mu, s = outputs
        return mu.reshape(*lead, joints, 3), s.reshape(*lead, joints, 1)


@dataclass(frozen=True)
class ModelSpec:
    """What ``--model`` names, resolved: a registered architecture or a user's factory, and its source."""

    name: str
    architecture: Architecture | None  # None: a user's factory
    factory: Callable[[], nn.Module] | None
    source: Path

    def identity(self) -> dict:
        """The architecture as exports and checkpoints record it: name, source file and its sha256."""
        return source_identity(self.name, self.source)

    def build(self, state: dict | None = None, config=None) -> nn.Module:
        """The module, sized from ``state``'s shapes (or ``config``) for a registered architecture."""
        if self.architecture is not None:
            if state is not None:
                try:
                    config = self.architecture.config_from_state(state)
                except (KeyError, IndexError, ValueError) as exc:
                    raise UaoError(f"the checkpoint does not hold {self.name} weights (missing {first_line(exc)}); "
                                   f"name its architecture with --model") from None
            return self.architecture.build(config)
        try:
            module = self.factory()
        except Exception as exc:  # the user's code: any failure is one line naming it
            raise UaoError(f"--model {self.name}: calling {self.factory.__name__}() failed "
                           f"({one_line(exc)})") from None
        if not isinstance(module, nn.Module):
            raise UaoError(f"--model {self.name}: {self.factory.__name__}() returned {type(module).__name__}, "
                           "not a torch.nn.Module")
        return Lifter(module)


def model_spec(name: str | None) -> ModelSpec:
    """Resolve ``--model``: None (GUMLP), a registered name, ``FILE.py:NAME`` or ``package.module:NAME``."""
    name = name or DEFAULT_ARCHITECTURE
    if name in ARCHITECTURES:
        return ModelSpec(name, ARCHITECTURES[name], None, ARCHITECTURES[name].source)
    target, _, function = name.rpartition(":")
    if not target or not function.isidentifier():
        raise UaoError(f"--model {name!r}: name a registered architecture ({', '.join(ARCHITECTURES)}), "
                       "FILE.py:NAME or package.module:NAME (NAME a function returning the module)")
    module = _import_file(name, Path(target)) if target.endswith(".py") else _import_module(name, target)
    factory = getattr(module, function, None)
    if not callable(factory):
        raise UaoError(f"--model {name}: {target} defines no function {function}")
    return ModelSpec(name, None, factory, Path(module.__file__))


def _import_file(name: str, path: Path):
    if not path.is_file():
        raise UaoError(f"--model {name}: {path} is not a file")
    unique = "uao_user_model_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(unique, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is one line naming it
        del sys.modules[unique]
        raise UaoError(f"--model {name}: importing {path} failed ({one_line(exc)})") from None
    return module


def _import_module(name: str, target: str):
    try:
        return importlib.import_module(target)
    except Exception as exc:  # the user's code: any failure is one line naming it
        raise UaoError(f"--model {name}: importing {target} failed ({one_line(exc)})") from None


# Shapes the contract check runs: a batch, and the seed's (B, 1, 17, 2) layout.
CHECK_SHAPES = ((3, skeleton.NUM_JOINTS, 2), (3, 1, skeleton.NUM_JOINTS, 2))


def check_lifter(model: nn.Module, name: str) -> nn.Module:
    """``model`` if it meets the lifter contract (checked in eval mode), else one UaoError naming what does not fit."""
    training = model.training
    model.eval()
    try:
        _check(model, f"model {name}")
    finally:
        model.train(training)
    return model


def _check(model: nn.Module, where: str) -> None:
    from ..inputs import sample_keypoints

    x = torch.from_numpy(sample_keypoints(CHECK_SHAPES[0][0], seed=7)[0])
    for shape in CHECK_SHAPES:
        probe = x.reshape(shape).clone().requires_grad_(True)
        try:
            outputs = model(probe)
        except UaoError as exc:
            raise UaoError(f"{where} {exc}") from None
        except Exception as exc:  # the user's code: any failure is one line naming it
            raise UaoError(f"{where} does not run on 2D keypoints {shape} ({one_line(exc)})") from None
        if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2
                and all(isinstance(output, torch.Tensor) for output in outputs)):
            raise UaoError(f"{where} must return (mu, s), two tensors; it returned {_describe(outputs)}")
        lead = shape[:-2]
        for output, label, size in zip(outputs, ("mu", "s"), (3, 1)):
            wanted = (*lead, skeleton.NUM_JOINTS, size)
            if tuple(output.shape) != wanted:
                raise UaoError(f"{where}: {label} has shape {tuple(output.shape)} for input {shape}; expected {wanted}")
            if output.dtype != torch.float32:
                raise UaoError(f"{where}: {label} is {output.dtype}, expected torch.float32 (for float32 keypoints)")
            if not torch.isfinite(output).all():
                raise UaoError(f"{where}: {label} holds NaN or infinite values for plausible keypoints")
        mu, s = outputs
        if not mu.requires_grad or torch.autograd.grad(mu.square().sum(), probe, allow_unused=True)[0] is None:
            raise UaoError(f"{where}: mu is not differentiable with respect to the 2D keypoints; "
                           "UAO optimizes the keypoints through the network")
    with torch.no_grad():
        alone, together = model(x[:1])[0], model(x)[0][:1]
    if not torch.allclose(alone, together, atol=1e-4, rtol=1e-4):
        raise UaoError(f"{where}: a frame's mu depends on the other frames of its batch (off by "
                       f"{(alone - together).abs().max():.3g} m); a lifter must treat frames independently")


def _describe(outputs) -> str:
    if isinstance(outputs, (tuple, list)):
        return f"a {type(outputs).__name__} of {len(outputs)} ({', '.join(type(item).__name__ for item in outputs)})"
    return type(outputs).__name__
