"""Sound in the VR scenes: the schedule (vr_scenes.soundscape) stepped with each scene's scripted
learner, the synthesized clips (vr_scenes.synth) measured with an FFT, the mixer (vr_scenes.mixer)
through the real OpenAL path into OpenAL Soft's wave-writer driver, and the spoken subtitles
(vr_scenes.speech, eSpeak NG). The expected times come from the stories in vr_scenes/scenes/*.py."""
from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from vr_scenes import core, mixer, registry, soundscape, synth
from vr_scenes.soundscape import SoundEvent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DT = 1 / 30
TOL = DT + 0.002          # a crossing is seen at the first step past it (times are rounded to 1 ms)


@pytest.fixture(scope="module")
def schedules():
    """Each scene run to its end by its scripted learner, with speech scheduled."""
    return {key: soundscape.run(registry.create(key), dt=DT, speech=True) for key in registry.scenes()}


def in_stage(s, stage: str, events: list[SoundEvent]) -> list[tuple[float, SoundEvent]]:
    keys = list(s.stage_starts)
    start = s.stage_starts[stage]
    nxt = keys.index(stage) + 1
    end = s.stage_starts[keys[nxt]] if nxt < len(keys) else math.inf
    return [(round(e.t - start, 3), e) for e in events if start <= e.t < end]


# --- the schedule ---------------------------------------------------------------------------------------
def test_prison_door_clangs_when_the_door_stage_closes_it_then_the_lock_and_the_guard_walks_off(schedules):
    s = schedules["prison"]
    clang = s.of("clang")
    assert len(clang) == 1
    (t, e), = in_stage(s, "door", clang)
    # the door closes from 6 s to 12 s of the door stage (door_closed reaches 1): one clang then
    assert t == pytest.approx(12.0, abs=TOL)
    assert e.pos == pytest.approx((99.1, 0.0, 1.3), abs=0.01)         # at the door (its key event)
    assert not e.loop and e.action == "play"
    (t_lock, lock), = in_stage(s, "door", s.of("lock"))
    assert t_lock == pytest.approx(16.0, abs=TOL) and lock.pos == e.pos     # "咔嚓一声，门锁上了"
    guard = [(t, g) for t, g in in_stage(s, "door", [x for x in s.events if x.voice != "steps:learner"])
             if g.name.startswith("footstep_")]
    # the guard (scenes/prison.py): walks out of the cell (0-6 s), slides the door shut (6-12 s) and
    # locks it (12-17 s) standing, then walks off down the corridor: steps before 6 s and after 17 s
    assert [t for t, _ in guard if 6.0 <= t <= 17.0] == []
    out, off = [g for t, g in guard if t < 6.0], [g for t, g in guard if t > 17.0]
    assert len(out) >= 2 and len(off) >= 5, "the guard's steps"
    dists = [math.dist(g.pos[:2], e.pos[:2]) for g in off]
    assert dists[-1] > dists[0] + 2.0                                  # walking away from the door
    assert all(g.pos[2] < 0.1 and not g.head for g in out + off)        # his feet, not the learner's


def test_prison_phone_rings_in_the_visiting_room_until_it_is_picked_up(schedules):
    s = schedules["prison"]
    ring = in_stage(s, "visiting", s.of("phone_ring"))
    assert [e.action for _, e in ring] == ["start", "stop"]
    (t0, start), (t1, _stop) = ring
    assert t0 == pytest.approx(4.0, abs=TOL) and start.loop
    # the scripted learner picks up after 9 s: the ringing stops with it
    assert 9.0 <= t1 <= 9.0 + 2 * DT
    assert start.pos == pytest.approx(soundscape.VISIT_HANDSET)


def test_learner_footsteps_only_while_walking_one_per_stride(schedules):
    s = schedules["prison"]
    steps = [e for e in s.events if e.voice == "steps:learner"]
    arrival = in_stage(s, "arrival", steps)
    # arrival: the learner looks around for 8 s, then walks from (0, 0.8) to within 0.3 m of the
    # footprints at (0, 4.5): 3.4 m, 4 strides of 0.7 m
    assert len(arrival) == 4 and all(t > 8.0 for t, _ in arrival)
    assert all(e.pos[2] < 0.1 for _, e in arrival)                     # on the floor, under the learner
    assert not in_stage(s, "regime", steps)                             # placed by cuts, never walking
    drunk = schedules["drunk"]
    car = [e for st in soundscape.CAR_STAGES for _, e in in_stage(drunk, st, drunk.events)]
    assert not [e for e in car if e.voice == "steps:learner"], "no footsteps while driving"


