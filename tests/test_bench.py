"""uao_deploy.bench: statistics, FLOP counting, the seed-style baseline, the run and its files (never timings)."""
import json
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from uao_deploy import bench
from uao_deploy.cli import cli
from uao_deploy.errors import UaoError
from uao_deploy.model import GUMLP, GUMLPConfig, load_checkpoint, save_checkpoint
from uao_deploy.tto import TTOConfig, optimize, predict
from uao_deploy.inputs import load_pairs

TINY = GUMLPConfig(channels=32, layers=1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(GUMLP(TINY), tmp_path_factory.mktemp("ckpt") / "tiny.pth")


@pytest.fixture(scope="module")
def pairs():
    return load_pairs(frames=4)


@pytest.fixture
def fixed_peak(monkeypatch):
    """A known peak instead of the matrix-product probe, so shares are checkable and the run is fast."""
    monkeypatch.setattr(bench.flops, "matmul_peak", lambda dtype=torch.float32, device="cpu": 50e9)


# --- statistics ---------------------------------------------------------------------------------
def test_latency_percentiles_on_known_samples():
    stats = bench.latency([i / 1000 for i in range(100, 0, -1)])  # 1..100 ms, in any order
    assert stats.calls == 100
    assert stats.p50_ms == pytest.approx(50.5) and stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01) and stats.mean_ms == pytest.approx(50.5)
    single = bench.latency([0.004])
    assert single.p50_ms == single.p99_ms == pytest.approx(4.0)
    with pytest.raises(ValueError):
        bench.latency([])


def test_throughput_and_share_of_peak_arithmetic():
    assert bench.poses_per_second(64, 500.0) == pytest.approx(128.0)
    assert bench.poses_per_second(1, 4.0) == pytest.approx(250.0)
    # 1 GFLOP per pose at 50 poses/s on a 100 GFLOP/s machine is half its limit
    assert bench.share_of_peak(1e9, 50.0, 100e9) == pytest.approx(0.5)


def test_time_interleaved_counts_calls_and_takes_turns():
    order = []
    times = bench.time_interleaved([lambda: order.append("a"), lambda: order.append("b")], warmup=2, repeats=3)
    assert [len(t) for t in times] == [3, 3] and all(t >= 0 for t in times[0] + times[1])
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3  # warm-up each, then one call each per round
    order.clear()
    times = bench.time_interleaved([lambda: order.append("a")], warmup=0, seconds=0.0, min_calls=4)
    assert len(times[0]) == 4 and order == ["a"] * 4
    with pytest.raises(ValueError):
        bench.time_interleaved([lambda: None])


def test_time_interleaved_drops_a_failing_call_and_goes_on():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("second call failed")

    times = bench.time_interleaved([flaky, lambda: None], warmup=0, repeats=4)
    assert isinstance(times[0], RuntimeError) and len(calls) == 2
    assert len(times[1]) == 4


# --- FLOPs --------------------------------------------------------------------------------------
def _torch_count(model, backward: bool) -> int:
    x = torch.randn(1, 17, 2, requires_grad=backward)
    with FlopCounterMode(display=False) as counter:
        mu, s = model(x)
        if backward:
            (mu.sum() + s.sum()).backward()
    return counter.get_total_flops()


@pytest.mark.parametrize("config", [GUMLPConfig(channels=64, layers=1),
                                    GUMLPConfig(channels=48, layers=2, channel_hidden=32)])
def test_forward_flops_follow_the_counting_rule(config):
    model = GUMLP(config).eval().requires_grad_(False)
    # the counting rule: a backward pass to the input costs exactly one forward
    assert _torch_count(model, backward=True) == 2 * bench.forward_flops(model)


def test_flops_of_the_paper_model_and_of_the_tasks():
    paper = GUMLP(GUMLPConfig())  # 512 channels, 3 layers: 111,622,272 multiply-accumulates by hand
    assert bench.forward_flops(paper) == 2 * 111_622_272  # METHOD.md: "about 223 MFLOP per pose"
    forward = bench.forward_flops(GUMLP(TINY))
    assert bench.flops_per_pose(forward, "eval") == 2 * forward
    assert bench.flops_per_pose(forward, "tto", tto_iters=4) == 20 * forward  # 12 forwards + 8 backwards
    assert bench.flops_per_pose(forward, "tto", tto_iters=1) == 8 * forward
    with pytest.raises(ValueError):
        bench.flops_per_pose(forward, "train")


def test_matmul_peak_is_a_positive_rate():
    assert 0 < bench.matmul_peak(size=64, repeats=1) < float("inf")


