"""``uao eval``: MPJPE / P-MPJPE of a checkpoint on mocap clips or Human3.6M, with and without UAO."""
from __future__ import annotations

import click

from . import options
import numpy as np

from ..errors import UaoError
from ..data.cameras import VIEWS
from ..jobs.truncation import MODELS as OCCLUSION_MODELS


def _pairs(mocap, h36m_3d, h36m_2d, noise, seed, stride, view):
    """(evaluation pairs, what a group is, a description of the data)."""
    from ..data.cameras import TEST_SUBJECTS, evaluation_cameras

    if mocap and (h36m_3d or h36m_2d):
        raise click.UsageError("give either --data or both --h36m-3d and --h36m-2d, not both")
    if view != "h36m" and not mocap:
        raise click.UsageError("--cameras views --data motion capture; Human3.6M's keypoints and the embedded "
                               "sample come with their cameras")
    if not (mocap or h36m_3d or h36m_2d):
        from ..inputs import load_pairs

        pairs = load_pairs(stride=stride)
        pairs.update(clip=np.zeros(len(pairs["x"]), np.int64), names=["embedded sample"])
        return pairs, "clip", {"kind": "embedded sample", "stride": stride}
    if mocap:
        from ..data.mocap import NoiseModel, evaluation_pairs, load_mocap
        pairs = evaluation_pairs(load_mocap(mocap), evaluation_cameras(view), NoiseModel(noise, noise), seed, stride)
        return pairs, "clip", {"kind": "mocap", "path": mocap, "noise_px": noise, "seed": seed, "stride": stride,
                               "cameras": view}
    if not (h36m_3d and h36m_2d):
        raise click.UsageError("Human3.6M needs both --h36m-3d and --h36m-2d")
    from ..data.h36m import h36m_pairs, load_h36m_2d, load_h36m_3d
    pairs = h36m_pairs(load_h36m_3d(h36m_3d), load_h36m_2d(h36m_2d), TEST_SUBJECTS, stride)
    return pairs, "action", {"kind": "h36m", "path_3d": h36m_3d, "path_2d": h36m_2d,
                             "subjects": list(TEST_SUBJECTS), "stride": stride}


@click.command("eval")
@options.model()
@options.checkpoint()
@options.data(multiple=True, name="mocap",
              help="Mocap clips (.npz, clip -> (T, 17, 3) metres, Z-up), seen through the test subjects' cameras. "
                   "Without --data or --h36m-*: the embedded sample (143 frames with ground truth). With --grid: "
                   "repeat it, one file per split (named by the file's stem).")
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
@options.old_spelling("--mocap", type=click.Path(exists=True, dir_okay=False), multiple=True)
@click.option("--root", type=click.Choice(["gt", "estimated"]), default="gt", show_default=True,
              help="Root position for TTO: ground truth (the paper's protocol) or estimated from the 2D keypoints.")
@click.option("--batch-size", default=1024, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--video", is_flag=True,
              help="Mocap only: score keypoint videos (drift, gross errors, 2 %% missed joints; no ground-truth root) "
                   "lifted as `uao infer` does: plain, plain + Savitzky-Golay, per-frame UAO, sequence UAO.")
@click.option("--unknown-focal", is_flag=True, help="With --video: the videos carry no focal length.")
@click.option("--grid", is_flag=True,
              help="With --video: the evaluation grid in one table: every --data split x noise 0, 4 and 8 px x five "
                   "detector-noise models x focal known and unknown, plain + Savitzky-Golay against sequence UAO, "
                   "world-grounded metrics (docs/world-grounded.md).")
@click.option("--cells", "cells_dir", type=click.Path(file_okay=False),
              help="With --grid: keep each finished cell in this folder; a rerun reuses the cells whose settings "
                   "and code match (resume an interrupted grid).")
@click.option("--clips-per-cell", default=6, show_default=True, type=click.IntRange(min=1),
              help="With --grid: clips of each split per cell, evenly spaced in name order.")
