"""``uao eval``: MPJPE / P-MPJPE of a checkpoint on mocap clips or Human3.6M, with and without UAO."""
from __future__ import annotations

import click

from . import options
import numpy as np

from ..errors import UaoError


def _pairs(mocap, h36m_3d, h36m_2d, noise, seed, stride):
    """(evaluation pairs, what a group is, a description of the data)."""
    from ..data.cameras import TEST_SUBJECTS, cameras_of

    if mocap and (h36m_3d or h36m_2d):
        raise click.UsageError("give either --data or both --h36m-3d and --h36m-2d, not both")
    if not (mocap or h36m_3d or h36m_2d):
        from ..inputs import load_pairs

        pairs = load_pairs(stride=stride)
        pairs.update(clip=np.zeros(len(pairs["x"]), np.int64), names=["embedded sample"])
        return pairs, "clip", {"kind": "embedded sample", "stride": stride}
    if mocap:
        from ..data.mocap import NoiseModel, evaluation_pairs, load_mocap
        pairs = evaluation_pairs(load_mocap(mocap), cameras_of(TEST_SUBJECTS), NoiseModel(noise, noise), seed, stride)
        return pairs, "clip", {"kind": "mocap", "path": mocap, "noise_px": noise, "seed": seed, "stride": stride}
    if not (h36m_3d and h36m_2d):
        raise click.UsageError("Human3.6M needs both --h36m-3d and --h36m-2d")
    from ..data.h36m import h36m_pairs, load_h36m_2d, load_h36m_3d
    pairs = h36m_pairs(load_h36m_3d(h36m_3d), load_h36m_2d(h36m_2d), TEST_SUBJECTS, stride)
    return pairs, "action", {"kind": "h36m", "path_3d": h36m_3d, "path_2d": h36m_2d,
                             "subjects": list(TEST_SUBJECTS), "stride": stride}


@click.command("eval")
@options.checkpoint()
@options.data("Mocap clips (.npz, clip -> (T, 17, 3) metres, Z-up), seen through the test subjects' cameras. "
              "Without --data or --h36m-*: the embedded sample (143 frames with ground truth).", name="mocap")
@options.old_spelling("--mocap", type=click.Path(exists=True, dir_okay=False))
@click.option("--h36m-3d", type=click.Path(exists=True, dir_okay=False),
              help="VideoPose3D's data_3d_h36m.npz. Pickled: it is unpickled, so pass only files you trust.")
@click.option("--h36m-2d", type=click.Path(exists=True, dir_okay=False),
              help="VideoPose3D's data_2d_h36m_<detector>.npz (e.g. cpn_ft_h36m_dbb, gt). Pickled, as --h36m-3d.")
@click.option("--noise", type=float, default=4.0, show_default=True,
              help="Mocap only: detector noise sigma in pixels (at 1000 px width).")
@click.option("--seed", default=0, show_default=True, help="Mocap only: seed of the noise draw.")
@click.option("--stride", default=1, show_default=True, help="Use every n-th frame.")
@options.tto_iters(minimum=0, help="UAO iterations K (0: score the plain flip-averaged prediction only).")
@options.old_spelling("--no-tto", is_flag=True)
@click.option("--root", type=click.Choice(["gt", "estimated"]), default="gt", show_default=True,
              help="Root position for TTO: ground truth (the paper's protocol) or estimated from the 2D keypoints.")
@click.option("--batch-size", default=1024, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--video", is_flag=True,
              help="Mocap only: score keypoint videos (drift, gross errors, 2 %% missed joints; no ground-truth root) "
                   "lifted as `uao infer` does: plain, plain + Savitzky-Golay, per-frame UAO, sequence UAO.")
@click.option("--unknown-focal", is_flag=True, help="With --video: the videos carry no focal length.")
@click.option("--grid", is_flag=True,
              help="With --video: every setting in one table: noise 0, 4 and 8 px, each with the focal length "
                   "known and unknown (--noise and --unknown-focal are then not used).")
@click.option("--drift", type=float, help="With --video: the slow drift's standard deviation, a multiple of --noise "
              "[default: 0.75].")
@click.option("--drift-frames", type=float, help="With --video: the time over which the drift changes, frames "
              "[default: 25].")
@click.option("--box-jitter", type=float, help="With --video: a whole-body shift per frame (a top-down detector's "
              "box jitter), its standard deviation a multiple of --noise [default: 0].")
@click.option("--gross-rate", type=float, help="With --video: chance per joint and frame that a 40 px gross error "
              "starts [default: 0.003].")
