"""Socket.IO handlers of live conferences: thin adapters from events to webapp.conferences.live.

Every event is checked the same way: a signed-in user (the connection was authenticated at
connect), a rate limit per connection, a conference id the user may see by the same rule as its
pages (conferencing.rules; otherwise "not_found", so nothing leaks about conferences of
other branches), and a live conference. Host commands are checked again by the floor, so a
participant's forged command gets "forbidden". Acks are {"ok": true, ...} or
{"error": code, "message": text in the user's language}.

The protocol (events and payloads) is described in conference.js's header and the README.
"""
from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_socketio import join_room, leave_room
from sqlalchemy import select

from conferencing.rules import room_chain
from streaming.rtc import SignallingError

from webapp.conferences import lifecycle
from webapp.conferences.lifecycle import Event
from webapp.core import db
from webapp.core.inputs import bounded_int
from webapp.core.sockets import allowed, on_disconnect
from webapp.extensions import socketio
from webapp.models import (
    Conference,
    ConferenceStatus,
    OrgUnit,
)

MESSAGES = {
    "forbidden": _l("Only the host may do this."),
    "not_found": _l("Not found, or outside your jurisdiction."),
    "bad_field": _l("The request was not valid."),
    "not_live": _l("The conference has not started yet, or it has ended."),
    "removed": _l("The host has removed you from this conference."),
    "rate_limited": _l("Too many requests. Please wait and try again."),
    "busy": _l("A roll call is already running."),
    "no_participants": _l("There is nobody to call."),
    "media": _l("The video connection could not be set up. Reload the page and try again."),
    "too_many_streams": _l("You are already watching as many videos as allowed."),
    "unknown_source": _l("That video is no longer available."),
    "media_unavailable": _l("The video service is restarting. Please wait a moment and try again."),
}

# The stage's refusals (conferencing.education codes), in the stage events' acks.
STAGE_MESSAGES = {
    "not_host": _l("Only the host may do this."),
    "not_allowed": _l("The host has not allowed you to share your screen."),
    "busy": _l("Something else is on the main screen. The host must stop it first."),
    "no_playback": _l("No course video is playing."),
    "not_sharing": _l("No screen is being shared."),
    "bad_position": _l("That position is outside the video."),
    "no_media": _l("This course has no video file."),
}
EDU_MESSAGES = {"forbidden": _l("Only an officer present in that room may confirm who is there.")}

_sid_member: dict[str, tuple[int, int]] = {}    # sid -> (conference id, user id)


def _error(code: str, detail: str = "", messages: dict | None = None) -> dict:
    known = {**MESSAGES, **(messages or {})}
    body = {"error": code, "message": str(known.get(code, MESSAGES["bad_field"]))}
    if detail:
        body["detail"] = detail[:200]
    return body


def _conference(data) -> tuple[Conference | None, dict | None]:
    from webapp.conferences.views import user_may_join

    if not current_user.is_authenticated:
        return None, _error("forbidden")
    if not allowed(request.sid, "conference"):
        return None, _error("rate_limited")
    if not isinstance(data, dict):
        return None, _error("bad_field")
    conference_id = bounded_int(data.get("conference_id"))   # a number the database can hold, or no id
    if conference_id is None:
        return None, _error("bad_field")
    conference = db.session().get(Conference, conference_id)
    if conference is None or not user_may_join(conference):
        return None, _error("not_found")
    return conference, None


class _Live:
    """A live conference as the handlers see it: its id, its host, and the service that runs it
    (webapp.conferences.live_service: this process, or the media process)."""

    def __init__(self, conference_id: int, host_id: int, service):
        self.id = conference_id
        self.host_id = host_id
        self.service = service


def _live(data):
    from webapp.conferences.live_service import live_service

    conference, error = _conference(data)
    if error:
        return None, error
    if conference.status != ConferenceStatus.LIVE:
        return None, _error("not_live")
    conference_id = conference.id
    db.session().rollback()    # end the read; the live conference writes from its own threads
    service = live_service(current_app._get_current_object())
    info = _call(lambda: service.info(conference_id))
    if info is None:
        return None, _error("not_live")
    if "error" in info:
        return None, info
    return _Live(conference_id, info["host_id"], service), None


def _hosted(data):
    """The live conference, for its host only (anyone else: "forbidden")."""
    live, error = _live(data)
    if error is None and current_user.id != live.host_id:
        return None, _error("forbidden")
    return live, error


