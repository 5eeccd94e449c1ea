"""Reduced precision: bf16 TTO steps on the torch backend, float32 poses, millimetre-level changes."""
import numpy as np
import pytest
import torch

from uao_deploy import engines
from uao_deploy.errors import UaoError
from uao_deploy.jobs.infer import open_engine
from uao_deploy.model import default_checkpoint, load_checkpoint
from uao_deploy.model.precision import CastTo, with_low_precision_mlps
from uao_deploy.inputs import load_pairs


@pytest.fixture(scope="module")
def sample():
    """The embedded sample: 143 frames of a real walk with intrinsics and root."""
    pairs = load_pairs()
    return pairs["x"], pairs["cam"], pairs["root"]


@pytest.fixture(scope="module")
def fp32_and_bf16():
    return engines.load(None, backend="torch"), engines.load(None, backend="torch", precision="bf16")


def test_with_low_precision_mlps_casts_only_the_u_mlps_of_a_copy():
    model = load_checkpoint(default_checkpoint())
    mixed = with_low_precision_mlps(model)
    half = with_low_precision_mlps(model, "fp16")
    assert {name for name, p in half.named_parameters() if p.dtype == torch.float16} == \
        {name for name, p in mixed.named_parameters() if p.dtype == torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the caller's model is untouched
    bf16 = {name for name, p in mixed.named_parameters() if p.dtype == torch.bfloat16}
    assert bf16 and all(".channel_mlp." in name or ".spatial_mlp." in name for name in bf16)
    assert all(isinstance(block.channel_mlp, CastTo) for block in mixed.GCN_MLP.blocks)
    assert mixed.encoder.fc1.weight.dtype == mixed.GCN_MLP.blocks[0].gcn1.conv1d.weight.dtype == torch.float32
    x = torch.from_numpy(load_pairs()["x"])
    with torch.no_grad():
        mu, s = mixed(x)
        reference = model(x)[0]
    assert mu.dtype == s.dtype == torch.float32
    assert 0 < (mu - reference).abs().max().item() < 0.02  # bf16 rounding: visible, millimetres


def test_bf16_engine_keeps_predictions_float32_and_moves_tto_poses_below_half_a_millimetre(fp32_and_bf16, sample):
    fp32, bf16 = fp32_and_bf16
    assert bf16.precision == "bf16" and bf16.describe()["precision"] == "bf16"
    np.testing.assert_array_equal(bf16.predict(sample[0]), fp32.predict(sample[0]))
    np.testing.assert_array_equal(bf16.forward(sample[0]), fp32.forward(sample[0]))
    refined, reference = bf16.tto(*sample), fp32.tto(*sample)
    distance_mm = np.linalg.norm(refined - reference, axis=-1) * 1000
    assert 0 < distance_mm.mean() <= 0.5  # the bound; measured 0.13-0.21 mm
    assert np.abs(reference - fp32.predict(sample[0])).max() > 5 * distance_mm.mean() / 1000  # TTO moves far more


def test_bf16_host_loop_takes_its_pseudo_targets_from_the_bf16_network(fp32_and_bf16, sample):
    # A float32 target for a bf16 step gives the distance term a random direction at z = x
    # (1.5 mm mean change measured); from the same network it is 0 there, as in float32.
    _, bf16 = fp32_and_bf16
    fused = bf16.tto(*sample)
    looped = bf16.tto(*sample, fused=False)
    assert bf16.last_tto_path == "step-loop"
    assert np.linalg.norm(looped - fused, axis=-1).mean() < 2e-5  # metres: Adam in numpy vs torch only
    x = sample[0]
    assert np.abs(bf16._target_mu(x) - bf16.forward(x)).max() > 0  # targets are not the float32 forward


def test_unknown_precision_and_bf16_on_graph_backends_are_errors(tmp_path):
    with pytest.raises(UaoError, match="precision fp32 or bf16 or fp16; got 'int8'"):
        engines.load(None, backend="torch", precision="int8")
    with pytest.raises(UaoError, match="precision bf16 runs on the torch backend"):
        open_engine("onnxruntime", tmp_path, precision="bf16")
    assert open_engine("torch", precision="bf16").precision == "bf16"
