"""Drug rehab: withdrawal in first person, admission, the centre's routine, the moment of temptation, the
consequences of relapse against recovery, and family.

Withdrawal is rendered as tunnel vision, tremor (of the image, never the camera), distortion and loss
of colour, and the body is slow: the learner has to cross the room to the phone and call for help.
In the centre the learner signs in and does the day's routine (exercise, class, counselling). At the
temptation an old friend offers drugs: 1 refuses, 2 accepts (the choice and the time taken are
recorded). Relapse is then shown in full (aversion: stronger withdrawal, an overdose, the ambulance),
recovery against it, and the narration of both and of the family follows the learner's choice.
"""
from __future__ import annotations

import math

from ..core import EYE_STANDING, Cue, Inputs, KeyEvent, Scene, Stage
from ..impairment import VisionEffects, withdrawal_vision

ROOM_X, CENTRE_X, YARD_X, STREET_X, HOME_X = 0.0, 100.0, 200.0, 300.0, 400.0
PHONE = (ROOM_X + 1.6, 3.2)
DESK = (CENTRE_X, 3.0)
STATIONS = {"exercise": (YARD_X - 3.0, 3.0), "class": (YARD_X, 5.0), "counselling": (YARD_X + 3.0, 3.0)}
STATION_NAMES = {"exercise": "晨练", "class": "法治课", "counselling": "心理咨询"}

STAGES = (
    Stage("withdrawal", "戒断", 90.0, (
        Cue(0, "凌晨三点。毒瘾发作了：浑身发冷、发抖，骨头里像有蚂蚁在爬。"),
        Cue(14, "视野越来越窄，四周在晃动、扭曲。你几乎站不稳。"),
        Cue(30, "走到桌边的电话（W 键，动作很慢），按 E 键拨打求助电话。"),
        Cue(60, "这就是毒品给你的“快乐”的代价。"),
    ), goal="走到电话旁，按 E 键求助", min_s=45.0,
        key_events=(KeyEvent("phone", (PHONE[0], PHONE[1], 0.8)), KeyEvent("clock", (ROOM_X - 1.0, 3.95, 2.0))),
        keyframe_s=10.0),
    Stage("intake", "入所", 45.0, (
        Cue(0, "你来到了强制隔离戒毒所。这里没有毒品，也没有退路。"),
        Cue(10, "走到登记台前，按 E 键签字入所。"),
        Cue(25, "墙上的规章写着：戒毒期限为二年。"),
    ), goal="走到登记台，按 E 键签字", min_s=25.0,
        key_events=(KeyEvent("staff", (CENTRE_X, 3.8, 1.6)), KeyEvent("rules", (CENTRE_X - 2.9, 3.0, 1.8))),
        keyframe_s=12.0),
    Stage("routine", "康复日常", 90.0, (
        Cue(0, "戒毒所的每一天：晨练、学习、心理咨询。身体在一点点恢复。"),
        Cue(12, "依次走到三个地点，按 E 键参加：晨练、法治课、心理咨询。"),
        Cue(45, "心理咨询师说：“想用毒品的念头还会来。重要的是你怎么面对它。”"),
    ), goal="", min_s=60.0,
        key_events=tuple(KeyEvent(name, (xy[0], xy[1], 1.0)) for name, xy in STATIONS.items()),
        keyframe_s=1.5),
    Stage("temptation", "诱惑时刻", 45.0, (
        Cue(0, "出所后的一个傍晚，你在街角遇到了以前一起吸毒的朋友。"),
        Cue(8, "他掏出一小包东西：“就一口，没人知道。”"),
        Cue(16, "按 1 键拒绝，按 2 键接受。你的选择会有后果。"),
    ), goal="按 1 键拒绝　按 2 键接受", min_s=15.0,
        key_events=(KeyEvent("friend", (STREET_X, 2.0, 1.6)), KeyEvent("packet", (STREET_X + 0.2, 1.5, 1.1))),
        keyframe_s=12.0),
    Stage("relapse", "复吸的代价", 70.0, (
        Cue(0, "复吸。毒瘾比以前来得更猛。"),
        Cue(15, "为了买毒品，你卖掉了家里能卖的一切。"),
        Cue(30, "耐受下降，同样的剂量让你倒在地上：过量，呼吸越来越慢。"),
        Cue(45, "救护车赶到。这一次抢救回来了，下一次呢？复吸还要再次被强制隔离戒毒。"),
    ), key_events=(KeyEvent("ambulance", (ROOM_X, 0.2, 1.5), start=40.0),), keyframe_s=18.0),
    Stage("recovery", "康复之路", 50.0, (
        Cue(0, "另一条路：你拒绝了。你走出了戒毒所，重新开始。"),
        Cue(14, "你找到了一份工作，在社区参加帮扶活动，定期接受尿检。"),
        Cue(30, "操守保持的每一天，都是你自己挣来的。"),
    ), key_events=(KeyEvent("certificate", (YARD_X, 7.9, 3.2)),), keyframe_s=10.0),
    Stage("family", "回家", 45.0, (
        Cue(0, "家门开了。"),
        Cue(10, "妈妈做了一桌子菜，孩子扑进你的怀里。"),
        Cue(25, "远离毒品，珍爱生命。家，一直在等你。"),
    ), key_events=(KeyEvent("family", (HOME_X, 2.4, 1.2)),), keyframe_s=12.0),
)


