"""Every sound of the VR scenes, synthesized in code with numpy and written as WAV files into a cache
folder built on demand. Nothing is downloaded or recorded: each clip is a function of a fixed seed, so
the same code makes the same bytes (the cache file's name carries a hash of the clip's recipe).

Mono, 16-bit, ``RATE`` Hz. Each clip is normalised to a peak of ``PEAK`` (headroom for several at
once). Loops (engine, siren, phone) are exactly periodic: every tone fits a whole number of cycles in
the clip and noise is made in the frequency domain (an inverse FFT is periodic over its length), so
they repeat without a click. Pure (no Panda3D): ``vr_scenes.mixer`` plays the files.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import wave
from collections.abc import Callable

import numpy as np

RATE = 22050
PEAK = 0.7                  # full scale is 1.0: each clip peaks here
ENGINE_BASE_RPM = 1500.0    # the engine clip's rpm: playback rate = rpm / ENGINE_BASE_RPM
ENGINE_CYLINDERS = 4        # four-stroke: firing frequency = rpm / 60 * cylinders / 2
SIREN_TONES = (650.0, 880.0)  # hi-lo, 0.5 s each (our choice of pitches, in the usual siren range)
RING_CADENCE = (1.0, 4.0)   # seconds on, off: the ringing cadence of Chinese telephone lines
RINGBACK_HZ = 450.0         # the ringback tone heard by a caller in China (1 s on, 4 s off)


def _t(seconds: float) -> np.ndarray:
    return np.arange(round(seconds * RATE)) / RATE


def _normalise(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    m = float(np.max(np.abs(x))) or 1.0
    return (x / m * peak).astype(np.float32)


def _periodic_noise(n: int, rng: np.random.Generator, lo: float = 0.0, hi: float = RATE / 2,
                    tilt: float = 0.0) -> np.ndarray:
    """Band-limited noise that repeats exactly every ``n`` samples (made as a random spectrum);
    ``tilt`` < 0 darkens it (amplitude ~ f**tilt)."""
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spec = rng.normal(size=freqs.size) + 1j * rng.normal(size=freqs.size)
    band = (freqs >= lo) & (freqs <= hi)
    spec[~band] = 0
    if tilt:
        spec[band] *= np.maximum(freqs[band], 20.0) ** tilt
    x = np.fft.irfft(spec, n)
    return x / (np.max(np.abs(x)) or 1.0)


def _lowpass(x: np.ndarray, hz: float) -> np.ndarray:
    """One-pole low-pass (simple, stable, deterministic)."""
    a = np.exp(-2 * np.pi * hz / RATE)
    y = np.empty_like(x)
    acc = 0.0
    for i, v in enumerate(x):          # short clips only (footsteps, clicks)
        acc = (1 - a) * v + a * acc
        y[i] = acc
    return y


# --- the clips --------------------------------------------------------------------------------------
def clang(seed: int = 1) -> np.ndarray:
    """A cell door slamming shut: a heavy steel door's inharmonic partials (the modes of a free bar,
    ratios 1 : 2.76 : 5.40 : 8.93 : 13.34 over 110 Hz), each decaying at its own rate, struck by a short
    noise burst (the impact). 2.5 s."""
    rng = np.random.default_rng(seed)
    t = _t(2.5)
    f0 = 110.0
    x = np.zeros_like(t)
    for ratio, amp, decay in ((1.0, 1.0, 1.4), (2.76, 0.55, 2.2), (5.40, 0.35, 3.5), (8.93, 0.22, 5.0),
                              (13.34, 0.12, 7.0)):
        phase = rng.uniform(0, 2 * np.pi)
        x += amp * np.exp(-decay * t) * np.sin(2 * np.pi * f0 * ratio * t + phase)
    hit = _periodic_noise(t.size, rng, 200, 6000) * np.exp(-t / 0.012)
    return _normalise(x + 0.8 * hit)


def lock(seed: int = 2) -> np.ndarray:
    """The lock's bolt: two sharp metallic clicks 90 ms apart (short resonant noise bursts). 0.4 s."""
    rng = np.random.default_rng(seed)
    t = _t(0.4)
    x = np.zeros_like(t)
    for start, f in ((0.02, 2300.0), (0.11, 1800.0)):
        tt = np.clip(t - start, 0, None)
        on = t >= start
        x += on * np.exp(-tt / 0.008) * (np.sin(2 * np.pi * f * tt) + 0.5 * rng.normal(size=t.size))
    return _normalise(x)


