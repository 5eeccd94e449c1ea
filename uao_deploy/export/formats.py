"""The export formats in one table: what each writes, where by default, and which options it takes."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from ..errors import UaoError
from ..contract import OBJECTIVES, TTOConfig
from .onnx import export_onnx
from .tensorrt import export_engines


@dataclass(frozen=True)
class ExportFormat:
    name: str
    default_dir: str
    export: Callable  # (model_or_checkpoint, out_dir, tto=, precision=, **options) -> manifest
    options: tuple[str, ...]  # keyword options beyond tto and precision (and every objective's config, by its name)


FORMATS = {
    fmt.name: fmt for fmt in (
        ExportFormat("onnx", "export", export_onnx, ("verify",)),  # ONNX graphs, verified in ONNX Runtime
        ExportFormat("trt", "engines", export_engines, ("profile", "flavour", "verify")),  # TensorRT engines of them
    )
}


def export(format_name: str, model_or_checkpoint=None, out_dir: str | os.PathLike | None = None,
           tto: TTOConfig = TTOConfig(), precision: str = "fp32", **options) -> dict:
    """Export in one format of :data:`FORMATS`; options the format does not take are refused."""
    if format_name not in FORMATS:
        raise UaoError(f"unknown export format {format_name!r}; choose one of {', '.join(FORMATS)}")
    fmt = FORMATS[format_name]
    foreign = sorted(set(options) - set(fmt.options) - set(OBJECTIVES))
    if foreign:
        raise UaoError(f"format {fmt.name} does not take {', '.join(foreign)}")
    return fmt.export(model_or_checkpoint, fmt.default_dir if out_dir is None else out_dir,
                      tto=tto, precision=precision, **options)
