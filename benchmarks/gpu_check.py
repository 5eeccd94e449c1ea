"""GPU check and benchmark: every backend on the GPU against the seed's loop and the CPU reference.

On a machine with an NVIDIA GPU, from the repository root (one command, written to finish within
about 6 minutes on an H100):

    python benchmarks/gpu_check.py --out benchmarks/results/gpu

1. ``environment.json``: GPU, driver, CUDA, torch, onnxruntime and its providers.
2. Correctness (``gpu_check_<part>.json``): a small model exported to ONNX (and TensorRT engines where
   TensorRT is installed) with a small optimization profile, so big batches are split; forward,
   fused TTO, the host step loop and TTO with another iteration count on every backend it can start,
   each against the PyTorch CPU reference within the "fp32-gpu" tolerances of uao_deploy.compare.
3. Speed: ``uao bench --preset gpu`` for the embedded model and the 512-channel seed-format
   weights at batch 1, 64, 1024 and 8192: the seed's eager loop on CUDA (the baseline),
   uao_deploy.tto frozen on CUDA, under torch.compile with CUDA graphs, bf16/fp16 steps, ONNX
   Runtime's CUDA provider on the fused and step graphs, TensorRT; p50/p99, poses/s, the ratio to
   the seed loop and the mm difference to float32 on the CPU (markdown, JSON, PNG).

``--part torch`` runs only the PyTorch rows (and the seed loop), which need nothing beyond torch;
``--part graphs`` the ONNX Runtime and TensorRT rows with the seed loop; both write their own files.

A backend whose package or device is missing becomes a "skipped" row, never a crash; on a machine
without a GPU every GPU row is skipped, which is how the script is tested. Exit status 1 when a
correctness row fails or exceeds its tolerance.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from uao_deploy import bench, compare, engines
from uao_deploy.contract import FRAME, GRAPHS, MODEL_GRAPH
from uao_deploy.errors import UaoError, one_line
from uao_deploy.export import export_onnx
from uao_deploy.export.tensorrt import build_engines
from uao_deploy.inputs import sample_keypoints
from uao_deploy.runtimes import FLAVOURS
from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint

SEED_CHECKPOINT = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "gumlp_seed_format.pth"
# --part: the PyTorch rows need only the machine's torch, the graph rows onnxruntime-gpu (or TensorRT),
# so a machine can give the first while the second is still being brought (benchmarks/gpu_device.sh).
PARTS = {"torch": ("seed-cuda", "torch-cuda", "torch-cuda-graphs", "torch-cuda-bf16", "torch-cuda-fp16"),
         "graphs": ("seed-cuda", "onnxruntime-cuda", "tensorrt"),
         "all": bench.GPU_BACKENDS}
# GPU engines against PyTorch on the CPU: the "fp32-gpu" row of the one tolerance table.
TOLERANCES = compare.TOLERANCES["fp32-gpu"]


def timed(call, repeat: int):
    """Result of call() and its mean wall time in ms after one warm-up (engines return host arrays)."""
    result = call()
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return result, (time.perf_counter() - start) / repeat * 1e3


# operation -> (the graph output it yields, how an engine runs it on (x, cam, root))
OPERATIONS = {
    "forward": ((MODEL_GRAPH, "mu"), lambda engine, x, cam, root: engine.forward(x)),
    "tto": ((FRAME.fused, "pose"), lambda engine, *inputs: engine.tto(*inputs)),
    "tto_step_loop": ((FRAME.fused, "pose"), lambda engine, *inputs: engine.tto(*inputs, fused=False)),
    "tto_iters2": ((FRAME.fused, "pose"), lambda engine, *inputs: engine.tto(*inputs, iters=2)),
}


def check(engine, reference: dict, inputs, repeat: int) -> dict:
    """Each operation compared with the reference (:func:`uao_deploy.compare.compare_outputs`), with
    its ms per call and which TTO path ran."""
    row = {"describe": engine.describe()}
    for name, ((graph, output), call) in OPERATIONS.items():
        result, ms = timed(lambda: call(engine, *inputs), repeat)
        checks = compare.compare_outputs(GRAPHS[graph], {output: result}, {output: reference[name]}, TOLERANCES)
        row[name] = {**checks[0], "ms": round(ms, 3), "path": engine.last_tto_path if name != "forward" else None}
    return row


def environment() -> dict:
    """GPU, driver, CUDA and library versions, for the results' readers."""
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": None, "driver": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
    try:
        info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import onnxruntime
        info["onnxruntime"] = onnxruntime.__version__
        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        info["onnxruntime"] = None
    return info


