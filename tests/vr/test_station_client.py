"""The station client without a portal: the telemetry it posts has the contract's shape (docs/vr_station_api.md),
the reflection quiz, the choice of scene and assignment, and a whole session against a fake portal
(queued first, posted, kept when the portal is away)."""
from __future__ import annotations

import io
import json
import re

import pytest
import requests

from vr_scenes import quiz, registry
from vr_scenes.station import (
    CheckIn,
    PortalError,
    Station,
    StationConfig,
    burst_from_frames,
    load_face_frames,
    load_face_jpeg,
    parse_args,
    pose_at,
    run_scene_fast,
    session_payload,
    still_burst,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


class Clock:
    """A fake wall clock: one millisecond per reading."""

    def __init__(self, t0: float = 1_790_000_000.0):
        self.t = t0

    def __call__(self) -> float:
        self.t += 0.001
        return self.t


@pytest.fixture(scope="module", params=sorted(registry.scenes()))
def fast_run(request):
    return request.param, run_scene_fast(request.param, now=Clock())


def test_payload_has_the_contract_shape(fast_run):
    key, run = fast_run
    questions = quiz.questions_for(key)
    q = quiz.grade(questions, {x.id: x.answer for x in questions})
    p = session_payload(learner_id=5, scene_key=key, checkin="face", run=run, quiz=q)
    assert set(p) == {"client_session_id", "learner_id", "assignment_id", "scene", "checkin", "started_at",
                      "ended_at", "stages", "attention", "reaction_times", "choices", "quiz",
                      "api_version", "outcome", "progress", "questionnaire"}       # version 2 (issue 15)
    assert (p["api_version"], p["outcome"], p["progress"]) == (2, "completed", 1.0)
    assert re.fullmatch(r"[0-9a-f]{32}", p["client_session_id"])
    assert p["scene"] == key and p["learner_id"] == 5 and p["assignment_id"] is None
    assert p["ended_at"] > p["started_at"]
    json.dumps(p)                                          # JSON-ready
    # every stage, in order, with its Chinese title, epoch times inside the session, completed flags
    assert [s["id"] for s in p["stages"]] == [s.key for s in run.scene.stages]
    prev = p["started_at"]
    for stage, record in zip(run.scene.stages, p["stages"], strict=True):
        assert set(record) == {"id", "title", "started_at", "ended_at", "completed"}
        assert record["title"] == stage.title and CJK.search(record["title"])
        assert prev <= record["started_at"] <= record["ended_at"] <= p["ended_at"]
        assert isinstance(record["completed"], bool)
        prev = record["started_at"]
    assert any(s["completed"] for s in p["stages"])
    # attention: a share 0..1 for each key event that was on
    assert p["attention"] and all(0.0 <= v <= 1.0 for v in p["attention"].values())
    assert set(p["attention"]) <= {e.name for s in run.scene.stages for e in s.key_events}
    assert set(p["reaction_times"]) == {"sober", "drunk"}
    assert all(isinstance(v, str) for v in p["choices"].values())
    assert p["quiz"] == {"questions": len(questions), "correct": len(questions), "answers": q["answers"]}


def test_drunk_reaction_times_per_lap(fast_run):
    key, run = fast_run
    rt = session_payload(learner_id=1, scene_key=key, checkin="face", run=run, quiz={})["reaction_times"]
    if key != "drunk":
        assert rt == {"sober": [], "drunk": []}
        return
    assert len(rt["sober"]) == 3 and rt["drunk"]
    assert min(rt["drunk"]) > max(rt["sober"])            # the impairment delay shows in every drunk reaction
    assert all(0 < v < 10 for v in rt["sober"] + rt["drunk"])


def test_rehab_choice_is_posted():
    run = run_scene_fast("rehab", now=Clock())
    p = session_payload(learner_id=1, scene_key="rehab", checkin="face", run=run, quiz={})
    assert p["choices"] == {"temptation": "refuse"}


# --- quiz ------------------------------------------------------------------------------------------
def test_every_scene_has_3_to_4_chinese_questions():
    for key in registry.scenes():
        questions = quiz.questions_for(key)
        assert 3 <= len(questions) <= 4, key
        assert len({q.id for q in questions}) == len(questions)
        for q in questions:
            assert CJK.search(q.prompt) and all(CJK.search(c) or c.isdigit() for c in q.choices)
    assert quiz.questions_for("a-fourth-scene") == quiz.GENERIC


def test_answers_parsed_in_order_or_by_id_and_graded():
    qs = quiz.questions_for("prison")
    right = "".join(q.answer for q in qs)
    assert quiz.grade(qs, quiz.parse_answers(right, qs))["correct"] == len(qs)
    graded = quiz.grade(qs, quiz.parse_answers(",".join("a" * len(qs)), qs))
    assert graded["correct"] == sum(q.answer == "a" for q in qs)
    assert [a["correct"] for a in graded["answers"]] == [q.answer == "a" for q in qs]
    by_id = quiz.parse_answers(",".join(f"{q.id}={q.answer}" for q in qs), qs)
    assert quiz.grade(qs, by_id)["correct"] == len(qs)
    with pytest.raises(ValueError):
        quiz.parse_answers("ab", qs)                       # too few
    with pytest.raises(ValueError):
        quiz.grade(qs, {qs[0].id: "z"})                    # not a choice / missing


def test_interactive_quiz_repeats_until_a_valid_letter():
    qs = quiz.questions_for("rehab")
    typed = iter(["", "x", "C", "a", "b"])
    out = io.StringIO()
    result = quiz.ask(qs, lambda: next(typed), out)
    assert [a["answer"] for a in result["answers"]] == ["c", "a", "b"]
    assert result["correct"] == 3
    text = out.getvalue()
    assert "反思小测验" in text and "请输入" in text and qs[0].prompt in text
    with pytest.raises(ValueError, match="end of input"):
        quiz.ask(qs, lambda: (_ for _ in ()).throw(EOFError()), io.StringIO())


# --- the station against a fake portal -------------------------------------------------------------
def challenge(actions=("turn_left", "look_up"), at=(1.8, 6.3), window=4.0, fps=5.0, nonce="n" * 32):
    """A challenge as the portal draws it (docs/vr_station_api.md)."""
    duration = at[-1] + window + 1.5
    return {"nonce": nonce, "actions": list(actions),
            "steps": [{"action": a, "prompt": f"提示{a}", "at_s": t} for a, t in zip(actions, at)],
            "start_prompt": "人脸签到：请正视摄像头，保持不动。", "end_prompt": "请再次正视摄像头，保持不动。",
            "end_at_s": at[-1] + window, "window_s": window, "duration_s": duration, "fps": fps,
            "max_frames": 64, "max_frame_bytes": 512 * 1024, "max_total_bytes": 6 * 1024 * 1024,
            "expires_at": 0, "expires_in_s": 120}


def one_frame(ch, say):
    return [(0.0, b"\xff\xd8\xffjpeg")]


class FakePortal:
    def __init__(self, assignments=(), down=False, liveness=True, verified=False):
        self.assignments_ = list(assignments)
        self.down = down
        self.liveness = liveness
        self.verified = verified
        self.sessions: dict[str, dict] = {}
        self.faces: list[list[tuple[float, bytes]]] = []
        self.challenges: list[dict] = []

    def ping(self):
        return {"station": {"id": 1, "name": "一号站", "unit": "城区"}, "scenes": ["prison", "drunk", "rehab"]}

    def assignments(self):
        return [{"id": a["id"], "learner_id": 9, "learner_name": "张三", "scene": a["scene"]}
                for a in self.assignments_]

    def checkin_challenge(self):
        self.challenges.append(challenge(nonce=f"nonce{len(self.challenges):027d}"))
        return self.challenges[-1]

    def checkin_face(self, nonce, frames):
        assert nonce == self.challenges[-1]["nonce"]
        self.faces.append(frames)
        if not self.liveness:
            raise PortalError(422, "liveness_failed", "活体检测未通过")
        return {"learner_id": 9, "name": "张三", "distance": 0.3, "verified": True,
                "assignments": list(self.assignments_)}

    def checkin_assignment(self, assignment_id):
        if assignment_id not in [a["id"] for a in self.assignments_]:
            raise PortalError(404, "not_found", "没有")
        return {"learner_id": 9, "name": "张三", "distance": None, "verified": self.verified,
                "assignments": list(self.assignments_)}

    def post_session(self, payload):
        if self.down:
            raise requests.ConnectionError("connection refused")
        first = payload["client_session_id"] not in self.sessions
        self.sessions.setdefault(payload["client_session_id"], payload)
        return (201 if first else 200), {"session_id": 1, "credited_s": 2.0, "month": "2026-11"}


def station(tmp_path, portal, typed=()):
    it = iter(typed)
    config = StationConfig(portal_url="http://portal.invalid", token="t", queue_dir=str(tmp_path / "q"), fast=True)
    return Station(config, portal=portal, out=io.StringIO(), read=lambda: next(it))


def test_face_session_posts_the_queued_file(tmp_path):
    portal = FakePortal()
    st = station(tmp_path, portal)
    result = st.session(face=one_frame, scene="prison", answers="bcba")
    assert result.status == "posted" and result.answer["credited_s"] == 2.0
    assert portal.faces == [[(0.0, b"\xff\xd8\xffjpeg")]] and len(portal.challenges) == 1
    assert "已通过活体检测" in st.out.getvalue()
    posted = portal.sessions[result.client_session_id]
    assert posted["checkin"] == "face" and posted["assignment_id"] is None and posted["learner_id"] == 9
    assert posted["quiz"]["correct"] == 4
    assert st.outbox.pending() == []                        # deleted only after the portal's answer


def test_face_session_takes_the_learners_assignment(tmp_path):
    portal = FakePortal(assignments=[{"id": 4, "scene": "rehab"}])
    st = station(tmp_path, portal)
    result = st.session(face=one_frame, answers="cab")
    assert result.payload["scene"] == "rehab" and result.payload["assignment_id"] == 4
    # asking for another scene does not claim the rehab assignment
    result = st.session(face=one_frame, scene="prison", answers="bcba")
    assert result.payload["assignment_id"] is None


def test_officer_assignment_picked_from_the_list(tmp_path):
    portal = FakePortal(assignments=[{"id": 4, "scene": "rehab"}, {"id": 6, "scene": "drunk"}])
    st = station(tmp_path, portal, typed=["99", "6"])
    result = st.session(checkin_method="assignment", answers="cbcb")
    assert result.status == "posted"
    assert result.payload["scene"] == "drunk" and result.payload["assignment_id"] == 6
    assert result.payload["checkin"] == "assignment"
    assert "4: 张三 - rehab" in st.out.getvalue()
    # not verified (no officer confirmed the learner at the station): the station says so, and goes on
    assert "不计学时" in st.out.getvalue()
    confirmed = station(tmp_path, FakePortal(assignments=[{"id": 6, "scene": "drunk"}], verified=True))
    assert confirmed.check_in_assignment(6).verified and "不计学时" not in confirmed.out.getvalue()


def test_failed_liveness_stops_the_session_with_a_chinese_message(tmp_path):
    portal = FakePortal(liveness=False)
    st = station(tmp_path, portal)
    with pytest.raises(PortalError) as err:
        st.session(face=one_frame, scene="prison", answers="bcba")
    assert err.value.code == "liveness_failed"
    assert "活体检测未通过" in st.out.getvalue() and portal.sessions == {} and st.outbox.pending() == []


# --- the burst of the liveness challenge ------------------------------------------------------------
def test_a_face_that_follows_the_prompts(tmp_path):
    """--face-frames: still frames per pose, played on the challenge's schedule: each action from a
    quarter to 55 % into its window, neutral before and after; the prompts said at their offsets."""
    ch = challenge()
    poses = {"neutral": [b"N1", b"N2"], "turn_left": [b"L"], "look_up": [b"U"], "turn_right": [b"R"]}
    said = []
    frames = burst_from_frames(poses, ch, said.append)
    assert len(frames) == round(ch["duration_s"] * 5) + 1 == 60
    times = [t for t, _ in frames]
    assert times == sorted(times) and times[0] == 0.0 and times[1] == 0.2 and times[-1] <= ch["duration_s"]
    # turn_left shown at 1.8 in a 4 s window: from 2.8 to 4.0 (exclusive)
    assert [t for t, d in frames if d == b"L"] == [2.8, 3.0, 3.2, 3.4, 3.6, 3.8]
    assert [t for t, d in frames if d == b"U"] == [7.4, 7.6, 7.8, 8.0, 8.2, 8.4]
    assert not [d for _, d in frames if d == b"R"]                    # not asked: never shown
    assert {d for t, d in frames if t < 2.8 or 4.0 <= t < 7.4 or t >= 8.6} == {b"N1", b"N2"}
    assert said == [ch["start_prompt"], "提示turn_left", "提示look_up", ch["end_prompt"]]
    assert [pose_at(ch, t) for t in (0.0, 2.79, 2.8, 3.99, 4.0, 7.4, 8.6)] == \
        ["neutral", "neutral", "turn_left", "turn_left", "neutral", "look_up", "neutral"]
    # a pose without frames (blink cannot be filmed from a photo) shows the neutral face
    blink = burst_from_frames({"neutral": [b"N"]}, challenge(actions=("blink", "turn_left")), lambda s: None)
    assert {d for _, d in blink} == {b"N"}
    # a photo alone is filmed all along, unchanged; never more frames than the portal takes
    photo = still_burst(b"P", challenge(fps=30.0), lambda s: None)
    assert {d for _, d in photo} == {b"P"} and len(photo) == 64


def test_face_frames_folder_by_pose(tmp_path):
    import cv2
    import numpy as np

    folder = tmp_path / "face"
    folder.mkdir()
    for name, value in (("neutral_1.jpg", 100), ("neutral_2.png", 110), ("turn_left.jpg", 120),
                        ("look_down.jpeg", 130), ("notes.txt", 0), ("other.jpg", 140)):
        if name.endswith(".txt"):
            (folder / name).write_text("x")
        else:
            cv2.imwrite(str(folder / name), np.full((32, 32, 3), value, np.uint8))
    poses = load_face_frames(str(folder))
    assert sorted(poses) == ["look_down", "neutral", "turn_left"]
    assert len(poses["neutral"]) == 2 and all(j[:3] == b"\xff\xd8\xff" for js in poses.values() for j in js)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neutral"):
        load_face_frames(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="not a folder"):
        load_face_frames(str(tmp_path / "missing"))


def test_webcam_burst_says_the_prompts_on_time(tmp_path):
    """The webcam path with a video source and a fake clock (0.02 s a reading, two readings a camera
    frame: a 25 fps camera): frames about 1/fps apart, the prompts said when their offsets come, JPEGs
    at most 640 px wide."""
    import cv2
    import numpy as np

    from vr_scenes.station import capture_challenge_frames

    video = str(tmp_path / "cam.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 10, (1280, 720))
    for i in range(400):
        writer.write(np.full((720, 1280, 3), i % 250, np.uint8))
    writer.release()
    ticks = iter(range(10**6))

    def clock():
        return next(ticks) * 0.02

    said = []
    ch = challenge()
    frames = capture_challenge_frames(ch, video, say=said.append, clock=clock, warmup_frames=2)
    offsets = [t for t, _ in frames]
    assert offsets == sorted(offsets) and offsets[-1] <= ch["duration_s"] + 0.2
    assert abs(len(frames) - ch["duration_s"] * ch["fps"]) <= 3
    assert all(0.15 <= b - a <= 0.25 for a, b in zip(offsets, offsets[1:]))   # 1/fps, give or take a frame
    assert said == [ch["start_prompt"], "提示turn_left", "提示look_up", ch["end_prompt"]]
    first = cv2.imdecode(np.frombuffer(frames[0][1], np.uint8), cv2.IMREAD_COLOR)
    assert first.shape == (360, 640, 3)


def test_portal_away_at_posting_keeps_the_session_queued(tmp_path):
    portal = FakePortal(down=True)
    st = station(tmp_path, portal)
    result = st.session(face=one_frame, scene="prison", answers="bcba")
    assert result.status == "queued" and "refused" in result.error
    [path] = st.outbox.pending()
    with open(path, encoding="utf-8") as fh:
        assert json.load(fh) == result.payload
    portal.down = False
    # a new station process (restart) delivers it on start, exactly once
    st2 = station(tmp_path, portal)
    assert st2.flush().delivered == [result.client_session_id]
    assert st2.flush().delivered == [] and list(portal.sessions) == [result.client_session_id]


def test_config_from_environment(monkeypatch, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("vrs_secret\n")
    monkeypatch.setenv("VR_PORTAL_URL", "http://p.example")
    monkeypatch.setenv("VR_QUEUE_DIR", str(tmp_path / "queue"))
    args = parse_args(["--token-file", str(token_file), "--fast"])
    assert args.portal == "http://p.example" and args.queue_dir == str(tmp_path / "queue") and args.fast
    from vr_scenes.station.cli import _token
    assert _token(args) == "vrs_secret"


def test_face_image_png_is_reencoded_as_jpeg(tmp_path):
    import cv2
    import numpy as np

    png = tmp_path / "face.png"
    cv2.imwrite(str(png), np.full((40, 40, 3), 128, np.uint8))
    assert load_face_jpeg(str(png))[:3] == b"\xff\xd8\xff"
    with pytest.raises(ValueError):
        (tmp_path / "x.png").write_bytes(b"nope")
        load_face_jpeg(str(tmp_path / "x.png"))


def test_checkin_dataclass_defaults():
    c = CheckIn("face", 1, "x", [])
    assert c.assignment_id is None


# --- the command line over HTTP, with the scene rendered ---------------------------------------------
class _FakeHTTPPortal:
    """A few lines of the contract over real HTTP (http.server), enough for one assignment session."""

    def __init__(self):
        import http.server
        import threading

        posted = self.posted = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.headers.get("Authorization") != "Bearer tok":
                    return self._send(401, {"error": "unauthorized", "message": "令牌无效"})
                if self.path == "/api/vr/v1/ping":
                    return self._send(200, {"station": {"id": 1, "name": "站", "unit": "城区"},
                                            "scenes": ["prison", "drunk", "rehab"], "server_time": 0})
                return self._send(404, {"error": "not_found", "message": "无"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/api/vr/v1/checkin":
                    return self._send(200, {"learner_id": 9, "name": "张三", "distance": None,
                                            "assignments": [{"id": 4, "scene": "rehab"}]})
                if self.path == "/api/vr/v1/sessions":
                    posted.append(body)
                    return self._send(201, {"session_id": 1, "credited_s": 3.0, "month": "2026-11"})
                return self._send(404, {"error": "not_found", "message": "无"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_cli_renders_the_scene_offscreen_and_posts(tmp_path):
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    portal = _FakeHTTPPortal()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "vr_scenes.station", "--portal", portal.url, "--token", "tok",
             "--queue-dir", str(tmp_path / "q"), "--checkin", "assignment", "--assignment", "4",
             "--offscreen", "--autopilot", "--speed", "20", "--size", "320x180", "--answers", "cab"],
            cwd=root, capture_output=True, text=True, timeout=180, check=False)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["status"] == "posted" and result["portal"]["credited_s"] == 3.0
        [posted] = portal.posted
        assert posted["scene"] == "rehab" and posted["assignment_id"] == 4 and posted["checkin"] == "assignment"
        assert len(posted["stages"]) == 7 and posted["choices"] == {"temptation": "refuse"}
        # stopped before the end (a closed window, here --max-seconds): posted for the record, no quiz
        out = subprocess.run(
            [sys.executable, "-m", "vr_scenes.station", "--portal", portal.url, "--token", "tok",
             "--queue-dir", str(tmp_path / "q"), "--assignment", "4", "--offscreen", "--size", "160x90",
             "--max-seconds", "1", "--answers", "cab"],
            cwd=root, capture_output=True, text=True, timeout=180, check=False)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        assert "场景未完成" in out.stdout
        partial = portal.posted[-1]
        assert len(portal.posted) == 2 and partial["quiz"]["answers"] == [] and partial["quiz"]["questions"] == 3
        assert [s["id"] for s in partial["stages"]] == ["withdrawal"] and not partial["stages"][0]["completed"]
        # a wrong token: the check-in is refused with the portal's message, nothing is queued
        out = subprocess.run(
            [sys.executable, "-m", "vr_scenes.station", "--portal", portal.url, "--token", "wrong",
             "--queue-dir", str(tmp_path / "q"), "--assignment", "4", "--fast", "--answers", "cab"],
            cwd=root, capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 1 and "unauthorized" in out.stderr
    finally:
        portal.close()
    assert sorted(os.listdir(tmp_path / "q")) == [".deliver.lock", "rejected"]


def test_webcam_capture_through_opencv(tmp_path):
    """The capture path with a video source OpenCV opens like a camera: the last warm-up frame, as JPEG."""
    import cv2
    import numpy as np

    from vr_scenes.station import capture_face_jpeg

    video = str(tmp_path / "cam.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    jpeg = capture_face_jpeg(video, warmup_frames=5)
    assert jpeg[:3] == b"\xff\xd8\xff"
    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (48, 64, 3) and abs(float(frame.mean()) - 80) < 6    # the 5th frame (i=4)
    with pytest.raises(RuntimeError, match="cannot be opened"):
        capture_face_jpeg(str(tmp_path / "no-such-camera.avi"))


def test_station_imports_nothing_of_ours_outside_vr_scenes(imported_packages):
    """DESIGN.md: vr_scenes talks to the portal over HTTP only."""
    imported = imported_packages("import vr_scenes.station, vr_scenes.outbox, vr_scenes.quiz")
    assert "vr_scenes" in imported
    assert imported & {"webapp", "proctoring", "streaming", "conferencing", "content", "bench"} == set()


def test_kiosk_loop_runs_a_session_per_enter_until_end_of_input(tmp_path):
    from vr_scenes.station import main

    portal = _FakeHTTPPortal()
    presses = iter(["", ""])

    def read():
        try:
            return next(presses)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    try:
        code = main(["--portal", portal.url, "--token", "tok", "--queue-dir", str(tmp_path / "q"), "--loop",
                     "--assignment", "4", "--fast", "--answers", "cab", "--retry-base-s", "0.1"], out=out, read=read)
    finally:
        portal.close()
    assert code == 0
    assert len(portal.posted) == 2 and len({p["client_session_id"] for p in portal.posted}) == 2
    assert out.getvalue().count('"status": "posted"') == 2 and "按回车键" in out.getvalue()


def test_a_version_1_session_left_in_the_outbox_is_posted_as_it_was(tmp_path):
    """A station updated to payload version 2 still delivers what its outbox holds from before,
    unchanged (the portal takes version-1 posts and credits them as before)."""
    portal = FakePortal()
    st = station(tmp_path, portal)
    old = {"client_session_id": "a" * 32, "learner_id": 9, "assignment_id": None, "scene": "prison",
           "checkin": "face", "started_at": 1.0, "ended_at": 2.0, "stages": [], "attention": {},
           "reaction_times": {}, "choices": {}, "quiz": {"questions": 4, "correct": 4, "answers": []}}
    st.outbox.put(dict(old))
    report = st.flush()
    assert report.delivered == ["a" * 32] and portal.sessions["a" * 32] == old
    assert "api_version" not in portal.sessions["a" * 32]
