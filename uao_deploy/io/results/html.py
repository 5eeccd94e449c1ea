"""An interactive 3D viewer in one HTML file that works offline (plotly, with plotly.js inline).

Left: the 2D keypoints in the image (pixels; a filled circle where detected, a hollow one where
interpolated over a short gap, a hollow cross where inferred). Right: the 3D skeleton in the world
frame (Y up, shown upwards; inferred joints as crosses), the floor at Y = 0 and the root
trajectory; drag to orbit, scroll to zoom. Joint markers are coloured by the model's per-joint
uncertainty (metres); an ankle whose foot is in contact (``contacts``) is drawn large. Play, pause
and a slider to scrub. ``#frame=N`` in the address opens frame N.

Needs the ``viz`` extra (``pip install uao-deploy[viz]``: plotly).
"""
from __future__ import annotations


import numpy as np

from ... import skeleton
from .schema import JOINT_SOURCES, joint_sources
from .tables import CONTACT_JOINTS

# Marker per joint_source (detected, interpolated, inferred): what was not seen is drawn so.
SYMBOLS_2D = ("circle", "circle-open", "x-open")
SYMBOLS_3D = ("circle", "circle-open", "x")
MAX_FRAMES = 1500  # more frames than this are drawn every n-th, to keep the file small
_SIDE_COLOURS = {"left": "#1f77b4", "right": "#d62728", "centre": "#555555"}
# Opens the frame named in the address (#frame=N): links to a moment, and lets tests pick frames.
_FRAME_FROM_ADDRESS = """
var match = window.location.hash.match(/frame=(\\d+)/);
if (match) {
  var gd = document.getElementById('{plot_id}');
  Plotly.animate(gd, [match[1]], {mode: 'immediate', frame: {duration: 0, redraw: true}, transition: {duration: 0}})
    .then(function () { document.title = 'frame ' + match[1]; });
}
"""


def _side(joint: int) -> str:
    return "left" if joint in skeleton.LEFT else "right" if joint in skeleton.RIGHT else "centre"


def _bone_lines(points: np.ndarray, side: str) -> list[list[float | None]]:
    """Coordinates of one side's bones as one polyline per axis, bones separated by None."""
    axes = [[] for _ in range(points.shape[-1])]
    for joint, parent in enumerate(skeleton.PARENTS):
        if parent >= 0 and _side(joint) == side:
            for axis, values in enumerate(axes):
                values += [float(points[parent, axis]), float(points[joint, axis]), None]
    return axes


def _plot_axes(world: np.ndarray) -> np.ndarray:
    """World (X, Y up, Z towards the camera) -> plotly scene (x, y, z up), still right-handed."""
    return np.stack([world[..., 0], -world[..., 2], world[..., 1]], axis=-1)