def test_engine_runs_from_start_to_crash_with_pitch_following_speed(schedules):
    s = schedules["drunk"]
    engine = s.of("engine")
    starts = [e for e in engine if e.action == "start"]
    stops = [e for e in engine if e.action == "stop"]
    assert len(starts) == 2 and len(stops) == 2                          # sober lap, drunk lap
    assert in_stage(s, "sober_lap", starts)[0][0] == pytest.approx(0.0, abs=DT)
    assert in_stage(s, "drinking", stops)[0][0] == pytest.approx(0.0, abs=DT)    # parked for the party
    crash_t = s.of("crash")[0].t
    assert stops[1].t == crash_t                                         # the engine dies in the crash
    # idle rpm at the start, higher as the car speeds up: rate = (800 + 120 rpm per m/s) / 1500
    assert starts[0].rate == pytest.approx(800 / 1500, abs=0.01)
    cruise = [e.rate for t, e in in_stage(s, "sober_lap", engine) if 8 < t < 20]     # before the first hazard
    assert cruise and min(cruise) > 1.3                                  # ~12 m/s: ~2,240 rpm
    rates = [e.rate for e in engine if e.action == "update" and e.t < starts[0].t + 4]
    assert rates == sorted(rates), "pitch rises while the car accelerates"


def test_crash_then_the_siren_approaches_and_stops_at_the_police_car(schedules):
    s = schedules["drunk"]
    (crash,) = s.of("crash")
    assert in_stage(s, "crash", [crash])[0][0] == pytest.approx(0.0, abs=DT)   # the hit ends the drunk lap
    assert crash.pos[1] == pytest.approx(1100.0, abs=2.0)               # at the child, ahead of the car
    siren = s.of("siren")
    assert siren[0].action == "start" and siren[0].t > crash.t
    t_start = in_stage(s, "crash", siren[:1])[0][0]
    assert t_start == pytest.approx(soundscape.SIREN_FROM, abs=TOL)
    ys = [e.pos[1] for e in siren if e.action in ("start", "update")]
    assert ys == sorted(ys) and ys[0] < soundscape.POLICE_CAR[1] - 200    # coming from behind
    (t_stop, stop), = in_stage(s, "police", [e for e in siren if e.action == "stop"])
    assert t_stop == pytest.approx(soundscape.SIREN_OFF_AT, abs=TOL)
    assert stop.pos == pytest.approx(soundscape.POLICE_CAR)


def test_no_crash_no_siren_for_a_sober_reaction():
    scene = registry.create("drunk", autopilot_reaction_s=0.2)
    s = soundscape.run(scene, dt=DT, until_stage="hospital")
    assert not scene.crashed
    assert not s.of("siren") and not s.of("crash")


def beats(s, stage):
    return [t for t, _ in in_stage(s, stage, s.of("heartbeat"))]


def test_heartbeat_in_withdrawal_and_faster_as_the_relapse_craving_rises(schedules):
    s = schedules["rehab"]
    w = beats(s, "withdrawal")
    # full withdrawal (craving 1): 60 + 80 = 140 beats a minute until the call for help
    gaps = np.diff(w)
    assert np.mean(gaps) == pytest.approx(60 / 140, abs=DT)
    assert len(w) == pytest.approx(45.0 / (60 / 140), abs=3)
    r = np.array(beats(s, "relapse"))
    def rate(lo, hi):
        return 60 / np.mean(np.diff(r[(r >= lo) & (r < hi)]))

    # relapse: craving 0.6 -> 0.9 over the first 9 s (108 -> 132 a minute) ...
    assert rate(0, 3) == pytest.approx(112, abs=8)
    assert rate(6, 9) > rate(0, 3) + 10
    # ... the overdose slows the heart to ~44 a minute by the ambulance (40 s)
    assert rate(36, 40) < 60
    assert not beats(s, "intake") and not beats(s, "routine")
    assert all(e.head for e in s.of("heartbeat"))                        # the learner's own, in the head


