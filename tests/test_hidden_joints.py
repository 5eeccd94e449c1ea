"""Training on hidden joints (``uao train --hide``): the lower body or a limb is removed and filled
exactly as ``uao infer`` fills undetected joints, from a prior without the sample's own clip; the
3D target stays the truth. ``--init``: a run starts from the given checkpoint's weights.
``--tilt-up``: the training cameras tilted up towards level."""
import numpy as np
import pytest
import torch

from uao_deploy import load_checkpoint
from uao_deploy.camera import normalize_screen_coordinates
from uao_deploy.data.cameras import TEST_SUBJECTS, TRAIN_SUBJECTS, cameras_of
from uao_deploy import skeleton
from uao_deploy.data.mocap import MocapTrainingData, NoiseModel, PairSynthesizer
from uao_deploy.jobs.hidden_joints import HiddenJoints, HideJoints
from uao_deploy.jobs.pose_prior import make_pose_prior
from uao_deploy.errors import UaoError
from uao_deploy.jobs.train import TrainConfig, train, validation_mpjpe
from uao_deploy.jobs.truncation import LIMBS, LOWER
from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint
from uao_deploy.pipeline.camera import Camera
from uao_deploy.pipeline.missing import INFERRED, fill_and_mark
from uao_deploy.pipeline.prepare import prepare

from cli_runner import uao
from conftest import STANDING_POSE, synthetic_walk

# The conftest's standing body seen from the front: x right, y down (normalized units).
FRONT = (STANDING_POSE[:, [0, 2]] * np.float32([0.4, -0.4]) + np.float32([0.0, 0.4]))


def _walking_clips(count=4, frames=40):
    """World clips (T, 17, 3), Z up: the conftest's walk, from a different moment each."""
    walk = synthetic_walk(frames * count)
    return [walk[index * frames:(index + 1) * frames] for index in range(count)]


def test_a_hidden_lower_body_is_filled_as_uao_infer_fills_it():
    """One frame through ``prepare`` (the pipeline) and through the training fill, in normalized
    coordinates with the pipeline's prior: the same points, where the truth was not."""
    width, height = 1000, 1000
    camera = Camera.default(width, height)
    pixels = ((FRONT + 1) * width / 2)[None].astype(np.float32)
    confidence = np.ones((1, 17), np.float32)
    confidence[:, LOWER] = 0
    prepared = prepare(pixels, camera, confidence)
    assert (prepared.joint_source[0, LOWER] == INFERRED).all()
    x = normalize_screen_coordinates(pixels, width, height)
    filled = HideJoints.fill(x, LOWER)
    expected = normalize_screen_coordinates(prepared.pixels, width, height)
    np.testing.assert_allclose(filled, expected, atol=1e-5)
    np.testing.assert_array_equal(filled[:, 7:], x[:, 7:])  # the upper body is kept as detected
    moved = np.linalg.norm(filled[0, LOWER] - x[0, LOWER], axis=-1)
    assert moved.max() > 1e-3  # the truth is gone: the lower body is the prior's guess


def test_training_batches_hide_the_chosen_joints_from_a_prior_without_their_clip():
    clips = _walking_clips()
    hide = HideJoints(clips, HiddenJoints(rate=1.0, lower_share=1.0))
    # Fold f's prior holds the clips of the other fold only.
    np.testing.assert_array_equal(hide.priors[0], make_pose_prior([clips[1], clips[3]]))
    np.testing.assert_array_equal(hide.priors[1], make_pose_prior([clips[0], clips[2]]))
    generator = torch.Generator().manual_seed(0)
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 0.02, (6, 17, 2)).astype(np.float32))
    x += torch.from_numpy(FRONT)
    clip = torch.tensor([0, 1, 2, 3, 0, 1])
    hidden = hide(x, clip, generator).numpy()
    np.testing.assert_array_equal(hidden[:, 7:], x.numpy()[:, 7:])
    for row in range(len(x)):  # each sample alone, as one frame of the pipeline, from its fold's prior
        frame = x.numpy()[row:row + 1].astype(np.float64)
        frame[:, LOWER] = np.nan
        alone, _ = fill_and_mark(frame, prior=hide.priors[int(clip[row]) % 2])
        np.testing.assert_allclose(hidden[row], alone[0], atol=1e-6)
    assert not np.allclose(hidden[:, LOWER], x.numpy()[:, LOWER], atol=1e-3)


def test_limbs_and_the_share_of_hidden_samples():
    clips = _walking_clips()
    hide = HideJoints(clips, HiddenJoints(rate=0.5, lower_share=0.0))
    x = torch.from_numpy(np.tile(FRONT[None], (400, 1, 1)).astype(np.float32))
    changed = ~np.isclose(hide(x, torch.zeros(400, dtype=torch.long), torch.Generator().manual_seed(3)).numpy(),
                          x.numpy(), atol=1e-6).all(axis=-1)
    patterns = {tuple(np.flatnonzero(row)) for row in changed if row.any()}
    assert patterns <= {tuple(sorted(limb)) for limb in LIMBS} and len(patterns) == len(LIMBS)
    assert 0.4 < changed.any(axis=1).mean() < 0.6
    untouched = HideJoints(clips, HiddenJoints(rate=0.0))(x, torch.zeros(400, dtype=torch.long),
                                                           torch.Generator().manual_seed(3))
    assert torch.equal(untouched, x)


