"""Rendering a scene with Panda3D: desktop mono or side-by-side stereo, the vision effects, the comfort
vignette, the Chinese subtitles and screenshots.

Layout per eye (one eye in mono, two in stereo): a 3D display region drawn straight into the window,
or, while a vision effect is on, into a power-of-two texture buffer that the eye's overlay shows as
layered cards (blur and double vision are offset translucent copies, distortion a scale wobble,
tremor a jitter of the image, never of the camera). Above it the overlay: colour flash, tunnel /
comfort vignette, fade, subtitles. Stereo is two display regions with stereo channels on one lens with
an interocular distance. The 3D scene's light and material come from ``vr_scenes.look`` (PBR with
shadows where the renderer runs shaders; the scenes' fixed-function lights on the software renderer,
p3tinydisplay, which runs everything else here), and the learner's hands from ``vr_scenes.hands``.

ShowBase exists once per process (``base()``): a Viewer adds its regions and nodes to it and
``close()`` removes them again, so one process can render several scenes.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .core import Inputs, Scene
from .fonts import load_cjk_font


def NodePath_from(node):
    from panda3d.core import NodePath

    return NodePath(node)


BACKENDS = {"tiny": "p3tinydisplay", "headlessgl": "p3headlessgl", "gl": "pandagl"}
# the eye's effects buffer, as a fraction of the eye's size, per look: on a CPU rasterizer (the
# pbr-vertex look) the scene is drawn at half size while a vision effect is on (the effects blur the
# image anyway) and the cards show it magnified
EFFECTS_BUFFER_SCALE = {"pbr-vertex": 0.5}
# ... and the base image and its two translucent copies (blur, double vision) are drawn in one pass: a
# shader on the base card samples the image three times (a CPU rasterizer pays for every full-window
# blended card)
ONE_PASS_EFFECTS = {"pbr-vertex"}
_COMPOSITE_VERT = """#version 120
uniform mat4 p3d_ModelViewProjectionMatrix;
uniform mat4 p3d_ModelMatrix;
attribute vec4 p3d_Vertex;
attribute vec2 p3d_MultiTexCoord0;
varying vec2 v_uv;
varying vec2 v_pos;          // overlay space (x, z)
void main() {
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
    v_uv = p3d_MultiTexCoord0;
    vec4 p = p3d_ModelMatrix * p3d_Vertex;
    v_pos = p.xz;
}
"""
_COMPOSITE_FRAG = """#version 120
uniform sampler2D p3d_Texture0;
uniform vec4 p3d_ColorScale;
uniform vec4 ghost_a;        // blur copy: centre (x, z), 1 / (2 aspect scale), 1 / (2 scale)
uniform vec4 ghost_b;        // double-vision copy, ditto
uniform vec2 ghost_alpha;    // their alphas (0: not shown)
varying vec2 v_uv;
varying vec2 v_pos;
vec4 copy(vec4 g, float alpha, vec4 under) {
    vec2 uv = (v_pos - g.xy) * g.zw + vec2(0.5);
    float inside = step(0.0, uv.x) * step(uv.x, 1.0) * step(0.0, uv.y) * step(uv.y, 1.0);
    return mix(under, texture2D(p3d_Texture0, uv), alpha * inside);
}
void main() {
    vec4 c = texture2D(p3d_Texture0, v_uv) * p3d_ColorScale;
    if (ghost_alpha.x > 0.0) c = copy(ghost_a, ghost_alpha.x, c);
    if (ghost_alpha.y > 0.0) c = copy(ghost_b, ghost_alpha.y, c);
    gl_FragColor = vec4(c.rgb, 1.0);
}
"""
_base = None
_config: dict = {}


def configure(size: tuple[int, int] = (1280, 720), backend: str = "tiny", offscreen: bool = True,
              title: str = "VR", sound: bool = False) -> None:
    """Panda3D settings; must run before the first ``base()`` of the process. ``sound`` selects OpenAL
    (vr_scenes.mixer); without it Panda3D's null audio is used and no sound device is touched."""
    if _base is not None:
        if (size, backend, offscreen) != (_config["size"], _config["backend"], _config["offscreen"]):
            raise RuntimeError("Panda3D is already open in this process with other settings")
        return
    from panda3d.core import load_prc_file_data

    _config.update(size=size, backend=backend, offscreen=offscreen, sound=sound)
    if sound:
        from .mixer import quiet_audio_backends

        quiet_audio_backends()
    load_prc_file_data("vr_scenes", "\n".join([
        f"load-display {BACKENDS[backend]}",
        "aux-display p3tinydisplay" if backend != "tiny" else "",
        f"window-type {'offscreen' if offscreen else 'onscreen'}",
        f"win-size {size[0]} {size[1]}",
        f"window-title {title}",
        f"audio-library-name {'p3openal_audio' if sound else 'null'}",
        "sync-video false",
        "framebuffer-multisample false",
        "notify-level-device fatal",       # no /dev/input here: silence the joystick probe
        "notify-level-x11display fatal",   # offscreen: the X pipe is probed first and finds no display
        # the software renderer needs power-of-two textures; GL ones take any size (a padded eye buffer
        # would show its image squeezed into the lower left of the effects card)
        f"textures-power-2 {'down' if backend == 'tiny' else 'none'}",
        "default-directnotify-level warning",
        "show-frame-rate-meter false",
    ]))


