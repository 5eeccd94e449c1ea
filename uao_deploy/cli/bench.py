"""``uao bench``: every backend against PyTorch eval as the seed runs it, side by side in one run."""
from __future__ import annotations

import math

import click

from ..bench import BACKENDS, PRESETS
from ..errors import UaoError
from . import options


def _integers(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None


@click.command("bench")
@options.model()
@options.checkpoint()
@click.option("--preset", type=click.Choice(list(PRESETS)), default="cpu", show_default=True,
              help="Default backends and batch sizes: cpu (1,8,64,512; the CPU rows, GPU rows where a GPU is) or "
                   "gpu (1,64,1024,8192; the seed loop, PyTorch eager, CUDA graphs, bf16/fp16 steps, ONNX Runtime "
                   "CUDA and TensorRT on the GPU).")
@click.option("--backends", default=None,
              help=f"Comma-separated backends instead of the preset's: {', '.join(BACKENDS)}.")
@click.option("--batch", "batches", default=None, help="Batch sizes, comma-separated, instead of the preset's.")
@click.option("--repeats", type=int, default=None, help="Timed calls per row (default: run for --seconds).")
@options.old_spelling("--iters", type=int)
@click.option("--seconds", type=float, default=2.0, show_default=True,
              help="Time each row for at least this long (and 3 calls), unless --repeats is given.")
@click.option("--warmup", default=1, show_default=True, help="Untimed calls before each row.")
@options.tto_iters(help="UAO iterations (the fused graph is exported with it).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for every backend (default: torch's default, all cores). On a shared machine "
                   "use the cores you really have: oversubscribed threads make eager PyTorch 100x slower.")
@options.data("Mocap clips (.npz) for realistic inputs; default: the embedded sample.")
@click.option("--video", is_flag=True,
              help="Instead of the batch rows: the video modes of `uao infer` side by side on ONNX Runtime (CPU), "
                   "frame / sequence / causal, in ms per frame, sequence / frame and the causal per-frame latency. "
                   "The video: the embedded sample, or with --data the first clip through a test camera with video "
                   "noise; --repeats timed lifts per mode (default 3).")
@click.option("--profile", "profile_batch", type=click.IntRange(min=1), default=None,
              help="Also profile TTO at this batch size (torch.profiler; ONNX Runtime's profiler on the fused "
                   "graph) and add the top operators to the markdown.")
@click.option("--out", type=click.Path(file_okay=False), default="benchmarks/results", show_default=True,
              help="Folder for the markdown table, JSON and PNG plot (named by date, machine and model).")
@options.json_report("full report")
def command(architecture, checkpoint, preset, backends, batches, repeats, old_iters, seconds, warmup, tto_iters, threads, data,
            video, profile_batch, out, json_path):
    """Latency (p50/p90/p99), poses/s, share of the machine's FLOP limit and speed-up over the seed's eager loop."""
    from ..bench import format_table, profile_backends, run_benchmark, write_results
    from ..fileio import check_output_folder
    from ..inputs import load_pairs

    if not (math.isfinite(seconds) and seconds > 0):
        raise UaoError(f"--seconds must be a positive number; got {seconds}")
    check_output_folder(out)
    repeats = options.renamed(repeats, old_iters, "--repeats", "--iters")
    options.check_json_target(json_path, [checkpoint, data])
    checkpoint = options.lifter(architecture, checkpoint)
    if video:
        _video(checkpoint, data, tto_iters, repeats or 3, out, json_path)
        return
    default_backends, default_batches = PRESETS[preset]
    chosen = tuple(name.strip() for name in backends.split(",") if name.strip()) if backends else default_backends
    batches = _integers(batches) if batches else default_batches
    pairs = load_pairs(data)
    # results are written after every batch size, so a run cut short still leaves its rows
    report = run_benchmark(checkpoint, chosen, batches, tto_iters, repeats, None if repeats else seconds,
                           warmup, threads, pairs, log=lambda line: click.echo(line, err=True),
                           progress=lambda partial: write_results(partial, out))
    if profile_batch:
        report["profile"] = profile_backends(checkpoint, profile_batch, tto_iters, threads, pairs)
    paths = write_results(report, out)
    written = [paths[key].name for key in ("png", "json", "latest") if paths[key] is not None]
    wrote = f"wrote {paths['markdown']}, {', '.join(written[:-1])} and {written[-1]}"
    options.emit(f"{format_table(report)}\n{wrote}", report, json_path)


def _video(checkpoint, data, tto_iters, turns, out, json_path):
    from pathlib import Path

    from ..bench.video import format_video_speed, video_speed, write_video_speed
    from ..jobs.infer import open_engine

    if tto_iters < 1:
        raise UaoError("--video compares the UAO modes: it needs --tto-iters >= 1")
    sequence, name = _video_input(data)
    with open_engine("onnxruntime", checkpoint=checkpoint, iters=tto_iters) as engine:
        report = video_speed(sequence, engine, tto_iters, turns)
    paths = write_video_speed(report, out, name)
    options.emit(f"{format_video_speed(report)}wrote {paths['markdown']} and {Path(paths['json']).name}", report,
                 json_path)


def _video_input(data):
    """(keypoint video, its name): the embedded sample, or the first mocap clip through a test camera."""
    from pathlib import Path

    if data is None:
        from ..data.keypoints import read_keypoints
        from ..data.sample import SAMPLE_PATH

        sequence, = read_keypoints(SAMPLE_PATH)
        return sequence, "sample"
    from ..data.cameras import evaluation_cameras
    from ..data.mocap import load_mocap
    from ..data.video_noise import VideoNoiseModel, video_clips

    clips = video_clips(load_mocap(data), evaluation_cameras(), VideoNoiseModel(), 0, cameras_per_clip=1)
    return clips[0].sequence, Path(data).stem
