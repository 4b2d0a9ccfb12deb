"""Live conferences in this process: media rooms per level, the floor, and the roll call.

One `LiveConference` per conference that is live, kept in `app.extensions["conference_live"]`.

Media: one `streaming.conference.MediaRoom` per unit on the conference's chains (created when the
first participant of that unit enters): the host unit's room, and below it one room per unit at
an included level (`conferencing.rules.room_chain`). Each lower room relays the host's
camera from the room above as source "host"; a participant of a lower room whom the host puts in
the spotlight is relayed upwards, room by room, as source "speaker". No room carries the tree.
Participants publish their camera (source "u<user id>") into their own room and subscribe to
sources of that room only, with the server-offer flow every backend has (`subscribe_offer` /
`subscribe_answer`). The backend is configuration (`CONFERENCE_MEDIA_BACKEND`, `MEDIA_BACKENDS`
below): aiortc rooms in this process, whose transport between levels is
`CONFERENCE_RELAY_TRANSPORT` ("inprocess" hands packets between loops, "webrtc" makes each hop a
real WebRTC subscription, as between nodes), or Janus VideoRoom rooms (`JANUS_*` settings), which
cascade by Janus's own RTP forwarding. A room its media server lost (Janus restarted:
`MediaRoom.healthy()` is False, its sources have ended) is replaced by a new one at the next
enter, publish or subscribe of someone in the conference (`_revive`); the participants publish
again into it, and the host's relays are set up again as the host's camera comes back.

The stage (issue 16: course media the host plays, a shared screen) is `live_stage.StageMixin`;
an education session's presence and attendance checks are `live_education.EducationMixin`. Both
are parts of `LiveConference` kept in modules of their own.

The roll call: `webapp.conferences.rollcall_driver` on the called people's frames (the rooms' taps); each
outcome is written at once by `_RollCallSink` (attendance row, flag with its evidence frame).
A host who disconnects loses nothing: the roll call runs on the server until everyone is
decided or the host ends it.

Browsers hear about changes as Socket.IO "conf" events (see webapp.conferences.sockets).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from conferencing import education
from conferencing.rules import normalise_path
from proctoring.rollcall import (Call, Challenge, Done, Flag, Outcome, Participant, Record, RollCallPolicy, RollCallRun,
                                SelectionError, who_is_called)
from streaming.conference import AiortcRoom, JanusEndpoint, JanusRoom, MediaRoom, RoomConfig
from streaming.rtc import SignallingError

from webapp.core import db
from conferencing.floor import Floor, FloorError, HostCommand
from webapp.extensions import socketio
from webapp.models import AttendanceOutcome, AttendanceRecord, RollCall, Role, User, utcnow
from webapp.conferences.rollcall_driver import RollCallDriver
from webapp.conferences.live_common import (HOST_SOURCE, MEDIA_SOURCE, SCREEN_SOURCE, SPEAKER_SOURCE,  # noqa: F401
                                            STAGE_SOURCES, LiveError, conference_room, media_room_channel,
                                            source_of, user_of)
from webapp.conferences.live_education import EducationMixin
from webapp.conferences.live_stage import StageMixin

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ActiveRollCall:
    id: int
    driver: RollCallDriver
    names: dict[int, str]
    order: list[int]
    table_url: str


class LiveConference(StageMixin, EducationMixin):
    def __init__(self, app: Flask, conference_id: int, host_id: int, host_path: str, room_config: RoomConfig):
        self.app = app
        self.id = conference_id
        self.host_id = host_id
        self.host_path = normalise_path(host_path)
        self.room_config = room_config
        self.floor = Floor(host_id)
        self.rooms: dict[str, MediaRoom] = {}
        self.parent: dict[str, str | None] = {}
        self.member_room: dict[int, str] = {}
        self.speaker_rooms: list[str] = []     # rooms carrying the relayed "speaker", lowest first
        self.rollcall: ActiveRollCall | None = None
        self.tap_rates: dict[int, float] = {}
        self.lock = threading.RLock()
        self.closed = False
        self.stage = education.Stage(host_id)
        self.playback = None               # the FilePlayback on the stage (source "media")
        self.media_info: dict | None = None  # {"course_id", "title"} of that playback
        self.share_path: str | None = None  # the room the shared screen is published in
        self.edu = None                    # education session hooks (_EducationSession), if any
        self._edu_looked = False

    # --- people --------------------------------------------------------------------------
    def enter(self, user_id: int, name: str, unit_name: str, chain: Sequence[str]) -> dict:
        """`chain`: the rooms from the host's down to the user's (conference_rules.room_chain)."""
        self._revive()
        with self.lock:
            if self.closed:
                raise LiveError("not_live", "the conference has ended")
            try:
                self.floor.enter(user_id, name, unit_name)
            except FloorError as exc:
                raise LiveError(exc.code, exc.message) from None
            path = self._ensure_chain([normalise_path(p) for p in chain])
            self.member_room[user_id] = path
        self._open_education()
        self._edu_hook("on_enter", user_id)
        self.broadcast_floor()
        return {"state": self.floor.snapshot(), "sources": self.sources_for(user_id), "room": path,
                "stage": self.stage_view()}

    def leave(self, user_id: int) -> None:
        with self.lock:
            if not self.floor.leave(user_id):
                return
            room = self._room_of(user_id)
            self.tap_rates.pop(user_id, None)
            if self.speaker_rooms and self.floor.spotlight is None:
                self._drop_speaker()
            before = self.stage
            self.stage = education.leave(self.stage, user_id)
            if before.share is not None and self.stage.share is None:
                self._end_share()
        if room is not None:
            try:
                room.close(source_of(user_id))
            except SignallingError:
                pass
        self._edu_hook("on_leave", user_id)
        rollcall = self.rollcall
        if rollcall is not None:
            rollcall.driver.disconnect(user_id)
        self.broadcast_floor()

    def publish(self, user_id: int, offer_sdp: str) -> str:
        for attempt in (1, 2):
            room = self._member_media(user_id)
            source = source_of(user_id)
            try:
                if source in room.sources():
                    room.unpublish(source)   # a new camera replaces the old one (device change)
                return room.publish(source, offer_sdp)
            except SignallingError:
                if attempt == 2 or room.healthy():
                    raise
                # the media server lost the room during this call (Janus restarted): a new room, once
        raise AssertionError("unreachable")

    def subscribe(self, user_id: int, source_id: object, offer_sdp: str) -> str:
        """Client offer (backends with "client_offer" in `subscribe_modes`; Janus: unsupported)."""
        room = self._fresh_subscription(user_id, source_id)
        return room.subscribe(source_of(user_id), source_id, offer_sdp)

    def subscribe_offer(self, user_id: int, source_id: object, audio: bool = True) -> str:
        """Server offer, step 1 (every backend; what the pages use): the room's offer SDP."""
        room = self._fresh_subscription(user_id, source_id)
        return room.subscribe_offer(source_of(user_id), source_id, audio=bool(audio))

    def subscribe_answer(self, user_id: int, source_id: object, answer_sdp: str) -> None:
        """Server offer, step 2: the participant's answer to `subscribe_offer`."""
        room = self._member_media(user_id)
        if not isinstance(source_id, str) or len(source_id) > 32:
            raise LiveError("bad_field", "bad source id")
        room.subscribe_answer(source_of(user_id), source_id, answer_sdp)

    def _fresh_subscription(self, user_id: int, source_id: object) -> MediaRoom:
        room = self._member_media(user_id)
        if not isinstance(source_id, str) or len(source_id) > 32:
            raise LiveError("bad_field", "bad source id")
        if source_id == source_of(user_id):
            raise LiveError("bad_field", "one does not subscribe to oneself")
        try:
            room.close_subscription(source_of(user_id), source_id)   # a page reloaded: the new one wins
        except SignallingError:
            pass
        return room

    def unsubscribe(self, user_id: int, source_id: object) -> None:
        room = self._member_media(user_id)
        if not isinstance(source_id, str):
            raise LiveError("bad_field", "bad source id")
        room.close_subscription(source_of(user_id), source_id)

    def raise_hand(self, user_id: int, raised: bool) -> None:
        with self.lock:
            changed = self._floor(lambda: self.floor.raise_hand(user_id, raised))
        if changed:
            self.broadcast_floor()

    def chat(self, user_id: int, text: object) -> dict:
        with self.lock:
            message = self._floor(lambda: self.floor.say(user_id, text, time.time()))
        socketio.emit("conf", {"conference_id": self.id, "type": "chat", "message": message},
                      to=conference_room(self.id))
        return message

    def host_command(self, actor: int, action: object, target: object) -> HostCommand:
        with self.lock:
            command = self._floor(lambda: self.floor.command(actor, action, target))
            room = self._room_of(command.target)
            if command.action in ("mute", "unmute") and room is not None:
                try:
                    room.set_muted(source_of(command.target), command.action == "mute")
                except SignallingError:
                    pass      # not publishing: the floor remembers, applied when they publish
            elif command.action == "spotlight":
                self._drop_speaker()
                self._relay_speaker(command.target)
            elif command.action == "unspotlight" and command.changed:
                self._drop_speaker()
        if command.action in ("mute", "unmute"):
            socketio.emit("conf", {"conference_id": self.id, "type": "muted", "muted": command.action == "mute"},
                          to=f"user:{command.target}")
        if command.action == "remove":
            socketio.emit("conf", {"conference_id": self.id, "type": "removed"}, to=f"user:{command.target}")
            with self.lock:
                before = self.stage
                self.stage = education.leave(self.stage, command.target)
                if before.share is not None and self.stage.share is None:
                    self._end_share()
            self._close_media(command.target)
            self._edu_hook("on_leave", command.target)
            if self.rollcall is not None:
                self.rollcall.driver.disconnect(command.target)
        self.broadcast_floor()
        for path in list(self.rooms):
            self.broadcast_sources(path)
        return command

    # --- roll call -----------------------------------------------------------------------
    def start_rollcall(self, actor: int, user_ids: list[int] | None, policy: RollCallPolicy, secret: bytes,
                       references: dict, identify, threshold: float, table_url_for) -> int:
        with self.lock:
            if actor != self.host_id:
                raise LiveError("forbidden", "only the host may start a roll call")
            if self.rollcall is not None and not self.rollcall.driver.done:
                raise LiveError("busy", "a roll call is already running")
            members = self.floor.members
            try:
                chosen = who_is_called(self.floor.present_ids(), members, self.host_id, user_ids)
            except SelectionError as exc:
                raise LiveError(exc.code, str(exc)) from None
            with self.app.app_context():
                with db.write_transaction() as session:
                    row = RollCall(conference_id=self.id, started_by_id=actor, started_at=utcnow())
                    session.add(row)
                    session.commit()
                    rollcall_id = row.id
            names = {uid: members[uid].name for uid in chosen}
            participants = [Participant(uid, names[uid], connected=members[uid].publishing) for uid in chosen]
            run = RollCallRun(secret, f"rollcall:{rollcall_id}", participants, policy)
            sink = _RollCallSink(self, rollcall_id)
            driver = RollCallDriver(run, references, identify, sink, self._set_rate, threshold,
                                    executor=analysis_pool(self.app))
            self.rollcall = ActiveRollCall(rollcall_id, driver, names, chosen, table_url_for(rollcall_id))
        driver.start()
        self.broadcast_rollcall()
        return rollcall_id

    def end_rollcall(self, actor: int) -> None:
        if actor != self.host_id:
            raise LiveError("forbidden", "only the host may end a roll call")
        rollcall = self.rollcall
        if rollcall is None or rollcall.driver.done:
            raise LiveError("not_found", "no roll call is running")
        rollcall.driver.end()
        self.broadcast_rollcall()

    def rollcall_view(self) -> dict | None:
        rollcall = self.rollcall
        if rollcall is None:
            return None
        run = rollcall.driver.run
        now = time.time()
        calling = [{"user_id": uid, "name": rollcall.names[uid], "deadline_in_s": max(0.0, round(call.deadline - now, 1))}
                   for uid, call in list(run.active.items())]
        records = [{"user_id": uid, "name": rollcall.names[uid], "outcome": run.outcome(uid).value}
                   for uid in rollcall.order if run.outcome(uid) is not None]
        counts = {o.value: 0 for o in Outcome}
        for record in records:
            counts[record["outcome"]] += 1
        return {"rollcall_id": rollcall.id, "state": "done" if run.done else "running", "calling": calling,
                "records": records, "counts": counts, "table_url": rollcall.table_url}

    # --- media events (from the rooms' worker threads) ---------------------------------------
    def on_source_event(self, path: str, event: str, source_id: str) -> None:
        user_id = user_of(source_id)
        if event == "source_connected":
            if user_id is not None and self.member_room.get(user_id) == path:
                with self.lock:
                    self.floor.set_publishing(user_id, True)
                    member = self.floor.members.get(user_id)
                    muted = member is not None and member.muted
                room = self.rooms.get(path)
                if room is not None:
                    try:
                        if muted:
                            room.set_muted(source_id, True)
                        rate = self.tap_rates.get(user_id, 0.0)
                        if rate > 0:
                            room.tap(source_id, self._tap_callback(user_id), rate)
                    except SignallingError:
                        pass
                if self.rollcall is not None:
                    self.rollcall.driver.connect(user_id)
                if user_id == self.host_id or user_id == self.floor.spotlight:
                    with self.lock:
                        self._ensure_host_relays()
                        if user_id == self.floor.spotlight and not self.speaker_rooms:
                            self._relay_speaker(user_id)
            else:
                with self.lock:
                    self._ensure_host_relays()
                    self._ensure_stage_relays()
        elif event == "source_ended" and source_id == SCREEN_SOURCE and path == self.share_path:
            with self.lock:   # the sharer's browser ended the share (its own stop button, a closed tab)
                room = self.rooms.get(path)
                try:
                    still = room is not None and SCREEN_SOURCE in room.sources()   # a new share since
                except SignallingError:
                    still = False
                share = self.stage.share
                if not still and share is not None and path == self.share_path:
                    self.stage = dataclasses.replace(self.stage, main=None)
                    self._end_share()
        elif event == "source_ended" and user_id is not None and self.member_room.get(user_id) == path:
            with self.lock:
                self.floor.set_publishing(user_id, False)
            if self.rollcall is not None:
                self.rollcall.driver.disconnect(user_id)
        self.broadcast_floor()
        if not self.closed:
            for room_path in list(self.rooms):
                self.broadcast_sources(room_path)

    # --- views -------------------------------------------------------------------------------
    def sources_for(self, user_id: int) -> list[dict]:
        path = self.member_room.get(user_id)
        return self._sources_view(path) if path else []

    def broadcast_floor(self) -> None:
        socketio.emit("conf", {"conference_id": self.id, "type": "floor", "state": self.floor.snapshot(),
                               "stage": self.stage_view()},
                      to=conference_room(self.id))

    def broadcast_sources(self, path: str) -> None:
        socketio.emit("conf", {"conference_id": self.id, "type": "sources", "sources": self._sources_view(path),
                               "stage": self.stage_view()},
                      to=media_room_channel(self.id, path))

    def broadcast_rollcall(self) -> None:
        view = self.rollcall_view()
        if view is not None:
            socketio.emit("conf", {"conference_id": self.id, "type": "rollcall", "rollcall": view},
                          to=conference_room(self.id))

    # --- lifecycle -----------------------------------------------------------------------
    def shutdown(self, end_rollcall: bool = True) -> None:
        with self.lock:
            self.closed = True
            rollcall = self.rollcall
            edu, self.edu = self.edu, None
            playback, self.playback = self.playback, None
        if edu is not None:
            edu.stop()
        if rollcall is not None:
            if end_rollcall and not rollcall.driver.done:
                rollcall.driver.end()
            rollcall.driver.stop()
        for room in reversed(list(self.rooms.values())):
            try:
                room.shutdown()
            except Exception:
                log.exception("conference %s: room shutdown", self.id)
        self.rooms.clear()
        if playback is not None:
            playback.close()

    # --- internals ---------------------------------------------------------------------------
    def _floor(self, step):
        try:
            return step()
        except FloorError as exc:
            raise LiveError(exc.code, exc.message) from None

    def _member_media(self, user_id: int) -> MediaRoom:
        self._revive()
        with self.lock:
            if not self.floor.present(user_id):
                raise LiveError("not_found", "enter the conference first")
            room = self._room_of(user_id)
        if room is None:
            raise LiveError("not_found", "enter the conference first")
        return room

    def _room_of(self, user_id: int) -> MediaRoom | None:
        path = self.member_room.get(user_id)
        return self.rooms.get(path) if path else None

    def _ensure_chain(self, chain: list[str]) -> str:
        if not chain or chain[0] != self.host_path:
            raise LiveError("forbidden", "outside the conference")
        parent = None
        for path in chain:
            if path not in self.rooms:
                self.rooms[path] = self._new_room(path)
                self.parent[path] = parent
            parent = path
        self._ensure_host_relays()
        self._ensure_stage_relays()
        return chain[-1]

    def _new_room(self, path: str) -> MediaRoom:
        name = f"c{self.id}-{path.strip('/').replace('/', '.')}"
        backend = media_backend(self.app.config["CONFERENCE_MEDIA_BACKEND"])
        made: list[MediaRoom] = []
        room = backend(name, self.room_config, listener=self._listener(path, made),
                       **backend_options(self.app.config))
        made.append(room)
        return room.start()

    def _revive(self) -> None:
        """Replace the rooms the media server lost (a Janus restart), top down. Who published in
        one has stopped publishing (the roll call sees them disconnected until they publish
        again); relays come back as the sources do. When the media server is still away, the new
        room cannot start: SignallingError("not_running"), and the lost room stays for the next try."""
        with self.lock:
            lost = [path for path in sorted(self.rooms, key=len) if not self.rooms[path].healthy()]
            if not lost:
                return
            log.warning("conference %s: the media server lost rooms %s; making new ones", self.id, lost)
            old = {path: self.rooms[path] for path in lost}
            for path in lost:
                self.rooms[path] = self._new_room(path)
            self.speaker_rooms = [path for path in self.speaker_rooms if path not in old]
            if self.share_path in old:     # the sharer's stream died with its room: the share ends
                self.share_path = None
                if self.stage.share is not None:
                    self.stage = dataclasses.replace(self.stage, main=None)
            if self.host_path in old and self.playback is not None:
                self._replay_into(self.rooms[self.host_path])
            else:
                self._ensure_stage_relays()
            publishing = [uid for uid, path in self.member_room.items() if path in old
                          and uid in self.floor.members and self.floor.members[uid].publishing]
        for room in old.values():
            try:
                room.shutdown()
            except Exception:
                log.exception("conference %s: shutting down a lost room", self.id)
        for uid in publishing:   # their source_ended may not have come through the lost room yet
            self.on_source_event(self.member_room.get(uid, ""), "source_ended", source_of(uid))

    def _listener(self, path: str, made: list[MediaRoom]):
        def listener(event: str, source_id: str) -> None:
            if made and self.rooms.get(path) is not made[0]:
                return      # a room replaced by _revive: what it says is over
            try:
                self.on_source_event(path, event, source_id)
            except Exception:
                log.exception("conference %s: source event %s %s", self.id, event, source_id)
        return listener

    def _ensure_host_relays(self) -> None:
        """Every lower room relays "host" from its parent, top down, where the parent has it."""
        host_source = source_of(self.host_id)
        for path in sorted(self.rooms, key=len):
            parent_path = self.parent.get(path)
            if parent_path is None:
                continue
            room, parent = self.rooms[path], self.rooms[parent_path]
            upstream = host_source if parent_path == self.host_path else HOST_SOURCE
            try:
                if HOST_SOURCE not in room.sources() and upstream in parent.sources():
                    room.relay_from(parent, upstream, HOST_SOURCE)
            except SignallingError as exc:
                log.info("conference %s: host relay into %s not set up yet: %s", self.id, path, exc.code)

    def _relay_speaker(self, user_id: int) -> None:
        """Relay a spotlighted participant of a lower room up to the host's room."""
        path = self.member_room.get(user_id)
        if path is None or path == self.host_path:
            return
        source = source_of(user_id)
        carried: list[str] = []
        child = path
        try:
            while self.parent.get(child) is not None:
                parent_path = self.parent[child]
                self.rooms[parent_path].relay_from(self.rooms[child], source, SPEAKER_SOURCE)
                carried.append(parent_path)
                source = SPEAKER_SOURCE
                child = parent_path
        except SignallingError as exc:
            log.info("conference %s: speaker relay stopped at %s: %s", self.id, child, exc.code)
        self.speaker_rooms = carried

    def _drop_speaker(self) -> None:
        for path in reversed(self.speaker_rooms):
            room = self.rooms.get(path)
            if room is not None:
                try:
                    room.stop_relay(SPEAKER_SOURCE)
                except SignallingError:
                    pass
        self.speaker_rooms = []

    def _close_media(self, user_id: int) -> None:
        room = self._room_of(user_id)
        if room is not None:
            try:
                room.close(source_of(user_id))
            except SignallingError:
                pass

    def _sources_view(self, path: str) -> list[dict]:
        room = self.rooms.get(path)
        if room is None:
            return []
        try:
            ids = room.sources()
        except SignallingError:
            return []
        members = self.floor.members
        out = []
        for source_id in ids:
            if source_id == HOST_SOURCE:
                user_id, kind = self.host_id, "host"
            elif source_id == MEDIA_SOURCE:
                user_id, kind = None, "media"
            elif source_id == SCREEN_SOURCE:
                share = self.stage.share
                user_id, kind = (share.user_id if share is not None else None), "screen"
            elif source_id == SPEAKER_SOURCE:
                user_id, kind = self.floor.spotlight, "speaker"
            else:
                user_id = user_of(source_id)
                kind = "host" if user_id == self.host_id else "camera"
            member = members.get(user_id) if user_id is not None else None
            name = member.name if member else ""
            if kind == "media":
                name = (self.media_info or {}).get("title", "")
            out.append({"source_id": source_id, "user_id": user_id, "name": name, "kind": kind})
        return out

    def _tap_callback(self, user_id: int):
        def on_frame(source_id: str, at: float, rgb) -> None:
            rollcall = self.rollcall
            if rollcall is not None and not rollcall.driver.done:
                rollcall.driver.on_frame(user_id, at, rgb)
        return on_frame

    def _set_rate(self, user_id: int, fps: float) -> None:
        self.tap_rates[user_id] = fps
        room = self._room_of(user_id)
        if room is None:
            return
        source = source_of(user_id)
        if fps > 0:
            room.tap(source, self._tap_callback(user_id), fps)
        else:
            try:
                room.untap(source)
            except SignallingError:
                pass


