"""The two sides of `python -m bench.proctoring`, each run in its own process.

* `server_main`: one `webapp.proctor.check_runner.CheckRunner` (mode "full": engine + analysis + the
  sittings' check state machines, the frozen/looped feed detector on) or a bare
  `streaming.rtc.MediaEngine` whose samples are only converted to RGB and counted (mode "engine":
  the baseline without analysis), with a sink that records every verdict, hold and flag and sends
  each liveness challenge to the client process that owns the stream (a pipe per client
  process). A thread plays the held learners asking for a re-check. Nothing else runs in this
  process, so its CPU time (/proc/<pid>/stat) is the server's alone.
* `client_main`: many aiortc client peers on one asyncio loop. For bench.proctoring each sends
  footage made once by `make_footage` (a live-looking learner, as long as the run, and clips of
  each head action) through a `ChallengeTrack`, which follows the challenges of its stream; for
  bench.conference every peer replays the 3 s clip of `make_clip`. Either way each peer only
  packetizes and encrypts.

Both answer requests from the orchestrator over a multiprocessing pipe: (command, *args) in,
("ok", value) or ("err", traceback) out.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import traceback
from collections import deque

CLK = os.sysconf("SC_CLK_TCK")
SIZE = (320, 240)
# Holds a learner lifts by asking to be verified again (a re-check with a challenge);
# "absent"/"no_face" lift themselves when the face is back, "review" needs an officer.
RECHECKABLE = ("liveness", "identity", "feed", "question")
RECHECK_AFTER_S = 3.0    # a held learner reads the message and presses the button


def _serve(conn, handlers: dict) -> None:
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        command, args = msg[0], msg[1:]
        if command == "quit":
            try:
                handlers["quit"]()
            finally:
                conn.send(("ok", None))
            return
        try:
            conn.send(("ok", handlers[command](*args)))
        except Exception:  # noqa: BLE001 - reported to the orchestrator, which stops the run
            conn.send(("err", traceback.format_exc()))


def _quiet_logs() -> None:
    logging.basicConfig(level=logging.ERROR)
    # aiortc logs every undecodable frame (e.g. after a lost packet); those are counted by
    # frames_ok instead of flooding stderr.
    logging.getLogger("aiortc").setLevel(logging.CRITICAL)


# ------------------------------------------------------------------------------- the server
class Tally(deque):
    """A deque (what CheckRunner.cpu_ms holds) that also keeps every value it is given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.all: list[float] = []

    def append(self, value):
        self.all.append(value)
        super().append(value)


def _thread_group(name: str | None) -> str:
    if name is None:
        return "native"            # threads the C libraries started (tflite/XNNPACK, dlib, libvpx)
    if name.startswith("rtc-loop"):
        return "loop"              # aiortc's asyncio loop: ICE, DTLS, SRTP, RTP parsing, jitter buffer
    if name.startswith("video-decoder"):
        return "decode"            # aiortc's decoder thread per stream (libvpx)
    if name.startswith("rtc-sample"):
        return "workers"           # the sample pool: RGB conversion + analysis + check state + sink
    if name.startswith("proctor-ticker"):
        return "ticker"
    if name == "bench-learners":
        return "bench"             # the bench's held learners asking for a re-check (not the server's)
    if name == "MainThread":
        return "main"              # the pipe to the orchestrator (signalling)
    return "other"


