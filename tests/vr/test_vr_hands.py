"""First-person hands (vr_scenes.hands): the pose per stage from the story, from hand-written facts and from
the scenes' own logic, and a render check that the hands show in the lower part of the view (software
renderer, in a subprocess: ``python -m vr_scenes.look --nohands`` renders each shot with and without)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vr_scenes import registry
from vr_scenes.core import fast_forward
from vr_scenes.hands import Facts, HandMemory, facts_of, hand_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def state(scene, stage, t=5.0, memory=None, **facts):
    return hand_state(Facts(scene, stage, t, **facts), memory)


def test_prison_search_raises_both_hands_once_searched():
    before = state("prison", "arrival", 20.0)
    assert before.right.pose == before.left.pose == "rest" and not before.right.visible
    after = state("prison", "arrival", 35.0, searched=True)
    assert after.right.pose == after.left.pose == "raised"
    assert after.right.visible and after.left.visible
    assert after.right.pos[2] > before.right.pos[2] + 0.4          # up, near eye height
    assert after.right.grip == 0.0                                   # open palms
    assert after.left.pos == (-after.right.pos[0], *after.right.pos[1:])   # the left hand mirrors the right


def test_visiting_room_phone_is_held_once_picked_up():
    assert state("prison", "visiting", 5.0).right.pose == "rest"
    held = state("prison", "visiting", 12.0, phone=True)
    assert held.right.pose == "phone" and held.prop == "phone" and held.right.grip == 1.0
    assert not held.left.visible
    assert state("prison", "cell", 12.0, phone=True).right.pose == "rest"   # only in the visiting room


def test_drinking_holds_the_glass_and_lifts_it_at_each_drink():
    memory = HandMemory()
    first = Facts("drunk", "drinking", 2.0, drinks=0)
    memory.update(first)
    holding = hand_state(first, memory)
    assert holding.right.pose == "glass" and holding.prop == "glass"
    drink = Facts("drunk", "drinking", 3.1, drinks=1)
    memory.update(drink)
    memory.update(Facts("drunk", "drinking", 3.6, drinks=1))
    lifted = hand_state(Facts("drunk", "drinking", 3.6, drinks=1), memory)
    assert lifted.right.pose == "drink" and lifted.right.pos[2] > holding.right.pos[2] + 0.05
    lowered = hand_state(Facts("drunk", "drinking", 6.0, drinks=1), memory)
    assert lowered.right.pose == "glass"


def test_driving_hands_on_the_wheel_and_braced_when_braking():
    cruise = state("drunk", "sober_lap", 30.0, brake=0.0)
    assert cruise.right.pose == cruise.left.pose == "wheel"
    assert not cruise.follow_gaze                    # fixed in the car: looking around leaves them on the wheel
    assert cruise.right.grip == 1.0 and cruise.right.pos[0] > 0 > cruise.left.pos[0]
    braking = state("drunk", "drunk_lap", 30.0, brake=1.0)
    assert braking.right.pose == "brace" and braking.right.pos[1] > cruise.right.pos[1]
    assert state("drunk", "crash", 1.0).right.pose == "brace"
    assert state("drunk", "police", 5.0).right.pose == "rest"


def test_rehab_refusal_pushes_an_open_palm_forward():
    memory = HandMemory()
    start = Facts("rehab", "temptation", 18.0, choice="refuse")
    memory.update(start)
    at_choice = hand_state(start, memory)
    memory.update(Facts("rehab", "temptation", 18.7, choice="refuse"))
    pushed = hand_state(Facts("rehab", "temptation", 18.7, choice="refuse"), memory)
    assert at_choice.right.pose == pushed.right.pose == "refuse"
    assert pushed.right.grip == 0.0                                  # open
    assert pushed.right.pos[1] > at_choice.right.pos[1] + 0.1       # pushed away from the body
    assert pushed.right.hpr[1] > 60                                  # fingers up, palm forward
    carried = state("rehab", "relapse", 0.8, choice="refuse")        # the choice ends the stage at once
    assert carried.right.pose == "refuse" and carried.right.pos[1] >= pushed.right.pos[1] - 1e-6
    assert state("rehab", "relapse", 3.0, choice="refuse").right.pose == "rest"
    assert state("rehab", "temptation", 18.0, choice="accept").right.pose == "rest"
    assert state("rehab", "temptation", 10.0).right.pose == "rest"


def test_withdrawal_hands_tremble():
    shaking = state("rehab", "withdrawal", 20.0, tremor=0.8)
    assert shaking.right.pose == "shaking" and shaking.tremor > 0


def test_the_scenes_own_logic_gives_the_poses():
    """The scripted learner plays; facts_of reads the scene's attributes (no Panda3D)."""
    prison = registry.create("prison")
    fast_forward(prison, until_stage="arrival", until_t=40.0)
    assert hand_state(facts_of(prison)).right.pose == "raised"
    fast_forward(prison, until_stage="visiting", until_t=20.0)
    assert hand_state(facts_of(prison)).right.pose == "phone"
    drunk = registry.create("drunk")
    fast_forward(drunk, until_stage="sober_lap", until_t=25.0)
    assert hand_state(facts_of(drunk)).right.pose in ("wheel", "brace")


# --- rendered ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = tmp_path_factory.mktemp("vr-hands")
    proc = subprocess.run([sys.executable, "-m", "vr_scenes.look", "--backend", "tiny", "--size", "480x270",
                           "--nohands", "--out", str(out),
                           "--shots", "prison:arrival@40,prison:visiting@20,drunk:sober_lap,prison:cell"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(out / "manifest.json", encoding="utf-8") as fh:
        return {(s["scene"], s["stage"]): s for s in json.load(fh)["shots"]}


def test_hands_appear_in_the_lower_part_of_the_view_when_acting(shots):
    def load(path):
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)

    for key, pose in ((("prison", "arrival"), "raised"), (("prison", "visiting"), "phone"),
                      (("drunk", "sober_lap"), "wheel")):
        s = shots[key]
        assert s["hands"] == pose
        changed = np.abs(load(s["path"]) - load(s["nohands"])).max(axis=2) > 24
        h = changed.shape[0]
        lower = changed[h // 2:].mean()
        assert lower > 0.02, f"{key}: the hands barely show in the lower half ({lower:.3f})"
        assert changed[h // 2:].sum() > changed[: h // 4].sum(), f"{key}: hands drawn at the top of the view"
    rest = shots[("prison", "cell")]
    assert rest["hands"] == "rest"
    assert np.array_equal(load(rest["path"]), load(rest["nohands"])), "hands at rest are out of view"
