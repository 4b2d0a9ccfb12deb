"""Drunk driving: a sober lap, drinking, the same road drunk, the crash and what follows.

The learner drives (steer, throttle, brake) along a road with oncoming traffic, a crosswalk, a
traffic light and parked cars. Three hazards appear on each lap when the car is a fixed *time* away
from them (so speed does not change the test), and the reaction time to each is measured: the
learner's own brake command (``response_s``) and the car's actual braking after the impairment
delay (``effective_s``). Drunk, vision blurs and doubles, the field of attention narrows, steering
and pedals respond late and the steering drifts. The last hazard (a child behind a parked van) can be
stopped for with a sober reaction and not with a drunk one: the drunk lap ends in a crash. Then police
(breath test from the drinks actually taken), hospital, court, family.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import cast as people
from ..cast import CharacterState, Role
from ..core import EYE_SEATED, EYE_STANDING, Cue, Inputs, KeyEvent, Scene, Stage, angle_between, heading_to
from ..impairment import (
    ALCOHOL_G_PER_LIANG,
    DRUNK_DRIVING_MG,
    ImpairedControls,
    Impairment,
    bac_mg_per_100ml,
)
from ..telemetry import Reaction

LANE_X = 1.75            # centre of our lane (road from x=-3.5 to 3.5, we drive on the right)
ROAD_HALF = 3.5
LAP_END_Y = 1250.0
CRUISE = 12.0            # m/s the autopilot drives (43 km/h)
MAX_BRAKE = 7.5          # m/s^2
EYE_OFFSET_X = -0.37     # the driver sits left of the car's centre line


@dataclass
class Hazard:
    name: str
    y: float                 # where it crosses the road
    ttc_s: float             # it appears when the car is this many seconds away (at its current speed)
    kind: str                # "walker" (crosses the road) or "light" (turns red)
    start_x: float = 5.0
    speed: float = 1.4       # walking speed
    stop_x: float | None = None   # freezes here (in the lane) ...
    stop_s: float = 0.0           # ... for this long
    onset: float | None = None
    response: float | None = None
    effective: float | None = None
    resolved: bool = False
    hit: bool = False
    x: float = 5.0
    light_green_at: float | None = None

    def reset(self) -> None:
        self.onset = self.response = self.effective = self.light_green_at = None
        self.resolved = self.hit = False
        self.x = self.start_x

    @property
    def in_lane(self) -> bool:
        return self.kind == "walker" and self.onset is not None and -0.2 <= self.x <= ROAD_HALF + 0.3


def _hazards() -> list[Hazard]:
    return [
        Hazard("pedestrian", 320.0, 3.2, "walker", start_x=5.2, speed=1.5),
        Hazard("red_light", 700.0, 3.5, "light"),
        Hazard("child", 1100.0, 2.2, "walker", start_x=4.2, speed=2.4, stop_x=LANE_X + 0.4, stop_s=4.0),
    ]


POLICE_OFFICER = (-LANE_X + 1.5, 1096.0, 1.6)    # where the breath test is done (the officer's head)

LAP_CUES = (
    Cue(0, "沿着道路驾驶，保持在右侧车道。注意行人、信号灯和路边的车辆。"),
    Cue(12, "看到危险就立即踩刹车（S 键或下方向键）。系统会测量你的反应时间。"),
    Cue(40, "路口、人行横道和停着的车后面，都可能突然出现危险。"),
)

STAGES = (
    Stage("briefing", "出发前", 30.0, (
        Cue(0, "今晚你开车去朋友聚会。先清醒地开一圈，熟悉这条路。"),
        Cue(9, "方向：A/D 或左右方向键；油门：W；刹车：S。用鼠标环顾四周。"),
    ), goal="按 E 键发动汽车", min_s=6.0,
        key_events=(KeyEvent("road_ahead", (LANE_X, 40.0, 1.0)),), keyframe_s=4.0),
    Stage("sober_lap", "第一圈：清醒驾驶", 150.0, LAP_CUES, goal="安全驾驶到终点",
          key_events=(KeyEvent("pedestrian", (5.0, 320.0, 1.0)), KeyEvent("red_light", (4.5, 700.0, 4.0)),
                      KeyEvent("child", (4.2, 1100.0, 0.8))), keyframe_s=25.0),
    Stage("drinking", "聚会：劝酒", 40.0, (
        Cue(0, "“难得聚一次，不喝就是不给面子！”", speaker="朋友"),
        Cue(10, "每按一次 E 键，你就喝下一两白酒。你的视线开始模糊。"),
        Cue(24, "“没事，就几步路，开慢点就行。”", speaker="朋友"),
        Cue(31, "很多事故，就从这句话开始。"),
    ), goal="按 E 键喝酒（至少三杯）", min_s=12.0,
        key_events=(KeyEvent("friend", (200.0 + 0.0, 1.4, 1.2)), KeyEvent("glass", (200.0 - 0.25, 0.55, 0.8))),
        keyframe_s=10.0),
    Stage("drunk_lap", "第二圈：酒后驾驶", 150.0, (
        Cue(0, "同一条路，同一辆车。只是你喝了酒。"),
        Cue(10, "方向盘反应变慢，车子自己往一边偏；视线模糊、重影，余光里的东西你看不见了。"),
        Cue(40, "你觉得自己还能开。酒精让人高估自己的能力。"),
    ), goal="安全驾驶到终点",
        key_events=(KeyEvent("pedestrian", (5.0, 320.0, 1.0)), KeyEvent("red_light", (4.5, 700.0, 4.0)),
                    KeyEvent("child", (4.2, 1100.0, 0.8))), keyframe_s=20.0),
    Stage("crash", "事故", 20.0, (
        Cue(0, "刹车来得太晚了。"),
        Cue(5, "清醒时你能停下来的距离，喝酒后你停不下来。"),
    ), key_events=(KeyEvent("victim", (LANE_X + 0.5, 1106.0, 0.2)),), keyframe_s=3.0),
    Stage("police", "交警到场", 40.0, (
        Cue(0, "交警赶到现场，对你进行呼气酒精检测。"),
        Cue(4, "“请配合检查，对着吹嘴用力吹气。”", speaker="交警"),
        Cue(12, "血液酒精含量达到每百毫升80毫克以上即属醉酒驾驶，构成危险驾驶罪。"),
    ), goal="按 E 键配合呼气检测", min_s=10.0,
        key_events=(KeyEvent("police_officer", POLICE_OFFICER),), keyframe_s=8.0),
    Stage("hospital", "医院", 40.0, (
        Cue(0, "被你撞到的孩子被送进了抢救室。"),
        Cue(14, "“孩子可能再也不能正常走路了。”", speaker="医生"),
        Cue(28, "醉驾肇事，不仅毁了自己，更毁了别人的一生。"),
    ), key_events=(KeyEvent("patient", (300.0, 3.0, 0.9)), KeyEvent("monitor", (301.3, 3.6, 1.5))),
        keyframe_s=6.0),
    Stage("court", "法庭宣判", 40.0, (
        Cue(0, "“本院审理查明：被告人醉酒驾驶机动车，发生重大交通事故，致一人重伤。”", speaker="审判长"),
        Cue(14, "“以交通肇事罪判处有期徒刑，并赔偿被害人全部损失。”", speaker="审判长"),
        Cue(26, "醉酒驾驶发生重大交通事故构成犯罪的，吊销驾驶证，终生不得重新取得。"),
    ), goal="按 E 键起立听判", min_s=12.0,
        key_events=(KeyEvent("judge", (400.0, 6.0, 2.3)),), keyframe_s=8.0),
    Stage("family", "家人", 40.0, (
        Cue(0, "家里的饭桌旁，少了一个人。"),
        Cue(12, "“妈妈，爸爸什么时候回家？”", speaker="孩子"),
        Cue(24, "开车不喝酒，喝酒不开车。这一次的选择，由你自己来做。"),
    ), key_events=(KeyEvent("family", (500.0, 2.2, 1.1)),), keyframe_s=10.0),
)


BAR_X = 200.0
COURT_X, HOME_X, HOSPITAL_X = 400.0, 500.0, 300.0
JUDGES = ((COURT_X, 7.15), (COURT_X - 1.8, 7.15), (COURT_X + 1.8, 7.15))
JUDGE_SEAT_Z = 1.05              # the bench's raised floor (0.6) and a chair
HOME_SEATS = ((HOME_X - 0.8, 2.85), (HOME_X + 0.8, 2.85))    # the mother's and the child's chairs
POLICE_CAR = (-LANE_X, 1092.0)

CAST = (
    Role("friend", "朋友", "rebecca", "friend", 1.76, male=True),
    Role("drinker1", "朋友", "rebecca", "drinker", 1.74, male=True),
    Role("drinker2", "朋友", "rebecca", "young_mother", 1.62),
    Role("pedestrian", "行人", "rebecca", "passer_by", 1.64),
    Role("passer", "行人", "rebecca", "passer_by_2", 1.73, male=True),
    Role("child", "孩子", "rebecca", "school_child", 1.2),
    Role("police", "交警", "rebecca", "traffic_police", 1.78, male=True),
    Role("police2", "交警", "rebecca", "traffic_police", 1.75, male=True),
    Role("doctor", "医生", "rebecca", "doctor", 1.64),
    Role("judge", "审判长", "rebecca", "judge", 1.75, male=True),
    Role("judge2", "审判员", "rebecca", "judge", 1.7),
    Role("judge3", "审判员", "rebecca", "judge", 1.73, male=True),
    Role("mother", "母亲", "rebecca", "young_mother", 1.62),
    Role("son", "孩子", "rebecca", "child", 1.2, male=True),
)


class DrunkDrivingScene(Scene):
    key = "drunk"
    title = "醉驾警示"
    order = 2
    stages = STAGES
    cast = CAST
    sky = (0.55, 0.68, 0.85, 1)

    def __init__(self, *args, autopilot_reaction_s: float = 0.9, **kwargs):
        self.autopilot_reaction_s = autopilot_reaction_s
        self.car_x, self.car_y, self.car_h, self.speed = LANE_X, 0.0, 0.0, 0.0
        self.engine_on = False
        self.drinks = 0
        self.bac = 0.0
        self.impairment = Impairment()
        self.controls = ImpairedControls(self.impairment)
        self.hazards = _hazards()
        self.lap = "sober"
        self.crashed = False
        self.crash_t: float | None = None
        self.breath_tested = False
        self.stood = False
        self.roll = 0.0
        self.oncoming = [40.0 + 170.0 * i for i in range(8)]
        self._brake_cmd = 0.0
        self._last_action = False
        super().__init__(*args, **kwargs)

    # --- stages ------------------------------------------------------------------------------------
    def on_enter(self, stage: Stage) -> None:
        self.vision = self.vision.__class__()
        self.flash = (0, 0, 0, 0)
        self.roll = 0.0
        if stage.key in ("briefing", "sober_lap", "drunk_lap"):
            if stage.key != "sober_lap" or not self.engine_on:
                self.car_x, self.car_y, self.car_h, self.speed = LANE_X, 0.0, 0.0, 0.0
            if stage.key == "drunk_lap":
                self.lap = "drunk"
                self.car_x, self.car_y, self.car_h, self.speed = LANE_X, 0.0, 0.0, 0.0
                drinks = self.drinks if self.drinks >= 3 else 4    # timed out: the narration assumes four
                self.bac = bac_mg_per_100ml(drinks * ALCOHOL_G_PER_LIANG, hours_since=0.5)
                self.impairment = Impairment.from_bac(self.bac, phase=0.7)
                self.controls = ImpairedControls(self.impairment)
            else:
                self.controls = ImpairedControls(Impairment())
            for hz in self.hazards:
                hz.reset()
            self._place_driver()
        elif stage.key == "drinking":
            self.place(200.0, -0.6, 0.0, EYE_SEATED)
        elif stage.key == "crash":
            self.crash_t = self.clock.now()
            self.speed = 0.0
        elif stage.key == "police":
            spot = (self.car_x - 1.6, self.car_y - 1.0)
            self.place(*spot, heading_to(spot, POLICE_OFFICER[:2]), EYE_STANDING)
        elif stage.key == "hospital":
            self.place(298.6, 1.2, heading_to((298.6, 1.2), (300.0, 3.0)), EYE_STANDING)
        elif stage.key == "court":
            self.place(400.0, 0.6, 0.0, EYE_SEATED)
        elif stage.key == "family":
            self.place(500.0, -1.5, 0.0, EYE_STANDING)

    def _place_driver(self) -> None:
        h = math.radians(self.car_h)
        self.body.x = self.car_x + EYE_OFFSET_X * math.cos(h)
        self.body.y = self.car_y + EYE_OFFSET_X * math.sin(h)
        self.body.heading = self.car_h
        self.body.eye = 1.15

    def stage_complete(self, stage: Stage) -> bool:
        k = stage.key
        if k == "briefing":
            return self.engine_on
        if k in ("sober_lap", "drunk_lap"):
            return self.car_y >= LAP_END_Y or (k == "drunk_lap" and self.crashed)
        if k == "drinking":
            return self.drinks >= 3
        if k == "police":
            return self.breath_tested
        if k == "court":
            return self.stood
        return False

    def on_step(self, stage: Stage, dt: float, inputs: Inputs) -> None:
        pressed = inputs.action
        k = stage.key
        self.moving = 0.0
        if k == "briefing":
            if pressed:
                self.engine_on = True
            self._place_driver()
        elif k in ("sober_lap", "drunk_lap"):
            self._drive(dt, inputs)
        elif k == "drinking":
            if pressed and self.drinks < 8:
                self.drinks += 1
                self.telemetry.count("drinks")
            bac = bac_mg_per_100ml(self.drinks * ALCOHOL_G_PER_LIANG)
            self.vision = Impairment.from_bac(bac * min(1.0, self.t_stage / 20.0)).vision(self.clock.now())
        elif k == "crash":
            t = self.t_stage
            white = max(0.0, 1.0 - t / 1.2)
            self.flash = (1.0, 0.9 * white, 0.9 * white, min(0.85, 0.25 + white))
            if t > 1.2:
                self.flash = (0.5, 0.0, 0.0, 0.3 * max(0.0, 1 - (t - 1.2) / 10))
            self.roll = 0.0 if self.comfort else 9.0 * max(0.0, 1 - t / 4)
        elif k == "police":
            if pressed and self.t_stage >= 2.0:
                self.breath_tested = True
            blink = math.sin(self.t_stage * 2 * math.pi * 0.8) > 0      # slow police lights, no strobe
            self.flash = (0.9, 0.1, 0.1, 0.08) if blink else (0.1, 0.2, 0.9, 0.08)
        elif k == "court" and pressed:
            self.stood = True
            self.body.eye = EYE_STANDING
        for i, y in enumerate(self.oncoming):          # oncoming traffic loops along the road
            y -= 10.0 * dt
            self.oncoming[i] = y + 1360.0 if y < -60.0 else y

    # --- driving -----------------------------------------------------------------------------------
    def _drive(self, dt: float, inputs: Inputs) -> None:
        now = self.clock.now()
        steer, throttle, brake = self.controls.apply(now, inputs.steer, inputs.throttle, inputs.brake)
        self._brake_cmd = inputs.brake
        if self.crashed:
            steer, throttle, brake = 0.0, 0.0, 1.0
        accel = 3.0 * throttle - MAX_BRAKE * brake - 0.03 * self.speed
        self.speed = max(0.0, min(22.0, self.speed + accel * dt))
        self.car_h += -steer * 22.0 * min(1.0, self.speed / 6.0) * dt
        self.car_h = max(-60.0, min(60.0, self.car_h))
        h = math.radians(self.car_h)
        self.car_x += -math.sin(h) * self.speed * dt
        self.car_y += math.cos(h) * self.speed * dt
        if abs(self.car_x) > ROAD_HALF + 0.5:                    # kerb: scrub speed, push back
            self.telemetry.count("off_road_s", dt)
            self.speed *= 0.97
            self.car_x = math.copysign(ROAD_HALF + 0.5, self.car_x)
        if self.car_x < 0.0:
            self.telemetry.count("wrong_lane_s", dt)
        self.telemetry.counters[f"max_speed_{self.lap}"] = max(self.telemetry.counters.get(
            f"max_speed_{self.lap}", 0.0), self.speed)
        self.moving = min(1.0, self.speed / 15.0)
        self._place_driver()
        if self.lap == "drunk":
            self.vision = self.impairment.vision(now)
        for hz in self.hazards:
            self._hazard_step(hz, dt, now, inputs.brake, brake)

    def _hazard_step(self, hz: Hazard, dt: float, now: float, raw_brake: float, eff_brake: float) -> None:
        if hz.resolved:
            return
        distance = hz.y - self.car_y
        if hz.onset is None:
            if distance <= 0:
                hz.resolved = True
                return
            if self.speed > 0.5 and distance <= hz.ttc_s * self.speed:
                hz.onset = now
                if hz.kind == "light":
                    hz.light_green_at = None
            return
        t = now - hz.onset
        if hz.response is None and raw_brake >= 0.3:
            hz.response = t
        if hz.effective is None and eff_brake >= 0.3:
            hz.effective = t
        if hz.kind == "walker":
            hz.x = max(-5.5, hz.start_x - hz.speed * t)
            if hz.stop_x is not None:       # a child runs out and freezes in front of the car
                reach = (hz.start_x - hz.stop_x) / hz.speed
                if t >= reach:
                    hz.x = hz.stop_x if t < reach + hz.stop_s else max(-5.5, hz.stop_x - hz.speed * (t - reach - hz.stop_s))
            front = self.car_y + 2.2
            if hz.in_lane and abs(front - hz.y) < 0.8 and self.speed > 0.5 and abs(self.car_x - hz.x) < 1.6:
                hz.hit = True
                self._resolve(hz)
                self.telemetry.count(f"collisions_{self.lap}")
                if self.lap == "drunk":
                    self.crashed = True
                else:
                    self.speed = 0.0
            elif front > hz.y + 2.0 or hz.x <= -5.5:
                self._resolve(hz)
        else:   # traffic light: stop before the line, it turns green 4 s after the car stands
            if self.speed < 0.3 and distance > 0:
                hz.light_green_at = hz.light_green_at or now + 4.0
            if distance < -1.0:
                if hz.light_green_at is None or now < hz.light_green_at:
                    self.telemetry.count(f"red_light_violations_{self.lap}")
                self._resolve(hz)

    def _resolve(self, hz: Hazard) -> None:
        hz.resolved = True
        self.telemetry.reaction(Reaction(self.lap, hz.name, hz.onset or 0.0, hz.response, hz.effective))

    def light_state(self) -> str:
        hz = self.hazards[1]
        if hz.onset is None:
            return "green"
        if hz.light_green_at is not None and self.clock.now() >= hz.light_green_at:
            return "green"
        if hz.resolved:
            return "green"
        return "yellow" if self.clock.now() - hz.onset < 1.0 else "red"

    def event_active(self, event: KeyEvent) -> bool:
        """A hazard is something to look at only from when it appears until it is past."""
        for hz in self.hazards:
            if hz.name == event.name:
                return hz.onset is not None and not hz.resolved
        return True

    def victim_pos(self) -> tuple[float, float, float]:
        """Where the child lies after the crash: thrown a few metres ahead of the car."""
        child = self.hazards[2]
        return (child.x + 0.4, max(child.y, self.car_y) + 6.0, 0.2)

    def officer_pos(self) -> tuple[float, float, float]:
        """Where the officer who does the breath test stands: 2 m from the learner, towards the police
        car's side of the road."""
        ex, ey, ez = POLICE_OFFICER
        dx, dy = ex - self.body.x, ey - self.body.y
        d = math.hypot(dx, dy) or 1.0
        return (self.body.x + 2.0 * dx / d, self.body.y + 2.0 * dy / d, ez)

    def event_pos(self, event: KeyEvent) -> tuple[float, float, float]:
        if event.name == "victim":
            return self.victim_pos()
        if event.name == "police_officer":
            return self.officer_pos()
        for hz in self.hazards:
            if hz.name == event.name and hz.kind == "walker":
                return (hz.x, hz.y, event.pos[2])
        return event.pos

    def subtitle(self) -> str:
        if self.stage.key == "crash" and not self.crashed:
            return "这一次你侥幸停住了。可是喝了酒，大多数人都停不下来。"
        return super().subtitle()

    def goal(self) -> str:
        if self.stage.key == "drinking":
            return f"{self.stage.goal}　已喝：{self.drinks} 两"
        if self.stage.key in ("sober_lap", "drunk_lap"):
            return f"车速 {self.speed * 3.6:.0f} 公里/小时　剩余 {max(0.0, LAP_END_Y - self.car_y):.0f} 米"
        if self.stage.key == "police" and self.breath_tested:
            verdict = "醉酒驾驶" if self.bac >= DRUNK_DRIVING_MG else "饮酒驾驶"
            return f"呼气检测：{self.bac:.0f} 毫克/100毫升（{verdict}）"
        return self.stage.goal

    # --- the people -----------------------------------------------------------------------------------
    def characters(self) -> dict[str, CharacterState]:
        """Where each member of the cast is now and what they do (see ``vr_scenes.cast``)."""
        k, t, now = self.stage.key, self.t_stage, self.clock.now()
        me = (self.body.x, self.body.y)
        s: dict[str, CharacterState] = {}
        if k in ("briefing", "sober_lap", "drunk_lap", "crash", "police"):
            ped, child = self.hazards[0], self.hazards[2]
            s["pedestrian"] = self._walker(ped, now, "walk")
            if child.hit and k in ("crash", "police"):
                vx, vy, _ = self.victim_pos()
                s["child"] = CharacterState(vx, vy, 0.0, 60.0, "lie")
            else:
                s["child"] = self._walker(child, now, "run")
            # someone walking down the left pavement, near the start of the road
            y = 70.0 - (now * 1.2) % 90.0
            s["passer"] = people.stand(-5.0, y, 180.0, "walk", now)
            if k == "police":
                officer = self.officer_pos()[:2]
                s["police"] = people.facing(people.stand(*officer, anim="reach" if 2.0 <= t and not self.breath_tested
                                                         else "idle", anim_t=max(0.0, t - 2.0)), me)
                if child.hit:       # the other officer sees to the child
                    vx, vy, _ = self.victim_pos()
                    s["police2"] = people.facing(people.stand(vx - 0.9, vy - 0.7), (vx, vy))
                else:
                    s["police2"] = people.stand(POLICE_CAR[0] - 1.3, POLICE_CAR[1] + 1.0, 0.0)
        elif k == "drinking":
            s["friend"] = people.facing(people.stand(BAR_X, 1.75, anim="reach" if t >= 3.0 else "idle",
                                                     anim_t=max(0.0, t - 3.0)), me)
            s["drinker1"] = people.sit(BAR_X - 0.9, 1.85, 0.47, 180.0 + 20.0)
            s["drinker2"] = people.sit(BAR_X + 1.35, 0.6, 0.47, 90.0)
        elif k == "hospital":
            s["child"] = CharacterState(HOSPITAL_X - 0.35, 3.0, 0.59, -90.0, "lie")
            s["doctor"] = people.facing(people.stand(HOSPITAL_X + 1.1, 1.9), (HOSPITAL_X, 3.0))
        elif k == "court":
            for key, (x, y) in zip(("judge", "judge2", "judge3"), JUDGES, strict=True):
                s[key] = people.sit(x, y, JUDGE_SEAT_Z, 180.0)
        elif k == "family":
            s["mother"] = people.sit(*HOME_SEATS[0], 0.47, 180.0)
            s["son"] = people.sit(*HOME_SEATS[1], 0.47, 180.0)
        return people.finish(self.cast, s, self.speaker(), me)

    @staticmethod
    def _walker(hz: Hazard, now: float, gait: str) -> CharacterState:
        """A hazard's walker: waiting at the kerb, crossing (walking or running), frozen in the lane."""
        if hz.onset is None:
            return people.stand(hz.start_x, hz.y, 90.0)
        moving = hz.x > -5.5
        if hz.stop_x is not None and abs(hz.x - hz.stop_x) < 1e-6:
            moving = False
        return people.stand(hz.x, hz.y, 90.0, gait if moving else "idle", now - hz.onset)

    # --- the scripted learner -------------------------------------------------------------------------
    def autopilot(self) -> Inputs:
        k, t = self.stage.key, self.t_stage
        if k == "briefing":
            return Inputs(action=t > 6.5 and not self.engine_on)
        if k in ("sober_lap", "drunk_lap"):
            return self._autodrive()
        yaw, pitch = self.look_at_event()
        if k == "drinking":
            want = t > 3.0 and int(t / 3.0) > self.drinks and self.drinks < 4
            return Inputs(action=want, yaw=yaw, pitch=pitch)
        if k == "police":
            return Inputs(action=t > 10.5, yaw=yaw, pitch=pitch)
        if k == "court":
            return Inputs(action=t > 12.5, yaw=yaw, pitch=pitch)
        return Inputs(yaw=yaw, pitch=pitch)

    def _autodrive(self) -> Inputs:
        now = self.clock.now()
        reaction = self.autopilot_reaction_s * (1.0 + 0.5 * self.impairment.severity)
        err = self.car_x - LANE_X
        steer = max(-1.0, min(1.0, -0.12 * err + 0.05 * self.car_h))
        throttle = max(0.0, min(1.0, 0.5 * (CRUISE - self.speed)))
        brake = 0.0
        for hz in self.hazards:
            if hz.onset is None or hz.resolved:
                continue
            # a hazard outside the (narrowed) attention cone is noticed later
            off_axis = angle_between(self.body.gaze(), self.body.pos, (hz.start_x, hz.y, 1.0))
            noticed = now - hz.onset >= reaction + self.impairment.notice_delay_s(off_axis)
            if noticed and (hz.kind == "walker" or self.light_state() != "green"):
                throttle, brake = 0.0, 1.0
        if self.crashed:
            throttle, brake = 0.0, 1.0
        return Inputs(steer=steer, throttle=throttle, brake=brake)

    # --- view (Panda3D): vr_scenes/geometry/drunk.py ---------------------------------------------
    def build(self, world) -> None:
        from ..geometry import drunk as geometry

        geometry.build(self, world)

    def sync(self, world) -> None:
        from ..geometry import drunk as geometry

        geometry.sync(self, world)
