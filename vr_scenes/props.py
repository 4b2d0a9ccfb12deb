"""Furniture and rooms shared by the scenes, written into batched meshes (see procgen.Mesh)."""
from __future__ import annotations

import math

from .procgen import Color, Mesh


def room(walls: Mesh, floor: Mesh, center, w: float, d: float, h: float = 3.0,
         wall_color: Color = (0.85, 0.85, 0.82), floor_color: Color = (0.7, 0.7, 0.7),
         ceiling_color: Color = (0.9, 0.9, 0.9), uv_per_m: float = 0.5) -> None:
    """A closed room seen from inside: walls and ceiling into ``walls``, the floor into ``floor``."""
    cx, cy, cz = center
    walls.box((cx, cy, cz + h / 2), (w, d, h), wall_color, uv_per_m=uv_per_m, faces="nsew", inside=True)
    walls.box((cx, cy, cz + h / 2), (w, d, h), ceiling_color, uv_per_m=uv_per_m, faces="t", inside=True)
    floor.box((cx, cy, cz + h / 2), (w, d, h), floor_color, uv_per_m=uv_per_m, faces="b", inside=True)


def table(m: Mesh, x: float, y: float, w: float = 1.2, d: float = 0.8, h: float = 0.75,
          color: Color = (0.5, 0.34, 0.2)) -> None:
    m.box((x, y, h - 0.02), (w, d, 0.04), color)
    for sx in (-1, 1):
        for sy in (-1, 1):
            m.box((x + sx * (w / 2 - 0.05), y + sy * (d / 2 - 0.05), (h - 0.04) / 2), (0.05, 0.05, h - 0.04), color)


def chair(m: Mesh, x: float, y: float, facing_y: int = 1, color: Color = (0.35, 0.25, 0.18)) -> None:
    m.box((x, y, 0.45), (0.45, 0.45, 0.04), color)
    m.box((x, y - facing_y * 0.21, 0.72), (0.45, 0.04, 0.52), color)
    for sx in (-1, 1):
        for sy in (-1, 1):
            m.box((x + sx * 0.19, y + sy * 0.19, 0.22), (0.04, 0.04, 0.44), color)


def bed(m: Mesh, x: float, y: float, along_y: bool = True, frame: Color = (0.4, 0.42, 0.45),
        sheet: Color = (0.85, 0.86, 0.9), h: float = 0.45, length: float = 2.0, width: float = 0.9) -> None:
    sx, sy = (width, length) if along_y else (length, width)
    m.box((x, y, h / 2), (sx, sy, h), frame)
    m.box((x, y, h + 0.07), (sx - 0.05, sy - 0.05, 0.14), sheet)
    py = y + (sy / 2 - 0.3) if along_y else y
    px = x if along_y else x + (sx / 2 - 0.3)
    m.box((px, py, h + 0.19), (0.5 if along_y else 0.35, 0.35 if along_y else 0.5, 0.1), (0.95, 0.95, 0.95))


def bars(m: Mesh, x0: float, x1: float, y: float, h: float = 2.6, spacing: float = 0.14,
         color: Color = (0.25, 0.26, 0.28), gap: tuple[float, float] | None = None) -> None:
    """A wall of vertical bars along x at ``y`` (a cell front), with cross bars; ``gap`` leaves a door."""
    n = int((x1 - x0) / spacing)
    for i in range(n + 1):
        x = x0 + i * spacing
        if gap and gap[0] < x < gap[1]:
            continue
        m.cylinder((x, y, 0.0), 0.018, h, color, segments=5, caps=False)
    for z in (0.1, 1.1, h - 0.05):
        m.box(((x0 + x1) / 2, y, z), (x1 - x0, 0.05, 0.05), color)


def window(m: Mesh, light: Mesh, x: float, y: float, z: float, w: float, h: float, facing: int = -1,
           sky: Color = (0.6, 0.75, 0.95), frame: Color = (0.3, 0.3, 0.3), bars_n: int = 0) -> None:
    """A window on a wall at ``y`` (seen from the side ``facing``): a bright unlit pane with a frame."""
    off = 0.01 * facing
    if facing < 0:
        light.quad((x - w / 2, y + off, z - h / 2), (x + w / 2, y + off, z - h / 2), (x + w / 2, y + off, z + h / 2),
                   (x - w / 2, y + off, z + h / 2), sky)
    else:
        light.quad((x + w / 2, y + off, z - h / 2), (x - w / 2, y + off, z - h / 2), (x - w / 2, y + off, z + h / 2),
                   (x + w / 2, y + off, z + h / 2), sky)
    t = 0.06
    for bx, bz, sw, sh in ((x, z - h / 2, w + t, t), (x, z + h / 2, w + t, t), (x - w / 2, z, t, h), (x + w / 2, z, t, h)):
        m.box((bx, y + 2 * off, bz), (sw, 0.06, sh), frame)
    for i in range(bars_n):
        bx = x - w / 2 + w * (i + 1) / (bars_n + 1)
        m.box((bx, y + 2 * off, z), (0.03, 0.04, h), frame)


def clock_face(m: Mesh, x: float, y: float, z: float, r: float = 0.25, facing: int = -1) -> None:
    """A wall clock on a wall at ``y``, readable from the side ``facing`` (-1: from -y)."""
    m.disc((x, y + 0.01 * facing, z), r * 1.08, (0.2, 0.2, 0.2), facing="-y" if facing < 0 else "+y")
    m.disc((x, y + 0.02 * facing, z), r, (0.95, 0.95, 0.92), facing="-y" if facing < 0 else "+y")
    for k in range(12):
        a = 2 * math.pi * k / 12
        m.box((x + 0.8 * r * math.sin(a), y + 0.025 * facing, z + 0.8 * r * math.cos(a)), (0.02, 0.01, 0.05), (0.1, 0.1, 0.1))


def car_body(m: Mesh, cx: float, cy: float, color: Color, length: float = 4.3, width: float = 1.8) -> None:
    """A car seen from outside, centred on (cx, cy), pointing along +y."""
    m.box((cx, cy, 0.55), (width, length, 0.6), color)
    m.box((cx, cy - 0.3, 1.1), (width - 0.15, length * 0.5, 0.5), (0.15, 0.18, 0.22))
    for sx in (-1, 1):
        for sy in (-1, 1):
            m.cylinder((cx + sx * width / 2, cy + sy * length * 0.32, 0.32), 0.32, 0.2 * sx, (0.08, 0.08, 0.08),
                       segments=8, axis="x")
