"""The graph contract that the exporter writes and every engine reads: objectives, graph specs,
manifest and metadata. Imports neither torch nor the exporter, so a runtime install can read it."""
from .graphs import (BATCH, FIRST_STEP, GRAPHS, MANIFEST, MAX_TTO_ITERS, NORMALIZATION, PRECISIONS, GraphSpec,
                     check_manifest_metadata, check_tto_iters, checked_graph_files, graph_metadata, read_manifest)

__all__ = ["BATCH", "FIRST_STEP", "GRAPHS", "MANIFEST", "MAX_TTO_ITERS", "NORMALIZATION", "PRECISIONS", "GraphSpec",
           "check_manifest_metadata", "check_tto_iters", "checked_graph_files", "graph_metadata", "read_manifest"]
