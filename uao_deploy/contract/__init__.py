"""The graph contract that the exporter writes and every engine reads: objectives, graph specs,
manifest and metadata. Imports neither torch nor the exporter, so a runtime install can read it."""
from .graphs import (MANIFEST, NORMALIZATION, PRECISIONS, TORCH_PRECISIONS, ExportSettings, check_graph_sha256,
                     check_manifest_metadata, check_tto_iters, checked_graph_files, export_settings, graph_metadata, read_manifest)
from .objectives import (BATCH, DYNAMIC, FORWARD_OUTPUT, FRAME, FRAMES, GRAPHS, ITERATIONS, MAX_TTO_ITERS, MODEL_GRAPH, OBJECTIVES,
                         GRADIENT_OUTPUT, OUTPUT_KINDS, POSE_OUTPUT, SEQUENCE, WINDOW_FRAMES, WINDOWS, Calibration, GraphSpec, Objective, SequenceConfig,
                         Settings, TTOConfig, objective_of, register)

__all__ = ["BATCH", "DYNAMIC", "FORWARD_OUTPUT", "FRAME", "FRAMES", "GRAPHS", "ITERATIONS", "MANIFEST", "MAX_TTO_ITERS", "MODEL_GRAPH",
           "NORMALIZATION", "GRADIENT_OUTPUT", "OBJECTIVES", "OUTPUT_KINDS", "POSE_OUTPUT", "PRECISIONS", "SEQUENCE", "TORCH_PRECISIONS", "WINDOW_FRAMES",
           "WINDOWS", "Calibration", "ExportSettings", "GraphSpec", "Objective", "SequenceConfig", "Settings", "TTOConfig",
           "check_graph_sha256", "check_manifest_metadata", "check_tto_iters", "checked_graph_files", "export_settings", "graph_metadata",
           "objective_of", "read_manifest", "register"]
