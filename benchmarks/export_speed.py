"""Export time of the embedded model, side by side: `uao export` of two checkouts, run in turns.

    python benchmarks/export_speed.py --before /path/to/old/checkout --out benchmarks/results

Each run is a fresh `uao export` process with PYTHONPATH on its checkout (the embedded model, K = 4,
every objective, verified): wall time, CPU time of the process and its children (user + sys), and
the load average before and after, since on a shared machine the wall time says little alone. The
runs alternate (before, after, before, after, ...), so both see the same load. The progress lines
of the newer exporter (one per graph, with its time) are kept in the report.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run_export(checkout: Path, workers: int | None) -> dict:
    """One `uao export` of ``checkout`` into a temporary folder: wall, CPU and load."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    if workers:
        env["UAO_EXPORT_WORKERS"] = str(workers)
    with tempfile.TemporaryDirectory(prefix="uao-export-speed-") as out:
        load_before = os.getloadavg()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "uao_deploy", "export", "--out", f"{out}/export"], env=env,
                              cwd=checkout, capture_output=True, text=True)  # -m puts the cwd first on the path
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"export of {checkout} failed:\n{done.stderr[-2000:]}")
    return {"checkout": str(checkout), "wall_s": round(wall, 1),
            "cpu_s": round(after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime, 1),
            "load_before": [round(value, 2) for value in load_before],
            "load_after": [round(value, 2) for value in os.getloadavg()],
            "progress": [line.strip() for line in done.stderr.splitlines() if line.startswith("  ")]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the older checkout (its repository root)")
    parser.add_argument("--after", type=Path, default=HERE, help="the newer checkout (default: this one)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each, in turns")
    parser.add_argument("--workers", type=int, default=None, help="UAO_EXPORT_WORKERS for the newer checkout")
    parser.add_argument("--out", type=Path, default=HERE / "benchmarks" / "results")
    args = parser.parse_args(argv)

    rows = []
    for turn in range(args.runs):
        for label, checkout in (("before", args.before), ("after", args.after)):
            row = {"label": label, "turn": turn, **run_export(checkout.resolve(), args.workers if label == "after" else None)}
            rows.append(row)
            print(f"{label:6s} wall {row['wall_s']:6.1f} s  cpu {row['cpu_s']:6.1f} s  load {row['load_before'][0]:.1f}"
                  f" -> {row['load_after'][0]:.1f}", flush=True)
    report = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "cpu": platform.processor(),
              "cores": len(os.sched_getaffinity(0)), "rows": rows}
    for label in ("before", "after"):
        mine = [row for row in rows if row["label"] == label]
        report[label] = {key: sum(row[key] for row in mine) / len(mine) for key in ("wall_s", "cpu_s")}
    report["ratio_wall"] = report["before"]["wall_s"] / report["after"]["wall_s"]
    report["ratio_cpu"] = report["before"]["cpu_s"] / report["after"]["cpu_s"]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{dt.datetime.now():%Y-%m-%d-%H%M}_export_speed.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"before/after: wall {report['ratio_wall']:.2f}x, cpu {report['ratio_cpu']:.2f}x; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
