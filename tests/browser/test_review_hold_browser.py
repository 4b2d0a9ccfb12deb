"""The player held for an officer's review, in real Chromium: no "verify again", the learner asks for
the review with a message, an officer clears the hold on the supervisee's page, and the player
reloads into a fresh sitting.

No camera here: the hold is the Socket.IO event the proctoring hub sends when a sitting is held
for review ({"state": "hold", "reason": "review"}), emitted to the learner's room as the hub does;
how a sitting gets there is tested in tests/integration/test_proctor_standing.py.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.browser.conftest import db_session, login, open_course, wait_for
from tests.browser.test_officer_proctoring import learner_id, officer_login, until
from webapp.extensions import socketio
from webapp.models import ProctorFlag, ProctorStanding, utcnow

pytestmark = pytest.mark.browser


def test_a_held_learner_asks_for_a_review_and_an_officer_clears_the_hold(live, new_page):
    uid = learner_id(live)
    with db_session(live) as s:
        s.add(ProctorStanding(learner_id=uid, failures=6, not_before=0.0, blocked_at=utcnow(), review_message=""))
        s.commit()
    page = new_page()
    login(page, live)
    open_course(page, live)
    sitting = page.get_attribute("#player", "data-session")
    page.wait_for_timeout(1500)   # the Socket.IO connection is up
    with live.app.app_context():
        socketio.emit("proctor", {"session_id": sitting, "state": "hold", "reason": "review"}, to=f"user:{uid}")
    page.wait_for_selector("#hold", state="visible", timeout=10_000)
    assert "须经工作人员复核" in page.text_content("#hold-text")
    assert page.is_hidden("#hold-recheck")          # no "verify again" while held for review
    assert page.is_visible("#review-ask") and page.is_visible("#review-message")

    page.fill("#review-message", "我一直在摄像头前学习")
    page.click("#review-ask")
    until(page, "() => document.getElementById('player').dataset.reviewRequested === '1'")
    assert "工作人员将进行复核" in page.text_content("#review-status")
    assert page.is_disabled("#review-ask")
    with db_session(live) as s:
        flag = s.scalar(select(ProctorFlag).where(ProctorFlag.kind == "review_requested"))
        assert flag is not None and json.loads(flag.scores_json)["message"] == "我一直在摄像头前学习"

    page.evaluate("() => { window.heldPage = true; }")     # gone once the page reloads
    officer = new_page()
    officer_login(officer, live)
    officer.goto(f"{live.url}/officer/supervisee/{uid}")
    card = officer.text_content("#proctor-standing")
    assert "6 / 6" in card and "我一直在摄像头前学习" in card
    officer.fill("#clear-hold textarea[name=reason]", "已电话核实为本人")
    officer.click("#clear-hold button[type=submit]")
    officer.wait_for_selector("#standing-none")
    assert "已解除暂停" in officer.content()

    wait_for(lambda: page.evaluate("() => window.heldPage !== true"), message="the player to reload")
    page.wait_for_selector("#player[data-ready='1']", state="attached", timeout=20_000)
    assert page.is_hidden("#hold")
    assert page.get_attribute("#player", "data-session") != sitting          # a fresh sitting
    with db_session(live) as s:
        row = s.get(ProctorStanding, uid)
        assert (row.failures, row.blocked_at, row.review_requested_at) == (0, None, None)
