"""What a scene's ``build``/``sync`` get: the scene root, named sets (one per place, shown per stage),
cached procedural textures and world-space text in the CJK font."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from panda3d.core import NodePath, TextNode, Texture

from . import procgen


class World:
    def __init__(self, root: NodePath, font=None):
        self.root = root
        self.font = font
        self.sets: dict[str, NodePath] = {}
        self.nodes: dict[str, NodePath] = {}     # dynamic nodes a scene moves in sync()
        self._textures: dict[str, Texture] = {}
        self.shown: tuple[str, ...] = ()

    def texture(self, name: str, make: Callable[[], np.ndarray]) -> Texture:
        if name not in self._textures:
            self._textures[name] = procgen.texture_from_array(name, make())
        return self._textures[name]

    def add_set(self, name: str) -> NodePath:
        node = self.root.attach_new_node(f"set-{name}")
        self.sets[name] = node
        return node

    def show(self, *names: str) -> None:
        """Show only these sets (the others are stashed: not culled, not drawn)."""
        if names == self.shown:
            return
        for name, node in self.sets.items():
            if name in names:
                node.unstash()
            else:
                node.stash()
        self.shown = names

    def text(self, parent: NodePath, text: str, pos, scale: float = 0.3, color=(1, 1, 1, 1), heading: float = 0.0,
             card: tuple[float, float, float, float] | None = None) -> NodePath:
        """A sign: text standing in the world, readable from the front (facing -y at heading 0)."""
        node = TextNode("sign")
        if self.font is not None:
            node.set_font(self.font)
        node.set_text(text)
        node.set_align(TextNode.A_center)
        node.set_text_color(*color)
        if card:
            node.set_card_color(*card)
            node.set_card_as_margin(0.3, 0.3, 0.2, 0.2)
        np_ = parent.attach_new_node(node)
        np_.set_pos(*pos)
        np_.set_h(heading)
        np_.set_scale(scale)
        np_.set_light_off(1)
        return np_

    def finish(self) -> None:
        """Flatten each set's static part so a room is a few draw calls; dynamic nodes stay apart."""
        for node in self.sets.values():
            static = node.find("static")
            if not static.is_empty():
                static.flatten_strong()
