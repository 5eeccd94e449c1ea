"""GPU check of the engines: export a model, build TensorRT engines, compare every backend.

On a machine with an NVIDIA GPU, from the repository root:

    python benchmarks/gpu_check.py --out runs/gpu_check

It exports ONNX graphs and TensorRT engines with a small optimization profile (so big batches are
split into chunks), then runs forward, fused TTO, the host step loop and TTO with another iteration
count on every backend it can start. Each row reports the backend's describe(), the largest
difference to the PyTorch CPU reference and the time per call; a failing backend gets its own
error row. Exit status 1 when any row fails or exceeds its tolerance.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from uao_deploy import engines
from uao_deploy import compare
from uao_deploy.errors import UaoError
from uao_deploy.export import export_onnx
from uao_deploy.export.tensorrt import build_engines
from uao_deploy.runtimes import FLAVOURS
from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint

# GPU engines against PyTorch on the CPU: the "fp32-gpu" row of the one tolerance table.
TOLERANCES = compare.TOLERANCES["fp32-gpu"]
# Rows that need an optional package (onnxruntime-gpu): a UaoError there is reported as skipped.
OPTIONAL = {"onnxruntime-cuda", "onnxruntime-tensorrt"}


def timed(call, repeat: int):
    """Result of call() and its mean wall time in ms after one warm-up (engines return host arrays)."""
    result = call()
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return result, (time.perf_counter() - start) / repeat * 1e3


def check(engine, reference: dict, inputs, repeat: int) -> dict:
    """Max |difference| to the reference and ms per call for each operation; which TTO path ran."""
    x = inputs[0]
    operations = {
        "forward": lambda: engine.forward(x),
        "tto": lambda: engine.tto(*inputs),
        "tto_step_loop": lambda: engine.tto(*inputs, fused=False),
        "tto_iters2": lambda: engine.tto(*inputs, iters=2),
    }
    row = {"describe": engine.describe()}
    for name, call in operations.items():
        result, ms = timed(call, repeat)
        row[name] = {"max_abs_diff": compare.max_abs(result, reference[name]), "ms": round(ms, 3),
                     "path": engine.last_tto_path if name != "forward" else None}
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="GUMLP checkpoint (default: a random 64-channel model)")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_check"))
    parser.add_argument("--batch", type=int, default=40, help="frames per call (above the profile max of 16)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--flavour", choices=FLAVOURS, help="TensorRT flavour to build with (default: the exporter's choice)")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint
    if checkpoint is None:
        torch.manual_seed(0)
        checkpoint = save_checkpoint(GUMLP(GUMLPConfig(channels=64, layers=1)), args.out / "small.pth")
    export_onnx(checkpoint, args.out / "onnx")
    build_engines(args.out / "onnx", args.out / "engines", profile=(1, 8, 16), flavour=args.flavour)

    inputs = compare.sample_keypoints(args.batch)
    reference_engine = engines.load(checkpoint)
    reference = {"forward": reference_engine.forward(inputs[0]), "tto": reference_engine.tto(*inputs),
                 "tto_iters2": reference_engine.tto(*inputs, iters=2)}
    reference["tto_step_loop"] = reference["tto"]  # the host loop must give the fused result

    setups = {
        "torch-cuda": lambda: engines.load(checkpoint, device="cuda"),
        "onnxruntime-cpu": lambda: engines.load(args.out / "onnx", providers="cpu"),
        "onnxruntime-cuda": lambda: engines.load(args.out / "onnx", providers="cuda"),
        "onnxruntime-tensorrt": lambda: engines.load(args.out / "onnx", providers="tensorrt"),
        "tensorrt": lambda: engines.load(args.out / "engines"),
        "tensorrt-cuda-graphs": lambda: engines.load(args.out / "engines", cuda_graphs=True),
    }
    rows, failed = {}, False
    for name, setup in setups.items():
        try:
            with setup() as engine:
                rows[name] = check(engine, reference, inputs, args.repeat)
        except UaoError as exc:
            rows[name] = {"error": str(exc), "skipped": name in OPTIONAL}
        except Exception as exc:  # one row per backend: a failure is reported, the others still run
            rows[name] = {"error": f"{type(exc).__name__}: {exc}", "skipped": False}
        row = rows[name]
        if "error" in row:
            failed |= not row["skipped"]
            print(f"{name:22s} {'SKIP' if row['skipped'] else 'ERROR'} {row['error']}")
            continue
        for operation, result in row.items():
            if operation == "describe":
                continue
            bound = TOLERANCES.forward if operation == "forward" else TOLERANCES.pose
            ok = result["max_abs_diff"] <= bound
            failed |= not ok
            print(f"{name:22s} {operation:14s} max|diff| {result['max_abs_diff']:.2e} (<= {bound:.0e} "
                  f"{'ok' if ok else 'FAIL'})  {result['ms']:8.2f} ms  path={result['path']}")
    (args.out / "gpu_check.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"details: {args.out / 'gpu_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