def _call(step, messages: dict | None = None):
    """Run a live-conference step and turn its errors into acks (`messages`: the event's own codes)."""
    from webapp.conferences.live import LiveError
    from webapp.media.rpc import MediaError

    try:
        return step()
    except MediaError:
        return _error("media_unavailable")
    except LiveError as exc:
        known = exc.code in MESSAGES or exc.code in (messages or {})
        return _error(exc.code if known else "bad_field", exc.message, messages)
    except SignallingError as exc:
        # not_running: the media server is away or restarting (a Janus restart; webapp.conferences.live)
        code = {"too_many_streams": "too_many_streams", "unknown_source": "unknown_source",
                "unknown_stream": "not_found", "not_running": "media_unavailable"}.get(exc.code, "media")
        return _error(code, f"{exc.code}: {exc.message}")


def _chain_of(conference: Conference) -> list[str]:
    from webapp.conferences.views import scope_of

    unit = current_user.unit
    parts = [p for p in unit.path.split("/") if p]
    paths = ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]
    ancestors = db.session().execute(select(OrgUnit.path, OrgUnit.level).where(OrgUnit.path.in_(paths))).all()
    return room_chain(scope_of(conference), [(p, level) for p, level in ancestors])


def _offer(data) -> str | None:
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or data.get("type", "offer") != "offer" or len(sdp) > 20_000:
        return None
    return sdp


# --- events ------------------------------------------------------------------------------------
@socketio.on("conf_enter")
def _enter(data=None):
    from webapp.conferences.live import conference_room, media_room_channel
    from webapp.conferences.live_service import live_service

    conference, error = _conference(data)
    if error:
        return error
    is_host = conference.host_officer_id == current_user.id
    if conference.status == ConferenceStatus.SCHEDULED and is_host:
        with db.write_transaction() as session:
            lifecycle.transition(session, session.get(Conference, conference.id), Event.HOST_ENTERS)
            session.commit()
        db.session().refresh(conference)
    if conference.status != ConferenceStatus.LIVE:
        return _error("not_live")
    chain = _chain_of(conference)
    host_path = conference.host_unit.path
    name, unit_name, user_id = current_user.display_name, current_user.unit.name, current_user.id
    with db.write_transaction() as session:
        lifecycle.record_join(session, session.get(Conference, conference.id), user_id)
        session.commit()
    db.session().rollback()
    conference_id, host_id = conference.id, conference.host_officer_id
    service = live_service(current_app._get_current_object())
    result = _call(lambda: service.enter(conference_id, host_id, host_path, user_id, name, unit_name, chain))
    if "error" in result:
        return result
    join_room(conference_room(conference.id))
    join_room(media_room_channel(conference.id, result["room"]))
    _sid_member[request.sid] = (conference.id, user_id)
    ack = {"ok": True, "me": {"user_id": user_id, "name": name, "host": is_host},
           "state": result["state"], "sources": result["sources"], "rollcall": result["rollcall"],
           "stage": result.get("stage")}
    if is_host:
        ack["courses"] = _courses_for_host()
    return ack


def _courses_for_host() -> list[dict]:
    """The courses the host may play into the conference: staff use the whole catalogue (the
    course pages, webapp.supervision), those with their video file on disk."""
    from streaming.media_files import MediaPathError, resolve
    from webapp.core.access import STAFF
    from webapp.models import Course

    if current_user.role not in STAFF:
        return []
    root = current_app.config["MEDIA_ROOT"]
    out = []
    for course in db.session().scalars(select(Course).order_by(Course.category, Course.title)):
        try:
            resolve(root, course.slug, course.source_file)
        except MediaPathError:
            continue
        out.append({"id": course.id, "title": course.title, "duration_s": course.duration_s})
    db.session().rollback()
    return out


@socketio.on("conf_publish")
def _publish(data=None):
    live, error = _live(data)
    if error:
        return error
    sdp = _offer(data)
    if sdp is None:
        return _error("media", "bad_sdp: not an offer")
    user_id = current_user.id
    answer = _call(lambda: live.service.publish(live.id, user_id, sdp))
    if isinstance(answer, dict):
        return answer
    return {"ok": True, "sdp": answer, "type": "answer"}


@socketio.on("conf_subscribe")
def _subscribe(data=None):
    live, error = _live(data)
    if error:
        return error
    sdp = _offer(data)
    if sdp is None:
        return _error("media", "bad_sdp: not an offer")
    user_id = current_user.id
    answer = _call(lambda: live.service.subscribe(live.id, user_id, data.get("source_id"), sdp))
    if isinstance(answer, dict):
        return answer
    return {"ok": True, "sdp": answer, "type": "answer"}


@socketio.on("conf_subscribe_offer")
def _subscribe_offer(data=None):
    """Server offer, step 1 (every media backend; Janus only has this): the room's offer."""
    live, error = _live(data)
    if error:
        return error
    audio = data.get("audio", True)
    if not isinstance(audio, bool):
        return _error("bad_field")
    user_id = current_user.id
    offer = _call(lambda: live.service.subscribe_offer(live.id, user_id, data.get("source_id"), audio))
    if isinstance(offer, dict):
        return offer
    return {"ok": True, "sdp": offer, "type": "offer"}


