"""PyTorch -> ONNX for functions that differentiate: symbolic make_fx, then the dynamo exporter.

The TTO step calls ``torch.autograd.grad``; tracing it with ``make_fx(tracing_mode="symbolic")``
records forward and backward as one flat ATen graph with a symbolic batch, which
``torch.onnx.export(..., dynamo=True)`` turns into ONNX. (``torch.func.grad`` under symbolic
make_fx, autograd inside ``forward`` with dynamo, and the legacy exporter fail or fix the batch.)
"""
from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from unittest import mock

import onnx
import torch
import torch.fx.config
from torch._decomp import get_decompositions
from torch.fx.experimental.proxy_tensor import make_fx

from ..errors import one_line
from ..contract import BATCH, DYNAMIC, FRAMES, WINDOWS

log = logging.getLogger(__name__)
OPSET = 20  # Gelu is an ONNX op from opset 20
# Sizes of the dynamic dimensions while tracing: any above 1 work, but each must differ from every
# other size in the graph (symbolic tracing gives equal sizes one symbol); tests run other sizes to
# prove they stay dynamic.
TRACE_SIZES = {BATCH: 5, WINDOWS: 6, FRAMES: 11}
TRACE_BATCH = TRACE_SIZES[BATCH]


def _scatter_add_as_matmul(self, indices, values, accumulate=False):
    """index_put with accumulate along one axis, as a one-hot matrix product.

    It is the gradient of ``swap_lr``'s joint indexing; exported as is it becomes a ScatterND with
    reduction, which TensorRT refuses. Other index_put forms keep the default path.
    """
    axes = [axis for axis, index in enumerate(indices) if index is not None]
    if not accumulate or len(axes) != 1 or indices[axes[0]].ndim != 1 or indices[axes[0]].dtype == torch.bool:
        return NotImplemented
    axis, index = axes[0], indices[axes[0]]
    one_hot = (index[:, None] == torch.arange(self.shape[axis], device=index.device)[None, :]).to(values.dtype)
    return self + (values.movedim(axis, -1) @ one_hot).movedim(-1, axis)


_aten = torch.ops.aten
# GELU stays one ONNX Gelu, which ONNX Runtime and TensorRT run as one kernel (decomposed it is 4
# passes over the largest activations); its backward is decomposed. The exported layers write
# nn.LayerNorm out (``layers.AxisLayerNorm``); any other layer norm or batch norm a user's lifter
# calls is decomposed here, so neither reaches ONNX's multi-output forms that TensorRT refuses.
DECOMPOSITIONS = get_decompositions([
    _aten.gelu_backward, _aten.native_layer_norm, _aten.native_layer_norm_backward,
    _aten._native_batch_norm_legit_no_training, _aten.native_batch_norm_backward,
])
DECOMPOSITIONS[_aten.index_put.default] = _scatter_add_as_matmul


