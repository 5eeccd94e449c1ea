"""Lifted results out, in the format the output file's suffix names.

============ ==============================================================================
suffix       content
============ ==============================================================================
``.npz``     every array of :class:`uao_deploy.pipeline.LiftResult`, plus ``poses_world``
             (T, 17, 3) and ``root_world`` (T, 3) in the world frame; ``metadata`` (JSON) holds
             the world frame's transform
``.csv``     one row per frame and joint: world, camera and image coordinates, confidence,
             uncertainty; the unit and frame in each column name
``.json``    the same per frame, with joint names, parents, fps and the coordinate frames spelled out
``.bvh``     the Human3.6M skeleton animated in the world frame (:mod:`.bvh`)
``.html``    an offline interactive 3D viewer (:mod:`.html`, needs plotly)
============ ==============================================================================

A lifted sequence is written by :func:`write_lift`, which adds the world-frame arrays
(:func:`uao_deploy.pipeline.world.add_world_frame`: Y up, floor at 0) for every format.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ... import skeleton
from ...errors import UaoError
from ...fileio import atomic_write_bytes
from ...pipeline.result import LIFT_ARRAYS, LiftResult

SUFFIXES = (".npz", ".csv", ".json", ".bvh", ".html")
DEFAULT_FPS = 25.0  # when the keypoint file does not say (detector outputs rarely do)


def check_output(path) -> None:
    """Refuse, before any work, an output whose suffix names no writer."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UaoError(f"cannot write {path}: the output suffix picks the format, one of {', '.join(SUFFIXES)}")
    if suffix == ".html":
        try:
            import plotly  # noqa: F401
        except ImportError:
            raise UaoError(f"writing {path} needs plotly: pip install 'uao-deploy[viz]'") from None


def fps_of(metadata: dict) -> float:
    return float(metadata.get("fps") or DEFAULT_FPS)


def write_lift(result: LiftResult, path, up=None, camera_pitch: float | None = None) -> Path:
    """Write a lifted sequence with its world frame (``up``/``camera_pitch`` as
    :func:`uao_deploy.pipeline.world.estimate_world_frame`), atomically, in the format of ``path``'s suffix."""
    from ...pipeline.world import add_world_frame

    return write_result(path, *add_world_frame(result.arrays(), result.metadata, up, camera_pitch))


def write_result(path, arrays: dict, metadata: dict) -> Path:
    """Write ``arrays`` (lift arrays and world arrays) in the format of ``path``'s suffix, atomically."""
    path = Path(path)
    check_output(path)
    suffix, fps = path.suffix.lower(), fps_of(metadata)
    if suffix == ".npz":
        def write(tmp):
            with open(tmp, "wb") as handle:  # a file object: np.savez would append .npz to a name
                np.savez(handle, **arrays, metadata=np.array(json.dumps(metadata, default=str)))

        atomic_write_bytes(path, write)
        return path
    text = _text(suffix, arrays, metadata, fps, title=Path(str(metadata.get("source", path.stem))).name)
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def _text(suffix: str, arrays: dict, metadata: dict, fps: float, title: str) -> str:
    if suffix == ".bvh":
        from .bvh import bvh_text

        return bvh_text(arrays["poses_world"], fps)
    from .tables import csv_text, json_payload

    if suffix == ".csv":
        return csv_text(arrays, fps)
    if suffix == ".json":
        return json.dumps(json_payload(arrays, metadata, fps), default=str) + "\n"
    from .html import html_text

    return html_text(arrays, metadata, fps, title)


def load_result(path) -> tuple[dict, dict]:
    """The arrays and metadata of an npz written by ``uao infer`` (world arrays when it has them)."""
    path = Path(path)
    if not path.is_file():
        raise UaoError(f"{path} does not exist or is not a file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files if key != "metadata"}
            metadata = json.loads(str(archive["metadata"])) if "metadata" in archive.files else {}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise UaoError(f"{path} is not a readable uao result .npz ({type(exc).__name__})") from None
    missing = [key for key in LIFT_ARRAYS if key not in arrays]
    if missing:
        raise UaoError(f"{path} is not a uao result: it lacks {', '.join(missing)}")
    frames = len(arrays["poses_3d"])
    if arrays["poses_3d"].shape != (frames, skeleton.NUM_JOINTS, 3) or frames == 0 or \
            any(len(arrays[key]) != frames for key in LIFT_ARRAYS):
        raise UaoError(f"{path}: its arrays do not describe one sequence of (T, 17) joints")
    return arrays, metadata
