"""``uao infer``'s file handling: read and check every input, open the engine, lift each sequence
with :func:`uao_deploy.pipeline.lift`, write each result (:meth:`uao_deploy.pipeline.LiftResult.write`)
and its animation, atomically.

The lifting itself (camera, missing joints, the frame, sequence and causal strategies, the focal
estimate) is :mod:`uao_deploy.pipeline`; the output arrays are described at
:class:`uao_deploy.pipeline.LiftResult` and the formats at :mod:`uao_deploy.io.results`.
"""
from __future__ import annotations

from pathlib import Path

from .. import engines
from ..contract import FRAME, TTOConfig
from ..data.keypoints import KeypointSequence, read_keypoints
from ..errors import UaoError
from ..fileio import check_output_file, check_output_folder
from ..pipeline import FocalSource, LiftSettings, camera_of, lift, prepare
from ..pipeline.missing import inferred_parts
from ..pipeline.prepare import set_aside_note
from ..trajectory import import_solver_ahead


# The estimate leans on the camera the lifter was trained with, whatever the video's (docs/focal-length.md).
FOCAL_HINT = ("the sequence tells the focal length only roughly, and the root's depth scales with it: give "
              "--focal, --fov or --focal-35mm when you know the camera")


def default_export(checkpoint=None, iters: int = 0) -> Path:
    """ONNX export of ``checkpoint`` (default: the embedded model) with fused graphs of K = ``iters``.

    Exported once into the shared cache (:mod:`uao_deploy.export.cache`) and reused after. With
    ``iters`` 0 the objective registry's config (its default K) is exported; the engine then runs no
    TTO step at all.
    """
    from ..export.cache import exported_graphs

    return exported_graphs(checkpoint, FRAME.config(iters=iters) if iters else FRAME.config())


def open_engine(backend: str | None = None, engine_dir=None, checkpoint=None, iters: int = 4,
                precision: str = "fp32", providers: str | None = None):
    """The engine for ``uao infer``: ``engine_dir`` (an export or engine folder, or a checkpoint), or
    the default: the checkpoint itself on torch, its cached ONNX export on onnxruntime.

    Without ``backend`` it is detected from ``engine_dir``, else onnxruntime. ``precision`` "bf16"
    (TTO steps in bf16) is a torch-backend option; graphs carry the precision they were exported with.
    ``providers`` ("cpu" by default, "cuda", "tensorrt", "tensorrt_rtx") is an onnxruntime option.
    """
    if engine_dir is not None and checkpoint is not None:
        raise UaoError("give either an engine folder or a checkpoint, not both")
    if backend is None:
        backend = engines.detect_backend(engine_dir) if engine_dir is not None else "onnxruntime"
    if providers is not None and backend != "onnxruntime":
        raise UaoError(f"providers choose where ONNX Runtime runs; the {backend} backend takes none")
    if backend == "torch":
        return engines.load(engine_dir or checkpoint, backend="torch", tto=TTOConfig(iters=iters), precision=precision)
    if precision != "fp32":
        raise UaoError(f"precision {precision} runs on the torch backend; {backend} engines run the precision "
                       "they were exported with (`uao export --precision`)")
    if engine_dir is None and backend == "onnxruntime":
        from ..runtimes import require_available

        require_available(providers or "cpu")  # before the export, which takes a minute
        engine_dir = default_export(checkpoint, iters)
    if engine_dir is None:
        raise UaoError(f"the {backend} backend needs --engine DIR, a folder of engines built by `uao export`")
    if backend == "onnxruntime":
        return engines.load(engine_dir, backend=backend, providers=providers or "cpu")
    return engines.load(engine_dir, backend=backend)


def output_paths(sequences: list[KeypointSequence], out) -> list[Path]:
    """``out`` with a suffix names the output file, in the format the suffix names (.npz .csv .json .bvh
    .html); several people of one file: the first (the main subject) there and the others
    <stem>_person<id><suffix>; other sequences <stem>_<name><suffix> each. Without a suffix it is a
    folder of <name>.npz."""
    from ..io.results import check_output

    out = Path(out)
    one_file = len({sequence.source.split("#")[0] for sequence in sequences}) == 1
    if out.suffix:  # a file, even where a folder of that name is in the way (refused before any work)
        check_output(out)
        if len(sequences) == 1:
            paths = [out]
        elif one_file and all(sequence.person is not None for sequence in sequences):
            paths = [out] + [out.with_name(f"{out.stem}_person{sequence.person}{out.suffix}")
                             for sequence in sequences[1:]]
        else:
            paths = [out.with_name(f"{out.stem}_{sequence.name}{out.suffix}") for sequence in sequences]
    else:
        check_output_folder(out)
        paths = [out / f"{sequence.name}.npz" for sequence in sequences]
    duplicates = sorted({p.name for p in paths if paths.count(p) > 1})
    if duplicates:
        raise UaoError(f"several inputs would write {', '.join(duplicates)} in {out}; rename the inputs")
    return paths