def test_mocap_training_data_keeps_the_true_targets(tmp_path):
    train_path, val_path = _mocap_files(tmp_path)

    def data(hide):
        return MocapTrainingData(train_path, val_path, cameras_of(TRAIN_SUBJECTS),
                                 cameras_of(TEST_SUBJECTS[:1]), noise=NoiseModel(1.0, 2.0), stride=1,
                                 views_per_frame=1, val_stride=10, hide=hide)

    plain = data(None)
    hiding = data(lambda train_clips: HideJoints(train_clips, HiddenJoints(rate=1.0, lower_share=1.0)))
    x, target = next(plain.epoch(32, torch.Generator().manual_seed(5)))
    x_hidden, target_hidden = next(hiding.epoch(32, torch.Generator().manual_seed(5)))
    assert torch.equal(target, target_hidden)
    assert torch.equal(x[:, 7:], x_hidden[:, 7:]) and not torch.allclose(x[:, :7], x_hidden[:, :7])
    assert hiding.description["hidden_joints"]["rate"] == 1.0 and "hidden_joints" not in plain.description
    validation = hiding.validation()
    assert validation["x_lower_out"].shape == validation["x"].shape and "x_lower_out" not in plain.validation()


def _mocap_files(tmp_path):
    clips = _walking_clips()
    np.savez(tmp_path / "train.npz", **{f"01_0{i}": clip for i, clip in enumerate(clips)})
    np.savez(tmp_path / "val.npz", a=clips[0])
    return tmp_path / "train.npz", tmp_path / "val.npz"


def test_init_starts_from_the_given_weights(tmp_path):
    train_path, val_path = _mocap_files(tmp_path)
    torch.manual_seed(123)
    start = GUMLP(GUMLPConfig(channels=16, layers=1, channel_hidden=16))
    save_checkpoint(start, tmp_path / "start.pth")
    data = MocapTrainingData(train_path, val_path, cameras_of(TRAIN_SUBJECTS), cameras_of(TEST_SUBJECTS[:1]),
                             stride=1, views_per_frame=1, val_stride=10)
    config = TrainConfig(model=None, init=str(tmp_path / "start.pth"), epochs=1, lr=1e-9, max_batches=1)
    history = train(data, config, tmp_path / "run", progress=False)
    tuned = load_checkpoint(tmp_path / "run" / "best.pth")
    assert tuned.config.channels == 16  # sized by the checkpoint
    for name, tensor in start.state_dict().items():  # one step of lr 1e-9 moves nothing visible
        np.testing.assert_allclose(tuned.state_dict()[name], tensor, atol=1e-6, err_msg=name)
    expected = validation_mpjpe(load_checkpoint(tmp_path / "start.pth"), data.validation(), "cpu")
    assert history["epochs"][0]["val_mpjpe_mm"] == pytest.approx(expected, abs=1e-2)
    with pytest.raises(UaoError, match="--init"):
        TrainConfig(model=GUMLPConfig(channels=16, layers=1), init=str(tmp_path / "start.pth"))


def test_uao_train_refuses_sizes_with_init(tmp_path, capsys):
    train_path, val_path = _mocap_files(tmp_path)
    save_checkpoint(GUMLP(GUMLPConfig(channels=16, layers=1, channel_hidden=16)), tmp_path / "start.pth")
    code, _, err = uao(capsys, "train", "--data", train_path, "--val", val_path, "--init", tmp_path / "start.pth",
                       "--channels", 32, "--out", tmp_path / "run")
    assert code == 2 and "--init takes the checkpoint's sizes" in err
    assert not (tmp_path / "run").exists()


def test_tilting_the_camera_up_levels_the_view_of_an_upright_body():
    """The Human3.6M camera looks down, so an upright trunk leans towards it; tilted up by 0 to 30
    degrees it leans both ways, the bones keep their lengths, and a tilt of 0 changes nothing."""
    camera = cameras_of(TRAIN_SUBJECTS)[:1]
    world = torch.from_numpy(np.repeat(STANDING_POSE[None], 256, axis=0))
    index = torch.arange(256)

    def trunks(tilt_up):
        synthesizer = PairSynthesizer(world, camera, NoiseModel(0.0, 0.0), shift=0.0, tilt_up=tilt_up)
        x, target, _, _ = synthesizer(index, torch.Generator().manual_seed(0))
        trunk = target[:, 8] - target[:, 0]  # pelvis -> thorax, camera frame (y down, z forward)
        return x, target, trunk[:, 2] / trunk.norm(dim=-1)

    x_level, target_level, lean_level = trunks(0.0)
    assert (lean_level < -0.1).all()  # the thorax nearer the camera than the pelvis: it looks down
    x, target, lean = trunks(30.0)
    assert lean.min() < -0.1 and lean.max() > 0.1
    bones = [(joint, parent) for joint, parent in enumerate(skeleton.PARENTS) if parent >= 0]
    for joint, parent in bones:
        np.testing.assert_allclose((target[:, joint] - target[:, parent]).norm(dim=-1),
                                   (target_level[:, joint] - target_level[:, parent]).norm(dim=-1), atol=1e-5)
    assert not torch.allclose(x, x_level)
