"""Procedural geometry, textures and lighting for the scenes (Panda3D). Nothing is loaded from disk or
the network: every mesh is written vertex by vertex here, every texture computed with numpy.

Meshes are batched: a :class:`Mesh` collects many boxes, quads, cylinders and spheres of one material
into a single Geom, so a whole room is one or two draw calls (the GPU budget of issue 5 is counted
in draw calls, see bench.vr).
"""
from __future__ import annotations

import math

import numpy as np
from panda3d.core import (
    AmbientLight,
    DirectionalLight,
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexData,
    GeomVertexFormat,
    GeomVertexWriter,
    NodePath,
    SamplerState,
    Texture,
    TransparencyAttrib,
    Vec3,
)

Color = tuple[float, float, float, float] | tuple[float, float, float]


def rgba(c: Color) -> tuple[float, float, float, float]:
    return (c[0], c[1], c[2], c[3] if len(c) > 3 else 1.0)


class Mesh:
    """Accumulates triangles of one material (vertex colours, optional texture) into one Geom."""

    def __init__(self, name: str):
        self.name = name
        fmt = GeomVertexFormat.get_v3n3c4t2()
        self.vdata = GeomVertexData(name, fmt, Geom.UH_static)
        self.vw = GeomVertexWriter(self.vdata, "vertex")
        self.nw = GeomVertexWriter(self.vdata, "normal")
        self.cw = GeomVertexWriter(self.vdata, "color")
        self.tw = GeomVertexWriter(self.vdata, "texcoord")
        self.tris = GeomTriangles(Geom.UH_static)
        self.count = 0

    def _vertex(self, p, n, c, uv) -> int:
        self.vw.add_data3(*p)
        self.nw.add_data3(*n)
        self.cw.add_data4(*c)
        self.tw.add_data2(*uv)
        self.count += 1
        return self.count - 1

    def quad(self, p0, p1, p2, p3, color: Color, uv=((0, 0), (1, 0), (1, 1), (0, 1)), normal=None) -> Mesh:
        """Counter-clockwise seen from the front."""
        a, b, d = Vec3(*p0), Vec3(*p1), Vec3(*p3)
        n = normal or (b - a).cross(d - a).normalized()
        c = rgba(color)
        i = [self._vertex(p, n, c, t) for p, t in zip((p0, p1, p2, p3), uv, strict=True)]
        self.tris.add_vertices(i[0], i[1], i[2])
        self.tris.add_vertices(i[0], i[2], i[3])
        return self

    def box(self, center, size, color: Color, uv_per_m: float = 0.0, faces: str = "tbnsew",
            inside: bool = False) -> Mesh:
        """An axis-aligned box; ``faces`` picks top/bottom/north(+y)/south/east(+x)/west; ``inside`` faces
        the quads inwards (a room). Texture coordinates repeat every 1/uv_per_m metres (0: once per face)."""
        cx, cy, cz = center
        hx, hy, hz = size[0] / 2, size[1] / 2, size[2] / 2
        x0, x1, y0, y1, z0, z1 = cx - hx, cx + hx, cy - hy, cy + hy, cz - hz, cz + hz

        def uv(w, h):
            if uv_per_m <= 0:
                return ((0, 0), (1, 0), (1, 1), (0, 1))
            return ((0, 0), (w * uv_per_m, 0), (w * uv_per_m, h * uv_per_m), (0, h * uv_per_m))

        quads = {
            "t": ((x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1), uv(size[0], size[1])),
            "b": ((x0, y1, z0), (x1, y1, z0), (x1, y0, z0), (x0, y0, z0), uv(size[0], size[1])),
            "s": ((x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1), uv(size[0], size[2])),
            "n": ((x1, y1, z0), (x0, y1, z0), (x0, y1, z1), (x1, y1, z1), uv(size[0], size[2])),
            "e": ((x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1), uv(size[1], size[2])),
            "w": ((x0, y1, z0), (x0, y0, z0), (x0, y0, z1), (x0, y1, z1), uv(size[1], size[2])),
        }
        for f in faces:
            p0, p1, p2, p3, t = quads[f]
            if inside:
                self.quad(p3, p2, p1, p0, color, uv=(t[3], t[2], t[1], t[0]))
            else:
                self.quad(p0, p1, p2, p3, color, uv=t)
        return self

    def cylinder(self, base, radius: float, height: float, color: Color, segments: int = 10,
                 caps: bool = True, axis: str = "z") -> Mesh:
        bx, by, bz = base
        c = rgba(color)

        def at(a: float, h: float, r: float = radius):
            u, v = r * math.cos(a), r * math.sin(a)
            if axis == "z":
                return (bx + u, by + v, bz + h)
            if axis == "x":
                return (bx + h, by + u, bz + v)
            return (bx + u, by + h, bz + v)

        for k in range(segments):
            a0, a1 = 2 * math.pi * k / segments, 2 * math.pi * (k + 1) / segments
            am = (a0 + a1) / 2
            n = Vec3(*at(am, 0)) - Vec3(*at(am, 0, 0))
            n.normalize()
            i = [self._vertex(at(a0, 0), n, c, (k / segments, 0)), self._vertex(at(a1, 0), n, c, ((k + 1) / segments, 0)),
                 self._vertex(at(a1, height), n, c, ((k + 1) / segments, 1)), self._vertex(at(a0, height), n, c, (k / segments, 1))]
            if axis == "x":
                self.tris.add_vertices(i[0], i[2], i[1])
                self.tris.add_vertices(i[0], i[3], i[2])
            else:
                self.tris.add_vertices(i[0], i[1], i[2])
                self.tris.add_vertices(i[0], i[2], i[3])
            if caps:
                top = Vec3(*at(0, height, 0)) - Vec3(*at(0, 0, 0))
                top.normalize()
                j = [self._vertex(at(0, height, 0), top, c, (0.5, 0.5)), self._vertex(at(a0, height), top, c, (0, 0)),
                     self._vertex(at(a1, height), top, c, (1, 0))]
                if axis == "x":
                    self.tris.add_vertices(j[0], j[2], j[1])
                else:
                    self.tris.add_vertices(j[0], j[1], j[2])
        return self

    def disc(self, center, radius: float, color: Color, facing: str = "-y", segments: int = 16) -> Mesh:
        """A flat disc in the x-z plane seen from ``facing`` ("-y": from the -y side, or "+y")."""
        cx, cy, cz = center
        c = rgba(color)
        n = (0.0, -1.0, 0.0) if facing == "-y" else (0.0, 1.0, 0.0)
        mid = self._vertex(center, n, c, (0.5, 0.5))
        ring = [self._vertex((cx + radius * math.cos(a), cy, cz + radius * math.sin(a)), n, c,
                             (0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a)))
                for a in (2 * math.pi * k / segments for k in range(segments))]
        for k in range(segments):
            a, b = ring[k], ring[(k + 1) % segments]
            if facing == "-y":
                self.tris.add_vertices(mid, a, b)
            else:
                self.tris.add_vertices(mid, b, a)
        return self

    def sphere(self, center, radius: float, color: Color, rings: int = 6, segments: int = 10,
               squash: float = 1.0) -> Mesh:
        cx, cy, cz = center
        c = rgba(color)
        grid = []
        for r in range(rings + 1):
            th = math.pi * r / rings
            row = []
            for s in range(segments + 1):
                ph = 2 * math.pi * s / segments
                n = (math.sin(th) * math.cos(ph), math.sin(th) * math.sin(ph), math.cos(th))
                p = (cx + radius * n[0], cy + radius * n[1], cz + radius * squash * n[2])
                row.append(self._vertex(p, n, c, (s / segments, r / rings)))
            grid.append(row)
        for r in range(rings):
            for s in range(segments):
                a, b, d, e = grid[r][s], grid[r][s + 1], grid[r + 1][s + 1], grid[r + 1][s]
                self.tris.add_vertices(a, e, d)
                self.tris.add_vertices(a, d, b)
        return self

    def node(self) -> GeomNode:
        geom = Geom(self.vdata)
        geom.add_primitive(self.tris)
        node = GeomNode(self.name)
        if self.count:
            node.add_geom(geom)
        return node

    def attach(self, parent: NodePath, texture: Texture | None = None, lit: bool = True,
               alpha: bool = False, two_sided: bool = False) -> NodePath:
        np_ = parent.attach_new_node(self.node())
        if texture is not None:
            np_.set_texture(texture)
        if not lit:
            np_.set_light_off(1)
        if alpha:
            np_.set_transparency(TransparencyAttrib.M_alpha)
            np_.set_depth_write(False)
            np_.set_bin("transparent", 10)
        if two_sided:
            np_.set_two_sided(True)
        return np_


