"""How well the sequence tells an unknown focal length, over cameras unlike the lifter's training camera.

Mocap clips (train or val only: the constants are chosen here) are turned into keypoint videos through

* ``h36m-K``: the Human3.6M test cameras with their focal length times K (K = 1: the grid's cameras, the
  camera the lifter was trained with; 0.7: a phone's or webcam's field of view; 1.4: a zoomed camera);
* ``phone``: the four calibrated phone cameras of Pose2Sim's demo (1088 x 1920 portrait, focal 1680 px =
  0.875 x the longer side, 1.7-2.1 m up and 2.4-4 m away, looking down at the subject),

with the grid's default noise model, and lifted as ``uao infer`` does up to the focal fit
(:func:`uao_deploy.pipeline.focal.estimate_focal`). Per camera set: the raw fit's and the used estimate's
error in log (mean and SD over videos), the fallbacks, how often the reported 90 % interval holds the
truth, and ``--zoom`` the raw fit when the lifter is shown the keypoints as its training camera would see
the same rays (zoomed by the training focal over the true one): whether the fit's error is the lifter's
response to the camera.

    python benchmarks/focal_cameras.py --data train.npz [--clips 28] [--frames 250] [--px 4]
        [--cameras h36m-0.7 h36m-1.0 h36m-1.4 phone] [--zoom] --engine EXPORT_DIR

Prints one markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from uao_deploy import engines
from uao_deploy.camera import normalized_intrinsics
from uao_deploy.data.cameras import TEST_SUBJECTS, Camera, cameras_of
from uao_deploy.data.mocap import load_mocap
from uao_deploy.data.video_noise import video_clips
from uao_deploy.jobs.video_grid import NOISE_MODELS, subsample
from uao_deploy.pipeline import FocalSource, camera_of, prepare
from uao_deploy.pipeline import sequence as steps
from uao_deploy.pipeline.focal import estimate_focal, estimate_focal_scale
from uao_deploy.pipeline.lift import _predict

PHONE_FOCAL, PHONE_SIZE = 1680.0, (1088, 1920)
# Pose2Sim demo calibration (Calib.qca.txt): camera centres in metres, the subject about the origin.
PHONE_CENTRES = ((1.46, -1.91, 1.90), (2.58, 0.71, 1.69), (-3.22, 2.23, 2.09), (-3.76, -1.42, 1.88))


def looking_at(centre, target=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world rotation (columns: right, down, forward) of a level camera at ``centre`` facing ``target``."""
    forward = np.subtract(target, centre) / np.linalg.norm(np.subtract(target, centre))
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(forward, right), forward], axis=1)


def camera_set(name: str) -> list[Camera]:
    if name == "phone":
        width, height = PHONE_SIZE
        intrinsics = normalized_intrinsics((PHONE_FOCAL, PHONE_FOCAL), (width / 2, height / 2), width, height)
        return [Camera(f"phone{i + 1}", width, height, intrinsics, looking_at(centre), np.array(centre))
                for i, centre in enumerate(PHONE_CENTRES)]
    factor = float(name.split("-")[1])
    cameras = []
    for camera in cameras_of(TEST_SUBJECTS):
        intrinsics = camera.intrinsics.copy()
        intrinsics[:2] *= factor
        cameras.append(dataclasses.replace(camera, intrinsics=intrinsics))
    return cameras


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--clips", type=int, default=28)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--px", type=float, default=4.0)
    parser.add_argument("--cameras", nargs="+", default=["h36m-0.7", "h36m-1.0", "h36m-1.4", "phone"])
    parser.add_argument("--zoom", action="store_true", help="also fit with the input zoomed to the training camera")
    args = parser.parse_args()
    clips = subsample(load_mocap(args.data), args.clips, args.frames)
    engine = engines.load(args.engine, backend="onnxruntime", providers="cpu", threads=1)
    training_focal = float(np.mean([camera.intrinsics[0] for camera in cameras_of(TEST_SUBJECTS)]))
    noise = dataclasses.replace(NOISE_MODELS["default"], sigma=args.px)
    print(f"| cameras | true focal / width | videos | raw fit, log error | used, log error | fallbacks | "
          f"truth in 90 % interval |{' raw fit, input zoomed to the training camera |' * args.zoom}")
    print("|---|---|---|---|---|---|---|" + "---|" * args.zoom)
    for name in args.cameras:
        raw, used, inside, zoomed, fallbacks, truths = [], [], [], [], 0, []
        for video in video_clips(clips, camera_set(name), noise, 0, include_focal=False, cameras_per_clip=1):
            camera = camera_of(video.sequence)
            prepared = prepare(video.sequence, camera)
            x, _, _ = steps.denoise_keypoints(prepared.x, prepared.weights, prepared.detected)
            pose, uncertainty = _predict(engine, x, 256)
            weights = steps.root_weights(prepared.weights, uncertainty)
            cams = np.repeat(camera.normalized()[None], len(x), axis=0)
            truth = float(video.cam[0]) / float(cams[0, 0])  # true focal / the default's
            truths.append(float(video.cam[0]) / 2)
            raw.append(np.log(estimate_focal_scale(pose, x, cams, weights) / truth))
            estimate = estimate_focal(camera, x, pose, weights)
            fallbacks += estimate.focal_source is FocalSource.FALLBACK
            used.append(np.log(estimate.fx / camera.fx / truth))
            if estimate.focal_interval is not None:
                low, high = estimate.focal_interval
                inside.append(low <= truth * camera.fx <= high)
            if args.zoom:
                centre = cams[0, 2:4]
                shown = (centre + (x - centre) * training_focal / float(video.cam[0])).astype(np.float32)
                zoomed_pose, zoomed_uncertainty = _predict(engine, shown, 256)
                zoomed.append(np.log(estimate_focal_scale(
                    zoomed_pose, x, cams, steps.root_weights(prepared.weights, zoomed_uncertainty)) / truth))
        raw, used = np.array(raw), np.array(used)
        row = (f"| {name} | {np.mean(truths):.2f} | {len(raw)} | {raw.mean():+.3f} +- {raw.std():.3f} | "
               f"{used.mean():+.3f} +- {used.std():.3f} | {fallbacks} | "
               f"{100 * np.mean(inside):.0f} % of {len(inside)} |")
        if args.zoom:
            row += f" {np.mean(zoomed):+.3f} +- {np.std(zoomed):.3f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
