"""``uao calibrate``: measure a checkpoint's root depth bias on mocap clips and record it in its sidecar."""
from __future__ import annotations

import click

from ..errors import UaoError
from . import options


@click.command("calibrate")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@options.model(help="Lifter architecture of CHECKPOINT: gumlp (default), martinez, FILE.py:NAME or "
                    "package.module:NAME.")
@options.data("Mocap clips (.npz, clip -> (T, 17, 3) metres): the model's training clips or held-out ones, "
              "never the clips you report results on.", name="mocap")
@options.old_spelling("--mocap", type=click.Path(exists=True, dir_okay=False))
@click.option("--noise", default="0,4,8", show_default=True,
              help="Keypoint noise levels in px (at 1000 px width), comma-separated; every clip is seen at each.")
@click.option("--seed", default=0, show_default=True, help="Seed of the noise draw.")
@click.option("--dry-run", is_flag=True, help="Print the calibration; leave the sidecar as it is.")
def command(checkpoint, architecture, mocap, old_mocap, noise, seed, dry_run):
    """Fit the video pipeline's root to keypoint videos of CHECKPOINT's model and record the depth scale
    that takes it to the truth in CHECKPOINT.json, which every later export and engine of it carries."""
    from .. import engines
    from ..data.mocap import load_mocap
    from ..jobs.calibrate import calibrate_root_depth
    from ..model.checkpoint import write_calibration
    from ..model.files import sidecar_path

    mocap = options.renamed(mocap, old_mocap, "--data", "--mocap")
    if mocap is None:
        raise click.UsageError("Missing option '--data': the mocap clips to calibrate on")
    try:
        levels = tuple(float(level) for level in noise.split(","))
    except ValueError:
        raise UaoError(f"--noise takes px values separated by commas, e.g. 0,4,8; got {noise!r}") from None
    lifter = options.lifter(architecture, checkpoint)
    with engines.load(lifter, backend="torch") as engine:
        calibration = calibrate_root_depth(engine, load_mocap(mocap), mocap, levels, seed, progress=True)
    click.echo(f"root depth scale {calibration.root_depth_scale:.4f} ({calibration.measured_on})")
    if not dry_run:
        write_calibration(lifter, calibration)
        click.echo(f"recorded in {sidecar_path(checkpoint)}; exports made from now on carry it")
