"""The sound schedule of the VR scenes, pure Python (no Panda3D): which sound starts, stops or plays
when, where and how loud, derived from the scene's own state after each step.

A :class:`Soundscape` watches one scene. ``observe()`` (after every ``scene.step``) compares the
scene's plain data with what it saw last time (a stage change, the door reaching closed, a new
collision, the car's speed, the withdrawal's strength, a new subtitle) and returns the new
:class:`SoundEvent` s; ``voices`` holds the loops sounding now with where they are now (the mixer moves
its sources there every frame). ``run()`` steps a scene with its scripted learner and collects the
events, so tests read the schedule without a speaker: ``vr_scenes.mixer`` plays it through OpenAL.

Positions are in the scene's world coordinates (metres, x right, y forward, z up); ``head`` marks a
sound that belongs to the learner (heartbeat, narration) and moves with the head. Gains are 0..1
before the mixer's master volume and cap.

What sounds (by scene; times are seconds into the stage):
- every scene: the learner's footsteps while walking (one step per ``STRIDE_M`` walked, not at stage
  cuts), the footsteps of characters who walk (``scene.characters()``, where the scene has a cast),
  the subtitles spoken (``speech``; narrator at the head, a character's line from the character).
- prison: the visiting-room phone rings from 4 s until it is picked up; the cell door's clang when
  the door stage closes it (``door_closed`` reaches 1), its lock at 16 s ("咔嚓一声"); the guard's steps
  come from the cast like everyone's.
- drunk: the engine from the moment it is started until the lap ends or the car crashes, its pitch
  following the speed (rpm); the crash when a walker is hit; after a crash the police siren, coming
  from behind from 5 s into the crash stage, at the police car until 6 s into the police stage.
- rehab: a heartbeat while in withdrawal and at the relapse, its rate following the craving (the
  scene's ``craving`` if it has one, else the strength of its withdrawal vision); the ringback tone
  after the learner calls for help (6 s); the ambulance siren from 40 s of the relapse.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from .core import Inputs, Scene

STRIDE_M = 0.7            # one footstep per this many metres walked
TELEPORT_M = 1.0          # a jump larger than this within one step is a stage cut, not a walk
UPDATE_RATE = 0.03        # a loop's change logged as an "update": rate by 3 % ...
UPDATE_GAIN = 0.05        # ... gain by 0.05 ...
UPDATE_MOVE_M = 25.0      # ... or a move of 25 m (the mixer follows every move anyway)

GAIN = {
    "speech": 1.0, "clang": 1.0, "crash": 1.0, "lock": 0.7, "siren": 0.8, "engine": 0.5,
    "heartbeat": 0.7, "phone_ring": 0.6, "ringback": 0.5, "footstep_learner": 0.3, "footstep": 0.5,
}

# prison (vr_scenes/scenes/prison.py, geometry/prison.py)
PHONE_RINGS_AT = 4.0                  # visiting stage: the phone rings from here until picked up
LOCK_AT = 16.0                        # door stage: "咔嚓一声，门锁上了"
VISIT_HANDSET = (300.0 - 0.6, 0.75, 0.95)   # where the handset rests (geometry/prison.py)

# drunk (vr_scenes/scenes/drunk.py, geometry/drunk.py)
CAR_STAGES = ("briefing", "sober_lap", "drunk_lap", "crash")
IDLE_RPM, RPM_PER_MS = 800.0, 120.0   # rpm = idle + 120 per m/s (about 2,200 rpm at the 12 m/s cruise)
ENGINE_FRONT_M = 1.6                  # the engine sits this far ahead of the car's centre
POLICE_CAR = (-1.75, 1092.0, 1.4)     # the police car's beacon (geometry/drunk.py)
SIREN_FROM = 5.0                      # crash stage: the siren is heard from here, approaching ...
SIREN_ARRIVES = 20.0                  # ... and at the police car by the stage's end
SIREN_APPROACH_M = 250.0              # from this far behind
SIREN_OFF_AT = 6.0                    # police stage: switched off once the officers are out

# rehab (vr_scenes/scenes/rehab.py)
RINGBACK_S = 6.0
AMBULANCE_AT = 40.0                   # relapse stage: the ambulance arrives (its key event starts here)
OVERDOSE_AT = 30.0                    # relapse stage: the overdose, the heart slows ...
OVERDOSE_BPM = 44.0                   # ... to this by the ambulance's arrival

SPEAKER_EVENTS = {      # a speaker without a cast position: the key event that shows where they are
    "民警": ("guard", "officer", "police_officer"), "交警": ("police_officer",), "妈妈": ("mother",),
    "母亲": ("mother",), "朋友": ("friend",), "法官": ("judge",), "工作人员": ("staff",),
}
_SPEAKER_PREFIX = re.compile(r"^([^\s：“”]{1,4})：")


@dataclass(frozen=True)
class SoundEvent:
    t: float                                  # scene time (scene.clock), seconds
    action: str                               # play (one-shot) | start (loop) | update (loop) | stop (loop)
    name: str                                 # the clip (vr_scenes.synth.CLIPS) or "speech"
    voice: str                                # the sounding instance ("engine", "steps:learner", ...)
    pos: tuple[float, float, float]           # world position
    loop: bool
    gain: float                               # 0..1, before the mixer's master volume and cap
    rate: float = 1.0                         # playback rate (the engine's rpm)
    head: bool = False                        # the learner's own: follows the head
    text: str = ""                            # speech: the line
    speaker: str = ""                         # speech: who says it ("" the narrator)


@dataclass
class Voice:
    """A loop sounding now."""
    name: str
    pos: tuple[float, float, float]
    gain: float
    rate: float = 1.0
    head: bool = False


@dataclass
class _Walker:
    x: float
    y: float
    walked: float = 0.0
    steps: int = 0


def _r(v: float) -> float:
    return round(v, 3)


def _pos(x: float, y: float, z: float) -> tuple[float, float, float]:
    return (_r(x), _r(y), _r(z))


def heart_rate_bpm(stage: str, t: float, craving: float) -> float:
    """Beats per minute: 60 at rest up to 140 at the worst of the craving; at the relapse's overdose the
    heart slows to ``OVERDOSE_BPM`` by the ambulance's arrival, then recovers a little."""
    bpm = 60.0 + 80.0 * max(0.0, min(1.0, craving))
    if stage == "relapse" and t >= OVERDOSE_AT:
        peak = 60.0 + 80.0 * 0.9
        if t < AMBULANCE_AT:
            return peak + (OVERDOSE_BPM - peak) * (t - OVERDOSE_AT) / (AMBULANCE_AT - OVERDOSE_AT)
        return min(70.0, OVERDOSE_BPM + (t - AMBULANCE_AT))
    return bpm


