"""``uao infer`` on the real files of ../shared/data (formats, real2d): ms per frame and peak memory.

Each file is lifted by ``uao infer`` in a fresh process (``python -m uao_deploy``, as the ``uao``
command runs) on one export folder (``--engine``, so the one-time export is not timed), or without
``--engine`` on the export each code finds in its cache (``$UAO_CACHE_DIR``, filled beforehand: the
path every README command takes), and the process's peak resident memory is read from the kernel
(``os.wait4``). ``--before DIR`` runs another checkout's code (its package root) on the same files
in alternation with this one, so both see the same machine load; the ratios are after / before.
``--before-engine`` gives the before runs their own export folder (an export made by the other
checkout, or one with other graph settings; by default both use ``--engine``).

    python benchmarks/infer_real.py [--engine EXPORT_DIR] [--before OTHER_CHECKOUT] [--before-engine DIR] [--mode sequence] [--repeat N]

``--repeat N`` runs each file N times (before and after in turn) and keeps each time's best run and the
highest peak: on a machine shared with other work the best of several runs is the nearest to idle.

Writes benchmarks/results/<date>_infer_real.md and .json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report_files import write_report

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
# (name, path under ../shared/data, extra uao infer options: the image size where the file lacks it)
FILES = (
    ("skater (HRNet, real2d)", "real2d/posemamba_sample_video.npz", ["--width", "1280", "--height", "720"]),
    ("webcam (HRNet, real2d)", "real2d/posemamba_sample_video1.npz", ["--width", "1920", "--height", "1080"]),
    ("AlphaPose Halpe-26", "formats/alphapose_halpe26/alphapose-results.json", ["--width", "360", "--height", "640"]),
    ("MMPose wholebody", "formats/mmpose_wholebody/SOUP.json", ["--width", "320", "--height", "240"]),
    ("OpenPose BODY_25B", "formats/openpose_body25b_pose2sim", ["--width", "1088", "--height", "1920"]),
    ("OpenPose BODY_25", "formats/openpose_body25_slp", ["--width", "1280", "--height", "720"]),
)
LINE = re.compile(r": (\d+) frames -> .*\(([\d.]+) s, ([\d.]+) ms/frame")


def run_infer(code_root: Path, path: Path, options: list[str], engine: Path | None, mode: str) -> dict:
    """One ``uao infer`` process: frames, lift ms/frame (metadata), process wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "uao_deploy", "infer", str(path), *options, "-o", str(Path(folder) / "out.npz"),
                   *(["--engine", str(engine)] if engine else []), "--mode", mode, "--no-progress"]
        env = {**os.environ, "PYTHONPATH": str(code_root)}
        started = time.perf_counter()
        process = MeasuredPopen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=folder)
        stdout, stderr = process.communicate()
        wall = time.perf_counter() - started
    if process.returncode != 0:
        return {"error": (stderr.strip().splitlines() or ["?"])[-1]}
    lifted = [LINE.search(line) for line in stdout.splitlines()]
    lifted = [match for match in lifted if match]
    frames = sum(int(match.group(1)) for match in lifted)
    lift_s = sum(float(match.group(2)) for match in lifted)
    return {"frames": frames, "lift_ms_per_frame": 1000 * lift_s / frames, "process_s": wall,
            "process_ms_per_frame": 1000 * wall / frames, "process_cpu_s": process.cpu_s,
            "process_cpu_ms_per_frame": 1000 * process.cpu_s / frames, "peak_rss_mb": process.peak_rss_kb / 1024}


