"""The scenes' people (Panda3D): each role of a scene's ``cast`` (``vr_scenes.cast``) as an animated
character of the registry wheel ``panda3d-assetcoop``, dressed in code and brought to the scene's
``characters()`` every frame.

The characters come in T-pose with the wheel's own colours. Here they are dressed by rewriting their
vertex colours by body region (the regions are read off the bind pose: the arms lie along x in the
T-pose, so sleeves and hands are a matter of |x|; a white coat is the trousers above the knee, a
collar the top of the shirt at the front), so a police officer wears a dark navy (藏青) jacket with a
light-blue shirt at the collar and a cap, an inmate the blue-grey uniform, a doctor a white coat, a
judge a black robe with the red front, and everyone has dark hair. The wheel's one rigged figure with
all the clips is a woman; a man (``Role.male``) is made from her bind pose first (``_make_male``: a
man's build, short hair, lips and brows). One dressed copy of each (model, outfit, sex) is made per
process; each role is an ``Actor`` copied from it (shared geometry).

Each frame the state's animation is posed at a frame computed from ``anim_t`` (scene time): no
``loop()`` and no wall clock, so a given scene time always renders the same picture. The software
renderer (p3tinydisplay) animates the vertices on the CPU; a pose is only reapplied when its frame
changes.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from panda3d.core import GeomTriangles, GeomVertexReader, GeomVertexWriter, NodePath, SceneGraphReducer

from . import procgen as pg
from .cast import CharacterState, Role

Color = tuple[float, float, float]

# the wheel's characters: height of the bind pose (to scale to a role's height), which way they face,
# how deep the seated pose's hips sit below the seat, and the clip for each of our animations
# (name, loops); a missing clip falls back to idle
MODELS = {
    "rebecca": {"height": 1.87, "faces": 0.0, "sit_faces": 180.0, "hip": 0.46,
                "clips": {"idle": ("idle", False), "walk": ("walk_forward", True), "run": ("run_forward", True),
                          "sit": ("sit", False), "reach": ("interact", False), "lie": ("idle", False)}},
    "polyimpairedperson": {"height": 1.75, "faces": 0.0, "sit_faces": 0.0, "hip": 0.88,
                           "clips": {"idle": ("idle", False), "walk": ("walk", True), "run": ("run", True)}},
}

SKIN = (0.88, 0.72, 0.58)
HAIR_BLACK = (0.06, 0.05, 0.05)
NAVY = (0.11, 0.14, 0.26)           # 藏青: the police jacket and trousers
SHIRT_BLUE = (0.62, 0.76, 0.92)     # the police shirt under it
PRISON = (0.42, 0.5, 0.62)          # the blue-grey prison uniform
BLACK = (0.05, 0.05, 0.06)


@dataclass(frozen=True)
class Outfit:
    top: Color                       # jacket / shirt / coat on the torso
    bottom: Color                    # trousers
    sleeves: Color | None = None     # long sleeves (None: short sleeves, bare arms)
    hair: Color = HAIR_BLACK
    shoes: Color = BLACK
    collar: Color | None = None      # a shirt showing at the neck, at the front
    front: Color | None = None       # a strip down the front (the judge's red)
    coat: bool = False               # the top goes on down to the knees (white coat, robe)
    vest: Color | None = None        # a vest over the top (traffic police, detention)
    cap: Color | None = None         # a peaked cap of this colour
    cap_top: Color | None = None     # the cap's crown, if not the same colour
    glasses: bool = False
    skin: Color = SKIN


OUTFITS = {
    "police": Outfit(NAVY, NAVY, sleeves=NAVY, collar=SHIRT_BLUE, cap=NAVY),
    "traffic_police": Outfit(NAVY, NAVY, sleeves=NAVY, collar=SHIRT_BLUE, vest=(0.78, 0.95, 0.2), cap=NAVY,
                             cap_top=(0.95, 0.95, 0.95)),
    "prison": Outfit(PRISON, PRISON, sleeves=PRISON, hair=(0.1, 0.09, 0.08)),
    "doctor": Outfit((0.96, 0.97, 0.97), (0.25, 0.3, 0.4), sleeves=(0.96, 0.97, 0.97), collar=(0.5, 0.7, 0.85),
                     coat=True, glasses=True),
    "medic": Outfit((0.2, 0.36, 0.62), (0.2, 0.36, 0.62), sleeves=(0.2, 0.36, 0.62), vest=(0.95, 0.95, 0.95)),
    "judge": Outfit(BLACK, BLACK, sleeves=BLACK, collar=(0.95, 0.95, 0.95), front=(0.75, 0.08, 0.08), coat=True),
    "counsellor": Outfit((0.55, 0.62, 0.55), (0.3, 0.3, 0.34), sleeves=(0.55, 0.62, 0.55), glasses=True),
    "mother": Outfit((0.62, 0.3, 0.36), (0.25, 0.25, 0.3), sleeves=(0.62, 0.3, 0.36), hair=(0.42, 0.4, 0.4)),
    "young_mother": Outfit((0.75, 0.42, 0.45), (0.22, 0.26, 0.42), sleeves=None),
    "father": Outfit((0.4, 0.45, 0.55), (0.2, 0.2, 0.24), sleeves=(0.4, 0.45, 0.55)),
    "child": Outfit((0.95, 0.72, 0.2), (0.25, 0.38, 0.7)),
    "school_child": Outfit((0.95, 0.95, 0.95), (0.2, 0.3, 0.65), collar=(0.85, 0.1, 0.1)),   # a red scarf
    "friend": Outfit((0.85, 0.85, 0.82), (0.15, 0.15, 0.18)),
    "drinker": Outfit((0.25, 0.3, 0.45), (0.18, 0.18, 0.2), sleeves=(0.25, 0.3, 0.45)),
    "street_friend": Outfit((0.22, 0.22, 0.24), (0.3, 0.32, 0.4), sleeves=(0.22, 0.22, 0.24)),
    "passer_by": Outfit((0.6, 0.25, 0.2), (0.2, 0.22, 0.35)),
    "passer_by_2": Outfit((0.3, 0.5, 0.4), (0.35, 0.3, 0.25)),
}


# --- dressing ------------------------------------------------------------------------------------------------
def _recolour(part: NodePath, colour_at: Callable[[float, float, float, tuple], Color | None]) -> None:
    """Rewrite the vertex colours of every Geom under ``part``: ``colour_at(x, y, z, old)`` in bind-pose
    model space returns the new colour (None keeps the old one)."""
    for gnp in part.find_all_matches("**/+GeomNode") if not part.node().is_geom_node() else [part]:
        node = gnp.node()
        for i in range(node.get_num_geoms()):
            geom = node.modify_geom(i)
            vdata = geom.modify_vertex_data()
            if not vdata.has_column("color"):
                continue
            reader = GeomVertexReader(vdata, "vertex")
            old = GeomVertexReader(vdata, "color")
            colours = []
            while not reader.is_at_end():
                v, c = reader.get_data3(), old.get_data4()
                new = colour_at(v.x, v.y, v.z, (c.x, c.y, c.z))
                colours.append(new if new is not None else (c.x, c.y, c.z))
            writer = GeomVertexWriter(vdata, "color")
            for r, g, b in colours:
                writer.set_data4(r, g, b, 1.0)


def _drop_triangles(part: NodePath, hidden: Callable[[float, float, float], bool], any_corner: bool = False) -> None:
    """Remove the triangles of ``part`` whose three corners are all ``hidden(x, y, z)`` (bind pose; with
    ``any_corner`` those with one corner hidden), and then the vertices no triangle uses."""
    for gnp in part.find_all_matches("**/+GeomNode") if not part.node().is_geom_node() else [part]:
        _drop_in(gnp.node(), hidden, any if any_corner else all)


def _drop_in(node, hidden: Callable[[float, float, float], bool], dropped=all) -> None:
    for i in range(node.get_num_geoms()):
        geom = node.modify_geom(i)
        vdata = geom.get_vertex_data()
        reader = GeomVertexReader(vdata, "vertex")
        flags = []
        while not reader.is_at_end():
            v = reader.get_data3()
            flags.append(hidden(v.x, v.y, v.z))
        for p in range(geom.get_num_primitives()):
            prim = geom.get_primitive(p).decompose()
            kept = GeomTriangles(prim.get_usage_hint())
            kept.set_index_type(prim.get_index_type())
            for f in range(prim.get_num_primitives()):
                a, b = prim.get_primitive_start(f), prim.get_primitive_end(f)
                corners = [prim.get_vertex(j) for j in range(a, b)]
                if not dropped(flags[c] for c in corners):
                    kept.add_vertices(*corners)
            geom.set_primitive(p, kept)
    SceneGraphReducer().remove_unused_vertices(node)


def _bounds_z(part: NodePath) -> tuple[float, float]:
    lo, hi = part.get_tight_bounds()
    return lo.z, hi.z


def _dress_rebecca(model: NodePath, outfit: Outfit, male: bool = False) -> None:
    """Rebecca's parts are named GeomNodes: body (skin), shirt, pants, belt, shoes, hair, eyebrows, eyes,
    mouth, glasses. Bind pose: 1.87 m, arms along x (shoulders at |x| ~0.2, wrists at ~0.72). A man's
    scalp is the colour of his hair (his short hair lies close to it)."""
    def part(name):
        found = model.find(f"**/{name}")
        return None if found.is_empty() else found

    body = part("body")
    if body is not None:
        # the legs under the trousers and the chest under the shirt are never seen: fewer vertices to
        # animate and light (the software renderer's main cost per character)
        _drop_triangles(body, lambda x, y, z: (0.14 < z < 0.86 and abs(x) < 0.3)
                        or (1.16 < z < 1.38 and abs(x) < 0.15))
        def skin(x, y, z, old):
            if male and _scalp(x, y, z):
                return outfit.hair
            if outfit.sleeves is not None and z > 1.2 and 0.17 < abs(x) < 0.7:
                return outfit.sleeves
            if outfit.coat and z > 0.5 and z < 1.2:
                return outfit.top
            if 0.9 < z < 1.42 and abs(x) < 0.2:      # the waist the short top leaves bare
                return outfit.vest if outfit.vest is not None else outfit.top
            return outfit.skin
        _recolour(body, skin)
    shirt = part("shirt")
    if shirt is not None:
        z0, z1 = _bounds_z(shirt)

        def top(x, y, z, old):
            if outfit.collar is not None and z > z1 - 0.12 and abs(x) < 0.07 and y > 0:
                return outfit.collar
            if outfit.front is not None and abs(x) < 0.035 and y > 0:
                return outfit.front
            if outfit.vest is not None and abs(x) < 0.2:
                return outfit.vest
            if outfit.sleeves is not None and abs(x) >= 0.17:
                return outfit.sleeves
            return outfit.top
        _recolour(shirt, top)
    pants = part("pants")
    if pants is not None:
        def bottom(x, y, z, old):
            if outfit.coat and z > 0.5:
                return outfit.top
            return outfit.bottom
        _recolour(pants, bottom)
    for name, colour in (("hair", outfit.hair), ("eyebrows", outfit.hair), ("shoes", outfit.shoes),
                         ("belt", BLACK), ("belt.001", BLACK)):
        p = part(name)
        if p is not None:
            _recolour(p, lambda x, y, z, old, c=colour: c)
    glasses = part("glasses")
    if glasses is not None and not outfit.glasses:
        glasses.remove_node()


def _dress_simple(model: NodePath, outfit: Outfit, height: float) -> None:
    """A one-mesh figure (polyimpairedperson): coloured by region of the bind pose."""
    k = height

    def colour(x, y, z, old):
        if z > 0.84 * k:                                   # the head: hair on top and at the back
            return outfit.hair if (z > 0.93 * k or y < -0.02) else outfit.skin
        if abs(x) > 0.2:                                   # the arms (hanging at the sides)
            if z < 0.5 * k:
                return outfit.skin
            return outfit.sleeves or outfit.skin
        if z > 0.5 * k:
            return outfit.vest if (outfit.vest and abs(x) < 0.12) else outfit.top
        if z < 0.05 * k:
            return outfit.shoes
        return outfit.bottom
    _recolour(model, colour)


# --- a man from rebecca ------------------------------------------------------------------------------------------
# The wheel has one rigged figure with all the clips, a woman. A man is made from her bind pose before
# she is dressed: the vertices are moved (the skinning weights stay, so every clip still plays: a
# vertex moved a few centimetres moves with the same joints), the long hair is cut, the lips lose
# their colour, the eyes are narrower and the brows thicker. Bind pose, model space: the arms lie along x (shoulders at |x| ~0.2), the face is +y.
HEAD_CENTRE = (0.0, 0.02, 1.70)     # of rebecca's head (scalp |x| 0.156, y -0.173..0.235, top 1.887)
LIPS_MALE = (0.62, 0.44, 0.38)


def _smooth(e0: float, e1: float, v: float) -> float:
    t = min(1.0, max(0.0, (v - e0) / (e1 - e0)))
    return t * t * (3.0 - 2.0 * t)


def _male_shape(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Where a bind-pose vertex of rebecca goes on the man: broader shoulders and chest, a squarer jaw,
    a flat chest, a straight waist, narrower and flatter hips."""
    ax = abs(x)
    sign = 1.0 if x >= 0 else -1.0
    # the shoulders: the torso wider from the chest up, the arms moved out with it (and the neck thicker)
    up = _smooth(1.05, 1.3, z) * (1.0 - _smooth(1.5, 1.56, z))
    if ax < 0.2:
        ax *= 1.0 + 0.22 * up
    else:
        ax += 0.044 * up
    # the waist straight and the hips narrower (rebecca's waist is at ~1.08 m, her hips at ~0.85 m)
    waist = _smooth(0.98, 1.06, z) * (1.0 - _smooth(1.12, 1.22, z))
    hips = _smooth(0.55, 0.78, z) * (1.0 - _smooth(0.9, 1.02, z))
    if ax < 0.3:
        ax *= 1.0 + 0.1 * waist - 0.13 * hips
    # a squarer jaw: the lower face wider (rebecca's chin is at ~1.52 m, her eyes at ~1.67 m)
    jaw = _smooth(1.5, 1.55, z) * (1.0 - _smooth(1.6, 1.66, z)) * _smooth(0.0, 0.06, y)
    ax *= 1.0 + 0.12 * jaw
    # a flat chest: the front of the bust pulled back to the plane of the breastbone
    if y > 0.095:
        y -= 0.85 * (y - 0.095) * _chest(x, y, z)
    # a flatter seat (rebecca's reaches 14 cm behind her at 0.82 m)
    if y < -0.09:
        y -= 0.6 * (y + 0.09) * hips
    return sign * ax, y, z


