"""The portal's copy of the VR scene catalogue (webapp.vr.SCENES: stage keys and longest run, used
to validate and cap posted sessions) matches the scenes themselves (vr_scenes.registry)."""
from __future__ import annotations

import pytest


def test_portal_catalogue_matches_the_scenes():
    registry = pytest.importorskip("vr_scenes.registry")
    from webapp.vr import SCENES

    actual = {}
    for key in registry.scenes():
        scene = registry.create(key)
        actual[key] = (tuple(stage.key for stage in scene.stages), float(scene.total_duration_s))
    assert {k: (v["stages"], v["max_s"]) for k, v in SCENES.items()} == actual
