"""Live conferences behind plain calls: what the Socket.IO handlers and the scheduler may ask.

`LiveService` runs where the rooms are (this process in the embedded default, the media process
in production: `python -m webapp.media`); `live_service(app)` gives the handlers either it or its
RPC stand-in (`webapp.media.rpc.RemoteService`), so a web process holds no conference state.
Every method takes and returns plain data (ids, strings, dicts) and raises `LiveError`; a
conference that is not live here is `LiveError("not_live")`.
"""
from __future__ import annotations

import dataclasses

from flask import Flask
from sqlalchemy import select

from webapp.conferences.live import LiveError, close_live, get_live, open_live
from webapp.core import db

METHODS = frozenset({"info", "enter", "publish", "subscribe", "subscribe_offer", "subscribe_answer",
                     "unsubscribe", "raise_hand", "chat",
                     "host_command", "leave", "start_rollcall", "end_rollcall", "close",
                     "play_media", "pause_media", "resume_media", "seek_media", "stop_media",
                     "grant_share", "revoke_share", "share_screen", "stop_share", "stage_view", "edu_confirm"})


class LiveService:
    def __init__(self, app: Flask):
        self.app = app

    def _live(self, conference_id: int):
        live = get_live(self.app, conference_id)
        if live is None or live.closed:
            raise LiveError("not_live", "the conference is not live")
        return live

    def info(self, conference_id: int) -> dict | None:
        live = get_live(self.app, conference_id)
        if live is None or live.closed:
            return None
        return {"host_id": live.host_id}

    def enter(self, conference_id: int, host_id: int, host_path: str, user_id: int, name: str, unit_name: str,
              chain: list[str]) -> dict:
        live = open_live(self.app, conference_id, host_id, host_path)
        result = live.enter(user_id, name, unit_name, chain)
        return {**result, "rollcall": live.rollcall_view()}

    def publish(self, conference_id: int, user_id: int, sdp: str) -> str:
        return self._live(conference_id).publish(user_id, sdp)

    def subscribe(self, conference_id: int, user_id: int, source_id, sdp: str) -> str:
        return self._live(conference_id).subscribe(user_id, source_id, sdp)

    def subscribe_offer(self, conference_id: int, user_id: int, source_id, audio: bool = True) -> str:
        return self._live(conference_id).subscribe_offer(user_id, source_id, audio)

    def subscribe_answer(self, conference_id: int, user_id: int, source_id, sdp: str) -> None:
        self._live(conference_id).subscribe_answer(user_id, source_id, sdp)

    def unsubscribe(self, conference_id: int, user_id: int, source_id) -> None:
        self._live(conference_id).unsubscribe(user_id, source_id)

    def raise_hand(self, conference_id: int, user_id: int, raised: bool) -> None:
        self._live(conference_id).raise_hand(user_id, raised)

    def chat(self, conference_id: int, user_id: int, text) -> dict:
        return self._live(conference_id).chat(user_id, text)

    def host_command(self, conference_id: int, actor: int, action, target) -> dict:
        return dataclasses.asdict(self._live(conference_id).host_command(actor, action, target))

    def leave(self, conference_id: int, user_id: int) -> None:
        live = get_live(self.app, conference_id)
        if live is not None and not live.closed:
            live.leave(user_id)

    def start_rollcall(self, conference_id: int, actor: int, user_ids: list[int] | None, table_prefix: str) -> int:
        """`table_prefix`: the roll call's table page without its id (the caller's script root)."""
        from proctoring.liveness import LivenessPolicy
        from proctoring.rollcall import RollCallPolicy, SelectionError, who_is_called
        from proctoring.vision import IDENTITY_THRESHOLD
        from webapp.proctor import liveness_actions, runner

        live = self._live(conference_id)
        cfg = self.app.config
        policy = RollCallPolicy(answer_within_s=cfg["ROLLCALL_ANSWER_S"], parallel=cfg["ROLLCALL_PARALLEL"],
                                liveness=cfg["ROLLCALL_LIVENESS"],
                                liveness_policy=LivenessPolicy(window_s=cfg["LIVENESS_WINDOW_S"],
                                                               actions=liveness_actions(cfg["LIVENESS_ACTIONS"])))
        try:
            chosen = who_is_called(live.floor.present_ids(), live.floor.members, live.host_id, user_ids)
        except SelectionError as exc:
            raise LiveError(exc.code, str(exc)) from None
        references = _references(chosen)
        threshold = cfg["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD
        return live.start_rollcall(actor, user_ids, policy, cfg["SECRET_KEY"].encode(), references,
                                   runner(self.app).identify, threshold, lambda rid: f"{table_prefix}{rid}")

    def end_rollcall(self, conference_id: int, actor: int) -> None:
        self._live(conference_id).end_rollcall(actor)

    # --- the stage (issue 16): course media and shared screens; each returns the stage's view
    def play_media(self, conference_id: int, actor: int, course_id) -> dict:
        return self._live(conference_id).play_media(actor, course_id)

    def pause_media(self, conference_id: int, actor: int) -> dict:
        return self._live(conference_id).pause_media(actor)

    def resume_media(self, conference_id: int, actor: int) -> dict:
        return self._live(conference_id).resume_media(actor)

    def seek_media(self, conference_id: int, actor: int, position) -> dict:
        return self._live(conference_id).seek_media(actor, position)

    def stop_media(self, conference_id: int, actor: int) -> dict:
        return self._live(conference_id).stop_media(actor)

    def grant_share(self, conference_id: int, actor: int, user_id) -> dict:
        return self._live(conference_id).grant_share(actor, user_id)

    def revoke_share(self, conference_id: int, actor: int, user_id) -> dict:
        return self._live(conference_id).revoke_share(actor, user_id)

    def share_screen(self, conference_id: int, actor: int, sdp: str) -> str:
        """The answer SDP to the sharer's offer."""
        return self._live(conference_id).share_screen(actor, sdp)

    def stop_share(self, conference_id: int, actor: int) -> dict:
        return self._live(conference_id).stop_share(actor)

    def stage_view(self, conference_id: int) -> dict:
        return self._live(conference_id).stage_view()

    def edu_confirm(self, conference_id: int, officer_id: int, present) -> dict:
        return self._live(conference_id).edu_confirm(officer_id, present)

    def close(self, conference_id: int) -> None:
        close_live(self.app, conference_id)


def _references(user_ids: list[int]) -> dict:
    from webapp.core.face_crypto import decrypt_embedding
    from webapp.models import FaceEnrolment

    out: dict[int, list] = {}
    if not user_ids:
        return out
    for row in db.session().scalars(select(FaceEnrolment).where(FaceEnrolment.user_id.in_(user_ids),
                                                                FaceEnrolment.active.is_(True))):
        out.setdefault(row.user_id, []).append(decrypt_embedding(row.embedding_enc))
    db.session().rollback()
    return out


def live_service(app: Flask):
    """This app's way to the live conferences: in-process, or over RPC the media worker each
    conference is routed to (by its id, every method's first argument: webapp.media.workers)."""
    found = app.extensions.get("conference_service")
    if found is None:
        if app.config["MEDIA_MODE"] == "remote":
            from webapp.media import client
            found = client(app).service("conference", METHODS, timeouts={"start_rollcall": 30.0, "play_media": 20.0})
        else:
            found = LiveService(app)
        app.extensions["conference_service"] = found
    return found
