"""First-person hands: what the learner's hands do per stage (pure) and the two hands that do it (view).

The pure part, ``hand_state(facts)``, turns a scene's state (scene and stage key, time in the stage and
a few of the scene's attributes, see ``facts_of``) into a pose per hand: where it is in the learner's
body frame (x right, y forward, z up, metres from the eyes), how it is turned, and how closed it is
(0: the model's open ``idle`` pose, 1: its ``hold_fist``). The story's moments:

* prison, arrival, once searched: both hands raised, palms forward;
* prison, visiting, once the phone is picked up: the right hand holds the receiver;
* drunk driving, drinking: the right hand holds the glass, lifted to drink at each drink;
* drunk driving, the laps and the crash: both hands on the wheel (fixed in the car, not following the
  gaze); braking braces the arms forward on the wheel;
* rehab, temptation, refusing: the right hand's open palm pushed forward (the choice ends the stage,
  so the push carries on over the first second of the next);
* rehab, withdrawal and relapse: the hands tremble with the withdrawal tremor.

Elsewhere the hands hang low, out of view. ``HandMemory`` keeps the moments a pose starts (the drink,
the refusal) so the state stays a function of the facts and the memory.

The view part, ``Hands``, loads panda3d-assetcoop's ``hud_hand`` (a rigged right hand and forearm with
the ``idle`` and ``hold_fist`` animations) twice, the left mirrored, coloured skin with a sleeve (prison
uniform blue-grey in the prison, a dark jacket elsewhere), and places them each frame. With OpenXR the
hands would follow the controllers' grip poses: panda3d-openxr 0.1.2 tracks them in its action set, but
``controls.OpenXRHead`` exposes only the head, so the hands stay on the scripted poses there too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HandPose:
    pose: str                                   # a name for tests and logs: "rest", "raised", "wheel", ...
    pos: tuple[float, float, float]             # the hand's centre, body frame, metres from the eyes
    hpr: tuple[float, float, float]             # of the right hand; the left mirrors it
    grip: float = 0.0                           # 0 open .. 1 fist
    visible: bool = True


@dataclass(frozen=True)
class HandsState:
    left: HandPose
    right: HandPose
    follow_gaze: bool = True                    # the hands turn with the head (False: fixed to the car)
    prop: str | None = None                     # "phone" | "glass": held in the right hand
    tremor: float = 0.0                         # amplitude in metres


@dataclass(frozen=True)
class Facts:
    """What the hands need to know of a scene (``facts_of`` reads it from a scene)."""
    scene: str
    stage: str
    t: float                                    # seconds into the stage
    searched: bool = False                      # prison
    phone: bool = False                         # prison visiting
    drinks: int = 0                             # drunk driving
    brake: float = 0.0                          # drunk driving: the learner's brake input, 0..1
    choice: str | None = None                   # rehab: "refuse" | "accept"
    tremor: float = 0.0                         # the vision tremor (withdrawal)


@dataclass
class HandMemory:
    """When the poses that play once started (stage time): the last drink, the refusal."""
    stage: str = ""
    drinks: int = 0
    drink_at: float | None = None
    choice_at: float | None = None
    _seen: dict = field(default_factory=dict)

    def update(self, facts: Facts) -> None:
        if facts.stage != self.stage:
            self.stage, self.drink_at, self.choice_at = facts.stage, None, None
        if facts.drinks > self.drinks:
            self.drink_at = facts.t
        self.drinks = facts.drinks
        if facts.choice is not None and self.choice_at is None:
            self.choice_at = facts.t


def facts_of(scene, brake: float | None = None) -> Facts:
    """The facts of a scene now (attributes the scenes have; missing ones read as their default)."""
    vision = getattr(scene, "vision", None)
    return Facts(scene=scene.key, stage=scene.stage.key, t=scene.t_stage,
                 searched=bool(getattr(scene, "searched", False)), phone=bool(getattr(scene, "phone", False)),
                 drinks=int(getattr(scene, "drinks", 0)),
                 brake=float(brake if brake is not None else getattr(scene, "_brake_cmd", 0.0)),
                 choice=getattr(scene, "choice", None), tremor=float(getattr(vision, "tremor", 0.0) or 0.0))


# poses of the right hand (the left one mirrors x, h and r)
REST = HandPose("rest", (0.24, 0.22, -0.62), (0, -20, 0), 0.2, visible=False)
RAISED = HandPose("raised", (0.3, 0.55, -0.02), (0, 75, -8), 0.0)
WHEEL_Y, WHEEL_Z, WHEEL_R = 0.6, -0.29, 0.17          # the car's wheel from the driver's eyes


def _wheel(brake: float) -> HandPose:
    a = math.radians(40)                                # ten to two
    push = 0.03 * brake                                 # braking: arms straight, braced on the rim
    return HandPose("brace" if brake >= 0.3 else "wheel",
                    (WHEEL_R * math.cos(a), WHEEL_Y - 0.03 + push, WHEEL_Z + WHEEL_R * math.sin(a)),
                    (20, 10 - 10 * brake, -70), 1.0)


def _ease(x: float) -> float:
    x = max(0.0, min(1.0, x))
    return x * x * (3 - 2 * x)


def _lerp(a, b, f: float):
    return tuple(x + (y - x) * f for x, y in zip(a, b, strict=True))


def mirror(pose: HandPose) -> HandPose:
    x, y, z = pose.pos
    h, p, r = pose.hpr
    return HandPose(pose.pose, (-x, y, z), (-h, p, -r), pose.grip, pose.visible)


def hand_state(facts: Facts, memory: HandMemory | None = None) -> HandsState:
    """The pose of both hands for these facts (pure; ``memory`` gives the start of one-off moves)."""
    mem = memory or HandMemory()
    s, k, t = facts.scene, facts.stage, facts.t
    if s == "prison" and k == "arrival" and facts.searched:
        return HandsState(mirror(RAISED), RAISED)
    if s == "prison" and k == "visiting" and facts.phone:
        phone = HandPose("phone", (0.2, 0.4, -0.17), (-20, 50, -50), 1.0)
        return HandsState(REST, phone, prop="phone")
    if s == "drunk" and k == "drinking":
        since = math.inf if mem.drink_at is None else t - mem.drink_at
        lift = _ease(since / 0.4) * (1 - _ease((since - 1.2) / 0.5)) if since < 1.7 else 0.0
        low, up = (0.13, 0.36, -0.13), (0.05, 0.3, -0.04)
        glass = HandPose("drink" if lift > 0.5 else "glass", _lerp(low, up, lift), (-15, 20 + 25 * lift, -75), 1.0)
        return HandsState(REST, glass, prop="glass")
    if s == "drunk" and k in ("briefing", "sober_lap", "drunk_lap", "crash"):
        brake = 1.0 if k == "crash" else facts.brake
        grip = _wheel(brake)
        return HandsState(mirror(grip), grip, follow_gaze=False)
    refused_now = k == "temptation" or (k == "relapse" and t < 1.5)   # the choice ends the stage at once:
    if s == "rehab" and facts.choice == "refuse" and refused_now:       # the push carries over the cut
        if k == "temptation":
            push = _ease((0.0 if mem.choice_at is None else t - mem.choice_at) / 0.6)
        else:
            push = 1.0 - _ease((t - 1.0) / 0.5)
        refuse = HandPose("refuse", _lerp((0.12, 0.3, -0.2), (0.06, 0.46, -0.06), push), (-5, 70 + 15 * push, 0), 0.0)
        return HandsState(REST, refuse)
    if s == "rehab" and k in ("withdrawal", "relapse") and facts.tremor > 0:
        shaking = HandPose("shaking", (0.2, 0.36, -0.27), (-10, 20, -40), 0.3)
        return HandsState(mirror(shaking), shaking, tremor=0.006 * min(1.0, facts.tremor * 2))
    return HandsState(mirror(REST), REST)


# --- the view side (Panda3D) -----------------------------------------------------------------------------
SKIN = (0.86, 0.67, 0.55, 1)
SLEEVES = {"prison": (0.42, 0.49, 0.58, 1)}      # the prison uniform's blue-grey
SLEEVE_DEFAULT = (0.13, 0.13, 0.16, 1)             # a dark jacket
MODEL = "models/character/hud_hand.bam"
SCALE = 0.55                                       # the model's hand is 0.33 m long: an adult's is ~0.19 m
HAND_CENTRE_Y = 0.45                               # the model's palm centre (model units along +y)


class Hands:
    """The learner's two hands, under the scene root, placed each frame from ``hand_state``."""

    def __init__(self, viewer):
        import assetcoop  # noqa: F401  (adds the model path)
        from direct.actor.Actor import Actor
        from panda3d.core import Material, NodePath

        self.viewer = viewer
        self.scene = viewer.scene
        self.memory = HandMemory()
        self.state: HandsState | None = None
        self.anchor = viewer.root.attach_new_node("learner-hands")   # the body frame, turned with the gaze or not
        sleeve = SLEEVES.get(viewer.scene.key, SLEEVE_DEFAULT)
        material = Material("skin")
        material.set_roughness(0.6)       # no colours set: the vertex colours (skin, sleeve) show
        material.set_metallic(0.0)
        self.hands: dict[str, object] = {}
        self._grip: dict[str, float] = {}
        self.holders: dict[str, NodePath] = {}
        for side in ("left", "right"):
            holder = self.anchor.attach_new_node(f"hand-{side}")
            actor = Actor(MODEL)
            actor.reparent_to(holder)
            actor.set_scale(SCALE)
            actor.set_y(-HAND_CENTRE_Y * SCALE)        # the holder is at the palm's centre
            actor.set_texture_off(10)
            actor.set_material(material, 10)
            self._colour(actor, sleeve)
            if side == "left":
                actor.set_sx(-SCALE)                      # mirrored: a left hand
                actor.set_two_sided(True)
            actor.set_blend(frameBlend=False)
            actor.enable_blend()
            actor.set_control_effect("idle", 1.0)
            actor.set_control_effect("hold_fist", 0.0)
            actor.pose("idle", 0)
            actor.pose("hold_fist", 1)
            self.hands[side] = actor
            self.holders[side] = holder
        self.props = {"phone": self._phone(), "glass": self._glass()}

    def _colour(self, actor, sleeve) -> None:
        """Skin on the hand, the sleeve on the forearm (vertex colours by distance along the arm)."""
        from panda3d.core import GeomVertexReader, GeomVertexRewriter

        for gnp in actor.find_all_matches("**/+GeomNode"):
            node = gnp.node()
            for i in range(node.get_num_geoms()):
                vdata = node.modify_geom(i).modify_vertex_data()
                reader = GeomVertexReader(vdata, "vertex")
                ys = []
                while not reader.is_at_end():
                    ys.append(reader.get_data3()[1])
                writer = GeomVertexRewriter(vdata, "color")
                for y in ys:      # the forearm's rings sit at y -0.07 and 0.26, the wrist's at 0.3
                    writer.set_data4(*(SKIN if y >= 0.285 else sleeve))

    def _phone(self):
        from . import procgen as pg

        mesh = pg.Mesh("receiver")
        mesh.box((0, 0, 0), (0.035, 0.16, 0.03), (0.3, 0.3, 0.32))
        mesh.box((0, 0.075, 0.015), (0.045, 0.045, 0.035), (0.26, 0.26, 0.28))
        mesh.box((0, -0.075, 0.015), (0.045, 0.045, 0.035), (0.26, 0.26, 0.28))
        node = mesh.attach(self.holders["right"])
        node.set_pos(-0.02, 0.0, 0.04)
        node.set_h(80)
        node.hide()
        return node

    def _glass(self):
        from panda3d.core import TransparencyAttrib

        from . import procgen as pg

        mesh = pg.Mesh("glass")
        mesh.cylinder((0, 0, 0), 0.03, 0.08, (0.85, 0.88, 0.92, 0.6), segments=10)
        node = mesh.attach(self.holders["right"])
        node.set_transparency(TransparencyAttrib.M_alpha)
        node.set_pos(-0.03, 0.02, 0.0)
        node.hide()
        return node

    def sync(self, scene, brake: float | None = None) -> HandsState:
        facts = facts_of(scene, brake)
        self.memory.update(facts)
        state = hand_state(facts, self.memory)
        self.state = state
        body = scene.body
        self.anchor.set_pos(body.x, body.y, body.eye)
        if state.follow_gaze:
            self.anchor.set_hpr(body.gaze_h, body.pitch * 0.5, 0)
        else:
            self.anchor.set_hpr(body.heading, 0, 0)
        t = scene.clock.now()
        for side, pose in (("left", state.left), ("right", state.right)):
            holder, actor = self.holders[side], self.hands[side]
            if not pose.visible:
                holder.hide()
                continue
            holder.show()
            x, y, z = pose.pos
            if state.tremor:
                phase = 0.0 if side == "left" else 1.7
                x += state.tremor * math.sin(t * 41.0 + phase)
                z += state.tremor * math.cos(t * 37.0 + phase)
            holder.set_pos(x, y, z)
            holder.set_hpr(*pose.hpr)
            if self._grip.get(side) != pose.grip:      # a changed blend re-skins the hand on the CPU
                actor.set_control_effect("idle", 1.0 - pose.grip)
                actor.set_control_effect("hold_fist", pose.grip)
                self._grip[side] = pose.grip
        for name, node in self.props.items():
            node.show() if state.prop == name and state.right.visible else node.hide()
        # the visiting room's own handset, which the prison geometry lifts into view: this hand holds it
        handset = self.viewer.world.nodes.get("handset")
        if handset is not None and hasattr(handset, "hide"):
            handset.hide() if state.prop == "phone" else handset.show()
        return state

    def set_visible(self, on: bool) -> None:
        self.anchor.show() if on else self.anchor.hide()

    def close(self) -> None:
        for actor in self.hands.values():
            actor.cleanup()
        self.anchor.remove_node()
