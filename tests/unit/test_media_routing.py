"""The media workers' routing rule (webapp.media.workers.route): live workers + key + the
remembered worker -> the worker. The expected answers were worked out by hand from the first 8
bytes of sha256("<worker>\\0<key>") (printf '1\\0proctor:c' | sha256sum):

    key            worker 0          worker 1          worker 2
    proctor:a      d36d4f60ef4d80c7  0c554ecf6fc1a804  0cff8ec1cf0ffd02
    proctor:c      12a2c0e1097cdd44  77a07a3d5e446599  931eca806ed400f4
    conference:2   8c9e3e998f43dfdf  a0cffd4d4a0314ce  b5893577adec3800
"""
from __future__ import annotations

import pytest

from webapp.media.workers import check_worker_id, route


def test_no_live_worker_no_route():
    assert route([], "proctor:a", None) is None
    assert route([], "proctor:a", "0") is None


def test_a_new_key_goes_to_the_highest_score_among_the_live():
    assert route(["0", "1"], "proctor:a", None) == "0"
    assert route(["0", "1"], "proctor:c", None) == "1"
    assert route(["0", "1", "2"], "proctor:c", None) == "2"
    assert route(["0", "1", "2"], "conference:2", None) == "2"
    assert route(["0", "1"], "conference:2", None) == "1"
    assert route(["1", "2"], "proctor:a", None) == "2"


def test_the_only_live_worker_takes_everything():
    assert route(["1"], "proctor:a", None) == "1"
    assert route(["1"], "proctor:c", "0") == "1"


def test_a_remembered_live_worker_keeps_its_key():
    # A worker joining (2, the highest score for proctor:c) does not move a live sitting.
    assert route(["0", "1", "2"], "proctor:c", "1") == "1"
    # Even the lowest score keeps what it was given.
    assert route(["0", "1", "2"], "proctor:a", "1") == "1"


def test_a_remembered_dead_worker_gives_its_key_to_the_best_live_one():
    assert route(["0", "2"], "proctor:c", "1") == "2"
    assert route(["1", "2"], "proctor:a", "0") == "2"
    assert route(["0", "1"], "conference:2", "2") == "1"


def test_order_and_repeats_of_the_live_list_do_not_matter():
    assert route(["2", "1", "0", "1"], "proctor:c", None) == "2"
    assert route(("1", "0"), "proctor:a", None) == "0"


def test_worker_ids_name_redis_keys():
    assert check_worker_id("media-3.a_b") == "media-3.a_b"
    for bad in ("", "reply", "a:b", "a b", "x" * 65, "ü"):
        with pytest.raises(ValueError):
            check_worker_id(bad)
