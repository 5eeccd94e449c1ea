"""Issue 27's hostile run, replayed: every class of hostile input, output, state and option value
the issue names (and the variants an attacker tries next), each through the real ``uao`` in a
fresh process, checked the same way:

- exit 0 with a finite result (every written npz/BVH/CSV/JSON/HTML free of NaN and infinity), or
  exit != 0 with exactly one line on stderr, never a traceback;
- no file changed: the case's folder (inputs, bystanders, links) and any folder it points at are
  hashed before and after; a failure changes nothing, a success only writes its declared outputs;
- peak memory (the child's maximum RSS, from wait4; a watchdog kills it past 1.5 GiB) <= 1 GiB and
  CPU time <= 30 s (CPU rather than wall time: the machine is shared) for inputs <= 10 MB.

    nice -n 10 python benchmarks/hostile_replay.py [--only TEXT] [--group NAME] [--large] [--default-model]
        [--out benchmarks/results/<date>-<hhmm>_hostile_replay.md]

Input handling is checked with a small random model (torch backend, 32 channels, 1 block, 1 TTO
iteration); ``--default-model`` adds a few cases through the embedded model's ONNX export (the
real default path); ``--large`` adds inputs of about 10 MB (their time is the lifting's).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402

import hostile_files as H  # noqa: E402

TEN_MB = 10 << 20
WALL_LIMIT_S = 180  # a case still running then is killed (a defect)
RSS_KILL = 3 << 29  # 1.5 GiB: killed (a defect; the target is 1 GiB)
RSS_TARGET = 1 << 30
CPU_TARGET_S = 30.0
PROGRESS = re.compile(r"\d+%\|.*\|")  # a tqdm bar left on its line
NAN_TEXT = re.compile(rb"\b(nan|-?inf|infinity)\b", re.IGNORECASE)


@dataclass
class Case:
    args: list  # uao's arguments (strings or paths), run in the case's folder
    expect: str = "either"  # "ok": must succeed; "refuse": must fail (with ``needle``); "either": cleanly either way
    needle: str | None = None
    outputs: list = field(default_factory=list)  # paths (relative to the case folder) a success may write
    env: dict = field(default_factory=dict)
    watch: list = field(default_factory=list)  # further folders that must not change
    large: bool = False  # an input of about 10 MB: its time is reported, the lifting's own
    partial: bool = False  # a batch: a failure's summary may follow the whole outputs of the inputs that lifted


CASES: dict = {}  # name -> (group, build(folder, context) -> Case)


def case(group: str, name: str):
    def register(build):
        CASES[f"{group}: {name}"] = (group, build)
        return build
    return register


def cases(group: str, names: dict):
    """Register ``build(folder, context, value)`` once per entry of ``names`` (name -> value)."""
    def register(build):
        for name, value in names.items():
            CASES[f"{group}: {name}"] = (group, lambda d, c, v=value, b=build: b(d, c, v))
        return build
    return register


class Context:
    """What the cases share: a small checkpoint, a good result of it, mocap clips."""

    def __init__(self, work: Path, default_model: Path | None):
        self.work = work
        self.checkpoint = work / "small.pth"
        self.cache = work / "cache"
        self.default_cache = default_model
        # in a child: linux keeps a process's peak memory across exec, so a parent holding torch
        # would set every case's floor.
        _python(f"import torch; from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint; "
                f"torch.manual_seed(0); save_checkpoint(GUMLP(GUMLPConfig(channels=32, layers=1)).eval(), "
                f"{str(self.checkpoint)!r})")
        self.keypoints = H.plain_npz(work / "keypoints.npz", frames=12)
        self.result = work / "result.npz"
        subprocess.run([sys.executable, "-m", "uao_deploy", "infer", str(self.keypoints), "-o", str(self.result),
                        *self.lift_options()], check=True, cwd=ROOT, env=_env({}), stdout=subprocess.DEVNULL)
        if default_model:  # the embedded model's export, made once (minutes) before any case is timed
            subprocess.run([sys.executable, "-m", "uao_deploy", "infer", str(self.keypoints), "-o", str(work / "warm.npz"),
                            "--no-progress"], check=True, cwd=ROOT, env=_env({"UAO_CACHE_DIR": str(default_model)}),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.mocap = work / "mocap.npz"
        rng = np.random.default_rng(0)
        walk = _standing_clip(40) + rng.normal(0, 0.005, (40, 17, 3)).astype(np.float32)
        np.savez(self.mocap, walk=walk, jump=_standing_clip(30))

    def lift_options(self) -> list:
        return ["--backend", "torch", "--engine", str(self.checkpoint), "--tto-iters", "1", "--no-progress"]


def _standing_clip(frames: int) -> np.ndarray:
    """(T, 17, 3) metres, Z-up: Human3.6M-17 of a person standing, swaying."""
    from uao_deploy.io import layouts

    coco = np.stack([H.person("coco", f) for f in range(frames)])
    pixels, _ = layouts.coco_to_h36m(coco[..., :2], coco[..., 2])
    metres = (pixels - [500, 650]) / 300.0
    return np.stack([metres[..., 0], np.zeros_like(metres[..., 0]), -metres[..., 1]], -1).astype(np.float32)


def _python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=_env({}))


def _env(extra: dict) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "200", **extra}


# --- running and judging a case ------------------------------------------------------------------------
def _watch_rss(pid: int, peak: list, stop: threading.Event) -> None:
    """Poll the child's resident memory; kill it past RSS_KILL."""
    while not stop.wait(0.05):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        if found:
            rss = int(found.group(1)) << 10
            peak[0] = max(peak[0], rss)
            if rss > RSS_KILL:
                os.kill(pid, signal.SIGKILL)
                peak[1] = True
                return


def _limits():
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 30, 4 << 30))  # a runaway writer stops at 4 GiB
    os.setsid()


