"""Export a lifter (GUMLP or any module meeting the contract of :mod:`uao_deploy.model.registry`) and its
TTO objectives to ONNX: the forward graph, then per objective its step graph
(value and gradients) and its fused K-step loop.

The graphs compute exactly the PyTorch reference functions their objective registers (per-frame
UAO: :mod:`uao_deploy.tto.frame_graphs`; sequence UAO: :mod:`uao_deploy.tto.sequence`); a fused
graph is the objective's one loop, traced once with placeholders for the forward and step graphs,
which are then pasted in (sharing one copy of the weights).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import onnx
import torch

from .. import skeleton
from ..errors import UaoError
from ..contract import (FRAME, GRAPHS, MANIFEST, MODEL_GRAPH, OBJECTIVES, PRECISIONS, Settings, TTOConfig,
                        check_tto_iters, graph_metadata)
from ..fileio import file_sha256, sweep_stale_temporaries, temporary_prefix
from ..model.checkpoint import resolve_model
from . import trace
from .layers import exportable_model
from ..fileio import write_json

log = logging.getLogger(__name__)


def build_graphs(model: torch.nn.Module, configs: dict, precision: str = "fp32",
                 lifter: str = "gumlp") -> dict[str, onnx.ModelProto]:
    """The graphs of the registered objectives named in ``configs`` ({objective: its config}) as
    in-memory ONNX models, without metadata.

    The forward graph is traced once; each objective's other graphs from its reference functions;
    its fused loop once with stand-ins for the forward and those graphs, which are then pasted in.
    All traces are independent, so they run side by side (:func:`trace.trace_all`).
    """
    exportable = exportable_model(model, precision)
    forward = FRAME.spec(MODEL_GRAPH)
    jobs = {MODEL_GRAPH: (exportable, forward, None)}
    written = [MODEL_GRAPH]
    for name, config in configs.items():
        objective = OBJECTIVES[name]
        reference = objective.functions()
        functions = reference.reference_functions(exportable, config)
        direct = [spec for spec in (*objective.graphs, *objective.inlined)
                  if spec.name not in (objective.fused, MODEL_GRAPH)]
        jobs.update({spec.name: (functions[spec.name], spec, None) for spec in direct})
        if objective.fused:
            stand_ins = [forward, *direct]
            loop = reference.fused_loop({spec.name: trace.placeholder(spec) for spec in stand_ins}, config)
            jobs[objective.fused] = (loop, objective.fused_spec, trace.placeholder_translations(stand_ins))
        written += [spec.name for spec in objective.graphs if spec.name not in written]
    try:
        graphs = trace.trace_all(jobs)
    except trace.TraceFailure as failure:  # a lifter's code may fail the tracer anywhere: name it and the graph
        raise UaoError(f"model {lifter} does not trace into the {failure.graph} graph ({failure.reason})") from None
    for name in configs:
        fused = OBJECTIVES[name].fused
        if fused:
            graphs[fused] = inline_graphs(graphs[fused], graphs)
    return {name: graphs[name] for name in written}


def inline_graphs(outline: onnx.ModelProto, bodies: dict[str, onnx.ModelProto]) -> onnx.ModelProto:
    """Replace every placeholder node of ``outline`` by the nodes of the graph it stands for.

    Intermediate names get a per-call prefix; weights identical in content are stored once; nodes
    that no output needs (e.g. the uncertainty head of the final forward) are dropped.
    """
    merged = onnx.ModelProto()
    merged.CopyFrom(outline)
    del merged.graph.node[:], merged.graph.value_info[:], merged.graph.initializer[:]
    shared: dict[bytes, str] = {}  # content digest -> initializer name in the merged graph

    def share(tensor: onnx.TensorProto, name: str) -> str:
        content = onnx.numpy_helper.to_array(tensor)
        key = hashlib.sha256(f"{content.dtype}{content.shape}".encode() + content.tobytes()).digest()
        if key not in shared:
            shared[key] = name
            merged.graph.initializer.add().CopyFrom(tensor)
            merged.graph.initializer[-1].name = name
        return shared[key]

    outer_names = {tensor.name: share(tensor, tensor.name) for tensor in outline.graph.initializer}
    for call, node in enumerate(outline.graph.node):
        if node.domain != trace.PLACEHOLDER_DOMAIN:
            merged.graph.node.add().CopyFrom(node)
            merged.graph.node[-1].input[:] = [outer_names.get(name, name) for name in node.input]
            continue
        body = bodies[node.op_type].graph
        prefix = f"{node.op_type}_{call}/"
        rename = {value.name: outer for value, outer in zip(body.input, node.input)}
        rename.update({tensor.name: share(tensor, f"{node.op_type}/{tensor.name}") for tensor in body.initializer})
        produced = {name for inner in body.node for name in inner.output}
        for value, outer in zip(body.output, node.output):  # a value output twice is renamed once (its first)
            if value.name in produced and value.name not in rename:
                rename[value.name] = outer
        for inner in body.node:
            if any(attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for attribute in inner.attribute):
                raise NotImplementedError(f"cannot inline {node.op_type}: node {inner.name} holds a subgraph")
            copied = merged.graph.node.add()
            copied.CopyFrom(inner)
            copied.name = prefix + inner.name
            copied.input[:] = [rename.get(name, prefix + name) if name else "" for name in inner.input]
            copied.output[:] = [rename.get(name, prefix + name) for name in inner.output]
        for value, outer in zip(body.output, node.output):
            if rename[value.name] != outer:  # a body output that is an input, a weight or another output
                merged.graph.node.add().CopyFrom(onnx.helper.make_node("Identity", [rename[value.name]], [outer]))
    opsets = {opset.domain: opset for model in (*bodies.values(), outline) for opset in model.opset_import}
    del merged.opset_import[:]
    merged.opset_import.extend(opset for domain, opset in opsets.items() if domain != trace.PLACEHOLDER_DOMAIN)
    _drop_unused(merged.graph)
    return merged


def _drop_unused(graph: onnx.GraphProto) -> None:
    needed = {value.name for value in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    kept.reverse()
    initializers = [tensor for tensor in graph.initializer if tensor.name in needed]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def check_options(config: TTOConfig, precision: str) -> None:
    if precision not in PRECISIONS:
        raise UaoError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if check_tto_iters(config.iters) < 1:
        raise UaoError(f"a fused TTO graph needs TTO iterations >= 1; got {config.iters!r}")


def export_configs(tto: TTOConfig, **objectives) -> dict:
    """{objective: config} of an export: per-frame UAO as ``tto``, and every other registered objective
    as ``objectives`` names it: its config, True (its defaults with ``tto``'s K) or False (left out).
    An objective not named is exported with its defaults and ``tto``'s K."""
    unknown = sorted(set(objectives) - set(OBJECTIVES))
    required = [name for name, objective in OBJECTIVES.items() if objective.required and name != FRAME.name]
    if unknown or any(objectives.get(name) is False for name in required):
        raise UaoError(f"cannot export objectives {', '.join(unknown) or ', '.join(required)}: "
                       f"choose from {', '.join(OBJECTIVES)}; {', '.join([FRAME.name, *required])} always go")
    configs = {FRAME.name: tto}
    for name, objective in OBJECTIVES.items():
        choice = objectives.get(name, True)
        if name == FRAME.name or choice is False:
            continue
        config = choice if isinstance(choice, Settings) else objective.config(iters=tto.iters)
        if check_tto_iters(config.iters) < 1:
            raise UaoError(f"a fused {name} graph needs iterations >= 1; got {config.iters!r}")
        configs[name] = config
    return configs


def export_onnx(model_or_checkpoint=None, out_dir: str | os.PathLike = "export", tto: TTOConfig = TTOConfig(),
                precision: str = "fp32", verify: bool = True, **objectives) -> dict:
    """Write forward.onnx, the graphs of every registered objective (per-frame UAO's tto_step and
    tto_fused as ``tto``; the others as ``objectives`` name them, e.g. ``sequence=False`` leaves out
    seq_step and seq_fused: see :func:`export_configs`) and manifest.json into ``out_dir``; return
    the manifest.

    ``model_or_checkpoint``: a lifter module, a checkpoint path, a ModelRef (``--model`` and
    ``--checkpoint``), or None for the embedded default model.
    With ``verify`` each graph is run in ONNX Runtime against PyTorch at several batch sizes first;
    a mismatch raises UaoError and ``out_dir`` is left as it was (graphs are built in a temporary
    folder beside it and moved in only when complete).
    """
    check_options(tto, precision)
    resolved = resolve_model(model_or_checkpoint)
    model, checkpoint_sha256 = resolved.model, resolved.sha256
    checkpoint_path = None if resolved.path is None else str(resolved.path)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(out.parent)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=temporary_prefix(out.name) + "staging-"))
    try:
        configs = export_configs(tto, **objectives)
        graphs = build_graphs(model, configs, precision, resolved.architecture.get("name", "lifter"))
        manifest = {
            "format": "uao-onnx", "precision": precision, "opset": trace.OPSET,
            "checkpoint": checkpoint_path, "checkpoint_sha256": checkpoint_sha256,
            "architecture": resolved.architecture, "model_config": resolved.config,
            "tto": tto.to_dict(), "calibration": resolved.calibration.to_dict(),
            "joints": list(skeleton.JOINT_NAMES), "graphs": {},
        }
        metadata = graph_metadata(checkpoint_sha256, resolved.config, configs, precision, resolved.calibration,
                                  resolved.architecture)
        iters = {spec.name: configs[name].iters for name in configs for spec in OBJECTIVES[name].graphs}
        for name, proto in graphs.items():
            onnx.helper.set_model_props(proto, {"uao.graph": name, **metadata})
            path = staging / f"{name}.onnx"
            onnx.save_model(proto, path)
            onnx.checker.check_model(str(path), full_check=True)
            manifest["graphs"][name] = {"file": path.name, "sha256": file_sha256(path),
                                        **GRAPHS[name].signature(iters[name])}
        manifest["objectives"] = {name: {"config": config.to_dict(), "graphs": [spec.name for spec in OBJECTIVES[name].graphs]}
                                  for name, config in configs.items()}
        manifest["metadata"] = metadata
        if verify:
            from .verify import verify_graphs
            manifest["verification"] = verify_graphs(staging, model, configs, precision)
        write_json(staging / MANIFEST, manifest)
        _move_into(staging, out, [f"{name}.onnx" for name in graphs] + [MANIFEST])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _move_into(staging: Path, out: Path, files: list[str]) -> None:
    """Move finished files into ``out`` one rename each (other files there, e.g. README.md, stay).

    The manifest comes last, so a directory whose manifest names a graph holds that graph.
    """
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        if name.endswith(".onnx"):
            (out / f"{name}.data").unlink(missing_ok=True)  # weights of an older export stored beside its graph
        os.replace(staging / name, out / name)
