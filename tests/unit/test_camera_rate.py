"""The camera frame-rate rule (proctoring.camera_rate), called directly, and its plumbing: the
sitting's check state decides it, the runner emits a change (to a recording sink), the web tier
maps the config to it. Expected values are written by hand from the rule (README "Camera frame
rate"): a frame a second at 240 lines, six a second during a liveness challenge."""
from __future__ import annotations

import time

import pytest

from proctoring.camera_rate import CameraRate, CameraRatePolicy, camera_rate, scale_down_by
from proctoring.liveness import LivenessPolicy
from proctoring.policy import IdentityPolicy
from proctoring.presence import PresencePolicy
from proctoring.sitting import Burst, Challenge, CheckPolicy, IdentitySample, SittingChecks

DEFAULT = CameraRatePolicy()


def test_the_defaults_are_one_frame_a_second_raised_to_six_for_a_challenge():
    assert (DEFAULT.base_fps, DEFAULT.base_height, DEFAULT.challenge_fps, DEFAULT.challenge_height) == \
        (1.0, 240, 6.0, 240)


def test_the_baseline_unless_a_challenge_runs_and_its_burst_lasts():
    assert camera_rate(DEFAULT, 100.0) == CameraRate(1.0, 240, False)
    assert camera_rate(DEFAULT, 100.0, challenge_until=110.0, challenge_running=True) == CameraRate(6.0, 240, True)
    assert camera_rate(DEFAULT, 109.99, challenge_until=110.0, challenge_running=True) == CameraRate(6.0, 240, True)
    # the end of the last window: back to the baseline
    assert camera_rate(DEFAULT, 110.0, challenge_until=110.0, challenge_running=True) == CameraRate(1.0, 240, False)
    # a challenge that ended early (failed, finished) no longer raises it, whatever its burst said
    assert camera_rate(DEFAULT, 100.0, challenge_until=110.0, challenge_running=False) == CameraRate(1.0, 240, False)
    assert camera_rate(DEFAULT, 100.0, challenge_until=None, challenge_running=True) == CameraRate(1.0, 240, False)


def test_configured_rates_and_heights_are_what_is_asked():
    policy = CameraRatePolicy(base_fps=2.0, base_height=120, challenge_fps=10.0, challenge_height=480)
    assert camera_rate(policy, 0.0) == CameraRate(2.0, 120, False)
    assert camera_rate(policy, 0.0, 5.0, True) == CameraRate(10.0, 480, True)


def test_the_message_the_page_gets():
    assert CameraRate(1.0, 240, False).message() == {"state": "camera", "fps": 1.0, "height": 240, "raised": False}
    assert CameraRate(6.0, 240, True).message() == {"state": "camera", "fps": 6.0, "height": 240, "raised": True}


@pytest.mark.parametrize("kwargs", [
    {"base_fps": 0.0}, {"base_fps": 0.4}, {"base_fps": 31.0}, {"base_fps": float("nan")},
    {"challenge_fps": 100.0}, {"base_height": 59}, {"base_height": 240.0}, {"challenge_height": 4000},
    {"base_height": True},
    {"base_fps": 8.0, "challenge_fps": 6.0},            # a challenge never asks for less
    {"base_height": 480, "challenge_height": 240},
])
def test_policies_outside_what_the_page_accepts_are_refused(kwargs):
    with pytest.raises(ValueError):
        CameraRatePolicy(**kwargs)


def test_the_scale_is_capture_over_asked_height_never_below_one():
    assert scale_down_by(240, 240) == 1.0
    assert scale_down_by(480, 240) == 2.0
    assert scale_down_by(240, 120) == 2.0
    assert scale_down_by(720, 240) == 3.0
    assert scale_down_by(240, 480) == 1.0     # a browser cannot scale up
    assert scale_down_by(0, 240) == 1.0       # capture height unknown


# --- the sitting's check state decides --------------------------------------------------------

POLICY = CheckPolicy(presence=PresencePolicy(grace_s=10.0, attest_every_s=30.0),
                     identity=IdentityPolicy(mean_s=120.0, min_s=20.0, max_s=300.0, liveness_share=0.0),
                     liveness=LivenessPolicy(window_s=4.0, max_lead_s=1.0), check_timeout_s=15.0,
                     challenge_lead_s=1.5)


