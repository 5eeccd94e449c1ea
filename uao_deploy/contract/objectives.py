"""The registry of TTO objectives: each one's settings, the graphs that carry it and their signatures.

An objective is registered once (its config class, its graph specs with the kind of each output, the
metadata key of its config, and the module with its PyTorch side); the exporter writes and checks its
graphs, manifests list graphs by objective, engines run whatever graphs a folder's manifest lists,
and ``uao verify``, ``uao bench`` and the GPU check loop over the registry. A new objective is one
module (its reference functions and sample inputs) plus one :func:`register` call.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

from .. import skeleton
from ..errors import UaoError

BATCH = "B"  # the symbolic batch dimension in shapes (frames)
WINDOWS = "W"  # windows of a sequence objective, optimized together but independently
FRAMES = "T"  # frames per window
ITERATIONS = "K"  # TTO iterations, fixed at export
DYNAMIC = (BATCH, WINDOWS, FRAMES)  # the symbols that stay dynamic in exported graphs
# Frames per window of sequence UAO: what ``uao infer`` sends (shorter videos send fewer) and what
# TensorRT profiles are tuned for. 2 s at 50 fps: long enough for the temporal terms, short enough
# that a window's activations stay small.
WINDOW_FRAMES = 100
MODEL_GRAPH = "forward"  # the network alone; every export has it, whatever its objectives
# The most TTO iterations accepted anywhere: the paper uses 4, gains stop well before 64, and each
# fused step adds a copy of the network's backward to the graph.
MAX_TTO_ITERS = 64


# How each graph output is compared with the reference (uao_deploy.compare.Tolerances has one field per
# kind): the network's raw outputs by their largest absolute difference; losses and gradients relative
# to each sample's own scale; poses (and other optimized quantities) by their largest absolute difference.
FORWARD_OUTPUT, GRADIENT_OUTPUT, POSE_OUTPUT = "forward", "gradient", "pose"
OUTPUT_KINDS = (FORWARD_OUTPUT, GRADIENT_OUTPUT, POSE_OUTPUT)


class Tensor(NamedTuple):
    """One input or output of a graph; ``kind`` (outputs only) says how it is compared."""

    name: str
    shape: tuple
    kind: str = ""


@dataclass(frozen=True)
class GraphSpec:
    """Name and signature of one exported graph; shapes use the symbols above for their sizes.

    Written as ``(name, shape)`` pairs for inputs and ``(name, shape, kind)`` triples for outputs.
    """

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(Tensor(*tensor) for tensor in self.inputs))
        object.__setattr__(self, "outputs", tuple(Tensor(*tensor) for tensor in self.outputs))
        unknown = [tensor.name for tensor in self.outputs if tensor.kind not in OUTPUT_KINDS]
        if unknown:
            raise ValueError(f"graph {self.name}: outputs {unknown} have no kind of {OUTPUT_KINDS}")

    @property
    def input_names(self) -> list[str]:
        return [tensor.name for tensor in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [tensor.name for tensor in self.outputs]

    @property
    def per_window(self) -> bool:
        """Whether the graph's first dimension counts windows of a sequence rather than frames."""
        return self.inputs[0].shape[0] == WINDOWS

    def batch_axes(self) -> tuple[int, ...]:
        """The axis of each output that counts frames or windows (losses are (K, B))."""
        return tuple(next(axis for axis, dim in enumerate(tensor.shape) if dim in (BATCH, WINDOWS))
                     for tensor in self.outputs)

    def signature(self, iters: int) -> dict:
        """Inputs and outputs as JSON-ready lists, with K replaced by the exported iteration count."""
        def describe(tensors):
            return [{"name": tensor.name, "shape": [iters if dim == ITERATIONS else dim for dim in tensor.shape],
                     "dtype": "float32"} for tensor in tensors]
        return {"inputs": describe(self.inputs), "outputs": describe(self.outputs)}


