"""Accuracy of a model on fixed 2D -> 3D pairs: MPJPE (protocol 1) and P-MPJPE (protocol 2) in mm.

Every prediction is flip-averaged and root-zeroed (the paper's protocol); with a :class:`TTOConfig`
the UAO-refined prediction is scored too. Errors are averaged per group (a Human3.6M action or a
mocap clip), then over groups.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..camera import estimate_root
from ..errors import UaoError
from ..metrics import mpjpe, p_mpjpe
from ..tto import TTOConfig, optimize, predict

ROOTS = ("gt", "estimated")
PAIR_KEYS = ("x", "target", "cam", "root", "clip")


def _check_pairs(pairs: dict) -> int:
    missing = [key for key in PAIR_KEYS + ("names",) if key not in pairs]
    if missing:
        raise UaoError(f"evaluation pairs lack {', '.join(missing)}")
    lengths = {key: len(pairs[key]) for key in PAIR_KEYS}
    if len(set(lengths.values())) != 1:
        raise UaoError(f"evaluation pairs disagree in length: {lengths}")
    if lengths["x"] == 0:
        raise UaoError("no evaluation pairs")
    return lengths["x"]


def _summary(values: np.ndarray, groups: np.ndarray, names: list[str]) -> dict:
    """Per-group means of per-frame values (metres -> mm) and their mean over the groups present."""
    counts = np.bincount(groups, minlength=len(names))
    sums = np.bincount(groups, weights=values, minlength=len(names))
    per_group = {name: float(sums[i] / counts[i] * 1000) for i, name in enumerate(names) if counts[i]}
    return {"per_group": per_group, "mean": float(np.mean(list(per_group.values())))}


def evaluate(model: torch.nn.Module, pairs: dict, tto: TTOConfig | None = TTOConfig(), root: str = "gt",
             batch_size: int = 1024, progress: bool = False) -> dict:
    """Score ``model`` on ``pairs`` (the dict of :func:`uao_deploy.data.mocap.evaluation_pairs`).

    root: "gt" places the pose for TTO's reprojection term at the ground-truth root (the paper's
    protocol); "estimated" uses :func:`uao_deploy.camera.estimate_root` from the flip-averaged
    prediction, the 2D input and the intrinsics, as deployment must (its error is reported too).
    Runs in batches of ``batch_size`` on the model's device. Returns a JSON-ready report::

        {"frames", "groups", "root", "tto", "frames_per_group",
         "methods": {"plain": {"mpjpe_mm": summary, "p_mpjpe_mm": summary}, "tto": ...},
         "root_error_mm": summary (estimated root only)}

    where a summary is ``{"per_group": {name: mm}, "mean": mean over groups}``.
    """
    if root not in ROOTS:
        raise UaoError(f"root must be one of {', '.join(ROOTS)}; got {root!r}")
    if batch_size < 1:
        raise UaoError(f"batch size must be positive; got {batch_size}")
    frames = _check_pairs(pairs)
    device = next(model.parameters()).device
    methods = ["plain"] + (["tto"] if tto is not None else [])
    errors = {method: {"mpjpe": [], "p_mpjpe": []} for method in methods}
    root_errors = []

    def score(method, pose, target):
        errors[method]["mpjpe"].append(mpjpe(pose, target))
        errors[method]["p_mpjpe"].append(p_mpjpe(pose, target))

    starts = range(0, frames, batch_size)
    with torch.no_grad():  # TTO switches gradients on for its inputs only
        for start in tqdm(starts, desc="evaluate", unit="batch", disable=not progress):
            rows = slice(start, start + batch_size)
            x = torch.from_numpy(pairs["x"][rows]).to(device)
            target = pairs["target"][rows]
            pose = predict(model, x).cpu().numpy()
            score("plain", pose, target)
            root_position = pairs["root"][rows]
            if root == "estimated":
                root_position = estimate_root(pose, pairs["x"][rows], pairs["cam"][rows])
                root_errors.append(np.linalg.norm(root_position - pairs["root"][rows], axis=-1))
            if tto is not None:
                cam = torch.from_numpy(pairs["cam"][rows]).to(device)
                refined = optimize(model, x, cam, torch.from_numpy(root_position).to(device), **tto.to_dict())
                score("tto", refined.cpu().numpy(), target)

    groups, names = pairs["clip"], list(pairs["names"])
    report = {
        "frames": frames,
        "groups": names,
        "frames_per_group": {name: int(count) for name, count in zip(names, np.bincount(groups, minlength=len(names))) if count},
        "root": root,
        "tto": tto.to_dict() if tto is not None else None,
        "methods": {method: {f"{metric}_mm": _summary(np.concatenate(values), groups, names)
                             for metric, values in errors[method].items()} for method in methods},
    }
    if root_errors:
        report["root_error_mm"] = _summary(np.concatenate(root_errors), groups, names)
    return report


def format_table(report: dict, group_label: str = "group") -> str:
    """The report as a fixed-width table: one row per group, then the mean over groups."""
    columns = [(f"{method} {label}", report["methods"][method][key])
               for method in report["methods"] for label, key in (("MPJPE", "mpjpe_mm"), ("P-MPJPE", "p_mpjpe_mm"))]
    if "root_error_mm" in report:
        columns.append(("root error", report["root_error_mm"]))
    names = list(report["frames_per_group"])
    width = max(len(group_label), 4, *(len(name) for name in names))
    header = f"{group_label:<{width}}  {'frames':>7}" + "".join(f"  {title:>{max(len(title), 7)}}" for title, _ in columns)
    lines = [header, "-" * len(header)]
    for name in names:
        lines.append(f"{name:<{width}}  {report['frames_per_group'][name]:>7}"
                     + "".join(f"  {summary['per_group'][name]:>{max(len(title), 7)}.1f}" for title, summary in columns))
    lines.append("-" * len(header))
    lines.append(f"{'mean':<{width}}  {report['frames']:>7}"
                 + "".join(f"  {summary['mean']:>{max(len(title), 7)}.1f}" for title, summary in columns))
    return "\n".join(lines)