class _RollCallSink:
    """Writes each outcome as it comes (one transaction per batch of actions) and tells people."""

    def __init__(self, live: LiveConference, rollcall_id: int):
        self.live = live
        self.rollcall_id = rollcall_id
        self.written: set[int] = set()

    def __call__(self, actions: list, frames: dict) -> None:
        from webapp.proctor import notify_flag
        from webapp.proctor import record_flag

        live = self.live
        flags = []
        with live.app.app_context():
            with db.write_transaction() as session:
                pending_flag: dict[int, int] = {}
                for action in actions:
                    if isinstance(action, Flag):
                        flag = record_flag(session, learner_id=action.person, session_id=None, check_id=None,
                                           kind=action.kind, at=action.at,
                                           scores={**action.scores, "rollcall_id": self.rollcall_id},
                                           frame_rgb=frames.get(action.person))
                        session.flush()
                        pending_flag[action.person] = flag.id
                        flags.append(flag)
                    elif isinstance(action, Record):
                        self._write(session, action.person, action.outcome, action.scores,
                                    pending_flag.get(action.person))
                    elif isinstance(action, Done):
                        self._sweep(session)
                        row = session.get(RollCall, self.rollcall_id)
                        if row is not None and row.ended_at is None:
                            row.ended_at = utcnow()
                session.commit()
                learners = {f.id: session.get(User, f.learner_id) for f in flags}
            for flag in flags:
                learner = learners.get(flag.id)
                if learner is not None and learner.role == Role.SUPERVISEE:
                    notify_flag(flag, learner)
        self._tell(actions)

    def _write(self, session, person: int, outcome: Outcome, scores: dict, flag_id: int | None) -> None:
        from webapp.proctor import plain_scores

        row = session.query(AttendanceRecord).filter_by(roll_call_id=self.rollcall_id, user_id=person).one_or_none()
        if row is None:
            row = AttendanceRecord(roll_call_id=self.rollcall_id, user_id=person)
            session.add(row)
        row.outcome = AttendanceOutcome(outcome.value)
        row.scores_json = json.dumps(plain_scores(scores))
        if flag_id is not None:
            row.flag_id = flag_id
        row.recorded_at = utcnow()
        self.written.add(person)

    def _sweep(self, session) -> None:
        """At the end, any outcome a failed write missed is written from the run's memory."""
        rollcall = self.live.rollcall
        if rollcall is None or rollcall.id != self.rollcall_id:
            return
        run = rollcall.driver.run
        for person, outcome in run.outcomes.items():
            if person not in self.written:
                self._write(session, person, outcome, {"reason": "written at the end"}, None)

    def _tell(self, actions: list) -> None:
        live = self.live
        for action in actions:
            if isinstance(action, Call):
                socketio.emit("conf", {"conference_id": live.id, "type": "rollcall_call", "rollcall_id": self.rollcall_id,
                                       "name": action.name,
                                       "answer_within_s": round(max(0.0, action.deadline - time.time()), 1)},
                              to=f"user:{action.person}")
            elif isinstance(action, Challenge):
                socketio.emit("conf", {"conference_id": live.id, "type": "rollcall_challenge",
                                       "actions": [a.value for a in action.actions],
                                       "starts_in_s": round(max(0.0, action.starts_at - time.time()), 2),
                                       "window_s": action.window_s}, to=f"user:{action.person}")
            elif isinstance(action, Record):
                socketio.emit("conf", {"conference_id": live.id, "type": "rollcall_result",
                                       "outcome": action.outcome.value}, to=f"user:{action.person}")
        if any(isinstance(a, (Call, Record, Done)) for a in actions):
            live.broadcast_rollcall()