@socketio.on("conf_subscribe_answer")
def _subscribe_answer(data=None):
    """Server offer, step 2: the page's answer."""
    live, error = _live(data)
    if error:
        return error
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or data.get("type") != "answer" or len(sdp) > 20_000:
        return _error("media", "bad_sdp: not an answer")
    user_id = current_user.id
    result = _call(lambda: live.service.subscribe_answer(live.id, user_id, data.get("source_id"), sdp))
    return result if isinstance(result, dict) else {"ok": True}


@socketio.on("conf_unsubscribe")
def _unsubscribe(data=None):
    live, error = _live(data)
    if error:
        return error
    user_id = current_user.id
    result = _call(lambda: live.service.unsubscribe(live.id, user_id, data.get("source_id")))
    return result if isinstance(result, dict) else {"ok": True}


@socketio.on("conf_hand")
def _hand(data=None):
    live, error = _live(data)
    if error:
        return error
    if not isinstance(data.get("raised"), bool):
        return _error("bad_field")
    user_id = current_user.id
    result = _call(lambda: live.service.raise_hand(live.id, user_id, data["raised"]))
    return result if isinstance(result, dict) else {"ok": True}


@socketio.on("conf_chat")
def _chat(data=None):
    live, error = _live(data)
    if error:
        return error
    user_id = current_user.id
    result = _call(lambda: live.service.chat(live.id, user_id, data.get("text")))
    return result if "error" in result else {"ok": True}


@socketio.on("conf_host")
def _host(data=None):
    from webapp.core.audit import audit

    live, error = _live(data)
    if error:
        return error
    target = data.get("user_id")
    if isinstance(target, int) and bounded_int(target) is None:
        return _error("bad_field")
    user_id = current_user.id
    result = _call(lambda: live.service.host_command(live.id, user_id, data.get("action"), target))
    if "error" in result:
        return result
    if result["action"] == "remove" and result["changed"]:
        audit("conference_participant_removed", target=f"conference:{live.id}", detail=f"user:{result['target']}")
        _leave_rooms_of(live.id, result["target"])
    return {"ok": True, "changed": result["changed"]}


@socketio.on("conf_leave")
def _leave(data=None):
    live, error = _live(data)
    if error:
        return error
    _depart(live, current_user.id)
    _sid_member.pop(request.sid, None)
    return {"ok": True}


@socketio.on("conf_end")
def _end(data=None):
    from webapp.conferences.live import announce_ended
    from webapp.core.audit import audit

    live, error = _hosted(data)
    if error:
        return error
    with db.write_transaction() as session:
        lifecycle.transition(session, session.get(Conference, live.id), Event.END)
        session.commit()
    audit("conference_ended", target=f"conference:{live.id}")
    announce_ended(current_app._get_current_object(), live.id)
    return {"ok": True}


@socketio.on("rollcall_start")
def _rollcall_start(data=None):
    from webapp.core.audit import audit

    live, error = _hosted(data)
    if error:
        return error
    user_ids = data.get("user_ids")
    if user_ids is not None and (not isinstance(user_ids, list) or len(user_ids) > 1000 or
                                 any(bounded_int(u) is None for u in user_ids)):
        return _error("bad_field")
    table_prefix = f"{request.script_root}/conferences/{live.id}/rollcalls/"
    user_id, app = current_user.id, current_app._get_current_object()
    result = _call(lambda: live.service.start_rollcall(live.id, user_id, user_ids, table_prefix))
    if isinstance(result, dict):
        return result
    # In a fresh context: the embedded roll call's own app context ended this one's session.
    with app.app_context():
        audit("rollcall_started", target=f"conference:{live.id}", detail=f"rollcall:{result}")
    return {"ok": True, "rollcall_id": result}


@socketio.on("rollcall_end")
def _rollcall_end(data=None):
    from webapp.core.audit import audit

    live, error = _live(data)
    if error:
        return error
    user_id = current_user.id
    result = _call(lambda: live.service.end_rollcall(live.id, user_id))
    if isinstance(result, dict):
        return result
    audit("rollcall_ended", target=f"conference:{live.id}")
    return {"ok": True}


# --- the stage: course media, shared screens (issue 16) ------------------------------------------
MEDIA_ACTIONS = ("play", "pause", "resume", "seek", "stop")