def _short_hair_cut(x: float, y: float, z: float) -> bool:
    """The hair a man's short haircut has not got (bind pose): everything below the ears (at the back
    down to the nape), the sides in front of the ears, the fringe over the forehead."""
    if z < 1.6:
        return True
    if z < 1.69 and y > -0.06:          # the sides and the front below the temples
        return True
    return y > 0.09 and z < 1.81        # the fringe


def _crop(x: float, y: float, z: float) -> tuple[float, float, float]:
    """The hair that stays, drawn in closer to the head (rebecca's hair stands out ~7 cm at the sides)."""
    cx, cy, cz = HEAD_CENTRE
    return cx + (x - cx) * 0.86, cy + (y - cy) * 0.9, cz + (z - cz) * 0.99


def _scalp(x: float, y: float, z: float) -> bool:
    """The skin of rebecca's head that a man's short hair covers (bind pose): the crown behind the
    hairline, the back of the head down to the nape."""
    return (z > 1.76 and y < 0.14) or (z > 1.6 and y < -0.07)


def _move(part: NodePath, where: Callable[[float, float, float], tuple[float, float, float]]) -> None:
    """Move every bind-pose vertex of the Geoms under ``part`` to ``where(x, y, z)``."""
    for gnp in part.find_all_matches("**/+GeomNode") if not part.node().is_geom_node() else [part]:
        node = gnp.node()
        for i in range(node.get_num_geoms()):
            vdata = node.modify_geom(i).modify_vertex_data()
            reader = GeomVertexReader(vdata, "vertex")
            moved = []
            while not reader.is_at_end():
                v = reader.get_data3()
                moved.append(where(v.x, v.y, v.z))
            writer = GeomVertexWriter(vdata, "vertex")
            for p in moved:
                writer.set_data3(*p)