def craving_of(scene: Scene) -> float:
    """How strong the craving / withdrawal is now, 0..1: the scene's ``craving`` if it keeps one, else
    read from its withdrawal vision (``impairment.withdrawal_vision`` narrows the view by 0.7 x it)."""
    value = getattr(scene, "craving", None)
    if value is None:
        value = scene.vision.tunnel / 0.7
    return max(0.0, min(1.0, float(value)))


class Soundscape:
    def __init__(self, scene: Scene, speech: bool = False):
        self.scene = scene
        self.speech = speech
        self.events: list[SoundEvent] = []
        self.voices: dict[str, Voice] = {}
        self._logged: dict[str, Voice] = {}           # each loop as last logged (start/update)
        self._walkers: dict[str, _Walker] = {}
        self._stage = -1
        self._subtitle: str | None = None
        self._door = getattr(scene, "door_closed", 0.0)
        self._hits = self._hit_count()
        self._called_at: float | None = None
        self._last_beat: float | None = None
        self._t_prev = scene.t_stage

    # --- observing ---------------------------------------------------------------------------------
    def observe(self) -> list[SoundEvent]:
        """What changed since the last call, as events (also appended to ``events``)."""
        scene = self.scene
        out: list[SoundEvent] = []
        stage_changed = scene.runner.index != self._stage
        if stage_changed:
            self._stage = scene.runner.index
            self._t_prev = -1e-9
            self._walkers.pop("learner", None)       # a stage cut places the learner: not a walk
            self._last_beat = None
        want: dict[str, Voice] = {}
        if not scene.finished:
            self._footsteps(out)
            rules = getattr(self, f"_scene_{scene.key}", None)
            if rules is not None:
                rules(out, want)
            if self.speech:
                self._speech(out)
        self._diff_loops(want, out)
        self._t_prev = scene.t_stage
        self.events.extend(out)
        return out

    def close(self) -> list[SoundEvent]:
        """Stop every loop (the scene ends or the viewer closes)."""
        out: list[SoundEvent] = []
        self._diff_loops({}, out)
        self.events.extend(out)
        return out

    # --- helpers -----------------------------------------------------------------------------------
    def _now(self) -> float:
        return _r(self.scene.clock.now())

    def _play(self, out: list, name: str, voice: str, pos, gain: float, head: bool = False, **kw) -> None:
        out.append(SoundEvent(self._now(), "play", name, voice, pos, False, _r(gain), head=head, **kw))

    def _crossed(self, at: float) -> bool:
        """The stage's clock passed ``at`` during the last step."""
        return self._t_prev < at <= self.scene.t_stage

    def _head(self) -> tuple[float, float, float]:
        b = self.scene.body
        return _pos(b.x, b.y, b.eye)

    def _key_event_pos(self, name: str) -> tuple[float, float, float] | None:
        for event in self.scene.stage.key_events:
            if event.name == name:
                return _pos(*self.scene.event_pos(event))
        return None

    def _diff_loops(self, want: dict[str, Voice], out: list) -> None:
        now = self._now()
        for key in list(self.voices):
            if key not in want:
                v = self.voices.pop(key)
                self._logged.pop(key, None)
                out.append(SoundEvent(now, "stop", v.name, key, v.pos, True, 0.0, v.rate, v.head))
        for key, v in want.items():
            v = replace(v, pos=_pos(*v.pos), gain=_r(v.gain), rate=_r(v.rate))
            last = self._logged.get(key)
            if key not in self.voices:
                out.append(SoundEvent(now, "start", v.name, key, v.pos, True, v.gain, v.rate, v.head))
                self._logged[key] = v
            elif (abs(v.rate - last.rate) > UPDATE_RATE * last.rate or abs(v.gain - last.gain) > UPDATE_GAIN
                  or math.dist(v.pos, last.pos) > UPDATE_MOVE_M):
                out.append(SoundEvent(now, "update", v.name, key, v.pos, True, v.gain, v.rate, v.head))
                self._logged[key] = v
            self.voices[key] = v

    # --- footsteps ---------------------------------------------------------------------------------
    def _walk(self, out: list, who: str, x: float, y: float, gain: float) -> None:
        w = self._walkers.get(who)
        if w is None:
            self._walkers[who] = _Walker(x, y)
            return
        d = math.hypot(x - w.x, y - w.y)
        w.x, w.y = x, y
        if d > TELEPORT_M:
            return
        w.walked += d
        if w.walked >= STRIDE_M:
            w.walked -= STRIDE_M
            self._play(out, f"footstep_{w.steps % 4}", f"steps:{who}", _pos(x, y, 0.05), gain)
            w.steps += 1

    def _footsteps(self, out: list) -> None:
        scene = self.scene
        if not (scene.key == "drunk" and scene.stage.key in CAR_STAGES):     # in the car, nobody walks
            self._walk(out, "learner", scene.body.x, scene.body.y, GAIN["footstep_learner"])
        characters = getattr(scene, "characters", None)
        walking = set()
        if callable(characters):
            for key, state in characters().items():
                if state.visible and state.anim in ("walk", "run"):
                    walking.add(key)
                    self._walk(out, key, state.x, state.y, GAIN["footstep"])
        for key in [k for k in self._walkers if k != "learner" and k not in walking]:
            del self._walkers[key]       # stood still or left: the next walk starts afresh

    # --- speech ------------------------------------------------------------------------------------
    def _speech(self, out: list) -> None:
        scene = self.scene
        shown = scene.subtitle()
        if shown == self._subtitle:
            return
        self._subtitle = shown
        if not shown:
            return
        cue = scene.runner.cue() if hasattr(scene.runner, "cue") else None
        speaker = getattr(cue, "speaker", "") if cue is not None else ""
        text = shown
        cue_subtitle = getattr(cue, "subtitle", getattr(cue, "text", None))
        if cue is not None and shown == cue_subtitle:
            text = cue.text
        else:           # a line the scene wrote itself ("民警：“0417！”"): who says it, from the prefix
            speaker = ""
            m = _SPEAKER_PREFIX.match(shown)
            if m and m.group(1) == "你":
                return        # the learner's own answer: not voiced
            names = {getattr(r, "name", "") for r in getattr(scene, "cast", None) or ()} | set(SPEAKER_EVENTS)
            if m and m.group(1) in names:
                speaker, text = m.group(1), shown[m.end():]
        pos = self._speaker_pos(speaker)
        self._play(out, "speech", "speech", pos or self._head(), GAIN["speech"], head=pos is None,
                   text=text.strip(), speaker=speaker)

    def _speaker_pos(self, speaker: str) -> tuple[float, float, float] | None:
        """Where a character's mouth is: from the scene's cast (``characters()``), else from the key
        event that stands for them; None for the narrator (at the learner's head)."""
        if not speaker:
            return None
        scene = self.scene
        cast = getattr(scene, "cast", None)
        characters = getattr(scene, "characters", None)
        if cast and callable(characters):
            states = characters()
            for role in cast:
                state = states.get(role.key)
                if role.name == speaker and state is not None and state.visible:
                    mouth = state.z + (0.9 if state.anim == "sit" else getattr(role, "height", 1.72) * 0.93)
                    if state.anim == "lie":
                        mouth = state.z + 0.15
                    return _pos(state.x, state.y, mouth)
        names = SPEAKER_EVENTS.get(speaker, ())
        for event in scene.active_events():
            if event.name in names:
                return _pos(*event.pos)
        return None

    # --- prison ------------------------------------------------------------------------------------
    def _scene_prison(self, out: list, want: dict) -> None:
        scene = self.scene
        k, t = scene.stage.key, scene.t_stage
        if k == "visiting" and t >= PHONE_RINGS_AT and not scene.phone:
            want["phone"] = Voice("phone_ring", VISIT_HANDSET, GAIN["phone_ring"])
        door = scene.door_closed
        if k == "door":
            where = self._key_event_pos("door")
            if self._door < 1.0 <= door:
                self._play(out, "clang", "door", where, GAIN["clang"])
            if self._crossed(LOCK_AT):
                self._play(out, "lock", "door", where, GAIN["lock"])
        self._door = door

    # --- drunk driving -----------------------------------------------------------------------------
    def _hit_count(self) -> int:
        return sum(1 for hz in getattr(self.scene, "hazards", ()) if getattr(hz, "hit", False))

    def _car_point(self, ahead: float, z: float) -> tuple[float, float, float]:
        s = self.scene
        h = math.radians(s.car_h)
        return _pos(s.car_x - math.sin(h) * ahead, s.car_y + math.cos(h) * ahead, z)

    def _scene_drunk(self, out: list, want: dict) -> None:
        scene = self.scene
        k, t = scene.stage.key, scene.t_stage
        if scene.engine_on and k in ("briefing", "sober_lap", "drunk_lap") and not scene.crashed:
            rpm = IDLE_RPM + RPM_PER_MS * scene.speed
            want["engine"] = Voice("engine", self._car_point(ENGINE_FRONT_M, 0.6),
                                   GAIN["engine"] * (0.7 + 0.3 * min(1.0, scene.speed / 20.0)),
                                   rate=rpm / 1500.0)
        hits = self._hit_count()
        if hits > self._hits:
            self._play(out, "crash", "crash", self._car_point(2.2, 0.6), GAIN["crash"])
        self._hits = hits
        if scene.crashed and k == "crash" and t >= SIREN_FROM:
            f = min(1.0, (t - SIREN_FROM) / (SIREN_ARRIVES - SIREN_FROM))
            y = POLICE_CAR[1] - SIREN_APPROACH_M * (1.0 - f)
            want["siren"] = Voice("siren", (POLICE_CAR[0], y, POLICE_CAR[2]), GAIN["siren"])
        elif scene.crashed and k == "police" and t < SIREN_OFF_AT:
            want["siren"] = Voice("siren", POLICE_CAR, GAIN["siren"])

    # --- drug rehab --------------------------------------------------------------------------------
    def _scene_rehab(self, out: list, want: dict) -> None:
        scene = self.scene
        k, t = scene.stage.key, scene.t_stage
        now = scene.clock.now()
        if k in ("withdrawal", "relapse"):
            bpm = heart_rate_bpm(k, t, craving_of(scene))
            if self._last_beat is None or now - self._last_beat >= 60.0 / bpm - 1e-9:
                self._last_beat = now
                b = scene.body
                self._play(out, "heartbeat", "heart", _pos(b.x, b.y, b.eye - 0.35), GAIN["heartbeat"],
                           head=True)
        if k == "withdrawal":
            if scene.called and self._called_at is None:
                self._called_at = now
            if self._called_at is not None and now - self._called_at < RINGBACK_S:
                from .scenes.rehab import PHONE
                want["ringback"] = Voice("ringback", (PHONE[0], PHONE[1] + 0.15, 0.8), GAIN["ringback"])
        if k == "relapse" and t >= AMBULANCE_AT:
            where = self._key_event_pos("ambulance")
            if where is not None:
                want["siren"] = Voice("siren", where, GAIN["siren"])


