"""The real player page in real Chromium, playing the real HLS course."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import current_time, db_session, login, open_course, play, wait_for
from webapp.models import CourseQuestion, CreditEntry, DroppedSegment, HeartbeatRejection, WatchProgress

pytestmark = pytest.mark.browser


wait_until = wait_for


def answer_prompt(page, live):
    """A breakpoint after a bank question's time is a surprise question: pick the right choice
    (the browser never gets the answer; the test reads it from the bank)."""
    if not page.query_selector("#prompt-choices input"):
        return
    with db_session(live) as s:
        answer = s.scalar(select(CourseQuestion.answer).where(CourseQuestion.prompt == page.inner_text("#prompt-text")))
    page.check(f"#prompt-choices input[value='{answer}']")


def stored_position(live) -> float:
    with db_session(live) as s:
        return s.scalar(select(WatchProgress.position_s)) or 0.0


def test_playback_resumes_where_it_stopped_after_the_page_is_closed(live, new_page):
    page = new_page()
    login(page, live)
    open_course(page, live)
    assert "我的学习" in page.content()  # Chinese UI by default
    play(page)
    wait_until(lambda: stored_position(live) >= 6.0, message="6 s of playback reported to the server")
    # The heartbeats travel over the page's Socket.IO connection (HTTP is only the fallback).
    assert page.get_attribute("#player", "data-transport") == "socket"
    page.evaluate("() => document.getElementById('video').pause()")
    time.sleep(1.5)  # the pause heartbeat
    saved = stored_position(live)
    page.close()

    again = new_page()  # another browser profile: a different device
    login(again, live)
    open_course(again, live)
    resumed = wait_until(lambda: current_time(again) or None, message="the player to seek to the resume point")
    assert resumed == pytest.approx(saved, abs=1.5)
    assert saved >= 6.0


def test_seek_ahead_is_refused_and_the_player_snaps_back(live, new_page):
    page = new_page()
    login(page, live)
    open_course(page, live)
    play(page)
    wait_until(lambda: current_time(page) > 2.0, message="playback to start")
    page.evaluate("() => { document.getElementById('video').currentTime = 30; }")
    wait_until(lambda: current_time(page) < 12.0, message="the player to snap back")
    assert page.is_visible("#notice")
    assert "不允许快进" in page.inner_text("#notice")
    with db_session(live) as s:
        reasons = s.scalars(select(HeartbeatRejection.reason)).all()
        frontier = s.scalar(select(WatchProgress.frontier_s))
    assert "seek_ahead" in reasons
    assert frontier < 15.0


def test_unanswered_breakpoint_earns_no_credit_for_that_interval(live, new_page):
    live.app.config.update(BREAKPOINT_MIN_S=4.0, BREAKPOINT_MEAN_S=5.0, BREAKPOINT_MAX_S=6.0,
                           BREAKPOINT_ANSWER_S=3.0)
    page = new_page()
    login(page, live)
    open_course(page, live)
    play(page)
    page.wait_for_selector("#prompt", state="visible", timeout=20_000)
    paused = page.evaluate("() => document.getElementById('video').paused")
    assert paused, "the player pauses for the breakpoint"
    watched_before_prompt = current_time(page)
    assert watched_before_prompt >= 3.0
    # Nobody answers: after the 3 s limit the prompt turns into the "not credited" notice.
    page.wait_for_selector("#expired", state="visible", timeout=15_000)
    with db_session(live) as s:
        assert s.scalar(select(func.count()).select_from(CreditEntry)) == 0
        dropped = s.scalar(select(func.sum(DroppedSegment.media_end - DroppedSegment.media_start)))
    assert dropped == pytest.approx(watched_before_prompt, abs=1.5)

    # Back at the screen: continue, and answer the next breakpoint in time.
    page.click("#expired-resume")
    page.wait_for_selector("#prompt", state="visible", timeout=20_000)
    answer_prompt(page, live)
    page.click("#prompt-confirm")
    page.wait_for_selector("#prompt", state="hidden")
    with db_session(live) as s:
        credited = s.scalar(select(func.sum(CreditEntry.credited_s)))
        covered_from = s.scalar(select(func.min(CreditEntry.media_start)))
    assert credited and credited > 2.0
    assert covered_from >= watched_before_prompt - 1.0  # nothing before the missed breakpoint
