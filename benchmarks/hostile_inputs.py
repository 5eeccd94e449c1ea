"""Every hostile input of tests/hostile_files.py, and inputs of about 10 MB, through the real
``uao infer`` in a fresh process each: exit status, stderr lines, traceback, time and peak memory
(the child's maximum resident set, from wait4) and CPU seconds (less
sensitive than wall time to a loaded machine). Issue 27's targets: a finite result or exit 1 with
one line, no traceback, <= 30 s and <= 1 GiB for any input of <= 10 MB.

    python benchmarks/hostile_inputs.py [--only TEXT] [--out benchmarks/results/<date>_hostile_inputs.md]

Lifts with a small random model (torch backend, 32 channels, 1 block, 1 TTO iteration): the cost
measured is reading, checking and refusing, which does not depend on the model.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402

import hostile_files as H  # noqa: E402

TEN_MB = 10 << 20
LIMIT_S = 600  # a case still running then is killed and counted a defect


def _alphapose_10mb(folder: Path) -> H.Case:
    """One person in every frame (Halpe-26, untracked): as many frames as fill 10 MB."""
    entry = len(json.dumps({"image_id": "10000.jpg", "category_id": 1, "score": 2.5, "idx": [0.0],
                            "keypoints": H._flat(H.person("halpe26", 7))})) + 2
    return H.Case([H.alphapose_file(folder / "long.json", range(TEN_MB // entry))], None, H.SIZE)


def _crowd_10mb(folder: Path) -> H.Case:
    """3000 untracked people in each of a few frames (AlphaPose, Halpe-26, 12 px tall on a grid over
    the image): track linking's cost."""
    small = H.person("halpe26")
    small[:, :2] = (small[:, :2] - small[:, :2].min(axis=0)) / 40
    corners = np.stack(np.meshgrid(np.arange(60) * 16.0, np.arange(50) * 19.0), -1).reshape(-1, 2) + 20
    people = [H._flat(small + [*corner, 0]) for corner in corners]
    frames = max(1, TEN_MB // len(json.dumps(people)))
    entries = [{"image_id": f"{frame}.jpg", "category_id": 1, "score": 2.5, "idx": [0.0], "keypoints": keypoints}
               for frame in range(frames) for keypoints in people]
    (folder / "crowd.json").write_text(json.dumps(entries))
    return H.Case([folder / "crowd.json"], None, H.SIZE)


def _scattered_10mb(folder: Path) -> H.Case:
    """An OpenPose folder of 10 MB whose one person per frame jumps across the image every frame:
    every detection a track of its own, tracks x frames beyond the budget."""
    rng = np.random.default_rng(0)
    frames = TEN_MB // 1400

    def scatter(frame, entry):
        values = np.reshape(entry["pose_keypoints_2d"], (-1, 3))
        values[:, :2] = (values[:, :2] - 400) * 0.1 + rng.uniform(50, 950, 2)
        entry["pose_keypoints_2d"] = H._flat(values)

    return H.Case([H.openpose_folder(folder / "scattered", range(frames), edit=scatter)], "would take", H.SIZE)


LARGE = {"AlphaPose 10 MB, one person": _alphapose_10mb, "AlphaPose 10 MB, 3000 people a frame": _crowd_10mb,
         "OpenPose 10 MB, a new track each frame": _scattered_10mb}


def run_case(name: str, build, checkpoint: Path, work: Path) -> dict:
    folder = work / re.sub(r"[^A-Za-z0-9]+", "_", name)  # no glob characters in the folders
    (folder / "in").mkdir(parents=True)
    case = build(folder / "in")
    size = sum(path.lstat().st_size for path in (folder / "in").rglob("*") if path.is_file() and not path.is_symlink())
    out = folder / "out" if case.batch else folder / "out" / "result.npz"
    command = [sys.executable, "-m", "uao_deploy", "infer", *map(str, case.inputs), "-o", str(out), "--backend",
               "torch", "--checkpoint", str(checkpoint), "--tto-iters", "1", "--no-progress", *case.options]
    with open(folder / "stdout", "wb") as stdout, open(folder / "stderr", "wb") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        finished = _wait(child, LIMIT_S)
        if not finished:
            child.kill()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        seconds = time.perf_counter() - started
    code = child.returncode if finished else f"killed at {LIMIT_S} s"
    error = (folder / "stderr").read_text(errors="replace")
    lines = [line for line in error.splitlines() if line.strip() and not line.startswith("Note:")]
    expected = "finite result" if case.needle is None else f"exit 1: {case.needle}"
    good = (code == 0) if case.needle is None else (code == 1 and len(lines) == 1 and case.needle in error)
    return {"case": name, "input MB": size / (1 << 20), "expected": expected, "exit": code,
            "stderr lines": len(lines), "traceback": "Traceback" in error, "seconds": seconds,
            "cpu s": usage.ru_utime + usage.ru_stime, "peak MiB": usage.ru_maxrss / 1024,
            "verdict": "ok" if good and "Traceback" not in error else "DEFECT",
            "error": lines[-1][:160] if lines else ""}


def _wait(child, seconds: float) -> bool:
    """Whether the child ended within ``seconds`` (it is not reaped: wait4 does that)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--out", type=Path, help="write the table (markdown) and the rows (json beside it) here")
    args = parser.parse_args()
    cases = {**H.CASES, **LARGE}
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        checkpoint = work / "small.pth"
        # In a child: linux keeps a process's peak memory across exec, so a parent holding torch
        # would set every case's floor.
        subprocess.run([sys.executable, "-c", "import torch; from uao_deploy.model import GUMLP, GUMLPConfig, "
                        "save_checkpoint; torch.manual_seed(0); "
                        f"save_checkpoint(GUMLP(GUMLPConfig(channels=32, layers=1)).eval(), {str(checkpoint)!r})"],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        for name, build in cases.items():
            if args.only in name:
                rows.append(run_case(name, build, checkpoint, work))
                row = rows[-1]
                print(f"{row['verdict']:6s} {row['seconds']:6.1f} s {row['peak MiB']:7.0f} MiB  exit {row['exit']}  "
                      f"{name}: {row['error']}", flush=True)
    header = ["case", "input MB", "expected", "exit", "stderr lines", "traceback", "seconds", "cpu s", "peak MiB",
              "verdict"]
    table = [f"# uao infer on hostile inputs ({time.strftime('%Y-%m-%d')})", "",
             f"- machine: {os.cpu_count()} logical cores, load average {load:.2f} at start, "
             f"{os.getloadavg()[0]:.2f} at the end (shared by other jobs)",
             f"- python {sys.version.split()[0]}, numpy {np.__version__}; each case a fresh `uao infer` process "
             "(torch backend, a 32-channel 1-block model, --tto-iters 1); peak MiB = the child's max RSS, "
             "cpu s = its user + system time",
             f"- {sum(r['verdict'] == 'ok' for r in rows)} of {len(rows)} cases as expected", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        table.append("| " + " | ".join(f"{row[key]:.1f}" if isinstance(row[key], float) else str(row[key])
                                       for key in header) + " |")
    print("\n".join(table))
    if args.out:
        args.out.write_text("\n".join(table) + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
