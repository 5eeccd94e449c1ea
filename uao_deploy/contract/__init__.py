"""The graph contract that the exporter writes and every engine reads: objectives, graph specs,
manifest and metadata. Imports neither torch nor the exporter, so a runtime install can read it."""
from .graphs import MANIFEST, NORMALIZATION, PRECISIONS, TORCH_PRECISIONS, graph_metadata, read_manifest
from .objectives import (BATCH, FIRST_STEP, FRAME, GRAPHS, MODEL_GRAPH, OBJECTIVES, GraphSpec, Objective, TTOConfig,
                         register)

__all__ = ["BATCH", "FIRST_STEP", "FRAME", "GRAPHS", "MANIFEST", "MODEL_GRAPH", "NORMALIZATION", "OBJECTIVES",
           "PRECISIONS", "TORCH_PRECISIONS", "GraphSpec", "Objective", "TTOConfig", "graph_metadata", "read_manifest",
           "register"]