@torch.library.custom_op("uao_export::broadcast_matmul", mutates_args=())
def broadcast_matmul(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """weight (M, K) @ x (N, K, C) -> (N, M, C), exported as one ONNX MatMul that broadcasts the weight.

    Traced as ATen, the product becomes an Expand that copies the weight (or x) per sample, and its
    gradient a Transpose of that copy: two extra passes per joint-axis layer and pass.
    """
    return torch.matmul(weight, x)


@broadcast_matmul.register_fake
def _(weight, x):
    return x.new_empty(x.shape[0], weight.shape[0], x.shape[2])


def _broadcast_matmul_setup(ctx, inputs, output):
    ctx.weight_t = inputs[0].t().contiguous()


def _broadcast_matmul_backward(ctx, grad):
    return None, broadcast_matmul(ctx.weight_t, grad)  # the weight is a frozen constant


broadcast_matmul.register_autograd(_broadcast_matmul_backward, setup_context=_broadcast_matmul_setup)


def _broadcast_matmul_onnx(weight, x):
    import onnxscript

    return getattr(onnxscript, f"opset{OPSET}").MatMul(weight, x)


def example_inputs(spec) -> tuple[torch.Tensor, ...]:
    """Zeros of each input's shape at the trace sizes: tracing is symbolic, so only shapes and dtypes matter."""
    return tuple(torch.zeros(tuple(TRACE_SIZES.get(dim, dim) for dim in tensor.shape)) for tensor in spec.inputs)


def trace_to_onnx(function, spec, custom_translations: dict | None = None) -> onnx.ModelProto:
    """ONNX graph of ``function`` with ``spec``'s signature; its symbolic dimensions (B, W, T) stay dynamic."""
    translations = {torch.ops.uao_export.broadcast_matmul.default: _broadcast_matmul_onnx, **(custom_translations or {})}
    example_args = example_inputs(spec)
    dims = {symbol: torch.export.Dim(symbol, min=1) for symbol in DYNAMIC}
    dynamic = [{axis: dims[symbol] for axis, symbol in enumerate(tensor.shape) if symbol in dims} for tensor in spec.inputs]
    # Stack traces per FX node cost half the export time of a large graph and are not needed; the
    # switch is newer than torch 2.11 (the GPU machines' torch), which keeps emitting them.
    no_stack_traces = (mock.patch.object(torch.fx.config, "do_not_emit_stack_traces", True)
                       if hasattr(torch.fx.config, "do_not_emit_stack_traces") else contextlib.nullcontext())
    exporter_tables = _exporter_decompositions()
    with no_stack_traces, _quiet_exporter():
        graph = make_fx(function, tracing_mode="symbolic", decomposition_table={**exporter_tables, **DECOMPOSITIONS},
                        _allow_non_fake_inputs=True)(*example_args)

        def export():
            return torch.onnx.export(
                graph.eval(), example_args, dynamo=True, dynamic_shapes=tuple(dynamic),
                input_names=spec.input_names, output_names=spec.output_names, opset_version=OPSET,
                custom_translation_table=translations, verbose=False, optimize=False,
            )
        decomposed = bool(exporter_tables) and _out_of_place(graph)
        try:
            with _exporter_decomposes(not decomposed):
                program = export()
        except Exception:
            if not decomposed:
                raise
            program = export()  # an op the tables left (a lifter's own code): the exporter's full pass
    proto = simplify(program.model)
    fixed = [f"{value.name}[{axis}]" for value, axes in zip(proto.graph.input, dynamic) for axis in axes
             if not value.type.tensor_type.shape.dim[axis].dim_param]
    if fixed:  # the exporter specializes silently when a guard pins a size
        raise RuntimeError(f"export fixed the size of {fixed}; the traced code must not branch on it")
    return proto


@functools.cache
def _exporter_decompositions() -> dict:
    """The exporter's own decompositions (of every ATen op that ONNX has no function for), applied
    while make_fx traces: the exporter then need not trace the graph again to decompose it (its
    ``run_decompositions``, half of an export's time). In-place ops stay (their decompositions write
    in place; :func:`_out_of_place` rewrites them). Empty where this torch lacks the exporter's tables."""
    try:
        from torch.onnx._internal.exporter import _decomp, _fx_passes, _registration
    except ImportError:
        return {}
    if not hasattr(_fx_passes, "decompose_with_registry"):
        return {}
    with _quiet_exporter():
        implemented = set(_decomp.get_onnx_implemented_overloads(_registration.ONNXRegistry.from_torchlib()))
    return {op: decomposition for op, decomposition in _decomp.create_onnx_friendly_decomposition_table(implemented).items()
            if not op._schema.is_mutable}


def _out_of_place(graph: torch.fx.GraphModule) -> bool:
    """Rewrite each in-place op whose target only it uses (autograd's clamp backward writes
    ``(x >= lo).logical_and_(x <= hi)``) as its out-of-place form; False (graph unchanged) when some
    other in-place op remains, which only the exporter's own decompositions make functional."""
    mutating = [node for node in graph.graph.nodes if node.op == "call_function"
                and getattr(getattr(node.target, "_schema", None), "is_mutable", False)]
    replacements = {}
    for node in mutating:
        name = node.target._schema.name.split("::")[-1]
        packet = getattr(_aten, name[:-1], None) if name.endswith("_") else None
        target = getattr(packet, node.target._overloadname, None) if packet is not None else None
        if target is None or not isinstance(node.args[0], torch.fx.Node) or len(node.args[0].users) != 1:
            return False
        replacements[node] = target
    for node, target in replacements.items():
        node.target = target
    graph.recompile()
    return True


def _exporter_decomposes(needed: bool):
    """The exporter's decomposition pass, or (when make_fx already did its work) none."""
    if needed:
        return contextlib.nullcontext()
    from torch.onnx._internal.exporter import _fx_passes

    return mock.patch.object(_fx_passes, "decompose_with_registry", lambda program, registry: program)


def trace_all(jobs: dict) -> dict[str, onnx.ModelProto]:
    """``{graph: trace_to_onnx(function, spec, custom_translations)}`` for ``jobs`` ({graph: (function,
    spec, custom_translations)}), side by side (:func:`.workers.side_by_side`), each logged with its
    time as it is done."""
    from .workers import export_workers, side_by_side

    _exporter_decompositions()  # once, before the workers fork
    workers = min(len(jobs), export_workers())
    log.info("tracing %d graphs in %d process%s", len(jobs), workers, "es" if workers > 1 else "")
    # Longest first, as measured: the steps (sequence before frame, the most outputs first), then the
    # forward, then the fused outlines, which trace over stand-ins.
    order = sorted(jobs, key=lambda name: (jobs[name][2] is not None, not jobs[name][1].per_window,
                                           -len(jobs[name][1].outputs)))
    traced = side_by_side(_serialized_trace, {name: jobs[name] for name in order},
                          lambda name, _, seconds: log.info("%-14s traced in %.1f s", name, seconds))
    return {name: onnx.load_model_from_string(traced[name]) for name in jobs}


class TraceFailure(Exception):
    """A graph that did not trace: its name and the tracer's first line (picklable: it leaves worker processes)."""

    def __init__(self, graph: str, reason: str):
        super().__init__(graph, reason)
        self.graph, self.reason = graph, reason


def _serialized_trace(name, function, spec, custom_translations) -> bytes:
    try:
        return trace_to_onnx(function, spec, custom_translations).SerializeToString()
    except Exception as exc:  # a lifter's code may fail the tracer anywhere
        raise TraceFailure(name, one_line(exc)) from None


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's chatter (torchvision absent, deprecations), keeping its errors."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (UserWarning, FutureWarning, DeprecationWarning))
            yield
    finally:
        logger.setLevel(level)


def simplify(model) -> onnx.ModelProto:
    """Constant folding and clean-up of an exported ``onnx_ir`` model, as a ModelProto.

    The exporter's own ``optimize`` adds pattern rewrites that take most of the export time and
    change nothing that ONNX Runtime or TensorRT would not do themselves.
    """
    import onnx_ir
    import onnx_ir.passes.common as passes
    import onnxscript.optimizer

    onnxscript.optimizer.fold_constants(model)
    onnx_ir.passes.Sequential(
        passes.RemoveUnusedNodesPass(), passes.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
        passes.DeduplicateInitializersPass(), passes.CommonSubexpressionEliminationPass(),
        passes.IdentityEliminationPass(), passes.RemoveUnusedNodesPass(), passes.NameFixPass(),
    )(model)
    return onnx_ir.serde.serialize_model(model)


# Stand-ins for whole graphs while tracing a fused loop: they keep the loop's own trace small
# (tracing K unrolled backward passes costs minutes) and are replaced by the exported graphs
# afterwards (see ``onnx.inline_graphs``). Each is made from its graph's spec, so a registered
# objective's graphs get theirs without code here.
PLACEHOLDER_DOMAIN = "uao_export"
_PLACEHOLDERS: dict[str, object] = {}


def placeholder(spec):
    """A custom op with ``spec``'s signature that only stands in for that graph while tracing."""
    if spec.name not in _PLACEHOLDERS:
        qualified = f"{PLACEHOLDER_DOMAIN}::{spec.name}"
        arguments = ", ".join(f"Tensor {name}" for name in spec.input_names)
        results = ", ".join("Tensor" for _ in spec.outputs)
        torch.library.define(qualified, f"({arguments}) -> ({results})")

        def stand_in(*args):
            raise RuntimeError(f"the {spec.name} placeholder only stands in for its graph while tracing")

        def fake(*args):  # output shapes from the spec, symbols sized as the inputs have them
            sizes = {dim: arg.shape[axis] for tensor, arg in zip(spec.inputs, args)
                     for axis, dim in enumerate(tensor.shape) if isinstance(dim, str)}
            return tuple(args[0].new_empty(tuple(sizes.get(dim, dim) for dim in tensor.shape)) for tensor in spec.outputs)

        torch.library.impl(qualified, "CompositeExplicitAutograd", stand_in)
        torch.library.register_fake(qualified, fake)
        _PLACEHOLDERS[spec.name] = getattr(torch.ops.uao_export, spec.name).default
    return _PLACEHOLDERS[spec.name]


def placeholder_translations(specs) -> dict:
    """ONNX translations of the placeholders of ``specs``: one node each in the placeholder domain."""
    import onnxscript
    from onnx.defs import OpSchema

    opset = onnxscript.values.Opset(PLACEHOLDER_DOMAIN, 1)
    table = {}
    for spec in specs:
        schema = OpSchema(spec.name, PLACEHOLDER_DOMAIN, 1,
                          inputs=[OpSchema.FormalParameter(name, "tensor(float)") for name in spec.input_names],
                          outputs=[OpSchema.FormalParameter(name, "tensor(float)") for name in spec.output_names])
        table[placeholder(spec)] = onnxscript.values.Op(opset, spec.name, schema)
    return table
