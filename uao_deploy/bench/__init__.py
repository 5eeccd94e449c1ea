"""``uao bench``: latency and throughput of every backend on the same inputs, side by side, in one run.

Each backend contributes *cases*: a task ("eval": the flip-averaged prediction; "tto": UAO with K
iterations) run along one path (e.g. ONNX Runtime's fused TTO graph or its step graph looped on
the host). At every batch size all cases run on the same keypoints, timed in turns
(:func:`~uao_deploy.bench.timing.time_interleaved`), so speed-ups are ratios measured side by side under the same machine
load. The baseline is the seed's loop on the same device (``seed-eager``, ``seed-cuda``): PyTorch as a
user of the seed runs it (see :class:`~uao_deploy.bench.seed.SeedStyleTorch`).

Counting rule for FLOPs (per pose): a forward pass costs 2 x the multiply-accumulates of its
Linear, Conv1d and einsum layers (biases, LayerNorm, GELU, the projection and Adam are not
counted); a backward pass to the *input* costs one forward (each layer's input gradient is one
product of the same size; weight gradients are not needed and not counted, even where the seed
computes them). Evaluation = 2 forwards (flip); TTO = (2 + 2K + 2) forwards + 2K backwards.
This is the method's nominal work, the same for every backend; an engine that skips some (the
fused graph shares the first step's forward with the pseudo-targets and leaves out the graph
convolution's products with zero rows of the adjacency) gets credit for it in its FLOP/s. Shares of
the machine's limit divide that rate by a matrix-product probe's best rate.

The package by concern: ``stats`` (latency percentiles), ``flops`` (this counting rule and the
matrix-product probe), ``timing`` (calls timed in turns), ``seed`` (the baseline), ``cases`` (the
backends' cases), ``memory`` (a case that would not fit is skipped), ``run`` (the whole run),
``profile`` (where the time goes), ``report`` (table, markdown, JSON, plot).
"""
from .cases import BACKENDS, DEFAULT_BACKENDS, GPU_BACKENDS, PRESETS, Case, Setup
from .flops import TASKS, flops_per_pose, forward_flops, matmul_peak, share_of_peak
from .memory import check_memory, frames_per_call
from .profile import format_profile, profile_backends, profile_onnxruntime, profile_torch
from .report import format_markdown, format_table, result_stem, write_results
from .run import run_benchmark
from .seed import SeedStyleTorch
from .stats import Latency, latency, poses_per_second
from .timing import time_interleaved

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "GPU_BACKENDS", "PRESETS", "TASKS", "Case", "Latency", "SeedStyleTorch", "Setup",
           "check_memory", "flops_per_pose", "format_markdown", "format_profile", "format_table", "forward_flops",
           "frames_per_call", "latency", "matmul_peak", "poses_per_second", "profile_backends", "profile_onnxruntime",
           "profile_torch", "result_stem", "run_benchmark", "share_of_peak", "time_interleaved",
           "write_results"]