def footstep(seed: int = 0) -> np.ndarray:
    """A shoe on concrete: heel then toe, each a low-passed noise burst with a fast decay. 0.3 s. Four
    seeds make four slightly different steps (no machine-gun repetition)."""
    rng = np.random.default_rng(100 + seed)
    t = _t(0.3)
    x = np.zeros_like(t)
    for start, amp, tau in ((0.0, 1.0, 0.018), (0.055 + 0.01 * rng.random(), 0.55, 0.025)):
        on = t >= start
        x += on * amp * np.exp(-np.clip(t - start, 0, None) / tau) * rng.normal(size=t.size)
    x = _lowpass(x, 900.0 + 200.0 * rng.random())
    thump = np.exp(-t / 0.02) * np.sin(2 * np.pi * 95.0 * t)
    return _normalise(x + 0.4 * thump)


def engine(seed: int = 3) -> np.ndarray:
    """A four-cylinder petrol engine at ``ENGINE_BASE_RPM``: the firing frequency (50 Hz) and its
    harmonics with falling amplitudes, a slow roughness (cylinder-to-cylinder variation) and dark intake
    noise. A 2 s loop; the mixer shifts its playback rate with the rpm."""
    rng = np.random.default_rng(seed)
    t = _t(2.0)
    f0 = ENGINE_BASE_RPM / 60.0 * ENGINE_CYLINDERS / 2       # 50 Hz: 100 whole cycles in 2 s
    x = np.zeros_like(t)
    for k in range(1, 13):
        amp = 1.0 / k ** 1.1
        x += amp * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
    half = 0.12 * np.sin(2 * np.pi * f0 / 2 * t)              # the half-order of uneven firing
    rough = 1.0 + 0.08 * np.sin(2 * np.pi * 3.0 * t)          # 3 Hz: 6 cycles in the loop
    noise = _periodic_noise(t.size, rng, 60, 2500, tilt=-0.6)
    return _normalise(rough * x + half + 0.25 * noise)


def crash(seed: int = 4) -> np.ndarray:
    """A collision: a broadband noise burst (crumpling metal) decaying over a second, three heavy low
    impacts and a scatter of high glass tinkles. 2.5 s."""
    rng = np.random.default_rng(seed)
    t = _t(2.5)
    crumple = _periodic_noise(t.size, rng, 80, 9000, tilt=-0.3) * np.exp(-t / 0.35)
    x = crumple
    for start, f, amp in ((0.0, 62.0, 1.4), (0.09, 78.0, 1.0), (0.24, 55.0, 0.7)):
        on = t >= start
        tt = np.clip(t - start, 0, None)
        x = x + on * amp * np.exp(-tt / 0.09) * np.sin(2 * np.pi * f * tt)
    for _ in range(14):                                        # glass
        start = 0.05 + rng.random() * 1.2
        f = rng.uniform(3000, 7000)
        on = t >= start
        tt = np.clip(t - start, 0, None)
        x = x + on * 0.12 * np.exp(-tt / 0.05) * np.sin(2 * np.pi * f * tt)
    return _normalise(x)


def siren(seed: int = 5) -> np.ndarray:
    """A two-tone (hi-lo) siren: a bright square-ish wave (odd harmonics) alternating between the two
    ``SIREN_TONES`` every 0.5 s, with a short glide between them. A 2 s loop (whole cycles of both)."""
    t = _t(2.0)
    lo, hi = SIREN_TONES
    which = (np.floor(t / 0.5) % 2).astype(int)
    f = np.where(which == 0, hi, lo)
    phase = 2 * np.pi * np.cumsum(f) / RATE
    x = np.sin(phase) + 0.33 * np.sin(3 * phase) + 0.2 * np.sin(5 * phase)
    # soften the tone changes (no click at the switch)
    edge = np.minimum(np.mod(t, 0.5), 0.5 - np.mod(t, 0.5))
    x *= np.clip(edge / 0.01, 0.2, 1.0)
    return _normalise(x)


