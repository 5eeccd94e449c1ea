"""Human3.6M in VideoPose3D's preprocessed files, turned into 2D -> 3D pairs.

- ``data_3d_h36m.npz``: key ``positions_3d``, a pickled dict subject -> action -> (T, 32, 3) world
  positions in metres (Human3.6M's motion-capture skeleton; reduced here to the 17 joints of
  :data:`uao_deploy.skeleton.H36M32_TO_17`).
- ``data_2d_h36m_<detector>.npz`` (e.g. ``cpn_ft_h36m_dbb`` or ``gt``): key ``positions_2d``, a pickled
  dict subject -> action -> list of 4 (T, 17, 2) pixel arrays, one per camera in the calibration's
  order, and ``metadata`` (``layout_name``, ``num_joints``, ``keypoints_symmetry``).

**Security.** Both files hold pickled Python objects, and unpickling a file can run arbitrary code.
These loaders therefore read them (``allow_pickle=True``) only from paths the user names, only when
the path is a zip archive (an ``.npz``), and nowhere else in the package.

Some Human3.6M videos hold a few more (or fewer) frames than the motion capture; as in VideoPose3D
each camera's sequence is trimmed to the shorter of its 2D and 3D lengths.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from .. import skeleton
from ..camera import normalize_screen_coordinates
from ..errors import UaoError, first_line
from .cameras import TEST_SUBJECTS, TRAIN_SUBJECTS, h36m_cameras
from ..io.npz import read_array

MOCAP_JOINTS = 32


def _load_pickled(path: Path, key: str) -> tuple[dict, object]:
    """The pickled dict stored under ``key`` of a VideoPose3D npz, and its ``metadata`` (or None)."""
    if not path.is_file():
        raise UaoError(f"{path} does not exist")
    # np.load on a bare .npy or pickle with allow_pickle=True would unpickle it at once: accept zips only.
    if not zipfile.is_zipfile(path):
        raise UaoError(f"{path} is not an .npz archive (VideoPose3D's Human3.6M files are .npz)")
    try:
        with np.load(path, allow_pickle=True) as archive:
            if key not in archive.files:
                raise UaoError(f"{path} has no {key!r} entry (found {', '.join(archive.files) or 'nothing'}); "
                               f"is it the right VideoPose3D Human3.6M file?")
            content = read_array(path, archive, key)
            metadata = read_array(path, archive, "metadata").item() if "metadata" in archive.files else None
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, AttributeError, ImportError,
            IndexError, TypeError) as exc:  # what unpickling a damaged or foreign pickle raises
        raise UaoError(f"{path} is not a readable VideoPose3D .npz file ({first_line(exc)})") from None
    if content.dtype != object or content.shape != () or not isinstance(content.item(), dict):
        raise UaoError(f"{path}: {key!r} must be a pickled dict subject -> action -> arrays")
    return content.item(), metadata


def _checked_sequence(array, joints: int, channels: int, where: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind not in "fiu" or array.ndim != 3 or array.shape[1] != joints or array.shape[2] < channels:
        raise UaoError(f"{where} has shape {array.shape}; expected (T, {joints}, {channels})")
    array = array[..., :channels].astype(np.float32)
    if not np.isfinite(array).all():
        raise UaoError(f"{where} contains NaN or infinite values")
    return array


def _subject_actions(content: dict, path: Path, key: str):
    for subject, actions in content.items():
        if not isinstance(actions, dict):
            raise UaoError(f"{path}: {key}[{subject!r}] must be a dict action -> data")
        yield subject, actions


def load_h36m_3d(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read ``data_3d_h36m.npz``: subject -> action -> (T, 17, 3) world metres (float32).

    Unpickles the file (``allow_pickle=True``): pass only files you trust.
    """
    path = Path(path)
    content, _ = _load_pickled(path, "positions_3d")
    return {
        subject: {action: _checked_sequence(positions, MOCAP_JOINTS, 3, f"{path}: {subject}/{action}")[:, list(skeleton.H36M32_TO_17)]
                  for action, positions in actions.items()}
        for subject, actions in _subject_actions(content, path, "positions_3d")
    }


def load_h36m_2d(path: str | Path) -> dict[str, dict[str, list[np.ndarray]]]:
    """Read ``data_2d_h36m_<detector>.npz``: subject -> action -> per camera (T, 17, 2) pixels (float32).

    Unpickles the file (``allow_pickle=True``): pass only files you trust. Extra channels (e.g. a
    detector confidence) are dropped; the metadata, when present, must describe our 17 joints.
    """
    path = Path(path)
    content, metadata = _load_pickled(path, "positions_2d")
    if metadata is not None:
        _check_metadata(metadata, path)
    keypoints = {}
    for subject, actions in _subject_actions(content, path, "positions_2d"):
        keypoints[subject] = {}
        for action, views in actions.items():
            if not isinstance(views, (list, tuple)):
                raise UaoError(f"{path}: {subject}/{action} must be a list of per-camera arrays")
            keypoints[subject][action] = [
                _checked_sequence(view, skeleton.NUM_JOINTS, 2, f"{path}: {subject}/{action} camera {index}")
                for index, view in enumerate(views)]
    return keypoints


