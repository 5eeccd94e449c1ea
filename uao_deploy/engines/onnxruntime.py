"""ONNX Runtime engine over an export folder, on the CPU, CUDA or TensorRT execution providers."""
from __future__ import annotations

import io
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..errors import UaoError
from ..contract import GRAPHS, MODEL_GRAPH, check_graph_sha256, check_manifest_metadata, export_settings
from ..runtimes import ort_session, require_available
from .base import REPAIR_HINT, Engine, graph_files

# Frames per session call, by default this many channel-frames: bigger batches run in chunks, so the
# TTO graphs' activations (several MB per frame) stay within reach of the CPU caches. On the 2-core
# AMD EPYC of this project fused TTO ran fastest per pose at 16 frames per call for 256 channels
# (1.2-1.3x faster than 32 or 64) and at 8 for 512 channels.
CHUNK_CHANNEL_FRAMES = 4096
# Frames per call for a lifter whose export names no channel count (another architecture than GUMLP).
DEFAULT_CHUNK = 64
# Graph metadata that must agree between the graphs of one export.
SHARED_METADATA = ("uao.checkpoint_sha256", "uao.architecture", "uao.tto", "uao.sequence", "uao.calibration", "uao.precision")
# Field numbers of onnx.proto: ModelProto.metadata_props, StringStringEntryProto.key and .value.
METADATA_PROPS_FIELD, ENTRY_KEY_FIELD, ENTRY_VALUE_FIELD = 14, 1, 2