def run_case(number: int, name: str, build, context: Context) -> dict:
    folder = context.work / "cases" / f"{number:04d}_{re.sub(r'[^A-Za-z0-9]+', '_', name)}"
    folder.mkdir(parents=True)
    built = build(folder, context)
    size = sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
               and p.lstat().st_blocks * 512 >= p.lstat().st_size)  # sparse files count by what they hold
    watched = [folder, *built.watch]
    before = [H.tree(path) for path in watched]
    command = [sys.executable, "-m", "uao_deploy", *map(str, built.args)]
    env = _env({"UAO_CACHE_DIR": str(context.cache), **built.env})
    logs = context.work / "logs" / folder.name
    logs.mkdir(parents=True)
    with open(logs / "stdout", "wb") as stdout, open(logs / "stderr", "wb") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=folder,
                                 env=env, preexec_fn=_limits)
        peak, stop = [0, False], threading.Event()
        watcher = threading.Thread(target=_watch_rss, args=(child.pid, peak, stop), daemon=True)
        watcher.start()
        finished = _wait(child, WALL_LIMIT_S)
        if not finished:
            os.killpg(child.pid, signal.SIGKILL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        stop.set()
        seconds = time.perf_counter() - started
    after = [H.tree(path) for path in watched]
    code = child.returncode
    error = (logs / "stderr").read_bytes().decode(errors="replace")
    # a progress bar redraws itself with carriage returns: a terminal shows what follows its last one
    lines = [line.rsplit("\r", 1)[-1] for line in error.splitlines()]
    lines = [line for line in lines if line.strip() and not PROGRESS.search(line)]
    cpu = usage.ru_utime + usage.ru_stime
    peak_bytes = max(usage.ru_maxrss << 10, peak[0])
    problems = []
    if not finished:
        problems.append(f"killed after {WALL_LIMIT_S} s")
    elif peak[1]:
        problems.append("killed past 1.5 GiB")
    elif code < 0:
        problems.append(f"died of signal {-code}")
    if "Traceback" in error:
        problems.append("traceback")
    changed = _changes(before, after, watched, built.outputs if code == 0 or built.partial else [])
    if changed:
        problems.append("changed " + ", ".join(changed[:4]) + (" ..." if len(changed) > 4 else ""))
    if code == 0:
        if built.expect == "refuse":
            problems.append("exit 0, expected a refusal")
        problems += _check_outputs(folder, built.outputs, before[0], after[0])
    elif code > 0:
        if built.expect == "ok":
            problems.append(f"exit {code}, expected a result")
        usage = code == 2 and len(lines) == 3 and lines[0].startswith("Usage:") and lines[1].startswith("Try ")
        if len(lines) != 1 and not usage:  # click's usage error: its one Error line under the usage
            problems.append(f"{len(lines)} stderr lines")
        if built.needle and built.needle not in error:
            problems.append(f"error lacks {built.needle!r}")
    if peak_bytes > RSS_TARGET:
        problems.append(f"peak {peak_bytes >> 20} MiB")
    slow = cpu > CPU_TARGET_S and size <= TEN_MB
    if slow and not built.large:
        problems.append(f"{cpu:.0f} CPU s")
    return {"case": name, "group": name.split(":")[0], "input MB": size / (1 << 20), "expect": built.expect,
            "exit": code if finished else "killed", "stderr lines": len(lines), "seconds": seconds, "cpu s": cpu,
            "peak MiB": peak_bytes / (1 << 20), "verdict": "DEFECT" if problems else ("slow (known)" if slow else "ok"),
            "problems": "; ".join(problems), "message": (lines[-1] if lines else "")[:200]}


def _changes(before, after, watched, outputs) -> list:
    """Entries added, removed or changed, less the declared outputs (and what lies under them)."""
    changed = []
    for folder, old, new in zip(watched, before, after):
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            if folder == watched[0] and any(_is_output(key, out) for out in outputs):
                continue
            changed.append(("" if folder == watched[0] else f"{folder}/") + key)
    return changed


def _is_output(key: str, out: str) -> bool:
    """``key`` is the output ``out``, lies in it (a folder), is a sidecar of it (``out.frames.csv``
    beside ``out.bvh``) or a folder made for it."""
    out = out.rstrip("/")
    stem = out.rsplit(".", 1)[0] if "." in Path(out).name else out
    return key == out or key.startswith(out + "/") or key.startswith(stem + ".") or out.startswith(key + "/")


def _check_outputs(folder: Path, outputs: list, before: dict, after: dict) -> list:
    """A success's written files are finite: npz arrays, and no NaN/inf in text outputs."""
    problems = []
    written = [key for key in after if before.get(key) != after.get(key) and (folder / key).is_file()
               and not (folder / key).is_symlink()]
    for key in written:
        path = folder / key
        if path.suffix == ".npz":
            try:
                with np.load(path, allow_pickle=False) as archive:
                    for member in archive.files:
                        array = archive[member]
                        if array.dtype.kind == "f" and not np.isfinite(array).all():
                            problems.append(f"{key}: {member} not finite")
                        if array.dtype.kind == "U" and NAN_TEXT.search(str(array).encode()):
                            problems.append(f"{key}: {member} holds {NAN_TEXT.search(str(array).encode()).group()}")
                    if "root" in archive.files and (archive["root"][:, 2] <= 0).any():
                        problems.append(f"{key}: root behind the camera")
            except Exception as error:  # noqa: BLE001 -- anything unreadable is the defect reported
                problems.append(f"{key} unreadable: {type(error).__name__}")
        elif path.suffix in (".bvh", ".csv", ".json", ".html"):
            text = path.read_bytes()
            if path.suffix == ".html":  # the page's own script may spell Infinity; the data must not
                text = b"".join(re.findall(rb"<script[^>]*>(.*?)</script>", text, re.S)[-1:])
                text = re.sub(rb"(Number\.)?(POSITIVE_|NEGATIVE_)?INFINITY|isNaN|isFinite|Infinity\)", b"", text)
            if NAN_TEXT.search(text):
                problems.append(f"{key} holds {NAN_TEXT.search(text).group().decode()}")
            if path.suffix == ".bvh":
                frame_time = re.search(rb"Frame Time:\s*(\S+)", text)
                if not frame_time or not 1e-3 <= float(frame_time.group(1)) <= 1:
                    problems.append(f"{key}: frame time {frame_time.group(1) if frame_time else None!r}")
    return problems


def _wait(child, seconds: float) -> bool:
    """Whether the child ended within ``seconds`` (it is not reaped: wait4 does that)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.05)
    return False


# === the cases ========================================================================================
def infer(context: Context, *args, out="out.npz", expect="either", needle=None, outputs=None, **more) -> Case:
    """``uao infer ARGS -o OUT`` with the small model."""
    outputs = [str(out)] if outputs is None else outputs
    return Case(["infer", *args, "-o", out, *context.lift_options()], expect, needle, outputs, **more)


# --- 1. the detector files of tests/hostile_files.py (frame numbers, budgets, special files, spellings)
for _name, _build in H.CASES.items():
    def _detector(d, c, b=_build):
        built = b(d)
        if built.batch:
            return infer(c, *built.inputs, *built.options, out="out", expect="ok" if built.needle is None else "refuse",
                         needle=built.needle, partial=True)
        return infer(c, *built.inputs, *built.options, expect="ok" if built.needle is None else "refuse",
                     needle=built.needle)
    CASES[f"detector files: {_name}"] = ("detector files", _detector)


# --- 2. each reader format x each hostile field value ------------------------------------------------
BAD_NUMBERS = {"null": None, "NaN": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "1e308": 1e308,
               "-1e308": -1e308, "negative": -50.0, "1e6 px": 1e6, "text": "abc", "list": [1, 2], "object": {"a": 1},
               "true": True}
BAD_IDS = {"NaN": float("nan"), "inf": float("inf"), "1e20": 1e20, "-1": -1, "1.5": 1.5, "text": "a", "list": [1, 2],
           "null": None, "object": {}, "true": True, "2**63": 2 ** 63}


def _on_frame3(edit):
    return lambda frame, entry: edit(entry) if frame == 3 else None


@cases("reader openpose x coordinate", BAD_NUMBERS)
def _openpose_x(d, c, value):
    return infer(c, H.openpose_folder(d / "clip", edit=_on_frame3(lambda e: e["pose_keypoints_2d"].__setitem__(12, value))),
                 *H.SIZE, expect="ok" if isinstance(value, float) or value is None else "either")


@cases("reader openpose confidence", BAD_NUMBERS)
def _openpose_confidence(d, c, value):
    return infer(c, H.openpose_folder(d / "clip", edit=_on_frame3(lambda e: e["pose_keypoints_2d"].__setitem__(14, value))),
                 *H.SIZE, expect="ok" if isinstance(value, float) or value is None else "either")


@cases("reader openpose person_id", BAD_IDS)
def _openpose_id(d, c, value):
    return infer(c, H.openpose_folder(d / "clip", edit=lambda f, e: e.update(person_id=[value])), *H.SIZE)


@cases("reader openpose pose_keypoints_2d", {"empty": [], "one value short": "short", "3000 values": [1.0] * 3000,
                                             "null": None, "text": "abc", "object": {"x": 1}, "nested": [[1, 2, 3]]})
def _openpose_keypoints(d, c, value):
    def edit(entry):
        entry["pose_keypoints_2d"] = entry["pose_keypoints_2d"][:-1] if value == "short" else value
    return infer(c, H.openpose_folder(d / "clip", edit=_on_frame3(edit)), *H.SIZE)


@cases("reader openpose file", {"empty": b"", "null": b"null", "a list": b"[]", "a number": b"42",
                                "people null": b'{"people": null}', "people a string": b'{"people": "x"}',
                                "truncated": b'{"version": 1.3, "people": [{"pose_keypoints_2d": [1, 2',
                                "not UTF-8": b'{"people": [], "\xff\xfe": 1}', "BOM": b"\xef\xbb\xbf" + b'{"people": []}',
                                "UTF-16": '{"people": []}'.encode("utf-16"), "deep": b"[" * 5000 + b"]" * 5000,
                                "huge number": b'{"people": [{"pose_keypoints_2d": [' + b"9" * 5000 + b"]}]}"})
def _openpose_file(d, c, content):
    folder = H.openpose_folder(d / "clip")
    (folder / "clip_000000000003_keypoints.json").write_bytes(content)
    return infer(c, folder, *H.SIZE)


@case("reader openpose", "3000 people in each of 3 frames")
def _openpose_crowd(d, c):
    folder = d / "clip"
    folder.mkdir()
    base = H.person("coco18")
    for frame in range(3):
        people = [{"person_id": [-1], "pose_keypoints_2d": H._flat((base - [500, 400, 0]) / [40, 40, 1]
                                                                   + [20 + 16 * (i % 60), 20 + 19 * (i // 60), 0])}
                  for i in range(3000)]
        (folder / f"clip_{frame:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return infer(c, folder, *H.SIZE)


@case("reader openpose", "a person in every other frame only")
def _openpose_gaps(d, c):
    folder = H.openpose_folder(d / "clip", frames=range(0, 16, 2))
    return infer(c, folder, *H.SIZE, expect="ok")


@case("reader openpose", "frame files with negative and huge numbers in names")
def _openpose_names(d, c):
    folder = H.openpose_folder(d / "clip")
    (folder / "clip_000000000003_keypoints.json").rename(folder / "clip_-3_keypoints.json")
    (folder / "clip_000000000004_keypoints.json").rename(folder / f"clip_{'9' * 40}_keypoints.json")
    return infer(c, folder, *H.SIZE)


@cases("reader alphapose image_id", {"null": None, "number": 5, "no digits": "abc.jpg", "1e12": "1e12.jpg",
                                     "negative": "-3.jpg", "nan": "nan.jpg", "huge digits": "9" * 400 + ".jpg",
                                     "list": [1], "path": "../../etc/passwd"})
def _alphapose_image(d, c, value):
    count = [0]

    def edit(entry):
        count[0] += 1
        if count[0] == 4:
            entry["image_id"] = value
    return infer(c, H.alphapose_file(d / "ap.json", edit=edit), *H.SIZE)


@cases("reader alphapose idx", {**BAD_IDS, "empty list": [], "nested": [[1]]})
def _alphapose_idx(d, c, value):
    return infer(c, H.alphapose_file(d / "ap.json", edit=lambda e: e.update(idx=value)), *H.SIZE)


@cases("reader alphapose keypoint x", BAD_NUMBERS)
def _alphapose_x(d, c, value):
    count = [0]

    def edit(entry):
        count[0] += 1
        if count[0] == 4:
            entry["keypoints"][9] = value
    return infer(c, H.alphapose_file(d / "ap.json", edit=edit), *H.SIZE,
                 expect="ok" if isinstance(value, float) or value is None else "either")


@cases("reader alphapose score", {"NaN": float("nan"), "-1": -1, "1e308": 1e308, "text": "x", "null": None})
def _alphapose_score(d, c, value):
    return infer(c, H.alphapose_file(d / "ap.json", edit=lambda e: e.update(score=value)), *H.SIZE)


@cases("reader alphapose file", {"an object": b'{"a": 1}', "empty list": b"[]", "list of numbers": b"[1, 2]",
                                 "list of lists": b"[[1]]", "entry without keypoints": b'[{"image_id": "0.jpg"}]',
                                 "keypoints short": b'[{"image_id": "0.jpg", "keypoints": [1, 2, 3]}]'})
def _alphapose_file(d, c, content):
    (d / "ap.json").write_bytes(content)
    return infer(c, d / "ap.json", *H.SIZE)


@case("reader alphapose", "3000 people in each of 3 frames")
def _alphapose_crowd(d, c):
    return infer(c, _crowd(d / "ap.json", frames=3), *H.SIZE)


@cases("reader mmpose frame_id", {"-5": -5, "1.5": 1.5, "text": "a", "null": None, "list": [1], "duplicate": 2,
                                  "2**63": 2 ** 63})
def _mmpose_frame(d, c, value):
    return infer(c, H.mmpose_file(d / "mm.json", edit=H._mmpose_frame(value)), *H.SIZE)


@cases("reader mmpose track_id", BAD_IDS)
def _mmpose_track(d, c, value):
    return infer(c, H.mmpose_file(d / "mm.json", edit=lambda e: e["instances"][0].update(track_id=value)), *H.SIZE)


@cases("reader mmpose keypoints", {"null joint": "null", "NaN joint": "nan", "one joint short": "short",
                                   "3 values a joint": "three", "scores short": "scores", "scores NaN": "scores nan",
                                   "instances null": "instances", "keypoints a number": "number",
                                   "1e308 joint": "huge"})
def _mmpose_keypoints(d, c, how):
    def edit(entry):
        instance = entry["instances"][0]
        if how == "null":
            instance["keypoints"][4] = [None, None]
        elif how == "nan":
            instance["keypoints"][4] = [float("nan"), 1.0]
        elif how == "huge":
            instance["keypoints"][4] = [1e308, 1.0]
        elif how == "short":
            instance["keypoints"] = instance["keypoints"][:-1]
        elif how == "three":
            instance["keypoints"] = [[*xy, 1.0] for xy in instance["keypoints"]]
        elif how == "scores":
            instance["keypoint_scores"] = instance["keypoint_scores"][:-1]
        elif how == "scores nan":
            instance["keypoint_scores"][4] = float("nan")
        elif how == "instances":
            entry["instances"] = None
        elif how == "number":
            instance["keypoints"] = 3
    return infer(c, H.mmpose_file(d / "mm.json", edit=edit), *H.SIZE,
                 expect="ok" if how in ("null", "nan", "huge", "scores nan") else "either")


@case("reader mmpose", "3000 people in each of 3 frames")
def _mmpose_crowd(d, c):
    base = H.person("coco")
    entries = [{"frame_id": frame, "instances": [
        {"keypoints": ((base[:, :2] - [500, 400]) / 40 + [20 + 16 * (i % 60), 20 + 19 * (i // 60)]).tolist(),
         "keypoint_scores": base[:, 2].tolist()} for i in range(3000)]} for frame in range(3)]
    (d / "mm.json").write_text(json.dumps(entries))
    return infer(c, d / "mm.json", *H.SIZE)


@cases("reader yolo line", {"NaN value": "nan", "inf value": "inf", "text value": "abc", "1e308 value": "1e308",
                            "empty line": "", "class only": "0", "CRLF": "\r", "tab separated": "\t1",
                            "3000 people": "crowd", "negative": "-5"})
def _yolo_line(d, c, how):
    folder = H.yolo_folder(d / "labels")
    path = folder / "clip_3.txt"
    values = path.read_text().split()
    if how in ("nan", "inf", "abc", "1e308", "-5"):
        values[9] = how
        path.write_text(" ".join(values) + "\n")
    elif how == "":
        path.write_text(" ".join(values) + "\n\n\n")
    elif how == "0":
        path.write_text("0\n")
    elif how == "\r":
        path.write_text(" ".join(values) + "\r\n")
    elif how == "\t1":
        path.write_text("\t".join(values) + "\n")
    elif how == "crowd":
        path.write_text((" ".join(values) + "\n") * 3000)
    return infer(c, folder, *H.SIZE, expect="ok" if how in ("nan", "inf", "1e308", "", "\r") else "either")


@cases("reader yolo file", {"empty": b"", "binary": bytes(range(256)), "BOM": "bom", "5000 columns": "wide"})
def _yolo_file(d, c, how):
    folder = H.yolo_folder(d / "labels")
    path = folder / "clip_3.txt"
    if how == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    elif how == "wide":
        path.write_text(" ".join(["0.5"] * 5000) + "\n")
    else:
        path.write_bytes(how)
    return infer(c, folder, *H.SIZE)


@cases("reader mediapipe", {"NaN x": "nan", "text x": "abc", "frame NaN": "frame nan", "frame -1": "frame -1",
                            "unknown landmark": "landmark", "missing column": "column", "header only": "header",
                            "semicolons": "semicolons", "CRLF": "crlf", "duplicate rows": "duplicate",
                            "1e308 x": "1e308", "empty": "empty", "BOM and CRLF": "bomcrlf", "UTF-16": "utf16"})
def _mediapipe(d, c, how):
    path = H.mediapipe_file(d / "mp.csv")
    lines = path.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    fields = [row.split(",") for row in rows]
    target = 3 * 33 + 5  # frame 3, landmark 5
    if how in ("nan", "abc", "1e308"):
        fields[target][2] = how
    elif how.startswith("frame "):
        fields[target][0] = how.split()[1]
    elif how == "landmark":
        fields[target][1] = "THIRD_EYE"
    elif how == "column":
        fields = [f[:-1] for f in fields]
        header = header.rsplit(",", 1)[0]
    elif how == "duplicate":
        fields.insert(target, list(fields[target]))
    text = "\n".join([header, *[",".join(f) for f in fields]]) + "\n"
    if how == "header":
        text = header + "\n"
    elif how == "semicolons":
        text = text.replace(",", ";")
    elif how in ("crlf", "bomcrlf"):
        text = text.replace("\n", "\r\n")
    elif how == "empty":
        text = ""
    path.write_bytes(b"\xef\xbb\xbf" + text.encode() if how == "bomcrlf" else
                     text.encode("utf-16") if how == "utf16" else text.encode())
    return infer(c, path, *H.SIZE, expect="ok" if how in ("nan", "1e308", "crlf", "bomcrlf") else "either")


NPZ_FIELDS = {
    "keypoints all NaN": {"keypoints": "all nan"}, "keypoints zeros": {"keypoints": "zeros"},
    "keypoints (T, 17, 2)": {"keypoints": "xy"}, "keypoints (T, 17)": {"keypoints": "flat"},
    "keypoints (T, 0, 3)": {"keypoints": "nojoints"}, "keypoints (0, 17, 3)": {"keypoints": "noframes"},
    "keypoints int": {"keypoints": "int"}, "keypoints complex": {"keypoints": "complex"},
    "keypoints bool": {"keypoints": "bool"}, "keypoints strings": {"keypoints": "str"},
    "keypoints float16 inf": {"keypoints": "f16"}, "keypoints one frame": {"keypoints": "one"},
    "keypoints (T, 17, 3, 1)": {"keypoints": "4d"},
    **{f"{key} {name}": {key: value} for key in ("width", "height", "focal", "fps")
       for name, value in {"0": 0.0, "NaN": float("nan"), "-1": -1.0, "1e308": 1e308, "1e-300": 1e-300,
                           "text": "wide", "(2,)": np.array([1000.0, 2.0])}.items()},
    "center NaN": {"center": np.array([np.nan, 500.0])}, "center 1e308": {"center": np.array([1e308, 1e308])},
    "center (3,)": {"center": np.array([1.0, 2.0, 3.0])}, "object member": {"extra": "object"},
    "no keypoints": {"keypoints": "drop"},
}


@cases("reader npz field", NPZ_FIELDS)
def _npz_field(d, c, changes):
    path = H.plain_npz(d / "x.npz", frames=12)
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays.update(focal=np.float32(1000.0), fps=np.float32(25.0), center=np.float32([500, 500]))
    k = arrays["keypoints"]
    variants = {"all nan": np.full_like(k, np.nan), "zeros": np.zeros_like(k), "xy": k[..., :2], "flat": k[..., 0],
                "nojoints": k[:, :0], "noframes": k[:0], "int": k.astype(np.int64), "complex": k.astype(np.complex64),
                "bool": k > 0, "str": k.astype(str), "f16": (k * 1e4).astype(np.float16), "one": k[:1],
                "4d": k[..., None]}
    for key, value in changes.items():
        if key == "keypoints" and value == "drop":
            arrays.pop("keypoints")
        elif key == "keypoints":
            arrays["keypoints"] = variants[value]
        elif isinstance(value, str) and value == "object":
            arrays[key] = np.array([{"a": 1}], dtype=object)
        else:
            arrays[key] = np.asarray(value)
    np.savez(path, **arrays)
    return infer(c, path)


# --- 3. `uao view`: each output format x each corrupted result field ---------------------------------------
VIEW_FORMATS = (".html", ".bvh", ".csv", ".json", ".npz")


def _result_arrays(path: Path):
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files if key != "metadata"}, json.loads(str(archive["metadata"]))


def _forge(d: Path, source: Path, arrays=None, drop=(), metadata=None, metadata_text=None) -> Path:
    stored, meta = _result_arrays(source)
    for key, value in (arrays or {}).items():
        stored[key] = value(stored) if callable(value) else value
    for key in drop:
        stored.pop(key, None)
    if metadata:
        for key, value in metadata.items():
            if value is _DROP:
                meta.pop(key, None)
            else:
                meta[key] = value(meta) if callable(value) else value
    text = json.dumps(meta) if metadata_text is None else metadata_text
    if text is not _DROP:
        stored["metadata"] = np.asarray(text)
    np.savez(d / "forged.npz", **stored)
    return d / "forged.npz"


_DROP = object()
_NAN_AT_3 = (lambda key: lambda a: np.where(np.arange(len(a[key])).reshape((-1,) + (1,) * (a[key].ndim - 1)) == 3,
                                           np.nan, a[key]).astype(a[key].dtype))
ARRAY_FORGERIES = {
    **{f"{key} missing": dict(drop=[key]) for key in ("poses_3d", "poses_3d_initial", "root", "uncertainty",
                                                      "keypoints_2d", "confidence", "root_world")},
    **{f"{key} NaN": dict(arrays={key: _NAN_AT_3(key)}) for key in ("poses_3d", "root", "uncertainty", "keypoints_2d",
                                                                    "confidence", "poses_world", "root_world",
                                                                    "root_std")},
    **{f"{key} one frame short": dict(arrays={key: lambda a, k=key: a[k][:-1]})
       for key in ("poses_3d", "root", "uncertainty", "poses_world", "root_world", "contacts", "joint_source",
                   "root_std")},
    **{f"{key} transposed": dict(arrays={key: lambda a, k=key: np.swapaxes(a[k], 0, -1).copy()})
       for key in ("poses_3d", "root", "uncertainty")},
    "root (T, 2)": dict(arrays={"root": lambda a: a["root"][:, :2]}),
    "root behind the camera": dict(arrays={"root": lambda a: a["root"] * np.float32([1, 1, -1])}),
    "root at 1e30": dict(arrays={"root": lambda a: a["root"] * np.float32(1e30)}),
    "poses text": dict(arrays={"poses_3d": lambda a: a["poses_3d"].astype(str)}),
    "poses int": dict(arrays={"poses_3d": lambda a: a["poses_3d"].astype(np.int64)}),
    "poses object": dict(arrays={"poses_3d": lambda a: np.array([a["poses_3d"]], dtype=object)}),
    "poses float16 overflow": dict(arrays={"poses_3d": lambda a: (a["poses_3d"] * 1e5).astype(np.float16)}),
    "joint_source 200": dict(arrays={"joint_source": lambda a: np.full_like(a["joint_source"], 200)}),
    "joint_source float": dict(arrays={"joint_source": lambda a: a["joint_source"].astype(np.float32)}),
    "contacts 7": dict(arrays={"contacts": lambda a: np.full(a["contacts"].shape, 7, np.uint8)}),
    "negative uncertainty": dict(arrays={"uncertainty": lambda a: -a["uncertainty"]}),
    "world shifted": dict(arrays={"poses_world": lambda a: a["poses_world"] + np.float32(1)}),
    "world without root_world": dict(drop=["root_world"]),
    "no world arrays": dict(drop=["poses_world", "root_world"]),
    "no frames": dict(arrays={key: (lambda a, k=key: a[k][:0]) for key in
                              ("poses_3d", "poses_3d_initial", "root", "uncertainty", "keypoints_2d", "confidence",
                               "joint_source", "contacts", "root_std", "poses_world", "root_world")}),
    "stray array": dict(arrays={"stray": np.zeros(3)}),
    "a 2 GB claim": dict(arrays={"stray": "claim"}),
    "5000 members": dict(arrays={f"m{i}": np.zeros(1) for i in range(5000)}),
}
METADATA_FORGERIES = {
    "no metadata": dict(metadata_text=_DROP),
    "metadata not JSON": dict(metadata_text="{'fps': 25"),
    "metadata a list": dict(metadata_text="[1, 2]"),
    "metadata null": dict(metadata_text="null"),
    "metadata deeply nested": dict(metadata_text="[" * 100_000 + "]" * 100_000),
    "metadata a number array": dict(metadata_text=np.arange(3)),
    "metadata bytes not UTF-8": dict(metadata_text=np.bytes_(b"\xff\xfe{")),
    "metadata 20 MB": dict(metadata={"pad": "x" * (20 << 20)}),
    **{f"fps {name}": dict(metadata={"fps": value}) for name, value in
       {"NaN": float("nan"), "negative": -25, "0": 0, "1e308": 1e308, "1e-9": 1e-9, "text": "25", "list": [25],
        "true": True, "missing": _DROP}.items()},
    **{f"frames {name}": dict(metadata={"frames": value}) for name, value in
       {"wrong": 13, "negative": -1, "1e20": 1e20, "text": "12", "NaN": float("nan")}.items()},
    **{f"camera {name}": dict(metadata={"camera": value}) for name, value in
       {"a list": [1, 2], "null": None, "width negative": {"width": -5, "height": 10},
        "width NaN": {"width": float("nan"), "height": 10}, "focal 0": {"focal": 0, "width": 10, "height": 10},
        "missing": _DROP}.items()},
    **{f"world_frame {name}": dict(metadata={"world_frame": value}) for name, value in
       {"missing": _DROP, "null": None, "a list": [1],
        "not a rotation": {"camera_to_world_rotation": [[2, 0, 0], [0, 1, 0], [0, 0, 1]], "origin_in_camera": [0, 0, 0]},
        "rotation NaN": {"camera_to_world_rotation": [[float("nan")] * 3] * 3, "origin_in_camera": [0, 0, 0]},
        "rotation 2x2": {"camera_to_world_rotation": [[1, 0], [0, 1]], "origin_in_camera": [0, 0, 0]},
        "origin 1e308": lambda m: {**m["world_frame"], "origin_in_camera": [1e308, 0, 0]},
        "origin text": lambda m: {**m["world_frame"], "origin_in_camera": "here"},
        "up NaN": lambda m: {**m["world_frame"], "up_in_camera": [float("nan")] * 3}}.items()},
    "job record forged": dict(metadata={"job": {"input_sha256": 5}}),
    "subject height 1e308": dict(metadata={"subject_height": 1e308}),
}


def _view_forgery(d, c, spec, suffix):
    spec = dict(spec)
    stray = spec.get("arrays", {}).get("stray")
    if isinstance(stray, str):  # "claim"
        forged = _forge(d, c.result)
        with zipfile.ZipFile(forged, "a") as archive:  # a member whose header claims 2 GB
            header = np.lib.format.magic(1, 0)
            text = repr({"descr": "<f4", "fortran_order": False, "shape": (1 << 29,)}).encode()
            text += b" " * (63 - (len(header) + 2 + len(text)) % 64) + b"\n"
            archive.writestr("poses_world.npy", header + len(text).to_bytes(2, "little") + text + bytes(64))
    else:
        forged = _forge(d, c.result, **spec)
    return Case(["view", forged.name, "-o", f"out{suffix}"], "refuse", outputs=[f"out{suffix}"])


for _suffix in VIEW_FORMATS:
    for _name, _spec in {**ARRAY_FORGERIES, **METADATA_FORGERIES}.items():
        _expect_either = _name in ("stray array", "job record forged", "fps missing", "camera missing",
                                   "world_frame missing", "no world arrays", "subject height 1e308", "metadata 20 MB",
                                   "up NaN")
        def _build(d, c, spec=_spec, suffix=_suffix, either=_expect_either):
            built = _view_forgery(d, c, spec, suffix)
            built.expect = "either" if either else "refuse"
            return built
        CASES[f"view {_suffix}: {_name}"] = (f"view {_suffix}", _build)


@cases("view input", {"FIFO": "fifo", "link to /dev/zero": "zero", "folder": "folder", "empty file": "empty",
                      "text file": "text", "link loop": "loop", "missing": "missing", "keypoint npz, not a result": "kp",
                      "zip bomb": "bomb", "truncated": "truncated", "sparse 2 GB": "sparse"})
def _view_input(d, c, how):
    path = d / "r.npz"
    if how == "fifo":
        os.mkfifo(path)
    elif how == "zero":
        path.symlink_to("/dev/zero")
    elif how == "folder":
        path.mkdir()
    elif how == "empty":
        path.touch()
    elif how == "text":
        path.write_text("hello")
    elif how == "loop":
        path.symlink_to("r.npz")
    elif how == "kp":
        H.plain_npz(path)
    elif how == "bomb":
        H.zip_bomb(path, 300 << 20)
    elif how == "truncated":
        path.write_bytes(c.result.read_bytes()[:3000])
    elif how == "sparse":
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04")
            handle.truncate(2 << 30)
    return Case(["view", path.name, "-o", "out.html"], "refuse", outputs=["out.html"])


@cases("view output", {"same file": "r.npz", "./ spelling": "./r.npz", ".. spelling": "../{d}/r.npz",
                       "absolute": "{abs}/r.npz", "double slash": ".//r.npz", "/proc/self/cwd": "/proc/self/cwd/r.npz",
                       "symlink to input": "link.npz", "hardlink": "twin.npz", "/dev/stdout": "/dev/stdout",
                       "/dev/null": "/dev/null", "/dev/full": "/dev/full", "/proc/self/fd/1": "/proc/self/fd/1",
                       "a FIFO": "pipe.html", "a folder": "folder.html", "unknown suffix": "out.xyz",
                       "no suffix": "out", "missing parent": "nowhere/out.html", "link to elsewhere": "away.html",
                       "dangling link": "dangling.html", "upper-case name (a different file)": "R.NPZ"})
def _view_output(d, c, out):
    shutil.copy(c.result, d / "r.npz")
    (d / "link.npz").symlink_to("r.npz")
    os.link(d / "r.npz", d / "twin.npz")
    os.mkfifo(d / "pipe.html")
    (d / "folder.html").mkdir()
    (d.parent / f"{d.name}_elsewhere").mkdir()
    (d.parent / f"{d.name}_elsewhere" / "keep.html").write_text("keep")
    (d / "away.html").symlink_to(d.parent / f"{d.name}_elsewhere" / "keep.html")
    (d / "dangling.html").symlink_to(d.parent / f"{d.name}_elsewhere" / "gone.html")
    out = out.format(d=d.name, abs=d)
    ok = out in ("R.NPZ", "nowhere/out.html")
    return Case(["view", "r.npz", "-o", out], "either" if ok else "refuse",
                outputs=[out] if not out.startswith("/") else [], watch=[d.parent / f"{d.name}_elsewhere"])


@cases("view --up", {"1e308,-1e308,0": "1e308,-1e308,0", "0,0,0": "0,0,0", "nan,1,0": "nan,1,0", "inf,1,0": "inf,1,0",
                     "1e-320,0,0 (denormal)": "1e-320,0,0", "two values": "1,2", "text": "a,b,c", "4 values": "0,1,0,0",
                     "empty": "", "-1e308,-1e308,-1e308": "-1e308,-1e308,-1e308", "1e-300,1e-300,0": "1e-300,1e-300,0",
                     "spaces": " 0 , -1 , 0 "})
def _view_up(d, c, up):
    shutil.copy(c.result, d / "r.npz")
    return Case(["view", "r.npz", "-o", "out.bvh", "--up", up], outputs=["out.bvh"])


@cases("view --camera-pitch", {"89.9999": "89.9999", "-89.9999": "-89.9999", "nan": "nan", "inf": "inf",
                               "1e-320": "1e-320", "with --up": "10 --up 0,-1,0"})
def _view_pitch(d, c, pitch):
    shutil.copy(c.result, d / "r.npz")
    return Case(["view", "r.npz", "-o", "out.bvh", "--camera-pitch", *pitch.split()], outputs=["out.bvh"])


@case("view", "a good result in every format, then read back")
def _view_good(d, c):
    shutil.copy(c.result, d / "r.npz")
    return Case(["view", "r.npz", "-o", "out.npz"], "ok", outputs=["out.npz"])


# --- 4. infer outputs that are, or lie in, inputs; special outputs ------------------------------------------
@cases("infer output file", {"same": "x.npz", "./ spelling": "./x.npz", ".. spelling": "../{d}/x.npz",
                             "/proc/self/cwd": "/proc/self/cwd/x.npz", "symlink to input": "link.npz",
                             "hardlink": "twin.npz", "double slash": ".//x.npz", "/dev/stdout": "/dev/stdout",
                             "/dev/stderr": "/dev/stderr", "/dev/null": "/dev/null", "/dev/full": "/dev/full",
                             "/proc/self/fd/1": "/proc/self/fd/1", "a FIFO": "pipe.npz", "a folder .npz": "folder.npz",
                             "link to elsewhere": "away.npz", "dangling link": "dangling.npz", "csv over input": "x.csv",
                             "upper-case name (a different file)": "X.NPZ", "missing parent": "new/deep/out.npz",
                             "bvh": "out.bvh", "html": "out.html", "json": "out.json", "unknown suffix": "out.xyz"})
def _infer_output(d, c, out):
    H.plain_npz(d / "x.npz", frames=12)
    (d / "x.csv").write_text("my notes\n")
    (d / "link.npz").symlink_to("x.npz")
    os.link(d / "x.npz", d / "twin.npz")
    os.mkfifo(d / "pipe.npz")
    (d / "folder.npz").mkdir()
    elsewhere = d.parent / f"{d.name}_elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.npz").write_text("keep")
    (d / "away.npz").symlink_to(elsewhere / "keep.npz")
    (d / "dangling.npz").symlink_to(elsewhere / "gone.npz")
    out = out.format(d=d.name)
    ok = out in ("X.NPZ", "new/deep/out.npz", "out.bvh", "out.html", "out.json", "x.csv")  # x.csv: no input
    return infer(c, "x.npz", out=out, expect="ok" if ok else "either" if out in ("out.xyz",) else "refuse",
                 outputs=[out, "out"] if not out.startswith("/") else [], watch=[elsewhere])


@cases("infer --render", {"= the input": "x.npz", "= -o": "out.npz", "/dev/stdout": "/dev/stdout",
                          "a FIFO": "pipe.gif", "link to input": "link.gif", "unknown suffix": "out.png",
                          "--video a FIFO": "video fifo", "--video /dev/zero": "video zero",
                          "--video a text file": "video text", "--video without --render": "video only"})
def _infer_render(d, c, render):
    H.plain_npz(d / "x.npz", frames=12)
    os.mkfifo(d / "pipe.gif")
    (d / "link.gif").symlink_to("x.npz")
    extra = ["--render", render]
    if render.startswith("video"):
        how = render.split()[1]
        video = d / "v.mp4"
        if how == "fifo":
            os.mkfifo(video)
        elif how == "zero":
            video.symlink_to("/dev/zero")
        else:
            video.write_text("not a video")
        extra = ["--video", "v.mp4"] if how == "only" else ["--render", "anim.gif", "--video", "v.mp4"]
    return infer(c, "x.npz", *extra, out="out.npz", outputs=["out.npz", "anim.gif", "out.png"]
                 if render not in ("x.npz", "link.gif", "/dev/stdout", "pipe.gif") else [],
                 expect="refuse" if render in ("x.npz", "out.npz", "/dev/stdout", "pipe.gif", "link.gif") else "either")


def _two_people(path: Path) -> Path:
    """An MHFormer-style file of two people (it writes <stem>_person0 and <stem>_person1)."""
    H.plain_npz(path, frames=12)
    with np.load(path) as archive:
        track = archive["keypoints"]
    np.savez(path, reconstruction=np.stack([track, track + np.float32([250, 0, 0])]))
    return path


@cases("infer folders", {"-o the input folder": "same", "-o inside the input folder": "inside",
                         "-o a link to the input folder": "link", "-o a link inside the input folder": "link inside",
                         "-o the input folder by ..": "dotdot", "-o the input folder by /proc/self/cwd": "proc",
                         "-o an output folder inside, run twice": "twice",
                         "two inputs, the same stem in two folders": "same stem",
                         "the same input twice": "twice input", "v.npz (two people) and v_person0.npz": "person clash",
                         "--person all, -o a person name of another input": "person input",
                         "an empty folder": "empty", "a glob that matches nothing": "noglob",
                         "a list that lists itself": "self list", "a list of 100,000 missing files": "long list",
                         "a list with a FIFO line": "fifo list", "alphapose results one folder per video": "ap folders",
                         "a folder of foreign files": "foreign", "a folder link loop": "loop"})
def _infer_folders(d, c, how):
    corpus = d / "corpus"
    corpus.mkdir()
    H.plain_npz(corpus / "a.npz", frames=12)
    H.plain_npz(corpus / "b.npz", frames=12)
    inputs, out, outputs, expect = ["corpus"], "out", ["out"], "either"
    if how == "same":
        out, expect = "corpus", "refuse"
    elif how == "inside":
        out, expect = "corpus/results", "refuse"
    elif how == "link":
        (d / "olink").symlink_to("corpus")
        out, expect = "olink", "refuse"
    elif how == "link inside":
        (d / "elsewhere").mkdir()
        (d / "elsewhere" / "inner").symlink_to("../corpus")
        out, expect = "elsewhere/inner/x", "refuse"
    elif how == "dotdot":
        out, expect = f"../{d.name}/corpus", "refuse"
    elif how == "proc":
        out, expect = "/proc/self/cwd/corpus", "refuse"
    elif how == "twice":  # the first run (done here) made corpus/res; the replay's run must not read it as input
        out, expect = "res", "ok"
        outputs = ["res"]
    elif how == "same stem":
        (d / "other").mkdir()
        H.plain_npz(d / "other" / "a.npz", frames=12)
        inputs = ["corpus/a.npz", "other/a.npz"]
    elif how == "twice input":
        inputs = ["corpus/a.npz", "corpus/a.npz"]
    elif how == "person clash":
        _two_people(corpus / "v.npz")
        H.plain_npz(corpus / "v_person0.npz", frames=12)
        inputs = ["corpus", "--person", "all", *H.SIZE]
    elif how == "person input":  # several inputs and -o r.npz write r_<input>_person<id>.npz: one is an input
        _two_people(d / "v.npz")
        H.plain_npz(d / "r_v_person0.npz", frames=12)
        return infer(c, "v.npz", "r_v_person0.npz", "--person", "all", *H.SIZE, out="r.npz",
                     outputs=["r_v_person1.npz", "r_r_v_person0.npz"])
    elif how == "empty":
        shutil.rmtree(corpus)
        corpus.mkdir()
        expect = "refuse"
    elif how == "noglob":
        inputs, expect = ["corpus/*.json"], "refuse"
    elif how == "self list":
        (d / "list.txt").write_text("list.txt\ncorpus/a.npz\n")
        inputs = ["list.txt"]
    elif how == "long list":
        (d / "list.txt").write_text("".join(f"missing{i}.npz\n" for i in range(100_000)))
        inputs, expect = ["list.txt"], "refuse"
    elif how == "fifo list":
        os.mkfifo(d / "p.npz")
        (d / "list.txt").write_text("corpus/a.npz\np.npz\n")
        inputs = ["list.txt"]
    elif how == "ap folders":
        shutil.rmtree(corpus)
        for video in ("walk", "run"):
            H.alphapose_file(corpus / video / "alphapose-results.json")
        inputs, expect = ["corpus", *H.SIZE], "ok"
    elif how == "foreign":
        (corpus / "notes.txt").write_text("hello")
        (corpus / "image.png").write_bytes(b"\x89PNG\r\n")
        (corpus / "data.json").write_text('{"a": 1}')
    elif how == "loop":
        (corpus / "again").symlink_to(".")
        (corpus / "up").symlink_to("..")
    if how == "twice":
        subprocess.run([sys.executable, "-m", "uao_deploy", "infer", "corpus", "-o", "corpus/res",
                        *c.lift_options()], cwd=d, env=_env({"UAO_CACHE_DIR": str(c.cache)}), capture_output=True)
        inputs = ["corpus"]
    return infer(c, *inputs, out=out, outputs=outputs, expect=expect, partial=True)


# --- 5. --resume over forged outputs ------------------------------------------------------------------------
@cases("infer --resume", {"record only": "record", "no world arrays": "world", "NaN poses": "nan",
                          "truncated output": "truncated", "output a FIFO": "fifo", "output a link to the input": "link",
                          "output a folder": "folder", "record of another input": "other", "metadata deep": "deep",
                          "output a link to /dev/zero": "zero", "poses one frame short": "short"})
def _resume(d, c, how):
    corpus = d / "corpus"
    corpus.mkdir()
    H.plain_npz(corpus / "x.npz", frames=12)
    out = d / "out"
    subprocess.run([sys.executable, "-m", "uao_deploy", "infer", "corpus", "-o", "out", *c.lift_options()],
                   cwd=d, env=_env({"UAO_CACHE_DIR": str(c.cache)}), check=True, capture_output=True)
    result = out / "x.npz"
    arrays, metadata = _result_arrays(result)
    if how == "record":
        np.savez(result, metadata=np.array(json.dumps({"job": metadata["job"]})))
    elif how == "world":
        shutil.move(_forge(d, result, drop=["poses_world", "root_world"]), result)
    elif how == "nan":
        shutil.move(_forge(d, result, arrays={"poses_3d": arrays["poses_3d"] * np.float32(np.nan)}), result)
    elif how == "short":
        shutil.move(_forge(d, result, arrays={"poses_3d": arrays["poses_3d"][:-1]}), result)
    elif how == "truncated":
        result.write_bytes(result.read_bytes()[:-200])
    elif how in ("fifo", "link", "folder", "zero"):
        result.unlink()
        {"fifo": lambda: os.mkfifo(result), "link": lambda: result.symlink_to("../corpus/x.npz"),
         "folder": result.mkdir, "zero": lambda: result.symlink_to("/dev/zero")}[how]()
    elif how == "other":
        metadata["job"]["input_sha256"] = "0" * 64
        shutil.move(_forge(d, result, metadata_text=json.dumps(metadata)), result)
    elif how == "deep":
        shutil.move(_forge(d, result, metadata_text="[" * 100_000 + "]" * 100_000), result)
    expect = "refuse" if how in ("fifo", "link", "folder", "zero") else "ok"
    return infer(c, "corpus", "--resume", out="out", outputs=["out/x.npz"], expect="either" if expect == "refuse"
                 else "ok")


# --- 6. the cache ---------------------------------------------------------------------------------------------
@cases("cache", {"a user's folder": "user", "export a link to a folder": "export link", "a planted link to /": "root",
                 "a marker that is a link": "marker link", "an entry holding a link out": "entry link",
                 "UAO_CACHE_DIR a file": "file", "UAO_CACHE_DIR /dev/null": "devnull",
                 "UAO_CACHE_DIR missing": "missing", "UAO_CACHE_DIR a FIFO": "fifo", "UAO_CACHE_DIR empty": "empty",
                 "export a file": "export file", "export a FIFO": "export fifo", "UAO_CACHE_DIR /": "slash",
                 "UAO_CACHE_DIR relative ..": "relative", "a link loop in export": "loop",
                 "an entry that is a link to an entry": "entry is link"})
def _cache(d, c, how):
    root = d / "cache"
    (root / "export").mkdir(parents=True)
    elsewhere = d.parent / f"{d.name}_elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "precious.bin").write_bytes(b"keep")
    (elsewhere / "sub" / "thesis.tex").write_text("years")
    (root / "readme.txt").write_text("mine")
    entry = root / "export" / "0123456789abcdef"
    _python(f"from pathlib import Path; from uao_deploy.export import cache; "
            f"cache._cached(Path({str(entry)!r}), lambda s: (s / 'forward.onnx').write_bytes(b'g'))")
    cache_dir = str(root)
    if how == "user":
        (root / "export" / "notes").mkdir()
        (root / "export" / "notes" / "a.txt").write_text("mine")
        (root / "export" / "model.onnx").write_bytes(b"user's")
    elif how == "export link":
        shutil.rmtree(root / "export")
        (root / "export").symlink_to(elsewhere)
    elif how == "root":
        (root / "export" / "root").symlink_to("/")
    elif how == "marker link":
        forged = root / "export" / "fedcba9876543210"
        forged.mkdir()
        (forged / ".uao-cache-entry").symlink_to(elsewhere / "precious.bin")
        (forged / "x").symlink_to(elsewhere)
    elif how == "entry link":
        (entry / "out").symlink_to(elsewhere)
    elif how == "file":
        cache_dir = str(elsewhere / "precious.bin")
    elif how == "devnull":
        cache_dir = "/dev/null"
    elif how == "missing":
        cache_dir = str(d / "nowhere")
    elif how == "fifo":
        os.mkfifo(d / "pipe")
        cache_dir = str(d / "pipe")
    elif how == "empty":
        cache_dir = ""
    elif how == "export file":
        shutil.rmtree(root / "export")
        (root / "export").write_text("a file")
    elif how == "export fifo":
        shutil.rmtree(root / "export")
        os.mkfifo(root / "export")
    elif how == "slash":
        cache_dir = "/"
    elif how == "relative":
        cache_dir = f"../{d.name}_elsewhere"
    elif how == "loop":
        (root / "export" / "loop").symlink_to("loop")
        (root / "export" / "up").symlink_to("..")
    elif how == "entry is link":
        (root / "export" / "aaaaaaaaaaaaaaaa").symlink_to(entry)
    # one `uao cache` then `uao cache --clear`: the listing must not change anything either
    return Case(["cache", "--clear"], "either", outputs=["cache/export/0123456789abcdef"],
                env={"UAO_CACHE_DIR": cache_dir}, watch=[elsewhere])


@case("cache", "listing a user's folder")
def _cache_list(d, c):
    (d / "cache" / "export" / "x").mkdir(parents=True)
    (d / "cache" / "export" / "root").symlink_to("/")
    return Case(["cache"], "ok", env={"UAO_CACHE_DIR": str(d / "cache")})


# --- 7. calibrate and train -------------------------------------------------------------------------------
SIDECARS = {"not JSON": b"{not json", "a list": b"[1, 2]", "a number": b"3", "null": b"null", "empty": b"",
            "not UTF-8": b"\xff\xfe", "deep": b"[" * 100_000 + b"]" * 100_000, "calibration a list": b'{"calibration": [1]}',
            "calibration NaN": b'{"calibration": {"root_depth_scale": NaN}}', "a folder": "folder", "a FIFO": "fifo",
            "a link to /dev/zero": "zero", "20 MB": b'{"pad": "' + b"x" * (20 << 20) + b'"}'}


def _sidecar(d: Path, c: Context, content) -> Path:
    model = Path(shutil.copy(c.checkpoint, d / "model.pth"))
    sidecar = d / "model.pth.json"
    if content == "folder":
        sidecar.mkdir()
    elif content == "fifo":
        os.mkfifo(sidecar)
    elif content == "zero":
        sidecar.symlink_to("/dev/zero")
    else:
        sidecar.write_bytes(content)
    shutil.copy(c.mocap, d / "mocap.npz")
    return model


@cases("calibrate sidecar", SIDECARS)
def _calibrate_sidecar(d, c, content):
    _sidecar(d, c, content)
    return Case(["calibrate", "model.pth", "--data", "mocap.npz", "--noise", "0"], "refuse")


@cases("infer checkpoint sidecar", SIDECARS)
def _infer_sidecar(d, c, content):
    _sidecar(d, c, content)
    H.plain_npz(d / "x.npz", frames=12)
    return Case(["infer", "x.npz", "-o", "out.npz", "--backend", "torch", "--engine", "model.pth", "--tto-iters", "1",
                 "--no-progress"], "refuse" if content not in (b"null",) else "either", outputs=["out.npz"])


MOCAP = {"a clip of 0 frames": "empty", "a clip of 1 frame": "one", "NaN": "nan", "(T, 17, 2)": "xy", "(T, 16, 3)": "joints",
         "strings": "str", "1e30 m": "huge", "no clips": "none", "not an npz": "text", "object array": "object",
         "a FIFO": "fifo", "zip bomb": "bomb"}


def _mocap(d: Path, c: Context, how: str) -> Path:
    path = d / "mocap.npz"
    clip = _standing_clip(30)
    variants = {"empty": clip[:0], "one": clip[:1], "nan": clip * np.nan, "xy": clip[..., :2], "joints": clip[:, :16],
                "str": clip.astype(str), "huge": clip * 1e30}
    if how in variants:
        np.savez(path, walk=variants[how])
    elif how == "none":
        np.savez(path)
    elif how == "text":
        path.write_text("hello")
    elif how == "object":
        np.savez(path, walk=np.array([clip], dtype=object))
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "bomb":
        H.zip_bomb(path, 300 << 20)
    return path


@cases("calibrate data", MOCAP)
def _calibrate_data(d, c, how):
    shutil.copy(c.checkpoint, d / "model.pth")
    _mocap(d, c, how)
    return Case(["calibrate", "model.pth", "--data", "mocap.npz", "--noise", "0"], "either",
                outputs=["model.pth.json"])


@cases("calibrate option", {"--noise nan": ["--noise", "nan"], "--noise -1": ["--noise", "-1"],
                            "--noise 1e308": ["--noise", "1e308"], "--noise empty": ["--noise", ""],
                            "--noise text": ["--noise", "a,b"], "--seed 2**70": ["--seed", str(2 ** 70)],
                            "checkpoint a folder": ["folder"], "checkpoint empty": ["empty"],
                            "checkpoint text": ["text"], "checkpoint a FIFO": ["fifo"]})
def _calibrate_option(d, c, option):
    model = d / "model.pth"
    if option == ["folder"]:
        model.mkdir()
    elif option == ["empty"]:
        model.touch()
    elif option == ["text"]:
        model.write_text("weights")
    elif option == ["fifo"]:
        os.mkfifo(model)
    else:
        shutil.copy(c.checkpoint, model)
    shutil.copy(c.mocap, d / "mocap.npz")
    extra = option if option[0].startswith("--") else ["--noise", "0"]
    return Case(["calibrate", "model.pth", "--data", "mocap.npz", *extra], "either", outputs=["model.pth.json"])


TRAIN_BASE = ["--channels", "16", "--layers", "1", "--epochs", "1", "--batch-size", "16", "--max-batches", "2",
              "--views", "1"]


for _which in ("data", "val"):
    def _train_clips(d, c, how, which=_which):
        """The training (``data``) or validation (``val``) clips are the hostile ones."""
        _mocap(d, c, how)
        shutil.copy(c.mocap, d / "other.npz")
        data, val = ("mocap.npz", "other.npz") if which == "data" else ("other.npz", "mocap.npz")
        return Case(["train", "--data", data, "--val", val, "--out", "run", *TRAIN_BASE], "either", outputs=["run"])
    cases(f"train {_which}", MOCAP)(_train_clips)


@cases("train option", {**{f"--lr {v}": ["--lr", v] for v in ("1e30", "nan", "inf", "-1", "0")},
                        **{f"--lr-decay {v}": ["--lr-decay", v] for v in ("nan", "0", "-1", "1e30")},
                        **{f"--noise {a} {b}": ["--noise", a, b] for a, b in (("nan", "1"), ("-1", "2"), ("5", "3"),
                                                                               ("1e308", "1e308"))},
                        **{f"--outlier-rate {v}": ["--outlier-rate", v] for v in ("2", "-1", "nan")},
                        "--channels 10^6": ["--channels", "1000000"], "--layers 10^5": ["--layers", "100000"],
                        "--batch-size 10^9": ["--batch-size", "1000000000"], "--views 10^6": ["--views", "1000000"],
                        "--device nonsense": ["--device", "quantum"], "--device cuda (none here)": ["--device", "cuda"],
                        "--out a file": ["out file"], "--out /dev/null": ["--out", "/dev/null"],
                        "--out the data file": ["--out", "train.npz"],
                        "--resume without a state": ["--resume"], "--resume a forged state": ["forged"],
                        "--seed -1": ["--seed", "-1"], "--seed 2**70": ["--seed", str(2 ** 70)]})
def _train_option(d, c, option):
    shutil.copy(c.mocap, d / "train.npz")
    shutil.copy(c.mocap, d / "val.npz")
    options = list(option)
    if option == ["out file"]:
        (d / "run").write_text("a file")
        options = []
    elif option == ["forged"]:
        (d / "run").mkdir()
        (d / "run" / "last_state.pt").write_bytes(b"\x80\x04cos\nsystem\nq\x00X\x05\x00\x00\x00touch\x85R.")
        options = ["--resume"]
    base = list(TRAIN_BASE)
    for flag in {options[i] for i in range(len(options)) if str(options[i]).startswith("--")} & set(base):
        at = base.index(flag)
        del base[at:at + 2]
    return Case(["train", "--data", "train.npz", "--val", "val.npz", "--out", "run", *base, *options], "either",
                outputs=["run"] if option != ["out file"] else [])


# --- 8. absurd option values of infer ------------------------------------------------------------------------
INFER_OPTIONS = {
    **{f"--fps {v}": ["--fps", v] for v in ("1e308", "1e-9", "nan", "inf", "-1", "0", "5000")},
    **{f"--width {v}": ["--width", v, "--height", "1000"] for v in ("1e308", "nan", "inf", "1e-300", "0.5")},
    **{f"--focal {v}": ["--focal", v] for v in ("1e308", "1e-300", "nan", "inf")},
    **{f"--fov {v}": ["--fov", v] for v in ("179.99999", "1e-9", "nan")},
    **{f"--focal-35mm {v}": ["--focal-35mm", v] for v in ("1e-9", "1e308", "nan")},
    **{f"--subject-height {v}": ["--subject-height", v] for v in ("1e-9", "1e308", "nan", "50")},
    **{f"--up {v}": ["--up", v] for v in ("1e308,-1e308,0", "0,0,0", "nan,1,0", "1e-320,0,0", "1,2")},
    **{f"--camera-pitch {v}": ["--camera-pitch", v] for v in ("89.99999", "nan")},
    "--smooth-root 10^9": ["--smooth-root", "1000000000"], "--batch-size 10^12": ["--batch-size", "1000000000000"],
    "--tto-iters 64": ["--tto-iters", "64"],
    **{f"--person {v}": ["--person", v] for v in ("-1", "1e20", "nan", "abc", "99999999999999999999999", "0", "all")},
    "--layout coco on an h36m npz": ["--layout", "coco"], "--format yolo on an npz": ["--format", "yolo"],
    "--focal and --fov": ["--focal", "1000", "--fov", "60"], "--mode frame": ["--mode", "frame"],
    "--causal": ["--causal"], "--ray bogus address": ["--ray=bogus:1"],
    "--workers 10^6 without --ray": ["--workers", "1000000"],
}


@cases("infer option", INFER_OPTIONS)
def _infer_option(d, c, option):
    H.plain_npz(d / "x.npz", frames=12)
    options = list(option)
    if option[0] == "--tto-iters":
        return Case(["infer", "x.npz", "-o", "out.bvh", "--backend", "torch", "--engine", str(c.checkpoint),
                     "--no-progress", *options], "either", outputs=["out.bvh"])
    return infer(c, "x.npz", *options, out="out.bvh", outputs=["out.bvh"])


# --- 9. the default model (the embedded model's export, ONNX Runtime): the real path -------------------------
DEFAULT_CASES = {"a good sample": "good", "openpose null joint": "null", "3000 people a frame": "crowd",
                 "frame gap 1e7": "gap", "view of its result": "view"}


def _default(d, c, how):
    extra = ["--no-progress"]
    if how == "good":
        H.plain_npz(d / "x.npz", frames=30)
        return Case(["infer", "x.npz", "-o", "out.bvh", *extra], "ok", outputs=["out.bvh"])
    if how == "null":
        folder = H.openpose_folder(d / "clip", frames=range(30), edit=H._set_joint(4, [None, None, None]))
        return Case(["infer", folder.name, "-o", "out.npz", *H.SIZE, *extra], "ok", outputs=["out.npz"])
    if how == "crowd":
        _crowd(d / "ap.json", frames=3)
        return Case(["infer", "ap.json", "-o", "out.npz", *H.SIZE, *extra], "either", outputs=["out.npz"])
    if how == "gap":
        H.openpose_folder(d / "clip", [*range(H.FRAMES), 10 ** 7])
        return Case(["infer", "clip", "-o", "out.npz", *H.SIZE, *extra], "refuse", "frame numbers jump")
    H.plain_npz(d / "x.npz", frames=30)
    subprocess.run([sys.executable, "-m", "uao_deploy", "infer", "x.npz", "-o", "r.npz", *extra], cwd=d,
                   env=_env({"UAO_CACHE_DIR": str(c.default_cache)}), check=True, capture_output=True)
    return Case(["view", "r.npz", "-o", "out.html"], "ok", outputs=["out.html"])


for _name, _how in DEFAULT_CASES.items():
    def _build_default(d, c, how=_how):
        built = _default(d, c, how)
        built.env = {"UAO_CACHE_DIR": str(c.default_cache)}
        return built
    CASES[f"default model: {_name}"] = ("default model", _build_default)


# --- 10. inputs of about 10 MB (--large) ------------------------------------------------------------------------
def _alphapose_10mb(d, c):
    """One person in every frame (Halpe-26, untracked): as many frames as fill 10 MB."""
    entry = len(json.dumps({"image_id": "10000.jpg", "category_id": 1, "score": 2.5, "idx": [0.0],
                            "keypoints": H._flat(H.person("halpe26", 7))})) + 2
    return infer(c, H.alphapose_file(d / "long.json", range(TEN_MB // entry)), *H.SIZE, expect="ok", large=True)


def _crowd(path: Path, frames=None) -> Path:
    """3000 untracked people in each frame (AlphaPose, Halpe-26, 12 px tall on a grid over the image):
    track linking's cost; ``frames`` None: as many as fill 10 MB."""
    small = H.person("halpe26")
    small[:, :2] = (small[:, :2] - small[:, :2].min(axis=0)) / 40
    corners = np.stack(np.meshgrid(np.arange(60) * 16.0, np.arange(50) * 19.0), -1).reshape(-1, 2) + 20
    people = [H._flat(small + [*corner, 0]) for corner in corners]
    frames = frames or max(1, TEN_MB // len(json.dumps(people)))
    entries = [{"image_id": f"{frame}.jpg", "category_id": 1, "score": 2.5, "idx": [0.0], "keypoints": keypoints}
               for frame in range(frames) for keypoints in people]
    path.write_text(json.dumps(entries))
    return path


def _crowd_10mb(d, c):
    return infer(c, _crowd(d / "crowd.json"), *H.SIZE)


def _scattered_10mb(d, c):
    """An OpenPose folder of 10 MB whose one person per frame jumps across the image every frame:
    every detection a track of its own, tracks x frames beyond the budget."""
    rng = np.random.default_rng(0)

    def scatter(frame, entry):
        values = np.reshape(entry["pose_keypoints_2d"], (-1, 3))
        values[:, :2] = (values[:, :2] - 400) * 0.1 + rng.uniform(50, 950, 2)
        entry["pose_keypoints_2d"] = H._flat(values)
    return infer(c, H.openpose_folder(d / "scattered", range(TEN_MB // 1400), edit=scatter), *H.SIZE,
                 expect="refuse", needle="would take")


def _npz_10mb(d, c):
    """A plain npz of 10 MB (51,000 frames) in frame mode."""
    path = H.plain_npz(d / "x.npz", frames=TEN_MB // (17 * 3 * 4))
    return infer(c, path, "--mode", "frame", expect="ok", large=True)


LARGE = {"AlphaPose 10 MB, one person": _alphapose_10mb, "AlphaPose 10 MB, 3000 people a frame": _crowd_10mb,
         "OpenPose 10 MB, a new track each frame": _scattered_10mb, "npz 10 MB, frame mode": _npz_10mb}


# === the run ==================================================================================================
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--group", default="", help="run the cases of groups whose name starts with this")
    parser.add_argument("--large", action="store_true", help="also the inputs of about 10 MB")
    parser.add_argument("--default-model", type=Path, metavar="CACHE_DIR",
                        help="also a few cases through the embedded model's ONNX export (UAO_CACHE_DIR that holds "
                             "it, or gets it: the export takes minutes)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="write the table (markdown) and the rows (json beside it) here")
    args = parser.parse_args()
    selected = {name: build for name, (group, build) in CASES.items()
                if args.only in name and group.startswith(args.group)
                and (args.default_model or group != "default model")}
    if args.large:
        selected.update({f"large: {name}": build for name, build in LARGE.items() if args.only in name})
    load = os.getloadavg()[0]
    rows = []
    started = time.time()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        context = Context(work, args.default_model)
        for number, (name, build) in enumerate(selected.items()):
            try:
                rows.append(run_case(number, name, build, context))
            except Exception as error:  # noqa: BLE001 -- a case that cannot be built is reported, not fatal
                rows.append({"case": name, "group": name.split(":")[0], "verdict": "NOT BUILT",
                             "problems": f"{type(error).__name__}: {error}"[:200], "exit": "", "message": ""})
            row = rows[-1]
            print(f"{row['verdict']:8s} {row.get('cpu s', 0):5.1f} cpu-s {row.get('peak MiB', 0):6.0f} MiB exit "
                  f"{row['exit']!s:>4}  {name}: {row['problems'] or row['message']}", flush=True)
    _report(rows, load, time.time() - started, args.out)


def _report(rows: list, load: float, seconds: float, out: Path | None) -> None:
    groups = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    lines = [f"# Issue 27's hostile run, replayed ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"- machine: {os.cpu_count()} logical cores shared with other agents, load average {load:.2f} at the "
             f"start, {os.getloadavg()[0]:.2f} at the end; {seconds / 60:.0f} min in all",
             f"- python {sys.version.split()[0]}, numpy {np.__version__}; each case a fresh `uao` process under nice, "
             "OMP_NUM_THREADS=1; the small model (torch backend, 32 channels, 1 block, --tto-iters 1) unless the "
             "group says otherwise",
             "- a case passes if it exits 0 with finite outputs (every npz array, no NaN/inf in BVH/CSV/JSON/HTML "
             "data, a BVH frame time of 1 ms to 1 s) or exits non-zero with exactly one stderr line and no traceback; "
             "changes no file but its declared outputs (none on failure); peaks at <= 1 GiB RSS and <= 30 CPU s "
             "(inputs <= 10 MB; 'slow (known)': a 10 MB clip that simply takes long to lift)",
             f"- **{sum(r['verdict'] == 'DEFECT' for r in rows)} defects** and "
             f"{sum(r['verdict'] == 'NOT BUILT' for r in rows)} cases not built, of {len(rows)} cases; "
             f"{sum(r['verdict'] == 'slow (known)' for r in rows)} slow (known limit)", "",
             "| class | cases | pass | defects | slow (known) | max CPU s | max peak MiB |", "|---|---|---|---|---|---|---|"]
    for group, members in groups.items():
        lines.append(f"| {group} | {len(members)} | {sum(r['verdict'] == 'ok' for r in members)} | "
                     f"{sum(r['verdict'] in ('DEFECT', 'NOT BUILT') for r in members)} | "
                     f"{sum(r['verdict'] == 'slow (known)' for r in members)} | "
                     f"{max((r.get('cpu s', 0) for r in members), default=0):.1f} | "
                     f"{max((r.get('peak MiB', 0) for r in members), default=0):.0f} |")
    bad = [r for r in rows if r["verdict"] != "ok"]
    if bad:
        lines += ["", "## Cases that did not pass", "", "| case | exit | problems | last stderr line |", "|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['exit']} | {r['problems']} | {r['message'][:120].replace('|', '/')} |" for r in bad]
    lines += ["", "## Every case", "", "| case | expect | exit | CPU s | peak MiB | verdict | stderr |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r.get('expect', '')} | {r['exit']} | {r.get('cpu s', 0):.1f} | "
              f"{r.get('peak MiB', 0):.0f} | {r['verdict']} | {r['message'][:100].replace('|', '/')} |" for r in rows]
    print("\n".join(lines[:12 + len(groups)]))
    if out:
        out.write_text("\n".join(lines) + "\n")
        out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