def test_rehab_ringback_after_the_call_and_the_ambulance_siren(schedules):
    s = schedules["rehab"]
    ring = s.of("ringback")
    assert ring[0].action == "start"
    assert in_stage(s, "withdrawal", ring[:1])[0][0] == pytest.approx(44.0, abs=2 * TOL)    # called after 44 s
    (t, siren), = in_stage(s, "relapse", s.of("siren", "start"))
    assert t == pytest.approx(40.0, abs=TOL) and siren.pos == pytest.approx((0.0, 0.2, 1.5))


def test_speech_follows_the_subtitles_narrator_at_the_head_characters_where_they_stand(schedules):
    s = schedules["prison"]
    lines = in_stage(s, "door", s.of("speech"))
    assert [round(t) for t, _ in lines] == [0, 6, 16, 28]               # the door stage's four cues
    assert all(e.head and not e.speaker for _, e in lines)
    for scene_key, sched in schedules.items():
        for e in sched.of("speech"):
            assert e.text and not e.text.startswith("你：")             # the learner's own answer is not voiced
            if e.speaker:
                assert not e.head and e.pos[2] > 0.2, (scene_key, e)     # from the speaking character


def test_every_scheduled_sound_exists_and_no_gain_exceeds_one(schedules):
    for s in schedules.values():
        for e in s.events:
            assert e.name == "speech" or e.name in synth.CLIPS
            assert 0.0 <= e.gain <= 1.0
            assert e.loop == (e.name in synth.LOOPS)


def test_mixer_caps_every_cue_and_logs_nothing_when_sound_is_off():
    assert mixer.effective_gain(1.0, 5.0) == mixer.VOLUME_CAP
    assert mixer.effective_gain(0.5, 1.0) == pytest.approx(0.5 * mixer.VOLUME_CAP)
    scene = registry.create("prison")
    off = mixer.Mixer(scene, enabled=False)
    core.fast_forward(scene, until_stage="door", until_t=20)
    assert off.update() == []
    assert [e.action for e in off.log] == ["off"] and "nothing loaded" in off.log[0].note
    assert off.soundscape is None and not hasattr(off, "clips")


def test_the_schedule_and_the_synth_are_pure(imported_packages):
    """DESIGN.md: logic without Panda3D, tested alone (the mixer imports Panda3D only when it plays)."""
    imported = imported_packages("import vr_scenes.soundscape, vr_scenes.synth, vr_scenes.speech, vr_scenes.mixer")
    assert not imported & {"panda3d", "direct", "webapp", "streaming", "pypinyin"}


def test_station_sound_setting_and_cli_flag():
    from vr_scenes.station.cli import parse_args
    from vr_scenes.station.session import StationConfig

    assert StationConfig("https://p", "t").sound is True
    assert parse_args([]).sound is True
    assert parse_args(["--no-sound"]).sound is False


# --- the synthesized clips --------------------------------------------------------------------------------
def spectrum_peaks(x: np.ndarray, rate: int, lo: float = 20.0, hi: float = 5000.0, n: int = 3) -> list[float]:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = (freqs >= lo) & (freqs <= hi)
    order = np.argsort(spec[band])[::-1]
    peaks: list[float] = []
    for i in order:
        f = float(freqs[band][i])
        if all(abs(f - p) > 15 for p in peaks):
            peaks.append(f)
        if len(peaks) == n:
            break
    return peaks