def _chest(x: float, y: float, z: float) -> float:
    """How much of the bust a bind-pose point is (0..1): the front of the torso between 1.08 and 1.33 m."""
    return (_smooth(1.08, 1.16, z) * (1.0 - _smooth(1.27, 1.33, z)) * (1.0 - _smooth(0.16, 0.2, abs(x)))
            * _smooth(0.05, 0.09, y))


def _flatten_normals(part: NodePath) -> None:
    """The flattened chest lit as a flat chest: its normals turned to face forward."""
    for gnp in part.find_all_matches("**/+GeomNode") if not part.node().is_geom_node() else [part]:
        node = gnp.node()
        for i in range(node.get_num_geoms()):
            vdata = node.modify_geom(i).modify_vertex_data()
            if not vdata.has_column("normal"):
                continue
            verts, normals = GeomVertexReader(vdata, "vertex"), GeomVertexReader(vdata, "normal")
            out = []
            while not verts.is_at_end():
                v, n = verts.get_data3(), normals.get_data3()
                k = _chest(v.x, v.y, v.z)
                nx, ny, nz = n.x * (1 - k), n.y * (1 - k) + k, n.z * (1 - k)
                length = math.sqrt(nx * nx + ny * ny + nz * nz) or 1.0
                out.append((nx / length, ny / length, nz / length))
            writer = GeomVertexWriter(vdata, "normal")
            for n in out:
                writer.set_data3(*n)