# --- overrunning conferences ---------------------------------------------------------------------


def end_overdue_conferences(app: Flask, session, now) -> list[int]:
    """End live conferences 30 minutes past their scheduled end (a host who never pressed 结束会议):
    their roll calls are ended (people not yet decided recorded as such), rooms closed, everyone
    told. `now` is naive UTC like the stored times. Returns the ids ended."""
    from sqlalchemy import select

    from webapp.models import Conference, ConferenceStatus

    from conferencing.lifecycle import is_overdue

    from webapp.conferences import lifecycle

    overdue = [c for c in session.scalars(select(Conference).where(Conference.status == ConferenceStatus.LIVE))
               if is_overdue(c.status.value, c.starts_at, c.duration_min, now)]
    for conference in overdue:
        lifecycle.transition(session, conference, lifecycle.Event.OVERRUN, now)
    session.commit()
    ids = [c.id for c in overdue]
    for conference_id in ids:
        announce_ended(app, conference_id)
    return ids


def close_orphaned_rollcalls(now=None, orphaned=None) -> list[int]:
    """Roll calls left "in progress" by a process that died (their live state died with it): ended
    now. The attendance rows already written stay; whoever had not answered has no row, and the
    roll call's table shows them as not called. Run where the live conferences live, at start.
    `orphaned(conference_id)`: only the roll calls of conferences it says yes to (a media worker
    among several: those it owned or no live worker owns, webapp.media.workers); default every one."""
    from sqlalchemy import select

    with db.write_transaction() as session:
        rows = session.scalars(select(RollCall).where(RollCall.ended_at.is_(None))).all()
        rows = [row for row in rows if orphaned is None or orphaned(row.conference_id)]
        for row in rows:
            row.ended_at = now or utcnow()
        session.commit()
        return [row.id for row in rows]


