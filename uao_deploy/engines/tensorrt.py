"""Native TensorRT / TensorRT-RTX engine over an engine folder, with device buffers held by torch.

Each call copies the numpy chunk to torch CUDA tensors, binds their addresses to the execution
context (``set_input_shape`` / ``set_tensor_address``), runs ``execute_async_v3`` on a torch CUDA
stream and copies the outputs back. Batches above the engine's optimization-profile maximum are
split by :class:`~uao_deploy.engines.base.Engine`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UaoError
from ..io.budget import load_json_object
from ..contract import GRAPHS, MANIFEST, check_manifest_metadata, export_settings
from ..runtimes import load_tensorrt, trt_logger
from .base import Engine, graph_files


def read_sidecar(engine_path: Path) -> dict:
    """The JSON written next to an engine: its graph, flavour, TensorRT version and profile."""
    sidecar = Path(f"{engine_path}.json")
    if not sidecar.exists():
        raise UaoError(f"{engine_path} has no sidecar {sidecar.name}; rebuild the engines with `uao export`")
    return load_json_object(sidecar, "an engine's sidecar")


def read_engine_dir(folder) -> tuple[dict[str, Path], str, dict]:
    """(engine files, flavour, export metadata) of an engine folder, checked to belong together.

    Engines carry no metadata of their own: the folder's manifest holds the export's ``uao.*``
    metadata (checked against the manifest's own claims) and each engine's sha256, so an engine
    copied in from another build is caught by its hash (in ``graph_files``), and each sidecar must
    name its graph and the flavour that built it.
    """
    files, manifest = graph_files(folder, ".engine", "tensorrt")
    check_manifest_metadata(manifest, manifest.get("metadata", {}), Path(folder) / MANIFEST)
    flavours = {}
    for graph, path in files.items():
        sidecar = read_sidecar(path)
        if sidecar.get("graph") != graph:
            raise UaoError(f"{path}.json describes a {sidecar.get('graph')!r} engine, not {graph}")
        flavours[path.name] = sidecar.get("flavour")
    if len(set(flavours.values())) != 1:
        raise UaoError(f"mismatched engines: built with different TensorRT flavours {flavours}")
    return files, next(iter(flavours.values())), manifest.get("metadata", {})


def _cuda_torch():
    """torch with a usable NVIDIA GPU: the engines' device buffers and streams are torch CUDA objects."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        raise UaoError("the tensorrt backend needs an NVIDIA GPU and PyTorch with CUDA (torch.cuda.is_available() "
                       "is False or torch is missing); use backend='onnxruntime' on this machine")
    return torch


class TensorRTEngine(Engine):
    """The three engines of an engine folder, deserialized with the flavour their sidecars name.

    ``cuda_graphs=True`` replays CUDA graphs: TensorRT-RTX captures them itself (its runtime
    config's whole-graph strategy); for TensorRT each input shape is captured once with torch.
    """

    backend = "tensorrt"

    def __init__(self, engine_dir: str | Path, cuda_graphs: bool = False):
        self.torch = _cuda_torch()
        super().__init__()
        self.files, self.flavour, shared = read_engine_dir(engine_dir)
        trt, _ = load_tensorrt(self.flavour)
        self._use_settings(export_settings(shared, self.files, Path(engine_dir) / MANIFEST))
        self.cuda_graphs = cuda_graphs
        self._version = trt.__version__
        self._stream = self.torch.cuda.Stream()
        self._runtime = trt.Runtime(trt_logger(trt))  # must outlive its engines
        self._graphs = {graph: _EngineGraph(self.torch, trt, self._runtime, graph, path, self._stream, cuda_graphs)
                        for graph, path in self.files.items()}

    def max_batch(self, graph):
        return self._graphs[graph].max_batch

    def holds(self, graph):
        return graph in self._graphs

    def describe(self) -> dict:
        return {**super().describe(), "flavour": self.flavour, "tensorrt_version": self._version,
                "device": self.torch.cuda.get_device_name(), "cuda_graphs": self.cuda_graphs,
                "max_batch": {graph: runner.max_batch for graph, runner in self._graphs.items()},
                "graphs": {graph: str(path) for graph, path in self.files.items()},
                "checkpoint_sha256": self.checkpoint_sha256}

    def _run(self, graph, *inputs):
        return self._graphs[graph](*inputs)

    def close(self):
        self._graphs.clear()


