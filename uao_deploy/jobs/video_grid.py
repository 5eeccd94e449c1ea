"""``uao eval --video --grid``: the evaluation grid a change to video lifting is judged by.

Cells: every split (a mocap file) x noise level (``LEVELS``, px at 1000 px width) x detector-noise
model (``NOISE_MODELS``; at 0 px there is no noise, so one cell ``exact``) x focal length known
or unknown. Each cell lifts the same videos (the split's clips, each through one of the Human3.6M
test cameras in turn, noise seed ``seed``) with ``GRID_METHODS`` and scores them with
:func:`uao_deploy.jobs.video_eval.video_metrics` (the world-grounded metrics included).

Affordable on a shared CPU: each cell takes ``clips_per_cell`` clips of the split, evenly spaced
in name order, and the first ``frames_per_clip`` frames of each (docs/world-grounded.md gives the
defaults' cost). With ``cells_dir`` every finished cell is written there at once and a later run
reuses it where its settings match -- the same clips, frames, seed, noise, engine and package code
(:func:`code_fingerprint`) -- so an interrupted grid resumes and a code change recomputes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.video_noise import VideoNoiseModel, video_clips
from ..errors import UaoError
from .video_eval import FREE_FEET, evaluate_videos

LEVELS = (0.0, 4.0, 8.0)
NOISE_MODELS = {
    "white": VideoNoiseModel(drift=0.0, gross_rate=0.0, missing_rate=0.0),  # white noise only
    "default": VideoNoiseModel(),
    "drift": VideoNoiseModel(drift=1.5, drift_frames=50.0),  # twice the drift, changing twice as slowly
    "box": VideoNoiseModel(box_jitter=1.0),  # plus a whole-body shift per frame as large as the joints' noise
    "gross": VideoNoiseModel(gross_rate=0.02),  # gross errors 7 x as often
}
EXACT = "exact"  # the 0 px cell: exact projections, fully detected
GRID_METHODS = ("plain", "plain+savgol", "sequence-uao", "sequence-uao+height", FREE_FEET)
CLIPS_PER_CELL = 6
FRAMES_PER_CLIP = 250
# Folders whose code cannot change a cell's numbers.
NOT_IN_RESULTS = ("cli", "bench", "viz", "io")


@dataclass(frozen=True)
class Cell:
    split: str
    noise: str  # a NOISE_MODELS name, or EXACT
    level: float  # px at 1000 px width
    unknown_focal: bool

    @property
    def name(self) -> str:
        return f"{self.split}_{self.noise}_{self.level:g}px_focal-{'unknown' if self.unknown_focal else 'known'}"

    def noise_model(self) -> VideoNoiseModel:
        return dataclasses.replace(NOISE_MODELS["default" if self.noise == EXACT else self.noise], sigma=self.level)


def grid_cells(splits, levels=LEVELS, models=tuple(NOISE_MODELS)) -> list[Cell]:
    unknown = sorted(set(models) - set(NOISE_MODELS))
    if unknown:
        raise UaoError(f"unknown noise models {', '.join(unknown)}; known: {', '.join(NOISE_MODELS)}")
    return [Cell(split, noise, float(level), unknown_focal) for split in splits for level in levels
            for noise in ((EXACT,) if level == 0 else models) for unknown_focal in (False, True)]


def subsample(clips: dict[str, np.ndarray], count: int, frames: int) -> dict[str, np.ndarray]:
    """``count`` clips evenly spaced in name order (all where fewer), each cut to its first ``frames``."""
    if count < 1 or frames < 4:
        raise UaoError(f"a grid cell needs at least 1 clip and 4 frames per clip; got {count} and {frames}")
    names = sorted(clips)
    chosen = sorted({names[i] for i in np.linspace(0, len(names) - 1, min(count, len(names))).round().astype(int)})
    return {name: clips[name][:frames] for name in chosen}


def code_fingerprint() -> str:
    """sha256 of the package code that can change a cell's numbers (all but NOT_IN_RESULTS)."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] not in NOT_IN_RESULTS:
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def run_grid(splits: dict[str, dict[str, np.ndarray]], engine, iters: int = 4, cells_dir=None, seed: int = 0,
             clips_per_cell: int = CLIPS_PER_CELL, frames_per_clip: int = FRAMES_PER_CLIP, cells=None,
             log=None, view: str = "h36m") -> dict:
    """Every cell of ``cells`` (default: :func:`grid_cells` of the splits) on ``splits`` ({name: clips})
    through the test cameras seen as ``view`` (:data:`uao_deploy.data.cameras.VIEWS`), reusing and writing
    finished cells in ``cells_dir``. Returns the JSON-ready report with its table."""
    from ..data.cameras import evaluation_cameras
    from ..fileio import write_json

    cells = cells or grid_cells(list(splits))
    chosen = {split: subsample(clips, clips_per_cell, frames_per_clip) for split, clips in splits.items()}
    common = {"seed": seed, "frames_per_clip": frames_per_clip, "iters": iters, "methods": list(GRID_METHODS), "cameras": view,
              "engine": engine.describe(), "code": code_fingerprint()}
    rows = []
    for index, cell in enumerate(cells):
        key = {**common, "cell": dataclasses.asdict(cell), "noise_model": cell.noise_model().to_dict(),
               "clips": sorted(chosen[cell.split])}
        key = json.loads(json.dumps(key, default=str))  # as it reads back from the file
        path = Path(cells_dir) / f"{cell.name}.json" if cells_dir is not None else None
        started = time.perf_counter()
        stored = json.loads(path.read_text()) if path is not None and path.is_file() else None
        if stored is not None and stored.get("key") == key:
            report, how = stored["report"], "reused"
        else:
            videos = video_clips(chosen[cell.split], evaluation_cameras(view), cell.noise_model(), seed,
                                 include_focal=not cell.unknown_focal, cameras_per_clip=1)
            report = evaluate_videos(videos, engine, iters, methods=GRID_METHODS)
            report["seconds"] = time.perf_counter() - started
            if path is not None:
                write_json(path, {"key": key, "report": report})
            how = f"{report['seconds']:.0f} s"
        if log:
            log(f"cell {index + 1}/{len(cells)} {cell.name}: {how}")
        rows.append({**dataclasses.asdict(cell), "name": cell.name, **report})
    return {"data": {"splits": {split: sorted(clips) for split, clips in chosen.items()}, "seed": seed, "cameras": view,
                     "clips_per_cell": clips_per_cell, "frames_per_clip": frames_per_clip,
                     "noise_models": {name: model.to_dict() for name, model in NOISE_MODELS.items()}},
            "engine": common["engine"], "code": common["code"], "cells": rows, "targets": check_targets(rows),
            "table": format_grid_table(rows)}


