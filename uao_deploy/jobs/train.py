"""Training a lifter (GUMLP by default) with the paper's recipe: Gaussian NLL loss, Adam (amsgrad), lr decay per epoch,
batch 128, random horizontal flips. Resumable; keeps the best checkpoint by validation MPJPE."""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import torch
from tqdm import tqdm

from .. import skeleton
from ..device import torch_device
from ..errors import UaoError, first_line
from ..metrics import mpjpe
from ..model import GUMLPConfig, save_checkpoint
from ..model.checkpoint import load_state_dict_strict, load_tensors, read_state_dict
from ..model.registry import Lifter, check_lifter, model_spec
from ..fileio import atomic_write_bytes
from ..tto import predict
from ..tto.objective import gaussian_term
from . import distributed

BEST_NAME = "best.pth"
STATE_NAME = "last_state.pt"
# Parameters of the largest model trained: far beyond the lifters of the field (tens of millions), short of
# a model whose weights and Adam state would not fit a machine's memory.
MAX_PARAMETERS = 100_000_000


class TrainingData(Protocol):
    """A source of training batches and a fixed validation set."""

    description: dict

    def epoch(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x (B,17,2), root-relative target (B,17,3)) batches covering one epoch."""

    def validation(self) -> dict[str, np.ndarray]:
        """Fixed pairs with at least ``x`` (N,17,2) and ``target`` (N,17,3); optionally ``x_lower_out``, the
        same with the lower body hidden and filled (scored beside, see :mod:`.hidden_joints`)."""


@dataclass
class TrainConfig:
    # The architecture (``--model``: a registered name or a user's FILE.py:NAME) and, for a registered
    # one, its config (None: its defaults; a user's function sizes its module itself).
    model: object = field(default_factory=GUMLPConfig)
    architecture: str = "gumlp"
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    lr_decay: float = 0.95
    seed: int = 0
    bf16: bool = False
    device: str = "cpu"
    max_batches: int | None = None  # cap per epoch, for smoke runs
    init: str | None = None  # a checkpoint to start from (fine-tuning); it sizes the model, so ``model`` is None

    def __post_init__(self):
        registered = model_spec(self.architecture).architecture
        if self.model is not None and (registered is None or not isinstance(self.model, registered.config)):
            raise UaoError(f"a {type(self.model).__name__} does not configure the {self.architecture} architecture")
        if not (math.isfinite(self.lr) and self.lr > 0 and math.isfinite(self.lr_decay) and 0 < self.lr_decay <= 1):
            raise UaoError(f"the learning rate must be positive and its decay in (0, 1]; got {self.lr:g} and "
                           f"{self.lr_decay:g}")
        if self.init is not None and self.model is not None:
            raise UaoError("a run started from a checkpoint (--init) takes the checkpoint's sizes; drop --channels "
                           "and --layers")
        if self.epochs < 1 or self.batch_size < 1 or (self.max_batches is not None and self.max_batches < 1):
            raise UaoError(f"epochs, batch size and batches per epoch must be at least 1; got {self.epochs}, "
                           f"{self.batch_size}, {self.max_batches}")

    def to_dict(self) -> dict:
        return asdict(self)


def random_flip(x: torch.Tensor, target: torch.Tensor, generator: torch.Generator):
    """Mirror a random half of the samples, input and target together."""
    mask = torch.rand(len(x), 1, 1, generator=generator, device=generator.device) < 0.5
    return torch.where(mask, skeleton.flip_pose(x), x), torch.where(mask, skeleton.flip_pose(target), target)


def validation_mpjpe(model: torch.nn.Module, pairs: dict[str, np.ndarray], device: str, batch: int = 4096,
                     bf16: bool = False) -> float:
    """Flip-averaged, root-zeroed MPJPE in millimetres (``bf16``: under the training's autocast; fp32 ran
    about 3 times slower than bf16 on the 2-core CPU, and validation took longer than a fine-tuning epoch)."""
    errors = []
    device = torch.device(device)
    for start in range(0, len(pairs["x"]), batch):
        x = torch.from_numpy(pairs["x"][start:start + batch]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pose = predict(model, x).float().cpu().numpy()
        errors.append(mpjpe(pose, pairs["target"][start:start + batch]))
    return float(np.concatenate(errors).mean() * 1000)


def _save_state(path: Path, state: dict) -> None:
    """Tensors and plain containers only, so :func:`_load_state` reads it with ``weights_only=True``."""
    atomic_write_bytes(path, lambda tmp: torch.save(state, tmp))


STATE_KEYS = ("model", "optimizer", "scheduler", "generator", "history", "epoch")


def _load_state(path: Path, device: torch.device) -> dict:
    """The training state written by :func:`_save_state`, loaded with ``weights_only=True``: a
    planted file (OUT is often a relative folder in a cloned tree) cannot run code."""
    state = load_tensors(path, "a uao training state (remove it or train without --resume)", device)
    if not isinstance(state, dict) or any(key not in state for key in STATE_KEYS):
        raise UaoError(f"{path} is not a uao training state (it lacks {', '.join(STATE_KEYS)}); "
                       "remove it or train without --resume")
    return state


def train(data: TrainingData, config: TrainConfig, out_dir: str | Path, resume: bool = False,
          progress: bool = True) -> dict:
    """Train into ``out_dir``: ``best.pth`` (seed format) + ``best.pth.json``, ``last_state.pt``,
    ``history.json``. With ``resume``, continue from ``last_state.pt``. Returns the history.

    In a joined process group (``torchrun``, see :mod:`uao_deploy.jobs.distributed`) each rank trains
    on its share of every batch with DistributedDataParallel and rank 0 writes the files."""
    out_dir = Path(out_dir)
    device = torch_device(config.device)
    torch.manual_seed(config.seed)
    spec = model_spec(config.architecture)
    initial = None if config.init is None else read_state_dict(config.init)
    if config.model is not None:  # sized by --channels/--layers: counted on the meta device, before any memory
        with torch.device("meta"):
            parameters = sum(p.numel() for p in spec.build(config=config.model).parameters())
        if parameters > MAX_PARAMETERS:
            raise UaoError(f"a {spec.name} of these --channels and --layers holds {parameters / 1e6:,.0f} M parameters, "
                           f"more than the {MAX_PARAMETERS / 1e6:,.0f} M uao trains (GUMLP's default: 4.5 M)")
    try:
        model = spec.build(initial, config=config.model)
        if initial is not None:
            load_state_dict_strict(model.net if isinstance(model, Lifter) else model, initial, config.init,
                                   f"the {spec.name} architecture")
        model = check_lifter(model, spec.name).to(device)
    except (MemoryError, RuntimeError) as exc:  # torch's allocator raises RuntimeError when memory runs out
        if not isinstance(exc, MemoryError) and "allocate" not in str(exc):
            raise
        raise UaoError(f"the {spec.name} model of these options does not fit in memory; use fewer --channels or "
                       "--layers") from None
    ranks = distributed.current()
    trained = distributed.parallel(model, ranks)
    progress = progress and ranks.is_main
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, amsgrad=True)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    history = {"epochs": [], "best_epoch": None, "best_val_mpjpe_mm": math.inf}
    start_epoch = 0
    state_path = out_dir / STATE_NAME
    if resume and state_path.is_file():
        state = _load_state(state_path, device)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"].cpu() if device.type == "cpu" else state["generator"])
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UaoError(f"{state_path} does not fit this run's model and options ({first_line(exc)}); "
                           "resume with the options it was started with") from None
        history, start_epoch = state["history"], state["epoch"]

    validation = data.validation()
    if len(validation["x"]) == 0:  # the best epoch is chosen on it: found now, not after an epoch
        raise UaoError("the validation clips hold no frames; give clips with at least one frame")
    for epoch in range(start_epoch, config.epochs):
        model.train()
        losses, seen, started = [], 0, time.perf_counter()
        batches = data.epoch(config.batch_size, generator)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False,
                   total=config.max_batches)
        for step, (x, target) in enumerate(bar):
            if config.max_batches is not None and step >= config.max_batches:
                break
            x, target = random_flip(x.to(device), target.to(device), generator)
            x_share, target_share = ranks.shard(x, target)  # every rank drew the whole batch
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
                mu, s = trained(x_share)
            loss = ranks.batch_loss(gaussian_term(mu.float(), s.float(), target_share, hold_s=False), len(x))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(ranks.global_mean(loss))
            seen += len(x)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if not losses:
            raise UaoError(f"epoch {epoch + 1} drew no training batch: the training clips hold no frames")
        scheduler.step()
        elapsed = time.perf_counter() - started
        val = validation_mpjpe(model, validation, config.device, bf16=config.bf16)
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_mpjpe_mm": val,
                  "samples_per_s": seen / elapsed, "seconds": elapsed, "lr": optimizer.param_groups[0]["lr"]}
        if "x_lower_out" in validation:  # informative only: the best epoch is chosen on whole bodies
            record["val_lower_out_mpjpe_mm"] = validation_mpjpe(
                model, {"x": validation["x_lower_out"], "target": validation["target"]}, config.device, bf16=config.bf16)
        if not (math.isfinite(record["train_loss"]) and math.isfinite(val)):
            raise UaoError(f"training diverged in epoch {epoch + 1} (loss {record['train_loss']:g}, validation MPJPE "
                           f"{val:g} mm) at learning rate {config.lr:g}; lower --lr" +
                           (f" ({out_dir / BEST_NAME} holds epoch {history['best_epoch']})"
                            if history["best_epoch"] else "; nothing was saved"))
        history["epochs"].append(record)
        if ranks.is_main:  # made once the first epoch has something to save: a failed run leaves no folder
            out_dir.mkdir(parents=True, exist_ok=True)
        if val < history["best_val_mpjpe_mm"]:
            history["best_val_mpjpe_mm"], history["best_epoch"] = val, epoch + 1
            if ranks.is_main:
                save_checkpoint(model, out_dir / BEST_NAME, {
                    "train": config.to_dict(), "data": data.description, "ranks": ranks.world_size,
                    "metrics": {"val_mpjpe_mm": val, "epoch": epoch + 1}})
        if progress:
            lower_out = (f" (lower body filled: {record['val_lower_out_mpjpe_mm']:.1f} mm)"
                         if "val_lower_out_mpjpe_mm" in record else "")
            tqdm.write(f"epoch {epoch + 1}: loss {record['train_loss']:.4f}  val MPJPE {val:.1f} mm{lower_out}  "
                       f"{record['samples_per_s']:.0f} samples/s")
        if not ranks.is_main:
            continue
        _save_state(state_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                                 "history": history, "epoch": epoch + 1})
        atomic_write_bytes(out_dir / "history.json", lambda tmp: Path(tmp).write_text(json.dumps(history, indent=2)))
    return history
