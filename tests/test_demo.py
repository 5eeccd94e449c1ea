"""``uao demo`` and the embedded sample it runs on."""
import json

import numpy as np
import pytest
import torch

from cli_runner import uao
from uao_deploy.data.mocap import NoiseModel
from uao_deploy.data.sample import SAMPLE_PATH, make_sample

pytestmark = pytest.mark.slow  # exports the embedded model


@pytest.fixture(autouse=True)
def one_thread():
    """Few frames run fastest on one thread (thread hand-offs cost more than the maths)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



def test_sample_is_a_small_plain_npz():
    assert SAMPLE_PATH.stat().st_size < 200 * 1024
    with np.load(SAMPLE_PATH, allow_pickle=False) as sample:
        arrays = {key: sample[key] for key in sample.files}  # would raise on pickled content
    frames = len(arrays["keypoints"])
    assert 100 <= frames <= 250 and arrays["keypoints"].shape == (frames, 17, 3)
    assert (arrays["keypoints"][..., 2] == 1).all() and float(arrays["fps"]) == 50
    assert arrays["poses_3d_gt"].shape == (frames, 17, 3) and (arrays["poses_3d_gt"][:, 0] == 0).all()
    assert (arrays["keypoints"][..., 0] > 0).all() and (arrays["keypoints"][..., 0] < arrays["width"]).all()


def test_sample_is_made_by_the_project_code(shared_dir):
    mocap = shared_dir / "data" / "cmu_h36m17" / "test.npz"
    made = make_sample(mocap)
    with np.load(SAMPLE_PATH) as shipped:
        assert sorted(shipped.files) == sorted(made)
        for key in shipped.files:
            np.testing.assert_allclose(shipped[key], made[key], atol=1e-3, err_msg=key)
    exact = make_sample(mocap, noise=NoiseModel(0.0, 0.0))["keypoints"][..., :2]
    assert 2.5 < (made["keypoints"][..., :2] - exact).std() < 3.5  # the documented 3 px detector noise


def test_demo_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    code, stdout, stderr = uao(capsys, "demo", "--backend", "torch", "--frames", "8", "--render-step", "4", "-o", out)
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["sample_3d.gif", "sample_3d.npz", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["metrics"]) == {"mpjpe_mm", "mpjpe_mm_no_tto", "p_mpjpe_mm", "root_error_mm"}
    assert 0 < summary["metrics"]["p_mpjpe_mm"] <= summary["metrics"]["mpjpe_mm"]
    assert f"MPJPE {summary['metrics']['mpjpe_mm']:.1f} mm" in stdout
    assert {"export_and_load", "lift_tto", "render"} <= set(summary["timings_s"])
    with np.load(out / "sample_3d.npz") as result:
        assert result["poses_3d"].shape == (8, 17, 3)
        assert result["poses_world"].shape == (8, 17, 3) and result["root_world"].shape == (8, 3)  # one writer


def test_demo_refuses_a_file_as_folder(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    code, _, stderr = uao(capsys, "demo", "--backend", "torch", "-o", tmp_path / "taken")
    assert code != 0 and "Traceback" not in stderr