def base():
    global _base
    if _base is None:
        if not _config:
            configure()
        from direct.showbase.ShowBase import ShowBase

        _base = ShowBase(windowType="offscreen" if _config["offscreen"] else "onscreen")
        if _base.win is None:
            raise RuntimeError(f"Panda3D could not open a {_config['backend']} window")
        for region in _base.win.get_display_regions():   # ShowBase's own cameras stay unused
            region.set_active(False)
        _base.disable_mouse()
    return _base


def _pot_below(n: int) -> int:
    return 1 << max(6, int(math.log2(max(64, n))))


@dataclass
class _Eye:
    region: object            # 3D DisplayRegion on the window
    buffer: object            # texture buffer used while effects are on
    buffer_region: object
    overlay: object           # NodePath: the eye's 2D scene
    overlay_region: object
    aspect: float
    cards: list               # post cards: [base, ghosts...]
    flash: object
    vignette: object
    fade: object
    subtitle: object
    goal: object
    title: object


class Viewer:
    def __init__(self, scene: Scene, stereo: bool = False, comfort: bool | None = None, ipd: float = 0.064,
                 hfov: float | None = None, effects: bool = True, subtitles: bool = True, hands: bool = True,
                 look: str | None = None, shadows: bool = True):
        from panda3d.core import Camera, PerspectiveLens

        from .world import World

        self.scene = scene
        self.stereo = stereo
        self.comfort = scene.comfort if comfort is None else comfort
        self.effects = effects
        self.subtitles = subtitles
        self.b = base()
        from . import look as look_mod

        self.look_kind = look_mod.decide_look(self.b.win.get_gsg(), _config.get("backend", "tiny"), look)
        self.font = load_cjk_font()
        self.root = self.b.render.attach_new_node(f"scene-{scene.key}")
        self.world = World(self.root, self.font)
        import time
        t0 = time.perf_counter()
        scene.build(self.world)
        self.world.finish()
        self.build_s = time.perf_counter() - t0

        win = self.b.win
        w, h = win.get_x_size(), win.get_y_size()
        eye_w = w // 2 if stereo else w
        self.lens = PerspectiveLens()
        self.lens.set_near_far(0.1, 2500.0)      # everything of a scene inside: the software clipper mangles far-plane crossings
        self.lens.set_fov(hfov or (95.0 if stereo else 80.0))
        self.lens.set_aspect_ratio(eye_w / h)
        if stereo:
            self.lens.set_interocular_distance(ipd)
            self.lens.set_convergence_distance(1000.0)     # parallel eyes, as in an HMD
        self.head = self.root.attach_new_node("head")
        self.camera = self.head.attach_new_node(Camera("vr-camera", self.lens))
        self.eyes: list[_Eye] = []
        layout = [(0.0, 0.5, 1), (0.5, 1.0, 2)] if stereo else [(0.0, 1.0, 0)]   # SC_left=1, SC_right=2
        for left, right, channel in layout:
            self.eyes.append(self._make_eye(left, right, channel, eye_w / h, eye_w, h))
        self._effects_on = False
        self._last_subtitle: tuple[str, str, str] | None = None
        self.frames = 0
        from . import mixer as mixer_mod     # sound (vr_scenes.mixer): silent unless configure(sound=True)

        self.mixer = mixer_mod.for_viewer(self)
        # first-person hands (vr_scenes.hands), then the light and material look (vr_scenes.look): PBR
        # where the renderer runs shaders, the scene's own fixed-function lights on the software renderer
        from . import hands as hands_mod

        self.hands = hands_mod.Hands(self) if hands else None
        self._brake: float | None = None
        self.look = look_mod.make_look(self, _config.get("backend", "tiny"), shadows=shadows, kind=self.look_kind)

    # --- set-up --------------------------------------------------------------------------------------
    def _make_eye(self, left, right, channel, aspect, eye_w, h) -> _Eye:
        from panda3d.core import Camera as PCamera
        from panda3d.core import CardMaker, NodePath, OrthographicLens, TextNode, Texture, TransparencyAttrib

        from . import procgen

        win = self.b.win
        sky = self.scene_clear_color()
        region = win.make_display_region(left, right, 0, 1)
        region.set_camera(self.camera)
        region.set_stereo_channel(channel)
        region.set_clear_color_active(True)
        region.set_clear_color(sky)
        region.set_clear_depth_active(True)
        region.set_sort(0)

        tex = Texture("eye")
        # the software renderer needs power-of-two textures (the effects image is then a bit softer);
        # GPU backends render it at the eye's own size
        bw, bh = (_pot_below(eye_w), _pot_below(h)) if _config.get("backend") == "tiny" else (eye_w, h)
        scale = EFFECTS_BUFFER_SCALE.get(self.look_kind, 1.0)
        if scale != 1.0:
            bw, bh = max(64, round(bw * scale)), max(64, round(bh * scale))
            tex.set_minfilter(Texture.FT_linear)
            tex.set_magfilter(Texture.FT_linear)
        buffer = win.make_texture_buffer(f"eye-{channel}", bw, bh, tex, False)
        buffer_region = buffer.make_display_region()
        buffer_region.set_camera(self.camera)
        buffer_region.set_stereo_channel(channel)
        buffer.set_clear_color_active(True)
        buffer.set_clear_color(sky)
        buffer.set_active(False)

        overlay = NodePath(f"overlay-{channel}")
        overlay.set_depth_test(False)
        overlay.set_depth_write(False)
        olens = OrthographicLens()
        olens.set_film_size(2 * aspect, 2)
        olens.set_near_far(-10, 10)
        ocam = overlay.attach_new_node(PCamera("overlay-cam", olens))
        overlay_region = win.make_display_region(left, right, 0, 1)
        overlay_region.set_camera(ocam)
        overlay_region.set_sort(10)
        overlay_region.set_clear_depth_active(True)

        cm = CardMaker("card")
        cm.set_frame(-aspect, aspect, -1, 1)
        cards = []
        for i in range(3):      # base image + blur + double vision
            card = overlay.attach_new_node(cm.generate())
            card.set_y(5)
            card.set_texture(tex)
            card.set_bin("fixed", i)
            if i:
                card.set_transparency(TransparencyAttrib.M_alpha)
            card.hide()
            cards.append(card)
        if self.look_kind in ONE_PASS_EFFECTS:
            from panda3d.core import Shader

            cards[0].set_shader(Shader.make(Shader.SL_GLSL, _COMPOSITE_VERT, _COMPOSITE_FRAG))
            cards[0].set_shader_input("ghost_a", (0.0, 0.0, 1.0, 1.0))
            cards[0].set_shader_input("ghost_b", (0.0, 0.0, 1.0, 1.0))
            cards[0].set_shader_input("ghost_alpha", (0.0, 0.0))

        def full_card(name, color, sort, texture=None):
            card = overlay.attach_new_node(cm.generate())
            card.set_name(name)
            card.set_transparency(TransparencyAttrib.M_alpha)
            card.set_color(*color)
            card.set_bin("fixed", sort)
            if texture is not None:
                card.set_texture(texture)
            card.hide()
            return card

        flash = full_card("flash", (0, 0, 0, 0), 21)
        vignette = overlay.attach_new_node("vignette")
        ring, solid = procgen.vignette_meshes()
        soft = ring.attach(vignette, lit=False)
        soft.set_transparency(TransparencyAttrib.M_alpha)     # only the gradient ring is blended ...
        soft.set_bin("fixed", 22)
        hard = solid.attach(vignette, lit=False)              # ... the black beyond it is opaque (cheap)
        hard.set_bin("fixed", 23)
        vignette.hide()
        fade = full_card("fade", (0, 0, 0, 0), 30)

        def text(scale, z, color, wrap_chars, align=TextNode.A_center, x=0.0):
            node = TextNode("text")
            node.set_font(self.font)
            node.set_align(align)
            node.set_text_color(*color)
            node.set_shadow(0.04, 0.04)
            node.set_shadow_color(0, 0, 0, 1)
            node.set_wordwrap(wrap_chars)
            tnp = overlay.attach_new_node(node)
            tnp.set_scale(scale)
            tnp.set_pos(x, 0, z)
            tnp.set_bin("fixed", 40)
            return tnp

        wrap = 2 * aspect * 0.86 / 0.075
        subtitle = text(0.075, -0.72, (1, 1, 1, 1), wrap)
        subtitle.node().set_card_color(0, 0, 0, 0.55)
        subtitle.node().set_card_as_margin(0.4, 0.4, 0.25, 0.25)
        goal = text(0.055, -0.93, (1.0, 0.85, 0.3, 1), 2 * aspect * 0.9 / 0.055)
        title = text(0.09, 0.82, (1, 1, 1, 1), wrap)
        return _Eye(region, buffer, buffer_region, overlay, overlay_region, aspect, cards, flash,
                    vignette, fade, subtitle, goal, title)

    def scene_clear_color(self):
        look = getattr(self, "look", None)
        sky = look.sky(self.scene) if look is not None else None
        return sky or getattr(self.scene, "sky", (0.05, 0.05, 0.06, 1))

    # --- per frame -----------------------------------------------------------------------------------
    def update(self, dt: float, inputs: Inputs | None = None) -> None:
        """Advance the scene logic by dt and bring the view to it (the interactive loop then renders)."""
        if dt > 0:
            self.scene.step(dt, inputs or Inputs())
        self._brake = inputs.brake if inputs is not None else None
        self.sync()

    def sync(self) -> None:
        scene = self.scene
        scene.sync(self.world)
        body = scene.body
        self.head.set_pos(body.x, body.y, body.eye)
        self.head.set_hpr(body.gaze_h, body.pitch, getattr(scene, "roll", 0.0) if not self.comfort else 0.0)
        self.mixer.update()
        if self.hands is not None:
            self.hands.sync(scene, self._brake)
        self.look.sync(scene)
        for eye in self.eyes:
            eye.region.set_clear_color(self.scene_clear_color())
            eye.buffer.set_clear_color(self.scene_clear_color())
        self._apply_effects()
        self._apply_overlay()

    def _apply_effects(self) -> None:
        v = self.scene.vision if self.effects else None
        on = bool(v and v.any)
        if on != self._effects_on:
            for eye in self.eyes:
                eye.region.set_active(not on)
                eye.buffer.set_active(on)
                eye.cards[0].show() if on else eye.cards[0].hide()
                if not on:
                    for card in eye.cards[1:]:
                        card.hide()
            self._effects_on = on
        if not on:
            return
        t = self.scene.clock.now()
        jitter = v.tremor * (0.5 if self.comfort else 1.0)
        jx = jitter * math.sin(t * 53.0) * 2
        jz = jitter * math.cos(t * 47.0) * 2
        zoom = 1.0 + 0.05 * v.distortion * math.sin(t * 1.3)
        blur = 0.008 * v.blur
        offsets = [(-blur, blur * 0.6)]      # an offset copy: a cheap blur (the double image adds to it)
        for eye in self.eyes:
            a = eye.aspect
            base_card, ghosts = eye.cards[0], eye.cards[1:]
            base_card.set_pos(jx * a, 5, jz)
            base_card.set_scale(zoom, 1, zoom * (1.0 + 0.03 * v.distortion * math.cos(t * 0.9)))
            for i, (dx, dz) in enumerate(offsets):
                self._ghost(ghosts[i], v.blur > 1e-3, jx * a + dx * 2 * a, jz + dz * 2, zoom, 0.5)
            self._ghost(ghosts[1], v.double > 1e-4, jx * a + v.double * 2 * a, jz, zoom, 0.4)
            if self.look_kind in ONE_PASS_EFFECTS:
                self._one_pass(eye)

    @staticmethod
    def _one_pass(eye) -> None:
        """The copies' places and alphas become the base card's shader inputs; the copies are not drawn."""
        base_card, ghosts = eye.cards[0], eye.cards[1:]
        params, alphas = [], []
        for card in ghosts:
            pos, scale = card.get_pos(), card.get_scale()
            params.append((pos.x, pos.z, 1.0 / (2 * eye.aspect * scale.x), 1.0 / (2 * scale.z)))
            alphas.append(0.0 if card.is_hidden() else card.get_color_scale()[3])
            card.hide()
        base_card.set_shader_input("ghost_a", params[0])
        base_card.set_shader_input("ghost_b", params[1])
        base_card.set_shader_input("ghost_alpha", tuple(alphas))

    @staticmethod
    def _ghost(card, on: bool, x: float, z: float, zoom: float, alpha: float) -> None:
        """A translucent offset copy of the eye's image (hidden, not drawn at alpha 0, when off)."""
        if not on:
            card.hide()
            return
        card.show()
        card.set_pos(x, 5, z)
        card.set_scale(zoom)
        card.set_alpha_scale(alpha)

    def _apply_overlay(self) -> None:
        scene = self.scene
        v = scene.vision if self.effects else None
        tunnel = v.tunnel if v else 0.0
        comfort_vignette = 0.55 * scene.moving if self.comfort else 0.0
        narrow = max(tunnel, comfort_vignette)
        grey = v.desaturate if v else 0.0
        flash = scene.flash
        subtitle = scene.subtitle() if self.subtitles else ""
        goal = scene.goal() if self.subtitles else ""
        title = scene.stage.title if (self.subtitles and scene.t_stage < 5.0) else ""
        for eye in self.eyes:
            if narrow > 1e-3:
                eye.vignette.show()
                radius = 0.8 / (1.0 + 1.2 * narrow)      # the clear centre, in half-heights
                eye.vignette.set_scale(eye.aspect * radius, 1, radius)
            else:
                eye.vignette.hide()
            # loss of colour: a cold, dim tint of the image (a blended grey card costs a full-screen
            # blend in the software renderer; a colour scale on the opaque image is free)
            eye.cards[0].set_color_scale(1 - 0.35 * grey, 1 - 0.3 * grey, 1 - 0.15 * grey, 1)
            self._card(eye.flash, flash)
            self._card(eye.fade, (0, 0, 0, scene.fade))
        if (subtitle, goal, title) != self._last_subtitle:
            for eye in self.eyes:
                eye.subtitle.node().set_text(subtitle)
                eye.subtitle.show() if subtitle else eye.subtitle.hide()
                eye.goal.node().set_text(goal)
                eye.title.node().set_text(title)
            self._last_subtitle = (subtitle, goal, title)

    @staticmethod
    def _card(card, color) -> None:
        if color[3] > 1e-3:
            card.show()
            card.set_color(*color)
        else:
            card.hide()

    # --- offscreen use -------------------------------------------------------------------------------
    def render(self) -> None:
        self.b.graphics_engine.render_frame()
        self.frames += 1

    def image(self) -> np.ndarray:
        """The last rendered frame as an RGB uint8 array (rows top to bottom)."""
        tex = self.b.win.get_screenshot()
        if tex is None:
            raise RuntimeError("no screenshot")
        data = tex.get_ram_image_as("RGB")
        arr = np.frombuffer(bytes(data), dtype=np.uint8).reshape(tex.get_y_size(), tex.get_x_size(), 3)
        return arr[::-1].copy()

    def save(self, path: str, size: tuple[int, int] | None = None, palette: bool = False) -> np.ndarray:
        """Write the frame as PNG; ``palette`` quantizes to 256 colours (the committed gallery: ~3x smaller)."""
        from PIL import Image

        arr = self.image()
        img = Image.fromarray(arr)
        if size and img.size != size:
            img = img.resize(size, Image.LANCZOS)
        if palette:
            img = img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        img.save(path, optimize=palette, compress_level=9 if palette else 1)   # tests: fast, gallery: small
        return arr

    def draw_calls(self) -> int:
        """Draw calls of the current frame, counted like Panda3D issues them (one per Geom that survives
        culling): per eye, the scene's Geoms whose bounds meet the view frustum (stashed sets are not
        traversed), plus the overlay's visible cards and text. Stereo counts both eyes."""
        from panda3d.core import BoundingVolume, GeomNode, TextNode

        def geoms(node) -> int:
            if isinstance(node.node(), GeomNode):
                return node.node().get_num_geoms()
            if isinstance(node.node(), TextNode) and node.node().get_text():
                generated = NodePath_from(node.node().generate())
                return sum(g.node().get_num_geoms() for g in generated.find_all_matches("**/+GeomNode"))
            return 0

        frustum = self.lens.make_bounds()
        scene_calls = 0
        for node in self.root.find_all_matches("**/+PandaNode"):
            count = geoms(node)
            if not count or node.is_hidden():
                continue
            bounds = node.node().get_bounds().make_copy()
            bounds.xform(node.get_transform(self.camera).get_mat())
            if frustum.contains(bounds) != BoundingVolume.IF_no_intersection:
                scene_calls += count
        overlay_calls = 0
        for node in self.eyes[0].overlay.find_all_matches("**/+PandaNode"):
            if not node.is_hidden():
                overlay_calls += geoms(node)
        return (scene_calls + overlay_calls) * len(self.eyes) + (len(self.eyes) if self._effects_on else 0)

    def triangles(self) -> int:
        """Triangles of the current frame's 3D scene per eye (the Geoms ``draw_calls`` counts: visible,
        not stashed, meeting the view frustum); stereo counts both eyes."""
        from panda3d.core import BoundingVolume

        frustum = self.lens.make_bounds()
        total = 0
        for node in self.root.find_all_matches("**/+GeomNode"):
            if node.is_hidden():
                continue
            bounds = node.node().get_bounds().make_copy()
            bounds.xform(node.get_transform(self.camera).get_mat())
            if frustum.contains(bounds) == BoundingVolume.IF_no_intersection:
                continue
            gnode = node.node()
            for i in range(gnode.get_num_geoms()):
                geom = gnode.get_geom(i)
                for k in range(geom.get_num_primitives()):
                    total += geom.get_primitive(k).get_num_faces()
        return total * len(self.eyes)

    def close(self) -> None:
        self.mixer.close()
        if self.hands is not None:
            self.hands.close()
            self.hands = None
        self.look.close()
        win = self.b.win
        for eye in self.eyes:
            win.remove_display_region(eye.region)
            win.remove_display_region(eye.overlay_region)
            self.b.graphics_engine.remove_window(eye.buffer)
            eye.overlay.remove_node()
        self.root.clear_light()
        self.b.render.clear_light()
        self.root.remove_node()
        self.eyes = []
