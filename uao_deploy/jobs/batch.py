"""Many keypoint files in one ``uao infer`` job: inputs from folders, globs or lists, outputs that
mirror their names, one bad file reported rather than fatal, and ``--resume`` judged by content.

Inputs: keypoint files, sequence folders (per-frame OpenPose JSON or YOLO-pose txt, one input
each), folders of those (searched recursively; outputs keep the relative folders), globs and .txt
lists. Each output records in its metadata (key ``job``) what made it: the sha256 of its input (of
a sequence folder's files), the engine's identity (backend, checkpoint sha256, precision, TTO
config, fused K) and every setting of :class:`JobSettings` but ``allow_pickle``. A re-run with ``resume`` skips an input only when every output it would write
holds exactly that record, so a changed input, model or setting is lifted again, and a file that
merely exists (or is truncated) is not taken as done.

The per-file steps (:func:`prepare_file`, :func:`lift_and_save`) are shared with the Ray job
(:mod:`uao_deploy.jobs.ray_batch`), so both write the same arrays for the same input.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import fileio
from ..io import budget
from ..data.keypoints import KeypointSequence, read_keypoints
from ..errors import UaoError, one_line
from ..pipeline import LiftSettings, camera_of, lift, prepare

# Whole-sequence files a corpus folder contributes (besides sequence folders: OpenPose JSON or
# YOLO-pose txt frames, see is_sequence_folder): npz, MediaPipe CSV, AlphaPose and MMPose JSON.
INPUT_SUFFIXES = (".npz", ".csv", ".json")
# A file argument with this suffix lists inputs, one path a line (relative to the list's folder).
LIST_SUFFIX = ".txt"
GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class InputFile:
    """One keypoint file and the folder, relative to ``-o``, its outputs go to."""

    path: Path
    subfolder: Path = Path()


@dataclass(frozen=True)
class JobSettings:
    """The options of ``uao infer`` that shape each output; checked when made."""

    layout: str = "auto"
    allow_pickle: bool = False
    width: float | None = None
    height: float | None = None
    focal: float | None = None
    fov: float | None = None
    focal_35mm: float | None = None
    iters: int = 4
    smooth_root: int = 1
    batch_size: int = 64
    format: str = "auto"
    person: str = "main"
    up: tuple[float, float, float] | None = None
    camera_pitch: float | None = None
    mode: str = "sequence"
    causal: bool = False
    fps: float | None = None
    subject_height: float | None = None

    def read_options(self) -> dict:
        return {"layout": self.layout, "allow_pickle": self.allow_pickle, "format": self.format,
                "person": self.person, "width": self.width, "height": self.height, "fps": self.fps}

    def __post_init__(self):
        self.lift_settings()
        if self.up is not None and self.camera_pitch is not None:
            raise UaoError("give either --up or --camera-pitch, not both")

    def lift_settings(self) -> LiftSettings:
        return LiftSettings.from_options(self.iters, self.mode, self.causal, self.batch_size, self.smooth_root,
                                         self.subject_height)

    def camera(self, sequence: KeypointSequence):
        return camera_of(sequence, self.width, self.height, self.focal, self.fov, self.focal_35mm)

    def recorded(self) -> dict:
        """What a finished output must match to be skipped (allow_pickle only permits reading)."""
        return {key: value for key, value in asdict(self).items() if key != "allow_pickle"}


def engine_identity(engine) -> dict:
    """What identifies an engine's results, without the paths it was loaded from (which differ per worker)."""
    described = engine.describe()
    return {key: described.get(key) for key in ("backend", "checkpoint_sha256", "precision", "tto", "fused_iters")}


@dataclass
class Prepared:
    """One input file read and checked: its sequences and output paths, or why it is skipped or failed."""

    source: str
    job: dict = field(default_factory=dict)  # the record written into each output's metadata
    sequences: list[KeypointSequence] = field(default_factory=list)
    keypoints: list = field(default_factory=list)  # each sequence prepared for lifting (pipeline.prepare)
    targets: list[Path] = field(default_factory=list)
    skipped: bool = False
    error: str | None = None