@pytest.mark.parametrize("name, seconds, fundamental", [
    ("clang", 2.5, 110.0), ("engine", 2.0, 50.0), ("ringback", 5.0, 450.0), ("siren", 2.0, 880.0),
    ("heartbeat", 0.6, (45.0, 65.0)),            # lub (S1) and dub (S2), the two strongest
    ("crash", 2.5, None),                        # below: impacts and noise
    ("footstep_0", 0.3, None), ("lock", 0.4, None), ("phone_ring", 5.0, None),
])
def test_synth_clip_is_audible_unclipped_of_its_length_and_pitch(tmp_path, name, seconds, fundamental):
    x, rate = synth.read_wav(synth.clip_path(name, str(tmp_path)))
    assert rate == synth.RATE
    assert len(x) / rate == pytest.approx(seconds, abs=0.01)
    peak = float(np.max(np.abs(x)))
    assert peak == pytest.approx(synth.PEAK, abs=0.01)                   # normalised, never clipping
    assert float(np.sqrt(np.mean(x ** 2))) > 0.02                         # not silent
    if isinstance(fundamental, tuple):
        peaks = spectrum_peaks(x, rate, n=len(fundamental))
        assert sorted(peaks) == pytest.approx(sorted(fundamental), abs=3.0)
    elif fundamental:
        assert spectrum_peaks(x, rate, n=1)[0] == pytest.approx(fundamental, abs=3.0)


def test_synth_siren_is_two_tone_the_crash_broadband_and_loops_seamless(tmp_path):
    x, rate = synth.read_wav(synth.clip_path("siren", str(tmp_path)))
    peaks = spectrum_peaks(x, rate, 300, 1200, n=2)
    assert sorted(round(p, -1) for p in peaks) == [650.0, 880.0]
    half = int(0.5 * rate)
    assert spectrum_peaks(x[:half], rate, 300, 1200, n=1)[0] == pytest.approx(880, abs=5)   # hi first
    assert spectrum_peaks(x[half:2 * half], rate, 300, 1200, n=1)[0] == pytest.approx(650, abs=5)
    for name in ("engine", "siren"):
        y, _ = synth.read_wav(synth.clip_path(name, str(tmp_path)))
        step = np.max(np.abs(np.diff(y)))
        assert abs(y[0] - y[-1]) <= 1.5 * step, f"{name}: the loop's ends do not meet"
    crash, _ = synth.read_wav(synth.clip_path("crash", str(tmp_path)))
    assert 50 <= spectrum_peaks(crash, rate, 20, 200, n=1)[0] <= 80         # the heavy impacts
    spec = np.abs(np.fft.rfft(crash)) ** 2
    freqs = np.fft.rfftfreq(len(crash), 1 / rate)
    assert spec[freqs > 2000].sum() > 0.05 * spec.sum()                    # broadband crumple and glass
    ring, _ = synth.read_wav(synth.clip_path("phone_ring", str(tmp_path)))
    on, off = ring[: rate], ring[int(1.1 * rate):]
    assert np.sqrt(np.mean(on ** 2)) > 0.1 and np.max(np.abs(off)) < 1e-3    # 1 s on, 4 s off


def test_synth_is_deterministic_and_cached(tmp_path):
    a = synth.clip_path("crash", str(tmp_path / "a"))
    b = synth.clip_path("crash", str(tmp_path / "b"))
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read() == fb.read()
    mtime = os.stat(a).st_mtime_ns
    assert synth.clip_path("crash", str(tmp_path / "a")) == a and os.stat(a).st_mtime_ns == mtime


# --- spoken Chinese -------------------------------------------------------------------------------------
def require_espeak() -> None:
    if not shutil.which("espeak-ng"):
        pytest.fail("needs espeak-ng: scripts/install-system-deps.sh installs it")


def test_speech_is_mandarin_throughout_and_of_a_speakable_length(tmp_path):
    from vr_scenes import speech

    require_espeak()

    assert speech.status() == (True, "")
    assert speech.to_pinyin("你好。民警：“0417！”") == "ni3 hao3. min2 jing3, 0417!"
    lines = ["你被押送到监狱。从这一刻起，你失去了自由。", "咔嚓一声，门锁上了。这声音，你要听很多年。"]
    for line in lines:
        assert "(en)" not in speech.phonemes(line)          # every syllable read as Mandarin
        x, rate = synth.read_wav(speech.render(line, str(tmp_path)))
        chars = sum(1 for c in line if "\u4e00" <= c <= "\u9fff")
        assert 0.15 <= len(x) / rate / chars <= 0.5         # seconds per syllable: a slow, clear pace
        assert np.sqrt(np.mean(x ** 2)) > 0.02
    # the reason for the pinyin step: Debian's 1.51 cmn voice reads tone digits in English ("ni three")
    raw = subprocess.run(["espeak-ng", "-v", "cmn", "-q", "-x", lines[0]], capture_output=True, text=True,
                         check=True).stdout
    assert "(en)" in raw


