"""The graph contract that the exporter writes and every engine reads: objectives, graph specs,
manifest and metadata. Imports neither torch nor the exporter, so a runtime install can read it."""
from .graphs import (MANIFEST, NORMALIZATION, PRECISIONS, TORCH_PRECISIONS, check_manifest_metadata, check_tto_iters,
                     checked_graph_files, graph_metadata, read_manifest)
from .objectives import (BATCH, Calibration, DYNAMIC, FIRST_STEP, FRAME, FRAMES, GRAPHS, ITERATIONS, MAX_TTO_ITERS, MODEL_GRAPH,
                         OBJECTIVES, SEQUENCE, WINDOW_FRAMES, WINDOWS, GraphSpec, Objective, SequenceConfig, Settings, TTOConfig,
                         register)

__all__ = ["BATCH", "Calibration", "DYNAMIC", "FIRST_STEP", "FRAME", "FRAMES", "GRAPHS", "ITERATIONS", "MANIFEST", "MAX_TTO_ITERS",
           "MODEL_GRAPH", "NORMALIZATION", "OBJECTIVES", "PRECISIONS", "SEQUENCE", "TORCH_PRECISIONS", "WINDOW_FRAMES", "WINDOWS",
           "GraphSpec", "Objective", "SequenceConfig", "Settings", "TTOConfig",
           "check_manifest_metadata", "check_tto_iters", "checked_graph_files", "graph_metadata", "read_manifest",
           "register"]
