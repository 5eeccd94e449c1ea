"""The registry of TTO objectives: each one's settings and the graphs that carry it.

An objective is registered once here (its config class, its graph specs, and where the exporter
finds the PyTorch functions to trace); the exporter writes its graphs, manifests list graphs by
objective, and engines run whatever graphs a folder's manifest lists. A new objective is one
module with its reference functions plus one :func:`register` call.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

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


@dataclass(frozen=True)
class GraphSpec:
    """Name and signature of one exported graph; shapes use the symbols above for their sizes."""

    name: str
    inputs: tuple[tuple[str, tuple], ...]
    outputs: tuple[tuple[str, tuple], ...]

    @property
    def input_names(self) -> list[str]:
        return [name for name, _ in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [name for name, _ in self.outputs]

    def signature(self, iters: int) -> dict:
        """Inputs and outputs as JSON-ready lists, with K replaced by the exported iteration count."""
        def describe(tensors):
            return [{"name": name, "shape": [iters if dim == ITERATIONS else dim for dim in shape], "dtype": "float32"}
                    for name, shape in tensors]
        return {"inputs": describe(self.inputs), "outputs": describe(self.outputs)}


class Settings:
    """Hyper-parameters recorded in exports and results as JSON, and read back strictly."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source="settings"):
        """The settings recorded in metadata; unknown keys are an error naming ``source``."""
        names = {field.name for field in fields(cls)}
        if not isinstance(values, dict) or set(values) - names:
            raise UaoError(f"{source} holds {cls.__name__} settings this version does not know: {values!r}")
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
    lr_focal: float = 0.02  # log focal scale
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    w_gauss: float = 0.005
    w_proj: float = 1.0
    w_smooth: float = 0.1
    w_bone: float = 0.1
    w_root: float = 1.0
    fit_focal: bool = False

    def step_sizes(self) -> dict:
        return {"z": self.lr, "z_flip": self.lr, "root": self.lr_root, "log_focal": self.lr_focal}


@dataclass(frozen=True)
class Objective:
    """One test-time objective as exported: settings, graphs written to files, graphs only inlined."""

    name: str
    config: type
    graphs: tuple[GraphSpec, ...]
    inlined: tuple[GraphSpec, ...] = ()  # traced to be pasted into another graph, never written alone
    fused: str | None = None  # the graph traced as a loop over stand-ins for the others
    # The module the exporter imports for the PyTorch functions it traces: ``reference_functions(model,
    # config) -> {graph: function}`` and ``fused_loop({graph: callable}, config) -> function``.
    reference: str = ""

    def spec(self, graph: str) -> GraphSpec:
        return {spec.name: spec for spec in (*self.graphs, *self.inlined)}[graph]

    @property
    def graph_names(self) -> frozenset[str]:
        """The names of the graphs written to files."""
        return frozenset(spec.name for spec in self.graphs)

    @property
    def fused_spec(self) -> GraphSpec | None:
        return self.spec(self.fused) if self.fused else None


OBJECTIVES: dict[str, Objective] = {}
GRAPHS: dict[str, GraphSpec] = {}  # every graph an export can hold, by name (file stem)


def register(objective: Objective) -> Objective:
    """Add an objective and its graphs; graph names are file names, so they must be unique."""
    clashes = [spec.name for spec in objective.graphs if spec.name in GRAPHS and GRAPHS[spec.name] != spec]
    if objective.name in OBJECTIVES or clashes:
        raise ValueError(f"objective {objective.name!r} or its graphs {clashes} are registered already")
    OBJECTIVES[objective.name] = objective
    GRAPHS.update({spec.name: spec for spec in objective.graphs})
    return objective


_J = skeleton.NUM_JOINTS
FORWARD = GraphSpec(MODEL_GRAPH, (("x", (BATCH, _J, 2)),), (("mu", (BATCH, _J, 3)), ("s", (BATCH, _J, 1))))