# --- the real OpenAL path ----------------------------------------------------------------------------------
PROBE = r"""
import json, sys, time
from panda3d.core import AudioManager, NodePath, load_prc_file_data
load_prc_file_data("", "audio-library-name p3openal_audio")
from vr_scenes import core, mixer, registry
scene = registry.create("prison")
core.fast_forward(scene, dt=1 / 30, until_stage="door", until_t=11.5)
manager = AudioManager.create_AudioManager()
root = NodePath("root"); head = root.attach_new_node("head")
m = mixer.Mixer(scene, root, head, manager=manager, cache_dir=sys.argv[1], speech=False, master=3.0)
b = scene.body
for i in range(int(1.2 * 30)):                  # the door shuts at 12 s, real time
    scene.step(1 / 30, scene.autopilot())
    head.set_pos(b.x, b.y, b.eye); head.set_hpr(b.gaze_h, b.pitch, 0)
    m.update(); time.sleep(1 / 30)
clang_at = time.monotonic()
time.sleep(0.9)
# then a test tone of our own: the clang 3 m to the listener's left, then 3 m to the right
head.set_pos(0, 0, 1.6); head.set_hpr(0, 0, 0)
for side, x in (("left", -3.0), ("right", 3.0)):
    e = mixer.SoundEvent(scene.clock.now(), "play", "clang", side, (x, 0.0, 1.6), False, 1.0)
    m._apply(e); m._follow(); time.sleep(0.6)
# two spoken lines in a row: the second waits for the first to end instead of cutting it off
for text in ("好。", "走吧。"):
    m._say(mixer.SoundEvent(scene.clock.now(), "play", "speech", "speech", (0, 0, 1.6), False, 1.0,
                            head=True, text=text), 0.5)
for i in range(60):
    scene.step(1 / 30, scene.autopilot()); m.update(); time.sleep(1 / 30)
m.close(); manager.shutdown()
print(json.dumps({"valid": manager.is_valid(), "log": [[e.t, e.action, e.name, e.pos, e.gain, e.note] for e in m.log]}))
"""


def read_float_wav(path: str) -> tuple[np.ndarray, int]:
    """OpenAL Soft's wave writer: WAVE_FORMAT_EXTENSIBLE, float32, stereo (the data size may be unset)."""
    with open(path, "rb") as fh:
        data = fh.read()
    i, fmt = 12, None
    while i < len(data) - 8:
        cid, n = data[i:i + 4], struct.unpack("<I", data[i + 4:i + 8])[0]
        if cid == b"fmt ":
            _tag, ch, rate, _br, _al, bits = struct.unpack("<HHIIHH", data[i + 8:i + 24])
            fmt = (ch, rate, bits)
        if cid == b"data":
            ch, rate, bits = fmt
            body = data[i + 8:]
            frames = len(body) // (4 * ch)
            return np.frombuffer(body[:frames * 4 * ch], "<f4").reshape(-1, ch), rate
        i += 8 + n + (n & 1)
    raise ValueError("no data chunk")


