"""``uao infer``: lift 2D keypoint files to 3D with UAO on an engine."""
from __future__ import annotations

import click

from ..camera import DEFAULT_FOCAL_RULE
from ..contract import TORCH_PRECISIONS
from ..data.keypoints import LAYOUTS
from ..engines import BACKENDS
from ..io.keypoints import FORMATS
from . import options

POSITIVE = click.FloatRange(min=0, min_open=True)


def parse_up(ctx, param, value):
    """'x,y,z' -> three floats (a click callback shared with `uao view`)."""
    if value is None:
        return None
    try:
        vector = tuple(float(part) for part in value.split(","))
    except ValueError:
        vector = ()
    if len(vector) != 3:
        raise click.BadParameter(f"expected three numbers X,Y,Z; got {value!r}")
    return vector


@click.command("infer")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(),
              help="Output file, its suffix picks the format: .npz .csv .json .bvh .html (several sequences: "
                   "<stem>_<name><suffix> each); anything else is a folder for one <name>.npz per sequence.")
@click.option("--format", "input_format", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Keypoint file format; auto: recognised by content (a folder by its files).")
@click.option("--layout", type=click.Choice(LAYOUTS), default="auto", show_default=True,
              help="Joint layout of the keypoints, converted to Human3.6M-17. auto: as the file says or "
                   "its joint count implies (OpenPose BODY_25 vs BODY_25B from the keypoints), else h36m.")
@click.option("--person", default="main", show_default=True,
              help="Which people of a multi-person file to lift: main (the longest, largest track, to exactly -o), "
                   "all (one output each, the main subject's at -o; a summary line each) or a track id. Tracks "
                   "seen in at most 5 % of the frames are left out with a notice.")
@click.option("--up", callback=parse_up, metavar="X,Y,Z",
              help="World up direction in camera coordinates (x right, y down, z forward) [default: estimated].")
@click.option("--camera-pitch", type=click.FloatRange(-90, 90, min_open=True, max_open=True), metavar="DEGREES",
              help="Degrees the camera looks below the horizon (no roll), instead of estimating the up direction.")
@click.option("--width", type=POSITIVE, help="Image width in pixels (when the file does not say).")
@click.option("--height", type=POSITIVE, help="Image height in pixels (when the file does not say).")
@click.option("--subject-height", type=POSITIVE, metavar="METRES",
              help="The person's standing height (sole to crown): the skeleton and the root's depth are scaled to "
                   "it (not with --causal).")
@click.option("--fps", type=POSITIVE, help="Frames per second of the video: the frame times of every output "
                                           "(BVH Frame Time, CSV/JSON time) [default: the file's own rate, else 25].")
@click.option("--focal", type=POSITIVE,
              help="Focal length in pixels [default: from the file, else estimated from the sequence in sequence "
                   f"mode (its 90 % interval in the metadata), else {DEFAULT_FOCAL_RULE}].")
@click.option("--fov", type=click.FloatRange(0, 180, min_open=True, max_open=True), metavar="DEGREES",
              help="Horizontal field of view across the image width, instead of --focal.")
@click.option("--focal-35mm", type=POSITIVE, metavar="MM",
              help="35 mm equivalent focal length (same angle across the image diagonal), instead of --focal.")
@options.tto_iters(minimum=0, help="UAO iterations (0: the plain lifter).")
@click.option("--smooth-root", default=1, show_default=True, type=click.IntRange(min=1),
              help="Centred moving median of the estimated root over N frames (1: none).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1),
              help="Frames per engine call (TTO memory grows with it: ~15 MB per frame on onnxruntime).")
@click.option("--backend", type=click.Choice(list(BACKENDS)),
              help="[default: from --engine, else onnxruntime]")
@click.option("--precision", type=click.Choice(TORCH_PRECISIONS), default="fp32", show_default=True,
              help="bf16: TTO gradient steps with the blocks' U-MLPs in bf16, poses in float32 "
                   "(torch backend; ~0.2 mm mean change, faster on CPUs with avx512_bf16 or AMX).")
@options.providers(help="Where ONNX Runtime runs [default: cpu]; a provider that is not active is an error, "
                       "never a silent CPU run.")
@click.option("--engine", "engine_dir", type=click.Path(exists=True),
              help="Export folder (ONNX), engine folder (TensorRT) or checkpoint (torch) "
                   "[default: the embedded model, exported once into the cache].")
@options.model(help="Lifter architecture of --checkpoint: gumlp (default), martinez, FILE.py:NAME or "
                    "package.module:NAME (NAME a function returning the module). Exported folders record theirs.")
@options.checkpoint("Checkpoint to use instead of the embedded model (exported on first use).")
@click.option("--allow-pickle", is_flag=True, help="Read VideoPose3D files (pickled: only files you trust).")
@click.option("--render", type=click.Path(dir_okay=False), help="Also write an animation, .gif or .mp4 (ffmpeg).")
@click.option("--video", type=click.Path(dir_okay=False),
              help="With --render: the video the keypoints came from, drawn under them (frame i under frame i).")
@click.option("--mode", type=click.Choice(["sequence", "frame"]), default="sequence", show_default=True,
              help="sequence: smooth root trajectory, UAO through it, uncertainty-weighted smoothing over time; "
                   "frame: every frame alone (per-frame root). --tto-iters 0 is always the plain per-frame lifter.")
@click.option("--causal", is_flag=True, help="Sequence mode for live use: each frame sees only the frames before it; "
                                             "reports the per-frame latency.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--resume", is_flag=True, help="Skip inputs whose outputs record the same input sha256, engine and "
                                             "settings (a file that merely exists is lifted again).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="default", default=None, metavar="[ADDRESS]",
              help="Run on Ray Data: alone, RAY_ADDRESS or a new local cluster; 'auto', HOST:PORT or ray://HOST:PORT "
                   "for a running one (write --ray=ADDRESS before FILES).")
@click.option("--workers", type=click.IntRange(min=1), help="Ray: engine actors [default: one per CPU, or per "
                                                            "--gpus-per-worker GPUs].")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Ray: GPUs each engine actor holds (TensorRT or ONNX Runtime on CUDA).")
def command(files, out, layout, width, height, focal, fov, focal_35mm, tto_iters, smooth_root, batch_size, backend,
            engine_dir, architecture, checkpoint, allow_pickle, render, progress, precision, providers, input_format, person,
            up, camera_pitch, resume, ray_address, workers, gpus_per_worker, mode, causal, video, subject_height, fps):
    """Lift 2D keypoints (OpenPose, AlphaPose, MMPose, YOLO-pose, MediaPipe; MHFormer/PoseMamba, plain npz
    or VideoPose3D files) to 3D poses. FILES may also be folders of such files, globs or .txt lists
    (one path a line): one .npz per sequence under -o DIR, mirroring their names."""
    from ..jobs.batch import is_batch_argument
    from ..jobs.infer import infer_files

    if architecture and engine_dir:
        raise click.UsageError("--model names the lifter of a checkpoint; an --engine folder records its own")
    checkpoint = options.lifter(architecture, checkpoint)
    if (workers or gpus_per_worker) and not ray_address:
        raise click.UsageError("--workers and --gpus-per-worker size a Ray job; add --ray")
    if ray_address or resume or any(map(is_batch_argument, files)):
        from ..jobs.batch import JobSettings, infer_many

        if render is not None or video is not None:
            raise click.UsageError("--render/--video draw one file's animation; lift that file alone to render it")
        settings = JobSettings(layout, allow_pickle, width, height, focal, fov, focal_35mm, tto_iters, smooth_root,
                               batch_size, input_format, person, up, camera_pitch, mode, causal, fps, subject_height)
        common = dict(backend=backend, engine_dir=engine_dir, checkpoint=checkpoint, precision=precision,
                      providers=providers, resume=resume, log=click.echo)
        if ray_address:
            from ..jobs.ray_batch import infer_on_ray

            infer_on_ray(files, out, settings, address=ray_address, workers=workers,
                         gpus_per_worker=gpus_per_worker, **common)
        else:
            infer_many(files, out, settings, **common)
        return

    from ..pipeline import LiftSettings

    settings = LiftSettings.from_options(tto_iters, mode, causal, batch_size, smooth_root, subject_height)
    infer_files(files, out, settings, layout=layout, allow_pickle=allow_pickle, width=width, height=height,
                focal=focal, fov=fov, focal_35mm=focal_35mm, backend=backend, engine_dir=engine_dir,
                checkpoint=checkpoint, render=render, progress=progress, log=click.echo, precision=precision,
                providers=providers, format=input_format, person=person, up=up, camera_pitch=camera_pitch,
                video=video, fps=fps)
