"""Hostile and odd detector files (issue 27), written by content into a folder, for the hostile
tests (tests/test_hostile_inputs.py) and the replay of the whole hostile run through the real
``uao`` (benchmarks/hostile_replay.py); and :func:`tree`, how both see that no file changed.

Each case writes its input(s) and returns a :class:`Case`: what to pass to ``uao infer`` and what
must happen -- a finite result (``needle`` None), or exit 1 with ``needle`` in the error.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uao_deploy.io import layouts

WIDTH, HEIGHT = 1000, 1000
FRAMES = 8
# A person standing in a 1000x1000 image, COCO-17 joints by name (pixels).
_COCO = dict(zip(layouts.COCO_JOINT_NAMES, [
    (500, 150), (490, 140), (510, 140), (480, 145), (520, 145), (460, 220), (540, 220), (440, 300), (560, 300),
    (430, 370), (570, 370), (475, 400), (525, 400), (470, 520), (530, 520), (468, 640), (532, 640)]))


def _position(name: str) -> tuple[float, float]:
    """Pixels of any layout's joint: COCO's own, else the COCO joint it lies next to."""
    if name in _COCO:
        return _COCO[name]
    side = "l_" if name.startswith(("l_", "left")) else "r_"
    if name in ("neck", "upper_neck"):
        return tuple(np.mean([_COCO["l_shoulder"], _COCO["r_shoulder"]], axis=0))
    if name == "mid_hip":
        return tuple(np.mean([_COCO["l_hip"], _COCO["r_hip"]], axis=0))
    if name == "head_top":
        return 500, 100
    if any(part in name for part in ("toe", "heel", "foot")):
        return _COCO[side + "ankle"][0], 655
    if any(part in name for part in ("hand", "pinky", "index", "thumb")):
        return _COCO[side + "wrist"]
    return _COCO["nose"]  # face, eyes' corners, mouth


def person(layout: str = "coco", frame: int = 0, shift: float = 0.0) -> np.ndarray:
    """(J, 3) pixels and confidence of the standing person in ``layout``, swaying with ``frame``."""
    xy = np.array([_position(name) for name in layouts.LAYOUTS[layout].joints], np.float64)
    xy[:, 0] += shift + 3 * np.sin(frame / 3)
    return np.column_stack([xy, np.full(len(xy), 0.9)])


def _flat(keypoints: np.ndarray) -> list:
    return [float(v) for v in keypoints.ravel()]


def tree(folder: Path) -> dict:
    """Every entry under ``folder`` without following links: files by size and content hash (of
    their first and last MiB past 2 MiB: sparse files of gigabytes), links by target, folders and
    special files by kind."""
    found = {}
    for base, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(base) / name
            relative = str(path.relative_to(folder))
            if path.is_symlink():
                found[relative] = "-> " + os.readlink(path)
            elif path.is_file():
                digest = hashlib.sha256()
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    digest.update(handle.read(1 << 20))
                    if size > 2 << 20:
                        handle.seek(size - (1 << 20))
                    digest.update(handle.read())
                found[relative] = f"{size} {digest.hexdigest()}"
            else:
                found[relative] = "folder" if path.is_dir() else "special"
    return found


# --- writers, one per detector format ----------------------------------------------------------------
def openpose_folder(folder: Path, frames=range(FRAMES), edit=None) -> Path:
    """OpenPose --write_json frames (COCO-18); ``edit(frame, person dict)`` may change one."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        entry = {"person_id": [-1], "pose_keypoints_2d": _flat(person("coco18", frame))}
        if edit:
            edit(frame, entry)
        (folder / f"clip_{frame:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": [entry]}))
    return folder


def alphapose_file(path: Path, frames=range(FRAMES), people=1, edit=None) -> Path:
    """alphapose-results.json (Halpe-26, untracked); ``edit(entry)`` may change each entry."""
    entries = []
    for frame in frames:
        for number in range(people):
            entry = {"image_id": f"{frame}.jpg", "category_id": 1, "score": 2.5, "idx": [0.0],
                     "keypoints": _flat(person("halpe26", frame, shift=60.0 * number))}
            if edit:
                edit(entry)
            entries.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))
    return path


def mmpose_file(path: Path, frames=range(FRAMES), edit=None) -> Path:
    """MMPose predictions (COCO-17); ``edit(frame entry)`` may change each frame."""
    entries = []
    for frame in frames:
        keypoints = person("coco", frame)
        entry = {"frame_id": frame, "instances": [{"keypoints": keypoints[:, :2].tolist(),
                                                   "keypoint_scores": keypoints[:, 2].tolist()}]}
        if edit:
            edit(entry)
        entries.append(entry)
    path.write_text(json.dumps(entries))
    return path


