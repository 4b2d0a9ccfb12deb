"""A group education session's verified attendance into the study ledger (issue 16):
webapp/conferences/education_credit.py through the real end of a conference
(webapp.conferences.lifecycle.transition) on a real database.

A session of five minutes with shortened check timings (a check about every 60 s) across the
month boundary of the platform's time zone (Asia/Shanghai): T0 is 2026-11-30 23:57:30 there, so
T0 + 150 s is 2026-12-01 00:00:00. The rows are written as the live session writes them
(education_store); every expected second below is worked out by hand from those rows:

* A (zhangsan), present 0..end, passed checks at 20, 80, 140, 200, 260: attended 20..260 = 240 s,
  130 s in November (20..150) and 110 s in December (150..260).
* B (lisi), present 5..290, passed 25, 85, failed 145, passed 205, 265: the windows 85..145 and
  145..205 around the failure are lost: 25..85 (November, 60 s) and 205..265 (December, 60 s).
* C (wangwu), invited, never came: nothing.
* D (a supervisee of the same office), present 0..end, passed 10, 70, 130, 190, 250 (attended
  10..250), had home study credited at 100..160 and 230..400 (wall clock): credited 10..100
  (November, 90 s) and 160..230 (December, 70 s) = 160 s; the 80 s of overlap are not counted twice.
* E (a supervisee of the same office), present 0..end, passed 30, failed 90: no bracket, nothing.
* the on-site officer, present with passed checks at 20 and 80: officers get no credit.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from tests.conftest import user
from webapp.conferences import education_store as store
from webapp.conferences import lifecycle
from webapp.conferences.education_credit import credit_session, month_pieces, recover
from webapp.core import db as dbm
from webapp.core.security import hash_password
from webapp.models import (Conference, ConferenceStatus, CreditEntry, EducationSession, LearnerMonth, OrgUnit, Role,
                           User)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 30, 23, 57, 30, tzinfo=SHANGHAI).timestamp()
NOV, DEC = "2026-11", "2026-12"


def naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def add_supervisee(s, username: str, unit_name: str) -> User:
    unit = s.scalar(select(OrgUnit).where(OrgUnit.name == unit_name))
    person = User(username=username, display_name=username, role=Role.SUPERVISEE, unit_id=unit.id,
                  password_hash=hash_password("Unused-Pass-2026"), failed_logins=0, active=True)
    s.add(person)
    s.flush()
    return person


def education_conference(s, host: User, start: float, minutes: int = 5, cap_min: int | None = None) -> EducationSession:
    conference = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="法治教育课",
                            starts_at=naive_utc(start), duration_min=minutes, levels="5", include_supervisees=True,
                            status=ConferenceStatus.LIVE)
    s.add(conference)
    s.flush()
    edu = EducationSession(conference_id=conference.id, topic="法治教育", first_within_s=30, min_gap_s=60,
                           max_gap_s=90, max_parallel=2, session_cap_min=cap_min)
    s.add(edu)
    s.flush()
    return edu


def checks(s, edu: EducationSession, person: User, start: float, results: list[tuple[float, bool]], kind="face"):
    for offset, passed in results:
        store.record_check(s, edu.id, person.id, start + offset, kind, passed, "/room/")


def end(s, edu: EducationSession, at: float) -> None:
    conference = s.get(Conference, edu.conference_id)
    assert lifecycle.transition(s, conference, lifecycle.Event.END, naive_utc(at))
    s.commit()


def ledger(s, person: User, key: str | None = None) -> list[tuple]:
    query = select(CreditEntry.kind, CreditEntry.month, CreditEntry.wall_start, CreditEntry.wall_end,
                   CreditEntry.credited_s).where(CreditEntry.learner_id == person.id)
    if key is not None:
        query = query.where(CreditEntry.session_id == key)
    return sorted(tuple(r) for r in s.execute(query).all())


def month_total(s, person: User, month: str) -> float | None:
    return s.scalar(select(LearnerMonth.credited_s).where(LearnerMonth.learner_id == person.id,
                                                         LearnerMonth.month == month))


def test_month_pieces_cut_at_the_platform_months():
    midnight = datetime(2026, 12, 1, tzinfo=SHANGHAI).timestamp()
    assert month_pieces(midnight - 60, midnight + 90, "Asia/Shanghai") == [
        (NOV, midnight - 60, midnight), (DEC, midnight, midnight + 90)]
    assert month_pieces(midnight, midnight + 5, "Asia/Shanghai") == [(DEC, midnight, midnight + 5)]
    # the same moment (2026-11-30 16:30 UTC) is December in Shanghai, still November in UTC
    assert month_pieces(midnight + 1800, midnight + 1900, "UTC") == [(NOV, midnight + 1800, midnight + 1900)]


def test_verified_attendance_is_credited_once_by_the_ledger_rules(app):
    with app.app_context():
        s = dbm.session()
        host, onsite = user(s, "officer_xh"), user(s, "officer_bs")
        a, b, c = user(s, "zhangsan"), user(s, "lisi"), user(s, "wangwu")
        d, e = add_supervisee(s, "edu_d", "北山街道司法所"), add_supervisee(s, "edu_e", "北山街道司法所")
        edu = education_conference(s, host, T0)
        key = f"edu{edu.id}"
        # D's home study, already in the ledger (as the study code writes it: month of the wall end)
        for ws, we in ((T0 + 100, T0 + 160), (T0 + 230, T0 + 400)):
            s.add(CreditEntry(learner_id=d.id, course_id=None, session_id="home", kind="course", media_start=0.0,
                              media_end=we - ws, wall_start=ws, wall_end=we, unique_s=we - ws, credited_s=we - ws,
                              presence_source="breakpoint", month=DEC))
        from webapp.compliance import add_credit
        add_credit(s, d.id, DEC, 60.0 + 170.0)
        for person, joined in ((host, 0), (onsite, 0), (a, 0), (b, 5), (d, 0), (e, 0)):
            store.open_presence(s, edu.id, person.id, "/room/", T0 + joined, shared_room=person is onsite)
        checks(s, edu, a, T0, [(20, True), (80, True), (140, True), (200, True), (260, True)])
        checks(s, edu, b, T0, [(25, True), (85, True), (145, False), (205, True), (265, True)])
        checks(s, edu, d, T0, [(10, True), (70, True), (130, True), (190, True), (250, True)])
        checks(s, edu, e, T0, [(30, True), (90, False)])
        checks(s, edu, onsite, T0, [(20, True), (80, True)])
        store.close_presence(s, edu.id, b.id, T0 + 290)
        s.commit()
        before = {p.id: (month_total(s, p, NOV) or 0.0, month_total(s, p, DEC) or 0.0) for p in (a, b, c, d, e)}

        end(s, edu, T0 + 300)

        assert ledger(s, a, key) == [("group", NOV, T0 + 20, T0 + 150, 130.0), ("group", DEC, T0 + 150, T0 + 260, 110.0)]
        assert ledger(s, b, key) == [("group", NOV, T0 + 25, T0 + 85, 60.0), ("group", DEC, T0 + 205, T0 + 265, 60.0)]
        assert ledger(s, c) == []
        assert ledger(s, d, key) == [("group", NOV, T0 + 10, T0 + 100, 90.0), ("group", DEC, T0 + 160, T0 + 230, 70.0)]
        assert ledger(s, e) == []
        assert ledger(s, onsite) == [] and ledger(s, host) == []
        row = s.scalar(select(CreditEntry).where(CreditEntry.learner_id == a.id, CreditEntry.month == NOV))
        assert (row.session_id, row.course_id, row.media_start, row.media_end, row.unique_s, row.presence_source) == (
            key, None, 0.0, 130.0, 130.0, "edu_checks")
        # the unit pages' months moved by exactly the new credit
        expected = {a.id: (130.0, 110.0), b.id: (60.0, 60.0), c.id: (0.0, 0.0), d.id: (90.0, 70.0), e.id: (0.0, 0.0)}
        for p in (a, b, c, d, e):
            after = (month_total(s, p, NOV) or 0.0, month_total(s, p, DEC) or 0.0)
            assert (after[0] - before[p.id][0], after[1] - before[p.id][1]) == pytest.approx(expected[p.id]), p.username
        assert month_total(s, d, DEC) == pytest.approx(230.0 + 70.0)
        # the end closed the presence still open at the end time; B's own leaving stays
        rows = store.presence_of(s, edu.id)
        assert [(r.joined_at, r.left_at) for r in rows[a.id]] == [(T0, T0 + 300)]
        assert [(r.joined_at, r.left_at) for r in rows[b.id]] == [(T0 + 5, T0 + 290)]
        assert s.get(EducationSession, edu.id).credited_at is not None

        # a second credit, or a second end, adds nothing
        count = s.scalar(select(func.count()).select_from(CreditEntry))
        assert credit_session(s, edu.id, T0 + 400) == {}
        assert recover() == []
        s.commit()
        assert s.scalar(select(func.count()).select_from(CreditEntry)) == count
        assert month_total(s, a, NOV) - before[a.id][0] == pytest.approx(130.0)


def test_a_cap_cuts_the_credit_and_other_sessions_count_as_credited(app):
    """With session_cap_min=2, A's 240 attended seconds give 120 (the earliest first); a second
    session over the same minutes credits only what the first did not."""
    with app.app_context():
        s = dbm.session()
        host, a = user(s, "officer_xh"), user(s, "zhangsan")
        first = education_conference(s, host, T0, cap_min=2)
        second = education_conference(s, host, T0)
        for edu in (first, second):
            store.open_presence(s, edu.id, a.id, "/room/", T0)
            checks(s, edu, a, T0, [(20, True), (80, True), (140, True), (200, True), (260, True)])
        s.commit()
        end(s, first, T0 + 300)
        assert ledger(s, a, f"edu{first.id}") == [("group", NOV, T0 + 20, T0 + 140, 120.0)]
        end(s, second, T0 + 300)
        assert ledger(s, a, f"edu{second.id}") == [("group", NOV, T0 + 140, T0 + 150, 10.0),
                                                  ("group", DEC, T0 + 150, T0 + 260, 110.0)]


def test_a_crash_never_credits_past_the_last_check_and_the_sweep_credits_what_the_end_missed(app):
    """The process dies with A present (last check at +80). At the restart, `recover` closes A's
    presence at +80; A comes back at +600 (checks +620, +680). Credited: 20..80 and 620..680 =
    120 s; had the crash's row stayed open, the return would have joined it and 80..620 (540 s)
    would have counted. The conference then ends by a path that did not credit (its status
    written directly): the start-up sweep credits it."""
    with app.app_context():
        s = dbm.session()
        host, a = user(s, "officer_xh"), user(s, "zhangsan")
        edu = education_conference(s, host, T0 - 3600, minutes=20)
        start = T0 - 3600
        store.open_presence(s, edu.id, a.id, "/room/", start)
        checks(s, edu, a, start, [(20, True), (80, True)])
        s.commit()

        assert recover() == []                                  # still live: nothing to credit
        assert [(r.joined_at, r.left_at) for r in store.presence_of(s, edu.id)[a.id]] == [(start, start + 80)]
        store.open_presence(s, edu.id, a.id, "/room/", start + 600)
        checks(s, edu, a, start, [(620, True), (680, True)])
        s.execute(update(Conference).where(Conference.id == edu.conference_id).values(status=ConferenceStatus.ENDED))
        s.commit()

        assert recover() == [edu.id]
        assert ledger(s, a) == [("group", NOV, start + 20, start + 80, 60.0), ("group", NOV, start + 620, start + 680, 60.0)]
        # the open row of the ended conference was closed at the last check (+680)
        assert [(r.joined_at, r.left_at) for r in store.presence_of(s, edu.id)[a.id]] == [
            (start, start + 80), (start + 600, start + 680)]


def test_home_study_settled_after_the_session_is_not_credited_twice(app):
    """The other order of test_verified_attendance...'s learner D: A's session credits 20..260
    when the conference ends at +300; A had also played a course at home (another device) from
    +200 to +320, heartbeats every 10 s, settled by a passed attestation at +330, after the
    session's credit. Of the twelve 10 s segments, the six inside 200..260 were credited by the
    session: home study credits only 260..320 = 60 s (each segment's row stays, with 0 s where
    the session had the minutes, so the watched media is still on record)."""
    from tests.conftest import make_course
    from webapp.models import StudySession
    from webapp.study.service import attest, record_heartbeat, start_session

    with app.app_context():
        s = dbm.session()
        host, a = user(s, "officer_xh"), user(s, "zhangsan")
        course = make_course(app, s, slug="edu-home", duration=600.0)
        edu = education_conference(s, host, T0)
        store.open_presence(s, edu.id, a.id, "/room/", T0)
        checks(s, edu, a, T0, [(20, True), (80, True), (140, True), (200, True), (260, True)])
        s.commit()
        end(s, edu, T0 + 300)
        group_before = sum(r[4] for r in ledger(s, a, f"edu{edu.id}"))
        assert group_before == pytest.approx(240.0)
        month_before = month_total(s, a, DEC)

        study = start_session(s, a, course, T0 + 195)
        for seq, offset in enumerate(range(200, 321, 10)):
            assert record_heartbeat(s, study.id, a.id, seq, float(offset - 200), True, 1.0, T0 + offset) is not None
        s.commit()
        attest(s, s.get(StudySession, study.id), T0 + 330, ok=True, source="breakpoint")
        s.commit()

        home = [r for r in ledger(s, a) if r[0] == "course"]
        assert [(r[2] - T0, r[3] - T0) for r in home] == [(t, t + 10) for t in range(200, 320, 10)]
        assert [r[4] for r in home] == [0.0] * 6 + [10.0] * 6
        assert month_total(s, a, DEC) - month_before == pytest.approx(60.0)
        assert sum(r[4] for r in ledger(s, a, f"edu{edu.id}")) == pytest.approx(group_before)


def test_the_scheduler_credits_an_ended_session_its_end_did_not(app, monkeypatch):
    """A conference ended by a path that did not credit (its status written directly): the
    scheduler's job credits it within five minutes, once, without a restart."""
    from datetime import timedelta

    from webapp import scheduler

    # (the job pushes an app context of its own: called here outside the test's, whose
    # thread-local session the job's teardown would otherwise close under it)
    with app.app_context():
        s = dbm.session()
        host, a = user(s, "officer_xh"), user(s, "zhangsan")
        edu = education_conference(s, host, T0)
        store.open_presence(s, edu.id, a.id, "/room/", T0)
        checks(s, edu, a, T0, [(20, True), (80, True)])
        store.close_presence(s, edu.id, a.id, T0 + 100)
        s.commit()
        conference_id = edu.conference_id
    monkeypatch.setattr(scheduler, "_app", app)
    assert scheduler.credit_education_sessions() == 0           # still live
    with app.app_context():
        s = dbm.session()
        s.execute(update(Conference).where(Conference.id == conference_id).values(status=ConferenceStatus.ENDED))
        s.commit()
    assert scheduler.credit_education_sessions() == 1
    assert scheduler.credit_education_sessions() == 0
    with app.app_context():
        s = dbm.session()
        assert ledger(s, user(s, "zhangsan")) == [("group", NOV, T0 + 20, T0 + 80, 60.0)]
    running = scheduler.start(app)
    try:
        job = running.get_job("credit_education_sessions")
        assert job is not None and job.coalesce and job.max_instances == 1
        assert job.trigger.interval == timedelta(minutes=5)
    finally:
        running.shutdown(wait=False)
