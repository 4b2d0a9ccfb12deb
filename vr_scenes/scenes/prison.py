"""Prison: arrival and search, the cell, a day's regime by the clock, the visiting room through glass,
the door closing.

The learner walks (to the footprints of the search, to the bunk), sits, answers the roll call, works
the quota in the workshop and picks up the visiting-room phone; the day runs by a wall clock and the
lights go out at 21:00. Attention is measured on the guard, the cell window and bars, the clock, the
family behind the glass and the closing door.
"""
from __future__ import annotations

import math

from ..core import EYE_SEATED, EYE_STANDING, Cue, Inputs, KeyEvent, Scene, Stage

CELL_X = 100.0
WORK_X = 200.0
VISIT_X = 300.0
FOOTPRINTS = (0.0, 4.5)
BUNK = (CELL_X + 0.9, 2.6)
MACHINE = (WORK_X, 2.0)
QUOTA = 8

# the regime: (seconds into the stage, clock time in minutes after midnight, what happens)
REGIME = (
    (0.0, 6 * 60, "wake"),
    (12.0, 6 * 60 + 30, "roll_call"),
    (35.0, 8 * 60, "work"),
    (95.0, 17 * 60 + 30, "study"),
    (110.0, 21 * 60, "lights_out"),
)

STAGES = (
    Stage("arrival", "入监", 90.0, (
        Cue(0, "你被押送到监狱。从这一刻起，你失去了自由。"),
        Cue(10, "入监第一件事：登记、换上囚服、接受人身检查。"),
        Cue(30, "站到黄色脚印上，面向民警，举起双手。"),
        Cue(55, "你的手机、钱包、腰带，全部登记封存。你的名字，变成了一个编号。"),
    ), goal="走到黄色脚印处（W 键），按 E 键举起双手接受检查", min_s=45.0,
        key_events=(KeyEvent("guard", (0.0, 7.0, 1.6)), KeyEvent("footprints", (0.0, 4.5, 0.0), cone_deg=30)),
        keyframe_s=20.0),
    Stage("cell", "监舍", 90.0, (
        Cue(0, "这是你的监舍：铁栏、床铺、一扇小小的高窗。"),
        Cue(15, "走到床边，按 E 键坐下。"),
        Cue(35, "窗外只有一小块天空。你想起家里的窗户。"),
        Cue(60, "铁门外是走廊，走廊外是高墙和电网。"),
    ), goal="走到床边，按 E 键坐下", min_s=45.0,
        key_events=(KeyEvent("window", (CELL_X, 3.95, 2.3)), KeyEvent("bars", (CELL_X, 0.0, 1.5), cone_deg=35),
                    KeyEvent("bunk", (BUNK[0], BUNK[1], 0.6))),
        keyframe_s=25.0),
    Stage("regime", "一日作息", 150.0, (
        Cue(0, "早上六点，起床铃响。一天的作息，每一分钟都被安排好。"),
        Cue(12, "六点半点名。听到你的编号，按 E 键答“到”。"),
        Cue(35, "八点，劳动改造。在缝纫机前按 E 键完成今天的定额。"),
        Cue(95, "下午五点半，政治学习和法律课。"),
        Cue(110, "晚上九点，熄灯。明天，还是一样的一天。"),
    ), goal="", min_s=120.0,
        key_events=(KeyEvent("clock", (CELL_X, -2.9, 2.4), end=35.0), KeyEvent("officer", (CELL_X, -1.2, 1.6),
                                                                               start=12.0, end=35.0),
                    KeyEvent("machine", (MACHINE[0], MACHINE[1] + 0.6, 0.9), start=35.0, end=95.0)),
        keyframe_s=50.0),
    Stage("visiting", "会见", 100.0, (
        Cue(0, "每个月只有一次会见。隔着玻璃，你看见了妈妈和孩子。"),
        Cue(8, "拿起电话（E 键）。会见时间只有三十分钟。"),
        Cue(30, "孩子把手贴在玻璃上。你却不能抱一抱他。"),
        Cue(55, "妈妈说：“我们等你回家。”她的头发白了很多。"),
        Cue(80, "时间到。民警示意会见结束。"),
    ), goal="按 E 键拿起电话", min_s=70.0,
        key_events=(KeyEvent("mother", (VISIT_X - 0.4, 1.8, 1.55)), KeyEvent("child", (VISIT_X + 0.45, 1.6, 1.05)),
                    KeyEvent("glass", (VISIT_X, 0.9, 1.3), cone_deg=40)),
        keyframe_s=35.0),
    Stage("door", "关门", 40.0, (
        Cue(0, "你被带回监舍。"),
        Cue(6, "身后的铁门缓缓关上。"),
        Cue(16, "咔嚓一声，门锁上了。这声音，你要听很多年。"),
        Cue(28, "守法，才是真正的自由。"),
    ), key_events=(KeyEvent("door", (CELL_X - 0.9, 0.0, 1.3), start=5.0),), keyframe_s=9.0),
)


