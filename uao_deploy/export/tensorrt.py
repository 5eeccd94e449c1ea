"""TensorRT engines from the exported ONNX graphs, with either TensorRT flavour.

``tensorrt`` (datacenter and desktop GPUs) needs a GPU to build and builds for the one present;
``tensorrt_rtx`` builds without a GPU, ahead of time, for RTX-class GPUs (Ampere and later). Both
share one Python API, so one builder serves both through a module handle.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from ..errors import UaoError
from ..contract import BATCH, FRAMES, GRAPHS, MANIFEST, WINDOW_FRAMES, WINDOWS, TTOConfig, read_manifest
from ..fileio import file_sha256, sweep_stale_temporaries, temporary_prefix
from ..runtimes import load_tensorrt, trt_logger, visible_gpus
from ..fileio import write_json
from .onnx import check_options, export_onnx

log = logging.getLogger(__name__)

DEFAULT_PROFILE = (1, 64, 1024)
TIMING_CACHE = "timing.cache"
ENGINE_SUFFIX = ".engine"
_SIDECAR_KEYS = ("flavour", "tensorrt_version", "target", "graph_sha256", "precision", "profile")


def parse_profile(text: str) -> tuple[int, int, int]:
    """"MIN:OPT:MAX" -> (min, opt, max), checked."""
    parts = str(text).split(":")
    try:
        profile = tuple(int(part) for part in parts)
    except ValueError:
        profile = ()
    if len(profile) != 3:
        raise UaoError(f"batch profile must be MIN:OPT:MAX with three integers, e.g. 1:64:1024; got {text!r}")
    return check_profile(profile)


def check_profile(profile) -> tuple[int, int, int]:
    low, opt, high = (int(value) for value in profile)
    if not 1 <= low <= opt <= high:
        raise UaoError(f"batch profile needs 1 <= MIN <= OPT <= MAX; got {low}:{opt}:{high}")
    return low, opt, high


def build_target(trt, flavour: str) -> dict:
    """What an engine is built for: the visible GPU (tensorrt) or RTX compute capabilities (tensorrt_rtx)."""
    if flavour == "tensorrt":
        gpus = visible_gpus()
        if not gpus:
            raise UaoError("tensorrt builds for the GPU it runs on, and no NVIDIA GPU is visible; use tensorrt_rtx")
        return {"gpu": gpus[0]["name"], "compute_capability": gpus[0].get("compute_capability", "unknown")}
    return {"compute_capabilities": "TensorRT-RTX default: portable across RTX-class GPUs of compute capability 8.0 and later"}


def dimension_profiles(profile: tuple[int, int, int]) -> dict[str, tuple[int, int, int]]:
    """(min, opt, max) of each dynamic dimension: frames on ``profile``; sequence windows of up to
    WINDOW_FRAMES frames, as many as fit in ``profile``'s frames."""
    low, opt, high = profile
    return {BATCH: profile, FRAMES: (1, WINDOW_FRAMES, WINDOW_FRAMES),
            WINDOWS: (1, max(1, opt // WINDOW_FRAMES), max(1, high // WINDOW_FRAMES))}


def build_engine(trt, onnx_path: Path, profile: tuple[int, int, int], timing_cache=None, graph: str | None = None):
    """Serialized engine (bytes) for one ONNX graph, its dynamic dimensions on :func:`dimension_profiles`
    (``graph`` names its spec; default: the file's stem)."""
    builder = trt.Builder(trt_logger(trt))
    if builder is None:
        raise UaoError(f"{trt.__name__} could not create a builder (no usable GPU or driver?)")
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):  # precisions come from the graph's types
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_logger(trt))
    if not parser.parse_from_file(str(onnx_path)):  # a path, so weights in .onnx.data are found
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise UaoError(f"{trt.__name__} cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if hasattr(trt.BuilderFlag, "TF32"):  # on by default; float32 tensors stay float32 (TTO gradients need it)
        config.clear_flag(trt.BuilderFlag.TF32)
    if timing_cache is not None:
        with _timing_cache_api():
            config.set_timing_cache(timing_cache, False)
    shapes = builder.create_optimization_profile()
    sizes = dimension_profiles(profile)
    inputs = {tensor.name: tensor.shape for tensor in GRAPHS[graph or onnx_path.stem].inputs}
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        dims = inputs[tensor.name]
        shapes.set_shape(tensor.name, *(tuple(sizes[dim][k] if dim in sizes else dim for dim in dims) for k in range(3)))
    config.add_optimization_profile(shapes)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UaoError(f"{trt.__name__} failed to build an engine from {onnx_path} (see its log above)")
    return bytes(serialized)


@contextlib.contextmanager
def _timing_cache_api():
    """TensorRT-RTX keeps the timing-cache API as deprecated no-ops: quiet its warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _load_timing_cache(trt, path: Path):
    with _timing_cache_api():
        config = trt.Builder(trt_logger(trt)).create_builder_config()
        return config.create_timing_cache(path.read_bytes() if path.is_file() else b"")


def _serialize_cache(cache) -> bytes:
    with _timing_cache_api():
        return bytes(cache.serialize())


def build_engines(onnx_dir: str | os.PathLike, out_dir: str | os.PathLike = "engines",
                  profile=DEFAULT_PROFILE, precision: str | None = None, flavour: str | None = None) -> dict:
    """Build forward/tto_step/tto_fused engines from an export directory; return the engine manifest.

    Each engine gets a sidecar ``<name>.engine.json`` (flavour and version, target, graph sha256,
    precision, profile); an engine already in ``out_dir`` whose sidecar matches is reused, any
    other is rebuilt. ``precision`` (optional) must match the graphs': engines are strongly typed,
    their precision is the graph's.
    """
    profile = check_profile(profile)
    onnx_dir, out = Path(onnx_dir), Path(out_dir)
    graphs = read_manifest(onnx_dir)
    if precision is not None and precision != graphs["precision"]:
        raise UaoError(f"{onnx_dir} holds {graphs['precision']} graphs, not {precision}: export them with "
                       f"--precision {precision} first")
    trt, flavour = load_tensorrt(flavour)
    common = {"flavour": flavour, "tensorrt_version": trt.__version__, "target": build_target(trt, flavour),
              "precision": graphs["precision"], "profile": {"min": profile[0], "opt": profile[1], "max": profile[2]}}
    log.info("building with %s %s for %s", flavour, trt.__version__, common["target"])
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(out.parent)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=temporary_prefix(out.name) + "staging-"))
    try:
        cache = _load_timing_cache(trt, out / TIMING_CACHE)
        manifest = {"format": "uao-engines", **common, "timing_cache": TIMING_CACHE, "graphs": {},
                    **{key: graphs[key] for key in ("checkpoint_sha256", "architecture", "model_config", "tto", "calibration", "joints", "metadata",
                                                    "objectives") if key in graphs}}
        moved = []
        for name, entry in graphs["graphs"].items():
            graph_path = onnx_dir / entry["file"]
            if not graph_path.is_file() or file_sha256(graph_path) != entry["sha256"]:
                raise UaoError(f"{graph_path} is missing or differs from its manifest entry: export again")
            sidecar = {**common, "graph": name, "graph_sha256": entry["sha256"],
                       "inputs": entry["inputs"], "outputs": entry["outputs"]}
            engine_file = f"{name}{ENGINE_SUFFIX}"
            cached = _matching_engine(out / engine_file, sidecar)
            if cached:
                log.info("%s: reusing %s (sidecar matches)", name, out / engine_file)
                sidecar = cached
            else:
                log.info("%s: building %s", name, engine_file)
                (staging / engine_file).write_bytes(build_engine(trt, graph_path, profile, cache, name))
                sidecar["engine_sha256"] = file_sha256(staging / engine_file)
                write_json(staging / f"{engine_file}.json", sidecar)
                moved += [engine_file, f"{engine_file}.json"]
            manifest["graphs"][name] = {"file": engine_file, "sidecar": f"{engine_file}.json",
                                        "sha256": sidecar["engine_sha256"], "graph_sha256": entry["sha256"],
                                        "inputs": entry["inputs"], "outputs": entry["outputs"]}
        (staging / TIMING_CACHE).write_bytes(_serialize_cache(cache))
        write_json(staging / MANIFEST, manifest)
        out.mkdir(parents=True, exist_ok=True)
        for file in moved + [TIMING_CACHE, MANIFEST]:  # an engine before its sidecar, the manifest last
            os.replace(staging / file, out / file)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _matching_engine(engine: Path, wanted: dict) -> dict | None:
    """The sidecar of ``engine`` if it describes the engine we would build now and the engine is intact."""
    try:
        sidecar = json.loads(Path(f"{engine}.json").read_text())
    except (OSError, ValueError):
        return None
    if any(sidecar.get(key) != wanted[key] for key in _SIDECAR_KEYS):
        return None
    if not engine.is_file() or file_sha256(engine) != sidecar.get("engine_sha256"):
        return None
    return sidecar


def export_engines(model_or_checkpoint=None, out_dir: str | os.PathLike = "engines", tto: TTOConfig = TTOConfig(),
                   precision: str = "fp32", profile=DEFAULT_PROFILE, flavour: str | None = None,
                   verify: bool = True, **objectives) -> dict:
    """Export the ONNX graphs (verified; ``objectives`` as :func:`~uao_deploy.export.onnx.export_onnx`
    takes them) to a temporary folder and build engines from them."""
    check_options(tto, precision)
    profile = check_profile(profile)
    load_tensorrt(flavour)  # fail before the (slow) export when no TensorRT is installed
    with tempfile.TemporaryDirectory(prefix="uao-onnx-") as onnx_dir:
        export_onnx(model_or_checkpoint, onnx_dir, tto=tto, precision=precision, verify=verify, **objectives)
        return build_engines(onnx_dir, out_dir, profile=profile, precision=precision, flavour=flavour)