class _EngineGraph:
    """One deserialized engine and its execution context, called on numpy chunks."""

    def __init__(self, torch, trt, runtime, graph: str, path: Path, stream, cuda_graphs: bool):
        self.torch = torch
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise UaoError(f"{trt.__name__} {trt.__version__} cannot deserialize {path} (built by another "
                           "version, or for another GPU?); rebuild it with `uao export`")
        self.inputs, self.outputs = GRAPHS[graph].input_names, GRAPHS[graph].output_names
        names = {self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)}
        if names != {*self.inputs, *self.outputs}:
            raise UaoError(f"{path} is not a uao {graph} engine: its tensors are {sorted(names)}")
        self.dtypes = {name: torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
                       for name in names}
        self.max_batch = self.engine.get_tensor_profile_shape(self.inputs[0], 0)[2][0]
        self.native_graphs = cuda_graphs and trt.__name__ == "tensorrt_rtx"  # a TensorRT-RTX runtime option
        if self.native_graphs:
            config = self.engine.create_runtime_config()
            config.cuda_graph_strategy = trt.CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
            self.context = self.engine.create_execution_context(config)
        else:
            self.context = self.engine.create_execution_context()
        self.stream = stream
        self.cuda_graphs = cuda_graphs
        self._static = {}  # input shapes -> (inputs, outputs, run): buffers at fixed addresses for CUDA graphs

    def __call__(self, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        with self.torch.cuda.stream(self.stream):
            if self.cuda_graphs:
                inputs, outputs, run = self._static_run(arrays)
                for buffer, array in zip(inputs, arrays):
                    buffer.copy_(self.torch.from_numpy(array))
                run()
            else:
                outputs = self._bind(self._to_device(arrays))
                self._execute()
            results = [output.float().cpu() for output in outputs]
        self.stream.synchronize()
        return tuple(result.numpy() for result in results)

    def _to_device(self, arrays):
        return [self.torch.from_numpy(array).to("cuda", self.dtypes[name]) for name, array in zip(self.inputs, arrays)]

    def _bind(self, inputs, outputs=None):
        """Set input shapes and addresses, and output addresses (allocated at the shapes TensorRT infers)."""
        for name, tensor in zip(self.inputs, inputs):
            if not self.context.set_input_shape(name, tuple(tensor.shape)):
                raise UaoError(f"input {name} of shape {tuple(tensor.shape)} is outside the engine's optimization profile")
            self.context.set_tensor_address(name, tensor.data_ptr())
        if outputs is None:
            outputs = [self.torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=self.dtypes[name], device="cuda")
                       for name in self.outputs]
        for name, tensor in zip(self.outputs, outputs):
            self.context.set_tensor_address(name, tensor.data_ptr())
        return outputs

    def _execute(self):
        if not self.context.execute_async_v3(self.torch.cuda.current_stream().cuda_stream):
            raise UaoError("TensorRT failed to execute the engine (see its log above)")

    def _static_run(self, arrays):
        """Buffers for these input shapes, made on first use, and how to run the engine on them.

        TensorRT-RTX captures and replays its CUDA graph itself once the context is bound to the
        buffers again; for TensorRT a torch CUDA graph is captured here, after one plain run that
        lets TensorRT finish its shape-dependent setup outside the capture.
        """
        key = tuple(array.shape for array in arrays)
        if key not in self._static:
            inputs = self._to_device(arrays)
            outputs = self._bind(inputs)
            self._execute()
            self.stream.synchronize()
            if self.native_graphs:
                def run():
                    self._bind(inputs, outputs)
                    self._execute()
            else:
                graph = self.torch.cuda.CUDAGraph()
                with self.torch.cuda.graph(graph, stream=self.stream):
                    self._execute()
                run = graph.replay
            self._static[key] = (inputs, outputs, run)
        return self._static[key]
