"""``uao view``: a lifted result as an interactive 3D viewer (or another format, by suffix)."""
from __future__ import annotations

import click

from .infer import parse_up


@click.command("view")
@click.argument("result", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Output file; its suffix picks the format: .html (viewer), .bvh, .csv, .json, .npz.")
@click.option("--up", callback=parse_up, metavar="X,Y,Z",
              help="World up direction in camera coordinates [default: the result's, else estimated].")
@click.option("--camera-pitch", type=click.FloatRange(-90, 90, min_open=True, max_open=True), metavar="DEGREES",
              help="Degrees the camera looks below the horizon (no roll), instead of the estimated up direction.")
def command(result, out, up, camera_pitch):
    """Write RESULT (an npz from `uao infer`) as an offline 3D viewer, BVH, CSV or JSON."""
    from ..errors import UaoError
    from ..fileio import check_output_file
    from ..io.results import check_output, load_result, write_result
    from ..pipeline.world import add_world_frame

    if up is not None and camera_pitch is not None:
        raise UaoError("give either --up or --camera-pitch, not both")
    check_output(out)
    check_output_file(out, [result])
    arrays, metadata = load_result(result)
    if "poses_world" not in arrays or up is not None or camera_pitch is not None:
        arrays, metadata = add_world_frame(arrays, metadata, up, camera_pitch)  # older results, or overridden
    written = write_result(out, arrays, metadata)
    click.echo(f"{result} -> {written}")
