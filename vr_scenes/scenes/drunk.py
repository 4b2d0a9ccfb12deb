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
        Cue(0, "朋友们举起酒杯：“难得聚一次，不喝就是不给面子！”"),
        Cue(10, "每按一次 E 键，你就喝下一两白酒。你的视线开始模糊。"),
        Cue(24, "“没事，就几步路，开慢点就行。”——很多事故就从这句话开始。"),
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
        Cue(12, "血液酒精含量达到每百毫升80毫克以上即属醉酒驾驶，构成危险驾驶罪。"),
    ), goal="按 E 键配合呼气检测", min_s=10.0,
        key_events=(KeyEvent("police_officer", (-LANE_X + 1.5, 1096.0, 1.6)),), keyframe_s=8.0),
    Stage("hospital", "医院", 40.0, (
        Cue(0, "被你撞到的孩子被送进了抢救室。"),
        Cue(14, "医生说，孩子可能再也不能正常走路了。"),
        Cue(28, "醉驾肇事，不仅毁了自己，更毁了别人的一生。"),
    ), key_events=(KeyEvent("patient", (300.0, 3.0, 0.9)), KeyEvent("monitor", (301.3, 3.6, 1.5))),
        keyframe_s=6.0),
    Stage("court", "法庭宣判", 40.0, (
        Cue(0, "法院审理查明：被告人醉酒驾驶机动车，发生重大交通事故，致一人重伤。"),
        Cue(14, "以交通肇事罪判处有期徒刑，并赔偿被害人全部损失。"),
        Cue(26, "醉酒驾驶发生重大交通事故构成犯罪的，吊销驾驶证，终生不得重新取得。"),
    ), goal="按 E 键起立听判", min_s=12.0,
        key_events=(KeyEvent("judge", (400.0, 6.0, 2.3)),), keyframe_s=8.0),
    Stage("family", "家人", 40.0, (
        Cue(0, "家里的饭桌旁，少了一个人。"),
        Cue(12, "孩子问妈妈：爸爸什么时候回家？"),
        Cue(24, "开车不喝酒，喝酒不开车。这一次的选择，由你自己来做。"),
    ), key_events=(KeyEvent("family", (500.0, 2.2, 1.1)),), keyframe_s=10.0),
)


class DrunkDrivingScene(Scene):
    key = "drunk"
    title = "醉驾警示"
    order = 2
    stages = STAGES
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
            self.place(*spot, heading_to(spot, (-LANE_X + 1.5, 1096.0)), EYE_STANDING)
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

    def event_pos(self, event: KeyEvent) -> tuple[float, float, float]:
        if event.name == "victim":
            return self.victim_pos()
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

    # --- view (Panda3D) ------------------------------------------------------------------------------
    def build(self, world) -> None:
        _build(self, world)

    def sync(self, world) -> None:
        _sync(self, world)


SET_FOR_STAGE = {"briefing": ("road", "car"), "sober_lap": ("road", "car"), "drunk_lap": ("road", "car"),
                 "crash": ("road", "car"), "police": ("road", "car"), "drinking": ("bar",),
                 "hospital": ("hospital",), "court": ("court",), "family": ("home",)}


