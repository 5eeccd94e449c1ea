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
from ..errors import UaoError, one_line
from .objectives import GRAPHS, MAX_TTO_ITERS, MODEL_GRAPH, OBJECTIVES, Calibration, Settings
from ..fileio import file_sha256

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


def graph_metadata(checkpoint_sha256: str, model_config: dict, configs: dict, precision: str,
                   calibration: Calibration = Calibration(), architecture: dict | None = None) -> dict[str, str]:
    """The ``uao.*`` metadata_props shared by all graphs of an export (strings, JSON where structured);
    each graph adds ``uao.graph`` with its own name. ``configs``: {objective: config}, each under its
    objective's ``metadata_key``; ``calibration`` the checkpoint's; ``architecture`` the lifter's name,
    source file and its sha256 (:mod:`uao_deploy.model.registry`)."""
    settings = {OBJECTIVES[name].metadata_key: json.dumps(config.to_dict(), sort_keys=True)
                for name, config in configs.items()}
    return {
        "uao.version": __version__,
        "uao.checkpoint_sha256": checkpoint_sha256,
        "uao.model_config": json.dumps(model_config, sort_keys=True),
        "uao.architecture": json.dumps(architecture or {}, sort_keys=True),
        **settings,
        "uao.calibration": json.dumps(calibration.to_dict(), sort_keys=True),
        "uao.joints": json.dumps(list(skeleton.JOINT_NAMES)),
        "uao.normalization": NORMALIZATION,
        "uao.precision": precision,
    }


def check_tto_iters(iters) -> int:
    """``iters`` as an int, refused unless it is 0 to MAX_TTO_ITERS."""
    if isinstance(iters, bool) or not isinstance(iters, int) or not 0 <= iters <= MAX_TTO_ITERS:
        raise UaoError(f"TTO iterations must be an integer from 0 to {MAX_TTO_ITERS}; got {iters!r}")
    return iters


def read_manifest(directory: str | os.PathLike) -> dict:
    """The manifest.json of an export or engine directory, checked to name every graph, each with a
    plain file name in the directory and a sha256."""
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
    for objective in OBJECTIVES.values():
        lacking = sorted(objective.graph_names - set(graphs))
        if lacking and (objective.required or set(graphs) & {spec.name for spec in objective.own_graphs}):
            raise UaoError(f"{path} does not list the {objective.name} objective's graphs {', '.join(lacking)}: "
                           "an incomplete export")
    for graph, entry in graphs.items():
        file = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(file, str) or file in ("", ".", "..") or Path(file).name != file or "\\" in file:
            raise UaoError(f"{path}: the entry of graph {graph!r} names no file in the directory ({entry!r:.80})")
        digest = entry.get("sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise UaoError(f"{path}: the entry of graph {graph!r} has no sha256")
        listed = [value.get("name") if isinstance(value, dict) else value for value in entry.get("inputs", [])]
        if "inputs" in entry and listed != GRAPHS[graph].input_names:
            raise UaoError(f"{path}: its {graph} graph takes {', '.join(map(str, listed))}, not this uao-deploy's "
                           f"{', '.join(GRAPHS[graph].input_names)}: made by another version; export again with "
                           "`uao export`")
    metadata = manifest.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise UaoError(f"{path}: 'metadata' is not a mapping of names to strings")
    return manifest


def checked_graph_files(directory: str | os.PathLike, manifest: dict, repair_hint: str,
                        hashed: bool = True) -> dict[str, Path]:
    """``{graph: path}`` of the files a manifest lists, each checked to exist and (unless not
    ``hashed``: then :func:`check_graph_sha256` before each is opened) to have the sha256 recorded at
    export."""
    directory = Path(directory)
    files = {graph: directory / entry["file"] for graph, entry in manifest["graphs"].items()}
    missing = [path.name for path in files.values() if not path.is_file()]
    if missing:
        raise UaoError(f"{directory} lacks {', '.join(missing)}, listed in its manifest; {repair_hint}")
    for graph, path in files.items() if hashed else ():
        check_graph_sha256(path, manifest["graphs"][graph]["sha256"], repair_hint)
    return files


def check_graph_sha256(path: Path, sha256: str, repair_hint: str) -> None:
    """Refuse a graph file whose sha256 is not the one recorded at export: a changed (damaged or
    tampered) graph is named, never run."""
    if file_sha256(path) != sha256:
        raise UaoError(f"{path} was changed after export (its sha256 differs from {MANIFEST}'s); {repair_hint}")


def check_manifest_metadata(manifest: dict, metadata: dict[str, str], source) -> None:
    """Refuse a manifest that contradicts the export's ``uao.*`` metadata (another checkpoint's
    graphs, other channels, another K): what the manifest says is what the graphs compute."""
    def decoded(key):
        try:
            value = json.loads(metadata[key])
        except (KeyError, TypeError, ValueError):
            value = None
        if not isinstance(value, dict):
            raise UaoError(f"{source}: the graphs' metadata has no valid {key!r}: not a uao export")
        return value

    claims = {"checkpoint_sha256": metadata.get("uao.checkpoint_sha256"), "model_config": decoded("uao.model_config"),
              "tto": decoded("uao.tto"), "precision": metadata.get("uao.precision")}
    differing = [key for key, value in claims.items() if key in manifest and manifest[key] != value]
    differing += [key for key, value in manifest.get("metadata", {}).items()
                  if key in metadata and key != "uao.graph" and metadata[key] != value]
    for objective in OBJECTIVES.values():  # each fused graph's K is its objective's config's iters
        fused = manifest["graphs"].get(objective.fused, {})
        if "outputs" in fused and objective.metadata_key in metadata:
            iters = decoded(objective.metadata_key).get("iters")
            if fused["outputs"] != objective.fused_spec.signature(iters)["outputs"]:
                differing.append(f"graphs.{objective.fused}.outputs (K)")
    if differing:
        raise UaoError(f"{source}: {MANIFEST} contradicts the graphs' metadata ({', '.join(differing)}); "
                       "it belongs to another export")


@dataclass(frozen=True)
class ExportSettings:
    """What an export's ``uao.*`` metadata says about how its graphs were made."""

    configs: dict  # {objective: its config} for every objective whose graphs the export holds
    calibration: Calibration
    precision: str
    checkpoint_sha256: str | None


def export_settings(metadata: dict[str, str], graphs, source) -> ExportSettings:
    """The settings recorded in an export's metadata (ONNX metadata_props, or a manifest's copy of
    them), for the objectives whose graphs ``graphs`` holds; UaoError naming ``source`` when one is
    missing or invalid. A calibration absent from an export made before it existed is none measured."""
    present = [objective for objective in OBJECTIVES.values() if objective.graph_names <= set(graphs)]
    configs = {objective.name: _settings(metadata, objective.metadata_key, objective.config, source)
               for objective in present}
    calibration = (_settings(metadata, "uao.calibration", Calibration, source) if "uao.calibration" in metadata
                   else Calibration())
    return ExportSettings(configs, calibration, metadata.get("uao.precision", "fp32"),
                          metadata.get("uao.checkpoint_sha256"))


def _settings(metadata: dict, key: str, settings: type[Settings], source):
    try:
        return settings.from_dict(json.loads(metadata[key]), source,
                                  "; made by another uao-deploy version: export again with `uao export`")
    except (KeyError, TypeError, ValueError) as exc:
        raise UaoError(f"{source} has no valid {key!r} metadata ({one_line(exc)})") from None