# --- the seed-style baseline ----------------------------------------------------------------------
def test_seed_style_loop_agrees_with_the_tto_loop_and_computes_weight_gradients(checkpoint, pairs):
    model = load_checkpoint(checkpoint)
    seed = bench.SeedStyleTorch(model, TTOConfig())
    x, cam, root = (pairs[key] for key in ("x", "cam", "root"))
    refined = seed.tto(x, cam, root)
    expected = optimize(model, torch.from_numpy(x), torch.from_numpy(cam), torch.from_numpy(root)).numpy()
    np.testing.assert_allclose(refined, expected, atol=1e-4)  # batch mean vs per sample: Adam's eps only
    assert np.abs(refined - seed.predict(x)).max() > 1e-5  # TTO moved the pose
    np.testing.assert_allclose(seed.predict(x), predict(model, torch.from_numpy(x)).numpy(), atol=1e-6)
    # the seed's cost: weight gradients are formed (on its own copy; the caller's model is untouched)
    with_grad = {name for name, p in seed.model.named_parameters() if p.grad is not None}
    assert {"encoder.fc1.weight", "GCN_MLP.blocks.0.gcn1.conv1d.weight", "pred_mu.fc5.weight"} <= with_grad
    assert not any(name.startswith("pred_s.") for name in with_grad)  # s is a constant in the loss
    assert all(p.grad is None for p in model.parameters())


def test_seed_style_loop_reproduces_the_golden_tto(shared_dir, golden):
    model = load_checkpoint(shared_dir / "reference" / "gumlp_seed_format.pth")
    frames = 8  # the seed's batch mean over 8 instead of 64 frames changes results only through Adam's eps
    seed = bench.SeedStyleTorch(model, TTOConfig())
    x, cam, root = golden["x"][:frames, 0], golden["cam"][:frames], golden["root"][:frames, 0, 0]
    np.testing.assert_allclose(seed.predict(x), golden["eval_out"][:frames, 0], atol=1e-5)
    np.testing.assert_allclose(seed.tto(x, cam, root), golden["tto4_out"][:frames, 0], atol=1e-4)


def test_torch_bf16_backend_times_only_tto_in_bf16(checkpoint):
    setup = bench.Setup(checkpoint, load_checkpoint(checkpoint), TTOConfig(), threads=1, batches=(1,))
    cases = bench.BACKENDS["torch-bf16"][0](setup)
    assert [(case.task, case.precision) for case in cases] == [("tto", "bf16")]  # its eval is float32
    assert cases[0].engine.precision == "bf16"


# --- the run and its files ----------------------------------------------------------------------
def test_run_benchmark_rows_speedups_and_differences(checkpoint, pairs, fixed_peak):
    snapshots = []
    report = bench.run_benchmark(checkpoint, ("seed-eager", "torch", "torch-cuda"), batches=(1, 3), repeats=2,
                                 seconds=None, warmup=0, threads=1, pairs=pairs,
                                 progress=lambda partial: snapshots.append((partial["complete"], len(partial["rows"]))))
    assert snapshots == [(False, 4), (False, 8)] and report["complete"]  # written after each batch size
    rows = report["rows"]
    assert {(r["backend"], r["task"], r["batch"]) for r in rows} == {
        (backend, task, batch) for backend in ("seed-eager", "torch") for task in ("eval", "tto") for batch in (1, 3)}
    for row in rows:
        assert row["status"] == "ok" and row["calls"] == 2 and row["extra_memory_mb"] >= 0
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["poses_per_s"] == pytest.approx(row["batch"] / row["p50_ms"] * 1e3)
        flops = bench.flops_per_pose(bench.forward_flops(GUMLP(TINY)), row["task"])
        assert row["share_of_peak"] == pytest.approx(flops * row["poses_per_s"] / 50e9)
        if row["backend"] == "seed-eager":
            assert row["speedup_vs_seed"] == 1.0
        else:
            assert row["diff_max_mm"] == 0.0  # the torch rows are the reference
            assert row.get("ran") == ("fused" if row["task"] == "tto" else None)
    seed_tto = [r for r in rows if r["backend"] == "seed-eager" and r["task"] == "tto"]
    assert all(0 < r["diff_max_mm"] < 0.1 for r in seed_tto)
    if not torch.cuda.is_available():
        assert [entry["backend"] for entry in report["skipped"]] == ["torch-cuda"]
        assert "no CUDA GPU" in report["skipped"][0]["reason"]
    assert report["flops_per_pose"]["tto"] == bench.flops_per_pose(bench.forward_flops(GUMLP(TINY)), "tto")
    assert report["machine"]["threads"] == 1 and report["machine"]["torch"] == torch.__version__


