"""``uao verify``: the same keypoints through the PyTorch reference and every engine, compared.

Each candidate engine is checked against :class:`uao_deploy.engines.torch.TorchEngine` on the CPU
in float32 (the reference that matches the seed's golden files):

* forward ``mu`` and ``s``: largest absolute difference (metres for mu, log-scale units for s);
* the TTO step (``value_and_grad``) at two points, the start of the loop (z = x) and a point moved
  by about one Adam step (so that the uncertainty term has a gradient too): the per-sample loss and
  both input gradients, each as a *relative* error ``max_b max|g_b - ref_b| / max(max|ref_b|, 1e-6)``,
  i.e. the worst difference of a sample divided by that sample's largest reference component;
* the TTO pose after K iterations, on every path the engine has (fused graph, host step loop):
  largest absolute difference in metres.

With ground truth the MPJPE (mm) of the plain and the refined poses is reported per backend.
A check above its tolerance makes the whole verification fail (the CLI exits with
:data:`EXIT_MISMATCH`).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import skeleton
from ..compare import TOLERANCES, Tolerances, compare_outputs
from ..contract import FRAME, GRAPHS, MODEL_GRAPH, TTOConfig
from ..errors import UaoError
from ..export.cache import built_engines, exported_graphs
from ..inputs import moved
from ..metrics import mpjpe

# Exit status of `uao verify` when a backend differs beyond tolerance (1 stays "user error").
EXIT_MISMATCH = 3
MOVE_SCALE = 1e-3  # the moved step point: z = x + N(0, 1e-3), about one Adam step (lr 1e-3)


def default_engine_dirs(checkpoint=None, tto: TTOConfig = TTOConfig(), precision: str = "fp32",
                        max_batch: int = 256) -> list[Path]:
    """The export of ``checkpoint``, plus its TensorRT engines when this machine has a GPU."""
    import torch

    folders = [exported_graphs(checkpoint, tto, precision)]
    if torch.cuda.is_available():
        folders.append(built_engines(folders[0], max_batch))
    return folders


def tolerance_class(engine) -> str:
    """"fp16", "bf16", "fp32-gpu" or "fp32": the key of :data:`TOLERANCES` that applies to ``engine``."""
    if engine.precision in ("fp16", "bf16"):
        return engine.precision
    return "fp32-gpu" if device_of(engine).startswith("cuda") else "fp32"


def device_of(engine) -> str:
    """Where an engine really runs: "cpu" or "cuda", from its own description (never assumed)."""
    info = engine.describe()
    if info["backend"] == "tensorrt":
        return "cuda"
    if "providers" in info:
        return "cpu" if info["providers"][0] == "CPUExecutionProvider" else "cuda"
    return str(info.get("device", "cpu"))


def engine_label(info: dict) -> str:
    """"backend where precision" from an engine's describe(), e.g. "onnxruntime CPUExecutionProvider fp32"."""
    where = info["providers"][0] if "providers" in info else info.get("device", "")
    return f"{info['backend']} {where} {info['precision']}".strip()


# --- comparing ------------------------------------------------------------------------------------
def step_points(x: np.ndarray, mu0: np.ndarray, mu0_flip: np.ndarray) -> dict[str, tuple]:
    """The two points where the TTO step is compared, as value_and_grad inputs (without cam, root)."""
    x_flip = skeleton.flip_pose(x)
    rng = np.random.default_rng(0)
    return {"start": (x, x_flip, x, mu0, mu0_flip),
            "moved": (moved(x, MOVE_SCALE, rng), moved(x_flip, MOVE_SCALE, rng), x, mu0, mu0_flip)}


def reference_outputs(reference, pairs: dict, iters: int, steps: bool = True) -> dict:
    """The reference's outputs on ``pairs``; the step at :func:`step_points` only when ``steps``."""
    x, cam, root = pairs["x"], pairs["cam"], pairs["root"]
    mu, s = reference.forward(x, return_uncertainty=True)
    expected = {"forward": (mu, s), "predict": reference.predict(x), "tto": reference.tto(x, cam, root, iters=iters)}
    if steps:
        mu_flip = skeleton.flip_pose(reference.forward(skeleton.flip_pose(x)))
        expected["points"] = step_points(x, mu, mu_flip)
        expected["step"] = {name: reference.value_and_grad(*point, cam, root)
                            for name, point in expected["points"].items()}
    return expected


