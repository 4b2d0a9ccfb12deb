"""Scene logic without rendering: the impairment model, stage transitions with timing, telemetry, and
each scene run whole with its scripted learner on a fake clock (minutes of scene time in well under a
second)."""
from __future__ import annotations

import math

import pytest

from vr_scenes import registry
from vr_scenes.core import Cue, Inputs, KeyEvent, Scene, SimClock, Stage, StageRunner, fast_forward
from vr_scenes.fonts import CJKFontMissing, find_cjk_font
from vr_scenes.impairment import (
    ALCOHOL_G_PER_LIANG,
    DelayLine,
    ImpairedControls,
    Impairment,
    VisionEffects,
    bac_mg_per_100ml,
    withdrawal_vision,
)
from vr_scenes.telemetry import Reaction, Telemetry


# --- impairment ---------------------------------------------------------------------------------------
def test_delay_line_returns_what_was_pushed_delay_ago():
    line = DelayLine(0.5)
    for i in range(100):
        line.push(i * 0.1, float(i))
    assert line.value_at(9.9) == pytest.approx(94.0)      # pushed at 9.4
    assert line.value_at(0.3) == 0.0                      # before anything reached the output
    with pytest.raises(ValueError):
        line.push(1.0, 0.0)


def test_sober_controls_pass_through_and_drunk_controls_lag_and_drift():
    sober = ImpairedControls(Impairment(0.0))
    drunk = ImpairedControls(Impairment(1.0, phase=0.3))
    assert drunk.impairment.control_delay_s == pytest.approx(0.8)
    steps = [i / 60 for i in range(600)]
    sober_out, drunk_out = [], []
    for t in steps:
        cmd = 1.0 if t >= 5.0 else 0.0                      # a step command at 5 s
        sober_out.append(sober.apply(t, cmd, 0.0, cmd)[2])
        drunk_out.append(drunk.apply(t, cmd, 0.0, cmd)[2])
    first = {name: next(t for t, v in zip(steps, out, strict=True) if v >= 0.5)
             for name, out in (("sober", sober_out), ("drunk", drunk_out))}
    assert first["sober"] == pytest.approx(5.0, abs=1 / 60)
    assert first["drunk"] - first["sober"] == pytest.approx(0.8, abs=1 / 30)
    # drift: with the wheel held straight the drunk car's steering wanders, the sober one's does not
    drifts = [Impairment(1.0).drift(t) for t in range(60)]
    assert max(abs(d) for d in drifts) > 0.1 and Impairment(0.0).drift(12.0) == 0.0
    assert min(drifts) < 0 < max(drifts)


def test_vision_effects_grow_with_severity_and_attention_narrows():
    none, mild, heavy = Impairment(0.0), Impairment(0.3), Impairment(1.0)
    assert not none.vision(3.0).any
    assert 0 < mild.vision(3.0).blur < heavy.vision(3.0).blur
    assert 0 < mild.vision(3.0).double < heavy.vision(3.0).double
    assert none.attention_cone_deg > mild.attention_cone_deg > heavy.attention_cone_deg
    assert heavy.notice_delay_s(10.0) == 0.0 and heavy.notice_delay_s(60.0) > mild.notice_delay_s(60.0) > 0
    w = withdrawal_vision(1.0, 2.0)
    assert w.tunnel > 0.5 and w.tremor > 0 and w.distortion >= 0 and w.any
    assert VisionEffects(blur=0.5).scaled(0.5).blur == pytest.approx(0.25)


def test_bac_from_drinks():
    four = bac_mg_per_100ml(4 * ALCOHOL_G_PER_LIANG)
    assert 150 < four < 190                      # four liang of baijiu: well over the 80 mg drunk limit
    assert bac_mg_per_100ml(4 * ALCOHOL_G_PER_LIANG, hours_since=1.0) == pytest.approx(four - 15)
    assert Impairment.from_bac(300).severity == 1.0 and Impairment.from_bac(0).severity == 0.0


# --- stages and telemetry -----------------------------------------------------------------------------
class _TwoStages(Scene):
    key = "test-two"
    stages = (
        Stage("a", "甲", 10.0, (Cue(0, "一"), Cue(4, "二")), min_s=2.0,
              key_events=(KeyEvent("ahead", (0.0, 10.0, 1.65)), KeyEvent("behind", (0.0, -10.0, 1.65), start=5.0))),
        Stage("b", "乙", 5.0),
    )

    def __init__(self, **kw):
        self.pressed = False
        super().__init__(**kw)

    def on_step(self, stage, dt, inputs):
        self.pressed = self.pressed or inputs.action

    def stage_complete(self, stage):
        return stage.key == "a" and self.pressed