def test_the_gpu_preset_compares_with_the_seed_loop_on_the_same_device(checkpoint, pairs, fixed_peak):
    backends, batches = bench.PRESETS["gpu"]
    assert batches == (1, 64, 1024, 8192) and backends[0] == "seed-cuda"
    if torch.cuda.is_available():
        pytest.skip("checks how the GPU preset behaves where no GPU is")
    report = bench.run_benchmark(checkpoint, ("seed-eager",) + backends, batches=(2,), repeats=1, seconds=None,
                                 warmup=0, threads=1, pairs=pairs)
    assert [entry["backend"] for entry in report["skipped"]] == list(backends)  # each with its reason, no crash
    assert all(entry["reason"] for entry in report["skipped"])
    rows = {(row["backend"], row["task"]): row for row in report["rows"]}
    assert set(rows) == {("seed-eager", "eval"), ("seed-eager", "tto")}
    assert all(row["device"] == "cpu" and row["speedup_vs_seed"] == 1.0 for row in rows.values())


def test_onnxruntime_rows_say_which_tto_path_ran(tiny_checkpoint, tiny_export, pairs, fixed_peak, monkeypatch):
    import uao_deploy.export.cache

    exports = []  # the bench's engines open the tiny export (K = 2) instead of exporting the checkpoint again
    monkeypatch.setattr(uao_deploy.export.cache, "exported_graphs",
                        lambda checkpoint, tto: exports.append(tto.iters) or tiny_export)
    report = bench.run_benchmark(tiny_checkpoint, ("seed-eager", "onnxruntime"), batches=(2,), tto_iters=2, repeats=1,
                                 seconds=None, warmup=0, threads=1, pairs=pairs)
    ort = {(r["task"], r["path"]): r for r in report["rows"] if r["backend"] == "onnxruntime"}
    assert set(ort) == {("eval", "forward"), ("tto", "step-loop"), ("tto", "fused")}
    assert ort[("tto", "fused")]["ran"] == "fused" and ort[("tto", "step-loop")]["ran"] == "step-loop"
    for row in ort.values():
        assert row["status"] == "ok" and row["providers"] == ["CPUExecutionProvider"] and row["device"] == "cpu"
        assert row["diff_max_mm"] < 0.1  # the same poses as PyTorch float32
        assert row["speedup_vs_seed"] > 0
    assert exports and set(exports) == {2}


def test_a_failing_case_becomes_an_error_row_and_the_others_still_run(checkpoint, pairs, fixed_peak, monkeypatch):
    def broken(setup):
        def fail(x, cam, root):
            raise RuntimeError("kernel exploded")
        return [bench.Case("broken", "p", "eval", "cpu", "fp32", fail)]

    monkeypatch.setitem(bench.BACKENDS, "broken", (broken, "always fails"))
    report = bench.run_benchmark(checkpoint, ("broken", "torch"), batches=(2,), repeats=1, seconds=None, warmup=0,
                                 threads=1, pairs=pairs)
    statuses = {(r["backend"], r["task"]): r["status"] for r in report["rows"]}
    assert statuses == {("broken", "eval"): "error", ("torch", "eval"): "ok", ("torch", "tto"): "ok"}
    assert "kernel exploded" in report["rows"][0]["error"]
    assert "kernel exploded" in bench.format_table(report)


def test_a_case_that_would_not_fit_in_memory_is_refused():
    bench.check_memory(None, 512)  # nothing known yet: run it
    bench.check_memory((1, 1024), 8)  # 8 KiB: fits
    with pytest.raises(UaoError, match="not run: needs about"):
        bench.check_memory((64, 2 ** 50), 512)  # a petabyte at batch 64, scaled to 512


def test_memory_scales_with_the_frames_an_engine_really_runs_per_call(checkpoint):
    class Chunked:
        def max_batch(self, graph):
            return {"forward": 64, "tto_step": 64, "tto_fused": 32}[graph]

    chunked = bench.Case("ort", "fused", "tto", "cpu", "fp32", run=None, engine=Chunked())
    assert bench.frames_per_call(chunked, 8) == 8 and bench.frames_per_call(chunked, 512) == 32
    seed = bench.Case("seed-eager", "seed loop", "tto", "cpu", "fp32", run=None)
    assert bench.frames_per_call(seed, 512) == 512