def check_engine(engine, reference_sha256, expected: dict, pairs: dict, iters: int, tolerances: Tolerances) -> dict:
    """All checks of one candidate engine against the reference outputs ``expected``."""
    x, cam, root = pairs["x"], pairs["cam"], pairs["root"]
    checks = []
    sha = getattr(engine, "checkpoint_sha256", None)
    if reference_sha256 and sha and sha != reference_sha256:
        note = f"engine exported from {sha[:12]}, reference is {reference_sha256[:12]}"
        checks.append({"output": "checkpoint", "metric": "sha256", "max_diff": None, "tolerance": None,
                       "passed": False, "note": note})
    forward, step, fused = GRAPHS[MODEL_GRAPH], GRAPHS[FRAME.step], GRAPHS[FRAME.fused]
    checks += compare_outputs(forward, _named(forward, engine.forward(x, return_uncertainty=True)),
                              _named(forward, expected["forward"]), tolerances, "forward ")
    if tolerances.gradient is not None:
        for point_name, point in expected["points"].items():
            checks += compare_outputs(step, _named(step, engine.value_and_grad(*point, cam, root)),
                                      _named(step, expected["step"][point_name]), tolerances, "step ", f" @{point_name}")
    poses = {}
    pose = engine.tto(x, cam, root, iters=iters)
    poses[engine.last_tto_path] = pose
    if engine.last_tto_path == "fused":  # the host loop over the step graph is a path of its own
        poses["step-loop"] = engine.tto(x, cam, root, iters=iters, fused=False)
    for path, refined in poses.items():
        checks += compare_outputs(fused, {"pose": refined}, {"pose": expected["tto"]}, tolerances, "tto ", f" [{path}]")
    result = {"describe": engine.describe(), "tolerances": tolerances.to_dict(), "checks": checks,
              "passed": all(check["passed"] for check in checks)}
    if pairs.get("target") is not None:
        result["mpjpe_mm"] = {"plain": _mpjpe_mm(engine.predict(x), pairs["target"]),
                              "tto": _mpjpe_mm(pose, pairs["target"])}
    return result


def _named(spec, outputs) -> dict:
    return dict(zip(spec.output_names, outputs))


def _mpjpe_mm(pose, target) -> float:
    return float(mpjpe(pose, target).mean() * 1000)


def verify(reference, candidates: dict, pairs: dict, iters: int = 4, tolerances: Tolerances | None = None,
           overrides: dict | None = None) -> dict:
    """Compare each engine in ``candidates`` (name -> Engine) with ``reference`` on ``pairs``.

    ``tolerances`` fixes one set for all; otherwise each engine gets :data:`TOLERANCES` of its
    :func:`tolerance_class`. ``overrides`` (field -> value) replaces single fields of either.
    Returns a JSON-ready report whose ``passed`` is False when any check of any engine fails.
    """
    if not candidates:
        raise UaoError("nothing to verify: no candidate engine")
    chosen = {name: replace(tolerances or TOLERANCES[tolerance_class(engine)], **(overrides or {}))
              for name, engine in candidates.items()}
    expected = reference_outputs(reference, pairs, iters,
                                 steps=any(chosen_set.gradient is not None for chosen_set in chosen.values()))
    report = {"reference": reference.describe(), "inputs": {"source": pairs.get("source"), "frames": len(pairs["x"])},
              "tto_iters": iters, "backends": {}}
    if pairs.get("target") is not None:
        report["reference_mpjpe_mm"] = {"plain": _mpjpe_mm(expected["predict"], pairs["target"]),
                                        "tto": _mpjpe_mm(expected["tto"], pairs["target"])}
    reference_sha256 = getattr(reference, "checkpoint_sha256", None)
    for name, engine in candidates.items():
        report["backends"][name] = check_engine(engine, reference_sha256, expected, pairs, iters, chosen[name])
    report["passed"] = all(result["passed"] for result in report["backends"].values())
    return report


def format_report(report: dict) -> str:
    """The report as text: one block per backend, one line per check, then the verdict."""
    lines = [f"reference: {engine_label(report['reference'])}; inputs: {report['inputs']['source']}, "
             f"{report['inputs']['frames']} frames; TTO {report['tto_iters']} iterations"]
    if "reference_mpjpe_mm" in report:
        mm = report["reference_mpjpe_mm"]
        lines.append(f"reference MPJPE: plain {mm['plain']:.2f} mm, tto {mm['tto']:.2f} mm")
    for name, result in report["backends"].items():
        lines.append("")
        lines.append(f"{name}: {'PASS' if result['passed'] else 'FAIL'}")
        for check in result["checks"]:
            verdict = "ok" if check["passed"] else "FAIL"
            if check["max_diff"] is None:
                lines.append(f"  {check['output']:<26} {verdict:>4}  {check.get('note', '')}")
                continue
            lines.append(f"  {check['output']:<26} {check['max_diff']:10.2e} <= {check['tolerance']:.0e} "
                         f"({check['metric']}) {verdict}")
        if "mpjpe_mm" in result:
            mm = result["mpjpe_mm"]
            lines.append(f"  MPJPE plain {mm['plain']:.2f} mm, tto {mm['tto']:.2f} mm")
    failed = [name for name, result in report["backends"].items() if not result["passed"]]
    lines.append("")
    lines.append("all backends agree within tolerance" if not failed else f"outside tolerance: {', '.join(failed)}")
    return "\n".join(lines)
