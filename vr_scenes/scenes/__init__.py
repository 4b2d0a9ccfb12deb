"""One module per scene; vr_scenes.registry finds them."""