def announce_ended(app: Flask, conference_id: int) -> None:
    """After the status is written: tell the room, close its media."""
    from webapp.conferences.live_service import live_service
    from webapp.media.rpc import MediaError

    socketio.emit("conf", {"conference_id": conference_id, "type": "ended"}, to=conference_room(conference_id))
    try:
        live_service(app).close(conference_id)
    except MediaError:
        log.warning("conference %s ended while the media process was away: its rooms went with it", conference_id)


# --- the registry ------------------------------------------------------------------------------
# The media layer is chosen by configuration: every backend implements streaming.conference.MediaRoom
# (the constructor takes (name, RoomConfig, listener=..., **backend_options(config)) and start()
# returns the running room). "janus": Janus VideoRoom rooms (streaming/conference/janus_room.py).
MEDIA_BACKENDS: dict[str, type] = {"aiortc": AiortcRoom, "janus": JanusRoom}


def backend_options(cfg) -> dict:
    """The backend's own keyword arguments from the app config (ValueError when incomplete)."""
    if cfg["CONFERENCE_MEDIA_BACKEND"] != "janus":
        return {}
    missing = [k for k in ("JANUS_URL", "JANUS_API_SECRET", "JANUS_ADMIN_KEY") if not cfg.get(k)]
    if missing:
        raise ValueError(f"CONFERENCE_MEDIA_BACKEND=janus needs {', '.join(missing)}")
    return {"janus": JanusEndpoint(cfg["JANUS_URL"].rstrip("/"), cfg["JANUS_API_SECRET"], cfg["JANUS_ADMIN_KEY"],
                                   cfg.get("JANUS_RTP_HOST") or None)}