def correctness(out: Path, checkpoint, batch: int, repeat: int, flavour, part: str) -> bool:
    """The part's backends against the CPU reference on a small model; True when all rows pass or skip."""
    setups = {"torch-cuda": lambda: engines.load(checkpoint, device="cuda")} if part != "graphs" else {}
    if part != "torch":
        export_onnx(checkpoint, out / "onnx")
        setups.update({
            "onnxruntime-cpu": lambda: engines.load(out / "onnx", providers="cpu"),
            "onnxruntime-cuda": lambda: engines.load(out / "onnx", providers="cuda"),
            "onnxruntime-tensorrt": lambda: engines.load(out / "onnx", providers="tensorrt"),
        })
        try:
            build_engines(out / "onnx", out / "engines", profile=(1, 8, 16), flavour=flavour)
            setups["tensorrt"] = lambda: engines.load(out / "engines")
            setups["tensorrt-cuda-graphs"] = lambda: engines.load(out / "engines", cuda_graphs=True)
        except UaoError as exc:
            print(f"TensorRT engines not built: {exc}")

    inputs = sample_keypoints(batch)
    reference_engine = engines.load(checkpoint)
    reference = {name: call(reference_engine, *inputs) for name, (_, call) in OPERATIONS.items()}
    reference["tto_step_loop"] = reference["tto"]  # the host loop must give the fused result

    rows, failed = {}, False
    for name, setup in setups.items():
        try:
            with setup() as engine:
                rows[name] = check(engine, reference, inputs, repeat)
        except UaoError as exc:  # no GPU, no onnxruntime-gpu, no TensorRT: this row is skipped
            rows[name] = {"error": str(exc), "skipped": True}
        except Exception as exc:  # one row per backend: a failure is reported, the others still run
            rows[name] = {"error": one_line(exc), "skipped": False}
        row = rows[name]
        if "error" in row:
            failed |= not row["skipped"]
            print(f"{name:22s} {'SKIP' if row['skipped'] else 'ERROR'} {row['error']}")
            continue
        for operation, result in row.items():
            if operation == "describe":
                continue
            failed |= not result["passed"]
            print(f"{name:22s} {operation:14s} max|diff| {result['max_diff']:.2e} (<= {result['tolerance']:.0e} "
                  f"{'ok' if result['passed'] else 'FAIL'})  {result['ms']:8.2f} ms  path={result['path']}")
    (out / f"gpu_check_{part}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return not failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu"))
    parser.add_argument("--seed-checkpoint", type=Path, default=SEED_CHECKPOINT,
                        help="512-channel seed-format weights (default: ../shared/reference's, else random ones)")
    parser.add_argument("--batch", type=int, default=40, help="correctness: frames per call (above the profile max 16)")
    parser.add_argument("--repeat", type=int, default=5, help="correctness: timed calls per operation")
    parser.add_argument("--batches", default="1,64,1024,8192", help="benchmark batch sizes")
    parser.add_argument("--seconds", type=float, default=0.5, help="benchmark: timed seconds per row and batch")
    parser.add_argument("--flavour", choices=FLAVOURS, help="TensorRT flavour to build with (default: the exporter's choice)")
    parser.add_argument("--part", choices=PARTS, default="all",
                        help="torch: the PyTorch rows only; graphs: ONNX Runtime and TensorRT (with the seed loop)")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "environment.json").write_text(json.dumps(environment(), indent=2) + "\n")
    torch.manual_seed(0)
    small = save_checkpoint(GUMLP(GUMLPConfig(channels=64, layers=1)), args.out / "small.pth")
    passed = correctness(args.out, small, args.batch, args.repeat, args.flavour, args.part)

    seed_weights = args.seed_checkpoint
    if not seed_weights.is_file():  # speed only: random weights of the seed's shape
        seed_weights = save_checkpoint(GUMLP(GUMLPConfig(channels=512, layers=3)), args.out / "seed_shape.pth")
    batches = tuple(int(part) for part in args.batches.split(","))
    for checkpoint in (None, seed_weights):
        report = bench.run_benchmark(checkpoint, PARTS[args.part], batches, seconds=args.seconds,
                                     log=lambda line: print(line, flush=True))
        paths = bench.write_results(report, args.out)
        print(bench.format_table(report))
        print(f"wrote {paths['markdown']}")
    print(f"details: {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
