"""The scenes' views: one module per scene of ``vr_scenes/scenes/`` (the same name) that builds its
Panda3D node graph (``build(scene, world)``) and moves its dynamic nodes to the logic's state before
each rendered frame (``sync(scene, world)``). Kept apart from ``vr_scenes/scenes/``, which the
registry reads as scenes, so the logic there imports no Panda3D."""
