"""``uao demo``: the embedded model on the embedded sample, end to end, with timings."""
from __future__ import annotations

import click

from . import options


@click.command("demo")
@click.option("-o", "--out", default="demo_out", show_default=True, type=click.Path(file_okay=False),
              help="Folder for sample_3d.npz, sample_3d.gif and summary.json.")
@click.option("--backend", type=click.Choice(["torch", "onnxruntime"]), default="onnxruntime",
              show_default=True, help="onnxruntime exports the embedded model once into the cache.")
@options.tto_iters(minimum=0, help="UAO iterations (0: the plain lifter).")
@click.option("--render/--no-render", default=True, show_default=True, help="Write the animation.")
@click.option("--render-step", default=2, show_default=True, type=click.IntRange(min=1),
              help="Draw every n-th frame.")
@click.option("--frames", type=click.IntRange(min=1), help="Lift only the first N frames of the sample.")
def command(out, backend, tto_iters, render, render_step, frames):
    """Export, lift the embedded sample (CMU walk, Human3.6M camera), report MPJPE, render."""
    from ..jobs.demo import demo

    demo(out, backend=backend, iters=tto_iters, render=render, render_step=render_step, frames=frames,
         log=click.echo)