def viewer_figure(arrays: dict, metadata: dict, fps: float, title: str = ""):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    # Rounded to 0.1 mm, 0.1 pixel and 0.1 mm of uncertainty: the numbers are most of the file.
    world = np.round(_plot_axes(np.asarray(arrays["poses_world"], np.float64)), 4)
    root = np.round(_plot_axes(np.asarray(arrays["root_world"], np.float64)), 4)
    pixels = np.round(np.asarray(arrays["keypoints_2d"], np.float64), 1)
    sources = joint_sources(arrays)
    uncertainty = np.round(np.asarray(arrays["uncertainty"], np.float64), 4)
    planted = np.zeros(world.shape[:2], bool)  # (T, J): ankles whose foot is in contact
    if "contacts" in arrays:
        planted[:, list(CONTACT_JOINTS)] = np.asarray(arrays["contacts"], bool)
    camera = metadata.get("camera", {})
    width = camera.get("width") or float(pixels[..., 0].max()) * 1.05
    height = camera.get("height") or float(pixels[..., 1].max()) * 1.05
    frames = list(range(0, len(world), max(1, -(-len(world) // MAX_FRAMES))))
    colour_max = float(np.percentile(uncertainty, 95)) or 1.0

    figure = make_subplots(rows=1, cols=2, column_widths=[0.38, 0.62], specs=[[{"type": "xy"}, {"type": "scene"}]],
                           subplot_titles=("2D keypoints (pixels)", "3D, world frame (metres, Y up)"))
    low, high = world.reshape(-1, 3).min(axis=0), world.reshape(-1, 3).max(axis=0)
    pad = 0.3
    floor_x, floor_y = [low[0] - pad, high[0] + pad], [low[1] - pad, high[1] + pad]
    figure.add_trace(go.Mesh3d(x=[floor_x[0], floor_x[1], floor_x[1], floor_x[0]],
                               y=[floor_y[0], floor_y[0], floor_y[1], floor_y[1]], z=[0, 0, 0, 0],
                               i=[0, 0], j=[1, 2], k=[2, 3], color="#c8c8b4", opacity=0.6, name="floor",
                               hoverinfo="skip"), row=1, col=2)
    figure.add_trace(go.Scatter3d(x=root[:, 0], y=root[:, 1], z=np.zeros(len(root)), mode="lines",
                                  line={"color": "#8c564b", "width": 3}, name="root trajectory (on the floor)"),
                     row=1, col=2)
    static = len(figure.data)

    def animated(frame: int) -> list:
        traces = []
        for side, colour in _SIDE_COLOURS.items():
            u, v = _bone_lines(pixels[frame], side)
            traces.append(go.Scatter(x=u, y=v, mode="lines", line={"color": colour, "width": 3},
                                     showlegend=False, hoverinfo="skip"))
        traces.append(go.Scatter(
            x=pixels[frame, :, 0], y=pixels[frame, :, 1], mode="markers", showlegend=False,
            text=[f"{n}: {JOINT_SOURCES[s]}, confidence {c:.2f}"
                  for n, s, c in zip(skeleton.JOINT_NAMES, sources[frame], arrays["confidence"][frame])],
            marker={"size": 8, "color": uncertainty[frame], "cmin": 0, "cmax": colour_max, "colorscale": "Viridis",
                    "symbol": [SYMBOLS_2D[s] for s in sources[frame]]}))
        for side, colour in _SIDE_COLOURS.items():
            x, y, z = _bone_lines(world[frame], side)
            traces.append(go.Scatter3d(x=x, y=y, z=z, mode="lines", line={"color": colour, "width": 6},
                                       showlegend=False, hoverinfo="skip"))
        traces.append(go.Scatter3d(
            x=world[frame, :, 0], y=world[frame, :, 1], z=world[frame, :, 2], mode="markers", showlegend=False,
            text=[f"{n}: {JOINT_SOURCES[s]}, uncertainty {u * 1000:.0f} mm" + ", in contact" * bool(p)
                  for n, s, u, p in zip(skeleton.JOINT_NAMES, sources[frame], uncertainty[frame], planted[frame])],
            marker={"size": np.where(planted[frame], 9, 4).tolist(), "color": uncertainty[frame], "cmin": 0,
                    "cmax": colour_max, "colorscale": "Viridis",
                    "symbol": [SYMBOLS_3D[s] for s in sources[frame]],
                    "colorbar": {"title": {"text": "uncertainty (m)"}, "x": 1.02}}))
        return traces

    for trace, column in zip(animated(frames[0]), [1] * 4 + [2] * 4):
        figure.add_trace(trace, row=1, col=column)
    moving = list(range(static, len(figure.data)))
    figure.frames = [go.Frame(data=animated(frame), traces=moving, name=str(frame)) for frame in frames]

    milliseconds = 1000.0 * (frames[1] - frames[0] if len(frames) > 1 else 1) / fps
    play = {"frame": {"duration": milliseconds, "redraw": True}, "transition": {"duration": 0}, "fromcurrent": True}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    figure.update_layout(
        title=title, template="plotly_white", margin={"l": 10, "r": 10, "t": 60, "b": 10}, height=640,
        legend={"x": 0.45, "y": 1.0, "xanchor": "left", "bgcolor": "rgba(255,255,255,0.6)"},
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.02, "xanchor": "left",
                      "buttons": [{"label": "Play", "method": "animate", "args": [None, play]},
                                  {"label": "Pause", "method": "animate", "args": [[None], pause]}]}],
        sliders=[{"x": 0.12, "len": 0.86, "y": -0.02, "currentvalue": {"prefix": "frame "},
                  "steps": [{"label": str(frame), "method": "animate",
                             "args": [[str(frame)], {**pause, "frame": {"duration": 0, "redraw": True}}]}
                            for frame in frames]}],
        scene={"xaxis": {"range": floor_x, "title": "X"}, "yaxis": {"range": floor_y, "title": "-Z (away)"},
               "zaxis": {"range": [0, max(high[2], 1.0) + 0.2], "title": "Y (up)"}, "aspectmode": "manual",
               "aspectratio": _aspect(floor_x, floor_y, max(high[2], 1.0) + 0.2),
               "camera": {"eye": {"x": 0.3, "y": -1.8, "z": 0.9}}},
        xaxis={"range": [0, width], "showgrid": False, "constrain": "domain"},
        yaxis={"range": [height, 0], "scaleanchor": "x", "showgrid": False, "constrain": "domain"},
    )
    return figure


def _aspect(x, y, top) -> dict:
    spans = np.array([x[1] - x[0], y[1] - y[0], top])
    spans = spans / spans.max()
    return {"x": float(spans[0]), "y": float(spans[1]), "z": float(spans[2])}


def html_text(arrays: dict, metadata: dict, fps: float, title: str = "") -> str:
    import plotly.io as pio  # the viz extra; write_result checks it is installed before any work
    figure = viewer_figure(arrays, metadata, fps, title)
    return pio.to_html(figure, include_plotlyjs=True, full_html=True, auto_play=False, div_id="uao-viewer",
                       post_script=_FRAME_FROM_ADDRESS.replace("{plot_id}", "uao-viewer"),
                       config={"displaylogo": False, "responsive": True})

