"""The study API end to end on a real SQLite file: heartbeats, breakpoints, credit."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from tests.conftest import make_course, user
from webapp.models import CreditEntry, HeartbeatRejection, PendingSegment, StudySession, WatchProgress


@pytest.fixture
def course(app, db):
    app.config.update(BREAKPOINT_MIN_S=30.0, BREAKPOINT_MEAN_S=40.0, BREAKPOINT_MAX_S=50.0,
                      BREAKPOINT_ANSWER_S=20.0)
    return make_course(app, db, duration=600.0)


class Learner:
    def __init__(self, client, clock, course_id):
        self.client, self.clock, self.course_id = client, clock, course_id
        self.seq = 0
        self.session = None
        self.position = 0.0

    def start(self):
        response = self.client.api("/api/study/start", {"course_id": self.course_id})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        self.session, self.position, self.seq = body["session_id"], body["position"], 0
        return body

    def beat(self, position=None, playing=True, rate=1.0, seq=None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        response = self.client.api(f"/api/study/{self.session}/heartbeat",
                                   {"seq": seq, "position": self.position if position is None else position,
                                    "playing": playing, "rate": rate})
        return response

    def play(self, seconds, step=5.0):
        """Play in real time: the clock and the position advance together."""
        last = None
        for _ in range(int(seconds / step)):
            self.clock.advance(step)
            self.position += step
            last = self.beat()
            assert last.status_code == 200, last.get_json()
            if last.get_json()["prompt"]:
                return last.get_json()
        return last.get_json() if last else None

    def post(self, action, body=None):
        return self.client.api(f"/api/study/{self.session}/{action}", body or {})


@pytest.fixture
def learner(client_for, clock, course):
    return Learner(client_for("zhangsan"), clock, course.id)


def test_confirmed_breakpoint_credits_the_watched_span(learner, db):
    learner.start()
    learner.beat(position=0.0)
    body = learner.play(60)
    assert body["prompt"], "a breakpoint is due within 30-50 s of play"
    assert body["credited_s"] == 0.0  # nothing credited before presence is confirmed
    watched = learner.position
    confirm = learner.post("confirm", {"prompt_id": body["prompt"]["id"]})
    assert confirm.status_code == 200
    assert confirm.get_json()["credited_s"] == pytest.approx(watched, abs=0.01)
    assert db.scalar(select(func.sum(CreditEntry.credited_s))) == pytest.approx(watched, abs=0.01)


def test_unanswered_breakpoint_credits_nothing_since_last_confirmation(learner, db, clock):
    learner.start()
    learner.beat(position=0.0)
    body = learner.play(60)
    prompt = body["prompt"]
    assert prompt
    clock.advance(25)  # past the 20 s answer window, the player paused
    late = learner.beat(playing=False)
    assert late.get_json()["prompt_expired"] is True
    assert late.get_json()["credited_s"] == 0.0
    too_late = learner.post("confirm", {"prompt_id": prompt["id"]})
    assert too_late.status_code == 409 and too_late.get_json()["error"] in ("no_prompt", "prompt_expired")
    # Back at the screen: a new verified run starts, and the next confirmation credits only it.
    assert learner.post("resume").status_code == 200
    body = learner.play(60)
    second = learner.post("confirm", {"prompt_id": body["prompt"]["id"]}).get_json()
    assert 0 < second["credited_s"] <= 60.0
    assert db.scalar(select(func.count()).select_from(CreditEntry)) >= 1


def test_seek_ahead_is_refused_and_recorded(learner, db):
    learner.start()
    learner.beat(position=0.0)
    learner.play(20)
    response = learner.beat(position=300.0)
    assert response.status_code == 422
    body = response.get_json()
    assert body["reason"] == "seek_ahead" and body["snap_to"] == pytest.approx(20.0)
    assert body["frontier"] == pytest.approx(20.0)
    row = db.scalar(select(HeartbeatRejection))
    assert row.reason == "seek_ahead" and row.position == 300.0


def test_replayed_and_duplicate_heartbeats_credit_nothing(learner, db, clock):
    learner.start()
    learner.beat(position=0.0)
    learner.play(20)
    before = db.scalar(select(func.count()).select_from(PendingSegment))
    clock.advance(5)
    duplicate = learner.beat(seq=learner.seq, position=learner.position + 5)
    replay = learner.beat(seq=1, position=learner.position + 5)
    assert duplicate.get_json()["reason"] == "duplicate"
    assert replay.get_json()["reason"] == "replayed"
    assert db.scalar(select(func.count()).select_from(PendingSegment)) == before
    reasons = sorted(r.reason for r in db.scalars(select(HeartbeatRejection)))
    assert reasons == ["duplicate", "replayed"]


@pytest.mark.parametrize("body", [None, [], {"seq": "1", "position": 1, "playing": True, "rate": 1},
                                  {"seq": 1, "position": "x", "playing": True, "rate": 1},
                                  {"seq": 1, "position": 1, "playing": "yes", "rate": 1},
                                  {"seq": True, "position": 1, "playing": True, "rate": 1},
                                  {"seq": -1, "position": 1, "playing": True, "rate": 1},
                                  {"seq": 1, "position": 1, "playing": True}])
def test_malformed_heartbeats_get_a_json_error_and_change_nothing(learner, db, body):
    learner.start()
    response = learner.client.c.post(f"/api/study/{learner.session}/heartbeat", json=body,
                                     headers={"X-CSRFToken": learner.client.token})
    assert response.status_code == 400
    assert response.get_json()["error"] in ("bad_json", "bad_field")
    assert response.get_json()["message"]
    study = db.get(StudySession, learner.session)
    assert study.last_seq == -1
    assert db.scalar(select(func.count()).select_from(HeartbeatRejection)) == 0


def test_nan_and_negative_positions_are_rejected_as_invalid(learner, db):
    learner.start()
    for position in (-5.0, 1e9):
        response = learner.beat(position=position)
        assert response.status_code == 422 and response.get_json()["reason"] == "invalid"
    raw = learner.client.c.post(f"/api/study/{learner.session}/heartbeat",
                                data='{"seq": 9, "position": NaN, "playing": true, "rate": 1}',
                                content_type="application/json", headers={"X-CSRFToken": learner.client.token})
    assert raw.status_code == 422 and raw.get_json()["reason"] == "invalid"


def test_heartbeat_without_csrf_is_refused(learner):
    learner.start()
    response = learner.client.c.post(f"/api/study/{learner.session}/heartbeat",
                                     json={"seq": 1, "position": 0, "playing": True, "rate": 1})
    assert response.status_code == 400 and response.get_json()["error"] == "csrf"


def test_another_learners_session_is_not_found(learner, client_for, clock):
    learner.start()
    other = client_for("lisi")
    response = other.api(f"/api/study/{learner.session}/heartbeat",
                         {"seq": 1, "position": 0, "playing": True, "rate": 1})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_unassigned_course_cannot_be_started(app, db, client_for, clock):
    other = make_course(app, db, slug="not-assigned", assign_to=())
    response = client_for("zhangsan").api("/api/study/start", {"course_id": other.id})
    assert response.status_code == 404


def test_resume_point_is_kept_across_devices_and_old_sitting_closes(learner, client_for, clock, course):
    learner.start()
    learner.beat(position=0.0)
    learner.play(25)
    laptop_session = learner.session
    phone = Learner(client_for("zhangsan"), clock, course.id)
    body = phone.start()
    assert body["position"] == pytest.approx(25.0)
    learner.session = laptop_session
    stale = learner.beat(position=30.0)
    assert stale.status_code == 409 and stale.get_json()["error"] == "session_closed"


def test_finish_click_credits_tail_but_closing_the_page_does_not(learner, client_for, clock, course, db):
    learner.start()
    learner.beat(position=0.0)
    learner.play(20)
    done = learner.post("finish", {"confirmed": True}).get_json()
    assert done["credited_s"] == pytest.approx(20.0)
    second = Learner(client_for("zhangsan"), clock, course.id)
    second.start()
    second.beat()
    second.play(20)
    left = second.client.c.post(f"/api/study/{second.session}/finish",
                                data={"csrf_token": second.client.token})  # what sendBeacon sends
    assert left.status_code == 200
    assert left.get_json()["credited_s"] == pytest.approx(20.0)  # the unconfirmed tail stays uncredited
    assert db.get(StudySession, second.session).end_reason == "left"


def test_completion_and_monthly_hours(app, db, client_for, clock, monkeypatch):
    app.config.update(BREAKPOINT_MIN_S=1000.0, BREAKPOINT_MEAN_S=1000.0, BREAKPOINT_MAX_S=1000.0)
    # The pages' "this month" follows the test's server clock like the study API does (the
    # clock fixture replaces time.time(); current_month() reads datetime.now()).
    import webapp.study.views
    from webapp.study.service import month_of
    monkeypatch.setattr(webapp.study.views, "current_month", lambda: month_of(clock.now))
    # the district sets its own requirement; 北山 inherits it
    db.execute(text("UPDATE org_unit SET monthly_required_hours = 6.5 WHERE name = '西湖区司法局'"))
    db.commit()
    short = make_course(app, db, slug="short-course", duration=400.0)
    learner = Learner(client_for("zhangsan"), clock, short.id)
    learner.start()
    learner.beat(position=0.0)
    learner.play(385)
    body = learner.post("finish", {"confirmed": True}).get_json()
    assert body["complete"] is True and body["coverage_share"] >= 0.95
    progress = db.scalar(select(WatchProgress).where(WatchProgress.course_id == short.id))
    assert progress.completed_at is not None
    page = learner.client.get("/learn/").get_data(as_text=True)
    # The figures the page must show, from the raw rows: the credit entries of the month on the
    # page, and the requirement of the nearest unit up the learner's path that sets one.
    month = re.search(r"\d{4}-\d{2}", page.split('id="month-hours"')[0].rsplit("<h2>", 1)[1]).group(0)
    me = user(db, "zhangsan").id
    credited_s = db.execute(text("SELECT coalesce(sum(credited_s), 0) FROM credit_entry "
                                 "WHERE learner_id = :me AND month = :month"), {"me": me, "month": month}).scalar()
    assert credited_s == pytest.approx(385.0)   # the sitting's credit is in the month the page shows
    path = db.execute(text("SELECT o.path FROM app_user u JOIN org_unit o ON o.id = u.unit_id WHERE u.id = :me"),
                      {"me": me}).scalar()
    hours = dict(db.execute(text("SELECT id, monthly_required_hours FROM org_unit")).all())
    set_up_the_path = [hours[int(i)] for i in reversed(path.strip("/").split("/")) if hours[int(i)] is not None]
    needed = set_up_the_path[0] if set_up_the_path else app.config["MONTHLY_REQUIRED_HOURS"]
    shown = re.search(r'id="month-hours">([^<]*)<', page).group(1)
    assert re.findall(r"\d+\.\d+", shown) == [f"{credited_s / 3600:.1f}", f"{needed:.1f}"] == ["0.1", "6.5"], shown
    month_total = db.scalar(select(func.sum(CreditEntry.credited_s)).where(
        CreditEntry.learner_id == user(db, "zhangsan").id))
    assert month_total == pytest.approx(385.0)


def test_abandoned_sitting_is_closed_with_its_open_breakpoint_missed(app, learner, db, clock):
    from webapp import scheduler
    learner.start()
    learner.beat(position=0.0)
    body = learner.play(60)
    assert body["prompt"]
    scheduler._app = app
    assert scheduler.close_abandoned_sessions(now=clock.now + 5) == 0  # still fresh
    assert scheduler.close_abandoned_sessions(now=clock.now + 3600) == 1
    db.expire_all()
    study = db.get(StudySession, learner.session)
    assert study.end_reason == "abandoned" and study.ended_at is not None
    assert db.scalar(select(func.count()).select_from(CreditEntry)) == 0


def test_heartbeat_interval_straddling_a_confirmation_is_split_at_it(learner, db, clock):
    """A player that keeps playing through a confirmation: the beat after it covers time on
    both sides; the part before the confirmation is credited, the rest waits."""
    learner.start()
    learner.beat(position=0.0)
    body = learner.play(60)
    prompt = body["prompt"]
    assert prompt
    clock.advance(2)  # confirm 2 s after the last beat, still playing
    confirm = learner.post("confirm", {"prompt_id": prompt["id"]}).get_json()
    credited_at_confirm = confirm["credited_s"]
    clock.advance(3)
    learner.position += 5
    answer = learner.beat().get_json()
    assert answer["accepted"]
    assert answer["credited_s"] == pytest.approx(credited_at_confirm + 2.0, abs=0.01)
    pending = db.scalars(select(PendingSegment)).all()
    assert len(pending) == 1 and pending[0].wall_end - pending[0].wall_start == pytest.approx(3.0)
    assert db.scalar(select(CreditEntry.presence_source).order_by(CreditEntry.id.desc()).limit(1)) == "carried"