class Settings:
    """Hyper-parameters recorded in exports and results as JSON, and read back strictly."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source="settings", remedy: str = ""):
        """The settings recorded in metadata; unknown keys are an error naming ``source`` (and ``remedy``)."""
        names = {field.name for field in fields(cls)}
        if not isinstance(values, dict):
            raise UaoError(f"{source} holds no {cls.__name__} settings (a JSON object): {values!r:.80}")
        if set(values) - names:
            raise UaoError(f"{source} holds {cls.__name__} settings this version does not know "
                           f"({', '.join(sorted(set(values) - names))}){remedy}")
        return cls(**values)


@dataclass(frozen=True)
class Calibration(Settings):
    """A model's measured bias, kept in its checkpoint's sidecar and in every export of it.

    ``root_depth_scale``: the factor that takes the video pipeline's least-squares root trajectory to
    the true one, on average over mocap clips (the root moves along its viewing ray, so the 2D fit
    is unchanged). The fitted root sits too far when the predicted poses spread wider than the true
    ones, which even a well-trained lifter's errors do, and when the lens distorts. Measured by
    ``uao calibrate`` (:mod:`uao_deploy.jobs.calibrate`); 1.0 for a model never calibrated.
    """

    root_depth_scale: float = 1.0
    measured_on: str = ""

    def __post_init__(self):
        if isinstance(self.root_depth_scale, bool) or not isinstance(self.root_depth_scale, (int, float)) \
                or not 0.5 <= self.root_depth_scale <= 2.0:
            raise UaoError(f"a root depth scale must be a number from 0.5 to 2; got {self.root_depth_scale!r}")


@dataclass(frozen=True)
class TTOConfig(Settings):
    """Hyper-parameters of per-frame UAO (the paper's defaults)."""

    iters: int = 4
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    w_gauss: float = 0.005
    w_proj: float = 1.0
    flip: bool = True


@dataclass(frozen=True)
class SequenceConfig(Settings):
    """Hyper-parameters of sequence UAO (:mod:`uao_deploy.tto.sequence`), chosen on the val clips.

    The root trajectory is a variable of the objective (its gradient is in the graphs), but its
    default step is 0: it starts at the smooth least-squares trajectory, and on the val clips every
    step tried made it worse. How each default was chosen: benchmarks/results/sequence_config_choice.md.
    """

    iters: int = 4
    lr: float = 1e-3  # z and z_flip, normalized image units (as UAO)
    lr_root: float = 0.0  # metres
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    w_gauss: float = 0.005
    w_proj: float = 1.0
    w_smooth: float = 0.1
    w_bone: float = 0.1
    w_root: float = 1.0
    # False: the Adam steps move z alone and run the network on it only (half their work and memory);
    # the final prediction still averages z's pose with its flip's. On the val and test clips the
    # flipped copy in the steps changed no score beyond noise (benchmarks/results, sequence_cuts).
    flip_steps: bool = False

    def step_sizes(self) -> dict:
        return {"z": self.lr, "z_flip": self.lr, "root": self.lr_root}

    @classmethod
    def from_dict(cls, values: dict, source="settings", remedy: str = ""):
        """As :meth:`Settings.from_dict`; exports made before ``flip_steps`` existed moved the flipped
        copy in their steps."""
        return super().from_dict({"flip_steps": True, **values} if isinstance(values, dict) else values, source, remedy)


@dataclass(frozen=True)
class Objective:
    """One test-time objective as exported: its entry in the registry holds everything the exporter,
    the engines, the checks and the benchmarks need to know about it.

    ``config``: its Settings class, whose ``iters`` is the K of its fused graph (K lives there only);
    ``graphs``: the graphs written to files (signatures, output kinds); ``inlined``: graphs traced only
    to be pasted into the fused one; ``metadata_key``: where exports record its config; ``required``:
    every export holds it (others may be left out, as a whole). ``reference`` names the module (or is
    an object) with the PyTorch side, which the exporter traces and checks against:

    * ``reference_functions(model, config) -> {graph: function}`` for every graph but the fused one,
      plus the fused one's (``fused_loop`` over the others);
    * ``fused_loop({graph: callable}, config) -> function`` (when ``fused`` is set);
    * ``sample_inputs(graph, forward, batch, seed) -> tuple of tensors``: plausible inputs of ``graph``
      for checks and benchmarks (``forward`` the model, for inputs that are its predictions).
    """

    name: str
    config: type
    graphs: tuple[GraphSpec, ...]
    metadata_key: str
    reference: object = ""
    inlined: tuple[GraphSpec, ...] = ()
    step: str | None = None  # the graph of one optimizer step, which engines loop on the host
    fused: str | None = None  # the K-step loop in one graph
    required: bool = False

    def spec(self, graph: str) -> GraphSpec:
        return {spec.name: spec for spec in (*self.graphs, *self.inlined)}[graph]

    @property
    def graph_names(self) -> frozenset[str]:
        """The names of the graphs written to files."""
        return frozenset(spec.name for spec in self.graphs)

    @property
    def own_graphs(self) -> tuple[GraphSpec, ...]:
        """The graphs written to files that are this objective's alone (not the shared forward)."""
        return tuple(spec for spec in self.graphs if spec.name != MODEL_GRAPH)

    @property
    def fused_spec(self) -> GraphSpec | None:
        return self.spec(self.fused) if self.fused else None

    def functions(self):
        """The reference module (imported on first use: it needs torch)."""
        return importlib.import_module(self.reference) if isinstance(self.reference, str) else self.reference


OBJECTIVES: dict[str, Objective] = {}
GRAPHS: dict[str, GraphSpec] = {}  # every graph an export can hold, by name (file stem)


def register(objective: Objective) -> Objective:
    """Add an objective and its graphs; graph names are file names, so they must be unique."""
    clashes = [spec.name for spec in objective.graphs if spec.name in GRAPHS and GRAPHS[spec.name] != spec]
    keys = [other.metadata_key for other in OBJECTIVES.values()]
    if objective.name in OBJECTIVES or clashes or objective.metadata_key in keys:
        raise ValueError(f"objective {objective.name!r}, its metadata key or its graphs {clashes} are registered already")
    OBJECTIVES[objective.name] = objective
    GRAPHS.update({spec.name: spec for spec in objective.graphs})
    return objective


def objective_of(graph: str) -> Objective:
    """The objective that writes ``graph`` (for the shared forward: the required one's)."""
    owners = [objective for objective in OBJECTIVES.values() if graph in objective.graph_names]
    if not owners:
        raise KeyError(f"no registered objective has a graph {graph!r}")
    return next((owner for owner in owners if owner.required), owners[0])


_J = skeleton.NUM_JOINTS
_B, _W, _T, _K = BATCH, WINDOWS, FRAMES, ITERATIONS
_NET, _GRAD, _POSE = FORWARD_OUTPUT, GRADIENT_OUTPUT, POSE_OUTPUT
FORWARD = GraphSpec(MODEL_GRAPH, (("x", (_B, _J, 2)),), (("mu", (_B, _J, 3), _NET), ("s", (_B, _J, 1), _NET)))

# Per-frame UAO, as the paper: Adam on the 2D input (and its flip) against the network's own
# pseudo-targets and the reprojection through a given root.
FRAME = register(Objective(
    name="frame",
    config=TTOConfig,
    metadata_key="uao.tto",
    required=True,
    graphs=(
        FORWARD,
        GraphSpec(
            "tto_step",
            (("z", (_B, _J, 2)), ("z_flip", (_B, _J, 2)), ("x", (_B, _J, 2)), ("mu0", (_B, _J, 3)),
             ("mu0_flip", (_B, _J, 3)), ("cam", (_B, 9)), ("root", (_B, 3))),
            (("loss", (_B,), _GRAD), ("grad_z", (_B, _J, 2), _GRAD), ("grad_z_flip", (_B, _J, 2), _GRAD)),
        ),
        GraphSpec(
            "tto_fused",
            (("x", (_B, _J, 2)), ("cam", (_B, 9)), ("root", (_B, 3))),
            (("pose", (_B, _J, 3), _POSE), ("losses", (_K, _B), _GRAD)),
        ),
    ),
    # The first step also returns the pseudo-targets, saving the seed's duplicate forward at z = x.
    inlined=(GraphSpec(
        "tto_first_step",
        (("z", (_B, _J, 2)), ("z_flip", (_B, _J, 2)), ("x", (_B, _J, 2)), ("cam", (_B, 9)), ("root", (_B, 3))),
        (("loss", (_B,), _GRAD), ("grad_z", (_B, _J, 2), _GRAD), ("grad_z_flip", (_B, _J, 2), _GRAD),
         ("mu0", (_B, _J, 3), _NET), ("mu0_flip", (_B, _J, 3), _NET)),
    ),),
    step="tto_step",
    fused="tto_fused",
    reference="uao_deploy.tto.frame_graphs",
))

# Sequence UAO over windows of T frames: per-frame UAO's terms plus the root trajectory, temporal
# smoothness of the absolute joints and bone-length consistency. The camera is an input: the focal
# length is estimated once, on the host (uao_deploy.pipeline.focal).
SEQUENCE = register(Objective(
    name="sequence",
    config=SequenceConfig,
    metadata_key="uao.sequence",
    graphs=(
        GraphSpec(
            "seq_step",
            (("z", (_W, _T, _J, 2)), ("z_flip", (_W, _T, _J, 2)), ("root", (_W, _T, 3)),
             ("x", (_W, _T, _J, 2)), ("confidence", (_W, _T, _J)), ("smooth_weight", (_W, _T, _J)),
             ("mu0", (_W, _T, _J, 3)), ("mu0_flip", (_W, _T, _J, 3)), ("cam", (_W, 9))),
            (("loss", (_W,), _GRAD), ("grad_z", (_W, _T, _J, 2), _GRAD), ("grad_z_flip", (_W, _T, _J, 2), _GRAD),
             ("grad_root", (_W, _T, 3), _GRAD)),
        ),
        GraphSpec(
            "seq_fused",
            (("x", (_W, _T, _J, 2)), ("confidence", (_W, _T, _J)), ("cam", (_W, 9)), ("root", (_W, _T, 3))),
            (("pose", (_W, _T, _J, 3), _POSE), ("trajectory", (_W, _T, 3), _POSE), ("losses", (_K, _W), _GRAD)),
        ),
    ),
    # The first step also returns the targets (as per-frame UAO's): one forward fewer per window.
    inlined=(GraphSpec(
        "seq_first_step",
        (("z", (_W, _T, _J, 2)), ("z_flip", (_W, _T, _J, 2)), ("root", (_W, _T, 3)),
         ("x", (_W, _T, _J, 2)), ("confidence", (_W, _T, _J)), ("cam", (_W, 9))),
        (("loss", (_W,), _GRAD), ("grad_z", (_W, _T, _J, 2), _GRAD), ("grad_z_flip", (_W, _T, _J, 2), _GRAD),
         ("grad_root", (_W, _T, 3), _GRAD), ("mu0", (_W, _T, _J, 3), _NET),
         ("mu0_flip", (_W, _T, _J, 3), _NET), ("smooth_weight", (_W, _T, _J), _NET)),
    ),),
    step="seq_step",
    fused="seq_fused",
    reference="uao_deploy.tto.sequence",
))
