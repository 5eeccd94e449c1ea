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
``.bvh``     the Human3.6M skeleton animated in the world frame (:mod:`.bvh`, feet planted where
             ``contacts`` says); beside it ``<stem>.joint_source.csv``: each joint's source per
             frame, and ``<stem>.frames.csv``: each foot's contact and the root's standard
             deviation per frame
``.html``    an offline interactive 3D viewer (:mod:`.html`, needs plotly)
============ ==============================================================================

A lifted sequence is written by :meth:`uao_deploy.pipeline.LiftResult.write`, which adds the world-frame
arrays (:func:`uao_deploy.pipeline.world.add_world_frame`: Y up, floor at 0) for every format.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import UaoError, first_line
from ...fileio import atomic_write_bytes
from ... import skeleton
from .schema import JOINT_SOURCES, LIFT_ARRAYS, SPECS, check_fps, check_result, joint_sources

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
    fps = check_fps(metadata.get("fps"), "the result's metadata")
    return DEFAULT_FPS if fps is None else fps


def write_result(path, arrays: dict, metadata: dict) -> Path:
    """Write ``arrays`` (lift arrays and world arrays, :mod:`.schema`) in the format of ``path``'s
    suffix, atomically; a result that does not match the schema is refused and nothing is written."""
    path = Path(path)
    check_output(path)
    unknown = sorted(set(arrays) - set(SPECS))
    if unknown:  # every array a result holds is described, and checked, in .schema
        raise UaoError(f"refusing to write {path}: {', '.join(unknown)} is not in the result schema "
                       "(uao_deploy/io/results/schema.py)")
    check_result(arrays, metadata, f"refusing to write {path}")
    suffix, fps = path.suffix.lower(), fps_of(metadata)
    if suffix == ".npz":
        def write(tmp):
            with open(tmp, "wb") as handle:  # a file object: np.savez would append .npz to a name
                np.savez(handle, **arrays, metadata=np.array(json.dumps(metadata, default=str)))

        atomic_write_bytes(path, write)
        return path
    text = _text(suffix, arrays, metadata, fps, title=Path(str(metadata.get("source", path.stem))).name)
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    if suffix == ".bvh":  # BVH has no place for it: a side file, one row per frame
        sources = joint_sources(arrays)
        table = "frame," + ",".join(skeleton.JOINT_NAMES) + "\n" + "".join(
            f"{frame}," + ",".join(JOINT_SOURCES[s] for s in row) + "\n" for frame, row in enumerate(sources))
        atomic_write_bytes(joint_source_path(path), lambda tmp: Path(tmp).write_text(table, encoding="utf-8"))
        from .tables import frame_columns

        columns = frame_columns(arrays)
        if columns:
            table = "frame," + ",".join(columns) + "\n" + "".join(
                f"{frame}," + ",".join(column[frame] for column in columns.values()) + "\n"
                for frame in range(len(arrays["root"])))
            atomic_write_bytes(side_path(path, "frames"), lambda tmp: Path(tmp).write_text(table, encoding="utf-8"))
    return path


def side_path(path, what: str) -> Path:
    """A side file of a BVH output: ``joint_source`` (each joint's source per frame) or ``frames``
    (:func:`.tables.frame_columns` per frame)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{what}.csv")


def joint_source_path(path) -> Path:
    """The side file of a BVH output with each joint's source (detected, interpolated, inferred) per frame."""
    return side_path(path, "joint_source")


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
    """The arrays (those :mod:`.schema` lists) and metadata of an npz written by ``uao infer``, checked
    against the schema: anything else is one UaoError naming the problem."""
    from ..npz import open_npz, read_array

    path = Path(path)
    with open_npz(path, "uao result .npz") as archive:
        names = {name.removesuffix(".npy") for name in archive.files}
        missing = [name for name in (*LIFT_ARRAYS, "metadata") if name not in names]
        if missing:
            raise UaoError(f"{path} is not a uao result: it lacks {', '.join(missing)}")
        arrays = {name: read_array(path, archive, name) for name in SPECS if name in names}
        text = read_array(path, archive, "metadata")
    if text.dtype.kind != "U" or text.ndim != 0:
        raise UaoError(f"{path}: its metadata is not a JSON text")
    try:
        metadata = json.loads(str(text))
    except (ValueError, RecursionError) as exc:
        raise UaoError(f"{path}: its metadata is not valid JSON ({first_line(exc)})") from None
    check_result(arrays, metadata, str(path))
    return arrays, metadata