def render_paths(sequences: list[KeypointSequence], render) -> list[Path | None]:
    """One animation per sequence: ``render`` itself, or <stem>_<name><suffix> when there are several."""
    if render is None:
        return [None] * len(sequences)
    render = Path(render)
    if len(sequences) == 1:
        return [render]
    return [render.with_name(f"{render.stem}_{sequence.name}{render.suffix}") for sequence in sequences]


def infer_files(files, out, settings: LiftSettings = LiftSettings(), layout: str = "auto", allow_pickle: bool = False,
                width=None, height=None, focal=None, fov=None, focal_35mm=None, backend=None, engine_dir=None,
                checkpoint=None, render=None, progress: bool = False, log=print, precision: str = "fp32",
                providers: str | None = None, format: str = "auto", person: str = "main", up=None,
                camera_pitch: float | None = None, video=None, fps: float | None = None) -> list[Path]:
    """``uao infer``: read and check every input first, so a bad one leaves nothing written.

    ``format``/``person`` choose the reader and people (:mod:`uao_deploy.io.keypoints`); the
    output's suffix its writer (:mod:`uao_deploy.io.results`); ``width``..``focal_35mm`` the camera
    (:func:`uao_deploy.pipeline.camera_of`); ``up``/``camera_pitch`` override the world frame's up
    direction (:mod:`uao_deploy.pipeline.world`); ``video`` goes under the keypoints of the
    ``render`` animations; ``fps`` replaces the files' frame rates.
    """
    if not files:
        raise UaoError("no keypoint files given")
    import_solver_ahead()  # while the files are read and the engine opens
    if up is not None and camera_pitch is not None:
        raise UaoError("give either --up or --camera-pitch, not both")
    sequences = [sequence for path in files
                 for sequence in read_keypoints(path, layout, allow_pickle, format, person, width, height, fps)]
    prepared = [prepare(sequence, camera_of(sequence, width, height, focal, fov, focal_35mm))
                for sequence in sequences]
    targets = output_paths(sequences, out)
    for target in targets:
        check_output_file(target, files, "output")
    for sequence in sequences:
        for note in sequence.notes:
            log(f"Note: {note}")
    if person == "all":
        from ..io.keypoints.people import describe

        files_of = [sequence.source.split("#")[0] for sequence in sequences]
        for number, (sequence, target) in enumerate(zip(sequences, targets)):
            main = " (main subject)" if number == 0 or files_of[number] != files_of[number - 1] else ""
            log(f"{sequence.source}{main}: {describe(sequence)} -> {target}")
    animations = render_paths(sequences, render)
    if render is not None:
        from ..viz.render import check_render_target

        check_render_target(render)
        for animation in animations:
            check_output_file(animation, [*files, *targets], "animation")
    if video is not None:
        if render is None:
            raise UaoError("--video is drawn under the keypoints of --render's animation; add --render")
        from ..viz.render import check_video

        for keypoints in prepared:
            check_video(video, len(keypoints), keypoints.camera.width, keypoints.camera.height)
    engine = open_engine(backend, engine_dir, checkpoint, settings.iters, precision, providers)
    notice = engine.path_notice(settings.iters)
    if notice:
        log(f"Note: {notice}")
    with engine:
        for sequence, keypoints, target, animation in zip(sequences, prepared, targets, animations):
            result = lift(keypoints, engine, settings=settings, progress=progress)
            result.write(target, up, camera_pitch)
            timings = result.metadata["timings_s"]
            log(f"{sequence.source}: {len(sequence)} frames -> {target} "
                f"({timings['total']:.2f} s, {timings['ms_per_frame']:.1f} ms/frame, {engine.backend})")
            if result.camera.focal_source in (FocalSource.ESTIMATED, FocalSource.FALLBACK):
                log(f"  {result.camera.describe_focal()}")
                log(f"  {FOCAL_HINT}")
            set_aside = set_aside_note(result.metadata["detections_set_aside"])
            if set_aside:
                log(f"  {set_aside}")
            for line in inferred_parts(result.joint_source):
                log(f"  {line} (not detected: placed by the pose prior and the network, see joint_source)")
            if result.metadata["feet"]["floor_guess"]:
                log(f"  {result.metadata['feet']['floor_guess']}")
            if "latency_ms" in result.metadata:
                latency = result.metadata["latency_ms"]
                log(f"  causal latency per frame: mean {latency['mean']:.1f} ms, p95 {latency['p95']:.1f} ms")
            if animation is not None:
                from ..viz.render import render_animation

                render_animation(result.keypoints_2d, result.poses_3d, animation,
                                 result.camera.width, result.camera.height,
                                 fps=sequence.fps or 25.0, title=sequence.name,
                                 root=result.root, up=up, camera_pitch=camera_pitch, video=video,
                                 joint_source=result.joint_source)
                log(f"  animation -> {animation}")
    return targets