def heartbeat(seed: int = 6) -> np.ndarray:
    """One heartbeat, lub-dub: a 45 Hz thump (S1) and a shorter, higher 65 Hz one (S2) 0.28 s later,
    both with a soft attack and muffled noise. 0.6 s; the soundscape schedules one per beat."""
    rng = np.random.default_rng(seed)
    t = _t(0.6)
    x = np.zeros_like(t)
    for start, f, amp, tau in ((0.0, 45.0, 1.0, 0.05), (0.28, 65.0, 0.7, 0.035)):
        tt = np.clip(t - start, 0, None)
        env = (t >= start) * (1 - np.exp(-tt / 0.006)) * np.exp(-tt / tau)
        x += amp * env * np.sin(2 * np.pi * f * tt)
    x += 0.05 * _lowpass(rng.normal(size=t.size), 150.0) * np.exp(-t / 0.2)
    return _normalise(x)


def _cadence(t: np.ndarray, on_s: float, off_s: float) -> np.ndarray:
    period = on_s + off_s
    pos = np.mod(t, period)
    ramp = 0.005
    return np.clip(np.minimum(pos, on_s - pos) / ramp, 0.0, 1.0) * (pos < on_s)


def phone_ring(seed: int = 7) -> np.ndarray:
    """A desk telephone ringing: an electronic trill (1000 and 1250 Hz alternating 20 times a second)
    in the ``RING_CADENCE`` of Chinese lines, 1 s on, 4 s off. A 5 s loop that starts with the ring."""
    t = _t(sum(RING_CADENCE))
    which = (np.floor(t * 40) % 2).astype(int)
    f = np.where(which == 0, 1000.0, 1250.0)
    phase = 2 * np.pi * np.cumsum(f) / RATE
    x = (np.sin(phase) + 0.3 * np.sin(2 * phase)) * _cadence(t, *RING_CADENCE)
    return _normalise(x)


def ringback(seed: int = 8) -> np.ndarray:
    """What a caller hears while the other end rings, in China: a 450 Hz tone, 1 s on, 4 s off. A 5 s
    loop."""
    t = _t(sum(RING_CADENCE))
    return _normalise(np.sin(2 * np.pi * RINGBACK_HZ * t) * _cadence(t, *RING_CADENCE))


CLIPS: dict[str, Callable[[], np.ndarray]] = {
    "clang": clang,
    "lock": lock,
    **{f"footstep_{i}": (lambda i=i: footstep(i)) for i in range(4)},
    "engine": engine,
    "crash": crash,
    "siren": siren,
    "heartbeat": heartbeat,
    "phone_ring": phone_ring,
    "ringback": ringback,
}
LOOPS = frozenset({"engine", "siren", "phone_ring", "ringback"})
ORIGIN = {      # for the credits: which function makes each clip
    name: f"vr_scenes.synth.{(fn.__name__ if not name.startswith('footstep_') else 'footstep')}"
    for name, fn in CLIPS.items()
}


# --- the cache --------------------------------------------------------------------------------------
def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("VR_SOUND_CACHE") or os.path.join(base, "vr_scenes", "sounds")


def _recipe_hash(name: str) -> str:
    fn = CLIPS[name]
    src = inspect.getsource(footstep if name.startswith("footstep_") else fn)
    helpers = "".join(inspect.getsource(h) for h in (_t, _normalise, _periodic_noise, _lowpass, _cadence))
    return hashlib.sha1(f"{name}|{RATE}|{PEAK}|{src}|{helpers}".encode()).hexdigest()[:12]


def write_wav(path: str, samples: np.ndarray, rate: int = RATE) -> None:
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    tmp = f"{path}.{os.getpid()}.tmp"
    with wave.open(tmp, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())
    os.replace(tmp, path)            # a reader never sees half a file


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """(samples as float in -1..1, mono: channels averaged; sample rate)."""
    with wave.open(path, "rb") as fh:
        rate, ch, width = fh.getframerate(), fh.getnchannels(), fh.getsampwidth()
        raw = fh.readframes(fh.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit WAV, expected 16-bit")
    x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    return x.reshape(-1, ch).mean(axis=1), rate


def clip_path(name: str, cache_dir: str | None = None) -> str:
    """The clip's WAV file, synthesized into the cache the first time it is asked for."""
    if name not in CLIPS:
        raise KeyError(f"no sound {name!r}; known: {', '.join(CLIPS)}")
    folder = cache_dir or default_cache_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}-{_recipe_hash(name)}.wav")
    if not os.path.exists(path):
        write_wav(path, CLIPS[name]())
    return path


def build_cache(cache_dir: str | None = None, names: list[str] | None = None) -> dict[str, str]:
    """Every clip (or the named ones) as a file in the cache: {name: path}."""
    return {name: clip_path(name, cache_dir) for name in (names or list(CLIPS))}