def _make_male(model: NodePath) -> None:
    """Rebecca made a man (see above); then dressed as anyone else."""
    for gnp in model.find_all_matches("**/+GeomNode"):
        name = gnp.get_name()
        if name == "hair":
            _drop_triangles(gnp, _short_hair_cut, any_corner=True)
            _move(gnp, _crop)
        elif name == "mouth":           # the lips the colour of the skin, a shade darker; the line stays
            _recolour(gnp, lambda x, y, z, old: LIPS_MALE if old[0] > 0.1 else None)
        elif name == "eyes":            # narrower (her eyes are large)
            lo, hi = gnp.get_tight_bounds()
            mid = (lo.z + hi.z) / 2
            _move(gnp, lambda x, y, z, m=mid: (x, y, m + (z - m) * 0.75))
        elif name == "eyebrows":        # thicker
            lo, hi = gnp.get_tight_bounds()
            mid = (lo.z + hi.z) / 2
            _move(gnp, lambda x, y, z, m=mid: (x, y + 0.002, m + (z - m) * 1.7 - 0.002))
        else:
            _flatten_normals(gnp)       # (read off the bind pose before it moves)
            _move(gnp, _male_shape)


_templates: dict[tuple[str, str, bool], NodePath] = {}


def template(model: str, outfit: str, male: bool = False) -> NodePath:
    """The dressed model (loaded once per process, outfit and sex; Actors copy it)."""
    key = (model, outfit, male)
    if key not in _templates:
        import assetcoop  # noqa: F401  (puts the wheel's models on the model path)
        from .view import base

        from .view import _config

        np_ = base().loader.load_model(f"models/character/{model}.bam", noCache=True)
        dress = OUTFITS[outfit]
        if model == "rebecca":
            if male:
                _make_male(np_)
            _dress_rebecca(np_, dress, male)
        else:
            _dress_simple(np_, dress, MODELS[model]["height"])
        if _config.get("backend", "tiny") == "tiny":
            _bake_light(np_)
        _templates[key] = np_
    return _templates[key]