@click.option("--missing-rate", type=float, help="With --video: share of missed joints [default: 0.02].")
@click.option("--causal", is_flag=True, help="With --video: also score `uao infer --causal` (live use: each frame "
              "from the frames up to it), one frame at a time.")
@click.option("--cameras-per-clip", default=1, show_default=True, type=click.IntRange(min=1),
              help="With --video: each clip is seen through this many of the 8 test cameras, in turn.")
@options.json_report()
def command(checkpoint, mocap, old_mocap, h36m_3d, h36m_2d, noise, seed, stride, tto_iters, old_no_tto, root, batch_size, device,
            json_path, video, unknown_focal, grid, drift, drift_frames, box_jitter, gross_rate, missing_rate,
            causal, cameras_per_clip):
    """Flip-averaged MPJPE and P-MPJPE (mm) per clip or action and their mean, with and without TTO."""
    from ..jobs.evaluate import evaluate, format_table
    from ..device import torch_device
    from ..model.checkpoint import checkpoint_path, load_checkpoint
    from ..tto import TTOConfig

    tto_iters = options.renamed(tto_iters, 0 if old_no_tto else None, "--tto-iters 0", "--no-tto", unset=4)
    mocap = options.renamed(mocap, old_mocap, "--data", "--mocap")
    if stride < 1:
        raise UaoError("--stride must be at least 1")
    options.check_json_target(json_path, [checkpoint, mocap, h36m_3d, h36m_2d])
    device = torch_device(device)
    noise_options = {"drift": drift, "drift_frames": drift_frames, "box_jitter": box_jitter,
                     "gross_rate": gross_rate, "missing_rate": missing_rate}
    given = ["grid"] * grid + ["causal"] * causal + [name for name, value in noise_options.items() if value is not None]
    if given and not video:
        raise click.UsageError(f"--{given[0].replace('_', '-')} is a --video option")
    if video:
        from ..data.video_noise import VideoNoiseModel

        settings = [(level, unknown) for level in VIDEO_GRID_NOISE for unknown in (False, True)] if grid \
            else [(noise, unknown_focal)]
        # Every value checked before any work; each setting replaces sigma with its own noise level.
        noise_model = VideoNoiseModel(sigma=noise, **{name: value for name, value in noise_options.items()
                                                      if value is not None})
        report = _video_report(checkpoint, mocap, settings, seed, tto_iters, cameras_per_clip, noise_model, causal)
        options.emit(report.pop("table"), report, json_path)
        return
    pairs, group_label, data = _pairs(mocap, h36m_3d, h36m_2d, noise, seed, stride)
    model = load_checkpoint(checkpoint).to(device)
    report = evaluate(model, pairs, TTOConfig(iters=tto_iters) if tto_iters else None, root, batch_size, progress=True)
    report.update(checkpoint=str(checkpoint_path(checkpoint)), data=data, group_kind=group_label)
    options.emit(format_table(report, group_label), report, json_path)


VIDEO_GRID_NOISE = (0.0, 4.0, 8.0)  # px at 1000 px width


def _video_report(checkpoint, mocap, settings, seed, iters, cameras_per_clip, noise_model, causal=False) -> dict:
    """Every (noise px, focal unknown) setting of ``settings`` on the mocap clips as keypoint videos, with
    ``noise_model`` at that noise."""
    import dataclasses

    from ..data.cameras import TEST_SUBJECTS, cameras_of
    from ..data.mocap import load_mocap
    from ..data.video_noise import video_clips
    from ..jobs.infer import open_engine
    from ..jobs.video_eval import evaluate_videos, format_video_table

    if not mocap:
        raise click.UsageError("--video needs --data clips")
    motion = load_mocap(mocap)
    rows = []
    with open_engine(checkpoint=checkpoint, iters=iters) as engine:
        for noise, unknown_focal in settings:
            setting_noise = dataclasses.replace(noise_model, sigma=noise)
            clips = video_clips(motion, cameras_of(TEST_SUBJECTS), setting_noise, seed,
                                include_focal=not unknown_focal, cameras_per_clip=cameras_per_clip)
            report = evaluate_videos(clips, engine, iters, progress=True, causal=causal)
            report.update(setting=f"{noise:g} px, focal {'unknown' if unknown_focal else 'known'}",
                          noise=setting_noise.to_dict(), focal="unknown" if unknown_focal else "known")
            rows.append(report)
    return {"data": {"kind": "mocap video", "path": mocap, "seed": seed, "cameras_per_clip": cameras_per_clip},
            "settings": rows, "table": format_video_table([(row["setting"], row) for row in rows])}