class DrugRehabScene(Scene):
    key = "rehab"
    title = "戒毒警示"
    order = 3
    stages = STAGES
    sky = (0.05, 0.05, 0.08, 1)

    def __init__(self, *args, **kwargs):
        self.called = False
        self.signed = False
        self.done: list[str] = []
        self.choice: str | None = None      # "refuse" | "accept"
        self.max_walk_speed = 1.3
        super().__init__(*args, **kwargs)

    def on_enter(self, stage: Stage) -> None:
        k = stage.key
        self.vision = VisionEffects()
        self.flash = (0, 0, 0, 0)
        self.max_walk_speed = 0.45 if k == "withdrawal" else 1.3
        self.sky = {"routine": (0.55, 0.7, 0.9, 1), "recovery": (0.6, 0.78, 0.95, 1),
                    "temptation": (0.75, 0.5, 0.35, 1)}.get(k, (0.05, 0.05, 0.08, 1))
        if k == "withdrawal":
            self.place(ROOM_X - 1.2, 0.6, 0.0, EYE_STANDING - 0.25)      # bent over
        elif k == "intake":
            self.place(CENTRE_X, -1.5, 0.0)
        elif k == "routine":
            self.place(YARD_X, 0.0, 0.0)
        elif k == "temptation":
            self.place(STREET_X, 0.0, 0.0)
        elif k == "relapse":
            self.place(ROOM_X - 0.5, 1.0, 0.0, 0.6)                   # on the floor
        elif k == "recovery":
            self.place(YARD_X, 1.0, 0.0)
        elif k == "family":
            self.place(HOME_X, -0.5, 0.0)

    def on_step(self, stage: Stage, dt: float, inputs: Inputs) -> None:
        k, t = stage.key, self.t_stage
        self.moving = 0.0
        if k == "withdrawal":
            self.walk(dt, inputs, (ROOM_X - 1.7, 0.4, ROOM_X + 1.7, 3.6))
            severity = 1.0 if not self.called else max(0.4, 1.0 - (t - self._called_at) / 20)
            self.vision = withdrawal_vision(severity, self.clock.now())
            if inputs.action and self.near(PHONE, 0.8):
                if not self.called:
                    self._called_at = t
                    self.telemetry.counters["help_called_at_s"] = round(t, 2)
                self.called = True
        elif k == "intake":
            self.walk(dt, inputs, (CENTRE_X - 2.5, -2.0, CENTRE_X + 2.5, 2.6))
            if inputs.action and self.near((DESK[0], DESK[1] - 0.6), 0.8):
                self.signed = True
        elif k == "routine":
            self.walk(dt, inputs, (YARD_X - 4.5, -0.5, YARD_X + 4.5, 7.0))
            for name, xy in STATIONS.items():
                if inputs.action and name not in self.done and self.near(xy, 0.9):
                    self.done.append(name)
                    self.telemetry.counters[f"routine_{name}_at_s"] = round(t, 2)
        elif k == "temptation":
            if self.choice is None and inputs.choice in (1, 2):
                self.choice = "refuse" if inputs.choice == 1 else "accept"
                self.telemetry.choices["temptation"] = self.choice
                self.telemetry.counters["choice_time_s"] = round(max(0.0, t - 16.0), 2)
        elif k == "relapse":
            self.vision = withdrawal_vision(min(0.9, 0.6 + t / 30), self.clock.now())
            if t > 30:
                self.fade = min(0.7, (t - 30) / 10) if t < 40 else 0.0
            if t >= 40:
                blink = math.sin(t * 2 * math.pi * 0.7) > 0
                self.flash = (0.9, 0.1, 0.1, 0.12) if blink else (0.1, 0.2, 0.9, 0.12)
        elif k == "recovery":
            self.walk(dt, inputs, (YARD_X - 4.5, -0.5, YARD_X + 4.5, 7.0))
        elif k == "family":
            self.walk(dt, inputs, (HOME_X - 2.5, -1.0, HOME_X + 2.5, 1.6))

    def step(self, dt: float, inputs: Inputs | None = None) -> None:
        super().step(dt, inputs)
        if self.stage.key == "relapse" and 30 < self.t_stage < 40:
            self.fade = min(0.7, (self.t_stage - 30) / 10)   # fainting (the base step resets the cut fade)

    def stage_complete(self, stage: Stage) -> bool:
        k = stage.key
        if k == "withdrawal":
            return self.called
        if k == "intake":
            return self.signed
        if k == "routine":
            return len(self.done) == len(STATIONS)
        if k == "temptation":
            return self.choice is not None
        return False

    def subtitle(self) -> str:
        k = self.stage.key
        if k == "relapse" and self.t_stage < 6:
            return ("你接过了那包东西。这就是接下来发生的事。" if self.choice == "accept"
                    else "你拒绝了。但如果你接过了那包东西……")
        if k == "family" and self.t_stage >= 25 and self.choice == "accept":
            return "可是复吸的你，错过了这顿饭。远离毒品，家才会一直等你。"
        if k == "temptation" and self.choice is not None:
            return "你说：“不了，我已经戒了。”然后转身走开。" if self.choice == "refuse" else "你接过了那一小包。"
        return super().subtitle()

    def goal(self) -> str:
        k = self.stage.key
        if k == "routine":
            left = [STATION_NAMES[n] for n in STATIONS if n not in self.done]
            return "走到下一个地点按 E 键：" + "、".join(left) if left else "今天的安排完成了"
        if k == "temptation" and self.choice is None and self.t_stage >= 16:
            return f"{self.stage.goal}（已经犹豫了 {self.t_stage - 16:.0f} 秒）"
        if k == "temptation":
            return "" if self.choice else self.stage.goal
        return self.stage.goal

    # --- the scripted learner --------------------------------------------------------------------------
    def autopilot(self) -> Inputs:
        k, t = self.stage.key, self.t_stage
        if k == "withdrawal":
            if t < 12:
                yaw, pitch = self.look_at_event("clock")
                return Inputs(yaw=yaw, pitch=pitch)
            if not self.near(PHONE, 0.7):
                return self.walk_to(PHONE, 0.6)
            yaw, pitch = self.look_at_event("phone")
            return Inputs(action=t > 44, yaw=yaw, pitch=pitch)
        if k == "intake":
            spot = (DESK[0], DESK[1] - 0.6)
            if not self.near(spot, 0.5):
                return self.walk_to(spot, 0.4)
            yaw, pitch = self.look_at_event("staff")
            return Inputs(action=t > 24, yaw=yaw, pitch=pitch)
        if k == "routine":
            for name, xy in STATIONS.items():
                if name not in self.done:
                    if not self.near(xy, 0.8):
                        return self.walk_to(xy, 0.7)
                    return Inputs(action=t > 8 + 18 * len(self.done))
            return Inputs()
        if k == "temptation":
            yaw, pitch = self.look_at_event("friend")
            return Inputs(choice=1 if t > 18 else None, yaw=yaw, pitch=pitch)
        yaw, pitch = self.look_at_event()
        return Inputs(yaw=yaw, pitch=pitch)

    # --- view (Panda3D) --------------------------------------------------------------------------------
    def build(self, world) -> None:
        _build(self, world)

    def sync(self, world) -> None:
        _sync(self, world)