def _build(scene: DrunkDrivingScene, world) -> None:
    import random

    from .. import procgen as pg
    from .. import props

    rng = random.Random(5)
    root = world.root
    pg.lights(root, ambient=(0.5, 0.5, 0.55), sun=(0.8, 0.76, 0.68))
    concrete = world.texture("concrete", lambda: pg.concrete(128, 11))
    asphalt = world.texture("asphalt", lambda: pg.asphalt(256, 12))
    grass = world.texture("grass", lambda: pg.grass(128, 13))
    bricks = world.texture("bricks", lambda: pg.bricks(128, 14))
    wood = world.texture("wood", lambda: pg.wood(128, 15))
    tiles = world.texture("tiles", lambda: pg.tiles(128, 16))

    # the road -------------------------------------------------------------------------------------
    road = world.add_set("road")
    static = road.attach_new_node("static")
    y0, y1 = -80.0, 1400.0
    ground = pg.Mesh("ground")
    ground.quad((-80, y0, -0.02), (80, y0, -0.02), (80, y1, -0.02), (-80, y1, -0.02), (1, 1, 1),
                uv=((0, 0), (16, 0), (16, 150), (0, 150)))
    ground.attach(static, grass)
    tarmac = pg.Mesh("tarmac")
    tarmac.quad((-ROAD_HALF, y0, 0), (ROAD_HALF, y0, 0), (ROAD_HALF, y1, 0), (-ROAD_HALF, y1, 0), (1, 1, 1),
                uv=((0, 0), (1, 0), (1, (y1 - y0) / 14), (0, (y1 - y0) / 14)))
    tarmac.quad((-80, 693, 0.005), (80, 693, 0.005), (80, 707, 0.005), (-80, 707, 0.005), (0.9, 0.9, 0.9),
                uv=((0.3, 0), (0.3, 0), (0.3, 0.2), (0.3, 0.2)))
    tarmac.attach(static, asphalt)
    walls = pg.Mesh("buildings")
    for side in (-1, 1):
        walls.box((side * 5.0, (y0 + y1) / 2, 0.08), (3.0, y1 - y0, 0.16), (0.75, 0.75, 0.73), uv_per_m=0.5,
                  faces="t")
        y = y0
        while y < y1:
            length = rng.uniform(12, 28)
            if not (686 < y + length / 2 < 714 or 686 < y < 714):
                height = rng.uniform(6, 24)
                tint = rng.choice([(0.85, 0.8, 0.72), (0.7, 0.72, 0.78), (0.8, 0.7, 0.62), (0.9, 0.88, 0.85)])
                walls.box((side * rng.uniform(14, 18), y + length / 2, height / 2), (8, length - 2, height), tint,
                          uv_per_m=0.15, faces="nsewt")
            y += length + rng.uniform(2, 8)
    walls.attach(static, bricks)
    paint = pg.Mesh("paint")
    for cy in (320.0, 1100.0):
        for k in range(8):
            x = -ROAD_HALF + 0.45 + k * 0.9
            paint.box((x, cy, 0.01), (0.5, 3.0, 0.02), (0.95, 0.95, 0.95), faces="t")
    paint.box((LANE_X, 696.0, 0.01), (3.3, 0.4, 0.02), (0.95, 0.95, 0.95), faces="t")
    paint.box((0.0, 1248.0 + 4.0, 0.01), (7.0, 1.0, 0.02), (0.9, 0.2, 0.2), faces="t")
    for y in range(0, 1400, 40):                         # street lamps and trees
        for side in (-1, 1):
            paint.cylinder((side * 4.2, y, 0), 0.07, 6.0, (0.3, 0.3, 0.32), segments=6)
            paint.box((side * 3.6, y, 6.0), (1.3, 0.25, 0.12), (0.35, 0.35, 0.37))
            ty = y + 20
            paint.cylinder((side * 6.8, ty, 0), 0.15, 2.2, (0.4, 0.28, 0.18), segments=6, caps=False)
            paint.sphere((side * 6.8, ty, 3.2), 1.4, (0.22, 0.45, 0.2), rings=4, segments=7)
    # the traffic light's pole and the van the child runs out from behind
    paint.cylinder((4.5, 694.0, 0), 0.12, 4.2, (0.25, 0.25, 0.25), segments=6)
    paint.box((3.6, 694.0, 4.1), (2.0, 0.15, 0.15), (0.25, 0.25, 0.25))
    paint.box((2.7, 694.0, 3.6), (0.4, 0.3, 1.1), (0.12, 0.12, 0.12))
    props.car_body(paint, 4.9, 1093.0, (0.85, 0.85, 0.88), length=5.2, width=2.0)
    paint.box((4.9, 1093.0, 1.5), (2.0, 5.2, 1.6), (0.85, 0.85, 0.88))
    props.car_body(paint, 4.9, 300.0, (0.6, 0.1, 0.1))
    paint.attach(static, None)

    # traffic light lamps (dynamic colour), hazards, oncoming cars
    lamps = pg.Mesh("lamps")
    lamps_nodes = {}
    for i, name in enumerate(("red", "yellow", "green")):
        m = pg.Mesh(name).sphere((2.7, 693.82, 3.95 - i * 0.33), 0.12, (1, 1, 1), rings=4, segments=8)
        lamps_nodes[name] = m.attach(road, None, lit=False)
    del lamps
    world.nodes["lamps"] = lamps_nodes
    ped = pg.person(pg.Mesh("pedestrian"), 0, 0, heading=90, shirt=(0.8, 0.25, 0.2), pants=(0.2, 0.22, 0.4))
    world.nodes["pedestrian"] = ped.attach(road)
    child = pg.person(pg.Mesh("child"), 0, 0, heading=90, shirt=(0.95, 0.8, 0.15), pants=(0.2, 0.35, 0.7),
                      height=1.2)
    world.nodes["child"] = child.attach(road)
    car = pg.Mesh("oncoming")
    props.car_body(car, 0, 0, (0.25, 0.35, 0.65))
    car_node = car.node()
    world.nodes["oncoming"] = []
    for _ in scene.oncoming:
        n = road.attach_new_node(car_node)
        n.set_h(180)
        world.nodes["oncoming"].append(n)
    police = pg.Mesh("police")
    props.car_body(police, 0, 0, (0.95, 0.95, 0.97))
    police.box((0, 0, 0.5), (1.82, 1.2, 0.25), (0.1, 0.2, 0.6))
    pg.person(police, 1.5, 4.0, heading=180, shirt=(0.2, 0.25, 0.35), pants=(0.15, 0.15, 0.2))
    pg.person(police, -1.5, 2.5, heading=-90, shirt=(0.2, 0.25, 0.35), pants=(0.15, 0.15, 0.2))
    police.box((0, -0.3, 1.4), (1.0, 0.3, 0.12), (0.2, 0.2, 0.2))
    world.nodes["police"] = police.attach(road)
    world.nodes["police"].set_pos(-LANE_X, 1092.0, 0)
    beacon = pg.Mesh("beacon")
    beacon.box((-0.25, -0.3, 1.5), (0.45, 0.28, 0.12), (1, 0.1, 0.1))
    beacon.box((0.25, -0.3, 1.5), (0.45, 0.28, 0.12), (0.1, 0.2, 1))
    world.nodes["beacon"] = beacon.attach(world.nodes["police"], lit=False)
    world.nodes["police"].hide()

    # the car the learner drives: body, dashboard, wheel, pillars
    carset = world.add_set("car")
    cabin = pg.Mesh("cabin")
    cabin.box((0, 1.75, 0.6), (1.8, 1.2, 0.6), (0.55, 0.05, 0.05), faces="tnew")       # the hood ahead
    cabin.box((0, 0.2, 0.6), (1.8, 4.3, 0.6), (0.55, 0.05, 0.05), faces="sew")        # body sides (outside)
    cabin.box((0, 0.95, 0.8), (1.7, 0.5, 0.2), (0.16, 0.16, 0.17))                    # dashboard
    cabin.box((0, -0.35, 1.5), (1.7, 2.2, 0.05), (0.5, 0.5, 0.52), faces="b")         # roof lining
    for sx in (-1, 1):
        cabin.box((sx * 0.8, 1.05, 1.2), (0.06, 0.06, 0.6), (0.2, 0.2, 0.22))        # A pillars
        cabin.box((sx * 0.88, -0.3, 0.85), (0.05, 2.0, 0.2), (0.3, 0.3, 0.32))       # door panels
    for k in range(12):                                                               # steering wheel rim
        a = 2 * math.pi * k / 12
        cabin.box((EYE_OFFSET_X + 0.17 * math.cos(a), 0.6, 0.86 + 0.17 * math.sin(a)), (0.045, 0.03, 0.045),
                  (0.08, 0.08, 0.08))
    cabin.cylinder((EYE_OFFSET_X, 0.6, 0.86), 0.035, 0.3, (0.1, 0.1, 0.1), segments=6, axis="y")
    node = cabin.attach(carset)
    world.nodes["car"] = node
    gauge = world.text(node, "0", (EYE_OFFSET_X, 0.69, 1.08), scale=0.045, color=(0.3, 1.0, 0.4, 1), heading=0)
    gauge.set_p(-20)
    world.nodes["gauge"] = gauge

    # the party -----------------------------------------------------------------------------------
    bar = world.add_set("bar")
    bs = bar.attach_new_node("static")
    walls_m, floor_m, furn = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture")
    props.room(walls_m, floor_m, (200, 0, 0), 6, 6, 3.0, wall_color=(0.85, 0.7, 0.55), floor_color=(0.8, 0.7, 0.6))
    props.table(furn, 200, 0.9, w=1.8, d=1.2, color=(0.55, 0.2, 0.15))
    for x, y, h, shirt in ((199.1, 1.9, 180, (0.2, 0.4, 0.6)), (200.9, 1.9, 180, (0.6, 0.3, 0.2)),
                           (201.3, 0.6, 90, (0.3, 0.5, 0.3))):
        pg.person(furn, x, y, heading=h, shirt=shirt, seated=True)
    for k in range(6):
        furn.cylinder((199.4 + 0.25 * k, 1.2, 0.75), 0.035, 0.3, (0.2, 0.55, 0.25), segments=6)
    furn.box((200, 2.95, 1.9), (2.0, 0.05, 0.5), (0.8, 0.1, 0.1))
    walls_m.attach(bs, wood)
    floor_m.attach(bs, tiles)
    furn.attach(bs)
    world.text(bar, "欢聚一堂", (200, 2.9, 1.85), scale=0.3, color=(1, 0.9, 0.3, 1))
    glasses = []
    for k in range(8):
        g = pg.Mesh("glass").cylinder((0, 0, 0), 0.03, 0.07, (0.9, 0.9, 0.95, 0.7), segments=8)
        n = g.attach(bar, alpha=True)
        n.set_pos(199.7 + 0.08 * (k % 4), 0.5 - 0.08 * (k // 4), 0.75)
        glasses.append(n)
    world.nodes["glasses"] = glasses

    # hospital, court, home -----------------------------------------------------------------------
    hosp = world.add_set("hospital")
    hs = hosp.attach_new_node("static")
    walls_m, floor_m, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture"), pg.Mesh("light")
    props.room(walls_m, floor_m, (300, 2, 0), 5, 6, 2.8, wall_color=(0.82, 0.9, 0.88), floor_color=(0.75, 0.8, 0.8))
    props.bed(furn, 300, 3.0, along_y=False, sheet=(0.7, 0.8, 0.95))
    furn.box((301.3, 3.6, 0.8), (0.1, 0.1, 1.6), (0.7, 0.7, 0.7))
    furn.box((301.3, 3.6, 1.5), (0.5, 0.3, 0.4), (0.2, 0.2, 0.22))
    light.quad((301.1, 3.44, 1.38), (301.5, 3.44, 1.38), (301.5, 3.44, 1.62), (301.1, 3.44, 1.62), (0.1, 0.5, 0.2))
    furn.cylinder((299.0, 3.9, 0), 0.02, 1.9, (0.8, 0.8, 0.8), segments=5)
    furn.box((299.0, 3.9, 1.8), (0.15, 0.05, 0.25), (0.85, 0.9, 1.0))
    props.window(furn, light, 300, 4.98, 1.6, 1.6, 1.0, facing=-1)
    walls_m.attach(hs, concrete)
    floor_m.attach(hs, tiles)
    furn.attach(hs)
    light.attach(hs, lit=False)
    patient = pg.person(pg.Mesh("patient"), 0, 0, heading=0, shirt=(0.6, 0.7, 0.9), height=1.2).attach(hosp)
    patient.set_pos(299.5, 3.0, 0.8)
    patient.set_hpr(0, 0, 90)          # lying on the bed, head on the pillow
    pulse = pg.Mesh("pulse").box((0, 0, 0), (0.04, 0.01, 0.05), (0.3, 1, 0.4))
    world.nodes["pulse"] = pulse.attach(hosp, lit=False)
    world.nodes["pulse"].set_pos(301.1, 3.43, 1.5)

    court = world.add_set("court")
    cs = court.attach_new_node("static")
    walls_m, floor_m, furn = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture")
    props.room(walls_m, floor_m, (400, 3, 0), 12, 10, 5.0, wall_color=(0.95, 0.92, 0.85), floor_color=(0.5, 0.35, 0.25))
    furn.box((400, 7.2, 0.3), (7, 2.6, 0.6), (0.4, 0.25, 0.14))            # the raised floor of the bench
    furn.box((400, 6.3, 0.95), (6, 0.8, 0.7), (0.45, 0.28, 0.15))           # the bench
    furn.box((400, 7.9, 2.4), (6.5, 0.1, 2.6), (0.42, 0.26, 0.15))
    for x in (398.2, 400.0, 401.8):
        pg.person(furn, x, 7.0, heading=180, shirt=(0.1, 0.1, 0.12), seated=True, z=0.9)
        furn.box((x, 6.86, 1.88), (0.16, 0.02, 0.1), (0.75, 0.1, 0.1))                 # the robe's red collar
    furn.box((400, 1.3, 0.45), (1.6, 0.08, 0.9), (0.5, 0.32, 0.18))         # the dock's rail
    for x in (397.0, 403.0):
        props.table(furn, x, 4.0, w=2.0, d=0.7, color=(0.45, 0.28, 0.15))
    walls_m.attach(cs, concrete)
    floor_m.attach(cs, wood)
    furn.attach(cs)
    world.text(court, "审判庭", (400, 7.82, 3.3), scale=0.5, color=(0.95, 0.8, 0.3, 1), heading=180)
    world.nodes["verdict"] = world.text(court, "判决书\n交通肇事罪", (400, 5.85, 1.45), scale=0.12,
                                        color=(0.1, 0.1, 0.1, 1), card=(0.95, 0.95, 0.9, 1), heading=180)

    home = world.add_set("home")
    ms = home.attach_new_node("static")
    walls_m, floor_m, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture"), pg.Mesh("light")
    props.room(walls_m, floor_m, (500, 1.5, 0), 6, 6, 2.8, wall_color=(0.92, 0.88, 0.78), floor_color=(0.6, 0.45, 0.3))
    props.table(furn, 500, 2.2, w=1.4, d=0.9)
    props.chair(furn, 500, 1.4, facing_y=-1)
    props.chair(furn, 499.2, 2.2)
    props.chair(furn, 500.8, 2.2)
    pg.person(furn, 499.2, 2.6, heading=180, shirt=(0.75, 0.3, 0.4), seated=True)
    pg.person(furn, 500.8, 2.6, heading=180, shirt=(0.3, 0.6, 0.8), seated=True, height=1.15)
    for x in (499.6, 500.0, 500.4):
        furn.cylinder((x, 2.0, 0.75), 0.1, 0.03, (0.95, 0.95, 0.95), segments=10)
    props.window(furn, light, 500, 4.48, 1.6, 1.4, 1.0, facing=-1, sky=(0.1, 0.12, 0.3))
    furn.box((501.8, 4.45, 1.7), (0.5, 0.04, 0.4), (0.5, 0.35, 0.2))
    walls_m.attach(ms, bricks)
    floor_m.attach(ms, wood)
    furn.attach(ms)
    light.attach(ms, lit=False)
    world.show(*SET_FOR_STAGE[scene.stage.key])


def _sync(scene: DrunkDrivingScene, world) -> None:
    key = scene.stage.key
    world.show(*SET_FOR_STAGE[key])
    if "road" in SET_FOR_STAGE[key]:
        car = world.nodes["car"]
        car.set_pos(scene.car_x, scene.car_y, 0)
        car.set_h(scene.car_h)
        world.nodes["gauge"].node().set_text(f"{scene.speed * 3.6:.0f}")
        state = scene.light_state()
        for name, node in world.nodes["lamps"].items():
            on = name == state
            colour = {"red": (1, 0.1, 0.1, 1), "yellow": (1, 0.8, 0.1, 1), "green": (0.1, 1, 0.3, 1)}[name]
            node.set_color_scale(colour if on else (0.15, 0.15, 0.15, 1))
        ped, child = scene.hazards[0], scene.hazards[2]
        world.nodes["pedestrian"].set_pos(ped.x, ped.y, 0)
        child_node = world.nodes["child"]
        child_node.set_pos(child.x, child.y, 0)
        if key in ("crash", "police") and child.hit:
            child_node.set_pos(*scene.victim_pos()[:2], 0.15)
            child_node.set_hpr(60, 0, 90)
        else:
            child_node.set_hpr(0, 0, 0)
        for node, y in zip(world.nodes["oncoming"], scene.oncoming, strict=True):
            node.set_pos(-LANE_X, y, 0)
        police = world.nodes["police"]
        if key == "police":
            police.show()
            blink = math.sin(scene.t_stage * 2 * math.pi * 0.8) > 0
            world.nodes["beacon"].set_color_scale((1, 1, 1, 1) if blink else (0.4, 0.4, 0.4, 1))
        else:
            police.hide()
    if key == "drinking":
        for i, glass in enumerate(world.nodes["glasses"]):
            glass.set_alpha_scale(0.25 if i < scene.drinks else 1.0)
    if key == "hospital":
        t = scene.clock.now()
        world.nodes["pulse"].set_x(301.12 + (t * 0.12) % 0.36)
        world.nodes["pulse"].set_z(1.5 + (0.06 if (t * 1.2) % 1.0 < 0.15 else 0.0))
