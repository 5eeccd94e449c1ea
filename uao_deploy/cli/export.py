"""``uao export``: ONNX graphs or TensorRT engines of a lifter (GUMLP by default) and its test-time optimization."""
from __future__ import annotations

from pathlib import Path

import click

from ..contract import PRECISIONS, SequenceConfig
from ..export.formats import FORMATS
from ..runtimes import FLAVOURS
from . import options

from ..errors import UaoError


@click.command("export")
@options.model()
@options.checkpoint("Checkpoint of the lifter's weights (seed state dict or `uao train` output). "
                    "Default: the embedded model.")
@click.option("--format", "format_name", type=click.Choice(list(FORMATS)), default="onnx", show_default=True,
              help="onnx: graphs for ONNX Runtime and TensorRT; trt: TensorRT engines built from them.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder. Default: ./export/ (onnx) or ./engines/ (trt).")
@options.tto_iters(help="Adam steps K fixed in the fused TTO graph.")
@click.option("--no-flip", is_flag=True, help="TTO without the horizontally flipped copy.")
@click.option("--sequence-flip-steps/--no-sequence-flip-steps", default=SequenceConfig().flip_steps, show_default=True,
              help="Sequence UAO's Adam steps also move the flipped copy (twice the network work in the steps; "
                   "the final pose averages the flip either way).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="fp16: linear layers in float16, inputs, norms and Adam state in float32.")
@click.option("--batch", default=None, metavar="MIN:OPT:MAX",
              help="TensorRT batch profile (trt only). Default: 1:64:1024.")
@click.option("--flavour", type=click.Choice(FLAVOURS), default=None,
              help="TensorRT flavour (trt only). Default: tensorrt with a GPU, else tensorrt_rtx.")
def command(architecture, checkpoint, format_name, out, tto_iters, no_flip, sequence_flip_steps, precision, batch,
            flavour):
    """Export forward, TTO-step and fused-TTO graphs, checked against PyTorch before anything is written."""
    from ..export import DEFAULT_PROFILE, export, parse_profile
    from ..export.onnx import check_options
    from ..contract import TTOConfig
    from ..fileio import check_output_folder

    tto = TTOConfig(iters=tto_iters, flip=not no_flip)
    check_options(tto, precision)
    format_options = {}
    if format_name == "trt":
        format_options = {"profile": parse_profile(batch) if batch else DEFAULT_PROFILE, "flavour": flavour}
    elif batch or flavour:
        raise UaoError("--batch and --flavour apply to --format trt only")
    out = check_output_folder(out or Path(FORMATS[format_name].default_dir))
    described = " ".join(filter(None, (architecture, checkpoint))) or "the embedded model"
    checkpoint = options.lifter(architecture, checkpoint)
    click.echo(f"Exporting {described} to {out}/ as {format_name} ({precision}); one line per graph follows.")
    sequence = SequenceConfig(iters=tto_iters, flip_steps=sequence_flip_steps)
    manifest = export(format_name, checkpoint, out, tto=tto, precision=precision, sequence=sequence, **format_options)
    files = ", ".join(entry["file"] for entry in manifest["graphs"].values())
    if format_name == "trt":
        profile = manifest["profile"]
        target = ", ".join(str(value) for value in manifest["target"].values())
        click.echo(f"Built with {manifest['flavour']} {manifest['tensorrt_version']} for {target}: "
                   f"{files} (batch {profile['min']}:{profile['opt']}:{profile['max']}) in {out}/")
    else:
        click.echo(f"Wrote {files} and manifest.json to {out}/ (opset {manifest['opset']}, K = {tto_iters}).")
