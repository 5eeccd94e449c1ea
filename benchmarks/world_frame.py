"""How well the upright world frame is found: up-vector angle and floor height errors on mocap.

Every clip of the CMU test and validation splits (../shared/data/cmu_h36m17, world Z up, floor at
Z = 0) is placed in front of the Human3.6M test subjects' cameras (S9, S11; one camera per clip, in
turn) as uao_deploy.data.mocap does, then the world frame is estimated from the camera-frame poses:

* ``truth``: the true camera-frame joints (the method's own error);
* ``lifted``: what `uao infer` would hold: the embedded model's flip-averaged prediction from the
  projected keypoints with 4 px detector noise, and the root from camera.estimate_root (no TTO).

Errors: angle between the estimated and true up vectors (degrees), and the height the estimated
world frame gives the true floor under the person's mean position (metres; 0 is right). Writes benchmarks/results/world_frame.json.

    python benchmarks/world_frame.py [--stride 2]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from uao_deploy.camera import estimate_root
from uao_deploy.data.cameras import TEST_SUBJECTS, h36m_cameras
from uao_deploy.data.mocap import NoiseModel, evaluation_pairs, load_mocap
from uao_deploy.jobs.infer import open_engine
from uao_deploy.pipeline.world import body_axis, estimate_world_frame

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu_h36m17"


def errors(frame, camera, clip) -> tuple[float, float]:
    """Up-vector angle (degrees) and the estimated height of the true floor under the person (m)."""
    true_up = camera.rotation[2]  # world Z in camera coordinates
    angle = np.degrees(np.arccos(np.clip(frame.up @ true_up, -1, 1)))
    under_person = clip[:, 0].mean(axis=0) * [1, 1, 0]  # the floor (Z = 0) under the mean root
    return float(angle), float(frame.apply(camera.world_to_camera(under_person))[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=2, help="every n-th mocap frame (50 fps clips)")
    args = parser.parse_args()
    cameras = [camera for subject in TEST_SUBJECTS for camera in h36m_cameras()[subject]]
    engine = open_engine("torch", iters=0)
    rows = []
    for split in ("test", "val"):
        for number, (name, clip) in enumerate(load_mocap(SHARED / f"{split}.npz").items()):
            camera = cameras[number % len(cameras)]
            pairs = evaluation_pairs({name: clip}, [camera], NoiseModel(4.0, 4.0), seed=number, stride=args.stride)
            pose = engine.predict(pairs["x"])
            root = estimate_root(pose, pairs["x"], pairs["cam"])
            frames = {}
            for kind, (poses, roots) in {"truth": (pairs["target"], pairs["root"]), "lifted": (pose, root)}.items():
                frames[kind] = estimate_world_frame(poses, roots)
                frames[f"{kind}_body_axis_only"] = estimate_world_frame(poses, roots, up=body_axis(poses + roots[:, None]))
            rows.append({"clip": f"{split}/{name}", "frames": len(clip[::args.stride]), "camera": camera.id,
                         **{f"{kind}_{key}": value for kind, frame in frames.items()
                            for key, value in zip(("up_error_deg", "floor_error_m"), errors(frame, camera, clip))},
                         **{f"{kind}_method": frame.up_method for kind, frame in frames.items()}})
    summary = {}
    for kind in ("truth", "truth_body_axis_only", "lifted", "lifted_body_axis_only"):
        angle = np.array([r[f"{kind}_up_error_deg"] for r in rows])
        floor = np.abs([r[f"{kind}_floor_error_m"] for r in rows])
        methods = [r[f"{kind}_method"] for r in rows]
        summary[kind] = {"up_error_deg": {"median": float(np.median(angle)), "mean": float(angle.mean()),
                                          "p90": float(np.percentile(angle, 90))},
                         "floor_abs_error_m": {"median": float(np.median(floor)), "mean": float(floor.mean()),
                                               "p90": float(np.percentile(floor, 90))},
                         "up_method_counts": {m: methods.count(m) for m in sorted(set(methods))}}
    result = {"clips": len(rows), "stride": args.stride, "summary": summary, "rows": rows}
    out = Path(__file__).parent / "results" / "world_frame.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
