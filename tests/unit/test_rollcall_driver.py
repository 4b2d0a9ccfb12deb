"""The roll-call driver (webapp.conferences.rollcall_driver) around proctoring.rollcall: frame rates asked of
the room's taps, actions handed to the sink in order, the clock advanced without frames. The
identity model is replaced here by a stub returning given verdicts (a unit test of the logic
around it; tests/integration/test_conference_rollcall.py runs the real models on real photos)."""
import numpy as np

from proctoring.rollcall import Call, Done, Flag, Outcome, Participant, Record, RollCallPolicy, RollCallRun
from proctoring.vision import IdentityResult, IdentityVerdict
from webapp.conferences.rollcall_driver import RollCallDriver

FRAME = np.zeros((240, 320, 3), np.uint8)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def rig(distances, references, policy=None):
    clock = Clock()
    people = [Participant(uid, f"p{uid}", connected=True) for uid in distances]
    run = RollCallRun(b"secret", "rc1", people, policy or RollCallPolicy(answer_within_s=10, liveness=False))
    rates, batches = [], []

    def identify(rgb, refs):
        uid = rgb[0, 0, 0]
        d = distances[uid]
        verdict = IdentityVerdict(distance=d, threshold=0.5, passed=d <= 0.5) if d is not None else None
        return IdentityResult(1 if d is not None else 0, verdict, 0.9, None), 100.0

    driver = RollCallDriver(run, references, identify, lambda actions, frames: batches.append(list(actions)),
                            lambda person, fps: rates.append((person, fps)), threshold=0.5, clock=clock,
                            tick_s=3600)
    return driver, clock, rates, batches


def frame_of(uid):
    frame = FRAME.copy()
    frame[0, 0, 0] = uid
    return frame


def flat(batches):
    return [a for batch in batches for a in batch]


def test_rates_follow_calls_and_outcomes():
    driver, clock, rates, batches = rig({1: 0.3, 2: 0.8}, {1: [np.zeros(128)], 2: [np.zeros(128)]},
                                        RollCallPolicy(answer_within_s=10, liveness=False, parallel=1,
                                                       identity_attempts=1))
    driver.start()
    assert rates == [(1, driver.call_fps)]
    driver.on_frame(1, clock.now, frame_of(1))
    assert rates[-2:] == [(1, 0.0), (2, driver.call_fps)]     # decided, next one called
    driver.on_frame(2, clock.now, frame_of(2))
    actions = flat(batches)
    records = [a for a in actions if isinstance(a, Record)]
    assert [(r.person, r.outcome) for r in records] == [(1, Outcome.PRESENT_VERIFIED), (2, Outcome.PRESENT_UNVERIFIED)]
    flag_index = next(i for i, a in enumerate(actions) if isinstance(a, Flag))
    assert isinstance(actions[flag_index + 1], Record) and actions[flag_index + 1].person == 2
    assert isinstance(actions[-1], Done) and driver.done


def test_frames_of_people_not_called_are_ignored():
    driver, clock, rates, batches = rig({1: 0.3, 2: 0.3}, {1: [np.zeros(128)], 2: [np.zeros(128)]},
                                        RollCallPolicy(answer_within_s=10, liveness=False, parallel=1))
    driver.start()
    driver.on_frame(2, clock.now, frame_of(2))
    assert not any(isinstance(a, Record) for a in flat(batches))


def test_the_clock_decides_absence_without_any_frame():
    driver, clock, rates, batches = rig({1: None}, {1: [np.zeros(128)]})
    driver.start()
    clock.now += 11
    driver._emit(driver.run.tick(clock.now))
    records = [a for a in flat(batches) if isinstance(a, Record)]
    assert [(r.person, r.outcome) for r in records] == [(1, Outcome.ABSENT)]


def test_a_failing_identity_worker_loses_the_frame_not_the_roll_call():
    driver, clock, rates, batches = rig({1: 0.3}, {1: [np.zeros(128)]})

    def broken(rgb, refs):
        raise RuntimeError("worker died")
    driver.identify = broken
    driver.start()
    driver.on_frame(1, clock.now, frame_of(1))
    assert not driver.done
    driver.identify = lambda rgb, refs: (IdentityResult(1, IdentityVerdict(passed=True, distance=0.2, threshold=0.5), 0.9, None), 1.0)
    driver.on_frame(1, clock.now, frame_of(1))
    assert driver.run.outcome(1) is Outcome.PRESENT_VERIFIED


def test_a_failing_sink_does_not_stop_the_roll_call():
    driver, clock, rates, batches = rig({1: 0.3}, {1: [np.zeros(128)]})
    calls = []

    def sink(actions, frames):
        calls.append(actions)
        raise OSError("disk full")
    driver.sink = sink
    driver.start()
    driver.on_frame(1, clock.now, frame_of(1))
    assert driver.done and len(calls) == 2 and any(isinstance(a, Call) for a in calls[0])
