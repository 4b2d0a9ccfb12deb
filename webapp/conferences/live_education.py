"""A live conference held as a group education session (issue 16): its supervisees' presence rows
as they enter and leave (`webapp.conferences.education_store`), the sampled attendance checks
(`webapp.conferences.education_checks.EducationChecks`) with their ticker, and the on-site
officer's confirmation of a shared township room.

`EducationMixin` is part of `webapp.conferences.live.LiveConference`; `_EducationSession` runs the
hooks in order on a thread of its own, off the Socket.IO handlers' threads.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session

from webapp.conferences.education_checks import EducationChecks
from webapp.conferences.live_common import LiveError
from webapp.core import db
from webapp.models import Role, User

log = logging.getLogger(__name__)

EDU_TICK_S = 2.0            # how often the education checks are asked what is due


class EducationMixin:
    def edu_confirm(self, officer_id: int, named: object) -> dict:
        """An on-site officer names who sits in front of a shared room's camera."""
        if not isinstance(named, list) or len(named) > 500 or any(
                not isinstance(u, int) or isinstance(u, bool) for u in named):
            raise LiveError("bad_field", "present: a list of user ids")
        with self.lock:
            path = self.member_room.get(officer_id)
            if path is None or not self.floor.present(officer_id):
                raise LiveError("not_found", "enter the conference first")
            edu = self.edu
        if edu is None or edu.checks is None:
            raise LiveError("not_found", "no education session on this conference")
        # in order after the enter/leave hooks already queued (the officer's own entry among them)
        result = edu.run(lambda: edu.checks.confirm_room(officer_id, path, list(named)))
        return {"confirmed": result if isinstance(result, (list, dict, int, str, bool)) else None}

    def _open_education(self) -> None:
        """At the first entry: if the conference holds an education session
        (webapp.conferences.education_store), its presence rows and attendance checks run here."""
        with self.lock:
            if self._edu_looked or self.closed:
                return
            self._edu_looked = True
        from webapp.conferences import education_store

        with Session(self.app.extensions["db_engine"]) as session:   # (see _course_media)
            row = education_store.session_for(session, self.id)
            if row is None:
                return
            session_id = row.id
            policy = education_store.sampling_policy(row)
        checks = EducationChecks(self, session_id, policy, self.app.config["SECRET_KEY"].encode())
        with self.lock:
            if not self.closed:
                self.edu = _EducationSession(self, session_id, checks).start()
        if self.closed and checks is not None:
            checks.stop()

    def _edu_hook(self, name: str, *args) -> None:
        edu = self.edu
        if edu is not None:
            edu.call(name, *args)



class _EducationSession:
    """A live conference's education session: supervisees' presence rows as they enter and
    leave (webapp.conferences.education_store), the attendance checks' hooks (EducationChecks,
    when built) and their ticker thread, like the roll call's."""

    def __init__(self, live, session_id: int, checks):
        self.live = live
        self.session_id = session_id
        self.checks = checks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # enter/leave in order, off the Socket.IO handlers' threads (their writes need an app
        # context of their own, which would end a handler's session)
        self._calls = ThreadPoolExecutor(1, thread_name_prefix=f"edu-{session_id}-calls")

    def start(self) -> "_EducationSession":
        if self.checks is not None:
            self._thread = threading.Thread(target=self._tick_loop, name=f"edu-{self.session_id}", daemon=True)
            self._thread.start()
        return self

    def call(self, name: str, user_id: int) -> None:
        try:
            self._calls.submit(self._call, name, user_id)
        except RuntimeError:    # stopped
            pass

    def run(self, step, timeout_s: float = 20.0):
        """`step()` on the session's thread, after the calls queued before it; its result or error."""
        try:
            future = self._calls.submit(step)
        except RuntimeError:
            raise LiveError("not_live", "the conference has ended") from None
        return future.result(timeout=timeout_s)

    def _call(self, name: str, user_id: int) -> None:
        try:
            self._presence(name, user_id)
        except Exception:   # noqa: BLE001 - a failed write must not stop the conference
            log.exception("education session %s: presence of %s (%s)", self.session_id, user_id, name)
        if self.checks is not None:
            try:
                getattr(self.checks, name)(user_id)
            except Exception:   # noqa: BLE001
                log.exception("education session %s: checks.%s(%s)", self.session_id, name, user_id)

    def _presence(self, name: str, user_id: int) -> None:
        from webapp.conferences import education_store

        live, now = self.live, time.time()
        with live.app.app_context():
            with db.write_transaction() as session:
                user = session.get(User, user_id)
                if user is None or user.role != Role.SUPERVISEE:
                    return
                if name == "on_enter":
                    education_store.open_presence(session, self.session_id, user_id,
                                                  live.member_room.get(user_id, ""), now)
                else:
                    education_store.close_presence(session, self.session_id, user_id, now)
                session.commit()

    def _tick_loop(self) -> None:
        while not self._stop.wait(EDU_TICK_S):
            try:
                self.checks.tick(time.time())
            except Exception:   # noqa: BLE001 - the next tick tries again
                log.exception("education session %s: tick", self.session_id)

    def stop(self) -> None:
        self._stop.set()
        self._calls.shutdown(wait=True)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.checks is not None:
            try:
                self.checks.stop()
            except Exception:   # noqa: BLE001
                log.exception("education session %s: stopping the checks", self.session_id)