def test_stage_runner_completes_not_before_min_and_times_out():
    clock = SimClock()
    runner = StageRunner(_TwoStages.stages, clock)
    clock.advance(1.0)
    assert runner.update(goal_met=True) is None          # before min_s
    clock.advance(1.5)
    assert runner.update(goal_met=True) == (_TwoStages.stages[0], True)
    assert runner.stage.key == "b" and runner.t == 0.0
    clock.advance(4.9)
    assert runner.update(False) is None
    clock.advance(0.2)
    assert runner.update(False) == (_TwoStages.stages[1], False)
    assert runner.finished and runner.update(True) is None


def test_subtitles_follow_the_cues():
    scene = _TwoStages()
    assert scene.subtitle() == "一"
    for _ in range(50):
        scene.step(0.1)
    assert scene.subtitle() == "二"


def test_scene_telemetry_times_stages_and_attention():
    scene = _TwoStages()
    for _ in range(30):                                   # 3 s facing ahead, then press
        scene.step(0.1, Inputs())
    scene.step(0.1, Inputs(action=True))
    assert scene.stage.key == "b"
    for _ in range(60):
        scene.step(0.1, Inputs(yaw=180.0))
    assert scene.finished
    summary = scene.telemetry.summary()
    assert [s["key"] for s in summary["stages"]] == ["a", "b"]
    assert summary["stages"][0]["seconds"] == pytest.approx(3.1) and summary["stages"][0]["completed"]
    assert summary["stages"][1]["seconds"] == pytest.approx(5.0, abs=0.11) and not summary["stages"][1]["completed"]
    assert summary["stages_completed"] == 1
    assert summary["attention"]["ahead"] == pytest.approx(1.0)
    assert "behind" not in summary["attention"]          # its window (from 5 s) never opened


def test_attention_share_counts_only_time_facing():
    t = Telemetry("x")
    t.attention("e", 3.0, True)
    t.attention("e", 1.0, False)
    assert t.attention_share("e") == pytest.approx(0.75) and t.attention_share("never") == 0.0
    t.reaction(Reaction("sober", "h", 1.0, 0.9, 0.9))
    t.reaction(Reaction("drunk", "h", 9.0, 1.3, 2.1))
    t.reaction(Reaction("drunk", "h2", 19.0, None, None))
    s = t.summary()
    assert s["reaction_sober_s"] == 0.9 and s["reaction_drunk_effective_s"] == 2.1


def test_gaze_geometry():
    scene = _TwoStages()
    yaw, pitch = scene.look_at((10.0, 0.0, 1.65))        # to the right: negative heading in Panda3D
    assert yaw == pytest.approx(-90.0) and pitch == pytest.approx(0.0)
    scene.body.yaw = yaw
    gx, gy, _ = scene.body.gaze()
    assert gx == pytest.approx(1.0) and abs(gy) < 1e-9


# --- registry and fonts -------------------------------------------------------------------------------
def test_registry_finds_the_three_scenes():
    keys = list(registry.scenes())
    assert keys[:3] == ["prison", "drunk", "rehab"]
    with pytest.raises(KeyError, match="known"):
        registry.get("no-such-scene")


def test_cjk_font_found_or_error_names_the_package(monkeypatch, tmp_path):
    path, _index = find_cjk_font()
    assert path.endswith((".ttc", ".ttf", ".otf"))
    monkeypatch.setattr("vr_scenes.fonts.CANDIDATES", (("/nonexistent/font.ttc", 0, "fonts-noto-cjk"),))
    with pytest.raises(CJKFontMissing, match="fonts-noto-cjk"):
        find_cjk_font()


# --- whole scenes, fast-forwarded ------------------------------------------------------------------------
@pytest.fixture(params=sorted(registry.scenes()))
def whole_run(request):
    scene = registry.create(request.param)
    result = fast_forward(scene, dt=1 / 30)
    return scene, result


def test_every_scene_runs_5_to_10_minutes_through_every_stage(whole_run):
    scene, result = whole_run
    assert scene.finished
    assert result.stages_seen == [s.key for s in scene.stages]
    assert 300 <= result.seconds <= 600, result.seconds
    assert 300 <= scene.total_duration_s * 1.0 and scene.total_duration_s <= 660
    summary = scene.telemetry.summary()
    assert summary["stages_ended"] == len(scene.stages)
    assert summary["seconds_total"] == pytest.approx(result.seconds, abs=0.1)
    # the scripted learner does what each stage asks: every stage with a goal is completed, not timed out
    for stage, record in zip(scene.stages, summary["stages"], strict=True):
        if stage.goal and stage.min_s > 0:
            assert record["completed"], stage.key
    for stage in scene.stages:
        assert stage.cues and all(any("\u4e00" <= ch <= "\u9fff" for ch in c.text) for c in stage.cues)