# --- figures -----------------------------------------------------------------------------------------
def person(mesh: Mesh, x: float, y: float, heading: float = 0.0, shirt: Color = (0.3, 0.35, 0.5),
           pants: Color = (0.2, 0.2, 0.25), skin: Color = (0.85, 0.7, 0.58), height: float = 1.72,
           seated: bool = False, arms_up: bool = False, z: float = 0.0) -> Mesh:
    """A simple standing (or seated) human figure, facing ``heading`` (degrees, 0 = +y, + left)."""
    k = height / 1.72
    z0 = z
    h = math.radians(heading)
    ca, sa = math.cos(h), math.sin(h)

    def at(u: float, v: float, z: float):
        # u: to the figure's right, v: to its front
        return (x + u * ca - v * sa, y + u * sa + v * ca, z0 + z)

    def part(u, v, z, su, sv, sz, color):
        # boxes are axis-aligned: rotate by snapping to the nearest quarter turn (figures face the axes)
        cx, cy, cz = at(u, v, z)
        if abs(sa) > abs(ca):
            su, sv = sv, su
        mesh.box((cx, cy, cz), (su, sv, sz), color)

    hip = 0.45 * k if seated else 0.9 * k
    if seated:
        part(-0.1 * k, 0.22 * k, hip, 0.14 * k, 0.45 * k, 0.14 * k, pants)
        part(0.1 * k, 0.22 * k, hip, 0.14 * k, 0.45 * k, 0.14 * k, pants)
        part(-0.1 * k, 0.42 * k, hip / 2, 0.12 * k, 0.12 * k, hip, pants)
        part(0.1 * k, 0.42 * k, hip / 2, 0.12 * k, 0.12 * k, hip, pants)
    else:
        part(-0.1 * k, 0, hip / 2, 0.14 * k, 0.16 * k, hip, pants)
        part(0.1 * k, 0, hip / 2, 0.14 * k, 0.16 * k, hip, pants)
    torso = 0.6 * k
    part(0, 0, hip + torso / 2, 0.42 * k, 0.24 * k, torso, shirt)
    arm_z = hip + torso - (0.0 if arms_up else 0.3 * k)
    arm_len = 0.6 * k
    part(-0.27 * k, 0, arm_z + (arm_len / 2 if arms_up else 0), 0.1 * k, 0.12 * k, arm_len, shirt)
    part(0.27 * k, 0, arm_z + (arm_len / 2 if arms_up else 0), 0.1 * k, 0.12 * k, arm_len, shirt)
    mesh.sphere(at(0, 0, hip + torso + 0.14 * k), 0.12 * k, skin, rings=5, segments=8, squash=1.15)
    return mesh