@dataclass
class FileOutcome:
    source: str
    status: str  # "done" | "skipped" | "failed"
    message: str = ""  # the outputs written, or the one-line reason of a failure
    frames: int = 0


@dataclass
class BatchSummary:
    outcomes: list[FileOutcome]
    seconds: float

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def frames(self) -> int:
        return sum(outcome.frames for outcome in self.outcomes if outcome.status == "done")

    def lines(self) -> list[str]:
        """The closing report: counts, throughput, then each failure with its reason."""
        rate = f", {self.frames / self.seconds:.1f} frames/s" if self.seconds > 0 and self.frames else ""
        lines = [f"{self.count('done')} done, {self.count('skipped')} skipped (already finished), "
                 f"{self.count('failed')} failed; {self.frames} frames in {self.seconds:.1f} s{rate}"]
        lines += [f"  failed: {outcome.source}: {outcome.message}" for outcome in self.outcomes
                  if outcome.status == "failed"]
        return lines


def is_sequence_folder(path: Path) -> bool:
    """Whether a folder is one sequence (per-frame OpenPose JSON or YOLO-pose txt files), not a corpus."""
    from ..io.keypoints import detect_format

    try:
        detect_format(path)
    except UaoError:
        return False
    return True


def argument_kind(spec) -> str:
    """What an input argument names: "folder" (of inputs), "list" (a .txt of paths), "glob", or "file"
    (a file, or a folder that is one sequence)."""
    path = Path(spec)
    if path.is_dir():
        return "file" if is_sequence_folder(path) else "folder"
    if path.suffix == LIST_SUFFIX:
        return "list"
    if any(c in str(spec) for c in GLOB_CHARACTERS) and not path.exists():
        return "glob"
    return "file"


def is_batch_argument(spec) -> bool:
    """Whether an input argument stands for several files (a folder, a glob or a list file)."""
    return argument_kind(spec) != "file"


def expand_inputs(specs) -> list[InputFile]:
    """The files behind ``specs``: a folder (every keypoint file below it, outputs keeping their
    relative folders), a glob (outputs keeping the folders below its fixed part), a .txt list, or a
    file (kept even when missing, so that it is reported as that file's failure)."""
    inputs: list[InputFile] = []
    for spec in map(str, specs):
        path, kind = Path(spec), argument_kind(spec)
        if kind == "folder":
            found = _corpus(path)
            if not found:
                raise UaoError(f"{path} holds no keypoint files ({', '.join(INPUT_SUFFIXES)}) or sequence folders")
            inputs += [InputFile(p, p.parent.relative_to(path)) for p in found]
        elif kind == "list":
            inputs += [InputFile(p) for p in _listed(path)]
        elif kind == "glob":
            base = _fixed_prefix(spec)
            # pathlib's ** never enters a linked folder, so links that loop cannot make it endless;
            # "**" inside a name ("a**b") means "*" there, as in glob.
            rest = [part if part == "**" else re.sub(r"\*\*+", "*", part) for part in Path(spec).relative_to(base).parts]
            matches = sorted(p for p in base.glob(str(Path(*rest))) if p.is_file())
            if not matches:
                raise UaoError(f"no file matches {spec}")
            inputs += [InputFile(p, p.parent.relative_to(base)) for p in matches]
        else:
            inputs.append(InputFile(path))
    if not inputs:
        raise UaoError("no keypoint files given")
    seen: dict[Path, Path] = {}
    for item in inputs:
        key = item.subfolder / item.path.stem
        if key in seen and seen[key] != item.path:
            raise UaoError(f"{seen[key]} and {item.path} would write the same outputs ({key}*.npz); rename one")
        seen[key] = item.path
    return list({item.path: item for item in inputs}.values())  # a file named twice is lifted once


def _corpus(root: Path) -> list[Path]:
    """Every input below ``root``: sequence folders (not entered) and whole-sequence files."""
    found = []
    for folder, subfolders, files in os.walk(root):
        folder = Path(folder)
        if folder != root and is_sequence_folder(folder):
            found.append(folder)
            subfolders.clear()
            continue
        subfolders.sort()
        found += [folder / name for name in sorted(files) if Path(name).suffix.lower() in INPUT_SUFFIXES]
    return sorted(found)


