"""A BVH as Blender sees it: imported with Blender's own BVH importer, measured, and rendered.

Run inside Blender (Debian's ``blender`` 3.4 package; no GPU needed, Cycles renders on the CPU)::

    blender -b -P benchmarks/blender_bvh.py -- walk.bvh --frames 1,100,200 --out look/

For each frame it prints what a user would notice first: the lowest point of the skeleton (the
floor is Blender's ground plane, Z = 0 after the importer's Y-up conversion), the head's height,
and the trunk's angle to vertical; with ``--out`` it renders a stick figure on a floor, seen from
the front, to ``look/<stem>_<frame>.png``.

Blender 3.4's importer opens files with mode ``'rU'``, which Python 3.11 refuses (``invalid mode:
'rU'``); the mode is mapped to ``'r'`` here for the import, so the installed Blender is not edited.
"""
from __future__ import annotations

import argparse
import builtins
import math
import sys
from contextlib import contextmanager
from pathlib import Path

import bpy  # noqa: E402  (Blender's Python)
from mathutils import Vector

TRUNK = ("Hips", "Thorax")  # bones whose heads span the trunk in uao's BVH rig (uao_deploy/io/bvh.py)
LIMB_RADIUS = 0.025  # metres
RENDER_SIZE = 480  # pixels


@contextmanager
def universal_newline_mode():
    """Blender 3.4's importer under Python 3.11: 'rU' means 'r'."""
    original = builtins.open

    def patched(file, mode="r", *args, **kwargs):
        return original(file, mode.replace("U", "") if isinstance(mode, str) else mode, *args, **kwargs)

    builtins.open = patched
    try:
        yield
    finally:
        builtins.open = original


def import_bvh(path: Path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with universal_newline_mode():
        bpy.ops.import_anim.bvh(filepath=str(path), axis_forward="-Z", axis_up="Y",
                                update_scene_fps=True, update_scene_duration=True)
    return next(obj for obj in bpy.context.scene.objects if obj.type == "ARMATURE")


def bone_segments(armature) -> dict[str, tuple[Vector, Vector]]:
    """World-space (head, tail) of every pose bone at the current frame."""
    world = armature.matrix_world
    return {bone.name: (world @ bone.head, world @ bone.tail) for bone in armature.pose.bones}


def measure(segments) -> dict:
    heights = [point.z for pair in segments.values() for point in pair]
    lower, upper = (segments[name][0] for name in TRUNK)
    axis = upper - lower
    return {"lowest_m": min(heights), "highest_m": max(heights),
            "trunk_deg": math.degrees(math.acos(max(-1.0, min(1.0, axis.z / max(axis.length, 1e-9)))))}


def render(armature, segments, path: Path) -> None:
    scene = bpy.context.scene
    for obj in [obj for obj in scene.objects if obj.name.startswith("limb_")]:
        bpy.data.objects.remove(obj)
    material = bpy.data.materials.get("limb") or bpy.data.materials.new("limb")
    material.diffuse_color = (0.6, 0.05, 0.05, 1.0)
    for name, (head, tail) in segments.items():
        bone = tail - head
        if bone.length < 1e-4:
            continue
        bpy.ops.mesh.primitive_cylinder_add(radius=LIMB_RADIUS, depth=bone.length, location=(head + tail) / 2)
        limb = bpy.context.object
        limb.name = f"limb_{name}"
        limb.data.materials.append(material)
        limb.rotation_mode = "QUATERNION"
        limb.rotation_quaternion = bone.to_track_quat("Z", "Y")
    hips = segments["Hips"][0]
    camera = scene.camera
    camera.location = (hips.x, hips.y - 4.0, 1.2)
    camera.rotation_euler = (Vector((hips.x, hips.y, 0.9)) - camera.location).to_track_quat("-Z", "Y").to_euler()
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def set_stage() -> None:
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 8
    scene.cycles.use_denoising = False  # Debian's build has no OpenImageDenoise
    scene.render.resolution_x = scene.render.resolution_y = RENDER_SIZE
    scene.world = bpy.data.worlds.new("studio")
    scene.world.color = (0.8, 0.8, 0.8)
    bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 0, 0))
    bpy.ops.object.light_add(type="SUN", location=(0, -3, 5))
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="blender -b -P benchmarks/blender_bvh.py --")
    parser.add_argument("bvh", type=Path)
    parser.add_argument("--frames", default="1", help="comma-separated frame numbers (1 = the first)")
    parser.add_argument("--out", type=Path, help="folder for rendered PNGs")
    args = parser.parse_args(argv)
    armature = import_bvh(args.bvh)
    scene = bpy.context.scene
    first, last = armature.animation_data.action.frame_range
    print(f"{args.bvh}: frames {first:.0f}-{last:.0f} at {scene.render.fps} fps, {len(armature.pose.bones)} bones")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        set_stage()
    for frame in (int(value) for value in args.frames.split(",")):
        scene.frame_set(frame)
        segments = bone_segments(armature)
        numbers = measure(segments)
        print(f"frame {frame}: lowest {numbers['lowest_m']:.3f} m, highest {numbers['highest_m']:.3f} m, "
              f"trunk {numbers['trunk_deg']:.1f} deg from vertical")
        if args.out:
            render(armature, segments, args.out / f"{args.bvh.stem}_{frame:04d}.png")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])
