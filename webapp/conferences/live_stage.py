"""The stage of a live conference (issue 16): course media the host plays and screens shared, as
one main stream besides the cameras, ruled by `conferencing.education.Stage`.

Course media is one `streaming.conference.FilePlayback` per play, published into the host's room
as source "media" (encoded once) and relayed down every lower room as "media", like "host";
pause, resume and seek act on that playback, so every level sees them. A shared screen is a
second stream of its sharer, published as source "screen" into the sharer's room, relayed up room
by room to the host's room (like the spotlight's "speaker") and from there down every other room.
`stage_view(now)` (kind, title, playing, position at now, duration, sharer, grants) goes with every
floor broadcast, so a late joiner gets the current position.

`StageMixin` is part of `webapp.conferences.live.LiveConference` (its rooms, floor, lock and
broadcasts); it only holds the stage's methods, so that module keeps to the rooms and the floor.
"""
from __future__ import annotations

import dataclasses
import logging
import time

from sqlalchemy.orm import Session

from conferencing import education
from streaming.conference import MediaRoom
from streaming.rtc import SignallingError

from webapp.conferences.live_common import MEDIA_SOURCE, SCREEN_SOURCE, LiveError
from webapp.models import User

log = logging.getLogger(__name__)


class StageMixin:
    # --- the stage: course media and shared screens ------------------------------------------
    def play_media(self, actor: int, course_id: object) -> dict:
        """The host plays a course's video into the conference (replacing what is on the stage)."""
        from streaming.conference.playback import FilePlayback

        self._revive()
        with self.lock:
            self._stage_allows(actor, "play")
        title, path, duration = self._course_media(course_id)
        try:
            playback = FilePlayback(str(path))
        except ValueError as exc:      # not a video PyAV can open
            raise LiveError("no_media", f"the course's video cannot be played: {exc}") from None
        stepped = False
        try:
            duration = float(playback.duration or duration)
            with self.lock:
                self._stage_step(lambda: education.play(self.stage, actor, f"course:{course_id}", duration,
                                                        time.time()))
                stepped = True
                self._clear_main()          # a new play replaces the old one (or a share)
                room = self.rooms.get(self.host_path)
                if room is None:
                    raise LiveError("not_found", "enter the conference first")
                self.playback = playback
                self.media_info = {"course_id": course_id, "title": title, "path": str(path)}
                room.publish_playback(MEDIA_SOURCE, playback)
                self._anchor_playback()
                self._ensure_stage_relays()
        except BaseException:
            with self.lock:
                if stepped:
                    self.stage = dataclasses.replace(self.stage, main=None)
                if self.playback is playback:
                    self.playback, self.media_info = None, None
            playback.close()
            raise
        self._stage_changed()
        return self.stage_view()

    def pause_media(self, actor: int) -> dict:
        with self.lock:
            self._stage_step(lambda: education.pause(self.stage, actor, time.time()))
            if self.playback is not None:
                self.playback.pause()
                self._anchor_playback()
        self._stage_changed(sources=False)
        return self.stage_view()

    def resume_media(self, actor: int) -> dict:
        with self.lock:
            self._stage_step(lambda: education.resume(self.stage, actor, time.time()))
            if self.playback is not None:
                self.playback.resume()
                self._anchor_playback()
        self._stage_changed(sources=False)
        return self.stage_view()

    def seek_media(self, actor: int, position: object) -> dict:
        with self.lock:
            self._stage_step(lambda: education.seek(self.stage, actor, position, time.time()))
            if self.playback is not None:
                self.playback.seek(float(position))
                self._anchor_playback()
        self._stage_changed(sources=False)
        return self.stage_view()

    def stop_media(self, actor: int) -> dict:
        with self.lock:
            self._stage_step(lambda: education.stop_playback(self.stage, actor))
            self._close_playback()
        self._stage_changed()
        return self.stage_view()

    def grant_share(self, actor: int, user_id: object) -> dict:
        with self.lock:
            if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id not in self.floor.members:
                raise LiveError("bad_field", "not a participant")
            self._stage_step(lambda: education.grant(self.stage, actor, user_id))
        self._stage_changed(sources=False)
        return self.stage_view()

    def revoke_share(self, actor: int, user_id: object) -> dict:
        with self.lock:
            if not isinstance(user_id, int) or isinstance(user_id, bool):
                raise LiveError("bad_field", "not a participant")
            before = self.stage
            self._stage_step(lambda: education.revoke(self.stage, actor, user_id))
            ended = before.share is not None and self.stage.share is None
            if ended:
                self._end_share()
        self._stage_changed(sources=ended)
        return self.stage_view()

    def share_screen(self, actor: int, offer_sdp: str) -> str:
        """The host, or a participant while allowed, shares a screen: a second stream of theirs,
        published as source "screen" in their room; returns the answer SDP."""
        self._revive()
        with self.lock:
            if not self.floor.present(actor):
                raise LiveError("not_found", "enter the conference first")
            path = self.member_room.get(actor)
            room = self.rooms.get(path) if path else None
            if room is None:
                raise LiveError("not_found", "enter the conference first")
            self._stage_step(lambda: education.start_share(self.stage, actor, time.time()))
            self._clear_main()          # what was on the stage (a playback, an earlier share) ends
            try:
                answer = room.publish(SCREEN_SOURCE, offer_sdp)
            except BaseException:
                self.stage = dataclasses.replace(self.stage, main=None)
                raise
            self.share_path = path
            self._ensure_stage_relays()
        self._stage_changed()
        return answer

    def stop_share(self, actor: int) -> dict:
        with self.lock:
            self._stage_step(lambda: education.stop_share(self.stage, actor))
            self._end_share()
        self._stage_changed()
        return self.stage_view()

    def stage_view(self, now: float | None = None) -> dict:
        """What a page shows of the stage at wall time `now` (a late joiner: the current position)."""
        now = time.time() if now is None else now
        with self.lock:
            stage, info, members = self.stage, self.media_info or {}, self.floor.members
            view = {"kind": "none", "grants": sorted(stage.grants), "at": now}
            pb, share = stage.playback, stage.share
            if pb is not None:
                view.update(kind="media", course_id=info.get("course_id"), title=info.get("title", ""),
                            playing=pb.playing and not pb.ended_at(now), position=round(pb.position_at(now), 3),
                            duration=pb.duration, source_id=MEDIA_SOURCE)
            elif share is not None:
                member = members.get(share.user_id)
                view.update(kind="share", user_id=share.user_id, name=member.name if member else "",
                            source_id=SCREEN_SOURCE)
        return view

    # --- internals: the stage -------------------------------------------------------------------
    def _stage_allows(self, actor: int, action: str) -> None:
        code = education.refusal(self.stage, actor, action)
        if code is not None:
            raise LiveError(code, f"{action} refused: {code}")

    def _stage_step(self, step) -> None:
        """Apply a pure stage rule (under the lock); its refusal becomes a LiveError of its code."""
        try:
            self.stage = step()
        except education.EducationError as exc:
            raise LiveError(exc.code, exc.message) from None

    def _anchor_playback(self) -> None:
        """The stage's position follows the real playback's (decoding may lag the wall clock)."""
        pb, playback = self.stage.playback, self.playback
        if pb is None or playback is None:
            return
        try:
            position = min(max(0.0, float(playback.position())), pb.duration)
        except Exception:   # noqa: BLE001 - the rule's own position stands
            return
        self.stage = dataclasses.replace(self.stage, main=dataclasses.replace(pb, position=position,
                                                                              set_at=time.time()))

    def _clear_main(self) -> None:
        """End the media of what was on the stage (the stage itself is the rule's business)."""
        self._close_playback()
        if self.share_path is not None:
            self._end_share()

    def _close_playback(self) -> None:
        playback, self.playback, self.media_info = self.playback, None, None
        if playback is None:
            return
        room = self.rooms.get(self.host_path)
        if room is not None:
            try:
                room.unpublish(MEDIA_SOURCE)      # its relays end with it
            except SignallingError:
                pass
        self._stop_relays(MEDIA_SOURCE, keep=self.host_path)
        playback.close()

    def _end_share(self) -> None:
        path, self.share_path = self.share_path, None
        if path is None:
            return
        self._stop_relays(SCREEN_SOURCE, keep=path)
        room = self.rooms.get(path)
        if room is not None:
            try:
                room.unpublish(SCREEN_SOURCE)
            except SignallingError:
                pass

    def _stop_relays(self, source_id: str, keep: str) -> None:
        """Stop the relays of a stage source in every room but its origin, lowest rooms first."""
        for path in sorted(self.rooms, key=len, reverse=True):
            if path == keep:
                continue
            try:
                if source_id in self.rooms[path].sources():
                    self.rooms[path].stop_relay(source_id)
            except SignallingError:
                pass

    def _ensure_stage_relays(self) -> None:
        """The stage's source reaches every room: a shared screen first up its room's chain to the
        host's room (as the spotlight does), then, like course media, down every lower room."""
        if self.share_path is not None:
            child = self.share_path
            while self.parent.get(child) is not None:
                parent_path = self.parent[child]
                room, below = self.rooms[parent_path], self.rooms[child]
                try:
                    if SCREEN_SOURCE not in room.sources():
                        if SCREEN_SOURCE not in below.sources():
                            break
                        room.relay_from(below, SCREEN_SOURCE, SCREEN_SOURCE)
                except SignallingError as exc:
                    log.info("conference %s: screen relay up into %s not set up yet: %s", self.id, parent_path,
                             exc.code)
                    break
                child = parent_path
        source = MEDIA_SOURCE if self.playback is not None else SCREEN_SOURCE if self.share_path else None
        if source is None:
            return
        for path in sorted(self.rooms, key=len):
            parent_path = self.parent.get(path)
            if parent_path is None:
                continue
            room, parent = self.rooms[path], self.rooms[parent_path]
            try:
                if source not in room.sources() and source in parent.sources():
                    room.relay_from(parent, source, source)
            except SignallingError as exc:
                log.info("conference %s: %s relay into %s not set up yet: %s", self.id, source, path, exc.code)

    def _replay_into(self, room: MediaRoom) -> None:
        """The host's room was replaced (_revive): the playback goes on in the new one, from where
        it was (a new FilePlayback: the old one's tracks went with the old room)."""
        from streaming.conference.playback import FilePlayback

        old, pb = self.playback, self.stage.playback
        position = pb.position_at(time.time()) if pb is not None else 0.0
        try:
            fresh = FilePlayback(self.media_info["path"], start_at=position, paused=not (pb is not None and pb.playing))
            room.publish_playback(MEDIA_SOURCE, fresh)
        except Exception as exc:   # noqa: BLE001 - the media server is still away: the stage empties
            log.warning("conference %s: the course media could not be played again: %s", self.id, exc)
            self.playback, self.media_info = None, None
            self.stage = dataclasses.replace(self.stage, main=None)
            old.close()
            return
        self.playback = fresh
        old.close()
        self._ensure_stage_relays()

    def _course_media(self, course_id: object) -> tuple[str, object, float]:
        """A course's title, video file (resolved as the study player's media route does) and
        duration. The host may use every course (staff use the whole catalogue, as the course
        pages show it); a course without its video file is refused."""
        from streaming.media_files import MediaPathError, resolve
        from webapp.core.access import STAFF
        from webapp.core.inputs import bounded_int
        from webapp.models import Course

        if not isinstance(course_id, int) or isinstance(course_id, bool) or bounded_int(course_id) is None:
            raise LiveError("bad_field", "course_id: a number")
        # A session of its own: this may run on a Socket.IO handler's thread, whose scoped
        # session (and its current_user) a nested app context would end.
        with Session(self.app.extensions["db_engine"]) as session:
            host = session.get(User, self.host_id)
            course = session.get(Course, course_id)
            if host is None or host.role not in STAFF or course is None:
                raise LiveError("not_found", "no such course")
            try:
                path = resolve(self.app.config["MEDIA_ROOT"], course.slug, course.source_file)
            except MediaPathError:
                raise LiveError("no_media", "the course has no video file") from None
            return course.title, path, float(course.duration_s or 0.0)

    def _stage_changed(self, sources: bool = True) -> None:
        self.broadcast_floor()
        if sources and not self.closed:
            for path in list(self.rooms):
                self.broadcast_sources(path)
