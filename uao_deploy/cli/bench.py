"""``uao bench``: every backend against PyTorch eval as the seed runs it, side by side in one run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ..contract import MAX_TTO_ITERS
from ..errors import UaoError


def _integers(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None


@click.command("bench")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="GUMLP checkpoint (seed or uao format). Default: the embedded model.")
@click.option("--backends", default=None,
              help="Comma-separated subset of: seed-eager, torch, torch-compile, torch-bf16, onnxruntime, tensorrt, "
                   "torch-cuda. Default: all but torch-compile (GPU rows are skipped without a GPU).")
@click.option("--batch", "batches", default="1,8,64,512", show_default=True, help="Batch sizes, comma-separated.")
@click.option("--iters", type=int, default=None, help="Timed calls per row (default: run for --seconds).")
@click.option("--seconds", type=float, default=2.0, show_default=True,
              help="Time each row for at least this long (and 3 calls), unless --iters is given.")
@click.option("--warmup", default=1, show_default=True, help="Untimed calls before each row.")
@click.option("--tto-iters", default=4, show_default=True, type=click.IntRange(1, MAX_TTO_ITERS),
              help="UAO iterations (the fused graph is exported with it).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for every backend (default: torch's default, all cores). On a shared machine "
                   "use the cores you really have: oversubscribed threads make eager PyTorch 100x slower.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Mocap clips (.npz) for realistic inputs; default: the embedded sample.")
@click.option("--profile", "profile_batch", type=click.IntRange(min=1), default=None,
              help="Also profile TTO at this batch size (torch.profiler; ONNX Runtime's profiler on the fused "
                   "graph) and add the top operators to the markdown.")
@click.option("--out", type=click.Path(file_okay=False), default="benchmarks/results", show_default=True,
              help="Folder for the markdown table, JSON and PNG plot (named by date, machine and model).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write the full report as JSON to this file ('-' for stdout; the table then goes to stderr).")
def command(checkpoint, backends, batches, iters, seconds, warmup, tto_iters, threads, data, profile_batch, out,
            json_path):
    """Latency (p50/p90/p99), poses/s, share of the machine's FLOP limit and speed-up over the seed's eager loop."""
    from ..bench import DEFAULT_BACKENDS, format_table, profile_backends, run_benchmark, write_results
    from ..fileio import atomic_write_bytes, check_output_file, check_output_folder
    from ..jobs.verify import load_pairs

    if not (math.isfinite(seconds) and seconds > 0):
        raise UaoError(f"--seconds must be a positive number; got {seconds}")
    check_output_folder(out)
    if json_path and json_path != "-":
        check_output_file(json_path, [path for path in (checkpoint, data) if path], "--json")
    to_stderr = json_path == "-"
    chosen = tuple(name.strip() for name in backends.split(",") if name.strip()) if backends else DEFAULT_BACKENDS
    pairs = load_pairs(data)
    # results are written after every batch size, so a run cut short still leaves its rows
    report = run_benchmark(checkpoint, chosen, _integers(batches), tto_iters, iters, None if iters else seconds,
                           warmup, threads, pairs, log=lambda line: click.echo(line, err=True),
                           progress=lambda partial: write_results(partial, out))
    click.echo(format_table(report), err=to_stderr)
    if profile_batch:
        report["profile"] = profile_backends(checkpoint, profile_batch, tto_iters, threads, pairs)
    paths = write_results(report, out)
    click.echo(f"wrote {paths['markdown']}, {paths['png'].name}, {paths['json'].name} and {paths['latest'].name}",
               err=to_stderr)
    if to_stderr:
        click.echo(json.dumps(report, indent=2))
    elif json_path:
        text = json.dumps(report, indent=2) + "\n"
        atomic_write_bytes(Path(json_path), lambda tmp: Path(tmp).write_text(text))
