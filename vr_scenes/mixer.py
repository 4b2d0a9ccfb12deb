"""Playing a scene's sound schedule (``vr_scenes.soundscape``) through Panda3D's OpenAL audio, in 3D
around the learner's head, under a volume cap, with an event log.

The viewer creates one mixer per scene (``for_viewer``) and calls ``update()`` after each step: the
mixer reads the new sound events, starts, stops and places its sources (one Panda3D node per source
under the scene's root, the listener on the head node, via ``direct.showbase.Audio3DManager``), and
logs what it did. The log (:class:`LogEntry`: scene time, what, which sound, where, at what gain) is
what tests read instead of the speakers.

The volume: every cue's gain is ``master x`` its schedule gain, never above ``VOLUME_CAP`` (the master
itself is capped there too); the clips peak at ``synth.PEAK``.

Sound off (``StationConfig.sound``/``--no-sound``, ``view.configure(sound=False)``): nothing is loaded
and the log's one entry says so. With sound on but no audio device (OpenAL cannot open one: a server,
a container) the mixer falls back to no sound with one clear log line. Tests exercise the real OpenAL
path with OpenAL Soft's ``wave`` driver (``ALSOFT_DRIVERS=wave`` and a config naming the file): it
mixes into a WAV file instead of a device.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

from . import synth
from .soundscape import SoundEvent, Soundscape

log = logging.getLogger("vr_scenes.sound")

VOLUME_CAP = 0.8            # no cue plays louder than this (OpenAL gain; 1.0 is the clip's own level)
POOL = 4                    # sources per one-shot clip (overlapping footsteps, beats)
MIN_DISTANCE = {            # metres within which a source is at full gain (it falls off beyond)
    "siren": 12.0, "crash": 4.0, "engine": 2.5, "clang": 3.0, "speech": 1.5,
}
HEAD_OFFSET = {"heartbeat": (0.0, 0.0, -0.35), "speech": (0.0, 0.15, 0.0)}   # in the head's frame


@dataclass(frozen=True)
class LogEntry:
    t: float | None               # scene time (None: before the scene ran)
    action: str                   # off | no-device | speech-off | play | start | update | stop | skip
    name: str = ""
    voice: str = ""
    pos: tuple[float, float, float] | None = None
    gain: float = 0.0             # what the source was set to (after master and cap)
    note: str = ""

    def line(self) -> str:
        where = "" if self.pos is None else " at ({:.1f}, {:.1f}, {:.1f})".format(*self.pos)
        t = "" if self.t is None else f"t={self.t:.2f}s "
        return f"sound: {t}{self.action} {self.name}{where} gain {self.gain:.2f} {self.note}".rstrip()


def effective_gain(schedule_gain: float, master: float) -> float:
    return round(min(VOLUME_CAP, max(0.0, min(master, VOLUME_CAP) * schedule_gain)), 4)


class Mixer:
    def __init__(self, scene, root=None, head=None, *, enabled: bool = True, manager=None,
                 master: float = VOLUME_CAP, speech: bool = True, cache_dir: str | None = None):
        self.scene = scene
        self.master = min(master, VOLUME_CAP)
        self.cache_dir = cache_dir or synth.default_cache_dir()
        self.log: list[LogEntry] = []
        self.active = False
        self.speech = False
        self.soundscape: Soundscape | None = None
        self._pools: dict[str, list] = {}
        self._next: dict[str, int] = {}
        self._loops: dict[str, tuple] = {}      # voice -> (sound, node)
        self._speaking = None                   # (sound, node) of the line being spoken
        self._waiting: tuple | None = None      # (event, gain, path): the next line, after this one
        self._lines: dict[str, str] = {}
        if not enabled:
            self._note("off", "sound off (station setting): nothing loaded")
            return
        if manager is None or not manager.is_valid():
            drivers = os.environ.get("ALSOFT_DRIVERS", "")
            self._note("no-device", "sound off: OpenAL could not open an audio device"
                       + (f" (ALSOFT_DRIVERS={drivers})" if drivers else "") + "; the scene runs silent")
            return
        from direct.showbase.Audio3DManager import Audio3DManager
        from panda3d.core import NodePath

        self.manager = manager
        self.root = root if root is not None else NodePath("sound-root")
        self.head = head if head is not None else self.root.attach_new_node("head")
        self.audio3d = Audio3DManager(manager, listener_target=self.head, root=self.root)
        self.audio3d.setDopplerFactor(0.0)        # stage cuts teleport the listener: no doppler jumps
        self.audio3d.setDistanceFactor(1.0)       # metres
        self.audio3d.setDropOffFactor(1.0)
        self.audio3d.setListenerVelocity((0, 0, 0))
        self.nodes = self.root.attach_new_node("sound-sources")
        self.clips = synth.build_cache(self.cache_dir)
        self.active = True
        if speech:
            from . import speech as speech_mod

            ok, why = speech_mod.status()
            if ok:
                self._lines = speech_mod.prerender(speech_mod.scene_lines(scene), self.cache_dir)
                self.speech = True
            else:
                self._note("speech-off", why)
        self.soundscape = Soundscape(scene, speech=self.speech)

    # --- the log -----------------------------------------------------------------------------------
    def _note(self, action: str, note: str) -> None:
        self.log.append(LogEntry(None, action, note=note))
        (log.info if action == "off" else log.warning)(note)

    def _log(self, e: SoundEvent, gain: float, note: str = "") -> None:
        self.log.append(LogEntry(e.t, e.action, e.name, e.voice, e.pos, gain, note))

    # --- sources -----------------------------------------------------------------------------------
    def _new_source(self, path: str, name: str):
        from panda3d.core import Filename

        sound = self.audio3d.loadSfx(Filename.from_os_specific(path))
        node = self.nodes.attach_new_node(f"sound-{name}")
        self.audio3d.attachSoundToObject(sound, node)
        self.audio3d.setSoundVelocity(sound, (0, 0, 0))
        self.audio3d.setSoundMinDistance(sound, MIN_DISTANCE.get(name, 1.0))
        return sound, node

    def _pooled(self, name: str):
        pool = self._pools.setdefault(name, [])
        i = self._next.get(name, 0)
        if len(pool) < POOL:
            pool.append(self._new_source(self.clips[name], name))
            i = len(pool) - 1
        self._next[name] = (i + 1) % POOL
        return pool[i]

    def _place(self, node, name: str, pos, head: bool) -> None:
        if head:
            node.reparent_to(self.head)
            node.set_pos(*HEAD_OFFSET.get(name, (0.0, 0.0, 0.0)))
        else:
            node.reparent_to(self.nodes)
            node.set_pos(self.root, *pos)

    # --- playing -----------------------------------------------------------------------------------
    def update(self) -> list[SoundEvent]:
        """Play what the schedule says since the last call; move the loops; place the listener."""
        if not self.active:
            return []
        events = self.soundscape.observe()
        for e in events:
            self._apply(e)
        if self._waiting is not None and not self._still_speaking():
            e, gain, path = self._waiting
            self._waiting = None
            late = self.scene.clock.now() - e.t
            self._speak(replace(e, t=round(self.scene.clock.now(), 3)), gain, path, f"（晚 {late:.1f} 秒）")
        self._follow()
        return events

    def _apply(self, e: SoundEvent) -> None:
        gain = effective_gain(e.gain, self.master)
        if e.action == "play" and e.name == "speech":
            self._say(e, gain)
        elif e.action == "play":
            sound, node = self._pooled(e.name)
            self._place(node, e.name, e.pos, e.head)
            sound.set_volume(gain)
            sound.set_play_rate(e.rate)
            sound.play()
            self._log(e, gain)
        elif e.action == "start":
            sound, node = self._new_source(self.clips[e.name], e.name)
            sound.set_loop(True)
            self._place(node, e.name, e.pos, e.head)
            sound.set_volume(gain)
            sound.set_play_rate(e.rate)
            sound.play()
            self._loops[e.voice] = (sound, node)
            self._log(e, gain)
        elif e.action == "update" and e.voice in self._loops:
            sound, _node = self._loops[e.voice]
            sound.set_volume(gain)
            sound.set_play_rate(e.rate)
            self._log(e, gain)
        elif e.action == "stop" and e.voice in self._loops:
            sound, node = self._loops.pop(e.voice)
            sound.stop()
            self.audio3d.detachSound(sound)
            node.remove_node()
            self._log(e, 0.0)

    def _say(self, e: SoundEvent, gain: float) -> None:
        from . import speech as speech_mod

        path = self._lines.get(e.text)
        if path is None:       # a line the scene wrote as it ran: rendered now, cached on disk
            try:
                path = self._lines[e.text] = speech_mod.render(e.text, self.cache_dir)
            except Exception as exc:            # noqa: BLE001 - a line that cannot be spoken stays a subtitle
                self._log(e, 0.0, f"not spoken: {exc}")
                return
        if self._still_speaking():
            # a line is not cut off: the next waits for its end (a little behind its subtitle); a line
            # still waiting when another comes is dropped, its subtitle already gone
            if self._waiting is not None:
                old = self._waiting[0]
                self._log(replace(old, action="skip"), 0.0, f"not spoken (overtaken): {old.text}")
            self._waiting = (e, gain, path)
            return
        self._speak(e, gain, path)

    def _still_speaking(self) -> bool:
        if self._speaking is None:
            return False
        from panda3d.core import AudioSound

        return self._speaking[0].status() == AudioSound.PLAYING

    def _speak(self, e: SoundEvent, gain: float, path: str, note: str = "") -> None:
        if self._speaking is not None:
            old, old_node = self._speaking
            old.stop()
            self.audio3d.detachSound(old)
            old_node.remove_node()
        sound, node = self._new_source(path, "speech")
        self._place(node, "speech", e.pos, e.head)
        sound.set_volume(gain)
        sound.play()
        self._speaking = (sound, node)
        self._log(e, gain, f"{e.speaker or '旁白'}：{e.text}{note}")

    def _follow(self) -> None:
        """Loops move with their sources (the car's engine, the approaching siren); then OpenAL gets the
        new positions and the listener's."""
        for voice, (_sound, node) in self._loops.items():
            v = self.soundscape.voices.get(voice)
            if v is not None and not v.head:
                node.set_pos(self.root, *v.pos)
        self.audio3d.update()
        self.manager.update()

    def close(self) -> None:
        if not self.active:
            return
        for e in self.soundscape.close():
            self._apply(e)
        for pool in self._pools.values():
            for sound, _node in pool:
                sound.stop()
        if self._speaking is not None:
            self._speaking[0].stop()
        self.audio3d.disable()
        self.nodes.remove_node()
        self.active = False


_alsa_handler = None


def quiet_audio_backends() -> None:
    """Before OpenAL opens: its own log and ALSA's error printer would fill the terminal with some forty
    lines on a machine without a sound device; the mixer says it in one (``no-device``). Call once,
    before the first ``base()``."""
    global _alsa_handler
    os.environ.setdefault("ALSOFT_LOGLEVEL", "0")
    if _alsa_handler is not None:
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("asound")
    if not name:
        return
    try:
        lib = ctypes.CDLL(name)
        handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                        ctypes.c_char_p)
        _alsa_handler = handler_type(lambda *args: None)      # kept: ALSA calls it later
        lib.snd_lib_error_set_handler(_alsa_handler)
    except (OSError, AttributeError):
        return


def for_viewer(viewer, enabled: bool | None = None) -> Mixer:
    """The viewer's mixer: on when ``view.configure(sound=True)`` chose OpenAL, with ShowBase's sound
    effects manager (which OpenAL opened, or failed to), the listener on the viewer's head."""
    from . import view

    on = view._config.get("sound", False) if enabled is None else enabled
    manager = None
    if on:
        managers = getattr(viewer.b, "sfxManagerList", None) or []
        manager = managers[0] if managers else None
    return Mixer(viewer.scene, viewer.root, viewer.head, enabled=on, manager=manager)