def yolo_folder(folder: Path, frames=range(FRAMES), extra="") -> Path:
    """Ultralytics save_txt labels (COCO-17 x y visibility, normalized); ``extra`` ends each line."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        keypoints = person("coco", frame) / [WIDTH, HEIGHT, 1]
        values = [0, 0.5, 0.4, 0.2, 0.6, *keypoints.ravel()]
        (folder / f"clip_{frame}.txt").write_text(" ".join(f"{v:.6f}" for v in values) + extra + "\n")
    return folder


def mediapipe_file(path: Path, frames=range(FRAMES), prefix: bytes = b"") -> Path:
    """The landmark CSV (normalized image landmarks), optionally preceded by ``prefix`` (a BOM)."""
    names = [name.upper().replace("L_", "LEFT_", 1) if name.startswith("l_") else
             name.upper().replace("R_", "RIGHT_", 1) if name.startswith("r_") else name.upper()
             for name in layouts.LAYOUTS["mediapipe33"].joints]
    lines = ["frame_number,landmark,x,y,z,visibility"]
    for frame in frames:
        keypoints = person("mediapipe33", frame)
        lines += [f"{frame},{name},{x / WIDTH:.6f},{y / HEIGHT:.6f},0.0,0.9" for name, (x, y, _) in zip(names, keypoints)]
    path.write_bytes(prefix + ("\n".join(lines) + "\n").encode())
    return path


def plain_npz(path: Path, frames: int = FRAMES) -> Path:
    """A plain keypoint npz (Human3.6M-17 by the COCO conversion of the standing person)."""
    coco = np.stack([person("coco", f) for f in range(frames)])
    pixels, confidence = layouts.coco_to_h36m(coco[..., :2], coco[..., 2])
    np.savez(path, keypoints=np.concatenate([pixels, confidence[..., None]], axis=-1).astype(np.float32),
             width=np.float32(WIDTH), height=np.float32(HEIGHT))
    return path


def many_members(path: Path, members: int) -> Path:
    """A plain keypoint npz with ``members`` further empty members (zip64 end records past 65,535)."""
    plain_npz(path)
    with zipfile.ZipFile(path, "a") as archive:
        for index in range(members):
            archive.writestr(f"m{index}.npy", b"")
    return path


def zip_bomb(path: Path, inflated: int) -> Path:
    """An npz whose one member inflates to ``inflated`` bytes of zeros (a header claiming as much)."""
    frames = (inflated - 128) // (17 * 3 * 4)
    header = np.lib.format.magic(1, 0)
    text = repr({"descr": "<f4", "fortran_order": False, "shape": (frames, 17, 3)}).encode()
    text += b" " * (63 - (len(header) + 2 + len(text)) % 64) + b"\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("keypoints.npy", "w", force_zip64=True) as member:
            member.write(header + len(text).to_bytes(2, "little") + text)
            chunk = bytes(1 << 20)
            for _ in range(frames * 17 * 3 * 4 // len(chunk)):
                member.write(chunk)
            member.write(bytes(frames * 17 * 3 * 4 % len(chunk)))
    return path


# --- the cases ---------------------------------------------------------------------------------------
@dataclass
class Case:
    inputs: list  # paths (or globs) given to uao infer
    needle: str | None = None  # None: a finite result; else exit 1 with this in the error
    options: list = field(default_factory=list)
    batch: bool = False  # several inputs: -o is a folder and the error is the batch's summary


SIZE = ["--width", str(WIDTH), "--height", str(HEIGHT)]


def _set_joint(index, values):
    def edit(frame, entry):
        if frame == 3:
            entry["pose_keypoints_2d"][3 * index:3 * index + 3] = values
    return edit


def _deep_json(path: Path) -> Path:
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.write(b'{"version": 1.3, "people": [')
        handle.truncate(size)
    return path


def _symlink_loops(folder: Path) -> str:
    (folder / "a").mkdir(parents=True)
    plain_npz(folder / "a" / "clip.npz")
    for name, target in (("up", ".."), ("up2", "../.."), ("self", ".")):
        (folder / "a" / name).symlink_to(target)
    return str(folder / "**" / "c**.npz")  # ** inside a name is * there, as in glob


def _malformed_header(path: Path) -> Path:
    """An npz member whose header numpy 2 fails to tokenize (an unclosed bracket)."""
    text = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 17, 3), }      )   b" + b" " * 41 + b"\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("keypoints.npy", np.lib.format.magic(1, 0) + len(text).to_bytes(2, "little") + text
                         + bytes(3 * 17 * 3 * 4))
    return path


def _alphapose_per_video(folder: Path) -> Path:
    for video in ("walk", "run"):
        alphapose_file(folder / video / "alphapose-results.json")
    return folder


def _mmpose_frame(value):
    def edit(entry):
        if entry["frame_id"] == FRAMES - 1:
            entry["frame_id"] = value
    return edit


def _alphapose_idx(value):
    def edit(entry):
        entry["idx"] = value
    return edit


def _yolo_inconsistent(folder: Path) -> Path:
    yolo_folder(folder)
    with open(folder / "clip_3.txt", "a") as handle:  # one more line with the visibility column lost
        keypoints = person("coco", 3) / [WIDTH, HEIGHT, 1]
        handle.write(" ".join(f"{v:.6f}" for v in [0, 0.5, 0.4, 0.2, 0.6, *keypoints[:, :2].ravel()]) + "\n")
    return folder


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _link(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


def _corpus_with_fifo(folder: Path) -> Path:
    folder.mkdir()
    plain_npz(folder / "good.npz")
    os.mkfifo(folder / "pipe.npz")
    (folder / "zero.npz").symlink_to("/dev/zero")
    return folder


def _npz_joint(path: Path, value: float) -> Path:
    """A plain npz with one joint of one frame at ``value`` px (float64 when float32 cannot hold it)."""
    plain_npz(path)
    with np.load(path) as archive:
        arrays = dict(archive)
    keypoints = arrays["keypoints"].astype(np.float64 if value > 3.4e38 else np.float32)
    keypoints[3, 5, 0] = value
    np.savez(path, **{**arrays, "keypoints": keypoints})
    return path


def _one_person(path: Path) -> Path:
    return plain_npz(path)


GAP = {"1e7": 10 ** 7, "1e12": 10 ** 12}
CASES = {
    # 1. budget: frame numbers, sizes, special files, depth
    **{f"openpose frame {name}": (lambda d, g=gap: Case([openpose_folder(d / "clip", [*range(FRAMES), g])],
                                                       "frame numbers jump from 7 to", SIZE))
       for name, gap in GAP.items()},
    **{f"alphapose frame {name}": (lambda d, g=gap: Case([alphapose_file(d / "ap.json", [*range(FRAMES), g])],
                                                         "frame numbers jump from 7 to", SIZE))
       for name, gap in GAP.items()},
    **{f"mmpose frame {name}": (lambda d, g=gap: Case([mmpose_file(d / "mm.json", edit=_mmpose_frame(g))],
                                                      "frame numbers jump from 6 to", SIZE))
       for name, gap in GAP.items()},
    "mmpose frame 1e300": lambda d: Case([mmpose_file(d / "mm.json", edit=_mmpose_frame(1e300))],
                                         "frame numbers jump from 6 to", SIZE),
    "mmpose frame NaN": lambda d: Case([mmpose_file(d / "mm.json", edit=_mmpose_frame(float("nan")))],
                                       "frame_id: nan is not a whole number", SIZE),
    "mmpose frame inf": lambda d: Case([mmpose_file(d / "mm.json", edit=_mmpose_frame(float("inf")))],
                                       "frame_id: inf is not a whole number", SIZE),
    **{f"yolo frame {name}": (lambda d, g=gap: Case([yolo_folder(d / "labels", [*range(FRAMES), g])],
                                                    "frame numbers jump from 7 to", SIZE))
       for name, gap in GAP.items()},
    **{f"mediapipe frame {name}": (lambda d, g=gap: Case([mediapipe_file(d / "mp.csv", [*range(FRAMES), g])],
                                                         "frame numbers jump from 7 to", SIZE))
       for name, gap in GAP.items()},
    "npz zip bomb (300 MiB of zeros)": lambda d: Case([zip_bomb(d / "bomb.npz", 300 << 20)],
                                                       "(its arrays, inflated)"),
    "npz with 5,000 members": lambda d: Case([many_members(d / "many.npz", 5000)], "5,003 arrays (zip members)"),
    "sparse 2 GB JSON": lambda d: Case([_sparse(d / "big.json", 2 << 30)], "more than the 256 MiB", SIZE),
    "deeply nested JSON": lambda d: Case([_deep_json(d / "deep.json")], "nests its JSON deeper", SIZE),
    "FIFO": lambda d: Case([_fifo(d / "pipe.json")], "is a FIFO (named pipe)", SIZE),
    "link to /dev/zero (.json)": lambda d: Case([_link(d / "zero.json", "/dev/zero")], "is a character device", SIZE),
    "link to /dev/zero (.npz)": lambda d: Case([_link(d / "zero.npz", "/dev/zero")], "is a character device"),
    "link loop": lambda d: Case([_link(d / "loop.json", "loop.json")], "cannot be read", SIZE),
    "corpus with a FIFO and /dev/zero": lambda d: Case([_corpus_with_fifo(d / "corpus")],
                                                       "2 of 3 input files failed", batch=True),
    "** glob over symlink loops": lambda d: Case([_symlink_loops(d / "tree")], batch=True),
    "list of inputs that is a FIFO": lambda d: Case([_fifo(d / "inputs.txt")], "is a FIFO (named pipe)", batch=True),
    "npz header numpy 2 cannot tokenize": lambda d: Case([_malformed_header(d / "h.npz")],
                                                          "is not a readable numpy array"),
    # 2. a missing joint however a detector spells it; ids; BOM; --person 0; YOLO field counts
    "openpose null joint": lambda d: Case([openpose_folder(d / "clip", edit=_set_joint(4, [None, None, None]))],
                                          None, SIZE),
    "openpose 1e308 px joint": lambda d: Case([openpose_folder(d / "clip", edit=_set_joint(4, [1e308, 5.0, 0.9]))],
                                              None, SIZE),
    "openpose inf joint": lambda d: Case([openpose_folder(d / "clip", edit=_set_joint(4, [float("inf"), 5.0, 0.9]))],
                                         None, SIZE),
    "openpose 0/0 joint": lambda d: Case([openpose_folder(d / "clip", edit=_set_joint(4, [0.0, 0.0, 0.9]))],
                                         None, SIZE),
    "openpose NaN confidence": lambda d: Case([openpose_folder(d / "clip",
                                                               edit=_set_joint(4, [430.0, 370.0, float("nan")]))],
                                              None, SIZE),
    "openpose NaN person_id": lambda d: Case([openpose_folder(
        d / "clip", edit=lambda f, e: e.update(person_id=[float("nan")]))], "person_id: nan is not a whole number", SIZE),
    "alphapose NaN idx": lambda d: Case([alphapose_file(d / "ap.json", edit=_alphapose_idx(float("nan")))],
                                        "idx: nan is not a whole number", SIZE),
    "alphapose inf idx": lambda d: Case([alphapose_file(d / "ap.json", edit=_alphapose_idx(float("inf")))],
                                        "idx: inf is not a whole number", SIZE),
    "mmpose null coordinates": lambda d: Case([mmpose_file(
        d / "mm.json", edit=lambda e: e["instances"][0]["keypoints"].__setitem__(9, [None, None]))], None, SIZE),
    "mmpose NaN track_id": lambda d: Case([mmpose_file(
        d / "mm.json", edit=lambda e: e["instances"][0].update(track_id=float("nan")))],
        "track_id: nan is not a whole number", SIZE),
    "mediapipe CSV with a BOM": lambda d: Case([mediapipe_file(d / "mp.csv", prefix=b"\xef\xbb\xbf")], None, SIZE),
    "--person 0 on a one-person npz": lambda d: Case([_one_person(d / "one.npz")], None, ["--person", "0"]),
    **{f"--person {wanted} on a one-person npz": (lambda d, w=wanted, n=needle: Case([_one_person(d / "one.npz")], n,
                                                                                ["--person", w]))
       for wanted, needle in (("1", "no person 1; its people are 0"), ("-1", "no person -1"), ("abc", "--person takes"),
                              ("nan", "--person takes"), ("1e20", "--person takes"))},
    "npz 1e308 px joint (float64)": lambda d: Case([_npz_joint(d / "far.npz", 1e308)]),
    "npz 3e38 px joint (float32)": lambda d: Case([_npz_joint(d / "far.npz", 3e38)]),
    "yolo line with 4 stray values": lambda d: Case([yolo_folder(d / "labels", extra=" 0.1 0.2 0.3 0.4")],
                                                    "fit no YOLO-pose keypoint count", SIZE),
    "yolo folder with inconsistent field counts": lambda d: Case([_yolo_inconsistent(d / "labels")],
                                                                 "a stray or lost value", SIZE),
    "alphapose results one folder per video": lambda d: Case([_alphapose_per_video(d / "videos")], None, SIZE,
                                                             batch=True),
}
