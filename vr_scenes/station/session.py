"""One session at the VR station: check the supervisee in (a face check with the portal's liveness
challenge filmed by the station webcam, or an officer's assignment), choose and run the scene
(``runner``), ask the reflection quiz, then queue the session on disk (``vr_scenes.outbox``) and post
it to the portal (``portal``). Only a verified check-in (face with liveness passed, or an officer's
on-site confirmation in the portal) earns study time; the portal decides, the station only says so.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .. import attitude, registry
from ..outbox import Backoff, DeliveryReport, Outbox, OutboxSender
from .control import SceneControl
from .portal import PortalClient, PortalError
from .runner import SceneRun, ask_quiz, run_scene_fast, run_scene_rendered, session_payload, unanswered_quiz


# --- configuration ----------------------------------------------------------------------------------
def default_queue_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "vr_station", "outbox")


@dataclass
class StationConfig:
    portal_url: str
    token: str
    queue_dir: str = field(default_factory=default_queue_dir)
    timeout_s: float = 15.0
    fast: bool = False            # fake clock + scripted learner, no rendering
    offscreen: bool = False       # render without a window (software renderer)
    autopilot: bool = False       # the scripted learner plays (demonstration)
    stereo: bool = False
    comfort: bool = False
    sound: bool = True            # sounds and spoken subtitles (vr_scenes.mixer); --no-sound: silent
    size: tuple[int, int] = (1280, 720)
    speed: float = 1.0
    max_seconds: float = 0.0      # rendered runs: stop after this much real time (0: at the end)
    retry_base_s: float = 5.0
    retry_max_s: float = 600.0
    fast_speed: float = 0.0       # --fast: scene seconds per real second (0: unpaced; a console wants pacing)


# --- the station ------------------------------------------------------------------------------------
# A face for the check-in: (challenge, say) -> [(offset_s, JPEG)], filmed while saying the prompts
FaceSource = Callable[[dict, Callable[[str], None]], list[tuple[float, bytes]]]

UNVERIFIED_NOTE = "提示：尚未核验本人在场（需人脸活体签到，或民警在门户确认其在本设备），本次体验将记录，但不计学时。"


@dataclass
class CheckIn:
    method: str                  # face | assignment
    learner_id: int
    name: str
    assignments: list[dict]      # [{"id", "scene"}] pending for this learner
    assignment_id: int | None = None
    distance: float | None = None
    verified: bool = False       # the portal will credit the session (face with liveness, officer on site)


@dataclass
class SessionResult:
    status: str                  # posted | queued | rejected | cancelled (stopped before the scene began)
    client_session_id: str
    payload: dict
    answer: Any = None           # the portal's body when posted
    error: str = ""


class Station:
    def __init__(self, config: StationConfig, portal: PortalClient | None = None, out: TextIO | None = None,
                 read: Callable[[], str] | None = None, control: SceneControl | None = None):
        self.config = config
        self.control = control        # the operator's console (console.py), if any
        self.portal = portal or PortalClient(config.portal_url, config.token, config.timeout_s)
        # the background retries get their own HTTP session (requests.Session is not thread-safe)
        poster = self.portal if portal is not None else \
            PortalClient(config.portal_url, config.token, config.timeout_s)
        self.outbox = Outbox(config.queue_dir)
        self.out = out or sys.stdout
        self.read = read or (lambda: input())
        self.sender = OutboxSender(self.outbox, poster.post_session,
                                   Backoff(config.retry_base_s, config.retry_max_s), on_report=self._log_report)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _log_report(self, report: DeliveryReport) -> None:
        for sid in report.delivered:
            self.say(f"outbox: {sid} delivered")
        for sid in report.rejected:
            self.say(f"outbox: {sid} REJECTED ({report.errors.get(sid)}): see {self.outbox.rejected_dir}")

    # the outbox
    def flush(self) -> DeliveryReport:
        """One delivery attempt of everything queued (at start, and after each session)."""
        report, _ = self.sender.attempt()
        return report

    def start_background_retries(self) -> None:
        """Retry the queue in a thread, with backoff while the portal is away."""
        self.sender.start()

    def stop(self) -> None:
        self.sender.stop()

    def drain(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> DeliveryReport:
        """Retry with backoff until the queue is empty or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        report, delay = self.sender.attempt()
        while report.kept and time.monotonic() + delay <= deadline:
            sleep(delay)
            report, delay = self.sender.attempt()
        return report

    # a session, step by step
    def ping(self) -> dict:
        info = self.portal.ping()
        self.say(f"portal: station {info['station'].get('name')} ({info['station'].get('unit')}); "
                 f"scenes {', '.join(info.get('scenes', []))}")
        return info

    def check_in_face(self, face: FaceSource) -> CheckIn:
        """Ask the portal for a liveness challenge, film the learner following its prompts, send the
        frames; the portal identifies the face and checks the challenge."""
        challenge = self.portal.checkin_challenge()
        frames = face(challenge, self.say)
        try:
            body = self.portal.checkin_face(challenge["nonce"], frames)
        except PortalError as exc:
            if exc.code == "liveness_failed":
                self.say("活体检测未通过：请按屏幕提示转头或眨眼，然后重新签到。")
            elif exc.code == "no_match":
                self.say("签到失败：未能识别为本单位已录入人脸的社区矫正对象。")
            raise
        self.say(f"签到成功：{body['name']}（已通过活体检测）")
        return CheckIn("face", int(body["learner_id"]), body["name"], list(body.get("assignments") or []),
                       distance=body.get("distance"), verified=bool(body.get("verified", True)))

    def check_in_assignment(self, assignment_id: int | None = None) -> CheckIn:
        if assignment_id is None:
            pending = self.portal.assignments()
            if not pending:
                raise PortalError(404, "not_found", "没有待完成的VR任务")
            self.say("待完成的VR任务：")
            for a in pending:
                self.say(f"  {a['id']}: {a.get('learner_name', a.get('learner_id'))} - {a['scene']}")
            ids = {int(a["id"]) for a in pending}
            while True:
                self.say("请输入任务编号：")
                text = self.read().strip()
                if text.isdigit() and int(text) in ids:
                    assignment_id = int(text)
                    break
        body = self.portal.checkin_assignment(assignment_id)
        self.say(f"签到成功：{body['name']}")
        verified = bool(body.get("verified", False))
        if not verified:
            self.say(UNVERIFIED_NOTE)
        return CheckIn("assignment", int(body["learner_id"]), body["name"], list(body.get("assignments") or []),
                       assignment_id=int(assignment_id), verified=verified)

    def choose_scene(self, checkin: CheckIn, scene: str | None = None, known: list[str] | None = None) -> str:
        """The scene to run: the assignment's (officer check-in), the requested one (with its pending
        assignment if there is one), the learner's first pending assignment, or asked on the terminal."""
        scenes = [k for k in (known or list(registry.scenes())) if k in registry.scenes()]
        if checkin.method == "assignment":
            match = [a for a in checkin.assignments if int(a["id"]) == checkin.assignment_id]
            if match:
                return match[0]["scene"]
            if scene:
                return scene
            raise ValueError("the portal did not say which scene the assignment is for")
        if scene is None and checkin.assignments:
            scene = checkin.assignments[0]["scene"]
        if scene is None:
            self.say("请选择场景：" + "  ".join(f"{i}. {registry.get(k).title} ({k})"
                                          for i, k in enumerate(scenes, 1)))
            while scene is None:
                text = self.read().strip()
                if text.isdigit() and 1 <= int(text) <= len(scenes):
                    scene = scenes[int(text) - 1]
                elif text in scenes:
                    scene = text
        for a in checkin.assignments:
            if a["scene"] == scene:
                checkin.assignment_id = int(a["id"])
                break
        registry.get(scene)     # a clear error for an unknown key
        return scene

    def _publish(self, **fields) -> None:
        if self.control is not None:
            self.control.publish(**fields)

    def scripted_attitude(self) -> bool:
        """Whether the questionnaire is answered by script: ``--fast`` and ``--autopilot`` (the scripted
        learner), or offscreen with no console (nobody could press a key)."""
        c = self.config
        return c.fast or c.autopilot or (c.offscreen and self.control is None)

    def attitude_answers(self, key: str, text: str | None, half: str) -> dict | None:
        """Given answers (``--attitude-before``/``--attitude-after``), the scripted learner's, or None
        (asked in the headset)."""
        items = attitude.items_for(key)
        if text:
            return attitude.parse_answers(text, items)
        if self.scripted_attitude():
            return attitude.scripted(items, attitude.SCRIPTED_BEFORE if half == "before" else attitude.SCRIPTED_AFTER)
        return None

    def run_scene(self, key: str, attitude_before: str | None = None,
                  attitude_after: str | None = None) -> SceneRun | None:
        """The questionnaire before, the scene, the questionnaire after (``--fast``: scripted answers;
        rendered: in the headset, or from the console). With a console, the scene waits for the
        operator's start. None: stopped before the scene began (nothing to post)."""
        before = self.attitude_answers(key, attitude_before, "before")
        after = self.attitude_answers(key, attitude_after, "after")
        if self.config.fast:
            if self.control is not None and not self.control.wait_for_start():
                return None
            self.say(f"开始场景：{registry.get(key).title}")
            run = run_scene_fast(key, comfort=self.config.comfort, control=self.control, speed=self.config.fast_speed)
            run.attitude_before = before
            run.attitude_after = after if run.outcome == "completed" else None
            return run
        self.say(f"开始场景：{registry.get(key).title}")
        run = run_scene_rendered(key, self.config, control=self.control, before=before, after=after,
                                 wait_for_start=self.control is not None)
        return None if run.cancelled else run

    def ask_quiz(self, key: str, answers: str | None = None) -> dict:
        return ask_quiz(key, answers, self.read, self.out)

    def finish(self, checkin: CheckIn, key: str, run: SceneRun, quiz: dict,
               client_session_id: str | None = None) -> SessionResult:
        """Queue the session durably, then try to deliver the queue."""
        self._publish(phase="posting", question="")
        result = self._finish(checkin, key, run, quiz, client_session_id)
        credited = (result.answer or {}).get("credited_s") if isinstance(result.answer, dict) else None
        outcome = {"completed": "完成", "stopped": "紧急停止", "unfinished": "未完成"}[run.outcome]
        state = {"posted": "已提交", "queued": "已保存，待提交", "rejected": "被门户拒绝"}[result.status]
        text = f"{checkin.name} · {registry.get(key).title} · {outcome} · {state}"
        if credited is not None:
            text += f" · 记入学时 {credited:.0f} 秒"
        self._publish(phase="done", result={"status": result.status, "outcome": run.outcome, "credited_s": credited,
                                            "text": text})
        return result

    def _finish(self, checkin: CheckIn, key: str, run: SceneRun, quiz: dict,
                client_session_id: str | None = None) -> SessionResult:
        payload = session_payload(learner_id=checkin.learner_id, scene_key=key, checkin=checkin.method, run=run,
                                  quiz=quiz, assignment_id=checkin.assignment_id,
                                  client_session_id=client_session_id)
        sid = payload["client_session_id"]
        self.outbox.put(payload)
        report = self.flush()
        if sid in report.delivered:
            answer = report.answers[sid]
            self.say(f"已提交，记入学时 {answer.get('credited_s', 0):.0f} 秒（{answer.get('month', '')}）")
            return SessionResult("posted", sid, payload, answer)
        if sid in report.rejected:
            return SessionResult("rejected", sid, payload, error=report.errors.get(sid, ""))
        if os.path.exists(self.outbox.path_for(sid)):
            self.say(f"门户暂时无法连接，记录已保存，稍后自动提交（{report.errors.get(sid, '')}）")
            return SessionResult("queued", sid, payload, error=report.errors.get(sid, ""))
        return SessionResult("posted", sid, payload)      # delivered meanwhile by the background retries

    def session(self, *, checkin_method: str = "face", face: FaceSource | None = None,
                assignment_id: int | None = None, scene: str | None = None, answers: str | None = None,
                known_scenes: list[str] | None = None, attitude_before: str | None = None,
                attitude_after: str | None = None) -> SessionResult:
        if self.control is not None:
            self.control.poll()           # nothing left over from the last learner
            self._publish(phase="idle", learner="", scene="", scene_title="", stage="", progress=0.0, question="")
        if checkin_method == "face" and assignment_id is None:
            if face is None:
                raise ValueError("face check-in needs a camera, --face-frames or --face-image")
            checkin = self.check_in_face(face)
        else:
            checkin = self.check_in_assignment(assignment_id)
        key = self.choose_scene(checkin, scene, known_scenes)
        self._publish(phase="checked_in", learner=checkin.name, scene=key, scene_title=registry.get(key).title)
        run = self.run_scene(key, attitude_before, attitude_after)
        if run is None:
            self.say("已取消：场景尚未开始，本次不提交记录。")
            self._publish(phase="done", result={"status": "cancelled", "outcome": None, "credited_s": None,
                                                "text": f"{checkin.name} · 已取消（场景未开始）"})
            return SessionResult("cancelled", "", {"scene": key, "learner_id": checkin.learner_id})
        if run.stopped:
            self.say("已紧急停止：记录将提交，标记为紧急停止，不计学时。")
            quiz = unanswered_quiz(key)
            if checkin.method == "face":
                checkin.assignment_id = None    # leave the assignment pending
        elif run.aborted:
            # Stopped before the end: posted for the record (the portal credits only complete sessions)
            self.say("场景未完成，记录将提交但不计学时。")
            quiz = unanswered_quiz(key)
            if checkin.method == "face":
                checkin.assignment_id = None    # the portal would mark the assignment done: leave it pending
        else:
            self._publish(phase="quiz")
            quiz = self.ask_quiz(key, answers)
        return self.finish(checkin, key, run, quiz)