def test_a_learner_who_does_nothing_still_reaches_the_end_by_timeouts():
    for key in registry.scenes():
        scene = registry.create(key)
        steps = 0
        while not scene.finished and steps < 20000:
            scene.step(0.1, Inputs())
            steps += 1
        assert scene.finished, key
        summary = scene.telemetry.summary()
        assert summary["seconds_total"] <= scene.total_duration_s + 1
        assert summary["stages_ended"] == len(scene.stages)


# --- drunk driving ------------------------------------------------------------------------------------
def test_drunk_lap_reactions_are_slower_and_end_in_a_crash():
    scene = registry.create("drunk")
    fast_forward(scene, dt=1 / 30)
    s = scene.telemetry.summary()
    assert s["reaction_sober_s"] == pytest.approx(0.9 + 1 / 30, abs=0.05)
    assert s["reaction_drunk_effective_s"] > s["reaction_sober_effective_s"] + 0.6
    assert s["reaction_drunk_s"] > s["reaction_sober_s"]
    assert len([r for r in s["reactions"] if r["lap"] == "sober"]) == 3
    assert scene.crashed and s["counters"].get("collisions_drunk") == 1
    assert "collisions_sober" not in s["counters"]
    assert scene.bac >= 80                               # drunk driving by the legal limit
    keys = [r["key"] for r in s["stages"]]
    assert keys.index("crash") == keys.index("drunk_lap") + 1


@pytest.mark.parametrize("reaction", [0.5, 0.9, 1.1])
def test_same_learner_stops_sober_and_crashes_drunk(reaction):
    """The hazards appear a fixed time ahead (the child 2.2 s): a learner with an ordinary reaction time
    stops for all of them sober and cannot stop for the child drunk (delayed pedals, slower noticing)."""
    scene = registry.create("drunk", autopilot_reaction_s=reaction)
    fast_forward(scene, dt=1 / 30)
    assert not scene.telemetry.counters.get("collisions_sober")
    assert scene.crashed


def test_a_superhuman_reaction_can_still_stop_drunk():
    """Nothing is forced: the crash comes from the model, and a 0.3 s learner avoids it."""
    scene = registry.create("drunk", autopilot_reaction_s=0.3)
    fast_forward(scene, dt=1 / 30)
    assert not scene.crashed
    assert [r["key"] for r in scene.telemetry.summary()["stages"]][-1] == "family"


def test_drunk_steering_wanders_out_of_lane_more_than_sober():
    scene = registry.create("drunk")
    xs = {"sober_lap": [], "drunk_lap": []}
    while not scene.finished and scene.stage.key != "crash":
        scene.step(1 / 30, scene.autopilot())
        if scene.stage.key in xs:
            xs[scene.stage.key].append(scene.car_x)
    spread = {k: max(v) - min(v) for k, v in xs.items()}
    assert spread["drunk_lap"] > 2 * spread["sober_lap"]


def test_driving_controls_respond_to_the_learner():
    scene = registry.create("drunk")
    fast_forward(scene, dt=1 / 30, until_stage="sober_lap", until_t=0.0)
    for _ in range(90):
        scene.step(1 / 30, Inputs(throttle=1.0))
    assert scene.speed > 5
    x0 = scene.car_x
    for _ in range(30):
        scene.step(1 / 30, Inputs(throttle=0.3, steer=-1.0))
    assert scene.car_x < x0 - 0.3 and scene.car_h > 5         # steered left
    for _ in range(120):
        scene.step(1 / 30, Inputs(brake=1.0))
    assert scene.speed == 0.0
    assert math.isfinite(scene.car_y)