# Per-frame UAO, as the paper: Adam on the 2D input (and its flip) against the network's own
# pseudo-targets and the reprojection through a given root.
FRAME = register(Objective(
    name="frame",
    config=TTOConfig,
    graphs=(
        FORWARD,
        GraphSpec(
            "tto_step",
            (("z", (BATCH, _J, 2)), ("z_flip", (BATCH, _J, 2)), ("x", (BATCH, _J, 2)), ("mu0", (BATCH, _J, 3)),
             ("mu0_flip", (BATCH, _J, 3)), ("cam", (BATCH, 9)), ("root", (BATCH, 3))),
            (("loss", (BATCH,)), ("grad_z", (BATCH, _J, 2)), ("grad_z_flip", (BATCH, _J, 2))),
        ),
        GraphSpec(
            "tto_fused",
            (("x", (BATCH, _J, 2)), ("cam", (BATCH, 9)), ("root", (BATCH, 3))),
            (("pose", (BATCH, _J, 3)), ("losses", (ITERATIONS, BATCH))),
        ),
    ),
    # The first step also returns the pseudo-targets, saving the seed's duplicate forward at z = x.
    inlined=(GraphSpec(
        "tto_first_step",
        (("z", (BATCH, _J, 2)), ("z_flip", (BATCH, _J, 2)), ("x", (BATCH, _J, 2)), ("cam", (BATCH, 9)),
         ("root", (BATCH, 3))),
        (("loss", (BATCH,)), ("grad_z", (BATCH, _J, 2)), ("grad_z_flip", (BATCH, _J, 2)), ("mu0", (BATCH, _J, 3)),
         ("mu0_flip", (BATCH, _J, 3))),
    ),),
    fused="tto_fused",
    reference="uao_deploy.tto.frame_graphs",
))
FIRST_STEP = FRAME.spec("tto_first_step")

_W, _T = WINDOWS, FRAMES
# Sequence UAO over windows of T frames: per-frame UAO's terms plus the root trajectory, temporal
# smoothness of the absolute joints, bone-length consistency and (optionally) a focal scale.
SEQUENCE = register(Objective(
    name="sequence",
    config=SequenceConfig,
    graphs=(
        GraphSpec(
            "seq_step",
            (("z", (_W, _T, _J, 2)), ("z_flip", (_W, _T, _J, 2)), ("root", (_W, _T, 3)), ("log_focal", (_W, 1)),
             ("x", (_W, _T, _J, 2)), ("confidence", (_W, _T, _J)), ("smooth_weight", (_W, _T, _J)),
             ("mu0", (_W, _T, _J, 3)), ("mu0_flip", (_W, _T, _J, 3)), ("cam", (_W, 9))),
            (("loss", (_W,)), ("grad_z", (_W, _T, _J, 2)), ("grad_z_flip", (_W, _T, _J, 2)), ("grad_root", (_W, _T, 3)),
             ("grad_log_focal", (_W, 1))),
        ),
        GraphSpec(
            "seq_fused",
            (("x", (_W, _T, _J, 2)), ("confidence", (_W, _T, _J)), ("cam", (_W, 9)), ("root", (_W, _T, 3))),
            (("pose", (_W, _T, _J, 3)), ("trajectory", (_W, _T, 3)), ("focal_scale", (_W, 1)),
             ("losses", (ITERATIONS, _W))),
        ),
    ),
    # The first step also returns the targets (as per-frame UAO's): one forward fewer per window.
    inlined=(GraphSpec(
        "seq_first_step",
        (("z", (_W, _T, _J, 2)), ("z_flip", (_W, _T, _J, 2)), ("root", (_W, _T, 3)), ("log_focal", (_W, 1)),
         ("x", (_W, _T, _J, 2)), ("confidence", (_W, _T, _J)), ("cam", (_W, 9))),
        (("loss", (_W,)), ("grad_z", (_W, _T, _J, 2)), ("grad_z_flip", (_W, _T, _J, 2)), ("grad_root", (_W, _T, 3)),
         ("grad_log_focal", (_W, 1)), ("mu0", (_W, _T, _J, 3)), ("mu0_flip", (_W, _T, _J, 3)),
         ("smooth_weight", (_W, _T, _J))),
    ),),
    fused="seq_fused",
    reference="uao_deploy.tto.sequence",
))