def test_mixer_plays_through_openal_positioned_and_capped(tmp_path):
    require_espeak()
    out = tmp_path / "openal.wav"
    conf = tmp_path / "alsoft.conf"
    conf.write_text(f"[general]\nfrequency=22050\n[wave]\nfile={out}\n")
    env = {**os.environ, "ALSOFT_DRIVERS": "wave", "ALSOFT_CONF": str(conf), "PYTHONPATH": ROOT}
    run = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "cache")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    log = report["log"]
    clang = [entry for entry in log if entry[2] == "clang"]
    assert clang[0][1] == "play" and clang[0][3] == pytest.approx([99.1, 0.0, 1.3], abs=0.01)
    assert all(entry[4] <= mixer.VOLUME_CAP for entry in log)          # master 3.0 asked, capped
    assert clang[0][4] == mixer.VOLUME_CAP
    said = [entry for entry in log if entry[2] == "speech"]
    assert [entry[5][:5] for entry in said] == ["旁白：好。", "旁白：走吧"]
    assert said[1][0] > said[0][0] + 0.2 and "晚" in said[1][5]            # after the first, not over it
    x, rate = read_float_wav(str(out))
    assert x.shape[1] == 2 and np.max(np.abs(x)) > 0.05                  # OpenAL mixed it: sound came out
    assert np.max(np.abs(x)) <= 1.0
    loud = np.nonzero(np.max(np.abs(x), axis=1) > 0.02)[0]
    # the door's clang: its 110 Hz partial in the output
    first = x[loud[0]: loud[0] + int(0.8 * rate)].mean(axis=1)
    assert spectrum_peaks(first, rate, 60, 400, n=1)[0] == pytest.approx(110, abs=5)
    # the last two clangs, 3 m left then 3 m right of the listener: OpenAL pans them (50 ms frames)
    w = int(0.05 * rate)
    frames = x[: len(x) // w * w].reshape(-1, w, 2)
    level = np.sqrt(np.mean(frames ** 2, axis=1))                          # (frame, channel)
    left = np.nonzero(level[:, 0] > 3 * level[:, 1] + 0.02)[0]
    right = np.nonzero(level[:, 1] > 1.5 * level[:, 0] + 0.02)[0]     # over the left one's ringing
    assert len(left) >= 3 and len(right) >= 3
    assert left[0] < right[0]


VIEWER_PROBE = r"""
import json
from vr_scenes import core, registry, view
view.configure((160, 90), backend="tiny", offscreen=True, sound=True)
scene = registry.create("prison")
core.fast_forward(scene, dt=1 / 30, until_stage="door", until_t=11.5)
viewer = view.Viewer(scene)
for i in range(60):
    viewer.update(1 / 30, scene.autopilot())
viewer.render()
m = viewer.mixer
active = m.active
viewer.close()
log = [[e.action, e.name, e.pos, e.gain, e.note] for e in m.log]
print(json.dumps({"active": active, "closed": not m.active, "speech": m.speech, "log": log}, ensure_ascii=False))
"""


def test_viewer_with_sound_on_plays_the_schedule_through_showbase_openal(tmp_path):
    """view.configure(sound=True) selects OpenAL; the Viewer's mixer uses ShowBase's manager and the
    head as the listener (OpenAL Soft's null driver: a device that plays nowhere)."""
    require_espeak()
    env = {**os.environ, "ALSOFT_DRIVERS": "null", "VR_SOUND_CACHE": str(tmp_path), "PYTHONPATH": ROOT}
    run = subprocess.run([sys.executable, "-c", VIEWER_PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["active"] and report["closed"]
    log = report["log"]
    assert ["play", "clang", [99.1, 0.0, 1.3], mixer.VOLUME_CAP, ""] in log
    assert all(entry[3] <= mixer.VOLUME_CAP for entry in log)
    assert report["speech"]
    spoken = [entry for entry in log if entry[1] == "speech"]
    assert spoken and spoken[0][4] == "旁白：身后的铁门缓缓关上。"            # the door stage's cue at 6 s
    assert any(name.startswith("speech-") for name in os.listdir(tmp_path))


def test_no_audio_device_falls_back_to_silence_with_one_line(tmp_path):
    code = ("import json\nfrom panda3d.core import AudioManager, load_prc_file_data\n"
            "load_prc_file_data('', 'audio-library-name p3openal_audio')\n"
            "from vr_scenes import mixer, registry\n"
            "m = mixer.Mixer(registry.create('rehab'), manager=AudioManager.create_AudioManager())\n"
            "m.update()\nprint(json.dumps([[e.action, e.note] for e in m.log]))\n")
    env = {**os.environ, "ALSOFT_DRIVERS": "nosuchdriver", "PYTHONPATH": ROOT}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    log = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(log) == 1 and log[0][0] == "no-device"
    assert "OpenAL could not open an audio device" in log[0][1]
    assert run.stderr.count("sound off:") == 1