def onnx_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, read from its top-level protobuf fields, seeking past the
    graph: the runtime has no ``onnx`` package, and an ORT session opened only to read them cost
    about 0.4 CPU s and 10 MB per graph (reading the whole file, 10 ms)."""
    try:
        with open(path, "rb") as stream:
            return {entry.get(ENTRY_KEY_FIELD, ""): entry.get(ENTRY_VALUE_FIELD, "")
                    for entry in (_string_fields(value) for _, value in
                                  _fields(stream, os.fstat(stream.fileno()).st_size, METADATA_PROPS_FIELD))}
    except (ValueError, UnicodeDecodeError):
        raise UaoError(f"{path} is not an ONNX graph (its protobuf cannot be read)") from None


def _fields(stream, end: int, wanted: int | None = None):
    """(field number, bytes) of the length-delimited fields of the protobuf message that ``stream`` holds
    up to ``end``: field ``wanted`` only (every field when None), seeking past the others."""
    while stream.tell() < end:
        key = _varint(stream)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _varint(stream)
        elif wire_type in (1, 5):
            stream.seek(8 if wire_type == 1 else 4, os.SEEK_CUR)
        elif wire_type == 2:
            length = _varint(stream)
            if stream.tell() + length > end:
                raise ValueError("a field runs past the end")
            if wanted is None or field == wanted:
                yield field, stream.read(length)
            else:
                stream.seek(length, os.SEEK_CUR)
        else:
            raise ValueError(f"wire type {wire_type}")
    if stream.tell() != end or not end:
        raise ValueError("truncated")


def _string_fields(message: bytes) -> dict[int, str]:
    return {field: value.decode() for field, value in _fields(io.BytesIO(message), len(message))}


def _varint(stream) -> int:
    value = shift = 0
    while True:
        byte = stream.read(1)
        if not byte:
            raise ValueError("truncated")
        value |= (byte[0] & 0x7F) << shift
        shift += 7
        if byte[0] < 0x80:
            return value


def check_metadata(files: dict[str, Path], metadata: dict[str, dict]) -> dict:
    """Check that each graph's ``uao.*`` metadata names it and agrees with the others'; return it.

    ``metadata`` holds each graph's ONNX ``metadata_props``. The graphs of one export share the
    checkpoint sha256, the TTO config and the precision.
    """
    for graph, meta in metadata.items():
        if meta.get("uao.graph") != graph:
            raise UaoError(f"{files[graph]} is not a uao {graph} graph (its metadata 'uao.graph' is {meta.get('uao.graph')!r})")
    first = next(iter(metadata))
    for graph, meta in metadata.items():
        differing = [key for key in SHARED_METADATA if meta.get(key) != metadata[first].get(key)]
        if differing:
            details = "; ".join(f"{key} {metadata[first].get(key)} vs {meta.get(key)}" for key in differing)
            raise UaoError(f"mismatched engines: {files[first]} and {files[graph]} come from different exports ({details})")
    return metadata[first]


def _default_chunk(metadata: dict) -> int:
    """Frames per call: by GUMLP's channel count, or DEFAULT_CHUNK for a lifter that names none."""
    try:
        config = json.loads(metadata["uao.model_config"])
    except (KeyError, TypeError, ValueError):
        raise UaoError("the graphs' metadata has no valid 'uao.model_config': not a uao export") from None
    channels = config.get("channels") if isinstance(config, dict) else None
    return max(1, CHUNK_CHANNEL_FRAMES // channels) if isinstance(channels, int) and channels > 0 else DEFAULT_CHUNK


class OnnxRuntimeEngine(Engine):
    """The three graphs of an export folder in ONNX Runtime sessions.

    The first of the requested providers must be active in every session: ONNX Runtime's silent
    fall-back to the CPU (e.g. onnxruntime-gpu without a usable CUDA) is reported as an error.
    """

    backend = "onnxruntime"

    def __init__(self, export_dir: str | Path, providers="cpu", threads: int | None = None,
                 chunk: int | None = None):
        super().__init__()
        # Each graph's sha256 is checked as its session opens: a run opens two of the five (40 MB in all).
        self.files, self._manifest = graph_files(export_dir, ".onnx", self.backend, hashed=False)
        self.requested_providers = require_available(providers)
        self._threads = threads
        # Every graph's metadata is checked now; only the network is opened. The others open on their
        # first call: each holds tens of MB and a run uses one or two of them (sequence mode: the
        # network and seq_fused).
        self._sessions = {MODEL_GRAPH: self._session(MODEL_GRAPH, self.files[MODEL_GRAPH], threads)}
        self._opening: dict[str, Future] = {}  # sessions being opened in the background (open_ahead)
        self._opener: ThreadPoolExecutor | None = None
        shared = check_metadata(self.files, {graph: onnx_metadata(path) for graph, path in self.files.items()})
        check_manifest_metadata(self._manifest, shared, export_dir)
        self._use_settings(export_settings(shared, self.files, self.files[MODEL_GRAPH]))
        self.chunk = chunk or _default_chunk(shared)
        self.architecture = json.loads(shared.get("uao.architecture") or "{}")

    def _session(self, graph: str, path: Path, threads: int | None, optimize: bool = True):
        check_graph_sha256(path, self._manifest["graphs"][graph]["sha256"], REPAIR_HINT)
        session = ort_session(path, self.requested_providers, threads, optimize=optimize)
        inputs = tuple(node.name for node in session.get_inputs())
        outputs = {node.name for node in session.get_outputs()}
        if sorted(inputs) != sorted(GRAPHS[graph].input_names) or not set(GRAPHS[graph].output_names) <= outputs:
            raise UaoError(f"{path} is not a uao {graph} graph: inputs {inputs}, outputs {sorted(outputs)}")
        return session

    def describe(self) -> dict:
        return {**super().describe(), "providers": self._sessions[MODEL_GRAPH].get_providers(),
                "graphs": {graph: str(path) for graph, path in self.files.items()},
                "checkpoint_sha256": self.checkpoint_sha256, "architecture": self.architecture}

    def max_batch(self, graph: str) -> int | None:
        # Sequence graphs take windows of up to 100 frames: one per call keeps them in cache (on this
        # project's 2-core CPU the fused sequence graph ran faster per frame one window per call than
        # two to ten).
        return 1 if GRAPHS[graph].per_window else self.chunk

    def holds(self, graph):
        return graph in self.files

    def open_ahead(self, *graphs):
        # Opening a sequence graph's session costs about a quarter of a CPU second, mostly outside the
        # GIL: a thread opens it while the host lifts the frames and fits the trajectory. Only on the
        # CPU: a GPU provider's session holds back the process's stderr while it starts
        # (runtimes.output_held), which would swallow what the main thread writes meanwhile.
        if self.requested_providers[0] != "CPUExecutionProvider":
            return
        for graph in graphs:
            if graph in self.files and graph not in self._sessions and graph not in self._opening:
                if self._opener is None:
                    self._opener = ThreadPoolExecutor(1, thread_name_prefix="uao-open")
                self._opening[graph] = self._opener.submit(self._open, graph)

    def _open(self, graph: str):
        # On the CPU, ONNX Runtime's graph optimizations leave a sequence graph's time per window as it
        # is but triple its time to open and add to its memory (benchmarks/results, infer_real).
        optimize = not (GRAPHS[graph].per_window and self.requested_providers[0] == "CPUExecutionProvider")
        return self._session(graph, self.files[graph], self._threads, optimize)

    def _run(self, graph, *inputs):
        spec = GRAPHS[graph]
        if graph not in self._sessions:
            opening = self._opening.pop(graph, None)  # its error, if opening failed, is raised here
            self._sessions[graph] = opening.result() if opening is not None else self._open(graph)
        return tuple(self._sessions[graph].run(spec.output_names, dict(zip(spec.input_names, inputs))))

    def close(self):
        if self._opener is not None:  # a session still opening is waited for (its error dropped: it never ran)
            self._opener.shutdown(wait=True, cancel_futures=True)
            self._opener = None
        self._opening.clear()
        self._sessions.clear()
