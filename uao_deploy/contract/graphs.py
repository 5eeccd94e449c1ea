"""The graph contract shared by export and engines: graph names, tensor names and shapes, metadata.

Every exported graph carries the same ``uao.*`` metadata (ONNX ``metadata_props``); the
``manifest.json`` beside the graphs repeats it with each graph's file, sha256 and signature, so a
reader needs neither onnx nor the checkpoint to know what a directory holds.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import __version__, skeleton
from ..errors import UaoError

MANIFEST = "manifest.json"
PRECISIONS = ("fp32", "fp16")
BATCH = "B"  # the symbolic batch dimension in shapes
NORMALIZATION = (
    "2D keypoints normalized by the image width w: u' = u / w * 2 - 1, v' = v / w * 2 - h / w; "
    "intrinsics [fx, fy, cx, cy, k1, k2, k3, p1, p2] normalized the same way (f' = f / w * 2); "
    "3D poses in metres, camera frame, root-relative with the root joint (pelvis) at 0."
)


@dataclass(frozen=True)
class GraphSpec:
    """Name and signature of one exported graph; shapes use "B" (and "K" for TTO iterations)."""

    name: str
    inputs: tuple[tuple[str, tuple], ...]
    outputs: tuple[tuple[str, tuple], ...]

    @property
    def input_names(self) -> list[str]:
        return [name for name, _ in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [name for name, _ in self.outputs]

    def signature(self, iters: int) -> dict:
        """Inputs and outputs as JSON-ready lists, with K replaced by the exported iteration count."""
        def describe(tensors):
            return [{"name": name, "shape": [iters if dim == "K" else dim for dim in shape], "dtype": "float32"}
                    for name, shape in tensors]
        return {"inputs": describe(self.inputs), "outputs": describe(self.outputs)}


_J = skeleton.NUM_JOINTS
GRAPHS = {
    spec.name: spec for spec in (
        GraphSpec("forward", (("x", (BATCH, _J, 2)),), (("mu", (BATCH, _J, 3)), ("s", (BATCH, _J, 1)))),
        GraphSpec(
            "tto_step",
            (("z", (BATCH, _J, 2)), ("z_flip", (BATCH, _J, 2)), ("x", (BATCH, _J, 2)), ("mu0", (BATCH, _J, 3)),
             ("mu0_flip", (BATCH, _J, 3)), ("cam", (BATCH, 9)), ("root", (BATCH, 3))),
            (("loss", (BATCH,)), ("grad_z", (BATCH, _J, 2)), ("grad_z_flip", (BATCH, _J, 2))),
        ),
        GraphSpec(
            "tto_fused",
            (("x", (BATCH, _J, 2)), ("cam", (BATCH, 9)), ("root", (BATCH, 3))),
            (("pose", (BATCH, _J, 3)), ("losses", ("K", BATCH))),
        ),
    )
}


# The first TTO step, which also returns the pseudo-targets: traced for the fused graph and inlined
# there (saving the seed's duplicate forward at z = x), not written as a file of its own.
FIRST_STEP = GraphSpec(
    "tto_first_step",
    (("z", (BATCH, _J, 2)), ("z_flip", (BATCH, _J, 2)), ("x", (BATCH, _J, 2)), ("cam", (BATCH, 9)), ("root", (BATCH, 3))),
    (("loss", (BATCH,)), ("grad_z", (BATCH, _J, 2)), ("grad_z_flip", (BATCH, _J, 2)), ("mu0", (BATCH, _J, 3)),
     ("mu0_flip", (BATCH, _J, 3))),
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
    if not isinstance(graphs, dict) or set(graphs) != set(GRAPHS):
        raise UaoError(f"{path} does not list the graphs {', '.join(GRAPHS)}: not a uao export or engine directory")
    return manifest
