"""The engine contract: one interface over every backend, with the shared work done once.

A backend implements only the raw graph calls (:meth:`Engine._run` on numpy chunks of at most
:meth:`Engine.max_batch` frames); this class validates inputs, reshapes the seed's (B, 1, 17, C),
splits big batches and runs UAO, either through a fused graph or by looping the step graph with
:func:`uao_deploy.tto.refine` on the host.
"""
from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import skeleton
from ..camera import CAM_DIM
from ..errors import UaoError
from ..contract import (FRAME, GRAPHS, MODEL_GRAPH, SEQUENCE, Calibration, ExportSettings, SequenceConfig, TTOConfig,
                        check_tto_iters, checked_graph_files, read_manifest)
from ..shapes import as_joint_batch, as_vector_batch
from ..tto import flip_average, refine
from ..tto.optimize import refine_sequence, targets_then_step

class Engine(ABC):
    """GUMLP and UAO on one backend; every method takes and returns float32 numpy arrays.

    Subclasses set ``backend``, ``configs`` and ``precision`` (graph engines all three, and the
    calibration, with :meth:`_use_settings`) and implement :meth:`_run` (and :meth:`max_batch` when
    their graphs have a batch limit).
    """

    backend: str
    configs: dict  # {objective: its config} for every registered objective whose graphs this engine runs
    precision: str = "fp32"
    calibration: Calibration = Calibration()  # the model's measured biases (none for an older export)
    checkpoint_sha256: str | None = None

    def __init__(self):
        self.last_tto_path: str | None = None  # "fused" or "step-loop", set by every tto() call

    @property
    def tto_config(self) -> TTOConfig:
        return self.configs[FRAME.name]

    @property
    def sequence_config(self) -> SequenceConfig | None:
        """None: the export holds no sequence UAO graphs."""
        return self.configs.get(SEQUENCE.name)

    @property
    def fused_iters(self) -> int | None:
        """K of the fused TTO graph (its config's iters), None when there is none."""
        return self.tto_config.iters

    def _use_settings(self, settings: ExportSettings) -> None:
        """Take the configs, calibration, precision and checkpoint an export's metadata records."""
        self.configs, self.calibration = settings.configs, settings.calibration
        self.precision, self.checkpoint_sha256 = settings.precision, settings.checkpoint_sha256

    # --- what a backend implements -------------------------------------------------------
    @abstractmethod
    def _run(self, graph: str, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run ``graph`` (any graph of :data:`uao_deploy.contract.GRAPHS` it holds) on one chunk;
        inputs and outputs in contract order."""

    def holds(self, graph: str) -> bool:
        """Whether this engine can run ``graph``."""
        return graph in GRAPHS

    def max_batch(self, graph: str) -> int | None:
        """Largest batch one call of ``graph`` accepts (None: no limit)."""
        return None

    def open_ahead(self, *graphs: str) -> None:
        """Start getting ``graphs`` ready in the background, so that their first calls wait less (for a
        backend that opens a graph on its first call, while the caller does other work); the default
        does nothing."""

    def uao_graph(self, iters: int, sequence: bool = False) -> str:
        """The graph that :meth:`tto` (or, with ``sequence``, :meth:`sequence_tto`) runs for ``iters``
        iterations: the objective's fused graph where its K is ``iters``, else its step graph."""
        if sequence:
            return SEQUENCE.fused if self._fuses_sequence(iters) else SEQUENCE.step
        return FRAME.fused if self._fuses(iters) else FRAME.step

    def describe(self) -> dict:
        """Backend, device or providers, graph files, precision and TTO config, for run metadata."""
        return {"backend": self.backend, "precision": self.precision, "tto": self.tto_config.to_dict(),
                "fused_iters": self.fused_iters,
                "sequence": None if self.sequence_config is None else self.sequence_config.to_dict(),
                "calibration": self.calibration.to_dict()}

    def close(self) -> None:
        """Release sessions, engines and device memory."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- the public interface ------------------------------------------------------------
    def run(self, graph: str, *inputs) -> tuple[np.ndarray, ...]:
        """The outputs of any graph this engine holds, inputs and outputs in its signature's order
        (:data:`uao_deploy.contract.GRAPHS`); big batches run in chunks."""
        spec = GRAPHS.get(graph)
        if spec is None or not self.holds(graph):
            raise UaoError(f"this {self.backend} engine has no {graph} graph")
        if len(inputs) != len(spec.inputs):
            raise UaoError(f"the {graph} graph takes {len(spec.inputs)} inputs ({', '.join(spec.input_names)}); "
                           f"got {len(inputs)}")
        return self._call(graph, *(_float32(array, tensor.name) for array, tensor in zip(inputs, spec.inputs)))

    def forward(self, x, return_uncertainty: bool = False):
        """Raw network output mu (B, 17, 3) for x (B, [1,] 17, 2); with the uncertainty s (B, 17, 1)."""
        x = _joints(x, 2, "x")
        mu, s = self._call(MODEL_GRAPH, x)
        return (mu, s) if return_uncertainty else mu

    def predict(self, x) -> np.ndarray:
        """Flip-averaged, root-zeroed pose (B, 17, 3) without test-time optimization."""
        x = _joints(x, 2, "x")
        return flip_average(self._forward_mu, x, skeleton.flip_pose(x), self.tto_config.flip)

    def value_and_grad(self, z, z_flip, x, mu0, mu0_flip, cam, root):
        """Per-sample TTO loss (B,) and its gradients w.r.t. z and z_flip (B, 17, 2) each."""
        return self._call(FRAME.step, *self._step_inputs(z, z_flip, x, mu0, mu0_flip, cam, root))

    def tto(self, x, cam, root, iters: int | None = None, return_losses: bool = False, fused: bool | None = None):
        """UAO-refined, root-zeroed pose (B, 17, 3); with the per-sample losses (iters, B) on request.

        x (B, [1,] 17, 2) normalized keypoints, cam (B, 9) normalized intrinsics, root (B, 3) metres.
        The fused graph runs when it was exported with ``iters`` steps, else the step graph is looped
        on the host; ``fused`` forces one or the other. ``last_tto_path`` tells which ran.
        """
        x = _joints(x, 2, "x")
        cam = _vectors(cam, CAM_DIM, "cam", len(x))
        root = _vectors(root, 3, "root", len(x))
        config = self.tto_config if iters is None else replace(self.tto_config, iters=_iteration_count(iters))
        use_fused = self._fuses(config.iters) if fused is None else fused
        if use_fused and not self._fuses(config.iters):
            raise UaoError(f"no fused TTO graph for {config.iters} iterations on this engine "
                           f"(fused K = {self.fused_iters}); leave fused unset to loop the step graph")
        if use_fused:
            pose, losses = self._fused(x, cam, root, config)
        else:
            first_step = functools.partial(targets_then_step, self._target_mu, self._step, config.flip)
            pose, losses = refine(self._forward_mu, self._step, x, cam, root, config, first_step)
            losses = np.stack(losses) if losses else np.zeros((0, len(x)), np.float32)
        self.last_tto_path = "fused" if use_fused else "step-loop"
        return (pose, losses) if return_losses else pose

    def sequence_tto(self, x, confidence, cam, root, iters: int | None = None):
        """Sequence UAO on windows (:data:`uao_deploy.contract.SEQUENCE`); returns (pose (W, T, 17, 3)
        root-zeroed, root trajectory (W, T, 3), losses (iters, W)).

        x (W, T, 17, 2) normalized keypoints, confidence (W, T, 17), cam (W, 9) normalized intrinsics,
        root (W, T, 3) the initial trajectory in metres. The fused graph runs when its K is ``iters``,
        else the step graph is looped on the host.
        """
        if self.sequence_config is None:
            raise UaoError(f"this {self.backend} engine has no sequence UAO graphs (an export of an older "
                           "uao-deploy, or one made without them); export again with `uao export`, or use --mode frame")
        x, confidence, cam, root = _windows(x, confidence, cam, root)
        config = self.sequence_config if iters is None else replace(self.sequence_config, iters=_iteration_count(iters))
        use_fused = self._fuses_sequence(config.iters)
        if use_fused:
            outputs = self._sequence_fused(x, confidence, cam, root, config)
        else:
            pose, trajectory, losses = refine_sequence(
                lambda v: self._call(MODEL_GRAPH, v), lambda *a: self._call(SEQUENCE.step, *a), x, confidence, cam, root,
                config)
            outputs = pose, trajectory, np.stack(losses) if losses else np.zeros((0, len(x)), np.float32)
        self.last_tto_path = "fused" if use_fused else "step-loop"
        return outputs

    # --- shared plumbing -----------------------------------------------------------------
    def _fuses_sequence(self, iters: int) -> bool:
        return self.sequence_config.iters == iters

    def _sequence_fused(self, x, confidence, cam, root, config: SequenceConfig):
        return self._call(SEQUENCE.fused, x, confidence, cam, root)

    def _fuses(self, iters: int) -> bool:
        return self.fused_iters == iters

    def path_notice(self, iters: int) -> str | None:
        """Why ``tto(iters=...)`` will not run as one fused graph, in words for a log line (None: it will)."""
        if iters == 0 or self._fuses(iters):
            return None
        return (f"this {self.backend} engine's fused TTO graph has K = {self.fused_iters}; {iters} iterations run "
                "the step graph on the host, about 2x slower (export with --tto-iters to fuse them)")

    def _fused(self, x, cam, root, config: TTOConfig):
        """(pose, losses (K, B)) from the fused graph, whose K equals ``config.iters``."""
        return self._call(FRAME.fused, x, cam, root)

    def _forward_mu(self, x):
        return self._call(MODEL_GRAPH, x)[0]

    def _target_mu(self, x):
        """mu for the pseudo-targets: of the network the step graph differentiates (the forward's here)."""
        return self._forward_mu(x)

    def _step(self, *inputs):
        return self._call(FRAME.step, *inputs)

    def _call(self, graph: str, *inputs: np.ndarray):
        """Run ``graph`` in chunks of at most max_batch frames (or windows) and join the outputs."""
        limit = self.max_batch(graph) or len(inputs[0])
        chunks = [self._run(graph, *(a[start:start + limit] for a in inputs))
                  for start in range(0, len(inputs[0]), limit)]
        if len(chunks) == 1:
            return tuple(chunks[0])
        return tuple(np.concatenate(parts, axis=axis) for parts, axis in zip(zip(*chunks), GRAPHS[graph].batch_axes()))

    def _step_inputs(self, z, z_flip, x, mu0, mu0_flip, cam, root):
        joints = [_joints(a, c, n) for a, c, n in ((z, 2, "z"), (z_flip, 2, "z_flip"), (x, 2, "x"),
                                                   (mu0, 3, "mu0"), (mu0_flip, 3, "mu0_flip"))]
        batch = len(joints[0])
        for array, name in zip(joints[1:], ("z_flip", "x", "mu0", "mu0_flip")):
            if len(array) != batch:
                raise UaoError(f"{name} holds {len(array)} frames but z holds {batch}")
        return (*joints, _vectors(cam, CAM_DIM, "cam", batch), _vectors(root, 3, "root", batch))


def _float32(array, name: str) -> np.ndarray:
    try:
        return np.ascontiguousarray(array, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise UaoError(f"{name} is not a numeric array ({exc})") from None


def _joints(array, channels: int, name: str) -> np.ndarray:
    array = np.ascontiguousarray(as_joint_batch(_float32(array, name), channels, name))
    if len(array) == 0:
        raise UaoError(f"{name} holds no frames")
    return array


def _vectors(array, size: int, name: str, batch: int) -> np.ndarray:
    return np.ascontiguousarray(as_vector_batch(_float32(array, name), size, name, batch))


def _windows(x, confidence, cam, root):
    """The sequence inputs as float32 arrays, checked to be windows of one shape."""
    x = _float32(x, "x")
    if x.ndim != 4 or x.shape[2:] != (17, 2) or 0 in x.shape[:2]:
        raise UaoError(f"x must be windows of keypoints (W, T, 17, 2); got shape {x.shape}")
    windows, frames = x.shape[:2]
    wanted = {"confidence": (windows, frames, 17), "cam": (windows, CAM_DIM), "root": (windows, frames, 3)}
    arrays = {name: _float32(array, name) for name, array in (("confidence", confidence), ("cam", cam), ("root", root))}
    for name, array in arrays.items():
        if array.shape != wanted[name]:
            raise UaoError(f"{name} must have shape {wanted[name]} for x of shape {x.shape}; got {array.shape}")
    return x, arrays["confidence"], arrays["cam"], arrays["root"]


def _iteration_count(iters) -> int:
    if isinstance(iters, np.integer):
        iters = int(iters)
    return check_tto_iters(iters)


# --- export and engine folders ----------------------------------------------------------------
REPAIR_HINT = "export it again with `uao export`"


def graph_files(folder, suffix: str, backend: str, hashed: bool = True) -> tuple[dict[str, Path], dict]:
    """(``{graph: path}`` of the graphs that the manifest of ``folder`` lists, the manifest); UaoError
    when any is missing or (unless not ``hashed``: the engine then checks each graph
    it opens, :func:`~uao_deploy.contract.graphs.check_graph_sha256`) differs from the sha256 its manifest records.

    A folder that holds the other kind of artefact (engines where ONNX was expected, or the
    reverse) is named as such rather than reported as incomplete.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UaoError(f"{folder} is not a directory; the {backend} backend loads a folder of *{suffix} files")
    other = {".onnx": ".engine", ".engine": ".onnx"}[suffix]
    if not (folder / f"{MODEL_GRAPH}{suffix}").is_file() and (folder / f"{MODEL_GRAPH}{other}").is_file():
        kind = {".onnx": "ONNX graphs (backend 'onnxruntime')", ".engine": "TensorRT engines (backend 'tensorrt')"}
        raise UaoError(f"{folder} holds {kind[other]}, not {kind[suffix]}")
    manifest = read_manifest(folder)
    return checked_graph_files(folder, manifest, REPAIR_HINT, hashed), manifest