class PrisonScene(Scene):
    key = "prison"
    title = "监狱警示"
    order = 1
    stages = STAGES
    sky = (0.08, 0.08, 0.09, 1)
    max_walk_speed = 1.2

    def __init__(self, *args, **kwargs):
        self.searched = False
        self.seated = False
        self.answered_at: float | None = None
        self.items = 0
        self.phone = False
        self.door_closed = 0.0      # 0 open .. 1 closed
        self.lights = 1.0
        super().__init__(*args, **kwargs)

    # --- logic -------------------------------------------------------------------------------------
    def on_enter(self, stage: Stage) -> None:
        k = stage.key
        self.lights = 1.0
        if k == "arrival":
            self.place(0.0, 0.8, 0.0)
        elif k == "cell":
            self.place(CELL_X - 0.4, 0.5, 0.0)
        elif k == "regime":
            self.place(CELL_X, 1.0, 180.0)          # standing at the bars, facing the corridor
        elif k == "visiting":
            self.place(VISIT_X, 0.0, 0.0, EYE_SEATED)
        elif k == "door":
            self.place(CELL_X, 1.6, 180.0)
            self.door_closed = 0.0

    def regime_phase(self) -> tuple[int, str]:
        """(clock minutes, phase) of the day at the current point of the regime stage."""
        t = self.t_stage
        current = REGIME[0]
        for entry in REGIME:
            if entry[0] <= t:
                current = entry
        start, minutes, phase = current
        nxt = next((e for e in REGIME if e[0] > t), None)
        if nxt:      # the clock runs on between the events
            minutes += (t - start) / (nxt[0] - start) * (nxt[1] - minutes)
        return int(minutes), phase

    def on_step(self, stage: Stage, dt: float, inputs: Inputs) -> None:
        k = stage.key
        self.moving = 0.0
        if k == "arrival":
            self.walk(dt, inputs, (-3.5, 0.5, 3.5, 8.0))
            if inputs.action and self.near(FOOTPRINTS, 0.5):
                self.searched = True
        elif k == "cell":
            if not self.seated:
                self.walk(dt, inputs, (CELL_X - 1.2, 0.4, CELL_X + 1.2, 3.6))
                if inputs.action and self.near(BUNK, 0.9):
                    self.seated = True
                    self.body.eye = EYE_SEATED
            elif inputs.move > 0.5:          # stand up again
                self.seated = False
                self.body.eye = EYE_STANDING
        elif k == "regime":
            _minutes, phase = self.regime_phase()
            if phase in ("wake", "roll_call", "lights_out") and self.body.x > WORK_X - 50:
                self.place(CELL_X, 1.0, 180.0)
            if phase in ("work", "study") and self.body.x < WORK_X - 50:
                self.place(MACHINE[0], MACHINE[1] - 0.55, 0.0, EYE_SEATED)
            if phase == "roll_call" and inputs.action and self.answered_at is None:
                self.answered_at = self.t_stage - REGIME[1][0]
                self.telemetry.counters["roll_call_response_s"] = round(self.answered_at, 2)
            if phase == "work" and inputs.action and self.items < QUOTA:
                self.items += 1
                self.telemetry.count("workshop_items")
            self.lights = 0.25 if phase == "lights_out" else 1.0
            if phase == "study" and self.t_stage > REGIME[3][0] and self.items < QUOTA:
                self.telemetry.counters["quota_missed"] = 1
        elif k == "visiting":
            if inputs.action:
                self.phone = True
        elif k == "door":
            self.door_closed = max(0.0, min(1.0, (self.t_stage - 6.0) / 6.0))
            if self.t_stage > 30:
                self.fade = min(1.0, (self.t_stage - 30) / 6)

    def stage_complete(self, stage: Stage) -> bool:
        k = stage.key
        if k == "arrival":
            return self.searched
        if k == "cell":
            return self.seated
        if k == "regime":
            return self.answered_at is not None and self.items >= QUOTA
        if k == "visiting":
            return self.phone
        return False

    def step(self, dt: float, inputs: Inputs | None = None) -> None:
        super().step(dt, inputs)
        if self.stage.key == "door" and self.t_stage > 30:     # the base step resets the cut fade
            self.fade = min(1.0, (self.t_stage - 30) / 6)

    def goal(self) -> str:
        k = self.stage.key
        if k == "arrival" and not self.near(FOOTPRINTS, 0.5):
            return "走到黄色脚印处（W 键前进，鼠标转头）"
        if k == "arrival":
            return "按 E 键举起双手，接受人身检查"
        if k == "regime":
            minutes, phase = self.regime_phase()
            clock = f"{minutes // 60:02d}:{minutes % 60:02d}"
            what = {"wake": "起床、整理内务", "roll_call": "点名：听到编号按 E 键答“到”",
                    "work": f"劳动改造：按 E 键缝制（{self.items}/{QUOTA} 件）", "study": "学习",
                    "lights_out": "熄灯就寝"}[phase]
            return f"{clock}　{what}"
        if k == "visiting" and self.phone:
            left = max(0.0, 30 * 60 * (1 - self.t_stage / self.stage.duration_s))
            return f"会见剩余时间 {int(left // 60):02d}:{int(left % 60):02d}"
        return self.stage.goal

    def subtitle(self) -> str:
        if self.stage.key == "regime" and self.regime_phase()[1] == "roll_call" and self.t_stage > 15:
            return "民警：“0417！”" if self.answered_at is None else "你：“到！”"
        return super().subtitle()

    # --- the scripted learner ------------------------------------------------------------------------
    def autopilot(self) -> Inputs:
        k, t = self.stage.key, self.t_stage
        if k == "arrival":
            if t < 8:
                return Inputs(yaw=20.0 * math.sin(t))          # looks around first
            if not self.near(FOOTPRINTS, 0.4):
                return self.walk_to(FOOTPRINTS, 0.3)
            yaw, pitch = self.look_at_event("guard")
            return Inputs(action=t > 30, yaw=yaw, pitch=pitch)
        if k == "cell":
            if t < 10:
                yaw, pitch = self.look_at_event("window")
                return Inputs(yaw=yaw, pitch=pitch)
            if not self.seated and not self.near(BUNK, 0.8):
                return self.walk_to(BUNK, 0.7)
            yaw, pitch = self.look_at_event("window")
            return Inputs(action=not self.seated and t > 20, yaw=yaw, pitch=pitch)
        if k == "regime":
            _m, phase = self.regime_phase()
            yaw, pitch = self.look_at_event()
            if phase == "roll_call":
                return Inputs(action=t > REGIME[1][0] + 1.2, yaw=yaw, pitch=pitch)
            if phase == "work":
                return Inputs(action=int(t * 2) % 6 == 0 and int(t * 2) != int((t - 1 / 30) * 2), yaw=yaw, pitch=pitch)
            return Inputs(yaw=yaw, pitch=pitch)
        if k == "visiting":
            yaw, pitch = self.look_at_event("mother" if int(t / 10) % 2 == 0 else "child")
            return Inputs(action=t > 9, yaw=yaw, pitch=pitch)
        if k == "door":
            yaw, pitch = self.look_at_event("door")
            return Inputs(yaw=yaw, pitch=pitch)
        return Inputs()

    # --- view (Panda3D) ------------------------------------------------------------------------------
    def build(self, world) -> None:
        _build(self, world)

    def sync(self, world) -> None:
        _sync(self, world)


