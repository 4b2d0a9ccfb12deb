"""The face track (proctoring.track) on real photos: one person across webcam scenes, head turns
and nods stays one track; another person in the same place breaks it."""
import numpy as np
import pytest

from proctoring.sample_faces import ENROLLED, IMPOSTOR, nod, scene, turn
from proctoring.track import FaceTrack, appearance, similarity
from proctoring.vision import thread_analyzer

SIZE = (320, 240)


def observed(rgb):
    [detection] = thread_analyzer().detector.detect(rgb)
    box = (detection.box.x, detection.box.y, detection.box.w, detection.box.h)
    return box, appearance(rgb, box)


@pytest.fixture(scope="module")
def frames():
    base = {name: scene(name, SIZE, seed=0) for name in (ENROLLED, IMPOSTOR)}
    return {name: [base[name], scene(name, SIZE, seed=3), turn(base[name], 30.0), nod(base[name], 25.0)]
            for name in base}


def test_the_same_person_stays_similar_and_another_person_does_not(frames):
    same = [similarity(observed(a)[1], observed(b)[1]) for a in frames[ENROLLED] for b in frames[ENROLLED]]
    other = [similarity(observed(a)[1], observed(b)[1]) for a in frames[ENROLLED] for b in frames[IMPOSTOR]]
    assert min(same) > 0.55 > max(other), (min(same), max(other))


def test_a_swap_in_place_breaks_the_track(frames):
    track = FaceTrack()
    for rgb in frames[ENROLLED][:2]:
        assert track.observe(1, *observed(rgb)) is None
    track.verified()
    for rgb in frames[ENROLLED][2:]:
        assert track.observe(1, *observed(rgb)) is None     # head movements: one track
    assert track.observe(1, *observed(frames[IMPOSTOR][0])) == "appearance_changed"


def test_a_face_returning_or_jumping_breaks_the_track():
    track = FaceTrack()
    sig = np.full(96, 1 / 96, np.float32)
    assert track.observe(1, (100, 100, 50, 50), sig) is None
    track.verified()
    assert track.observe(1, (110, 100, 50, 50), sig) is None       # a small move
    assert track.observe(0) is None                                 # one empty sample
    assert track.observe(1, (110, 100, 50, 50), sig) == "face_returned"
    assert track.observe(1, (240, 100, 50, 50), sig) == "box_jump"  # 2.6 face widths in one sample
    assert track.observe(1, (240, 100, 100, 100), sig) == "box_jump"   # twice the size
    assert track.observe(2) is None and track.observe(1, (240, 100, 100, 100), sig) is None
