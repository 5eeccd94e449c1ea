"""The ``uao`` command line: a thin skin over the library, one module per command.

Commands are imported only when run, so ``uao --help`` does not pay for torch.
"""
from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import signal
import sys
import threading

import click

from ..errors import UaoError

# PyTorch's OpenMP threads sleep rather than spin while waiting (read when torch starts, so set before
# any command imports it): on a machine shared with other jobs spinning threads made eager PyTorch
# several times slower (benchmarks/results, hostile_inputs). A value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Optional packages a command may need -> the extra that installs them.
EXTRAS = {"torch": "torch", "onnx": "torch", "onnxscript": "torch", "matplotlib": "viz", "tensorrt_rtx": "rtx",
          "tensorrt": "trt", "onnxruntime": "cpu", "ray": "ray"}

# command name -> (module under uao_deploy.cli, short help)
COMMANDS = {
    "demo": ("demo", "Run the embedded default model end to end: export, infer on the embedded sample, render."),
    "train": ("train", "Train GUMLP on motion capture or Human3.6M and write a checkpoint."),
    "eval": ("evaluate", "MPJPE / P-MPJPE of a checkpoint, with and without test-time optimization."),
    "calibrate": ("calibrate", "Measure a checkpoint's root depth bias on mocap clips; record it with the checkpoint."),
    "export": ("export", "Export forward, TTO-step and fused-TTO graphs to ONNX, or TensorRT engines."),
    "infer": ("infer", "Lift 2D keypoint files to 3D with UAO on an engine."),
    "view": ("view", "Write a lifted result as an offline 3D viewer (.html), BVH, CSV or JSON."),
    "bench": ("bench", "Latency and throughput of every backend against PyTorch eval, side by side."),
    "verify": ("verify", "Compare backends on the same keypoints; exit non-zero above tolerance."),
    "cache": ("cache", "List the exports cached for infer, verify and bench, or clear them."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
        return getattr(module, "command")

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="uao-deploy")
def cli():
    """uao: 3D human pose from 2D keypoints with GUMLP and uncertainty-aware test-time optimization."""


class _EchoHandler(logging.Handler):
    """Writes to whatever stderr is when a record arrives (a StreamHandler would keep the first one)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


@contextlib.contextmanager
def export_progress_on_stderr():
    """The exporter's progress lines (one per graph, with its time) on stderr, for every command: an
    export made on first use by ``uao demo``, ``infer``, ``verify`` or ``bench`` is never silent. The
    library itself stays quiet."""
    logger = logging.getLogger("uao_deploy.export")
    handler, level = _EchoHandler(), logger.level
    handler.setFormatter(logging.Formatter("  %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class Terminated(BaseException):
    """Raised by the SIGTERM handler, so cleanup (e.g. of temporary files) runs as on Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _error(message: str) -> None:
    """One error line, below the progress bars the failed work left open: they are closed first (a
    bar closed later would redraw itself after the error, and the error would sit on the bar's line)."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()
    click.echo(message, err=True)


def main(argv=None):
    """Entry point: user errors print one line and exit 1, without a traceback; a command's
    ``ctx.exit(code)`` becomes the exit status (e.g. 3 for a failed ``uao verify``). Without ``argv``
    (the arguments of the process) the process is taken to end when it returns."""
    # Python lets only the main thread install handlers; elsewhere SIGTERM keeps its default.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        # Without standalone mode click returns the code of ctx.exit() instead of exiting with it.
        with export_progress_on_stderr():
            code = cli.main(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except Terminated:
        _error("Terminated.")
        sys.exit(128 + signal.SIGTERM)
    except UaoError as exc:
        _error(f"Error: {exc}")
        sys.exit(1)
    except OSError as exc:  # the machine, not the input: a full disk, a lost mount, a permission
        _error(f"Error: {exc}")
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        package = (exc.name or "").split(".")[0]
        if package not in EXTRAS:
            raise
        click.echo(f"Error: this needs {package}, which is not installed: pip install 'uao-deploy[{EXTRAS[package]}]'",
                   err=True)
        sys.exit(1)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        if argv is None:
            # The `uao` process itself (its console script, `python -m uao_deploy`) ends here: its exit need
            # not search every object for reference cycles first (several full passes over every object);
            # what is left goes with the process.
            gc.freeze()