def _thread_cpu() -> dict[int, tuple[str, float, float]]:
    """Per thread: (group, CPU seconds, seconds spent runnable but waiting for a core)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for entry in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/self/task/{entry}/schedstat") as fh:
                waited = int(fh.read().split()[1]) / 1e9
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        tid = int(entry)
        out[tid] = (_thread_group(names.get(tid)), (int(fields[11]) + int(fields[12])) / CLK, waited)
    return out


def _gil_block_ms(work, calls: int = 3) -> float:
    """The longest a pure-Python thread waited while `work` ran `calls` times in this thread: how
    long one call keeps every other Python thread (the event loop among them) from running."""
    gaps = []
    done = threading.Event()

    def spin():
        last = time.perf_counter()
        worst = 0.0
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now
        gaps.append(worst)
    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.05)
    for _ in range(calls):
        work()
    done.set()
    thread.join()
    return gaps[0] * 1000


def server_main(conn, opts: dict) -> None:
    from bench.proctoring_policy import pin_self
    pin_self(opts.get("cores"))     # before any thread: the whole process (and its identity worker)
    if opts.get("nice"):
        # Before any thread exists: every thread of the server inherits it.
        os.setpriority(os.PRIO_PROCESS, 0, opts["nice"])
    _quiet_logs()
    from proctoring.enrolment import assess
    from proctoring.feed import FeedPolicy
    from proctoring.sample_faces import scene
    from proctoring.sitting import Challenge, Hold, Release, Verdict
    from proctoring.vision import IDENTITY_THRESHOLD, thread_analyzer
    from streaming.rtc import MediaEngine
    from webapp.config import from_env
    from webapp.proctor.check_runner import CheckRunner
    from webapp.proctor.hub import check_policy, rtc_config

    overrides = {"INSTANCE_DIR": opts["instance_dir"], "SECRET_KEY": "bench-proctoring-secret",
                 "ICE_SERVERS": "[]"}    # host candidates only: nothing may leave the namespace
    overrides.update(opts.get("config", {}))
    cfg = from_env(**overrides)
    policy = check_policy(cfg)
    rtc = rtc_config(cfg)
    from dataclasses import replace
    rtc = replace(rtc, ice_servers=[], max_streams=max(rtc.max_streams, opts["max_streams"]))

    analyzer = thread_analyzer()
    reference = assess(scene("astronaut", (640, 480)), analyzer).embedding
    if reference is None:
        raise RuntimeError("no reference embedding from the enrolment photo")
    threshold = cfg["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD
    # Identity analysis alone, on an otherwise idle server (still a shared machine).
    probe = scene("astronaut", SIZE, seed=5)
    idle_ms = []
    for _ in range(6):
        started = time.thread_time()
        result = analyzer.identity(probe, [reference], threshold)
        idle_ms.append((time.thread_time() - started) * 1000)
    assert result.verdict is not None and result.verdict.passed, result
    gil_ms = {"identity": _gil_block_ms(lambda: analyzer.identity(probe, [reference], threshold)),
              "presence": _gil_block_ms(lambda: analyzer.presence_scores(probe)),
              "pose": _gil_block_ms(lambda: analyzer.pose(probe))}

    lock = threading.Lock()
    verdicts: list[dict] = []
    challenges: list[dict] = []
    lags: list[float] = []
    per_stream: dict[str, int] = {}
    first_sample: dict[str, float] = {}
    counters = {"holds": {}, "flags": {}, "rechecks": 0, "challenge_send_errors": 0}
    # How long after a client began showing an action the server's samples first show it: the
    # camera-to-analysis latency a challenge has to fit in (sid -> the challenge under way).
    watching: dict[str, dict] = {}
    action_seen: list[tuple[float, float]] = []     # (when, seconds)
    seen_identity: set[str] = set()
    # Each client process's pipe for the challenges of its streams, and which one owns a stream.
    to_clients = [(c, threading.Lock()) for c in opts.get("challenges", [])]
    owner: dict[str, int] = {}
    # Held sittings whose learner will ask to be verified again (the player's button), and when.
    recheck_due: dict[str, float] = {}

    def tell_client(sid, challenge):
        if sid not in owner:
            return
        pipe, pipe_lock = to_clients[owner[sid]]
        starts = list(challenge.step_starts or (challenge.starts_at,))
        try:
            with pipe_lock:
                pipe.send((sid, [a.value for a in challenge.actions], starts))
        except (OSError, ValueError):
            counters["challenge_send_errors"] += 1

    def sink(sitting, actions, frame):
        now = time.time()
        with lock:
            for action in actions:
                kind = type(action).__name__
                if isinstance(action, Verdict):
                    first = action.kind == "identity" and sitting.id not in seen_identity
                    if action.kind == "identity":
                        seen_identity.add(sitting.id)
                    verdicts.append({"sid": sitting.id, "kind": action.kind, "triggered_at": action.triggered_at,
                                     "at": action.at, "sink_at": now, "passed": action.passed,
                                     "reason": action.reason, "first": first})
                elif isinstance(action, Challenge):
                    challenges.append({"sid": sitting.id, "sink_at": now, "starts_at": action.starts_at,
                                       "actions": [a.value for a in action.actions]})
                    watching[sitting.id] = {"actions": [a.value for a in action.actions],
                                            "starts": list(action.step_starts or (action.starts_at,)),
                                            "seen": set(), "count": 0}
                elif isinstance(action, Hold):
                    counters["holds"][action.reason] = counters["holds"].get(action.reason, 0) + 1
                    if action.reason in RECHECKABLE:
                        recheck_due[sitting.id] = now + RECHECK_AFTER_S
                    else:
                        recheck_due.pop(sitting.id, None)
                elif isinstance(action, Release):
                    recheck_due.pop(sitting.id, None)
                elif kind == "Flag":
                    counters["flags"][action.kind] = counters["flags"].get(action.kind, 0) + 1
        # The learner in front of the camera is told (the player shows the challenge).
        for action in actions:
            if isinstance(action, Challenge):
                tell_client(sitting.id, action)

    def count(stream_id, at):
        done = time.time()
        with lock:
            per_stream[stream_id] = per_stream.get(stream_id, 0) + 1
            first_sample.setdefault(stream_id, at)
            lags.append(done - at)

    if opts["mode"] == "full":
        # Frozen/looped feed detection as production runs it (FEED_CHECK, on by default).
        feed = FeedPolicy() if cfg["FEED_CHECK"] else None
        # as webapp.proctor.hub.runner builds it (the media worker's runner)
        runner = CheckRunner(rtc, policy, cfg["SECRET_KEY"].encode(), sink, threshold=threshold, feed=feed,
                             identity_processes=cfg["IDENTITY_PROCESSES"])
        for key in list(runner.cpu_ms):
            runner.cpu_ms[key] = Tally(maxlen=2000)
        engine = runner.engine
        analyse = runner._on_sample

        window_s, turn_deg, nod_deg = policy.liveness.window_s, policy.liveness.turn_deg, policy.liveness.nod_deg

        def watch(stream_id):
            """The challenge's pose samples so far (read from the sitting's check state, the bench's
            only look inside it): the first that shows each step's action."""
            sitting = runner._sittings.get(stream_id)
            check = getattr(getattr(sitting, "checks", None), "check", None)
            poses = getattr(check, "poses", None)
            if not poses:
                return
            with lock:
                ch = watching.get(stream_id)
                if ch is None:
                    return
                new, ch["count"] = poses[ch["count"]:], len(poses)
                for p in new:
                    for k, (action, start) in enumerate(zip(ch["actions"], ch["starts"], strict=True)):
                        if k in ch["seen"] or not start <= p.at <= start + window_s:
                            continue
                        head_poses = [q for q in poses if start <= q.at < start + SHOW_AFTER_S]
                        head = sorted(q.pitch_deg for q in head_poses)
                        pitch0 = head[len(head) // 2] if head else -10.0
                        mouths = sorted(q.mouth_open for q in head_poses)
                        mouth0 = mouths[len(mouths) // 2] if mouths else 0.0
                        shown = {"turn_left": p.yaw_deg >= turn_deg, "turn_right": -p.yaw_deg >= turn_deg,
                                 "look_up": p.pitch_deg - pitch0 >= nod_deg,
                                 "look_down": pitch0 - p.pitch_deg >= nod_deg,
                                 "open_mouth": p.mouth_open - mouth0 >= 0.12}.get(action, False)
                        if shown:
                            ch["seen"].add(k)
                            action_seen.append((p.at, p.at - (start + SHOW_AFTER_S)))

        def on_sample(stream_id, at, rgb):
            analyse(stream_id, at, rgb)
            count(stream_id, at)
            if stream_id in watching:
                try:
                    watch(stream_id)
                except (AttributeError, TypeError):    # the check state changed shape: not measured
                    watching.clear()
        engine.on_sample = on_sample
        runner.start()
        # Every sample worker and the identity process load their models once (seconds); the
        # portal does the same at start-up, so it is done here, before any stream.
        runner.warm()

        def open_(sid, offer, client=0):
            owner[sid] = client
            return runner.open(sid, 1, [reference], offer)

        def learners():
            """A held learner asks to be verified again (the player's button) a few seconds
            after the hold, and again while a back-off makes the server refuse."""
            while not stopping.wait(0.5):
                now = time.time()
                with lock:
                    due = [sid for sid, at in recheck_due.items() if at <= now]
                for sid in due:
                    hold = runner.hold(sid)
                    if hold not in RECHECKABLE:
                        with lock:
                            recheck_due.pop(sid, None)
                        continue
                    if runner.recheck_wait(sid) > 0:
                        continue
                    runner.recheck(sid)
                    with lock:
                        counters["rechecks"] += 1
                        recheck_due.pop(sid, None)     # a new Hold (a failed re-check) asks again
        stopping = threading.Event()
        threading.Thread(target=learners, name="bench-learners", daemon=True).start()

        def stop():
            stopping.set()
            runner.shutdown()
    else:
        def on_sample(stream_id, at, rgb):   # the engine already converted the sample to RGB
            count(stream_id, at)
        engine = MediaEngine(rtc, on_sample).start()
        runner = None

        def open_(sid, offer, client=0):
            return engine.open_ingest(sid, offer)
        stop = engine.shutdown

    cursor = {"verdicts": 0, "challenges": 0, "lags": 0, "seen": 0}

    def snapshot():
        stats = engine.stats()
        with lock:
            new_verdicts = verdicts[cursor["verdicts"]:]
            new_challenges = challenges[cursor["challenges"]:]
            new_lags = lags[cursor["lags"]:]
            new_seen = action_seen[cursor["seen"]:]
            cursor["verdicts"], cursor["challenges"], cursor["lags"] = len(verdicts), len(challenges), len(lags)
            cursor["seen"] = len(action_seen)
            out = {"at": time.time(), "verdicts": new_verdicts, "challenges": new_challenges, "lags": new_lags,
                   "action_seen": new_seen,
                   "per_stream": dict(per_stream), "first_sample": dict(first_sample),
                   "holds": dict(counters["holds"]), "flags": dict(counters["flags"]),
                   "rechecks": counters["rechecks"], "challenge_send_errors": counters["challenge_send_errors"],
                   "held": {}}
        if runner is not None:      # the sittings held right now, by reason
            for sid in list(owner):
                hold = runner.hold(sid)
                if hold not in (None, "no_camera"):
                    out["held"][hold] = out["held"].get(hold, 0) + 1
        out["threads"] = _thread_cpu()
        out["engine"] = {k: v for k, v in stats.items() if k != "per_stream"}
        out["states"] = {}
        for s in stats["per_stream"]:
            out["states"][s["state"]] = out["states"].get(s["state"], 0) + 1
        # Thread CPU of each analysis: (count, total ms) per kind, and every identity check.
        out["analysis"] = {kind: (len(t.all), sum(t.all)) for kind, t in runner.cpu_ms.items()} if runner else {}
        out["identity_ms"] = list(runner.cpu_ms["identity"].all) if runner else []
        return out

    def info():
        return {"policy": repr(policy), "rtc": repr(rtc), "identity_ms_idle": idle_ms, "gil_block_ms": gil_ms,
                "threshold": threshold, "pid": os.getpid(),
                "sample_fps": rtc.sample_fps, "burst_fps": rtc.burst_fps, "workers": rtc.workers,
                "queue_limit": rtc.queue_limit, "max_streams": rtc.max_streams,
                "identity_mean_s": policy.identity.mean_s, "identity_min_s": policy.identity.min_s,
                "liveness_share": policy.identity.liveness_share,
                "liveness_actions": [str(getattr(a, "value", a)) for a in policy.liveness.actions],
                "liveness_window_s": policy.liveness.window_s, "challenge_lead_s": policy.challenge_lead_s,
                "liveness_max_lead_s": policy.liveness.max_lead_s,
                "feed_check": opts["mode"] == "full" and runner.feed_policy is not None,
                "recheck_backoff_s": policy.recheck_backoff_s, "block_after": policy.block_after}

    conn.send(("ok", "ready"))
    _serve(conn, {"open": open_, "snapshot": snapshot, "info": info, "quit": stop})


# ------------------------------------------------------------------------------- the footage
# A live learner in front of the camera, as proctoring/feed.py describes one (its "typical still
# learner"): fresh sensor noise every frame, breathing, a slow postural drift (a bounded random
# walk) and a little exposure flicker, none of it periodic. The neutral footage is as long as
# the run, so no stream's picture ever repeats; the actions are the enrolled photo's head
# re-rendered turned or nodding (proctoring.sample_faces.turn/nod, the angles the integration
# tests use), with the same live noise. All of it is encoded to VP8 once, before any stream.
ACTIONS = {"turn_left": ("turn", 40.0), "turn_right": ("turn", -40.0),
           "look_up": ("nod", 35.0), "look_down": ("nod", -30.0), "open_mouth": ("open_mouth", 0.2)}
NOISE = 1.5              # sensor noise sigma, grey levels
BREATH_PX = 0.5          # breathing amplitude; each breath 3.5-5 s
DRIFT_PX = 0.05          # postural random walk per 1/15 s ...
DRIFT_MAX_PX = 2.0       # ... bounded
FLICKER = 0.003          # exposure jitter (share)
KEYFRAME_EVERY_S = 2.0   # neutral keyframes: where a peer comes back after an action
ACTION_CLIP_S = 2.0      # each action clip (a peer shows it for SHOW_FOR_S)
ACTION_VARIANTS = 3      # clips per action, each with its own noise and drift
SHOW_AFTER_S = 0.8       # into each step's window, the client turns or nods ...
SHOW_FOR_S = 1.2         # ... for this long, then looks back at the screen (as the tests do)
WARMUP_FRAMES = 6        # frames encoded and dropped before each clip: the encoder's rate
                         # control settles, so the first keyframe is not a blur

_bank: dict = {}


def _pose_bank(actions: bool) -> dict:
    """The enrolled learner in the room, per worker process, as layers to composite: the room,
    the learner's mask, and the learner premultiplied by it (neutral, and with `actions` each
    action); and a pool of sensor noise to draw each frame's from."""
    import cv2
    import numpy as np

    from proctoring import sample_faces as sf

    if "room" not in _bank:
        base = sf.scene(sf.ENROLLED, SIZE, seed=0)
        room = sf.room(SIZE, 0).astype(np.float32)
        mask = (np.abs(base.astype(np.float32) - room).max(axis=2) > 0).astype(np.float32)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.7)
        noise = np.rint(np.random.default_rng(7).normal(0, NOISE, (1 << 20) + SIZE[0] * SIZE[1]))
        _bank.update(room=room, mask=mask, base=base, neutral=base.astype(np.float32) * mask[..., None],
                     noise_up=np.clip(noise, 0, 255).astype(np.uint8),
                     noise_down=np.clip(-noise, 0, 255).astype(np.uint8))
    if actions and "turn_left" not in _bank:
        for name, (how, degrees) in ACTIONS.items():
            render = getattr(sf, how)(_bank["base"], degrees).astype(np.float32)
            _bank[name] = render * _bank["mask"][..., None]
    return _bank


def trajectory(frames: int, fps: float, seed: int):
    """(dx, dy, gain) per frame: breathing, drift and flicker of one continuous stretch of life."""
    import math

    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.zeros((frames, 3), np.float32)
    dt, pos, breath = 1.0 / fps, np.zeros(2), rng.uniform(0, 2 * math.pi)
    for i in range(frames):
        breath += 2 * math.pi * dt / rng.uniform(3.5, 5.0)
        pos = np.clip(pos + rng.normal(0, DRIFT_PX * math.sqrt(15 * dt), 2), -DRIFT_MAX_PX, DRIFT_MAX_PX)
        out[i] = (pos[0], pos[1] + BREATH_PX * math.sin(breath), 1 + FLICKER * rng.normal())
    return out


def _render(bank: dict, pose: str, dx: float, dy: float, gain: float, rng):
    """One camera frame as I420 (what the encoder takes): the learner moved by (dx, dy) over the
    room, the exposure times `gain`, fresh sensor noise on the luma (~1-2 ms)."""
    import cv2
    import numpy as np

    m = np.float32([[1, 0, dx], [0, 1, dy]])
    person = cv2.warpAffine(bank[pose], m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.warpAffine(bank["mask"], m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    img = person + bank["room"] * (1 - alpha)[..., None]
    yuv = cv2.cvtColor(cv2.convertScaleAbs(img, alpha=gain), cv2.COLOR_RGB2YUV_I420)
    w, h = SIZE
    at = int(rng.integers(0, len(bank["noise_up"]) - w * h))
    luma = yuv[:h]
    cv2.add(luma, bank["noise_up"][at:at + w * h].reshape(h, w), dst=luma)
    cv2.subtract(luma, bank["noise_down"][at:at + w * h].reshape(h, w), dst=luma)
    return yuv


def _encode_job(job: dict) -> list[list[bytes]]:
    """Render and encode stretches of footage (one pool job): each of `job["clips"]` is
    (poses, path): a pose name per frame (neutral or an action) and (dx, dy, gain) per frame, the
    first `warmup` frames encoded and dropped (the encoder's rate control settles, so the first
    keyframe is not a blur), then a keyframe every `keyframe_every` frames."""
    import fractions

    import av
    import cv2
    import numpy as np

    cv2.setNumThreads(1)     # one job per core: OpenCV's own thread pool only adds contention
    bank = _pose_bank(any(p != "neutral" for poses, _ in job["clips"] for p in poses))
    rng = np.random.default_rng(job["seed"])
    warmup, every = job["warmup"], job["keyframe_every"]
    clips = []
    for poses, path in job["clips"]:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = SIZE
        codec.pix_fmt = "yuv420p"
        codec.thread_count = 1
        codec.bit_rate = job["bitrate"]
        codec.time_base = fractions.Fraction(1, round(job["fps"]))
        codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0"}
        out: list[bytes] = []
        for i, (pose, (dx, dy, gain)) in enumerate(zip(poses, path, strict=True)):
            frame = av.VideoFrame.from_ndarray(_render(bank, pose, dx, dy, gain, rng), format="yuv420p")
            frame.pts = i
            k = i - warmup
            if k >= 0 and k % every == 0:
                frame.pict_type = av.video.frame.PictureType.I
            data = b"".join(bytes(p) for p in codec.encode(frame))
            if k >= 0:
                out.append(data)
        if any(not d for d in out):
            raise RuntimeError("the encoder held frames back")
        clips.append(out)
    return clips


def make_footage(ctx, seconds: float, fps: float, bitrate: int, processes: int = 2, seed: int = 0) -> dict:
    """The clients' footage, rendered and encoded once, in `processes` worker processes:
    `neutral` (the learner looking at the screen for `seconds`, a keyframe every
    `keyframe_every` frames) and `actions` (ACTION_VARIANTS clips per action, each starting with a
    keyframe). With its kbit/s and how long making it took."""
    began = time.monotonic()
    kf = round(KEYFRAME_EVERY_S * fps)
    total = max(1, round(seconds * fps / kf)) * kf
    path = trajectory(WARMUP_FRAMES + total, fps, seed)    # neutral frame j is path[WARMUP_FRAMES + j]
    common = {"fps": fps, "bitrate": bitrate, "warmup": WARMUP_FRAMES}
    clip = round(ACTION_CLIP_S * fps)
    # One job makes every action clip (its process renders the turned and nodding heads once).
    names = [name for name in ACTIONS for _ in range(ACTION_VARIANTS)]
    jobs = [{**common, "keyframe_every": clip, "seed": seed * 1000 + 999,
             "clips": [(["neutral"] * WARMUP_FRAMES + [name] * clip,
                        trajectory(WARMUP_FRAMES + clip, fps, seed * 1000 + 500 + k)) for k, name in enumerate(names)]}]
    chunks = max(1, 2 * processes)
    bounds = sorted({round(total / kf * c / chunks) * kf for c in range(chunks + 1)})
    for c, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        # each chunk starts with a keyframe; its warm-up frames are the ones just before it
        jobs.append({**common, "keyframe_every": kf, "seed": seed * 1000 + c,
                     "clips": [(["neutral"] * (WARMUP_FRAMES + hi - lo), path[lo:hi + WARMUP_FRAMES])]})
    with ctx.Pool(processes) as pool:
        done = pool.map(_encode_job, jobs, chunksize=1)
    actions: dict[str, list[list[bytes]]] = {}
    for name, packets in zip(names, done[0], strict=True):
        actions.setdefault(name, []).append(packets)
    neutral = [p for clips in done[1:] for p in clips[0]]
    kbps = sum(len(p) for p in neutral) * 8 / (len(neutral) / fps) / 1000
    return {"neutral": neutral, "keyframe_every": kf, "actions": actions, "fps": fps, "kbps": kbps,
            "seconds": len(neutral) / fps, "made_s": time.monotonic() - began, "processes": processes}


def make_clip(fps: float, bitrate: int) -> tuple[list[bytes], float]:
    """Three seconds of the enrolled learner at 320x240: two webcam scenes (proctoring.sample_faces)
    with a small pan, encoded to VP8 once. Returns the packets and the clip's kbit/s."""
    import numpy as np

    from proctoring.sample_faces import scene
    from tests.rtc_peers import encode_vp8

    w, h = SIZE
    bases = [scene("astronaut", (w + 8, h + 8), seed=s) for s in (0, 1)]
    per_scene = round(fps * 1.5)
    frames = []
    for i in range(2 * per_scene):
        base, o = bases[i // per_scene], i % 8
        frames.append(np.ascontiguousarray(base[o:o + h, o:o + w]))
    packets = encode_vp8(frames, fps=fps, bitrate=bitrate, keyframe_every=per_scene)
    kbps = sum(len(p) for p in packets) * 8 / (len(packets) / fps) / 1000
    return packets, kbps


def challenge_track_class():
    """`ChallengeTrack`, defined on first use (aiortc is imported by the client processes only)."""
    import av

    from tests.rtc_peers import TIME_BASE, PacketTrack

    class ChallengeTrack(PacketTrack):
        """A camera that follows liveness challenges: the neutral footage (pre-encoded, as long as
        the run) and, from `perform(action, start, end)` (epoch seconds), one of the action's
        pre-encoded clips during [start, end), then the neutral footage again from its next
        keyframe. The neutral footage keeps its own clock meanwhile, so it never repeats."""

        def __init__(self, footage: dict, fps: float, seed: int):
            super().__init__(footage["neutral"], fps)
            self.keyframe_every = footage["keyframe_every"]
            self.actions = footage["actions"]
            self.pos = 0                       # the next neutral frame (a keyframe at 0)
            self.plan: list[tuple[float, float, str]] = []
            self.plan_lock = threading.Lock()
            self.showing: list | None = None   # [end, packets, next index]
            self.pick = seed                   # which variant of an action comes next
            self.shown = 0
            self.missed = 0                    # steps whose time had passed before they came up
            self.keyframe_asked = False
            self.keyframes_sent = 0            # keyframes sent because the server asked (PLI)
            self.last_asked = 0.0

        def request_keyframe(self) -> None:
            """The server lost a picture (PLI/FIR, from the sender's RTCP): a browser's encoder
            sends a keyframe; so does this camera, from its footage (at most one every 0.5 s)."""
            if time.monotonic() - self.last_asked >= 0.5:
                self.last_asked = time.monotonic()
                self.keyframe_asked = True

        def perform(self, action: str, start: float, end: float) -> None:
            with self.plan_lock:
                self.plan.append((start, end, action))
                self.plan.sort()

        async def recv(self):
            pts = await self.pacer.next()
            packet = av.Packet(self._next(time.time()))
            packet.pts = pts
            packet.time_base = TIME_BASE
            self.sent += 1
            return packet

        def _next(self, now: float) -> bytes:
            if self.keyframe_asked:
                self.keyframe_asked = False
                self.keyframes_sent += 1
                if self.showing is not None:
                    self.showing[2] = 0        # the action's clip again, from its keyframe
                else:                          # the neutral footage from its next keyframe
                    self.pos = -(-self.pos // self.keyframe_every) * self.keyframe_every
            if self.showing is None and self.plan:
                with self.plan_lock:
                    while self.plan and self.plan[0][1] <= now:
                        self.plan.pop(0)
                        self.missed += 1
                    if self.plan and self.plan[0][0] <= now:
                        _, end, action = self.plan.pop(0)
                        variants = self.actions[action]
                        self.pick += 1
                        self.showing = [end, variants[self.pick % len(variants)], 0]
                        self.shown += 1
            if self.showing is not None:
                end, packets, i = self.showing
                if now < end and i < len(packets):
                    self.showing[2] += 1
                    self.pos += 1
                    return packets[i]
                self.showing = None
                # back to looking at the screen: the decoder needs a keyframe
                self.pos = -(-self.pos // self.keyframe_every) * self.keyframe_every
            data = self.packets[self.pos % len(self.packets)]
            self.pos += 1
            return data

    return ChallengeTrack


def client_main(conn, opts: dict) -> None:
    """Client peers. With `opts["footage"]` (make_footage) each peer is a ChallengeTrack, and the
    challenges of its stream arrive on `opts["challenges"]` (a pipe from the server); without,
    every peer replays the 3 s clip of make_clip (bench.conference's senders)."""
    from bench.proctoring_policy import pin_self, policy_track_class
    pin_self(opts.get("cores"))
    if opts.get("nice"):
        os.setpriority(os.PRIO_PROCESS, 0, opts["nice"])
    _quiet_logs()
    import asyncio

    from tests.rtc_peers import ClientLoop, PacketTrack, Publisher

    footage = opts.get("footage")
    if footage is not None and "neutral_base" in footage:
        # the camera rate policy: 1 fps, 6 fps from a challenge to the end of its last window
        track_class = policy_track_class()
        kbps = footage["kbps"]

        def new_track(sid):
            return track_class(footage, opts["fps"], seed=len(publishers), window_s=opts.get("window_s", 4.0))
    elif footage is not None:
        track_class = challenge_track_class()
        kbps = footage["kbps"]

        def new_track(sid):
            return track_class(footage, opts["fps"], seed=len(publishers))
    else:
        packets, kbps = make_clip(opts["fps"], opts["bitrate"])

        def new_track(sid):
            return PacketTrack(packets, opts["fps"])
    loop = ClientLoop()
    publishers: dict[str, Publisher] = {}
    connected_at: dict[str, float] = {}
    failed: set[str] = set()
    lag = {"max": 0.0, "last": 0.0}
    told = {"received": 0, "late": 0, "unknown": 0}

    async def lag_probe(period=0.1):
        while True:
            before = time.monotonic()
            await asyncio.sleep(period)
            lag["last"] = max(0.0, time.monotonic() - before - period)
            lag["max"] = max(lag["max"], lag["last"])
    loop.run(_start(lag_probe()))

    def follow(challenges):
        """The learners in front of these cameras: each challenge's steps, as they are told."""
        while True:
            try:
                sid, actions, starts = challenges.recv()
            except (EOFError, OSError):
                return
            publisher = publishers.get(sid)
            if publisher is None:
                told["unknown"] += 1
                continue
            told["received"] += 1
            if time.time() > starts[0] + SHOW_AFTER_S:
                told["late"] += 1
            for action, start in zip(actions, starts, strict=True):
                publisher.track.perform(action, start + SHOW_AFTER_S, start + SHOW_AFTER_S + SHOW_FOR_S)
    if opts.get("challenges") is not None:
        threading.Thread(target=follow, args=(opts["challenges"],), name="follow-challenges", daemon=True).start()

    def offer(sid):
        publisher = Publisher(loop, new_track(sid))
        sdp = publisher.offer()
        publishers[sid] = publisher
        if hasattr(publisher.track, "request_keyframe"):
            # aiortc's sender turns a PLI/FIR into a keyframe only for frames it encodes itself
            # (`_send_keyframe`); pre-encoded packets need the track to act on it.
            sender = publisher.pc.getSenders()[0]
            asked = getattr(sender, "_send_keyframe", None)
            if asked is not None:
                def send_keyframe(asked=asked, track=publisher.track):
                    asked()
                    track.request_keyframe()
                sender._send_keyframe = send_keyframe

        @publisher.pc.on("connectionstatechange")
        def changed():
            state = publisher.pc.connectionState
            if state == "connected":
                connected_at.setdefault(sid, time.time())
            elif state in ("failed", "closed"):
                failed.add(sid)
        return sdp

    def accept(sid, answer):
        publishers[sid].accept(answer)

    def status():
        tracks = [p.track for p in list(publishers.values())]
        out = {"connected_at": dict(connected_at), "failed": sorted(failed), "loop_lag_max": lag["max"],
               "sent": sum(t.sent for t in tracks), "challenges_received": told["received"],
               "challenges_late": told["late"], "challenges_unknown": told["unknown"],
               "steps_shown": sum(getattr(t, "shown", 0) for t in tracks),
               "keyframes_asked": sum(getattr(t, "keyframes_sent", 0) for t in tracks),
               "steps_missed": sum(getattr(t, "missed", 0) for t in tracks)}
        lag["max"] = 0.0
        return out

    def quit_():
        for publisher in publishers.values():
            with contextlib.suppress(Exception):   # closing at the end, best effort
                publisher.close()
        loop.stop()

    conn.send(("ok", {"kbps": kbps, "pid": os.getpid()}))
    _serve(conn, {"offer": offer, "accept": accept, "status": status, "quit": quit_})


async def _start(coro):
    import asyncio
    asyncio.ensure_future(coro)


def decode_cost(fps: float, seconds: float, bitrate: int, passes: int = 5, seed: int = 7) -> dict:
    """The server's decode cost of one camera stream at `fps`: `seconds` of the clients' live-looking
    learner (320x240, rendered as the footage is) encoded to VP8 at `bitrate` as a browser sends it
    (one keyframe at the start, its rate control spreading `bitrate` over the frames there are),
    then decoded by aiortc's own VP8 decoder (what the engine's receiver runs per frame), `passes`
    times. Process CPU time (libvpx may decode on threads of its own); the median pass."""
    import statistics

    from aiortc.codecs.vpx import Vp8Decoder
    from aiortc.jitterbuffer import JitterFrame

    frames = max(2, round(seconds * fps))
    job = {"fps": fps, "bitrate": bitrate, "warmup": WARMUP_FRAMES, "keyframe_every": frames + 1, "seed": seed,
           "clips": [(["neutral"] * (WARMUP_FRAMES + frames), trajectory(WARMUP_FRAMES + frames, fps, seed))]}
    packets = _encode_job(job)[0]
    cpu = []
    for _ in range(passes):
        decoder = Vp8Decoder()
        started = time.process_time()
        decoded = 0
        for i, data in enumerate(packets):
            decoded += len(decoder.decode(JitterFrame(data=data, timestamp=round(i * 90_000 / fps))))
        cpu.append(time.process_time() - started)
        if decoded != len(packets):
            raise RuntimeError(f"decoded {decoded} of {len(packets)} frames")
    spent = statistics.median(cpu)
    return {"fps": fps, "size": SIZE, "frames": len(packets), "seconds": len(packets) / fps,
            "ms_per_s": spent * 1000 / (len(packets) / fps), "ms_per_frame": spent * 1000 / len(packets),
            "kbps": sum(len(p) for p in packets) * 8 / (len(packets) / fps) / 1000}