def media_backend(name: str) -> type:
    try:
        return MEDIA_BACKENDS[name]
    except KeyError:
        raise ValueError(f"CONFERENCE_MEDIA_BACKEND={name!r}: available {sorted(MEDIA_BACKENDS)}") from None


_registry_lock = threading.Lock()


def room_config(cfg) -> RoomConfig:
    # relays per room: the host from above, a speaker from below, the stage's media or screen
    wanted = {"ice_servers": json.loads(cfg["ICE_SERVERS"] or "[]"),
              "relay_transport": cfg["CONFERENCE_RELAY_TRANSPORT"], "max_relays": 3}
    known = {f.name for f in dataclasses.fields(RoomConfig)}
    return RoomConfig(**{k: v for k, v in wanted.items() if k in known})


def analysis_pool(app: Flask) -> ThreadPoolExecutor:
    """The app's roll-call analysis threads (detector, landmarker), their models loaded as soon
    as the first conference goes live, so that a roll call started later finds them warm."""
    with _registry_lock:
        pool = app.extensions.get("conference_analysis")
        if pool is None:
            workers = app.config["ROLLCALL_WORKERS"]
            pool = ThreadPoolExecutor(workers, thread_name_prefix="rollcall-analysis")
            for _ in range(workers):
                pool.submit(_warm_slowly)
            app.extensions["conference_analysis"] = pool
        return pool