def _sets_for(scene: PrisonScene) -> tuple[str, ...]:
    k = scene.stage.key
    if k == "arrival":
        return ("intake",)
    if k == "visiting":
        return ("visit",)
    if k == "regime" and scene.regime_phase()[1] in ("work", "study"):
        return ("workshop",)
    return ("cell",)


def _build(scene: PrisonScene, world) -> None:
    from .. import procgen as pg
    from .. import props

    root = world.root
    pg.lights(root, ambient=(0.42, 0.43, 0.45), sun=(0.7, 0.7, 0.68), sun_hpr=(20, -60, 0))
    concrete = world.texture("concrete-grey", lambda: pg.concrete(128, 21, base=(0.66, 0.67, 0.66)))
    floor_tex = world.texture("floor-tiles", lambda: pg.tiles(128, 22, a=(0.55, 0.56, 0.55), b=(0.5, 0.5, 0.5)))
    bricks = world.texture("bricks-grey", lambda: pg.bricks(128, 23, brick=(0.6, 0.6, 0.58), mortar=(0.7, 0.7, 0.7)))
    uniform = (0.25, 0.32, 0.5)
    police_blue = (0.12, 0.16, 0.3)

    # intake hall ---------------------------------------------------------------------------------------
    intake = world.add_set("intake")
    st = intake.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (0, 4.5, 0), 8, 10, 3.2, wall_color=(0.85, 0.86, 0.84), floor_color=(0.8, 0.8, 0.8))
    for sx in (-0.18, 0.18):                                 # the yellow footprints
        furn.box((FOOTPRINTS[0] + sx, FOOTPRINTS[1], 0.005), (0.16, 0.32, 0.01), (0.95, 0.8, 0.1), faces="t")
    furn.box((0, 4.5, 0.003), (1.2, 1.2, 0.005), (0.3, 0.3, 0.3), faces="t")
    pg.person(furn, 0.0, 7.0, heading=180, shirt=police_blue, pants=(0.1, 0.1, 0.15))
    pg.person(furn, -2.5, 6.0, heading=200, shirt=police_blue, pants=(0.1, 0.1, 0.15))
    props.table(furn, 2.5, 6.5, w=1.6, d=0.7, color=(0.5, 0.5, 0.52))
    for k in range(4):
        furn.box((2.0 + 0.3 * k, 6.5, 0.79), (0.22, 0.16, 0.06), (0.15 + 0.2 * k, 0.15, 0.1))   # belongings
    for k in range(6):                                       # the height chart on the wall
        furn.box((-3.0, 9.48, 1.0 + 0.2 * k), (1.2, 0.02, 0.015), (0.2, 0.2, 0.2))
    light.quad((-1, 2, 3.18), (1, 2, 3.18), (1, 7, 3.18), (-1, 7, 3.18), (1, 1, 0.95))
    light.quad((-1, 7, 3.17), (1, 7, 3.17), (1, 2, 3.17), (-1, 2, 3.17), (1, 1, 0.95))
    walls.attach(st, concrete)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(intake, "入监登记处", (0, 9.45, 2.6), scale=0.35, color=(0.8, 0.1, 0.1, 1), heading=0)

    # the cell (with the corridor outside) ----------------------------------------------------------------
    cell = world.add_set("cell")
    st = cell.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    # the cell: back wall (y=4), side walls, ceiling; open at the bars (y=0)
    walls.box((CELL_X, 2.0, 1.4), (3.0, 4.0, 2.8), (0.78, 0.78, 0.74), uv_per_m=0.6, faces="newt", inside=True)
    # the corridor outside the bars: y from -3 to 0
    walls.box((CELL_X, -1.5, 1.5), (10.0, 3.0, 3.0), (0.7, 0.72, 0.7), uv_per_m=0.6, faces="sewt", inside=True)
    floor.box((CELL_X, 0.5, 0.0), (10.0, 7.0, 0.01), (0.75, 0.75, 0.75), uv_per_m=0.6, faces="t")
    props.bars(furn, CELL_X - 1.5, CELL_X + 1.5, 0.0, h=2.8, gap=(CELL_X - 1.45, CELL_X - 0.35))
    props.bed(furn, BUNK[0] + 0.1, BUNK[1], along_y=True, frame=(0.3, 0.32, 0.35), sheet=(0.55, 0.6, 0.55))
    furn.box((CELL_X - 1.2, 3.6, 0.22), (0.45, 0.5, 0.44), (0.85, 0.85, 0.85))        # toilet
    furn.box((CELL_X - 1.3, 2.5, 0.85), (0.3, 0.45, 0.15), (0.8, 0.8, 0.82))          # sink
    furn.box((CELL_X - 1.0, 1.5, 0.4), (0.4, 0.6, 0.05), (0.5, 0.4, 0.3))             # a narrow shelf-table
    props.window(furn, light, CELL_X, 3.98, 2.3, 0.6, 0.4, facing=-1, sky=(0.55, 0.7, 0.95), bars_n=3)
    props.clock_face(furn, CELL_X, -2.95, 2.4, facing=1)
    light.quad((CELL_X - 0.3, 1.8, 2.78), (CELL_X + 0.3, 1.8, 2.78), (CELL_X + 0.3, 2.2, 2.78), (CELL_X - 0.3, 2.2, 2.78),
               (1, 1, 0.9))
    light.quad((CELL_X - 0.3, 2.2, 2.77), (CELL_X + 0.3, 2.2, 2.77), (CELL_X + 0.3, 1.8, 2.77), (CELL_X - 0.3, 1.8, 2.77),
               (1, 1, 0.9))
    walls.attach(st, bricks)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(cell, "0417", (CELL_X + 1.0, -0.05, 2.45), scale=0.18, color=(0.1, 0.1, 0.1, 1), heading=180,
               card=(0.95, 0.95, 0.9, 1))
    door = pg.Mesh("door")
    props.bars(door, -0.55, 0.55, 0.0, h=2.8)
    world.nodes["door"] = door.attach(cell)
    hands = pg.Mesh("hands")
    hands.box((0, 0, 0.08), (0.02, 0.01, 0.16), (0.05, 0.05, 0.05))
    hour = hands.attach(cell)
    hour.set_pos(CELL_X, -2.912, 2.4)
    minute_m = pg.Mesh("minute").box((0, 0, 0.1), (0.012, 0.01, 0.21), (0.05, 0.05, 0.05))
    minute = minute_m.attach(cell)
    minute.set_pos(CELL_X, -2.905, 2.4)
    world.nodes["hands"] = (hour, minute)
    officer = pg.person(pg.Mesh("officer"), 0, 0, heading=0, shirt=police_blue, pants=(0.1, 0.1, 0.15))
    world.nodes["officer"] = officer.attach(cell)
    world.nodes["officer"].set_pos(CELL_X, -1.2, 0)

    # the workshop ----------------------------------------------------------------------------------------
    shop = world.add_set("workshop")
    st = shop.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (WORK_X, 5, 0), 14, 14, 4.0, wall_color=(0.8, 0.82, 0.8), floor_color=(0.6, 0.62, 0.6))
    for row in range(4):
        for col in range(-2, 3):
            x, y = WORK_X + col * 2.2, 2.0 + row * 2.2
            props.table(furn, x, y + 0.6, w=1.2, d=0.6, color=(0.45, 0.5, 0.45))
            furn.box((x, y + 0.65, 0.85), (0.35, 0.2, 0.2), (0.2, 0.2, 0.22))
            if (col, row) != (0, 0):
                pg.person(furn, x, y, heading=0, shirt=uniform, pants=uniform, seated=True)
    for k in range(3):
        light.quad((WORK_X - 5, 1 + 4 * k, 3.98), (WORK_X + 5, 1 + 4 * k, 3.98), (WORK_X + 5, 1.5 + 4 * k, 3.98),
                   (WORK_X - 5, 1.5 + 4 * k, 3.98), (1, 1, 0.92))
        light.quad((WORK_X - 5, 1.5 + 4 * k, 3.97), (WORK_X + 5, 1.5 + 4 * k, 3.97), (WORK_X + 5, 1 + 4 * k, 3.97),
                   (WORK_X - 5, 1 + 4 * k, 3.97), (1, 1, 0.92))
    walls.attach(st, concrete)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(shop, "劳动改造　重塑新生", (WORK_X, 11.9, 3.0), scale=0.45, color=(0.8, 0.1, 0.1, 1))
    world.nodes["cloth"] = []
    for k in range(QUOTA):
        n = pg.Mesh(f"item{k}").box((0, 0, 0), (0.3, 0.25, 0.01), (0.3, 0.35, 0.6)).attach(shop)
        n.set_pos(MACHINE[0] + 0.4, MACHINE[1] + 0.55, 0.77 + 0.012 * k)
        world.nodes["cloth"].append(n)

    # the visiting room ---------------------------------------------------------------------------------
    visit = world.add_set("visit")
    st = visit.attach_new_node("static")
    walls, floor, furn, glass = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("glass")
    props.room(walls, floor, (VISIT_X, 1.0, 0), 8, 5, 3.0, wall_color=(0.82, 0.84, 0.86), floor_color=(0.7, 0.7, 0.7))
    furn.box((VISIT_X, 0.9, 0.45), (8.0, 0.5, 0.9), (0.55, 0.55, 0.58))               # the counter
    for x in (-3.0, -1.5, 1.5, 3.0):
        furn.box((VISIT_X + x, 0.9, 1.9), (0.08, 0.5, 2.0), (0.4, 0.4, 0.42))         # booth dividers
    glass.quad((VISIT_X - 4, 0.9, 0.9), (VISIT_X + 4, 0.9, 0.9), (VISIT_X + 4, 0.9, 2.9), (VISIT_X - 4, 0.9, 2.9),
               (0.7, 0.82, 0.9, 0.35))
    for z in (0.92, 2.95):                                                             # the glass's frame
        furn.box((VISIT_X, 0.88, z), (8.0, 0.06, 0.05), (0.35, 0.35, 0.38))
    pg.person(furn, VISIT_X - 0.4, 1.8, heading=180, shirt=(0.6, 0.3, 0.35), skin=(0.8, 0.68, 0.58), seated=True,
              height=1.62)
    pg.person(furn, VISIT_X + 0.45, 1.6, heading=180, shirt=(0.9, 0.7, 0.2), pants=(0.3, 0.4, 0.7), height=1.1)
    furn.box((VISIT_X - 0.75, 1.2, 1.0), (0.08, 0.2, 0.06), (0.1, 0.1, 0.1))          # their phone
    props.chair(furn, VISIT_X, -0.1, facing_y=1)
    props.clock_face(furn, VISIT_X + 2.2, 3.45, 2.3, facing=-1)
    walls.attach(st, concrete)
    floor.attach(st, floor_tex)
    furn.attach(st)
    glass.attach(st, alpha=True, two_sided=True)
    world.text(visit, "会见室", (VISIT_X - 2.4, 3.45, 2.4), scale=0.3, color=(0.1, 0.1, 0.3, 1))
    handset = pg.Mesh("handset").box((0, 0, 0), (0.07, 0.22, 0.06), (0.1, 0.1, 0.1)).attach(visit)
    world.nodes["handset"] = handset
    world.show(*_sets_for(scene))