def _number(value) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@socketio.on("conf_media")
def _media(data=None):
    """The host plays a course into the conference, pauses, resumes, seeks, stops.
    {action, course_id (play), position (seek, seconds)} -> {"ok": true, "stage": {...}}."""
    from webapp.core.audit import audit

    live, error = _hosted(data)
    if error:
        return error
    action = data.get("action")
    if action not in MEDIA_ACTIONS:
        return _error("bad_field")
    user_id, service = current_user.id, live.service
    if action == "play":
        course_id = data.get("course_id")
        if not isinstance(course_id, int) or isinstance(course_id, bool) or bounded_int(course_id) is None:
            return _error("bad_field")
        result = _call(lambda: service.play_media(live.id, user_id, course_id), STAGE_MESSAGES)
    elif action == "seek":
        position = data.get("position")
        if not _number(position):
            return _error("bad_position", messages=STAGE_MESSAGES)
        result = _call(lambda: service.seek_media(live.id, user_id, float(position)), STAGE_MESSAGES)
    else:
        method = {"pause": service.pause_media, "resume": service.resume_media, "stop": service.stop_media}[action]
        result = _call(lambda: method(live.id, user_id), STAGE_MESSAGES)
    if "error" in result:
        return result
    if action == "play":
        audit("conference_media_played", target=f"conference:{live.id}", detail=f"course:{data['course_id']}")
    return {"ok": True, "stage": result}


@socketio.on("conf_share")
def _share(data=None):
    """Share a screen (the host, or a participant while the host allows it) or stop sharing.
    {action: "start", sdp, type: "offer"} -> {"ok": true, "sdp", "type": "answer"}; {action: "stop"}."""
    live, error = _live(data)
    if error:
        return error
    action = data.get("action")
    user_id = current_user.id
    if action == "start":
        sdp = _offer(data)
        if sdp is None:
            return _error("media", "bad_sdp: not an offer")
        answer = _call(lambda: live.service.share_screen(live.id, user_id, sdp), STAGE_MESSAGES)
        if isinstance(answer, dict):
            return answer
        return {"ok": True, "sdp": answer, "type": "answer"}
    if action == "stop":
        result = _call(lambda: live.service.stop_share(live.id, user_id), STAGE_MESSAGES)
        return result if "error" in result else {"ok": True, "stage": result}
    return _error("bad_field")


@socketio.on("conf_share_grant")
def _share_grant(data=None):
    """The host allows a participant to share a screen, or takes it back (ending their share).
    {user_id, allowed: bool}."""
    live, error = _hosted(data)
    if error:
        return error
    target, allowed_ = data.get("user_id"), data.get("allowed")
    if not isinstance(target, int) or isinstance(target, bool) or bounded_int(target) is None \
            or not isinstance(allowed_, bool):
        return _error("bad_field")
    user_id, service = current_user.id, live.service
    step = service.grant_share if allowed_ else service.revoke_share
    result = _call(lambda: step(live.id, user_id, target), STAGE_MESSAGES)
    return result if "error" in result else {"ok": True, "stage": result}


@socketio.on("conf_edu_confirm")
def _edu_confirm(data=None):
    """An on-site officer confirms who sits in front of a shared room's camera (an education
    session's check). {present: [user ids]}."""
    from webapp.core.access import STAFF

    live, error = _live(data)
    if error:
        return error
    if current_user.role not in STAFF:
        return _error("forbidden", messages=EDU_MESSAGES)
    present = data.get("present")
    if not isinstance(present, list) or len(present) > 500 or any(
            not isinstance(u, int) or isinstance(u, bool) or bounded_int(u) is None for u in present):
        return _error("bad_field")
    user_id = current_user.id
    result = _call(lambda: live.service.edu_confirm(live.id, user_id, present), EDU_MESSAGES)
    return result if "error" in result else {"ok": True, **result}


# --- leaving -----------------------------------------------------------------------------------
def _depart(live: _Live, user_id: int) -> None:
    from webapp.media.rpc import MediaError

    try:
        live.service.leave(live.id, user_id)
    except MediaError:
        pass        # the media process is down: its rooms are gone with it; the leave is recorded
    with db.write_transaction() as session:
        if lifecycle.record_leave(session, live.id, user_id):
            session.commit()


def _leave_rooms_of(conference_id: int, user_id: int) -> None:
    from webapp.conferences.live import conference_room

    for sid, (cid, uid) in list(_sid_member.items()):
        if cid == conference_id and uid == user_id:
            _sid_member.pop(sid, None)
            leave_room(conference_room(conference_id), sid=sid, namespace="/")


@on_disconnect
def _on_disconnect(sid: str) -> None:
    """A closed Socket.IO connection leaves the conference it was in (its media ends too)."""
    from webapp.conferences.live_service import live_service

    member = _sid_member.pop(sid, None)
    if member is None:
        return
    conference_id, user_id = member
    if any(m == member for m in _sid_member.values()):
        return      # the same user is still in through another connection
    _depart(_Live(conference_id, 0, live_service(current_app._get_current_object())), user_id)