# the software renderer lights every vertex of every character every frame (a quarter of their cost):
# there they are drawn unlit, with a fixed light from above and in front baked into the vertex colours
BAKED_LIGHT = (0.25, 0.55, 0.8)


def _bake_light(model: NodePath) -> None:
    lx, ly, lz = BAKED_LIGHT
    n = math.sqrt(lx * lx + ly * ly + lz * lz)
    lx, ly, lz = lx / n, ly / n, lz / n
    for gnp in model.find_all_matches("**/+GeomNode"):
        node = gnp.node()
        for i in range(node.get_num_geoms()):
            vdata = node.modify_geom(i).modify_vertex_data()
            if not (vdata.has_column("color") and vdata.has_column("normal")):
                continue
            normals, colours = GeomVertexReader(vdata, "normal"), GeomVertexReader(vdata, "color")
            shaded = []
            while not normals.is_at_end():
                nv, c = normals.get_data3(), colours.get_data4()
                k = 0.5 + 0.62 * max(0.0, nv.x * lx + nv.y * ly + nv.z * lz)
                shaded.append((min(1.0, c.x * k), min(1.0, c.y * k), min(1.0, c.z * k), c.w))
            writer = GeomVertexWriter(vdata, "color")
            for c in shaded:
                writer.set_data4(*c)


def _cap(parent: NodePath, outfit: Outfit) -> NodePath:
    """A peaked police cap from simple shapes, in rebecca's bind-pose model space (her hair reaches
    |x| 0.21, y -0.21..0.27, z 1.92; the eyes are at z 1.67): band, crown, peak and badge."""
    m = pg.Mesh("cap")
    crown = outfit.cap_top or outfit.cap
    z = 1.77
    m.cylinder((0, 0.02, z), 0.205, 0.07, outfit.cap, segments=14)                 # the band
    m.cylinder((0, 0.01, z + 0.07), 0.23, 0.09, crown, segments=14)               # the crown, wider on top
    m.box((0, 0.27, z + 0.01), (0.26, 0.12, 0.015), BLACK)                        # the peak
    m.box((0, 0.226, z + 0.045), (0.11, 0.01, 0.015), (0.85, 0.7, 0.2))           # the cord
    m.box((0, 0.236, z + 0.11), (0.055, 0.01, 0.055), (0.9, 0.75, 0.2))           # the badge
    return m.attach(parent)


