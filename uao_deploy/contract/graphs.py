"""The graph contract shared by export and engines: graph names, tensor names and shapes, metadata.

Every exported graph carries the same ``uao.*`` metadata (ONNX ``metadata_props``); the
``manifest.json`` beside the graphs repeats it with each graph's file, sha256 and signature, so a
reader needs neither onnx nor the checkpoint to know what a directory holds.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .. import __version__, skeleton
from ..errors import UaoError
from .objectives import GRAPHS, MODEL_GRAPH

MANIFEST = "manifest.json"
# Precisions, in one place: exported graphs are fp32 or fp16; the torch backend runs its TTO steps in
# fp32, or with the U-MLPs in bf16 (CPUs with avx512_bf16/AMX, GPUs) or fp16 (GPUs).
PRECISIONS = ("fp32", "fp16")
TORCH_PRECISIONS = ("fp32", "bf16", "fp16")
NORMALIZATION = (
    "2D keypoints normalized by the image width w: u' = u / w * 2 - 1, v' = v / w * 2 - h / w; "
    "intrinsics [fx, fy, cx, cy, k1, k2, k3, p1, p2] normalized the same way (f' = f / w * 2); "
    "3D poses in metres, camera frame, root-relative with the root joint (pelvis) at 0."
)


def graph_metadata(checkpoint_sha256: str, model_config: dict, tto: dict, precision: str) -> dict[str, str]:
    """The ``uao.*`` metadata_props shared by all graphs of an export (strings, JSON where structured);
    each graph adds ``uao.graph`` with its own name."""
    return {
        "uao.version": __version__,
        "uao.checkpoint_sha256": checkpoint_sha256,
        "uao.model_config": json.dumps(model_config, sort_keys=True),
        "uao.tto": json.dumps(tto, sort_keys=True),
        "uao.joints": json.dumps(list(skeleton.JOINT_NAMES)),
        "uao.normalization": NORMALIZATION,
        "uao.precision": precision,
    }


def read_manifest(directory: str | os.PathLike) -> dict:
    """The manifest.json of an export or engine directory, checked to name every graph."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise UaoError(f"{directory} holds no {MANIFEST}: run `uao export` to create it")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UaoError(f"{path} is not valid JSON ({exc})") from None
    graphs = manifest.get("graphs") if isinstance(manifest, dict) else None
    if not isinstance(graphs, dict) or MODEL_GRAPH not in graphs:
        raise UaoError(f"{path} does not list a {MODEL_GRAPH} graph: not a uao export or engine directory")
    unknown = sorted(set(graphs) - set(GRAPHS))
    if unknown:
        raise UaoError(f"{path} lists graphs this uao-deploy does not know ({', '.join(unknown)}): "
                       "made by another version, or not a uao export")
    return manifest
