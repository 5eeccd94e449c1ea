"""Run exported graphs in ONNX Runtime (CPU) against the PyTorch reference; measure fp16 error in mm."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..compare import TOLERANCES, compare_outputs
from ..contract import FRAME, GRAPHS, MODEL_GRAPH, OBJECTIVES, TTOConfig, read_manifest
from ..errors import UaoError
from ..model.checkpoint import resolve_model
from ..runtimes import ort_session
from .layers import exportable_model

log = logging.getLogger(__name__)
# Batch sizes of the check: frames, and windows of sequence graphs (each window is many frames);
# each differs from the trace's sizes, so a size fixed by the trace fails.
VERIFY_BATCHES = (1, 3, 8)
VERIFY_WINDOWS = (1, 3)


def verify_graphs(directory: str | os.PathLike, model: torch.nn.Module, configs: dict, precision: str,
                  batches: tuple[int, ...] | None = None) -> dict:
    """Largest difference between ONNX Runtime and PyTorch per graph output (in its kind's metric, see
    :func:`uao_deploy.compare.compare_outputs`) over ``batches`` (default: VERIFY_BATCHES frames,
    VERIFY_WINDOWS windows for sequence graphs) of each objective's sample inputs, for the objectives
    of ``configs`` ({objective: config}); UaoError above tolerance. The graphs are checked side by
    side, the sequence and fused ones (the longest) first (:func:`.workers.side_by_side`).

    One thread each for PyTorch and ONNX Runtime: the batches are small, and on a busy machine
    threads that wait for each other cost far more than they give."""
    from .workers import side_by_side

    exportable = exportable_model(model, precision)
    jobs = {}
    for name, config in configs.items():
        objective = OBJECTIVES[name]
        module = objective.functions()
        reference = module.reference_functions(exportable, config)
        jobs.update({spec.name: (directory, spec, reference, module.sample_inputs, precision,
                                 batches or (VERIFY_WINDOWS if spec.per_window else VERIFY_BATCHES))
                     for spec in objective.graphs if spec.name not in jobs})
    order = sorted(jobs, key=lambda graph: (not jobs[graph][1].per_window, "losses" not in jobs[graph][1].output_names))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return side_by_side(_verify, {graph: jobs[graph] for graph in order}, lambda name, _, seconds: log.info(
            "%-14s checked against PyTorch in %.1f s", name, seconds))
    finally:
        torch.set_num_threads(threads)


def _verify(graph, directory, spec, reference, sample_inputs, precision, batches) -> dict:
    session = ort_session(Path(directory) / f"{spec.name}.onnx", threads=1)
    worst = {}
    for batch in batches:
        inputs = sample_inputs(spec.name, reference[MODEL_GRAPH], batch)
        expected = [output.detach().numpy() for output in reference[spec.name](*inputs)]
        produced = session.run(spec.output_names, {name: value.numpy() for name, value in zip(spec.input_names, inputs)})
        for check in compare_outputs(spec, dict(zip(spec.output_names, produced)),
                                     dict(zip(spec.output_names, expected)), TOLERANCES[precision]):
            worst[check["output"]] = max(check["max_diff"], worst.get(check["output"], 0.0))
            if not check["passed"]:
                raise UaoError(f"exported {spec.name} graph differs from PyTorch: {check['output']} off by "
                               f"{check['max_diff']:.3g} at batch {batch} (tolerance {check['tolerance']:g}); "
                               "nothing was written")
    return worst


def precision_error_mm(directory: str | os.PathLike, model_or_checkpoint, x, cam, root) -> dict:
    """Error in mm of an export's forward and fused-TTO poses against the fp32 PyTorch model.

    x (B, 17, 2), cam (B, 9), root (B, 3) numpy arrays. Returns {graph: {"mean_mm", "max_mm"}} for the
    forward and the fused TTO graph: mean is the mean per-joint distance (MPJPE-like), max the largest
    one. For an fp16 export this is its precision cost; for fp32 it is float noise.
    """
    manifest = read_manifest(directory)
    model = resolve_model(model_or_checkpoint).model
    reference = FRAME.functions().reference_functions(exportable_model(model, "fp32"),
                                                      TTOConfig.from_dict(manifest["tto"], directory))
    inputs = {MODEL_GRAPH: (x,), FRAME.fused: (x, cam, root)}
    errors = {}
    for name, args in inputs.items():
        spec = GRAPHS[name]
        produced = ort_session(Path(directory) / manifest["graphs"][name]["file"]).run(
            spec.output_names[:1], dict(zip(spec.input_names, (np.asarray(a, dtype=np.float32) for a in args))))[0]
        expected = reference[name](*(torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in args))[0].detach().numpy()
        distance = np.linalg.norm(produced - expected, axis=-1) * 1000
        errors[name] = {"mean_mm": float(distance.mean()), "max_mm": float(distance.max())}
    return errors