def test_bad_arguments_are_user_errors(checkpoint, pairs):
    with pytest.raises(UaoError, match="unknown backend"):
        bench.run_benchmark(checkpoint, ("tensorflow",), pairs=pairs)
    with pytest.raises(UaoError):
        bench.run_benchmark(checkpoint, ("torch",), batches=(0,), pairs=pairs)


def test_write_results_markdown_json_png(checkpoint, pairs, fixed_peak, tmp_path):
    report = bench.run_benchmark(checkpoint, ("seed-eager", "torch"), batches=(1,), repeats=1, seconds=None, warmup=0,
                                 threads=1, pairs=pairs)
    paths = bench.write_results(report, tmp_path / "results")
    stem = bench.result_stem(report)
    assert stem.startswith(report["date"][:10]) and stem.endswith("gumlp32x1")
    expected = {f"{stem}.md", f"{stem}.json", f"{stem}.png", "latest.md"}
    assert {p.name for p in (tmp_path / "results").iterdir()} == expected
    markdown = paths["markdown"].read_text()
    assert paths["latest"].read_text() == markdown
    for header in ("backend", "p50 ms", "p90 ms", "p99 ms", "poses/s", "% peak", "x seed", "max diff mm"):
        assert f"| {header} |" in markdown or f"| {header} " in markdown
    assert report["machine"]["cpu"] in markdown and "## TTO" in markdown
    saved = json.loads(paths["json"].read_text())
    assert all("p50_ms" in row and "p99_ms" in row for row in saved["rows"])
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_results_without_matplotlib_skips_the_png(checkpoint, pairs, fixed_peak, tmp_path, monkeypatch):
    report = bench.run_benchmark(checkpoint, ("torch",), batches=(1,), repeats=1, seconds=None, warmup=0,
                                 threads=1, pairs=pairs)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    paths = bench.write_results(report, tmp_path)
    assert paths["png"] is None and paths["markdown"].is_file() and paths["json"].is_file()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".md", ".md"]


def test_cli_bench_json_to_stdout(checkpoint, tmp_path, fixed_peak):
    result = CliRunner().invoke(cli, ["bench", "--checkpoint", str(checkpoint), "--backends", "seed-eager,torch",
                                      "--batch", "1,2", "--repeats", "1", "--warmup", "0", "--threads", "1",
                                      "--out", str(tmp_path), "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["rows"]) == 8 and all(r["p50_ms"] > 0 and r["p99_ms"] > 0 for r in report["rows"])
    assert (tmp_path / "latest.md").is_file()
    bad = CliRunner().invoke(cli, ["bench", "--batch", "1,x", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "comma-separated integers" in bad.output


def test_profiles_name_the_heaviest_operators(tiny_export, pairs):
    model = GUMLP(TINY).eval()
    x = torch.from_numpy(pairs["x"])
    with torch.no_grad():
        ops = bench.profile_torch(lambda: model(x), calls=2, rows=5)
    assert 0 < len(ops) <= 5 and ops[0]["share"] >= ops[-1]["share"] and sum(op["share"] for op in ops) <= 1 + 1e-9
    assert any("addmm" in op["op"] or "linear" in op["op"] for op in ops)
    graph_ops = bench.profile_onnxruntime(tiny_export / "forward.onnx", {"x": pairs["x"]}, threads=1, calls=2)
    assert {op["op"] for op in graph_ops} & {"MatMul", "Gemm"} and all(op["ms_per_call"] >= 0 for op in graph_ops)
    text = bench.format_profile({"batch": 4, "threads": 1, "tto_iters": 2, "profiles": {"ort forward": graph_ops}})
    assert "ort forward" in text and "| op | ms per call | share |" in text


@pytest.mark.slow
def test_cli_bench_video_times_the_modes_side_by_side(tmp_path):
    """``uao bench --video``: frame, sequence and causal lifts of the embedded sample, in turns."""
    result = CliRunner().invoke(cli, ["bench", "--video", "--repeats", "1", "--out", str(tmp_path), "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    medians = report["median_ms_per_frame"]
    assert set(medians) == {"frame", "sequence", "causal"} and all(value > 0 for value in medians.values())
    assert report["sequence_over_frame"] == pytest.approx(medians["sequence"] / medians["frame"])
    assert 0 < report["causal_latency_ms"]["mean"] <= report["causal_latency_ms"]["max"]
    assert report["engine"]["sequence"]["iters"] == report["iters"] == 4
    markdown, = tmp_path.glob("*_video_speed_sample.md")
    assert "sequence / frame" in markdown.read_text()
