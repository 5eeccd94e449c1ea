"""The graph contract that the exporter writes and every engine reads: objectives, graph specs,
manifest and metadata. Imports neither torch nor the exporter, so a runtime install can read it."""
from .graphs import (MANIFEST, NORMALIZATION, PRECISIONS, TORCH_PRECISIONS, check_manifest_metadata, check_tto_iters,
                     checked_graph_files, graph_metadata, read_manifest)
from .objectives import (BATCH, FIRST_STEP, FRAME, GRAPHS, MAX_TTO_ITERS, MODEL_GRAPH, OBJECTIVES, GraphSpec, Objective,
                         TTOConfig, register)

__all__ = ["BATCH", "FIRST_STEP", "FRAME", "GRAPHS", "MANIFEST", "MAX_TTO_ITERS", "MODEL_GRAPH", "NORMALIZATION",
           "OBJECTIVES", "PRECISIONS", "TORCH_PRECISIONS", "GraphSpec", "Objective", "TTOConfig",
           "check_manifest_metadata", "check_tto_iters", "checked_graph_files", "graph_metadata", "read_manifest",
           "register"]