def _check_metadata(metadata, path: Path) -> None:
    if not isinstance(metadata, dict):
        raise UaoError(f"{path}: 'metadata' must be a dict")
    joints = metadata.get("num_joints", skeleton.NUM_JOINTS)
    if joints != skeleton.NUM_JOINTS:
        raise UaoError(f"{path}: keypoints have {joints} joints; the Human3.6M skeleton has {skeleton.NUM_JOINTS}")
    symmetry = metadata.get("keypoints_symmetry")
    if symmetry is not None and [list(side) for side in symmetry] != [list(skeleton.LEFT), list(skeleton.RIGHT)]:
        raise UaoError(f"{path}: keypoints_symmetry {symmetry} is not Human3.6M's joint order "
                       f"(left {list(skeleton.LEFT)}, right {list(skeleton.RIGHT)})")


def action_group(action: str) -> str:
    """'Directions 1' -> 'Directions': the protocol averages the takes of an action together."""
    return action.split(" ")[0]


def h36m_pairs(poses: dict, keypoints: dict, subjects=TEST_SUBJECTS, stride: int = 1) -> dict:
    """Fixed pairs for ``subjects``, in the format of :func:`uao_deploy.data.mocap.evaluation_pairs`.

    poses from :func:`load_h36m_3d`, keypoints from :func:`load_h36m_2d`. Returns x (N,17,2)
    normalized by each camera's width and height, target (N,17,3) camera frame root-relative with
    the root at 0, cam (N,9), root (N,3), clip (N,) index into ``names`` = action groups.
    """
    cameras = h36m_cameras()
    groups: dict[str, int] = {}
    parts = {"x": [], "target": [], "cam": [], "root": [], "clip": []}
    for subject in subjects:
        if subject not in cameras:
            raise UaoError(f"{subject} is not a Human3.6M subject (known: {', '.join(cameras)})")
        for source, data in (("3D", poses), ("2D", keypoints)):
            if subject not in data:
                raise UaoError(f"subject {subject} is missing from the {source} file")
        for action, world in poses[subject].items():
            views = keypoints[subject].get(action)
            if views is None:
                raise UaoError(f"action {action!r} of {subject} is missing from the 2D file")
            if len(views) != len(cameras[subject]):
                raise UaoError(f"{subject}/{action}: the 2D file has {len(views)} cameras, the calibration {len(cameras[subject])}")
            group = groups.setdefault(action_group(action), len(groups))
            for camera, pixels in zip(cameras[subject], views):
                frames = min(len(world), len(pixels))
                points = camera.world_to_camera(world[:frames:stride])
                root = points[:, 0]
                parts["x"].append(normalize_screen_coordinates(pixels[:frames:stride], camera.width, camera.height))
                parts["target"].append(skeleton.zero_root(points - root[:, None]))
                parts["cam"].append(np.repeat(camera.intrinsics[None], len(points), axis=0))
                parts["root"].append(root)
                parts["clip"].append(np.full(len(points), group))
    if not parts["x"]:
        raise UaoError(f"no Human3.6M frames for subjects {', '.join(subjects)}")
    pairs = {key: np.concatenate(value).astype(np.int64 if key == "clip" else np.float32) for key, value in parts.items()}
    pairs["names"] = list(groups)
    return pairs


class H36MTrainingData:
    """:class:`uao_deploy.jobs.train.TrainingData` from Human3.6M: fixed pairs of the training subjects,
    shuffled every epoch (the trainer adds the random flips); validation on the test subjects."""

    def __init__(self, path_3d, path_2d, train_subjects=TRAIN_SUBJECTS, val_subjects=TEST_SUBJECTS,
                 stride: int = 1, val_stride: int = 4, device="cpu"):
        poses, keypoints = load_h36m_3d(path_3d), load_h36m_2d(path_2d)
        train = h36m_pairs(poses, keypoints, train_subjects, stride)
        self.x = torch.from_numpy(train["x"]).to(device)
        self.target = torch.from_numpy(train["target"]).to(device)
        self._val = h36m_pairs(poses, keypoints, val_subjects, val_stride)
        self.description = {
            "kind": "h36m", "train_3d": str(path_3d), "train_2d": str(path_2d), "stride": stride,
            "val_stride": val_stride, "train_subjects": list(train_subjects), "val_subjects": list(val_subjects),
            "frames": len(self.x),
        }

    def epoch(self, batch_size: int, generator: torch.Generator):
        order = torch.randperm(len(self.x), generator=generator, device=generator.device).to(self.x.device)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            yield self.x[index], self.target[index]

    def validation(self) -> dict[str, np.ndarray]:
        return self._val