@click.option("--frames-per-clip", default=250, show_default=True, type=click.IntRange(min=4),
              help="With --grid: the first frames of each clip used.")
@click.option("--engine", "engine_dir", type=click.Path(exists=True, file_okay=False),
              help="With --video: lift with this export folder (`uao export`) [default: the checkpoint's cached "
                   "export].")
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
@click.option("--occlusion", type=click.Choice(OCCLUSION_MODELS),
              help="With --video: hide joints as real footage does, or add a false person, and score what the lift "
                   "makes of it (MPJPE on detected and inferred joints, trunk angles, floor, shins, true subject): "
                   "lower-out (hips and legs out of frame, whole clip), legs-gaps (legs out for 30-200 frames), "
                   "limbs (random limb occlusions), false-track (a second person in 3 %% of frames), full (none).")
@click.option("--cameras", "view", type=click.Choice(VIEWS), default="h36m", show_default=True,
              help="With --data: the 8 test cameras as calibrated (h36m: 11-16 degrees down, like the training "
                   "cameras) or levelled (level: a phone or webcam held level).")
@options.json_report()
def command(architecture, checkpoint, mocap, h36m_3d, h36m_2d, noise, seed, stride, tto_iters, old_no_tto, old_mocap, root,
            batch_size, device, json_path, video, unknown_focal, grid, cells_dir, clips_per_cell, frames_per_clip,
            engine_dir, drift, drift_frames, box_jitter, gross_rate, missing_rate, causal, cameras_per_clip, occlusion, view):
    """Flip-averaged MPJPE and P-MPJPE (mm) per clip or action and their mean, with and without TTO."""
    from ..jobs.evaluate import evaluate, format_table
    from ..device import torch_device
    from ..model import resolve_model
    from ..tto import TTOConfig

    tto_iters = options.renamed(tto_iters, 0 if old_no_tto else None, "--tto-iters 0", "--no-tto", unset=4)
    mocap = options.renamed(mocap, old_mocap, "--data", "--mocap", unset=())
    if stride < 1:
        raise UaoError("--stride must be at least 1")
    options.check_json_target(json_path, [checkpoint, *mocap, h36m_3d, h36m_2d])
    checkpoint = options.lifter(architecture, checkpoint)
    device = torch_device(device)
    noise_options = {"drift": drift, "drift_frames": drift_frames, "box_jitter": box_jitter,
                     "gross_rate": gross_rate, "missing_rate": missing_rate}
    given = ["grid"] * grid + ["causal"] * causal + ["occlusion"] * bool(occlusion) + ["cells"] * bool(cells_dir) + ["engine"] * bool(engine_dir) + \
        [name for name, value in noise_options.items() if value is not None]
    if given and not video:
        raise click.UsageError(f"--{given[0].replace('_', '-')} is a --video option")
    if video and tto_iters == 0:
        raise click.UsageError("--video compares the lifter with and without UAO: it needs --tto-iters >= 1")
    if grid:
        fixed = [name for name, value in noise_options.items() if value is not None] + ["causal"] * causal + \
            ["occlusion"] * bool(occlusion)
        if fixed:
            raise click.UsageError(f"--{fixed[0].replace('_', '-')} is not a --grid option: the grid sets the noise "
                                   "models itself")
        report = _grid_report(checkpoint, engine_dir, mocap, seed, tto_iters, cells_dir, clips_per_cell,
                              frames_per_clip, view)
        options.emit(report.pop("table"), report, json_path)
        return
    if cells_dir:
        raise click.UsageError("--cells is a --grid option")
    if len(mocap) > 1:
        raise click.UsageError("give --data once (several files are splits of --video --grid)")
    mocap = mocap[0] if mocap else None
    if video:
        from ..data.video_noise import VideoNoiseModel

        # Every value checked before any work.
        noise_model = VideoNoiseModel(sigma=noise, **{name: value for name, value in noise_options.items()
                                                      if value is not None})
        report = _video_report(checkpoint, engine_dir, mocap, noise_model, unknown_focal, seed, tto_iters,
                               cameras_per_clip, causal, occlusion, view)
        options.emit(report.pop("table"), report, json_path)
        return
    pairs, group_label, data = _pairs(mocap, h36m_3d, h36m_2d, noise, seed, stride, view)
    resolved = resolve_model(checkpoint)
    report = evaluate(resolved.model.to(device), pairs, TTOConfig(iters=tto_iters) if tto_iters else None, root,
                      batch_size, progress=True)
    report.update(checkpoint=None if resolved.path is None else str(resolved.path),
                  architecture=resolved.architecture, data=data, group_kind=group_label)
    options.emit(format_table(report, group_label), report, json_path)