# --- textures ----------------------------------------------------------------------------------------
def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def texture_from_array(name: str, rgb: np.ndarray, mipmap: bool = True) -> Texture:
    """An RGB(A) uint8 array (rows top to bottom) as a Panda3D texture; sides must be powers of two."""
    h, w, ch = rgb.shape
    tex = Texture(name)
    fmt = Texture.F_rgba if ch == 4 else Texture.F_rgb
    tex.setup_2d_texture(w, h, Texture.T_unsigned_byte, fmt)
    order = "RGBA" if ch == 4 else "RGB"
    tex.set_ram_image_as(np.ascontiguousarray(rgb[::-1]).tobytes(), order)
    tex.set_minfilter(SamplerState.FT_linear_mipmap_linear if mipmap else SamplerState.FT_linear)
    tex.set_magfilter(SamplerState.FT_linear)
    return tex


def noise(size: int, seed: int, octaves: int = 4) -> np.ndarray:
    """Value noise in 0..1 (size x size), tileable."""
    rng = _rng(seed)
    out = np.zeros((size, size))
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 4 * 2 ** o
        grid = rng.random((cells, cells))
        up = np.kron(grid, np.ones((size // cells, size // cells)))
        # smooth by averaging with shifted copies (cheap blur keeps it tileable)
        k = max(1, size // cells // 2)
        up = (up + np.roll(up, k, 0) + np.roll(up, k, 1) + np.roll(np.roll(up, k, 0), k, 1)) / 4
        out += amp * up
        total += amp
        amp *= 0.5
    return out / total


def concrete(size: int = 128, seed: int = 1, base=(0.62, 0.62, 0.6), var: float = 0.18) -> np.ndarray:
    n = noise(size, seed)
    img = np.clip((np.array(base)[None, None, :] * (1 - var / 2 + var * n[..., None])) * 255, 0, 255)
    return img.astype(np.uint8)


def bricks(size: int = 128, seed: int = 2, brick=(0.55, 0.32, 0.25), mortar=(0.75, 0.73, 0.7)) -> np.ndarray:
    img = concrete(size, seed, base=brick, var=0.3).astype(float)
    rows = 8
    bh = size // rows
    yy, xx = np.mgrid[0:size, 0:size]
    offset = (yy // bh % 2) * (size // 8)
    mortar_mask = (yy % bh < 2) | (((xx + offset) % (size // 4)) < 2)
    img[mortar_mask] = np.array(mortar) * 255
    return img.astype(np.uint8)


def tiles(size: int = 128, seed: int = 3, a=(0.8, 0.8, 0.78), b=(0.7, 0.72, 0.72), lines: int = 4) -> np.ndarray:
    img = concrete(size, seed, base=a, var=0.08).astype(float)
    yy, xx = np.mgrid[0:size, 0:size]
    cell = size // lines
    checker = ((yy // cell + xx // cell) % 2 == 1)
    img[checker] = img[checker] * (np.array(b) / np.array(a))
    grout = (yy % cell < 1) | (xx % cell < 1)
    img[grout] = 90
    return np.clip(img, 0, 255).astype(np.uint8)


def asphalt(size: int = 256, seed: int = 4) -> np.ndarray:
    """One lane-pair of road (texture u across the road, v along it): dashed centre, solid edges."""
    img = concrete(size, seed, base=(0.26, 0.26, 0.28), var=0.35).astype(float)
    yy, xx = np.mgrid[0:size, 0:size]
    u = xx / size
    edge = (np.abs(u - 0.04) < 0.012) | (np.abs(u - 0.96) < 0.012)
    centre = (np.abs(u - 0.5) < 0.01) & ((yy // (size // 4)) % 2 == 0)
    img[edge] = (235, 235, 235)
    img[centre] = (240, 200, 40)
    return np.clip(img, 0, 255).astype(np.uint8)


def grass(size: int = 128, seed: int = 5) -> np.ndarray:
    return concrete(size, seed, base=(0.3, 0.5, 0.22), var=0.5)


def wood(size: int = 128, seed: int = 6, base=(0.55, 0.38, 0.22)) -> np.ndarray:
    n = noise(size, seed, octaves=2)
    _yy, xx = np.mgrid[0:size, 0:size]
    grain = 0.5 + 0.5 * np.sin(xx / size * 40 + n * 12)
    img = np.array(base)[None, None, :] * (0.8 + 0.3 * grain[..., None])
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def vignette_meshes(inner: float = 1.0, outer: float = 2.2, far: float = 8.0, bands: int = 5,
                    segments: int = 40) -> tuple[Mesh, Mesh]:
    """The vignette in overlay space (x right, z up) for a unit clear radius: a ring whose alpha rises
    from 0 at ``inner`` to 1 at ``outer``, and an opaque black ring from ``outer`` to ``far``. Scaling
    the node narrows or widens the clear field."""
    ring, solid = Mesh("vignette-ring"), Mesh("vignette-solid")
    n = (0.0, -1.0, 0.0)

    def band(mesh: Mesh, r0: float, r1: float, a0: float, a1: float) -> None:
        for k in range(segments):
            t0, t1 = 2 * math.pi * k / segments, 2 * math.pi * (k + 1) / segments
            p = [(r0 * math.cos(t0), 0.0, r0 * math.sin(t0)), (r0 * math.cos(t1), 0.0, r0 * math.sin(t1)),
                 (r1 * math.cos(t1), 0.0, r1 * math.sin(t1)), (r1 * math.cos(t0), 0.0, r1 * math.sin(t0))]
            idx = [mesh._vertex(q, n, (0, 0, 0, a), (0, 0)) for q, a in zip(p, (a0, a0, a1, a1), strict=True)]
            mesh.tris.add_vertices(idx[0], idx[2], idx[1])
            mesh.tris.add_vertices(idx[0], idx[3], idx[2])

    for b in range(bands):
        f0, f1 = b / bands, (b + 1) / bands
        band(ring, inner + (outer - inner) * f0, inner + (outer - inner) * f1, f0 ** 1.5, f1 ** 1.5)
    band(solid, outer * 0.98, far, 1.0, 1.0)     # overlaps the ring a little: no cracks between them
    return ring, solid


# --- lights ------------------------------------------------------------------------------------------
def lights(root: NodePath, ambient=(0.45, 0.45, 0.48), sun=(0.75, 0.72, 0.65), sun_hpr=(-30, -55, 0)) -> NodePath:
    """Ambient plus one directional light on ``root``; returns the holder node (to retint per stage)."""
    holder = root.attach_new_node("lights")
    amb = AmbientLight("ambient")
    amb.set_color((*ambient, 1))
    a = holder.attach_new_node(amb)
    sun_node = DirectionalLight("sun")
    sun_node.set_color((*sun, 1))
    s = holder.attach_new_node(sun_node)
    s.set_hpr(*sun_hpr)
    root.set_light(a)
    root.set_light(s)
    return holder
