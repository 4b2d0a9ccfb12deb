"""The CJK font for the Simplified Chinese subtitles, from Debian's fonts packages (never downloaded)."""
from __future__ import annotations

import os

# (path, face index of Simplified Chinese in a collection, Debian package)
CANDIDATES: tuple[tuple[str, int, str], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "fonts-noto-cjk"),   # faces: JP KR SC TC HK
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc", 2, "fonts-noto-cjk"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "fonts-wqy-microhei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "fonts-wqy-zenhei"),
)
PACKAGE = "fonts-noto-cjk"


class CJKFontMissing(RuntimeError):
    pass


def find_cjk_font(env: str = "VR_CJK_FONT") -> tuple[str, int]:
    """(path, face index) of an installed CJK font; ``$VR_CJK_FONT`` (path[:index]) overrides."""
    override = os.environ.get(env)
    if override:
        path, _, index = override.partition(":")
        if not os.path.exists(path):
            raise CJKFontMissing(f"{env}={override}: no such font file")
        return path, int(index or 0)
    for path, index, _package in CANDIDATES:
        if os.path.exists(path):
            return path, index
    raise CJKFontMissing(
        f"no CJK font for the Chinese subtitles: install the Debian package {PACKAGE} "
        f"(apt-get install {PACKAGE}, or run scripts/install-system-deps.sh); looked for "
        + ", ".join(p for p, _, _ in CANDIDATES))


def load_cjk_font(env: str = "VR_CJK_FONT"):
    """A Panda3D DynamicTextFont with the Simplified Chinese face."""
    from panda3d.core import DynamicTextFont, Filename

    path, index = find_cjk_font(env)
    font = DynamicTextFont(Filename.from_os_specific(path), index)
    if not font.is_valid():
        raise CJKFontMissing(f"{path} (face {index}) could not be loaded as a font; reinstall {PACKAGE}")
    font.set_pixels_per_unit(48)
    return font