def input_sha256(path: Path) -> str:
    """sha256 of an input file, or of a sequence folder's file names and contents."""
    if not path.is_dir():
        budget.regular_file(path)  # never hash a FIFO, a device or a link to /dev/zero
        return fileio.file_sha256(path)
    digest = hashlib.sha256()
    for member in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(member.name.encode() + b"\0" + bytes.fromhex(fileio.file_sha256(member)))
    return digest.hexdigest()


def searched_folders(specs) -> list[Path]:
    """The folders a job's arguments search (a folder, a recursive glob's fixed part): an output
    folder inside one would be read as input by the next run."""
    kinds = [(spec, argument_kind(spec)) for spec in map(str, specs)]
    return [Path(spec) if kind == "folder" else _fixed_prefix(spec) for spec, kind in kinds
            if kind == "folder" or (kind == "glob" and "**" in spec)]


def _listed(path: Path) -> list[Path]:
    lines = budget.read_text(path).splitlines()  # never a FIFO or a device: they would block
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not entries:
        raise UaoError(f"{path} lists no input files")
    return [path.parent / entry for entry in entries]


def _fixed_prefix(pattern: str) -> Path:
    """The folder of a glob above its first wildcard: outputs keep the folders below it."""
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if any(c in part for c in GLOB_CHARACTERS))
    return Path(*parts[:fixed]) if fixed else Path()


def prepare_file(item: InputFile, out: Path, settings: JobSettings, engine_id: dict, resume: bool,
                 inputs: fileio.Inputs | None = None) -> Prepared:
    """Hash, read and check one input; decide whether ``resume`` skips it. Never raises: a bad file
    comes back with its reason, so the job goes on with the others. ``inputs``: every input of the
    job, none of which an output may overwrite (default: this file)."""
    prepared = Prepared(source=str(item.path))
    try:
        if not item.path.exists():
            raise UaoError(f"{item.path} does not exist")
        job = {"input_sha256": input_sha256(item.path), "engine": engine_id, "settings": settings.recorded()}
        prepared.job = json.loads(json.dumps(job))  # as it reads back from an output (tuples as lists)
        prepared.sequences = read_keypoints(item.path, **settings.read_options())
        prepared.keypoints = [prepare(sequence, settings.camera(sequence)) for sequence in prepared.sequences]
        inputs = inputs or fileio.Inputs([item.path])
        prepared.targets = [fileio.check_output_file(out / item.subfolder / f"{sequence.name}.npz", inputs)
                            for sequence in prepared.sequences]
        prepared.skipped = resume and all(recorded_job(target) == prepared.job for target in prepared.targets)
    except Exception as exc:  # a foreign or unreadable file is that file's failure, not the job's
        prepared.error = one_line(exc)
    return prepared


def recorded_job(path: Path) -> dict | None:
    """The ``job`` record in an output's metadata; None unless the file is a whole output: every
    array a batch writes (the world arrays too), each as the result schema says."""
    from ..io.results import load_result
    from ..io.results.schema import WORLD_ARRAYS

    if not path.is_file():
        return None
    try:
        arrays, metadata = load_result(path)
    except UaoError:  # truncated, forged, foreign: not finished, so it is lifted again
        return None
    return metadata.get("job") if all(name in arrays for name in WORLD_ARRAYS) else None


def claim_outputs(prepared: Prepared, claimed: dict[str, str]) -> Prepared:
    """Fail a file whose outputs another input of this job already writes (``v.npz`` holding two
    people and ``v_person0.npz`` both make ``v_person0.npz``): the first claim keeps the name, so no
    result silently replaces another. ``claimed`` maps each output (resolved) to its input."""
    if prepared.error is None:
        targets = [str(fileio.real_path(target)) for target in prepared.targets]
        prepared.error = first_claim(targets, prepared.source, claimed)
    return prepared


