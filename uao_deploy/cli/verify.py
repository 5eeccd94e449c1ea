"""``uao verify``: the same keypoints through the PyTorch reference and the engines; exit non-zero on a mismatch."""
from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ..contract import MAX_TTO_ITERS
from ..errors import UaoError


@click.command("verify")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="The reference GUMLP checkpoint (seed or uao format). Default: the embedded model.")
@click.option("--engine", "engine_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="An ONNX export or TensorRT engine folder to check (repeatable). Default: the checkpoint "
                   "exported to a cache folder (and TensorRT engines built from it when a GPU is present).")
@click.option("--providers", default="cpu", show_default=True,
              help="ONNX Runtime providers for export folders: cpu, cuda, tensorrt or tensorrt_rtx.")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True,
              help="Precision of the default export; bf16: check the torch backend's bf16 TTO steps instead "
                   "(final poses within 0.5 mm mean of float32).")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Mocap clips (.npz, clip -> (T, 17, 3)) seen through the Human3.6M test cameras; "
                   "default: the embedded sample. Both carry ground truth, so MPJPE is reported.")
@click.option("--noise", type=float, default=4.0, show_default=True, help="Mocap: detector noise sigma in pixels.")
@click.option("--stride", default=1, show_default=True, help="Use every n-th frame.")
@click.option("--seed", default=0, show_default=True, help="Mocap: seed of the noise draw.")
@click.option("--frames", type=int, default=256, show_default=True, help="Check at most this many frames.")
@click.option("--tto-iters", default=4, show_default=True, type=click.IntRange(1, MAX_TTO_ITERS),
              help="UAO iterations (the default export's fused K).")
@click.option("--tol-forward", type=float, default=None, help="Override the forward tolerance (absolute).")
@click.option("--tol-gradient", type=float, default=None, help="Override the step tolerance (relative per sample).")
@click.option("--tol-pose", type=float, default=None, help="Override the TTO pose tolerance (metres).")
@click.option("--tol-pose-mean", type=float, default=None,
              help="Override (or, for fp32/fp16, add) the TTO pose mean-joint-distance tolerance (metres).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write the report as JSON to this file ('-' for stdout; the text then goes to stderr).")
@click.pass_context
def command(ctx, checkpoint, engine_dirs, providers, precision, data, noise, stride, seed, frames, tto_iters,
            tol_forward, tol_gradient, tol_pose, tol_pose_mean, json_path):
    """Max differences per output (forward mu/s, step loss and gradients, TTO pose) and MPJPE per backend.

    Exit status 0 when every backend is within tolerance, 3 when one is not, 1 on bad input.
    """
    from .. import engines
    from ..fileio import atomic_write_bytes, check_output_file
    from ..tto import TTOConfig
    from ..jobs.verify import EXIT_MISMATCH, default_engine_dirs, engine_label, format_report, load_pairs, verify

    overrides = {key: value for key, value in (("forward", tol_forward), ("gradient", tol_gradient),
                                               ("pose", tol_pose), ("pose_mean", tol_pose_mean))
                 if value is not None}
    absurd = [f"--tol-{key.replace('_', '-')} {value}" for key, value in overrides.items()
              if not (math.isfinite(value) and value >= 0)]
    if absurd:
        raise UaoError(f"tolerances must be finite and >= 0; got {', '.join(absurd)}")
    if json_path and json_path != "-":
        check_output_file(json_path, [path for path in (checkpoint, data) if path], "--json")
    tto = TTOConfig(iters=tto_iters)
    pairs = load_pairs(data, noise, stride, seed, frames)
    reference = engines.load(checkpoint, backend="torch", tto=tto)
    candidates = {}
    if precision == "bf16":  # no graphs: the torch backend's own bf16 steps
        if engine_dirs:
            raise UaoError("--precision bf16 checks the torch backend's bf16 steps; it takes no --engine")
        engine = engines.load(checkpoint, backend="torch", tto=tto, precision="bf16")
        candidates[engine_label(engine.describe())] = engine
        folders = ()
    else:
        folders = engine_dirs or default_engine_dirs(checkpoint, tto, precision, max_batch=len(pairs["x"]))
    for folder in folders:
        options = {"providers": providers} if engines.detect_backend(folder) == "onnxruntime" else {}
        engine = engines.load(folder, **options)
        candidates[f"{engine_label(engine.describe())} ({folder})"] = engine
    report = verify(reference, candidates, pairs, tto_iters, overrides=overrides)
    click.echo(format_report(report), err=json_path == "-")
    if json_path == "-":
        click.echo(json.dumps(report, indent=2))
    elif json_path:
        text = json.dumps(report, indent=2) + "\n"
        atomic_write_bytes(Path(json_path), lambda tmp: Path(tmp).write_text(text))
    if not report["passed"]:
        ctx.exit(EXIT_MISMATCH)
