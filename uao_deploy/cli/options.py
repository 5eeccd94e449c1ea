"""Options that several commands share, declared once, and the one way a report goes out as JSON."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..contract.objectives import MAX_TTO_ITERS
from ..runtimes import PROVIDERS


def tto_iters(minimum: int = 1, help: str = "UAO iterations K."):
    """--tto-iters, an integer within [minimum, MAX_TTO_ITERS] (0 where plain lifting makes sense)."""
    return click.option("--tto-iters", default=4, show_default=True, type=click.IntRange(minimum, MAX_TTO_ITERS),
                        help=help)


def data(help: str, name: str = "data", **attrs):
    """--data: mocap clips (.npz, clip -> (T, 17, 3)), the same option in every command that reads them
    (``--mocap`` before this release: see :func:`old_spelling`)."""
    return click.option("--data", name, type=click.Path(exists=True, dir_okay=False), help=help, **attrs)


def old_spelling(old: str, **attrs):
    """A hidden option ``old``: the spelling of an option before this release, kept for one release.
    Its value arrives as ``old_<name>``; :func:`renamed` merges it into the new option's."""
    return click.option(old, "old_" + old.lstrip("-").replace("-", "_"), hidden=True, **attrs)


def renamed(value, old_value, new: str, old: str, unset=None):
    """The new option's ``value``, or the old spelling's where only that was given (with a notice);
    ``unset`` is the new option's value when not given (its default)."""
    if old_value is None or old_value is False or old_value == ():
        return value
    if value != unset:
        raise click.UsageError(f"{old} is the old spelling of {new}: give {new} alone")
    click.echo(f"Note: {old} is now {new}; the old spelling goes in the next release.", err=True)
    return old_value


def checkpoint(help: str = "Checkpoint of the lifter's weights (seed or uao format). Default: the embedded model."):
    return click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None, help=help)


def model(help: str = "Lifter architecture: gumlp (default), martinez, FILE.py:NAME or package.module:NAME "
                       "(NAME a function returning the module; weights from --checkpoint)."):
    """--model, passed to the command as ``architecture`` (see :mod:`uao_deploy.model.registry`)."""
    return click.option("--model", "architecture", default=None, metavar="NAME|FILE.py:NAME|MODULE:NAME", help=help)


def lifter(architecture: str | None, checkpoint):
    """--model and --checkpoint as commands pass them on: the checkpoint alone without --model, else
    a ModelRef (:mod:`uao_deploy.model.checkpoint`)."""
    if architecture is None:
        return checkpoint
    from ..model.files import model_ref

    return model_ref(architecture, checkpoint)


def providers(default: str | None = None, help: str = "Where ONNX Runtime runs; a provider that is not active is "
                                                         "an error, never a silent CPU run."):
    return click.option("--providers", type=click.Choice(list(PROVIDERS)), default=default,
                        show_default=default is not None, help=help)


def json_report(what: str = "report", beside: str = "table"):
    return click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
                        help=f"Also write the {what} as JSON to this file ('-' for stdout; the {beside} then goes "
                             "to stderr).")


def check_json_target(json_path: str | None, inputs) -> None:
    """Before any work: a --json file must be writable and must not be one of the command's inputs."""
    if json_path and json_path != "-":
        from ..fileio import check_output_file

        check_output_file(json_path, [path for path in inputs if path], "--json")


def emit(text: str, report: dict, json_path: str | None) -> None:
    """Print the human-readable ``text``; write ``report`` as JSON where --json asked (stdout for '-')."""
    from ..fileio import write_json

    click.echo(text, err=json_path == "-")
    if json_path == "-":
        click.echo(json.dumps(report, indent=2))
    elif json_path:
        write_json(Path(json_path), report)
