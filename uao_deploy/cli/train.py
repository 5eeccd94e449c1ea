"""``uao train``: train a lifter (GUMLP by default) on motion capture (CMU in the H36M skeleton) or Human3.6M."""
from __future__ import annotations

import click

from ..data.cameras import TRAIN_SUBJECTS, cameras_of, evaluation_cameras
from ..data.h36m import H36MTrainingData
from ..data.mocap import MocapTrainingData, NoiseModel
from ..device import torch_device
from ..fileio import check_output_folder
from ..model.registry import model_spec
from ..jobs import distributed
from ..jobs.hidden_joints import HiddenJoints, HideJoints
from ..jobs.train import BEST_NAME, TrainConfig, train
from . import options

MOCAP_ONLY = ("views", "noise", "outlier_rate", "hide", "hide_lower", "tilt_up")  # options that only mocap training reads
# Far beyond any lifter of the field (GUMLP: 512 channels, 3 blocks), short of a model that cannot be built.
MAX_CHANNELS, MAX_LAYERS = 8192, 64


@click.command("train")
@options.data("Training clips: a mocap .npz, clip -> (T, 17, 3) metres, Z-up world.", name="mocap_train")
@options.old_spelling("--mocap", type=click.Path(exists=True, dir_okay=False))
@click.option("--val", "mocap_val", type=click.Path(exists=True, dir_okay=False),
              help="Validation clips in the same format (used to keep the best epoch).")
@click.option("--h36m-3d", type=click.Path(exists=True, dir_okay=False),
              help="Instead of mocap: VideoPose3D's data_3d_h36m.npz (pickled: it is unpickled, pass only "
                   "files you trust). Trains on S1 S5 S6 S7 S8, validates on S9 S11.")
@click.option("--h36m-2d", type=click.Path(exists=True, dir_okay=False),
              help="With --h36m-3d: VideoPose3D's data_2d_h36m_<detector>.npz (pickled, as --h36m-3d).")
@click.option("--out", type=click.Path(file_okay=False), default="runs/train", show_default=True)
@options.model()
@click.option("--channels", default=None, type=click.IntRange(1, MAX_CHANNELS),
              help="Feature width: GUMLP's channels (default 512), martinez's layer width (default 512).")
@click.option("--layers", default=None, type=click.IntRange(1, MAX_LAYERS),
              help="GUMLP's blocks (default 3), martinez's residual blocks (default 2).")
@click.option("--epochs", default=40, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--lr-decay", default=0.95, show_default=True, help="Learning-rate factor per epoch.")
@click.option("--stride", default=2, show_default=True, type=click.IntRange(min=1), help="Use every n-th training frame.")
@click.option("--views", default=4, show_default=True, type=click.IntRange(min=1),
              help="Random camera views of each frame per epoch.")
@click.option("--noise", nargs=2, type=float, default=(3.0, 5.0), show_default=True,
              help="Detector noise sigma range in pixels (at 1000 px width).")
@click.option("--outlier-rate", default=0.0, show_default=True, help="Share of joints with a gross detector error.")
@click.option("--hide", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of training samples with the lower body or one limb hidden, their 2D filled as "
                   "`uao infer` fills undetected joints (the target stays the truth).")
@click.option("--hide-lower", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Of the samples with hidden joints, the share with the whole lower body out (the rest: one limb).")
@click.option("--tilt-up", default=0.0, show_default=True, type=click.FloatRange(0, 45),
              help="Tilt each sample's camera up by a random angle of 0 to this many degrees (the Human3.6M "
                   "cameras all look 11-16 degrees down; phones and webcams are often level).")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False),
              help="Start from this checkpoint's weights (fine-tuning); it sets the model's sizes.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--bf16/--fp32", default=False, show_default=True, help="bf16 autocast in the forward pass.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2 ** 63 - 1))
@click.option("--max-batches", type=click.IntRange(min=1), default=None, help="Stop each epoch after this many batches.")
@click.option("--resume", is_flag=True, help="Continue from OUT/last_state.pt.")
@click.pass_context
def command(ctx, mocap_train, old_mocap, mocap_val, h36m_3d, h36m_2d, out, architecture, channels, layers, epochs, batch_size, lr, lr_decay, stride, views, noise,
            outlier_rate, hide, hide_lower, tilt_up, init, device, bf16, seed, max_batches, resume):
    """Train with the paper's recipe; writes OUT/best.pth (seed format) with a JSON sidecar.

    Under `torchrun --nproc-per-node N` the N processes share each batch (DistributedDataParallel).
    """
    mocap_train = options.renamed(mocap_train, old_mocap, "--data", "--mocap")
    check_output_folder(out)
    registered = model_spec(architecture).architecture
    if registered is None and (channels or layers):
        raise click.UsageError("--channels and --layers size the registered architectures; a user's module sizes itself")
    if init and (channels or layers):
        raise click.UsageError("--init takes the checkpoint's sizes; drop --channels and --layers")
    device = distributed.local_device(device)
    torch_device(device)
    if h36m_3d and h36m_2d and not (mocap_train or mocap_val):
        given = [f"--{name.replace('_', '-')}" for name in MOCAP_ONLY
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:  # Human3.6M pairs come with their own 2D detections and cameras
            raise click.UsageError(f"{', '.join(given)}: mocap-only (they shape the synthetic 2D); "
                                   "Human3.6M training uses its own 2D detections")
        data = H36MTrainingData(h36m_3d, h36m_2d, stride=stride, device=device)
    elif mocap_train and mocap_val and not (h36m_3d or h36m_2d):
        data = MocapTrainingData(mocap_train, mocap_val, cameras_of(TRAIN_SUBJECTS), evaluation_cameras(),
                                 noise=NoiseModel(*noise, outlier_rate=outlier_rate), stride=stride,
                                 views_per_frame=views, device=device, tilt_up=tilt_up,
                                 hide=(lambda clips: HideJoints(clips, HiddenJoints(hide, hide_lower))) if hide > 0 else None)
    else:
        raise click.UsageError("give either --data and --val, or --h36m-3d and --h36m-2d")
    config = TrainConfig(model=None if init else registered and registered.sized(channels, layers),
                         architecture=architecture or "gumlp", init=init,
                         epochs=epochs, batch_size=batch_size,
                         lr=lr, lr_decay=lr_decay, seed=seed, bf16=bf16, device=device, max_batches=max_batches)
    with distributed.process_group(device) as ranks:
        history = train(data, config, out, resume=resume)
    if ranks.is_main:
        click.echo(f"best validation MPJPE {history['best_val_mpjpe_mm']:.1f} mm at epoch {history['best_epoch']}; "
                   f"checkpoint {out}/{BEST_NAME}")
