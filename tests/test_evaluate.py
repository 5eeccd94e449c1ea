"""uao_deploy.jobs.evaluate and ``uao eval``: per-group and mean errors, TTO, roots, JSON (tiny model and clips)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from uao_deploy.cli import cli
from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of, evaluation_cameras, levelled
from uao_deploy.data.mocap import NoiseModel, evaluation_pairs
from uao_deploy.errors import UaoError
from uao_deploy.jobs.evaluate import evaluate, format_table
from uao_deploy.metrics import mpjpe
from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint
from uao_deploy.tto import TTOConfig, optimize, predict

TINY = GUMLPConfig(channels=16, layers=1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GUMLP(TINY).eval()


@pytest.fixture
def pairs(mocap_clips):
    return evaluation_pairs(mocap_clips, cameras_of(TEST_SUBJECTS), NoiseModel(2.0, 2.0), seed=0)


def group_rows(pairs, name):
    rows = pairs["clip"] == pairs["names"].index(name)
    return {key: torch.from_numpy(pairs[key][rows]) for key in ("x", "target", "cam", "root")}


def test_report_has_per_clip_and_mean_errors(model, pairs):
    report = evaluate(model, pairs, tto=None)
    assert report["groups"] == ["walk", "jump", "wave"] and report["frames"] == len(pairs["x"])
    assert report["frames_per_group"] == {"walk": 20 * 8, "jump": 14 * 8, "wave": 9 * 8}
    assert set(report["methods"]) == {"plain"} and report["tto"] is None
    for metric in ("mpjpe_mm", "p_mpjpe_mm"):
        summary = report["methods"]["plain"][metric]
        assert set(summary["per_group"]) == {"walk", "jump", "wave"}
        assert summary["mean"] == pytest.approx(np.mean(list(summary["per_group"].values())))
    wave = group_rows(pairs, "wave")
    expected = mpjpe(predict(model, wave["x"]).numpy(), wave["target"].numpy()).mean() * 1000
    assert report["methods"]["plain"]["mpjpe_mm"]["per_group"]["wave"] == pytest.approx(expected, rel=1e-5)
    assert report["methods"]["plain"]["p_mpjpe_mm"]["mean"] < report["methods"]["plain"]["mpjpe_mm"]["mean"]


def test_tto_with_ground_truth_root_changes_the_errors(model, pairs):
    plain = evaluate(model, pairs, tto=None)
    report = evaluate(model, pairs, tto=TTOConfig(), root="gt")
    assert report["methods"]["plain"] == plain["methods"]["plain"]
    assert report["tto"] == TTOConfig().to_dict() and "root_error_mm" not in report
    tto, before = report["methods"]["tto"]["mpjpe_mm"], plain["methods"]["plain"]["mpjpe_mm"]
    assert abs(tto["mean"] - before["mean"]) > 1e-3
    wave = group_rows(pairs, "wave")
    refined = optimize(model, wave["x"], wave["cam"], wave["root"]).numpy()
    assert tto["per_group"]["wave"] == pytest.approx(mpjpe(refined, wave["target"].numpy()).mean() * 1000, rel=1e-5)


def test_results_do_not_depend_on_the_batch_size(model, pairs):
    whole = evaluate(model, pairs, tto=TTOConfig(iters=2), batch_size=4096)
    batched = evaluate(model, pairs, tto=TTOConfig(iters=2), batch_size=100)  # 4 batches, the last partial
    for method in ("plain", "tto"):
        for metric in ("mpjpe_mm", "p_mpjpe_mm"):
            assert batched["methods"][method][metric]["mean"] == pytest.approx(whole["methods"][method][metric]["mean"], rel=1e-5)


def test_estimated_root_is_used_and_reported(model, pairs):
    gt = evaluate(model, pairs, tto=TTOConfig(iters=2), root="gt")
    estimated = evaluate(model, pairs, tto=TTOConfig(iters=2), root="estimated")
    assert estimated["root"] == "estimated"
    assert estimated["methods"]["plain"] == gt["methods"]["plain"]
    assert estimated["methods"]["tto"] != gt["methods"]["tto"]
    root_error = estimated["root_error_mm"]
    assert set(root_error["per_group"]) == {"walk", "jump", "wave"} and np.isfinite(root_error["mean"]) and root_error["mean"] > 0


def test_report_is_json_and_formats_as_a_table(model, pairs):
    report = evaluate(model, pairs, tto=TTOConfig(iters=1), root="estimated")
    assert json.loads(json.dumps(report)) == report
    table = format_table(report, "clip").splitlines()
    assert table[0].split()[:2] == ["clip", "frames"] and "tto" in table[0] and "root error" in table[0]
    rows = {line.split()[0]: line.split()[1:] for line in table[2:] if not line.startswith("-")}
    assert list(rows) == ["walk", "jump", "wave", "mean"]
    assert float(rows["mean"][1]) == pytest.approx(report["methods"]["plain"]["mpjpe_mm"]["mean"], abs=0.05)


def test_refuses_bad_arguments(model, pairs):
    with pytest.raises(UaoError, match="root must be one of"):
        evaluate(model, pairs, root="guess")
    with pytest.raises(UaoError, match="batch size"):
        evaluate(model, pairs, batch_size=0)
    with pytest.raises(UaoError, match="lack cam"):
        evaluate(model, {k: v for k, v in pairs.items() if k != "cam"})
    with pytest.raises(UaoError, match="disagree in length"):
        evaluate(model, dict(pairs, root=pairs["root"][:5]))


# --- uao eval ------------------------------------------------------------------------------------
@pytest.fixture
def cli_files(tmp_path, mocap_clips):
    torch.manual_seed(1)
    checkpoint = save_checkpoint(GUMLP(TINY), tmp_path / "tiny.pth")
    clips = tmp_path / "clips.npz"
    np.savez(clips, **mocap_clips)
    return checkpoint, clips


def test_uao_eval_prints_a_table_and_writes_json(cli_files, tmp_path):
    checkpoint, clips = cli_files
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(checkpoint), "--data", str(clips), "--stride", "2",
                                      "--tto-iters", "2", "--noise", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert all(name in result.stdout for name in ("walk", "jump", "wave", "mean", "tto MPJPE"))
    report = json.loads(out.read_text())
    assert report["groups"] == ["walk", "jump", "wave"] and report["group_kind"] == "clip"
    assert report["frames"] == (10 + 7 + 5) * 8 and report["tto"]["iters"] == 2
    assert report["data"]["noise_px"] == 3.0 and report["checkpoint"] == str(checkpoint)


def test_levelled_cameras_look_level_from_the_same_place():
    for camera in cameras_of(TEST_SUBJECTS):
        level = levelled(camera)
        down = np.degrees(np.arcsin(-camera.rotation[2, 2]))
        assert 10 < down < 16  # the Human3.6M cameras look down
        assert abs(level.rotation[2, 2]) < 1e-9  # the optical axis is horizontal (world z up)
        assert np.allclose(level.rotation.T @ level.rotation, np.eye(3))
        assert np.allclose(level.translation, camera.translation) and np.allclose(level.intrinsics, camera.intrinsics)
        # the heading is kept: the optical axis turns in its vertical plane only
        before, after = camera.rotation[:2, 2], level.rotation[:2, 2]
        assert np.dot(before, after) / np.linalg.norm(before) / np.linalg.norm(after) > 1 - 1e-9
    assert len(evaluation_cameras("level")) == len(evaluation_cameras()) == 8
    with pytest.raises(ValueError, match="level"):
        evaluation_cameras("sideways")


def test_uao_eval_through_level_cameras(cli_files):
    """--cameras level films the same clips through levelled cameras: other keypoints, other scores."""
    checkpoint, clips = cli_files
    reports = {}
    for view in ("h36m", "level"):
        result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(checkpoint), "--data", str(clips), "--stride", "3",
                                          "--tto-iters", "0", "--cameras", view, "--json", "-"])
        assert result.exit_code == 0, result.output
        reports[view] = json.loads(result.stdout)
    assert reports["level"]["data"]["cameras"] == "level" and reports["h36m"]["data"]["cameras"] == "h36m"
    assert reports["level"]["frames"] == reports["h36m"]["frames"]
    assert json.dumps(reports["level"]["methods"]) != json.dumps(reports["h36m"]["methods"])
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(checkpoint), "--cameras", "level"])
    assert result.exit_code == 2 and "--cameras" in result.output


@pytest.mark.parametrize("spelling", [("--data", "--tto-iters", "0"), ("--mocap", "--no-tto")])
def test_uao_eval_json_to_stdout(cli_files, spelling):
    """--tto-iters 0 scores the plain prediction; --mocap and --no-tto, the spellings before, still work."""
    checkpoint, clips = cli_files
    data, *no_tto = spelling
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(checkpoint), data, str(clips), "--stride", "3",
                                      *no_tto, "--root", "estimated", "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["methods"]) == {"plain"} and "root_error_mm" in report
    assert "mean" in result.stderr
    assert ("old spelling" in result.stderr) == (data == "--mocap")


def test_an_old_spelling_with_its_new_one_is_refused(cli_files):
    checkpoint, clips = cli_files
    result = CliRunner().invoke(cli, ["eval", "--data", str(clips), "--mocap", str(clips)])
    assert result.exit_code == 2 and "--mocap is the old spelling of --data" in result.output
    result = CliRunner().invoke(cli, ["bench", "--repeats", "2", "--iters", "2"])
    assert result.exit_code == 2 and "--iters is the old spelling of --repeats" in result.output


def test_uao_eval_takes_one_data_source_and_defaults_to_the_embedded_sample():
    both = CliRunner().invoke(cli, ["eval", "--data", __file__, "--h36m-3d", __file__])
    assert both.exit_code == 2 and "not both" in both.output
    sample = CliRunner().invoke(cli, ["eval", "--stride", "4", "--json", "-"])  # the embedded model and sample
    assert sample.exit_code == 0, sample.output
    report = json.loads(sample.stdout)
    assert report["data"] == {"kind": "embedded sample", "stride": 4} and report["frames"] == 36  # 143 frames
    plain, refined = (report["methods"][method]["mpjpe_mm"]["mean"] for method in ("plain", "tto"))
    assert 20 < refined < plain < 80  # a trained model on a real walk; TTO helps with the true root
