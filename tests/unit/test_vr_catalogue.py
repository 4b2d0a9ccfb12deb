"""The portal's copy of the VR scene catalogue (webapp.vr.views.SCENES: stage keys and longest run, used
to validate and cap posted sessions) matches the scenes themselves (vr_scenes.registry)."""
from __future__ import annotations

from vr_scenes import registry


def test_portal_catalogue_matches_the_scenes():
    from webapp.vr.views import SCENES

    actual = {}
    for key in registry.scenes():
        scene = registry.create(key)
        actual[key] = (tuple(stage.key for stage in scene.stages), float(scene.total_duration_s))
    assert {k: (v["stages"], v["max_s"]) for k, v in SCENES.items()} == actual
