"""``uao infer --ray``: the many-files job (:mod:`uao_deploy.jobs.batch`) on Ray Data.

The driver expands the inputs and makes the exported folder once (the cached ONNX export of the
checkpoint, or the ``--engine`` folder given); its files travel to the workers through the Ray
object store (each node keeps one copy in its temporary folder, named by content hash), so nodes
need no shared copy and never export. The dataset holds one row per input
file (the unit of work until sequence windows exist). Ray tasks hash, read and check each file
(:func:`~uao_deploy.jobs.batch.prepare_file`); a pool of actors, each holding one engine (an ONNX Runtime
session, or TensorRT engines on a GPU), lifts and writes each file atomically
(:func:`~uao_deploy.jobs.batch.lift_and_save`), so a killed job leaves whole outputs or none; one
small actor keeps which input writes each output, so two inputs never write one name. The
output folder must be reachable from every node (a shared file system on a multi-node cluster).

Ray is the optional extra ``uao-deploy[ray]``, imported only here.
"""
from __future__ import annotations

import hashlib
import pickle
import tempfile
import time
from pathlib import Path

from ..errors import UaoError
from ..fileio import Inputs, atomic_write_bytes, real_path
from .batch import (BatchSummary, FileOutcome, InputFile, JobSettings, check_job, engine_identity, expand_inputs,
                    first_claim, lift_and_save, outcome_line, prepare_file, report, searched_folders)

RAY_BACKENDS = ("onnxruntime", "tensorrt")


def init_address(address: str) -> str | None:
    """``ray.init``'s address for ``--ray [ADDRESS]``: None (RAY_ADDRESS, else a new local cluster),
    'local', 'auto', or HOST:PORT / ray://HOST:PORT."""
    if address == "default":
        return None
    if address in ("local", "auto") or ":" in address:
        return address
    raise UaoError(f"--ray took {address!r} as its address; an address is 'local', 'auto' or HOST:PORT "
                   "(write --ray=ADDRESS, or put --ray after the input files)")


def engine_folder(backend, engine_dir, checkpoint, iters: int, precision: str, providers) -> tuple[Path, str]:
    """The exported folder the workers load, made here once, and its backend."""
    from .. import engines
    from .infer import default_export

    if engine_dir is not None and checkpoint is not None:
        raise UaoError("give either an engine folder or a checkpoint, not both")
    backend = backend or (engines.detect_backend(engine_dir) if engine_dir is not None else "onnxruntime")
    if backend not in RAY_BACKENDS:
        raise UaoError(f"Ray workers run exported engines ({', '.join(RAY_BACKENDS)}); the {backend} backend "
                       "is for one process")
    if precision != "fp32":
        raise UaoError(f"precision {precision} runs on the torch backend; exported engines run the precision "
                       "they were exported with (`uao export --precision`)")
    if providers is not None and backend != "onnxruntime":
        raise UaoError(f"providers choose where ONNX Runtime runs; the {backend} backend takes none")
    if engine_dir is None:
        if backend != "onnxruntime":
            raise UaoError(f"the {backend} backend needs --engine DIR, a folder of engines built by `uao export`")
        engine_dir = default_export(checkpoint, iters)
    folder = Path(engine_dir)
    if not folder.is_dir():
        raise UaoError(f"{folder} is not an export folder; Ray workers load a folder from `uao export`")
    return folder, backend


