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

from .. import cast as people
from ..cast import CharacterState, Role
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
        Cue(45, "“想用毒品的念头还会来。重要的是你怎么面对它。”", speaker="心理咨询师"),
    ), goal="", min_s=60.0,
        key_events=tuple(KeyEvent(name, (xy[0], xy[1], 1.0)) for name, xy in STATIONS.items()),
        keyframe_s=1.5),
    Stage("temptation", "诱惑时刻", 45.0, (
        Cue(0, "出所后的一个傍晚，你在街角遇到了以前一起吸毒的朋友。"),
        Cue(8, "他掏出一小包东西。"),
        Cue(10, "“就一口，没人知道。”", speaker="朋友"),
        Cue(16, "按 1 键拒绝，按 2 键接受。你的选择会有后果。"),
    ), goal="按 1 键拒绝　按 2 键接受", min_s=15.0,
        key_events=(KeyEvent("friend", (STREET_X, 2.0, 1.6)), KeyEvent("packet", (STREET_X + 0.2, 1.5, 1.1))),
        keyframe_s=12.0),
    Stage("relapse", "复吸的代价", 70.0, (
        Cue(0, "复吸。毒瘾比以前来得更猛。"),
        Cue(15, "为了买毒品，你卖掉了家里能卖的一切。"),
        Cue(30, "耐受下降，同样的剂量让你倒在地上：过量，呼吸越来越慢。"),
        Cue(41, "“还有呼吸！快，上氧气！”", speaker="急救医生"),
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
        Cue(17, "“回来就好，快坐下吃饭吧。”", speaker="母亲"),
        Cue(25, "远离毒品，珍爱生命。家，一直在等你。"),
    ), key_events=(KeyEvent("family", (HOME_X, 2.4, 1.2)),), keyframe_s=12.0),
)


COUNSELLOR_SEAT = (STATIONS["counselling"][0], STATIONS["counselling"][1] + 0.9)
FAMILY_SEATS = ((HOME_X - 0.6, 3.25), (HOME_X + 0.6, 3.25))     # the mother's and the father's chairs
CHILD_AT_TABLE = (HOME_X, 3.1)

CAST = (
    Role("staff", "民警", "rebecca", "police", 1.76, male=True),
    Role("counsellor", "心理咨询师", "rebecca", "counsellor", 1.66),
    Role("trainee", "戒毒学员", "rebecca", "prison", 1.72, male=True),
    Role("friend", "朋友", "rebecca", "street_friend", 1.76, male=True),
    Role("medic", "急救医生", "rebecca", "doctor", 1.75, male=True),
    Role("medic2", "急救员", "rebecca", "medic", 1.77, male=True),
    Role("mother", "母亲", "rebecca", "mother", 1.58),
    Role("father", "父亲", "rebecca", "father", 1.72, male=True),
    Role("child", "孩子", "rebecca", "child", 1.15),
)


class DrugRehabScene(Scene):
    key = "rehab"
    title = "戒毒警示"
    order = 3
    stages = STAGES
    cast = CAST
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

    # --- the people -----------------------------------------------------------------------------------
    def characters(self) -> dict[str, CharacterState]:
        """Where each member of the cast is now and what they do (see ``vr_scenes.cast``)."""
        k, t, now = self.stage.key, self.t_stage, self.clock.now()
        me = (self.body.x, self.body.y)
        s: dict[str, CharacterState] = {}
        if k == "intake":
            s["staff"] = people.facing(people.stand(CENTRE_X, DESK[1] + 0.75), me)
        elif k == "routine":
            s["counsellor"] = people.sit(*COUNSELLOR_SEAT, 0.47, 180.0)
            # a trainee jogs laps along the yard's far side
            lap = (now * 1.8) % 24.0
            x = YARD_X - 6.0 + (lap if lap < 12.0 else 24.0 - lap)
            s["trainee"] = people.stand(x, 6.6, -90.0 if lap < 12.0 else 90.0, "run", now)
        elif k == "recovery":   # the counsellor came to see the learner finish
            s["counsellor"] = people.facing(people.stand(YARD_X + 0.9, 3.4), me)
        elif k == "temptation":
            offering = t >= 8.0 and self.choice != "refuse"
            s["friend"] = people.facing(people.stand(STREET_X, 2.0, anim="reach" if offering else "idle",
                                                     anim_t=max(0.0, t - 8.0)), me)
        elif k == "relapse" and t >= 40.0:        # the ambulance crew come in through the door
            s["medic"] = people.along(((ROOM_X + 1.7, 0.3), (ROOM_X + 0.1, 0.4)), t, 40.0, speed=1.3)
            s["medic2"] = people.along(((ROOM_X + 1.8, 0.7), (ROOM_X + 0.6, 0.5)), t, 40.8, speed=1.3)
            for key in ("medic", "medic2"):
                if s[key].anim == "idle":
                    s[key] = people.facing(s[key], me)
        elif k == "family":
            s["mother"] = people.sit(*FAMILY_SEATS[0], 0.47, 180.0)
            s["father"] = people.sit(*FAMILY_SEATS[1], 0.47, 180.0)
            if self.choice == "accept" or t < 10.0:
                s["child"] = people.stand(*CHILD_AT_TABLE, 180.0)
            else:       # the child runs into the learner's arms
                target = (self.body.x, self.body.y + 0.6)
                s["child"] = people.along((CHILD_AT_TABLE, target), t, 10.0, speed=1.0, anim="run",
                                          end_heading=180.0)
        return people.finish(self.cast, s, self.speaker(), me)

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

    # --- view (Panda3D): vr_scenes/geometry/rehab.py ---------------------------------------------
    def build(self, world) -> None:
        from ..geometry import rehab as geometry

        geometry.build(self, world)

    def sync(self, world) -> None:
        from ..geometry import rehab as geometry

        geometry.sync(self, world)