SETS = {"withdrawal": "room", "intake": "centre", "routine": "yard", "temptation": "street", "relapse": "room",
        "recovery": "yard", "family": "home"}


def _build(scene: DrugRehabScene, world) -> None:
    from .. import procgen as pg
    from .. import props

    root = world.root
    pg.lights(root, ambient=(0.45, 0.45, 0.5), sun=(0.75, 0.72, 0.68), sun_hpr=(40, -50, 0))
    plaster = world.texture("plaster", lambda: pg.concrete(128, 31, base=(0.8, 0.78, 0.74), var=0.12))
    floor_tex = world.texture("floor-wood", lambda: pg.wood(128, 32, base=(0.5, 0.36, 0.24)))
    tiles = world.texture("tiles-green", lambda: pg.tiles(128, 33, a=(0.75, 0.8, 0.75), b=(0.65, 0.72, 0.68)))
    grass = world.texture("grass", lambda: pg.grass(128, 34))
    bricks = world.texture("bricks-street", lambda: pg.bricks(128, 35))
    staff_blue = (0.2, 0.35, 0.55)

    # the room at night (withdrawal, relapse) --------------------------------------------------------------
    room = world.add_set("room")
    st = room.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (ROOM_X, 2.0, 0), 4.0, 4.0, 2.6, wall_color=(0.75, 0.72, 0.66), floor_color=(0.6, 0.55, 0.5))
    props.bed(furn, ROOM_X - 1.2, 2.6, along_y=True, frame=(0.35, 0.3, 0.25), sheet=(0.6, 0.55, 0.5))
    furn.box((ROOM_X - 1.0, 2.3, 0.62), (0.6, 0.9, 0.12), (0.5, 0.48, 0.45))           # crumpled blanket
    props.table(furn, PHONE[0], PHONE[1] + 0.2, w=0.7, d=0.5, h=0.72, color=(0.4, 0.3, 0.2))
    furn.box((PHONE[0], PHONE[1] + 0.15, 0.78), (0.2, 0.14, 0.08), (0.8, 0.1, 0.1))    # the phone
    for k in range(5):                                                                   # litter on the floor
        furn.box((ROOM_X + 0.6 - 0.35 * k, 1.4 + 0.3 * (k % 2), 0.01), (0.12, 0.08, 0.02), (0.85, 0.85, 0.8))
    props.window(furn, light, ROOM_X + 0.6, 3.98, 1.6, 0.9, 0.8, facing=-1, sky=(0.05, 0.07, 0.2))
    props.clock_face(furn, ROOM_X - 1.0, 3.97, 2.0, r=0.2, facing=-1)
    light.quad((ROOM_X - 0.2, 1.8, 2.58), (ROOM_X + 0.2, 1.8, 2.58), (ROOM_X + 0.2, 2.2, 2.58), (ROOM_X - 0.2, 2.2, 2.58),
               (0.9, 0.85, 0.6))
    light.quad((ROOM_X - 0.2, 2.2, 2.57), (ROOM_X + 0.2, 2.2, 2.57), (ROOM_X + 0.2, 1.8, 2.57), (ROOM_X - 0.2, 1.8, 2.57),
               (0.9, 0.85, 0.6))
    walls.attach(st, plaster)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(room, "求助电话", (PHONE[0], PHONE[1] + 0.45, 1.05), scale=0.09, color=(1, 0.9, 0.3, 1))
    hands = pg.Mesh("hands").box((0, 0, 0.06), (0.015, 0.01, 0.13), (0.05, 0.05, 0.05))
    hour = hands.attach(room)
    hour.set_pos(ROOM_X - 1.0, 3.94, 2.0)
    hour.set_r(90)       # three o'clock

    # the rehab centre (intake) ----------------------------------------------------------------------------
    centre = world.add_set("centre")
    st = centre.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (CENTRE_X, 1.5, 0), 6.0, 7.0, 3.0, wall_color=(0.9, 0.92, 0.9), floor_color=(0.8, 0.82, 0.8))
    furn.box((CENTRE_X, DESK[1], 0.5), (2.4, 0.6, 1.0), (0.55, 0.6, 0.65))
    furn.box((CENTRE_X - 0.2, DESK[1] - 0.1, 1.01), (0.3, 0.22, 0.01), (0.98, 0.98, 0.98))     # the form
    pg.person(furn, CENTRE_X, 3.8, heading=180, shirt=staff_blue, pants=(0.15, 0.15, 0.2))
    furn.box((CENTRE_X - 2.97, 3.0, 1.8), (0.04, 1.8, 1.3), (0.95, 0.95, 0.9))                   # the rules board
    for k in range(2):
        props.chair(furn, CENTRE_X + 2.2, -0.5 + 0.6 * k, facing_y=1, color=(0.3, 0.4, 0.6))
    light.quad((CENTRE_X - 1, 0, 2.98), (CENTRE_X + 1, 0, 2.98), (CENTRE_X + 1, 3, 2.98), (CENTRE_X - 1, 3, 2.98), (1, 1, 1))
    light.quad((CENTRE_X - 1, 3, 2.97), (CENTRE_X + 1, 3, 2.97), (CENTRE_X + 1, 0, 2.97), (CENTRE_X - 1, 0, 2.97), (1, 1, 1))
    walls.attach(st, plaster)
    floor.attach(st, tiles)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(centre, "强制隔离戒毒所", (CENTRE_X, 4.95, 2.45), scale=0.32, color=(0.1, 0.3, 0.6, 1))
    rules = world.text(centre, "所规\n一、遵守法律法规\n二、服从管理教育\n三、坚持康复训练\n四、拒绝一切毒品",
                       (CENTRE_X - 2.94, 3.0, 2.3), scale=0.13, color=(0.1, 0.1, 0.1, 1), heading=-90)
    rules.node().set_align(0)

    # the yard (routine, recovery) -------------------------------------------------------------------------
    yard = world.add_set("yard")
    st = yard.attach_new_node("static")
    ground, walls, furn = pg.Mesh("ground"), pg.Mesh("walls"), pg.Mesh("furn")
    ground.quad((YARD_X - 20, -10, 0), (YARD_X + 20, -10, 0), (YARD_X + 20, 20, 0), (YARD_X - 20, 20, 0), (1, 1, 1),
                uv=((0, 0), (8, 0), (8, 6), (0, 6)))
    walls.box((YARD_X, 8.5, 2.0), (20, 0.4, 4.0), (0.85, 0.85, 0.8), uv_per_m=0.5, faces="s")
    for sx in (-1, 1):
        walls.box((YARD_X + sx * 10, 0, 2.0), (0.4, 17, 4.0), (0.85, 0.85, 0.8), uv_per_m=0.5, faces="ew")
    ex = STATIONS["exercise"]
    furn.box((ex[0], ex[1], 0.01), (1.2, 2.0, 0.02), (0.2, 0.5, 0.8), faces="t")              # exercise mat
    furn.cylinder((ex[0] - 1.0, ex[1] + 1.2, 0), 0.05, 2.2, (0.6, 0.6, 0.62), segments=6)
    furn.cylinder((ex[0] + 1.0, ex[1] + 1.2, 0), 0.05, 2.2, (0.6, 0.6, 0.62), segments=6)
    furn.box((ex[0], ex[1] + 1.2, 2.2), (2.1, 0.06, 0.06), (0.6, 0.6, 0.62))                  # a bar
    cl = STATIONS["class"]
    for k in range(3):
        props.table(furn, cl[0] - 1.0 + k, cl[1] + 0.6, w=0.8, d=0.5, color=(0.6, 0.45, 0.3))
    furn.box((cl[0], cl[1] + 2.2, 1.5), (2.6, 0.08, 1.2), (0.1, 0.3, 0.2))                      # blackboard
    co = STATIONS["counselling"]
    props.chair(furn, co[0], co[1] + 0.9, facing_y=-1, color=(0.6, 0.35, 0.3))
    props.chair(furn, co[0] + 0.9, co[1] + 0.3, facing_y=-1, color=(0.6, 0.35, 0.3))
    pg.person(furn, co[0], co[1] + 0.95, heading=180, shirt=(0.7, 0.5, 0.4), seated=True)
    pg.person(furn, ex[0], ex[1] + 1.3, heading=180, shirt=(0.3, 0.4, 0.3), arms_up=True)   # at the bar
    furn.box((YARD_X, 8.25, 3.2), (1.6, 0.05, 1.0), (0.95, 0.85, 0.5))                        # certificate
    for x in (-7, -4, 4, 7):
        furn.cylinder((YARD_X + x, 7.0, 0), 0.15, 2.0, (0.4, 0.28, 0.18), segments=6, caps=False)
        furn.sphere((YARD_X + x, 7.0, 2.8), 1.1, (0.25, 0.5, 0.22), rings=4, segments=7)
    ground.attach(st, grass)
    walls.attach(st, bricks)
    furn.attach(st)
    for name, xy in STATIONS.items():
        world.text(yard, STATION_NAMES[name], (xy[0], xy[1] + 0.1, 2.3), scale=0.3, color=(1, 1, 1, 1),
                   card=(0.1, 0.3, 0.5, 0.85))
    world.text(yard, "结业证书", (YARD_X, 8.2, 3.3), scale=0.25, color=(0.6, 0.1, 0.1, 1))
    markers = {}
    for name, xy in STATIONS.items():
        m = pg.Mesh(f"marker-{name}").cylinder((0, 0, 0), 0.45, 0.02, (1.0, 0.8, 0.1), segments=14)
        n = m.attach(yard, lit=False)
        n.set_pos(xy[0], xy[1], 0.01)
        markers[name] = n
    world.nodes["markers"] = markers

    # the street corner at dusk ----------------------------------------------------------------------------
    street = world.add_set("street")
    st = street.attach_new_node("static")
    ground, walls, furn, light = pg.Mesh("ground"), pg.Mesh("walls"), pg.Mesh("furn"), pg.Mesh("light")
    ground.quad((STREET_X - 15, -10, 0), (STREET_X + 15, -10, 0), (STREET_X + 15, 20, 0), (STREET_X - 15, 20, 0),
                (0.5, 0.5, 0.55), uv=((0, 0), (6, 0), (6, 6), (0, 6)))
    walls.box((STREET_X - 4.0, 5, 4), (2, 20, 8), (0.7, 0.6, 0.55), uv_per_m=0.4, faces="e")
    walls.box((STREET_X + 4.0, 5, 4), (2, 20, 8), (0.6, 0.55, 0.55), uv_per_m=0.4, faces="w")
    walls.box((STREET_X, 8, 4), (10, 1, 8), (0.75, 0.68, 0.62), uv_per_m=0.4, faces="s")
    pg.person(furn, STREET_X, 2.0, heading=180, shirt=(0.5, 0.32, 0.2), pants=(0.2, 0.22, 0.35))
    furn.cylinder((STREET_X + 2.5, 3.0, 0), 0.07, 4.0, (0.2, 0.2, 0.22), segments=6)
    light.sphere((STREET_X + 2.5, 3.0, 4.0), 0.2, (1.0, 0.85, 0.5), rings=4, segments=8)
    props.window(furn, light, STREET_X + 1.6, 7.49, 1.4, 2.0, 1.4, facing=-1, sky=(0.95, 0.75, 0.35))   # a shop
    props.window(furn, light, STREET_X - 1.8, 7.49, 3.5, 1.0, 0.8, facing=-1, sky=(0.9, 0.7, 0.3))
    ground.attach(st, world.texture("concrete-street", lambda: pg.concrete(128, 36)))
    walls.attach(st, bricks)
    furn.attach(st)
    light.attach(st, lit=False)
    packet = pg.Mesh("packet").box((0, 0, 0), (0.07, 0.05, 0.015), (0.97, 0.97, 0.97)).attach(street, lit=False)
    world.nodes["packet"] = packet

    # home --------------------------------------------------------------------------------------------------
    home = world.add_set("home")
    st = home.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (HOME_X, 1.5, 0), 6.0, 6.0, 2.8, wall_color=(0.95, 0.9, 0.8), floor_color=(0.6, 0.45, 0.3))
    props.table(furn, HOME_X, 2.4, w=1.6, d=1.0, color=(0.6, 0.3, 0.15))
    for x, shirt, h in ((HOME_X - 0.6, (0.75, 0.3, 0.35), 1.6), (HOME_X + 0.6, (0.3, 0.45, 0.7), 1.75),
                        (HOME_X, (0.95, 0.75, 0.2), 1.1)):
        pg.person(furn, x, 3.2, heading=180, shirt=shirt, seated=h > 1.5, height=h)
    for k in range(5):
        furn.cylinder((HOME_X - 0.5 + 0.25 * k, 2.3 + 0.15 * (k % 2), 0.75), 0.09, 0.04,
                      ((0.9, 0.4, 0.2), (0.3, 0.7, 0.3), (0.95, 0.9, 0.8), (0.8, 0.2, 0.2), (0.9, 0.8, 0.3))[k],
                      segments=10)
    props.window(furn, light, HOME_X + 1.5, 4.48, 1.6, 1.2, 1.0, facing=-1, sky=(0.95, 0.8, 0.55))
    furn.box((HOME_X - 1.6, 4.45, 1.7), (0.9, 0.04, 0.6), (0.85, 0.15, 0.15))
    walls.attach(st, plaster)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False)
    world.text(home, "家", (HOME_X - 1.6, 4.4, 1.58), scale=0.4, color=(1, 0.85, 0.2, 1))
    world.show(SETS[scene.stage.key])


def _sync(scene: DrugRehabScene, world) -> None:
    k = scene.stage.key
    world.show(SETS[k])
    tint = {"withdrawal": (0.8, 0.8, 0.95, 1), "relapse": (0.85, 0.7, 0.7, 1), "temptation": (1.0, 0.9, 0.8, 1)}
    world.root.set_color_scale(tint.get(k, (1, 1, 1, 1)))
    if k in ("routine", "recovery"):
        for name, marker in world.nodes["markers"].items():
            marker.show() if (k == "routine" and name not in scene.done) else marker.hide()
    if k == "temptation":
        packet = world.nodes["packet"]
        if scene.choice == "refuse":
            packet.hide()
        else:
            packet.show()
            packet.set_pos(STREET_X + 0.2, 1.55 if scene.choice is None else 0.45, 1.1)
