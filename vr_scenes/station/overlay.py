"""A minimal text panel in the headset for the station (Panda3D): the attitude questionnaire's
statement and scale, "please wait", "paused". Drawn on every eye's 2D overlay of the viewer
(``vr_scenes.view.Viewer``), so it is in both eyes in stereo, over a dark card that dims the scene."""
from __future__ import annotations


class Overlay:
    def __init__(self, viewer):
        from panda3d.core import CardMaker, TextNode, TransparencyAttrib

        self._shown: tuple[str, str, str] | None = None
        self._panels = []
        for eye in viewer.eyes:
            root = eye.overlay.attach_new_node("station-panel")
            cm = CardMaker("station-dim")
            cm.set_frame(-eye.aspect, eye.aspect, -1, 1)
            dim = root.attach_new_node(cm.generate())
            dim.set_color(0, 0, 0, 0.72)
            dim.set_transparency(TransparencyAttrib.M_alpha)
            dim.set_bin("fixed", 60)
            texts = []
            for scale, z, color in ((0.085, 0.25, (1, 1, 1, 1)), (0.06, -0.2, (1.0, 0.85, 0.3, 1)),
                                    (0.05, -0.55, (0.8, 0.8, 0.8, 1))):
                node = TextNode("station-text")
                node.set_font(viewer.font)
                node.set_align(TextNode.A_center)
                node.set_text_color(*color)
                node.set_wordwrap(2 * eye.aspect * 0.8 / scale)
                tnp = root.attach_new_node(node)
                tnp.set_scale(scale)
                tnp.set_pos(0, 0, z)
                tnp.set_bin("fixed", 61)
                texts.append(node)
            root.hide()
            self._panels.append((root, texts))

    def show(self, title: str, body: str = "", footer: str = "") -> None:
        lines = (title, body, footer)
        if lines == self._shown:
            return
        self._shown = lines
        for root, texts in self._panels:
            for node, text in zip(texts, lines, strict=True):
                node.set_text(text)
            root.show()

    def hide(self) -> None:
        if self._shown is None:
            return
        self._shown = None
        for root, _texts in self._panels:
            root.hide()