def _sync(scene: PrisonScene, world) -> None:
    world.show(*_sets_for(scene))
    k = scene.stage.key
    scene_root = world.root
    scene_root.set_color_scale((scene.lights, scene.lights, min(1.0, scene.lights * 1.6), 1))
    if "cell" in world.shown:
        closed = scene.door_closed if k == "door" else (1.0 if k == "regime" else 0.0)
        world.nodes["door"].set_pos(CELL_X - 1.45 + 0.55 + (1.0 - closed) * -1.1 + 0.0, 0.06, 0)
        minutes = scene.regime_phase()[0] if k == "regime" else 21 * 60
        hour, minute = world.nodes["hands"]
        hour.set_r((minutes / 60 % 12) * 30)
        minute.set_r((minutes % 60) * 6)
        officer = world.nodes["officer"]
        if k == "regime" and scene.regime_phase()[1] == "roll_call":
            officer.show()
            officer.set_pos(CELL_X, -1.2, 0)
            officer.set_h(0)
        elif k == "door":          # the guard who locked the door walks away down the corridor
            officer.show()
            walk = max(0.0, scene.t_stage - 12.0) * 0.8
            officer.set_pos(CELL_X - 0.9 - walk, -0.8 - min(0.6, walk), 0)
            officer.set_h(0 if walk == 0 else 90)
        else:
            officer.hide()
    if "workshop" in world.shown:
        for i, item in enumerate(world.nodes["cloth"]):
            item.show() if i < scene.items else item.hide()
    if k == "visiting":
        h = world.nodes["handset"]
        if scene.phone:
            h.set_pos(VISIT_X - 0.2, 0.3, 0.92)      # in the learner's hand, low in the view
            h.set_hpr(-20, 60, 0)
        else:
            h.set_pos(VISIT_X - 0.6, 0.75, 0.95)
            h.set_hpr(0, 0, 0)
