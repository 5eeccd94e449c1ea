"""``uao verify``: the same keypoints through the PyTorch reference and the engines; exit non-zero on a mismatch."""
from __future__ import annotations

import math

import click

from ..contract import PRECISIONS, TORCH_PRECISIONS
from . import options

from ..errors import UaoError


@click.command("verify")
@options.model()
@options.checkpoint("The reference lifter's checkpoint (seed or uao format). Default: the embedded model.")
@click.option("--engine", "engine_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="An ONNX export or TensorRT engine folder to check (repeatable). Default: the checkpoint "
                   "exported to a cache folder (and TensorRT engines built from it when a GPU is present).")
@options.providers("cpu", help="ONNX Runtime providers for export folders.")
@click.option("--precision", type=click.Choice(sorted({*PRECISIONS, *TORCH_PRECISIONS})), default="fp32", show_default=True,
              help="Precision of the default export; bf16: check the torch backend's bf16 TTO steps instead "
                   "(final poses within 0.5 mm mean of float32).")
@options.data("Mocap clips (.npz, clip -> (T, 17, 3)) seen through the Human3.6M test cameras; "
              "default: the embedded sample. Both carry ground truth, so MPJPE is reported.")
@click.option("--noise", type=float, default=4.0, show_default=True, help="Mocap: detector noise sigma in pixels.")
@click.option("--stride", default=1, show_default=True, help="Use every n-th frame.")
@click.option("--seed", default=0, show_default=True, help="Mocap: seed of the noise draw.")
@click.option("--frames", type=int, default=256, show_default=True, help="Check at most this many frames.")
@options.tto_iters(help="UAO iterations (the default export's fused K).")
@click.option("--tol-forward", type=float, default=None, help="Override the forward tolerance (absolute).")
@click.option("--tol-gradient", type=float, default=None, help="Override the step tolerance (relative per sample).")
@click.option("--tol-pose", type=float, default=None, help="Override the TTO pose tolerance (metres).")
@click.option("--tol-pose-mean", type=float, default=None,
              help="Override (or, for fp32/fp16, add) the TTO pose mean-joint-distance tolerance (metres).")
@options.json_report(beside="text")
@click.pass_context
def command(ctx, architecture, checkpoint, engine_dirs, providers, precision, data, noise, stride, seed, frames, tto_iters,
            tol_forward, tol_gradient, tol_pose, tol_pose_mean, json_path):
    """Max differences per output (forward mu/s, step loss and gradients, TTO pose) and MPJPE per backend.

    Exit status 0 when every backend is within tolerance, 3 when one is not, 1 on bad input.
    """
    from .. import engines
    from ..contract import TTOConfig
    from ..inputs import load_pairs
    from ..jobs.verify import EXIT_MISMATCH, default_engine_dirs, engine_label, format_report, verify

    overrides = {key: value for key, value in (("forward", tol_forward), ("gradient", tol_gradient),
                                               ("pose", tol_pose), ("pose_mean", tol_pose_mean))
                 if value is not None}
    absurd = [f"--tol-{key.replace('_', '-')} {value}" for key, value in overrides.items()
              if not (math.isfinite(value) and value >= 0)]
    if absurd:
        raise UaoError(f"tolerances must be finite and >= 0; got {', '.join(absurd)}")
    options.check_json_target(json_path, [checkpoint, data])
    checkpoint = options.lifter(architecture, checkpoint)
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
        backend_options = {"providers": providers} if engines.detect_backend(folder) == "onnxruntime" else {}
        engine = engines.load(folder, **backend_options)
        candidates[f"{engine_label(engine.describe())} ({folder})"] = engine
    report = verify(reference, candidates, pairs, tto_iters, overrides=overrides)
    options.emit(format_report(report), report, json_path)
    if not report["passed"]:
        ctx.exit(EXIT_MISMATCH)