# (column title, metric, format); each cell shows plain+savgol / sequence-uao.
COLUMNS = (("MPJPE", "mpjpe", ".0f"), ("root", "root_error", ".0f"), ("lateral", "root_lateral", ".0f"),
           ("depth bias", "depth_bias", "+.0f"), ("RTE %", "rte", ".1f"), ("W-MPJPE100", "w_mpjpe100", ".0f"),
           ("WA-MPJPE100", "wa_mpjpe100", ".0f"), ("jitter", "jitter", ".1f"), ("foot sliding", "foot_sliding", ".1f"),
           ("foot sliding, clip mean", "foot_sliding_clip_mean", ".1f"), ("up error deg", "up_error", ".1f"), ("floor penetration", "floor_penetration", ".0f"))
BASELINE, OURS, HEIGHT = "plain+savgol", "sequence-uao", "sequence-uao+height"


def format_grid_table(rows: list[dict]) -> str:
    """Markdown table: one row per cell; each metric as plain+savgol / sequence-uao (truth's own in ()),
    and the root error and depth bias of sequence-uao scaled to the true height where scored."""
    titles = " | ".join(title for title, _, _ in COLUMNS)
    height = any(HEIGHT in row["methods"] for row in rows)
    lines = [f"| split | noise | px | focal | {titles} |" + " root, depth bias with true height |" * height,
             "|---|---|---|---|" + "---|" * (len(COLUMNS) + height)]
    for row in rows:
        values = []
        for _, metric, spec in COLUMNS:
            text = " / ".join(format(row["methods"][method][metric], spec) for method in (BASELINE, OURS))
            if metric in row.get("truth", {}):
                text += f" ({row['truth'][metric]:{spec}})"
            values.append(text)
        if height:
            scaled = row["methods"].get(HEIGHT)
            values.append(f"{scaled['root_error']:.0f}, {scaled['depth_bias']:+.0f}" if scaled else "")
        focal = "unknown" if row["unknown_focal"] else "known"
        lines.append(f"| {row['split']} | {row['noise']} | {row['level']:g} | {focal} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def check_targets(rows: list[dict]) -> dict:
    """Issue 24's targets, cell by cell: {target: {"met": n, "cells": n, "missed": [cell names]}}."""
    checks: dict[str, list[tuple[str, bool]]] = {}

    def check(target: str, row: dict, passed: bool):
        checks.setdefault(target, []).append((row["name"], bool(passed)))

    known = {(row["split"], row["noise"], row["level"]): row for row in rows if not row["unknown_focal"]}
    for row in rows:
        ours, base = row["methods"][OURS], row["methods"][BASELINE]
        if not row["unknown_focal"]:
            check("focal known: root <= 0.8 x plain+savgol", row, ours["root_error"] <= 0.8 * base["root_error"])
            check("focal known: |depth bias| <= 50 mm", row, abs(ours["depth_bias"]) <= 50)
            check("focal known: RTE <= 0.8 x plain+savgol", row, ours["rte"] <= 0.8 * base["rte"])
            check("focal known: W-MPJPE100 <= 0.8 x plain+savgol", row,
                  ours["w_mpjpe100"] <= 0.8 * base["w_mpjpe100"])
            check("foot sliding <= 4 mm/frame", row, ours["foot_sliding"] <= 4)
            if "floor_penetration" in ours:
                check("floor penetration <= 20 mm", row, ours["floor_penetration"] <= 20)
            if HEIGHT in row["methods"]:
                check("true subject height: root <= 0.6 x without", row,
                      row["methods"][HEIGHT]["root_error"] <= 0.6 * ours["root_error"])
        else:
            reference = known.get((row["split"], row["noise"], row["level"]))
            if reference is not None:
                theirs = reference["methods"][OURS]
                check("focal unknown: root <= 2 x focal known", row, ours["root_error"] <= 2 * theirs["root_error"])
                check("focal unknown: WA-MPJPE100 <= 1.1 x focal known", row,
                      ours["wa_mpjpe100"] <= 1.1 * theirs["wa_mpjpe100"])
    return {target: {"met": sum(passed for _, passed in results), "cells": len(results),
                     "missed": [name for name, passed in results if not passed]} for target, results in checks.items()}


def format_targets(targets: dict) -> str:
    return "\n".join(f"- {target}: {result['met']}/{result['cells']} cells" for target, result in targets.items())