def _video_engine(checkpoint, engine_dir, iters):
    from ..jobs.infer import open_engine

    if checkpoint and engine_dir:
        raise click.UsageError("give either --checkpoint or --engine, not both")
    return open_engine(engine_dir=engine_dir, checkpoint=checkpoint, iters=iters)


def _video_report(checkpoint, engine_dir, mocap, noise_model, unknown_focal, seed, iters, cameras_per_clip,
                  causal=False, occlusion=None, view="h36m") -> dict:
    """The mocap clips as keypoint videos with ``noise_model``, focal known or not, every method, through
    the test cameras seen as ``view``."""
    from ..data.cameras import evaluation_cameras
    from ..data.mocap import load_mocap
    from ..data.video_noise import video_clips
    from ..jobs.video_eval import evaluate_videos, format_video_table, format_visibility_table

    if not mocap:
        raise click.UsageError("--video needs --data clips")
    motion = load_mocap(mocap)
    with _video_engine(checkpoint, engine_dir, iters) as engine:
        clips = video_clips(motion, evaluation_cameras(view), noise_model, seed, include_focal=not unknown_focal,
                            cameras_per_clip=cameras_per_clip)
        report = evaluate_videos(clips, engine, iters, progress=True, causal=causal, occlusion=occlusion, seed=seed)
    report.update(setting=f"{noise_model.sigma:g} px, focal {'unknown' if unknown_focal else 'known'}"
                  + (f", {occlusion}" if occlusion else ""),
                  noise=noise_model.to_dict(), focal="unknown" if unknown_focal else "known", occlusion=occlusion)
    table = format_video_table([(report["setting"], report)])
    if occlusion:
        table += "\n\n" + format_visibility_table([(report["setting"], report)])
    return {"data": {"kind": "mocap video", "path": mocap, "seed": seed, "cameras_per_clip": cameras_per_clip,
                     "cameras": view},
            "settings": [report], "table": table}


def _grid_report(checkpoint, engine_dir, mocap, seed, iters, cells_dir, clips_per_cell, frames_per_clip, view) -> dict:
    """The evaluation grid (:mod:`uao_deploy.jobs.video_grid`) on the --data splits."""
    from pathlib import Path

    from ..data.mocap import load_mocap
    from ..jobs.video_grid import format_targets, run_grid

    if not mocap:
        raise click.UsageError("--grid needs --data clips (one file per split)")
    names = [Path(path).stem for path in mocap]
    if len(set(names)) != len(names):
        raise click.UsageError(f"the --data files name their splits by their stems; these repeat: {', '.join(names)}")
    if cells_dir:
        from ..fileio import check_writable_folder

        check_writable_folder(cells_dir)
    splits = {name: load_mocap(path) for name, path in zip(names, mocap)}
    with _video_engine(checkpoint, engine_dir, iters) as engine:
        report = run_grid(splits, engine, iters, cells_dir, seed, clips_per_cell, frames_per_clip,
                          log=lambda line: click.echo(line, err=True), view=view)
    report["data"]["paths"] = dict(zip(names, mocap))
    report["table"] += "\n\nTargets (issue 24), cells met:\n" + format_targets(report["targets"])
    return report