@dataclass
class Schedule:
    scene: Scene
    events: list[SoundEvent] = field(default_factory=list)
    stage_starts: dict[str, float] = field(default_factory=dict)    # stage key -> scene time it began

    def of(self, name: str, action: str | None = None) -> list[SoundEvent]:
        return [e for e in self.events if e.name == name and (action is None or e.action == action)]

    def at_stage(self, stage: str, e: SoundEvent) -> float:
        """An event's time in the stage ``stage``."""
        return _r(e.t - self.stage_starts[stage])


def run(scene: Scene, dt: float = 1 / 30, speech: bool = False, until_stage: str | None = None,
        until_t: float = 0.0, max_s: float = 3600.0, inputs=None) -> Schedule:
    """Step ``scene`` (its scripted learner, or ``inputs(scene)``) like ``core.fast_forward`` and collect
    the sound events: to the end, or until stage ``until_stage`` has run ``until_t`` seconds."""
    soundscape = Soundscape(scene, speech=speech)
    schedule = Schedule(scene)
    schedule.stage_starts[scene.stage.key] = _r(scene.clock.now())
    soundscape.observe()
    keys = [s.key for s in scene.stages]
    target = keys.index(until_stage) if until_stage else None
    seconds = 0.0
    while not scene.finished and seconds < max_s:
        if target is not None and (scene.runner.index > target
                                   or (scene.runner.index == target and scene.t_stage >= until_t)):
            break
        index = scene.runner.index
        scene.step(dt, inputs(scene) if inputs else scene.autopilot() or Inputs())
        seconds += dt
        if scene.runner.index != index and not scene.finished:
            schedule.stage_starts[scene.stage.key] = _r(scene.clock.now())
        soundscape.observe()
    soundscape.close()
    schedule.events = soundscape.events
    return schedule
