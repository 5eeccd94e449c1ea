"""``uao infer``: lift 2D keypoint files to 3D with UAO on an engine."""
from __future__ import annotations

import click

POSITIVE = click.FloatRange(min=0, min_open=True)


@click.command("infer")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(),
              help="Output .npz (one input sequence) or a folder for one <name>.npz per sequence.")
@click.option("--layout", type=click.Choice(["auto", "h36m", "coco"]), default="auto", show_default=True,
              help="Joint layout of the keypoints; COCO-17 is converted to Human3.6M-17. "
                   "auto: as the file says, else h36m.")
@click.option("--width", type=POSITIVE, help="Image width in pixels (when the file does not say).")
@click.option("--height", type=POSITIVE, help="Image height in pixels (when the file does not say).")
@click.option("--focal", type=POSITIVE, help="Focal length in pixels [default: from the file, else the image width].")
@click.option("--tto-iters", default=4, show_default=True, type=click.IntRange(min=0), help="UAO iterations.")
@click.option("--smooth-root", default=1, show_default=True, type=click.IntRange(min=1),
              help="Centred moving median of the estimated root over N frames (1: none).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1),
              help="Frames per engine call (TTO memory grows with it: ~15 MB per frame on onnxruntime).")
@click.option("--backend", type=click.Choice(["torch", "onnxruntime", "tensorrt"]),
              help="[default: from --engine, else onnxruntime]")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16: TTO gradient steps with the blocks' U-MLPs in bf16, poses in float32 "
                   "(torch backend; ~0.2 mm mean change, faster on CPUs with avx512_bf16 or AMX).")
@click.option("--providers", type=click.Choice(["cpu", "cuda", "tensorrt", "tensorrt_rtx"]),
              help="Where ONNX Runtime runs [default: cpu]; a provider that is not active is an error, "
                   "never a silent CPU run.")
@click.option("--engine", "engine_dir", type=click.Path(exists=True),
              help="Export folder (ONNX), engine folder (TensorRT) or checkpoint (torch) "
                   "[default: the embedded model, exported once into the cache].")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False),
              help="Checkpoint to use instead of the embedded model (exported on first use).")
@click.option("--allow-pickle", is_flag=True, help="Read VideoPose3D files (pickled: only files you trust).")
@click.option("--render", type=click.Path(dir_okay=False), help="Also write an animation, .gif or .mp4 (ffmpeg).")
@click.option("--mode", type=click.Choice(["sequence", "frame"]), default="sequence", show_default=True,
              help="sequence: smooth root trajectory, UAO through it, uncertainty-weighted smoothing over time; "
                   "frame: every frame alone (per-frame root). --tto-iters 0 is always the plain per-frame lifter.")
@click.option("--causal", is_flag=True, help="Sequence mode for live use: each frame sees only the frames before it; "
                                             "reports the per-frame latency.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def command(files, out, layout, width, height, focal, tto_iters, smooth_root, batch_size, backend, engine_dir,
            checkpoint, allow_pickle, render, progress, precision, providers, mode, causal):
    """Lift 2D keypoints (MHFormer/PoseMamba, plain npz or VideoPose3D files) to 3D poses."""
    from ..jobs.infer import infer_files

    infer_files(files, out, layout=layout, allow_pickle=allow_pickle, width=width, height=height, focal=focal,
                iters=tto_iters, smooth_root=smooth_root, batch_size=batch_size, backend=backend,
                engine_dir=engine_dir, checkpoint=checkpoint, render=render, progress=progress, log=click.echo,
                precision=precision, providers=providers, mode=mode, causal=causal)