def first_claim(targets: list[str], source: str, claimed: dict[str, str]) -> str | None:
    """Claim ``targets`` for ``source`` in ``claimed``; the reason it fails when another input has one."""
    for target in targets:
        other = claimed.get(target)
        if other is not None and other != source:
            return f"{target} is also the output of {other} in this job; rename one of the inputs"
    claimed.update(dict.fromkeys(targets, source))
    return None


def lift_and_save(prepared: Prepared, engine, settings: JobSettings) -> FileOutcome:
    """Lift and write every sequence of a prepared file; a failure is returned, not raised."""
    if prepared.error is not None:
        return FileOutcome(prepared.source, "failed", prepared.error)
    if prepared.skipped:
        return FileOutcome(prepared.source, "skipped", ", ".join(map(str, prepared.targets)))
    try:
        frames = 0
        for sequence, keypoints, target in zip(prepared.sequences, prepared.keypoints, prepared.targets):
            result = lift(keypoints, engine, settings=settings.lift_settings())
            result.metadata["job"] = prepared.job
            result.write(target, settings.up, settings.camera_pitch)
            frames += len(sequence)
    except Exception as exc:  # one bad file never ends the job; its reason goes into the summary
        return FileOutcome(prepared.source, "failed", one_line(exc))
    return FileOutcome(prepared.source, "done", ", ".join(map(str, prepared.targets)), frames)


def check_job(out, inputs=()) -> Path:
    """Refuse, before any work, an output that is no folder or is (or lies inside) an input folder
    (the settings were checked when made)."""
    out = Path(out)
    if out.suffix.lower() == ".npz":
        raise UaoError(f"-o {out} names one file; several inputs need a folder")
    return fileio.check_output_folder(out, inputs=inputs)


def run_batch(inputs: list[InputFile], out, engine, settings: JobSettings, resume: bool = False,
              log=print) -> BatchSummary:
    """Lift every input with ``engine`` in this process, file after file."""
    every_input = fileio.Inputs([item.path for item in inputs])
    out = check_job(out, every_input)
    engine_id = engine_identity(engine)
    started = time.perf_counter()
    outcomes, claimed = [], {}
    for item in inputs:
        prepared = claim_outputs(prepare_file(item, out, settings, engine_id, resume, every_input), claimed)
        for sequence in prepared.sequences:  # what the reader decided (a person left out, a warning)
            for note in sequence.notes:
                log(f"Note: {note}")
        outcome = lift_and_save(prepared, engine, settings)
        log(outcome_line(outcome))
        outcomes.append(outcome)
    return BatchSummary(outcomes, time.perf_counter() - started)


def outcome_line(outcome: FileOutcome) -> str:
    if outcome.status == "done":
        return f"{outcome.source}: {outcome.frames} frames -> {outcome.message}"
    return f"{outcome.source}: {outcome.status}" + (f" ({outcome.message})" if outcome.status == "failed" else "")


def infer_many(specs, out, settings: JobSettings, backend=None, engine_dir=None, checkpoint=None,
               precision: str = "fp32", providers: str | None = None, resume: bool = False, log=print) -> BatchSummary:
    """``uao infer`` over folders, globs and lists in this process; raises UaoError after the summary
    when any file failed."""
    from .infer import open_engine

    inputs = expand_inputs(specs)
    check_job(out, [*searched_folders(specs), *(item.path for item in inputs)])
    engine = open_engine(backend, engine_dir, checkpoint, settings.iters, precision, providers)
    notice = engine.path_notice(settings.iters)
    if notice:
        log(f"Note: {notice}")
    with engine:
        summary = run_batch(inputs, out, engine, settings, resume, log)
    return report(summary, log)


def report(summary: BatchSummary, log=print) -> BatchSummary:
    """Log the summary; a UaoError (exit status 1) when any file failed, after the others finished."""
    for line in summary.lines():
        log(line)
    failed = summary.count("failed")
    if failed:
        raise UaoError(f"{failed} of {len(summary.outcomes)} input files failed (listed above)")
    return summary
