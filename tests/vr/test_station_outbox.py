"""The station's on-disk outbox: atomic writes, delivery only on 200/201, retries with backoff while
the portal is away or busy, 4xx (but 409/429) moved to rejected/ with the error, never lost."""
from __future__ import annotations

import ast
import json
import os
import random
import threading
import uuid

import pytest
import requests

from vr_scenes import outbox as outbox_mod
from vr_scenes.outbox import Backoff, Outbox, OutboxSender, atomic_write_json
from vr_scenes.station import requeue_rejected


def payload(n: int = 0) -> dict:
    return {"client_session_id": uuid.uuid4().hex, "learner_id": 7, "scene": "prison", "n": n,
            "stages": [{"id": "arrival", "title": "入监"}]}


class FakePortal:
    """Answers with the scripted statuses in turn (the last one repeats); an exception is raised."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.received: list[dict] = []

    def __call__(self, body):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        self.received.append(body)
        if answer >= 400:
            return answer, {"error": "bad_field", "field": "stages", "message": "阶段无效"}
        return answer, {"session_id": len(self.received), "credited_s": 1.0, "month": "2026-11"}


def test_put_is_atomic_and_readable(tmp_path):
    box = Outbox(str(tmp_path / "q"))
    p = payload()
    path = box.put(p)
    assert os.path.basename(path) == f"{p['client_session_id']}.json"
    with open(path, encoding="utf-8") as fh:
        assert json.load(fh) == p
    assert box.pending() == [path]
    assert not [n for n in os.listdir(box.root) if n.startswith(".tmp-")]


def test_a_crash_while_writing_leaves_the_old_file_or_nothing(tmp_path, monkeypatch):
    box = Outbox(str(tmp_path / "q"))
    p = payload()
    path = box.put(p)

    def broken_fsync(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(outbox_mod.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write_json(path, {**p, "n": 99})
    monkeypatch.undo()
    with open(path, encoding="utf-8") as fh:
        assert json.load(fh)["n"] == 0                    # the old whole file, not a torn one
    assert not [n for n in os.listdir(box.root) if n.startswith(".tmp-")]   # the temporary is removed
    with pytest.raises(OSError):                           # a new session that fails to write is not queued
        monkeypatch.setattr(outbox_mod.os, "fsync", broken_fsync)
        box.put(payload(1))
    monkeypatch.undo()
    assert box.pending() == [path]


def test_leftover_temporaries_are_ignored_and_cleaned(tmp_path):
    root = tmp_path / "q"
    root.mkdir()
    (root / ".tmp-abc.json").write_text('{"client_session_id": "half')
    box = Outbox(str(root))
    assert box.pending() == [] and not (root / ".tmp-abc.json").exists()


def test_bad_ids_cannot_escape_the_folder(tmp_path):
    box = Outbox(str(tmp_path / "q"))
    for bad in ("", "../x", "a/b", "x.json"):
        with pytest.raises(ValueError):
            box.put({"client_session_id": bad})


def test_delivered_only_on_200_or_201(tmp_path):
    box = Outbox(str(tmp_path / "q"))
    a, b = payload(1), payload(2)
    box.put(a)
    box.put(b)
    portal = FakePortal(201, 200)
    report = box.deliver(portal)
    assert sorted(report.delivered) == sorted([a["client_session_id"], b["client_session_id"]])
    assert report.all_delivered and box.pending() == [] and box.rejected() == []
    assert report.answers[a["client_session_id"]]["month"] == "2026-11"
    assert [r["n"] for r in portal.received] == [1, 2]     # oldest first


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.Timeout("slow"),
                                     OSError("network unreachable"), 500, 502, 503, 409, 429])
def test_kept_while_the_portal_is_away_busy_or_conflicting(tmp_path, failure):
    box = Outbox(str(tmp_path / "q"))
    p = payload()
    path = box.put(p)
    report = box.deliver(FakePortal(failure))
    assert report.kept == [p["client_session_id"]] and not report.delivered and not report.rejected
    assert box.pending() == [path] and box.rejected() == []
    # the next attempt, with the portal back, delivers it, once
    portal = FakePortal(201)
    assert box.deliver(portal).delivered == [p["client_session_id"]]
    assert box.pending() == [] and len(portal.received) == 1
    assert box.deliver(portal).delivered == [] and len(portal.received) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_4xx_moves_to_rejected_with_the_error(tmp_path, status):
    box = Outbox(str(tmp_path / "q"))
    p, good = payload(), payload(1)
    box.put(p)
    box.put(good)
    calls = []

    def post(body):
        calls.append(body["client_session_id"])
        if body is not None and body["client_session_id"] == p["client_session_id"]:
            return status, {"error": "bad_field", "field": "stages", "message": "阶段无效"}
        return 201, {"session_id": 1}

    report = box.deliver(post)
    assert report.rejected == [p["client_session_id"]] and report.delivered == [good["client_session_id"]]
    assert box.pending() == []
    [rejected] = box.rejected()
    with open(rejected, encoding="utf-8") as fh:
        assert json.load(fh) == p                           # the session itself, unchanged
    with open(rejected[:-5] + ".error.json", encoding="utf-8") as fh:
        error = json.load(fh)
    assert error["status"] == status and error["error"] == "bad_field" and error["field"] == "stages"
    # never retried again
    box.deliver(post)
    assert calls.count(p["client_session_id"]) == 1
    # after the cause is fixed, a person may put it back in the queue
    assert requeue_rejected(box) == [p["client_session_id"]]
    assert box.rejected() == [] and len(box.pending()) == 1


def test_an_unreadable_file_is_rejected_not_deleted(tmp_path):
    box = Outbox(str(tmp_path / "q"))
    (tmp_path / "q" / "0123.json").write_text("{not json")
    report = box.deliver(FakePortal(201))
    assert report.rejected == ["0123"]
    assert (tmp_path / "q" / "rejected" / "0123.json").read_text() == "{not json"
    assert "unreadable" in (tmp_path / "q" / "rejected" / "0123.error.json").read_text()


def test_backoff_doubles_to_a_cap_and_resets():
    b = Backoff(base_s=2.0, max_s=30.0, jitter=0.0)
    assert [b.next_delay() for _ in range(6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    b.reset()
    assert b.next_delay() == 2.0
    j = Backoff(base_s=10.0, max_s=10.0, jitter=0.2, rng=random.Random(1))
    assert all(8.0 <= j.next_delay() <= 12.0 for _ in range(50))
    with pytest.raises(ValueError):
        Backoff(base_s=0)


def test_sender_retries_with_backoff_until_delivered(tmp_path):
    box = Outbox(str(tmp_path / "q"))
    p = payload()
    box.put(p)
    portal = FakePortal(requests.ConnectionError("down"), requests.ConnectionError("down"), 503, 201)
    delivered = threading.Event()
    delays = []

    def on_report(report):
        if report.delivered:
            delivered.set()

    sender = OutboxSender(box, portal, Backoff(base_s=0.01, max_s=0.05, jitter=0.0), idle_s=0.05,
                          on_report=on_report)
    report, delay = sender.attempt()                       # the attempt on start: portal down
    assert report.kept and delay == pytest.approx(0.01)
    delays.append(delay)
    sender.start()
    assert delivered.wait(5.0)
    sender.stop()
    assert box.pending() == [] and len(portal.received) == 2   # the 503 and the 201 reached it
    assert sender.backoff.failures == 0                     # reset after the success


def test_sender_picks_up_new_files_when_kicked(tmp_path):
    box = Outbox(str(tmp_path / "q"))
    portal = FakePortal(201)
    sender = OutboxSender(box, portal, Backoff(base_s=0.01, max_s=0.05), idle_s=3600.0)
    sender.attempt()
    sender.start()
    box.put(payload())
    sender.kick()
    for _ in range(200):
        if not box.pending():
            break
        threading.Event().wait(0.01)
    sender.stop()
    assert box.pending() == [] and len(portal.received) == 1


def test_a_file_delivered_meanwhile_by_another_process_is_no_error(tmp_path):
    box = Outbox(str(tmp_path / "q"))
    path = box.put(payload())

    def post(body):
        os.unlink(path)           # another station process got the same 200 and removed it
        return 200, {"session_id": 1}

    assert len(box.deliver(post).delivered) == 1 and box.pending() == []


def test_deliveries_of_two_processes_do_not_overlap(tmp_path):
    """While one process delivers (holding the outbox's lock), another one's delivery waits."""
    import subprocess
    import sys
    import time

    box = Outbox(str(tmp_path / "q"))
    box.put(payload())
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys, time; from vr_scenes.outbox import Outbox; b = Outbox(sys.argv[1]); "
            "print(b.deliver(lambda p: (print('posting', flush=True), time.sleep(1.5), (201, {}))[-1]).delivered, "
            "flush=True)")
    child = subprocess.Popen([sys.executable, "-c", code, box.root], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "posting"       # the child holds the lock now
        calls = []
        t0 = time.monotonic()
        report = box.deliver(lambda p: (calls.append(p), (201, {}))[-1])
        assert time.monotonic() - t0 > 0.5                          # waited for the child
        assert calls == [] and report.delivered == []               # and found nothing left to post
    finally:
        out, _ = child.communicate(timeout=30)
    assert len(ast.literal_eval(out.strip())) == 1