def _warm_slowly() -> None:
    from proctoring.vision import warm_up
    warm_up()
    time.sleep(0.2)   # keep this thread busy a moment, so the next warm-up lands on another thread


def live_conferences(app: Flask) -> dict[int, LiveConference]:
    return app.extensions.setdefault("conference_live", {})


def get_live(app: Flask, conference_id: int) -> LiveConference | None:
    return live_conferences(app).get(conference_id)


def open_live(app: Flask, conference_id: int, host_id: int, host_path: str) -> LiveConference:
    with _registry_lock:
        found = live_conferences(app).get(conference_id)
        if found is None or found.closed:
            found = LiveConference(app, conference_id, host_id, host_path, room_config(app.config))
            live_conferences(app)[conference_id] = found
    analysis_pool(app)
    return found


def close_live(app: Flask, conference_id: int) -> None:
    with _registry_lock:
        found = live_conferences(app).pop(conference_id, None)
    if found is not None:
        found.shutdown()


def shutdown(app: Flask) -> None:
    for conference_id in list(live_conferences(app)):
        close_live(app, conference_id)
    pool = app.extensions.pop("conference_analysis", None)
    if pool is not None:
        # wait: its threads end (and their face models are closed) now, not during the
        # interpreter's exit, when MediaPipe can no longer close them (a traceback each)
        pool.shutdown(wait=True, cancel_futures=True)