def passed(at):
    return IdentitySample(at, faces=1, detector_score=0.9, distance=0.3, passed=True, threshold=0.5)


def test_a_sitting_asks_for_the_baseline_until_its_challenge_and_after_it():
    s = SittingChecks(b"unit-secret", "sitting-1", 0.0, POLICY)
    assert s.camera(0.0) == CameraRate(1.0, 240, False)       # the first check: identity on baseline frames
    out = s.on_identity(passed(2.0))
    [challenge] = [a for a in out if isinstance(a, Challenge)]
    [burst] = [a for a in out if isinstance(a, Burst)]
    end = challenge.step_starts[-1] + 4.0
    assert burst.until == end
    # from the identity pass (the lead before the first window lets the page raise it in time) ...
    assert s.camera(2.0) == CameraRate(6.0, 240, True)
    assert s.camera(end - 0.01) == CameraRate(6.0, 240, True)
    # ... to the end of the last window
    assert s.camera(end) == CameraRate(1.0, 240, False)


def test_a_challenge_that_fails_early_drops_the_rate_at_once():
    s = SittingChecks(b"unit-secret", "sitting-2", 0.0, POLICY)
    out = s.on_identity(passed(2.0))
    [challenge] = [a for a in out if isinstance(a, Challenge)]
    assert s.camera(3.0).raised
    s.finish(3.0)                       # finishing during a challenge fails it
    assert s.check is None
    assert s.camera(3.0) == CameraRate(1.0, 240, False)
    assert 3.0 < challenge.step_starts[-1] + 4.0


# --- the runner emits changes; the web tier maps the config -----------------------------------

def test_the_runner_emits_a_rate_change_when_a_challenge_starts_and_when_it_ends():
    from proctoring.feed import FeedPolicy  # noqa: F401 - the runner module imports it
    from streaming.rtc import RtcConfig
    from webapp.proctor.check_runner import CheckRunner, Sitting

    policy = CheckPolicy(liveness=LivenessPolicy(window_s=0.4, max_lead_s=0.1), challenge_lead_s=0.1)
    sent = []
    runner = CheckRunner(RtcConfig(), policy, b"unit-secret", lambda sitting, actions, frame: sent.append(actions),
                         identity_processes=0)        # not started: no engine thread, no worker
    now = time.time()
    checks = SittingChecks(b"unit-secret", "sitting-3", now, policy)
    sitting = Sitting("sitting-3", 7, [], checks, camera=checks.camera(now))
    runner._emit(sitting, [], None)
    assert sent == []                                  # nothing changed: nothing sent
    runner._emit(sitting, checks.on_identity(passed(time.time())), None)
    assert [a for a in sent[-1] if isinstance(a, CameraRate)] == [CameraRate(6.0, 240, True)]
    assert any(isinstance(a, Challenge) for a in sent[-1])
    runner._emit(sitting, [], None)
    assert len(sent) == 1                              # still raised: not sent again
    time.sleep(checks.check.shown_at[-1] + 0.4 - time.time() + 0.05)
    runner._emit(sitting, checks.tick(time.time()), None)   # the ticker: the challenge is over
    assert [a for a in sent[-1] if isinstance(a, CameraRate)] == [CameraRate(1.0, 240, False)]


def test_the_config_names_the_policy_and_the_browser_event(tmp_path, monkeypatch):
    from webapp.config import from_env
    from webapp.proctor.hub import _browser_event, camera_policy, check_policy

    for name in ("CAMERA_BASE_FPS", "CAMERA_BASE_HEIGHT", "CAMERA_CHALLENGE_FPS", "CAMERA_CHALLENGE_HEIGHT"):
        monkeypatch.delenv(name, raising=False)
    cfg = from_env(INSTANCE_DIR=str(tmp_path / "instance"))
    assert camera_policy(cfg) == CameraRatePolicy(1.0, 240, 6.0, 240)
    assert check_policy(cfg).camera == camera_policy(cfg)
    cfg.update(CAMERA_BASE_FPS=2.0, CAMERA_BASE_HEIGHT=120, CAMERA_CHALLENGE_FPS=8.0, CAMERA_CHALLENGE_HEIGHT=240)
    assert camera_policy(cfg) == CameraRatePolicy(2.0, 120, 8.0, 240)
    assert _browser_event(CameraRate(8.0, 240, True)) == {"state": "camera", "fps": 8.0, "height": 240,
                                                          "raised": True}