# --- the characters -------------------------------------------------------------------------------------------
class Person:
    """One role's Actor, placed and posed from a :class:`CharacterState`."""

    def __init__(self, role: Role, parent: NodePath):
        from direct.actor.Actor import Actor

        self.role = role
        spec = MODELS[role.model]
        self.spec = spec
        self.scale = role.height / spec["height"]
        self.root = parent.attach_new_node(f"person-{role.key}")
        self.actor = Actor(template(role.model, role.outfit, role.male))
        self.actor.reparent_to(self.root)
        self.actor.set_scale(self.scale)
        self.actor.set_two_sided(True)
        self.actor.bind_all_anims(allowAsyncBind=False)    # bound now: an asynchronous bind ignores the first pose
        self.frames = {clip: self.actor.get_num_frames(clip) for clip in self.actor.get_anim_names()}
        self.rates = {clip: self.actor.get_frame_rate(clip) for clip in self.actor.get_anim_names()}
        outfit = OUTFITS[role.outfit]
        if outfit.cap is not None and role.model == "rebecca":
            head = self.actor.expose_joint(None, "modelRoot", "head")
            self.actor.update(force=True)
            holder = head.attach_new_node("cap-holder")
            bind = head.get_mat(self.actor)       # bind pose: the cap is made in model space
            inverse = type(bind)(bind)
            inverse.invert_in_place()
            holder.set_mat(inverse)
            _cap(holder, outfit)
        self.posed: tuple[str, int] | None = None
        self.root.hide()

    def clip(self, anim: str) -> tuple[str, bool]:
        return self.spec["clips"].get(anim, self.spec["clips"]["idle"])

    def frame(self, anim: str, t: float) -> tuple[str, int]:
        clip, loops = self.clip(anim)
        n = self.frames.get(clip, 1)
        f = int(max(0.0, t) * self.rates.get(clip, 24.0))
        return clip, (f % n if loops else min(n - 1, f))

    def apply(self, state: CharacterState) -> None:
        if not state.visible:
            self.root.hide()
            return
        self.root.show()
        spec, s = self.spec, self.scale
        heading = state.heading + spec["faces"]
        if state.anim == "sit":
            self.root.set_pos(state.x, state.y, state.z - spec["hip"] * s)
            self.root.set_hpr(heading + spec["sit_faces"] - spec["faces"], 0, 0)
        elif state.anim == "lie":          # on the back, the head towards ``heading``
            self.root.set_pos(state.x, state.y, state.z + 0.21 * s)
            self.root.set_hpr(heading + 180.0, 90.0, 0)
        else:
            self.root.set_pos(state.x, state.y, state.z)
            self.root.set_hpr(heading, 0, 0)
        pose = self.frame(state.anim, state.anim_t)
        if pose != self.posed:
            self.actor.pose(*pose)
            self.actor.update(force=True)     # without it a first pose of frame 0 is not drawn (T-pose)
            self.posed = pose


class People:
    """All the roles of a scene's cast, built once (``build``) and brought to ``characters()`` (``sync``)."""

    def __init__(self, cast: tuple[Role, ...], parent: NodePath):
        self.node = parent.attach_new_node("people")
        self.persons = {role.key: Person(role, self.node) for role in cast}
        from .view import _config

        if _config.get("backend", "tiny") == "tiny":
            # the wheel's sRGB placeholder textures (white, 1x1) are unsupported by the software
            # renderer, which says so for every character: the vertex colours alone give the look
            self.node.set_texture_off(1)
            self.node.set_light_off(1)      # lit in their vertex colours (_bake_light)

    def __len__(self) -> int:
        return len(self.persons)

    def sync(self, states: dict[str, CharacterState]) -> None:
        for key, person in self.persons.items():
            person.apply(states.get(key, CharacterState(visible=False)))


def build(scene, world) -> People:
    """Make the scene's people (``scene.cast``) under the scene root; ``world.nodes["people"]``."""
    people = People(tuple(scene.cast), world.root)
    world.nodes["people"] = people
    return people


def sync(scene, world) -> None:
    people = world.nodes.get("people")
    if people is not None:
        people.sync(scene.characters())

