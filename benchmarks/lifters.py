"""Speed of the package's lifters side by side: GUMLP (the embedded default) and the Martinez residual
MLP (or any ``--model``), plain lifting and per-frame UAO, on PyTorch and on ONNX Runtime's fused graph.

Every case runs on the same keypoints in turns (:func:`uao_deploy.bench.timing.time_interleaved`),
so the ratios share the machine's load. Prints a markdown table and writes it with a JSON beside
it under benchmarks/results/.

    python benchmarks/lifters.py --threads 1 --batch 1,64
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import torch

from uao_deploy import engines
from uao_deploy.bench import forward_flops
from uao_deploy.bench.stats import latency
from uao_deploy.bench.timing import time_interleaved
from uao_deploy.contract import TTOConfig
from uao_deploy.export.cache import exported_graphs
from uao_deploy.inputs import load_pairs, tile
from uao_deploy.model import ModelRef, resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gumlp,martinez", help="--model specs, comma-separated")
    parser.add_argument("--batch", default="1,64", help="batch sizes, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per case and batch size")
    parser.add_argument("--export", action="append", default=[], metavar="MODEL=DIR",
                        help="an export folder of MODEL to use instead of the cached export")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tto = TTOConfig()
    pairs = load_pairs()
    folders = dict(entry.split("=", 1) for entry in args.export)
    cases = {}  # (model, backend, task) -> callable(x, cam, root)
    described = {}
    for name in args.models.split(","):
        ref = ModelRef(name)
        resolved = resolve_model(ref)
        described[name] = {"architecture": resolved.architecture, "config": resolved.config,
                           "forward_mflop": forward_flops(resolved.model) / 1e6}
        folder = folders.get(name) or exported_graphs(ref, tto)
        graphs = engines.load(folder, providers="cpu", threads=args.threads)
        reference = engines.load(ref, backend="torch", tto=tto)
        for backend, engine in (("torch", reference), ("onnxruntime", graphs)):
            cases[(name, backend, "eval")] = lambda x, cam, root, engine=engine: engine.predict(x)
            cases[(name, backend, "tto")] = lambda x, cam, root, engine=engine: engine.tto(x, cam, root)
    rows = []
    for batch in (int(size) for size in args.batch.split(",")):
        x, cam, root = tile(pairs, batch)
        timed = time_interleaved([lambda call=call: call(x, cam, root) for call in cases.values()],
                                 seconds=args.seconds)
        for (name, backend, task), times in zip(cases, timed):
            p50 = latency(times).p50_ms
            rows.append({"model": name, "backend": backend, "task": task, "batch": batch, "p50_ms": p50,
                         "poses_per_s": batch / p50 * 1e3})
    baseline = {(row["backend"], row["task"], row["batch"]): row["p50_ms"] for row in rows
                if row["model"] == args.models.split(",")[0]}
    for row in rows:
        row["speedup_vs_first"] = baseline[(row["backend"], row["task"], row["batch"])] / row["p50_ms"]
    load = os.getloadavg()[0]
    lines = [f"# Lifters side by side ({dt.date.today()}, {args.threads} thread(s), load average {load:.1f}, "
             f"TTO K = {tto.iters})", "",
             "| model | forward MFLOP | backend | task | batch | p50 ms | poses/s | speed-up vs " +
             args.models.split(",")[0] + " |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {row['model']} | {described[row['model']]['forward_mflop']:.1f} | {row['backend']} | {row['task']} | "
              f"{row['batch']} | {row['p50_ms']:.2f} | {row['poses_per_s']:.0f} | {row['speedup_vs_first']:.1f}x |"
              for row in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{dt.datetime.now():%Y-%m-%d-%H%M}_lifters"
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps({"models": described, "threads": args.threads,
                                                     "load_average": load, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
