"""The ``uao`` command line: a thin skin over the library, one module per command.

Commands are imported only when run, so ``uao --help`` does not pay for torch.
"""
from __future__ import annotations

import importlib
import sys

import click

from ..errors import UaoError

# Optional packages a command may need -> the extra that installs them.
EXTRAS = {"torch": "torch", "onnx": "torch", "onnxscript": "torch", "matplotlib": "viz", "tensorrt_rtx": "rtx",
          "tensorrt": "trt", "onnxruntime": "cpu", "ray": "ray"}

# command name -> (module under uao_deploy.cli, short help)
COMMANDS = {
    "demo": ("demo", "Run the embedded default model end to end: export, infer on the embedded sample, render."),
    "train": ("train", "Train GUMLP on motion capture or Human3.6M and write a checkpoint."),
    "eval": ("evaluate", "MPJPE / P-MPJPE of a checkpoint, with and without test-time optimization."),
    "export": ("export", "Export forward, TTO-step and fused-TTO graphs to ONNX, or TensorRT engines."),
    "infer": ("infer", "Lift 2D keypoint files to 3D with UAO on an engine."),
    "view": ("view", "Write a lifted result as an offline 3D viewer (.html), BVH, CSV or JSON."),
    "bench": ("bench", "Latency and throughput of every backend against PyTorch eval, side by side."),
    "verify": ("verify", "Compare backends on the same keypoints; exit non-zero above tolerance."),
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


def main(argv=None):
    """Entry point: user errors print one line and exit 1, without a traceback."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except UaoError as exc:
        click.echo(f"Error: {exc}", err=True)
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
