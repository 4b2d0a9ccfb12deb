"""Prison: arrival and search, the cell, a day's regime by the clock, the visiting room through glass,
the door closing.

The learner walks (to the footprints of the search, to the bunk), sits, answers the roll call, works
the quota in the workshop and picks up the visiting-room phone; the day runs by a wall clock and the
lights go out at 21:00. Attention is measured on the guard, the cell window and bars, the clock, the
family behind the glass and the closing door.
"""
from __future__ import annotations

import math

from .. import cast as people
from ..cast import CharacterState, Role
from ..core import EYE_SEATED, EYE_STANDING, Cue, Inputs, KeyEvent, Scene, Stage

CELL_X = 100.0
WORK_X = 200.0
VISIT_X = 300.0
FOOTPRINTS = (0.0, 4.5)
BUNK = (CELL_X + 0.9, 2.6)
MACHINE = (WORK_X, 2.0)
QUOTA = 8
# where the inmates sit at the sewing machines (the learner's own machine is MACHINE, row 0 column 0)
WORKERS = tuple((WORK_X + col * 2.2, 2.0 + row * 2.2) for row in range(3) for col in range(-2, 3) if (col, row) != (0, 0))
CELLMATES = ((CELL_X - 0.85, 0.55), (CELL_X + 0.85, 0.55))     # at the bars for the roll call
DOOR_GAP_X = CELL_X - 0.9                                      # the cell door's opening (closed door's centre)

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
        Cue(30, "“站到黄色脚印上，面向我，举起双手。”", speaker="民警"),
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
        Cue(55, "“我们等你回家。”", speaker="母亲"),
        Cue(62, "她的头发白了很多。"),
        Cue(64, "“时间到，会见结束。”", speaker="民警"),
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


CAST = (
    Role("guard", "民警", "rebecca", "police", 1.77, male=True),
    Role("registrar", "民警", "rebecca", "police", 1.74, male=True),
    Role("mother", "母亲", "rebecca", "mother", 1.58),
    Role("child", "孩子", "rebecca", "child", 1.15, male=True),
    *(Role(f"inmate{i}", "服刑人员", "rebecca", "prison", 1.7 + 0.02 * (i % 4), male=True) for i in range(len(WORKERS))),
)


class PrisonScene(Scene):
    key = "prison"
    title = "监狱警示"
    order = 1
    stages = STAGES
    cast = CAST
    sky = (0.08, 0.08, 0.09, 1)
    max_walk_speed = 1.2

    def __init__(self, *args, **kwargs):
        self.searched = False
        self.searched_at: float | None = None     # seconds into the arrival stage
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
            if inputs.action and self.near(FOOTPRINTS, 0.5) and not self.searched:
                self.searched = True
                self.searched_at = self.t_stage
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

    # --- the people -----------------------------------------------------------------------------------
    def speaker(self) -> str:
        """Who says the line on screen now ("" for the narrator)."""
        if self.stage.key == "regime" and self.regime_phase()[1] == "roll_call" and self.t_stage > 15:
            return "民警" if self.answered_at is None else ""
        return super().speaker()

    def characters(self) -> dict[str, CharacterState]:
        """Where each member of the cast is now and what they do (see ``vr_scenes.cast``)."""
        k, t = self.stage.key, self.t_stage
        me = (self.body.x, self.body.y)
        s: dict[str, CharacterState] = {}
        if k == "arrival":
            # the guard watches the learner come in; after the hands go up he steps in and searches
            if self.searched_at is None:
                s["guard"] = people.facing(people.stand(0.0, 7.0), me)
            else:
                path = ((0.0, 7.0), (FOOTPRINTS[0], FOOTPRINTS[1] + 0.62))
                arrive = self.searched_at + people.path_time(path)
                s["guard"] = (people.along(path, t, self.searched_at, end_heading=180.0) if t < arrive
                              else people.stand(*path[-1], 180.0, "reach", t - arrive))
            s["registrar"] = people.stand(2.5, 7.15, 180.0, "reach" if t >= 55 else "idle", max(0.0, t - 55))
        elif k == "regime":
            _minutes, phase = self.regime_phase()
            if phase in ("wake", "roll_call"):
                for i, xy in enumerate(CELLMATES):
                    s[f"inmate{i}"] = people.stand(*xy, 180.0)
                path = ((CELL_X + 4.5, -1.5), (CELL_X, -1.2))
                s["guard"] = people.along(path, t, 4.0, end_heading=0.0)
            elif phase in ("work", "study"):
                for i, (x, y) in enumerate(WORKERS):
                    s[f"inmate{i}"] = people.sit(x, y, 0.45, 0.0)
                s["guard"] = people.facing(people.stand(WORK_X - 3.3, 0.6), me)
        elif k == "visiting":
            s["mother"] = people.sit(VISIT_X - 0.4, 1.8, 0.45, 180.0)
            if t < 30:
                s["child"] = people.stand(VISIT_X + 0.45, 1.6, 180.0)
            else:           # the child comes to the glass and puts a hand on it
                path = ((VISIT_X + 0.45, 1.6), (VISIT_X + 0.45, 1.12))
                arrive = 30 + people.path_time(path)
                s["child"] = (people.along(path, t, 30.0) if t < arrive
                              else people.stand(*path[-1], 180.0, "reach", t - arrive))
            if t < 64:
                s["guard"] = people.facing(people.stand(VISIT_X + 1.7, -1.0), me)
            else:           # time is up: the guard comes to the learner
                s["guard"] = people.along(((VISIT_X + 1.7, -1.0), (VISIT_X + 0.75, -0.55)), t, 64.0)
        elif k == "door":
            s["guard"] = self._door_guard(t)
        return people.finish(self.cast, s, self.speaker(), me)

    def _door_guard(self, t: float) -> CharacterState:
        """The guard who brought the learner back: out through the door, slides it shut (6-12 s), locks
        it (12-17 s), walks off down the corridor."""
        out = ((CELL_X - 0.45, 1.05), (DOOR_GAP_X, 0.3), (DOOR_GAP_X, -0.55), (CELL_X - 1.75, -0.55))
        if t < 6.0:
            return people.along(out, t, 0.0, end_heading=0.0)
        if t < 12.0:     # pulling the door along with him
            return people.stand(CELL_X - 1.75 + 1.1 * self.door_closed, -0.55, 0.0, "reach", t - 6.0)
        if t < 17.0:
            return people.stand(CELL_X - 0.65, -0.55, 0.0, "reach", t - 12.0)
        away = ((CELL_X - 0.65, -0.55), (CELL_X - 0.65, -1.4), (CELL_X - 5.0, -1.4))
        return people.along(away, t, 17.0)

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

    # --- view (Panda3D): vr_scenes/geometry/prison.py --------------------------------------------
    def build(self, world) -> None:
        from ..geometry import prison as geometry

        geometry.build(self, world)

    def sync(self, world) -> None:
        from ..geometry import prison as geometry

        geometry.sync(self, world)
