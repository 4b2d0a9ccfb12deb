"""Spoken subtitles in Mandarin, offline: each line is rendered once to a cached WAV by eSpeak NG and
played from where its speaker stands (the narrator at the learner's head), for supervisees who read
poorly.

eSpeak NG (Debian's ``espeak-ng``, GPL-3+; the audio it makes is not covered by that licence) is a
formant synthesizer: robotic, but intelligible and small. Its 1.51 ``cmn`` voice reads many Chinese
characters wrongly (the dictionary's tone digits are spoken as English numbers: 你 as "ni three",
upstream issues #1028 and #1370, fixed after 1.51), so the text is first turned into tone-numbered
pinyin with ``pypinyin`` (MIT; its phrase dictionary picks the reading of polyphonic characters) and
spoken with the ``cmn-latn-pinyin`` voice, which reads every syllable as Mandarin (``phonemes()``
shows no English fallback). Without ``espeak-ng`` or ``pypinyin`` speech is off and ``status()`` says
why in one line.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

VOICE = "cmn-latn-pinyin"
SPEED_WPM = 140            # slower than espeak's 175: for learners who read (and listen) slowly
GAP_10MS = 2               # a short pause between words (units of 10 ms)

_PUNCT = {"。": ". ", "！": "! ", "？": "? ", "，": ", ", "、": ", ", "；": ", ", "：": ", ", "……": ". ",
          "…": ". ", "（": ", ", "）": ", ", "—": ", ", "——": ", "}
_DROP = re.compile(r"[“”‘’\"《》「」]")


def espeak() -> str | None:
    return shutil.which("espeak-ng")


@lru_cache(maxsize=1)
def status() -> tuple[bool, str]:
    """(speech available, a one-line reason when it is not)."""
    exe = espeak()
    if exe is None:
        return False, "speech off: espeak-ng is not installed (scripts/install-system-deps.sh installs it)"
    try:
        import pypinyin  # noqa: F401
    except ImportError:
        return False, "speech off: pypinyin is not installed (pip install -r requirements.txt)"
    try:
        voices = subprocess.run([exe, "--voices=cmn"], capture_output=True, text=True, timeout=10,
                                check=False).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"speech off: espeak-ng does not run ({exc})"
    if VOICE.lower() not in voices.lower():
        return False, f"speech off: espeak-ng has no {VOICE} voice"
    return True, ""


@lru_cache(maxsize=1)
def engine_version() -> str:
    exe = espeak()
    if exe is None:
        return ""
    return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10,
                          check=False).stdout.strip()


def to_pinyin(text: str) -> str:
    """Chinese text as tone-numbered pinyin for the ``cmn-latn-pinyin`` voice ("你好。" -> "ni3 hao3. ");
    digits and Latin letters pass through (eSpeak reads digits in Mandarin)."""
    from pypinyin import Style, lazy_pinyin

    text = _DROP.sub("", text)
    for mark in sorted(_PUNCT, key=len, reverse=True):
        text = text.replace(mark, _PUNCT[mark])
    words = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    return re.sub(r"\s+", " ", " ".join(w.strip() for w in words if w.strip())).replace(" ,", ",").replace(
        " .", ".").replace(" !", "!").replace(" ?", "?").strip()


def phonemes(text: str) -> str:
    """eSpeak's phoneme transcription of a line as it is spoken here (``-x``): "(en)" in it marks words
    read by the English rules instead of Mandarin ones."""
    exe = espeak()
    if exe is None:
        raise RuntimeError(status()[1])
    return subprocess.run([exe, "-v", VOICE, "-q", "-x", to_pinyin(text)], capture_output=True, text=True,
                          timeout=30, check=True).stdout


def wav_path(text: str, cache_dir: str) -> str:
    key = hashlib.sha1(f"{VOICE}|{SPEED_WPM}|{GAP_10MS}|{engine_version()}|{text}".encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"speech-{key}.wav")


def render(text: str, cache_dir: str) -> str:
    """The line as a WAV file in ``cache_dir`` (rendered by espeak-ng the first time)."""
    ok, why = status()
    if not ok:
        raise RuntimeError(why)
    os.makedirs(cache_dir, exist_ok=True)
    path = wav_path(text, cache_dir)
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.{abs(hash(text))}.tmp"
        subprocess.run([espeak(), "-v", VOICE, "-s", str(SPEED_WPM), "-g", str(GAP_10MS), "-w", tmp,
                        to_pinyin(text)], check=True, capture_output=True, timeout=60)
        os.replace(tmp, path)
    return path


def prerender(texts, cache_dir: str, workers: int = 4) -> dict[str, str]:
    """Render every line not yet in the cache (a few espeak-ng processes at once): {text: path}."""
    texts = list(dict.fromkeys(t for t in texts if t))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(texts, pool.map(lambda t: render(t, cache_dir), texts), strict=True))


def spoken_text(text: str) -> str:
    return _DROP.sub("", text).strip()


def scene_lines(scene) -> list[str]:
    """The lines a scene will speak that are known before it runs: its stages' cues (a character's cue
    without the "民警：" prefix the subtitle adds). Lines a scene writes as it runs are rendered when
    first shown."""
    return [cue.text for stage in scene.stages for cue in stage.cues]