def pack_folder(folder: Path) -> dict[str, bytes]:
    """The files of an export or engine folder (flat), to ship through the object store."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def unpack_folder(files: dict[str, bytes]) -> Path:
    """The packed files in a folder of the node's temporary directory named by their content hash:
    the actors of a node share one copy per export, and a job adds nothing once it is there."""
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    folder = Path(tempfile.gettempdir()) / f"uao-engine-{digest.hexdigest()[:16]}"
    for name, data in files.items():
        target = folder / name
        if not target.is_file() or target.stat().st_size != len(data):
            atomic_write_bytes(target, lambda tmp, data=data: Path(tmp).write_bytes(data))
    return folder


def load_shipped(files: dict[str, bytes], backend: str, providers, threads: int | None):
    """An engine from packed folder files (see :func:`pack_folder`)."""
    from .. import engines

    options = {"providers": providers or "cpu", "threads": threads} if backend == "onnxruntime" else {}
    return engines.load(unpack_folder(files), backend=backend, **options)


def _identity_of(files, backend, providers, iters):
    """The engine's identity (recorded in outputs) and its TTO path notice, from one worker's load."""
    with load_shipped(files, backend, providers, threads=1) as engine:
        return engine_identity(engine), engine.path_notice(iters)


class OutputClaims:
    """A Ray actor: which input writes each output, one record for every worker of the job (see
    :func:`~uao_deploy.jobs.batch.claim_outputs`)."""

    def __init__(self):
        self.claimed: dict[str, str] = {}

    def claim(self, targets: list[str], source: str) -> str | None:
        return first_claim(targets, source, self.claimed)


class LiftWorker:
    """A Ray Data actor: one engine, many files (one per call)."""

    def __init__(self, files_ref, backend: str, providers, threads: int | None, settings: JobSettings, claims):
        import ray

        self.engine = load_shipped(ray.get(files_ref), backend, providers, threads)
        self.settings = settings
        self.claims = claims

    def _claimed(self, prepared):
        import ray

        if prepared.error is None:
            targets = [str(real_path(target)) for target in prepared.targets]
            prepared.error = ray.get(self.claims.claim.remote(targets, prepared.source))
        return prepared

    def __call__(self, batch):
        import numpy as np

        outcomes = [lift_and_save(self._claimed(pickle.loads(prepared)), self.engine, self.settings)
                    for prepared in batch["prepared"].to_pylist()]
        return {name: np.array([getattr(outcome, name) for outcome in outcomes])
                for name in ("source", "status", "message", "frames")}


def infer_on_ray(specs, out, settings: JobSettings, address: str = "default", workers: int | None = None,
                 gpus_per_worker: float = 0, backend=None, engine_dir=None, checkpoint=None, precision: str = "fp32",
                 providers=None, resume: bool = False, log=print) -> BatchSummary:
    """The many-files job on a Ray cluster (joined, or started for the job when none is running here).

    ``workers`` engine actors (default: one per CPU, or per ``gpus_per_worker`` GPUs) lift the files;
    raises UaoError after the summary when any file failed.
    """
    import ray  # the extra uao-deploy[ray]; before the export, which takes a minute

    inputs = [InputFile(item.path.resolve(), item.subfolder) for item in expand_inputs(specs)]
    searched = [*searched_folders(specs), *(item.path for item in inputs)]
    out = check_job(out, searched).resolve()  # workers may run elsewhere: absolute paths only
    folder, backend = engine_folder(backend, engine_dir, checkpoint, settings.iters, precision, providers)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=init_address(address), logging_level="WARNING")
    try:
        return report(_run(ray, inputs, out, folder, backend, providers, settings, workers, gpus_per_worker,
                           resume, log), log)
    finally:
        if started_here:
            ray.shutdown()


def _run(ray, inputs, out, folder, backend, providers, settings, workers, gpus_per_worker, resume, log):
    resources = ray.cluster_resources()
    if gpus_per_worker > 0:
        if resources.get("GPU", 0) < gpus_per_worker:
            raise UaoError(f"--gpus-per-worker {gpus_per_worker}: the Ray cluster has {resources.get('GPU', 0):g} GPUs")
        workers = workers or max(1, int(resources["GPU"] // gpus_per_worker))
    workers = workers or max(1, int(resources.get("CPU", 1)))
    threads = 1 if gpus_per_worker == 0 else None  # CPU actors: one thread each, one actor per core

    files = ray.put(pack_folder(folder))  # shipped once; every worker unpacks its own copy
    claims = ray.remote(OutputClaims).options(num_cpus=0).remote()
    check = ray.remote(_identity_of).options(num_cpus=1 if gpus_per_worker == 0 else 0, num_gpus=gpus_per_worker)
    try:
        engine_id, notice = ray.get(check.remote(files, backend, providers, settings.iters))
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, UaoError) else exc
        raise UaoError(f"the engine from {folder} does not load on a Ray worker: {str(cause).splitlines()[0]}") from None
    if notice:
        log(f"Note: {notice}")

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    rows = [{"path": str(item.path), "subfolder": str(item.subfolder)} for item in inputs]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    # Reading is light: it reserves no CPU from the engine actors (one core each), and as many
    # readers as actors keep them fed without starting a Python process per file.
    every_input = Inputs([item.path for item in inputs])  # no output may overwrite any of them
    dataset = dataset.map(_prepare_row, fn_kwargs={"out": out, "settings": settings, "engine_id": engine_id,
                                                   "resume": resume, "inputs": every_input}, num_cpus=0,
                          compute=ray.data.TaskPoolStrategy(size=workers))
    dataset = dataset.map_batches(LiftWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers),
                                  num_gpus=gpus_per_worker, num_cpus=1 if gpus_per_worker == 0 else 0,
                                  batch_format="pyarrow",
                                  fn_constructor_kwargs={"files_ref": files, "backend": backend, "providers": providers,
                                                         "threads": threads, "settings": settings, "claims": claims})
    started = time.perf_counter()
    outcomes = []
    for row in dataset.iter_rows():
        outcome = FileOutcome(str(row["source"]), str(row["status"]), str(row["message"]), int(row["frames"]))
        log(outcome_line(outcome))
        outcomes.append(outcome)
    return BatchSummary(outcomes, time.perf_counter() - started)


def _prepare_row(row, out, settings, engine_id, resume, inputs):
    item = InputFile(Path(row["path"]), Path(row["subfolder"]))
    # Pickled by hand: the sequences' arrays differ in shape from file to file, which Arrow columns refuse.
    return {"prepared": pickle.dumps(prepare_file(item, out, settings, engine_id, resume, inputs))}
