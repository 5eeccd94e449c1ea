"""The report as a table, markdown, JSON and a plot under benchmarks/results/."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..fileio import atomic_write_bytes
from .flops import TASKS
from .profile import format_profile

COLUMNS = (  # (header, row key, format)
    ("backend", "backend", "{}"), ("path", "path", "{}"), ("task", "task", "{}"), ("device", "device", "{}"),
    ("prec", "precision", "{}"), ("batch", "batch", "{}"), ("p50 ms", "p50_ms", "{:.2f}"),
    ("p90 ms", "p90_ms", "{:.2f}"), ("p99 ms", "p99_ms", "{:.2f}"), ("poses/s", "poses_per_s", "{:.1f}"),
    ("GFLOP/s", "gflop_per_s", "{:.1f}"), ("% peak", "share_of_peak", "{:.1%}"),
    ("x seed", "speedup_vs_seed", "{:.2f}"), ("max diff mm", "diff_max_mm", "{:.3f}"),
    ("mean diff mm", "diff_mean_mm", "{:.3f}"), ("extra MiB", "extra_memory_mb", "{:.0f}"),
)


def _cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [fmt.format(row[key]) if key in row else "" for _, key, fmt in COLUMNS[:6]] + [row["error"]]
    return [fmt.format(row[key]) if row.get(key) is not None else "-" for _, key, fmt in COLUMNS]


def format_row(row: dict) -> str:
    return "  ".join(_cells(row))


def format_table(report: dict) -> str:
    """Fixed-width text table of every row, then the skipped backends."""
    table = [[header for header, _, _ in COLUMNS]] + [_cells(row) for row in report["rows"]]
    # an error message fills the rest of its line and does not widen the columns it passes over
    widths = [max(len(cells[i]) for cells in table if len(cells) == len(COLUMNS)) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(cells)).rstrip()
             for cells in table]
    lines.insert(1, "-" * len(lines[0]))
    lines += [f"skipped {entry['backend']}: {entry['reason']}" for entry in report["skipped"]]
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    """The report as a self-contained markdown page (machine, settings, counting rule, tables)."""
    machine, settings = report["machine"], report["settings"]
    flops = report["flops_per_pose"]
    gpu = f", GPU {machine['gpu']} (CUDA {machine['cuda']})" if machine.get("gpu") else ", no GPU"
    repeats = settings.get("repeats", settings.get("iters"))  # "iters" in reports of earlier releases
    timing = (f"{repeats} timed calls" if repeats
              else f"at least {settings['seconds']:g} s and 3 calls")
    lines = [
        f"# uao bench: {model_label(report['checkpoint'])}, {report['date'][:10]}",
        "",
        f"- machine: {machine['cpu']} ({', '.join(machine['cpu_features']) or 'no AVX2'}), "
        f"{machine['logical_cores']} logical cores, {settings['threads']} threads used"
        f"{gpu}; load average at start {machine['load_average'][0]:.2f}",
        f"- software: torch {machine['torch']}, onnxruntime {machine.get('onnxruntime')}, python {machine['python']}",
        f"- checkpoint: `{Path(report['checkpoint']['path']).name}` (sha256 {report['checkpoint']['sha256'][:12]}), "
        f"TTO {report['tto']['iters']} iterations, flip {report['tto']['flip']}",
        f"- inputs: {report['inputs']}",
        f"- timing: {settings['warmup']} warm-up call(s), then {timing} per row, all rows of a batch size "
        "timed in turns; throughput = batch / p50",
        f"- FLOPs per pose: forward {flops['forward'] / 1e6:.1f} M, eval {flops['eval'] / 1e9:.3f} G, "
        f"TTO {flops['tto'] / 1e9:.3f} G (counting rule in `uao_deploy/bench/__init__.py`)",
        "- peak (best 2048^3 matrix product of probes at the start and after each batch size): "
        + ", ".join(f"{key} {value:.0f} GFLOP/s" for key, value in report["peak_gflop_per_s"].items()),
        "- `x seed`: the seed loop's p50 (seed-eager, or seed-cuda for GPU rows) over this row's, same task and batch; `max diff mm`: largest "
        "coordinate difference to PyTorch float32 on the same inputs; `mean diff mm`: mean joint distance to it; "
        "`extra MiB`: peak resident memory of the row above what the process held before it",
        "",
    ]
    if not report.get("complete", True):
        lines[1:1] = ["", "**Partial run**: the rows below are all that finished.", ""]
    for task in TASKS:
        rows = [row for row in report["rows"] if row["task"] == task]
        if not rows:
            continue
        lines += [f"## {'Evaluation (flip-averaged forward)' if task == 'eval' else 'TTO'}", ""]
        headers = [header for header, _, _ in COLUMNS if header != "task"]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "---|" * len(headers))
        for row in rows:
            cells = [cell for (header, _, _), cell in zip(COLUMNS, _cells(row)) if header != "task"]
            if row["status"] != "ok":
                cells = cells[:5] + [row["error"]] + [""] * (len(headers) - 6)
            lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
        lines.append("")
    if report["skipped"]:
        lines += ["## Skipped", ""] + [f"- {entry['backend']}: {entry['reason']}" for entry in report["skipped"]] + [""]
    if "profile" in report:
        lines.append(format_profile(report["profile"]))
    return "\n".join(lines)


def result_stem(report: dict) -> str:
    """``<date>-<hhmm>_<machine>_<model>``, e.g. ``2026-11-24-0303_amd-epyc-2c_gumlp256x3``."""
    machine = report["machine"]
    name = re.sub(r"[^a-z0-9]+", "-", machine["cpu"].lower()).strip("-")[:24] + f"-{machine['logical_cores']}c"
    if machine.get("gpu"):
        name += "_" + re.sub(r"[^a-z0-9]+", "-", machine["gpu"].lower()).strip("-")[:24]
    started = report["date"][:10] + "-" + report["date"][11:16].replace(":", "")
    return f"{started}_{name}_{model_label(report['checkpoint'])}"


def model_label(checkpoint: dict) -> str:
    """The lifter in a file name: its architecture and integer sizes, e.g. ``gumlp256x3``, ``martinez512x2``."""
    config = checkpoint.get("config") or {}
    name = re.sub(r"[^a-z0-9]+", "-", checkpoint.get("architecture", {}).get("name", "gumlp").lower()).strip("-")
    sizes = [config["channels"], config["layers"]] if "channels" in config else config.values()
    return name + "x".join(str(size) for size in sizes if isinstance(size, int) and not isinstance(size, bool))


def plot(report: dict, path: Path) -> Path | None:
    """Poses per second against batch size, one line per backend path, one panel per task, written
    to ``path``; None without matplotlib (the [viz] extra)."""
    try:
        import matplotlib
    except ImportError:
        return None

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import NullLocator

    figure, axes = pyplot.subplots(1, len(TASKS), figsize=(12, 4.5))
    for axis, task in zip(axes, TASKS):
        series = {}
        for row in report["rows"]:
            if row["task"] == task and row["status"] == "ok":
                series.setdefault(f"{row['backend']} {row['path']} ({row['device']})", []).append(
                    (row["batch"], row["poses_per_s"]))
        for label, points in series.items():
            axis.plot(*zip(*sorted(points)), marker="o", label=label)
        axis.set(xscale="log", yscale="log", xlabel="batch", ylabel="poses / s",
                 title="evaluation (flip)" if task == "eval" else f"TTO, {report['tto']['iters']} iterations")
        axis.set_xticks(report["settings"]["batches"], [str(b) for b in report["settings"]["batches"]])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.grid(True, which="both", alpha=0.3)
        if series:
            axis.legend(fontsize=7)
    figure.suptitle(f"{result_stem(report)} ({report['settings']['threads']} threads)", fontsize=9)
    figure.tight_layout()
    atomic_write_bytes(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    pyplot.close(figure)
    return path


def write_results(report: dict, out_dir) -> dict[str, Path]:
    """Markdown, JSON and PNG named by date, machine and model under ``out_dir``, plus latest.md.

    Without matplotlib (the [viz] extra) there is no PNG, and ``paths["png"]`` is None."""
    out_dir = Path(out_dir)
    stem = result_stem(report)
    markdown = format_markdown(report)
    paths = {"markdown": out_dir / f"{stem}.md", "json": out_dir / f"{stem}.json", "png": out_dir / f"{stem}.png",
             "latest": out_dir / "latest.md"}
    for key, text in (("markdown", markdown), ("json", json.dumps(report, indent=2) + "\n"), ("latest", markdown)):
        atomic_write_bytes(paths[key], lambda tmp, text=text: Path(tmp).write_text(text))
    paths["png"] = plot(report, paths["png"])
    return paths
