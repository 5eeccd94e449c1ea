"""GUMLP against the seed: forward parity, checkpoint formats and clear errors."""
import numpy as np
import pytest
import torch

from uao_deploy import GUMLP, GUMLPConfig, UaoError, default_checkpoint, load_checkpoint, save_checkpoint
from uao_deploy.model.adjacency import partitioned_adjacency
from uao_deploy.model.checkpoint import read_sidecar


@pytest.fixture(scope="module")
def seed_model(shared_dir):
    return load_checkpoint(shared_dir / "reference" / "gumlp_seed_format.pth")


def test_adjacency_matches_the_seed(shared_dir):
    np.testing.assert_array_equal(partitioned_adjacency(), np.load(shared_dir / "reference" / "adjacency.npy"))


def test_state_dict_names_and_shapes_match_the_seed(shared_dir):
    import json

    expected = {name: tuple(shape) for name, shape in json.loads((shared_dir / "reference" / "state_dict_keys.json").read_text())}
    actual = {name: tuple(t.shape) for name, t in GUMLP().state_dict().items()}
    assert actual == expected


def test_forward_matches_golden(seed_model, golden):
    with torch.no_grad():
        mu, s = seed_model(torch.from_numpy(golden["x"]))
        mu_f, s_f = seed_model(torch.from_numpy(golden["x"][:, :, [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]] * np.array([-1, 1], np.float32)))
    assert mu.shape == (64, 1, 17, 3) and s.shape == (64, 1, 17, 1)
    np.testing.assert_allclose(mu.numpy(), golden["fwd_mu"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(s.numpy(), golden["fwd_s"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(mu_f.numpy(), golden["fwd_mu_flipped_input"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(s_f.numpy(), golden["fwd_s_flipped_input"], atol=1e-5, rtol=0)


def test_seed_checkpoint_loads_in_eval_mode(seed_model):
    assert not seed_model.training
    assert seed_model.config.channels == 512 and seed_model.config.layers == 3


def test_project_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = GUMLP(GUMLPConfig(channels=32, layers=2, channel_hidden=48)).eval()
    path = save_checkpoint(model, tmp_path / "small.pth", {"note": "test"})
    loaded = load_checkpoint(path)
    assert loaded.config == GUMLPConfig(channels=32, layers=2, channel_hidden=48)
    x = torch.randn(5, 17, 2)
    torch.testing.assert_close(loaded(x)[0], model(x)[0])
    sidecar = read_sidecar(path)
    assert sidecar["note"] == "test" and len(sidecar["sha256"]) == 64
    # The saved file is a plain state dict, the seed's own format.
    assert set(torch.load(path, weights_only=True)) == set(model.state_dict())


def test_embedded_default_checkpoint_loads():
    model = load_checkpoint()
    assert default_checkpoint().stat().st_size < 20 * 2**20
    mu, s = model(torch.zeros(2, 1, 17, 2))
    assert mu.shape == (2, 1, 17, 3) and torch.isfinite(mu).all()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(UaoError, match="not found"):
        load_checkpoint(tmp_path / "nope.pth")


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(UaoError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(path)


def test_foreign_content_is_a_clear_error(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(UaoError, match="does not hold a state dict"):
        load_checkpoint(path)


def test_wrong_keys_and_shapes_are_named(tmp_path):
    state = GUMLP(GUMLPConfig(channels=32, layers=1)).state_dict()
    state.pop("pred_s.fc5.bias")
    state["pred_mu.fc5.weight"] = torch.zeros(4, 16)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(UaoError) as info:
        load_checkpoint(tmp_path / "bad.pth")
    message = str(info.value)
    assert "missing keys: pred_s.fc5.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "pred_mu.fc5.weight (4, 16) (expected (3, 16))" in message