class MeasuredPopen(subprocess.Popen):
    """Popen that keeps the child's peak RSS (kB on Linux) and CPU seconds (user + system) from the
    rusage ``wait4`` reports when it is reaped."""

    peak_rss_kb = 0
    cpu_s = 0.0

    def _try_wait(self, wait_flags):
        pid, status, usage = os.wait4(self.pid, wait_flags)
        if pid:
            self.peak_rss_kb, self.cpu_s = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        return pid, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", type=Path, help="export folder (`uao export --out DIR`); default: each code's cached export")
    parser.add_argument("--before", type=Path, help="another checkout's root, run side by side with this one")
    parser.add_argument("--before-engine", type=Path, help="the before runs' export folder (default: --engine)")
    parser.add_argument("--mode", default="sequence", choices=["sequence", "frame"])
    parser.add_argument("--files", help="comma-separated substrings of the file names to keep")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each file per code; the best time is kept")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is absent: place the project's shared data folder beside the checkout")
    codes = {"after": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    exports = {"after": args.engine, "before": args.before_engine or args.engine}
    files = [entry for entry in FILES if not args.files or any(key in entry[1] for key in args.files.split(","))]
    rows, load = [], [os.getloadavg()[0]]
    for name, relative, options in files:
        row = {"file": name, "path": relative}
        runs = {label: [] for label in codes}
        for _ in range(args.repeat):
            for label, code in reversed(codes.items()):  # before first, then after, file by file
                runs[label].append(run_infer(code, SHARED / relative, options, exports[label], args.mode))
                load.append(os.getloadavg()[0])
                print(name, label, runs[label][-1], flush=True)
        rows.append({**row, **{label: best(results) for label, results in runs.items()}})
    report = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
              "load_average_1min": load, "repeat": args.repeat, "mode": args.mode,
              "engine": str(args.engine) if args.engine else f"cached export ({os.environ.get('UAO_CACHE_DIR', 'default cache')})",
              "before_engine": str(exports["before"]) if args.before and exports["before"] else None,
              "codes": {label: str(code) for label, code in codes.items()}, "rows": rows}
    write_report(args.out, f"infer_real_{args.mode}", report, markdown(report))


def best(results: list[dict]) -> dict:
    """One file's runs by one code as one result: each time's least, the highest peak, every run kept."""
    failed = [result for result in results if "error" in result]
    if failed:
        return failed[0]
    merged = {key: min(result[key] for result in results) for key in results[0]}
    merged["peak_rss_mb"] = max(result["peak_rss_mb"] for result in results)
    return {**merged, "runs": results} if len(results) > 1 else merged


def markdown(report: dict) -> str:
    load = report["load_average_1min"]
    lines = [f"# uao infer on real files, {report['mode']} mode ({report['date']})", "",
             f"{report['cores']} cores ({report['machine']}), 1-min load {min(load):.1f}-{max(load):.1f} during the "
             "run (the machine was shared; times scale with the load, ratios measured side by side do less). " +
             (f"Each time is the best of {report['repeat']} runs, the peak the highest. " if report.get("repeat", 1) > 1
              else "") +
             "Lift ms/frame from the output's metadata (reading, export and process start excluded); "
             "process ms/frame is the whole `uao infer` process, CPU ms/frame its user + system time (less "
             "sensitive to the load than wall time); peak RSS of the process.", ""]
    codes = report["codes"]
    lines += [f"Code: after {codes['after']}" + (f", before {codes['before']}" if "before" in codes else "") +
              f"; export: after {report['engine']}" + (f", before {report['before_engine']}" if report.get("before_engine")
                                                       else "") + ".", ""]
    labels = [label for label in ("before", "after") if label in report["codes"]]
    header = "| file | frames | " + " | ".join(
        f"{label} lift ms/frame | {label} process ms/frame | {label} CPU ms/frame | {label} peak RSS MB"
        for label in labels)
    if len(labels) == 2:
        header += (" | lift ratio after/before | process ratio after/before | CPU ratio after/before"
                   " | RSS ratio after/before")
    lines += [header + " |", "|" + "---|" * (2 + 4 * len(labels) + (4 if len(labels) == 2 else 0))]
    for row in report["rows"]:
        cells = [row["file"], str(row[labels[-1]].get("frames", "-"))]
        for label in labels:
            result = row[label]
            cells += ([f"{result['lift_ms_per_frame']:.1f}", f"{result['process_ms_per_frame']:.1f}",
                       f"{result['process_cpu_ms_per_frame']:.1f}", f"{result['peak_rss_mb']:.0f}"]
                      if "error" not in result else [result["error"], "-", "-", "-"])
        if len(labels) == 2 and "error" not in row["before"] and "error" not in row["after"]:
            cells += [f"{row['after'][key] / row['before'][key]:.2f}"
                      for key in ("lift_ms_per_frame", "process_ms_per_frame", "process_cpu_ms_per_frame", "peak_rss_mb")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