def test_a_fourth_scene_is_one_more_file(tmp_path, monkeypatch):
    """Drop one module with a Scene subclass into the scenes package: the registry lists it and the
    shared machinery (stages, telemetry, fast-forward) runs it."""
    import json

    import vr_scenes.scenes

    (tmp_path / "court_visit.py").write_text('''
from vr_scenes.core import Cue, Inputs, KeyEvent, Scene, Stage


class CourtVisit(Scene):
    key = "court_visit"
    title = "旁听庭审"
    order = 4
    stages = (
        Stage("hall", "法庭", 200.0, (Cue(0, "请入座。"),), goal="按 E 键入座", min_s=5.0,
              key_events=(KeyEvent("judge", (0.0, 8.0, 2.0)),)),
        Stage("verdict", "宣判", 150.0, (Cue(0, "全体起立。"),)),
    )

    def __init__(self, **kw):
        self.sat = False
        super().__init__(**kw)

    def on_step(self, stage, dt, inputs):
        self.sat = self.sat or inputs.action

    def stage_complete(self, stage):
        return stage.key == "hall" and self.sat

    def autopilot(self):
        return Inputs(action=self.t_stage > 6)
''', encoding="utf-8")
    monkeypatch.setattr(vr_scenes.scenes, "__path__", [*vr_scenes.scenes.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_registry", None)
    try:
        assert list(registry.scenes()) == ["prison", "drunk", "rehab", "court_visit"]
        scene = registry.create("court_visit")
        fast_forward(scene, dt=0.1)
        summary = scene.telemetry.summary()
        assert [s["key"] for s in summary["stages"]] == ["hall", "verdict"]
        assert summary["stages"][0]["completed"] and summary["attention"]["judge"] == 1.0
        json.dumps(summary)                                  # what the station will post: plain JSON
    finally:
        import sys
        sys.modules.pop("vr_scenes.scenes.court_visit", None)
    monkeypatch.undo()
    registry._registry = None
    assert "court_visit" not in registry.scenes()


def test_scene_logic_runs_without_panda3d_and_each_view_is_beside_it(imported_packages):
    """A scene's logic (vr_scenes/scenes/<name>.py) imports no Panda3D; its view is
    vr_scenes/geometry/<name>.py, outside the package the registry reads as scenes."""
    import importlib.util

    imported = imported_packages("from vr_scenes import registry\nfor k in registry.scenes(): registry.create(k)")
    assert "vr_scenes" in imported and imported & {"panda3d", "direct"} == set()
    modules = {cls.__module__.rsplit(".", 1)[1] for cls in registry.scenes().values()}
    assert modules == {"prison", "drunk", "rehab"}
    for name in modules:
        assert importlib.util.find_spec(f"vr_scenes.geometry.{name}") is not None, name


# --- prison -------------------------------------------------------------------------------------------
def test_prison_search_needs_the_footprints_and_the_day_runs_by_the_clock():
    scene = registry.create("prison")
    for _ in range(300):                                   # pressing E at the door does not count
        scene.step(0.1, Inputs(action=True))
    assert scene.stage.key == "arrival" and not scene.searched
    fast_forward(scene, dt=1 / 30, until_stage="cell", until_t=44.0)
    assert scene.seated and scene.body.eye < 1.3              # sat on the bunk
    fast_forward(scene, dt=1 / 30, until_stage="regime", until_t=0.0)
    seen = {}
    while scene.stage.key == "regime":
        minutes, phase = scene.regime_phase()
        seen.setdefault(phase, minutes)
        scene.step(1 / 30, scene.autopilot())
    assert list(seen) == ["wake", "roll_call", "work", "study", "lights_out"]
    assert seen["wake"] == 360 and seen["lights_out"] >= 21 * 60
    c = scene.telemetry.counters
    assert 1.0 <= c["roll_call_response_s"] <= 2.0 and c["workshop_items"] == 8
    fast_forward(scene, dt=1 / 30)
    assert scene.door_closed == 1.0 and scene.fade > 0.5


def test_prison_lights_go_out_at_21():
    scene = registry.create("prison")
    fast_forward(scene, dt=1 / 30, until_stage="regime", until_t=112.0)
    assert scene.regime_phase()[1] == "lights_out" and scene.lights < 0.5


# --- drug rehab ---------------------------------------------------------------------------------------
def test_withdrawal_vision_until_help_is_called_and_the_slow_body():
    scene = registry.create("rehab")
    scene.step(0.1, Inputs())
    assert scene.vision.tunnel > 0.5 and scene.vision.tremor > 0
    y0 = scene.body.y
    for _ in range(10):
        scene.step(0.1, Inputs(move=1.0))
    assert 0 < scene.body.y - y0 < 0.5                      # withdrawal: under half a metre a second
    fast_forward(scene, dt=1 / 30, until_stage="intake", until_t=0.0)
    assert scene.called and not scene.vision.any


def test_the_temptation_choice_is_recorded_and_steers_the_narration():
    class Accepting(registry.get("rehab")):
        def autopilot(self):
            if self.stage.key == "temptation":
                return Inputs(choice=2 if self.t_stage > 20 else None)
            return super().autopilot()

    accepted = Accepting()
    fast_forward(accepted, dt=1 / 30, until_stage="relapse", until_t=1.0)
    assert accepted.telemetry.choices == {"temptation": "accept"}
    assert accepted.telemetry.counters["choice_time_s"] == pytest.approx(4.0, abs=0.1)   # hesitated 4 s
    assert "你接过了" in accepted.subtitle() and accepted.vision.any
    fast_forward(accepted, dt=1 / 30, until_stage="family", until_t=30.0)
    assert "错过" in accepted.subtitle()
    refused = registry.create("rehab")
    fast_forward(refused, dt=1 / 30, until_stage="family", until_t=30.0)
    assert refused.telemetry.choices == {"temptation": "refuse"} and "错过" not in refused.subtitle()


def test_comfort_mode_never_rolls_the_camera():
    for comfort in (False, True):
        scene = registry.create("drunk", comfort=comfort)
        fast_forward(scene, dt=1 / 30, until_stage="crash", until_t=1.0)
        assert (scene.roll == 0.0) is comfort
