"""Static and replayed camera feeds, told from the server's sampled frames alone.

Pure code (numpy, and OpenCV for the thumbnail), one `FeedMonitor` per camera stream, fed
every sampled frame in time order (`observe(at, rgb)`). It keeps a bounded history of tiny grey
thumbnails (about one a second; burst samples add nothing) and answers a `FeedVerdict` when the
feed is

* **frozen** (`frozen_feed`): the picture does not change. A virtual camera playing a still
  image, a capture that hangs, a photo in a fixed frame. A real webcam never stands still: a
  sitting person breathes, drifts and blinks, the exposure flickers and the sensor adds fresh
  noise every frame. What is left in a frozen feed after the browser's VP8 encoder is small,
  structured codec noise: most steps change nothing at all, and now and then the encoder refines
  a few blocks. Rule: in the last 20 s, at least 80 % of the steps (thumbnail to thumbnail,
  about a second apart) changed by at most `frozen_diff`. An empty room seen by a clean camera
  reads as frozen too (nothing moves once VP8's denoiser is done): that is absence, so the caller
  acts on `frozen_feed` only while a face is in view.
* **looped** (`looped_feed`): the feed repeats. A recording played back in a loop. Only steps in
  which the picture *moves* (a head turn, a lean: `move_diff`) are evidence, so breathing,
  however regular, cannot look like a loop, and a still person gives none. Each movement is
  matched against the earlier thumbnails, and against the segments between two neighbours (the
  1 fps samples land on a different phase of the loop in each round). A loop shows as the
  movements coming back at one lag, bout after bout, and the rhythm coming back with them:
  where one round moved, the other moved too. A person who makes the same glance again does not
  keep the same timing between glances. A loop of a few frames (a GIF-like clip, the browser
  tests' fake camera) shows instead as every change landing on a copy of an earlier picture.

Thumbnails are 32x24 grey, each cell the mean of its pixels, kept as float: averaging the 100
pixels of a 320x240 frame divides the sensor noise by ten, so what is compared is mostly
motion. Distances are mean absolute differences in grey levels (0-255); the loop matching uses
thumbnails less their mean brightness, so exposure flicker is not movement.

Measured (tests/unit/test_feed.py builds these feeds from the real face photo, head turns
re-rendered from the landmarker's mesh, through libvpx VP8 with aiortc's sender settings,
denoiser on, sampled like the engine):

* a frozen picture: step differences median 0.005-0.036 at 80-1500 kbps, largest 0.07-0.57
  (the encoder refining blocks, mostly in the first seconds); 100 % of steps unchanged in every
  20 s window once settled. Without a codec: exactly 0.
* the stillest live learner we could make (sensor noise sigma 0.5, breathing 0.25 px, no
  flicker): step differences median 0.22-0.29, lowest 20 s median 0.17; at most 11 % of the
  steps of any 20 s window unchanged. A typical still learner (noise 1.5, breathing 0.5 px,
  drift, 0.3 % flicker): median 0.7-0.8, none unchanged. The same at 80 kbps.
* loops of 5-60 s recorded from a learner who turns her head now and then: all 22 detected,
  with their period (bins of 0.25 s: within 0.65 s), 28-122 s after the loop starts (the period
  plus up to a minute; fewer movements, later). 98 live sequences of 3-5 min (still, glancing,
  fidgeting, swaying, and one who makes the same glance, 25 deg +-3 over 2 s +-0.25, every
  5-14 s) never flagged. What it cannot tell apart: a head turn repeated *identically* (to a
  fraction of a degree and a frame) at the same rhythm several times in a row (2 of 35 such
  synthetic sequences were flagged), and a loop of footage in which nobody moves (that is a
  still learner: the liveness challenge is for it).

Cost: 0.1-0.3 ms a sample on one core at 320x240 (thumbnail included; up to ~0.7 ms on a
sample that moves while the history is full); memory about 0.4 MB a stream.
"""
from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

FROZEN = "frozen_feed"
LOOPED = "looped_feed"


@dataclass(frozen=True)
class FeedPolicy:
    thumb_size: tuple[int, int] = (32, 24)   # (width, height) of the grey thumbnails compared
    step_s: float = 0.9            # thumbnails are compared and kept at most this often (bursts add nothing)
    max_gap_s: float = 5.0         # samples further apart than this restart the evidence (a gap is presence's)
    # frozen
    frozen_diff: float = 0.08      # a step that changed this little is unchanged (codec noise at most)
    frozen_share: float = 0.8      # this share of the window's steps unchanged: frozen (the rest: the
                                   # encoder refining a few blocks now and then)
    frozen_window_s: float = 20.0
    frozen_min_steps: int = 12
    # looped
    history: int = 120             # thumbnails kept (about 2 min at 1 fps, 3 KB each)
    move_diff: float = 1.5         # a step that changed this much (brightness aside) is a movement
    loop_min_lag_s: float = 3.0    # a repeat must come from at least this long ago
    loop_window_s: float = 60.0    # the movements of the last this long are the evidence
    loop_ratio: float = 0.3        # a movement repeats at a lag if it lands this close (share of its own size)
    loop_min_repeats: int = 5      # at least this many movements repeat at one lag,
    loop_min_share: float = 0.6    # ...at least this share of the window's movements,
    loop_min_bouts: int = 4        # ...in at least this many separate bouts of movement,
    loop_max_breaks: float = 0.1   # ...and the rhythm repeats: steps where one round moved and the other
                                   # stood still at most this share of the movements,
    loop_min_known_s: float = 20.0 # ...checked over at least this long (the lagged time still in the history)
    lag_bin_s: float = 0.25        # lags are compared in bins this wide (plus one bin either side)
    copy_ratio: float = 0.05       # a movement landing this close to an earlier picture is a copy of it
    copy_min: int = 6              # at least this many copies...
    copy_min_share: float = 0.8    # ...and this share of the window's movements: a loop of a few frames
    clear_s: float = 30.0          # a verdict's condition gone this long ends the episode

    def __post_init__(self):
        w, h = self.thumb_size
        if w < 4 or h < 4:
            raise ValueError("thumb_size too small")
        if not (0 < self.step_s < self.max_gap_s):
            raise ValueError("need 0 < step_s < max_gap_s")
        if self.history < 8:
            raise ValueError("history must keep at least 8 thumbnails")
        if not (0 < self.loop_min_lag_s < self.history * self.step_s):
            raise ValueError("loop_min_lag_s must be positive and within the history")
        if self.lag_bin_s <= 0 or self.move_diff <= 0:
            raise ValueError("lag_bin_s and move_diff must be positive")


@dataclass(frozen=True)
class FeedVerdict:
    kind: str            # "frozen_feed" | "looped_feed"
    at: float            # when it was decided (the sample's time)
    since: float         # the start of the evidence
    scores: dict         # the numbers behind it, for the evidence record


@dataclass(frozen=True)
class Step:
    """One compared thumbnail (about one a second)."""
    at: float
    diff: float                        # mean |difference| to the previous thumbnail (frozen evidence)
    motion: float                      # the same, brightness aside (a movement when >= move_diff)
    copy: float | None = None          # movements: distance to the closest earlier thumbnail
    lags: np.ndarray | None = None     # movements: the closest match per lag bin (inf: none), float16
    hits: np.ndarray | None = None     # movements: the lag bins where it repeats (lags <= loop_ratio * motion)


def thumbnail(frame_rgb: np.ndarray, size: tuple[int, int] = (32, 24)) -> np.ndarray:
    """The frame as a small grey float32 image, each cell the mean of its pixels."""
    import cv2

    frame = np.asarray(frame_rgb)
    if frame.ndim == 3 and frame.shape[2] == 3:
        grey = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    elif frame.ndim == 2:
        grey = np.ascontiguousarray(frame, dtype=np.uint8)
    else:
        raise ValueError(f"expected an HxWx3 RGB or HxW grey frame, got shape {frame.shape}")
    return cv2.resize(grey.astype(np.float32), size, interpolation=cv2.INTER_AREA)


class FeedMonitor:
    """One camera stream's frozen/looped feed detector.

    Feed it every sampled frame in time order. Memory is bounded: `policy.history` thumbnails
    (32x24 float32, 3 KB each) and the steps of the last window. `active` is the kind of the
    episode under way (None while the feed looks live); a verdict is returned once, when an
    episode starts, and the episode ends after `clear_s` without its condition (or on
    `reset_evidence`)."""

    def __init__(self, policy: FeedPolicy | None = None):
        self.policy = policy or FeedPolicy()
        p = self.policy
        w, h = p.thumb_size
        self._hist = np.zeros((p.history, h * w), np.float32)   # ring buffer, brightness removed
        self._times = np.zeros(p.history, np.float64)
        self._motion = np.full(p.history, np.nan, np.float32)    # each kept thumbnail's step motion
        self._count = 0
        self._prev_raw: np.ndarray | None = None
        self._last_at: float | None = None
        # lag bins up to the longest span the history can hold at the usual 1 fps (and beyond)
        self._bins = math.ceil(p.history * max(p.step_s, 1.0) * 1.25 / p.lag_bin_s) + 2
        keep = int(max(p.frozen_window_s, p.loop_window_s) / p.step_s) + 2
        self.steps: deque[Step] = deque(maxlen=keep)
        self.active: str | None = None
        self._clear_since: float | None = None

    # --- input ---------------------------------------------------------------------------

    def observe(self, at: float, frame_rgb: np.ndarray) -> FeedVerdict | None:
        """Take one sampled frame; returns a verdict when an episode starts, else None."""
        p = self.policy
        if self._last_at is not None:
            if at < self._last_at:
                return None                   # out of order: ignored
            if at - self._last_at > p.max_gap_s:
                self.reset_evidence()
        self._last_at = at
        if self._count and at - self._times[(self._count - 1) % p.history] < p.step_s:
            return None                       # a burst sample: nothing new to compare
        raw = thumbnail(frame_rgb, p.thumb_size).reshape(-1)
        z = raw - raw.mean()
        step = None
        if self._prev_raw is not None:
            step = self._step(at, raw, z)
            self.steps.append(step)
        self._keep(at, z, step.motion if step else math.nan)
        self._prev_raw = raw
        return self._decide(at) if step else None

    def reset_evidence(self) -> None:
        """Forget the steps and end the episode (the thumbnails stay). Done after a gap; the
        caller may do it too, e.g. once a liveness check has passed."""
        self.steps.clear()
        self._prev_raw = None
        self.active = None
        self._clear_since = None

    def memory_bytes(self) -> int:
        """What this monitor holds, roughly (the thumbnails and the window's steps)."""
        steps = sum(200 + (s.lags.nbytes if s.lags is not None else 0) for s in self.steps)
        return self._hist.nbytes + self._times.nbytes + self._motion.nbytes + steps

    # --- internals -----------------------------------------------------------------------

    def _ordered(self, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """The kept rows of `arrays` (ring buffers), oldest first."""
        n, cap = min(self._count, self.policy.history), self.policy.history
        if n < cap:
            return tuple(a[:n] for a in arrays)
        k = self._count % cap
        return tuple(np.roll(a, -k, axis=0) for a in arrays)

    def _keep(self, at: float, z: np.ndarray, motion: float) -> None:
        i = self._count % self.policy.history
        self._hist[i] = z
        self._times[i] = at
        self._motion[i] = motion
        self._count += 1

    def _step(self, at: float, raw: np.ndarray, z: np.ndarray) -> Step:
        p = self.policy
        diff = float(np.abs(raw - self._prev_raw).mean())
        motion = float(np.abs(z - self._hist[(self._count - 1) % p.history]).mean())
        if motion < p.move_diff:
            return Step(at, diff, motion)
        H, T = self._ordered(self._hist, self._times)
        delta = H - z                                    # (n, cells)
        point = np.abs(delta).mean(axis=1)
        copy = float(point[:-1].min()) if len(point) > 1 else math.inf
        # Match against every segment between two neighbouring thumbnails too: the loop's phase
        # in this round falls between two samples of an earlier one.
        d, t = point, T
        if len(T) >= 2:
            v = H[1:] - H[:-1]
            dt = T[1:] - T[:-1]
            vv = np.einsum("ij,ij->i", v, v)
            a = np.einsum("ij,ij->i", -delta[:-1], v) / np.maximum(vv, 1e-9)
            a = np.where(dt <= 2.5 * max(p.step_s, 1.0), np.clip(a, 0.0, 1.0), 0.0)
            d = np.concatenate([np.abs(delta[:-1] + a[:, None] * v).mean(axis=1), point[-1:]])
            t = np.concatenate([T[:-1] + a * dt, T[-1:]])
        lag = at - t
        k = np.floor(lag / p.lag_bin_s).astype(np.int64)
        ok = (lag >= p.loop_min_lag_s) & (k < self._bins)
        bins = np.full(self._bins, np.inf)
        np.minimum.at(bins, k[ok], d[ok])
        spread = bins.copy()                              # one bin either side: the lag's tolerance
        spread[1:] = np.minimum(spread[1:], bins[:-1])
        spread[:-1] = np.minimum(spread[:-1], bins[1:])
        return Step(at, diff, motion, copy, spread.astype(np.float16), spread <= p.loop_ratio * motion)

    def _decide(self, at: float) -> FeedVerdict | None:
        p = self.policy
        # a loop's evidence only grows with a movement: the lag analysis runs on those alone
        found = self._frozen(at) or (self._looped(at) if self.steps[-1].lags is not None else None)
        if found is None:
            if self.active is not None:
                if self._clear_since is None:
                    self._clear_since = at
                if at - self._clear_since >= p.clear_s:
                    self.active = None
                    self._clear_since = None
            return None
        self._clear_since = None
        if self.active == found.kind:
            return None
        self.active = found.kind
        return found

    def _frozen(self, at: float) -> FeedVerdict | None:
        p = self.policy
        window = [s for s in self.steps if s.at > at - p.frozen_window_s]
        if len(window) < p.frozen_min_steps:
            return None
        if at - window[0].at + p.step_s < 0.95 * p.frozen_window_s:
            return None
        unchanged = sum(s.diff <= p.frozen_diff for s in window)
        if unchanged < p.frozen_share * len(window):
            return None
        diffs = np.array([s.diff for s in window])
        since = next(s.at for s in window if s.diff <= p.frozen_diff)
        return FeedVerdict(FROZEN, at, since, {
            "median_diff": round(float(np.median(diffs)), 4), "max_diff": round(float(diffs.max()), 4),
            "unchanged": unchanged, "steps": len(window), "threshold": p.frozen_diff,
            "window_s": round(at - window[0].at, 2)})

    def _looped(self, at: float) -> FeedVerdict | None:
        p = self.policy
        window = [s for s in self.steps if s.at > at - p.loop_window_s]
        rows = [i for i, s in enumerate(window) if s.lags is not None]      # the movements
        n = len(rows)
        if n == 0:
            return None
        moving = [window[i] for i in rows]
        # bouts: runs of movements not interrupted by a still step
        bouts = np.cumsum([1] + [int(b != a + 1) for a, b in itertools.pairwise(rows)]) - 1

        copies = [s for s in moving if s.copy <= p.copy_ratio * s.motion]
        if len(copies) >= p.copy_min and len(copies) >= p.copy_min_share * n:
            return FeedVerdict(LOOPED, at, copies[0].at, {
                "basis": "copies", "copies": len(copies), "movements": n,
                "copy_ratio": round(float(np.median([s.copy / s.motion for s in copies])), 4),
                "threshold": p.copy_ratio, "window_s": p.loop_window_s})
        if n < p.loop_min_repeats:
            return None

        hit = np.stack([s.hits for s in moving])                               # (movements, bins)
        cand = np.flatnonzero(hit.sum(axis=0) >= p.loop_min_repeats)
        if cand.size == 0:
            return None
        at_lags = self._at_lags(window, rows, bouts, hit[:, cand], (cand + 0.5) * p.lag_bin_s)
        count, movements, nbouts, breaks, known_s = at_lags[:5]
        ok = ((known_s >= p.loop_min_known_s) & (count >= p.loop_min_repeats)
              & (count >= p.loop_min_share * movements) & (nbouts >= p.loop_min_bouts)
              & (breaks <= p.loop_max_breaks * movements))
        if not ok.any():
            return None
        # the shortest lag that holds (a loop also repeats two and three rounds back): the first
        # run of neighbouring bins that pass, and in it the bin with the most repeats
        good = np.flatnonzero(ok)
        first_run = good[: int(np.argmax(np.diff(cand[good], append=cand[good][-1] + 2) > 1)) + 1]
        j = int(first_run[np.argmax(count[first_run])])
        lag = float((cand[j] + 0.5) * p.lag_bin_s)
        sel = at_lags[5][:, j]
        period = self._period(window, rows, bouts, moving, lag)
        return FeedVerdict(LOOPED, at, moving[int(np.flatnonzero(sel)[0])].at, {
            "basis": "lag", "lag_s": round(period, 2), "verified_lag_s": round(lag, 2),
            "repeats": int(count[j]), "movements": int(movements[j]), "bouts": int(nbouts[j]),
            "rhythm_breaks": int(breaks[j]),
            "match_ratio": round(float(np.median([moving[i].lags[cand[j]] / moving[i].motion
                                                  for i in np.flatnonzero(sel)])), 4),
            "threshold": p.loop_ratio, "window_s": p.loop_window_s})

    def _at_lags(self, window: list[Step], rows: list[int], bouts: np.ndarray, hit: np.ndarray,
                 lags: np.ndarray) -> tuple[np.ndarray, ...]:
        """For each candidate lag (a column of `hit`: which movements repeat there): how many
        movements repeat, of how many that can be checked, in how many bouts, how many rhythm
        breaks, over how many seconds, and which movements (a (movements, lags) mask)."""
        p = self.policy
        ts = np.array([s.at for s in window])
        mo = np.array([s.motion for s in window])
        hist_t, hist_m = self._ordered(self._times, self._motion)
        when = ts[:, None] - lags[None, :]                                      # (steps, lags)
        then = np.interp(when.ravel(), hist_t, hist_m).reshape(when.shape)
        # only what can still be checked: the lagged time within the history
        known = (when >= hist_t[0]) & ~np.isnan(then)
        checked = known[rows]
        repeats = hit & checked
        onehot = np.eye(int(bouts[-1]) + 1, dtype=np.int32)[bouts]              # (movements, bouts)
        nbouts = ((repeats.T.astype(np.int32) @ onehot) > 0).sum(axis=1)
        # The rhythm: where one round moved, the other must have moved too (a person who turns
        # the same way again does not keep the same timing between turns).
        still = 0.4 * p.move_diff
        with np.errstate(invalid="ignore"):
            breaks = (known & (mo[:, None] >= p.move_diff) & (then < still)).sum(axis=0) + \
                     (known & (mo[:, None] < still) & (then >= p.move_diff)).sum(axis=0)
        return (repeats.sum(axis=0), checked.sum(axis=0), nbouts, breaks, known.sum(axis=0) * p.step_s, repeats)

    def _period(self, window: list[Step], rows: list[int], bouts: np.ndarray, moving: list[Step],
                lag: float) -> float:
        """The loop's own period: `lag` may be two or three rounds (the 1 fps samples can land on
        the same phase only every other round). A third or a half of it is the period if the
        movements come back there too, more loosely matched (half a sample of phase apart) but
        with the same rhythm."""
        p = self.policy
        for k in (3, 2):
            shorter = lag / k
            b = int(shorter / p.lag_bin_s)
            if shorter < p.loop_min_lag_s or b >= self._bins:
                continue
            hit = np.array([[s.lags[b] <= 2 * p.loop_ratio * s.motion] for s in moving])
            count, movements, _, breaks, known_s, _ = self._at_lags(window, rows, bouts, hit, np.array([shorter]))
            if (known_s[0] >= p.loop_min_known_s and count[0] >= p.loop_min_share * movements[0]
                    and breaks[0] <= p.loop_max_breaks * movements[0]):
                return shorter
        return lag


def _selftest() -> int:
    """`python -m proctoring.feed --selftest`: a frozen picture, a live-looking one and a loop
    from the sample photo; prints the verdicts and the cost per sample at 320x240."""
    import time

    import cv2

    from .sample_faces import scene

    rng = np.random.default_rng(0)
    base = scene("astronaut", (320, 240)).astype(np.float32)

    def live(k: int) -> np.ndarray:
        dx, dy = rng.normal(0, 0.5, 2) + (8 * math.sin(k / 5.0) if k % 17 < 4 else 0.0, 0.0)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        img = cv2.warpAffine(base, m, (320, 240), borderMode=cv2.BORDER_REFLECT)
        img += rng.normal(0, 1.5, img.shape[:2] + (1,)).astype(np.float32)
        return np.clip(img, 0, 255).astype(np.uint8)

    clip = [live(k) for k in range(13)]
    feeds = {"frozen": [base.astype(np.uint8)] * 40, "live": [live(k) for k in range(180)],
             "looped": [clip[k % 13] for k in range(150)]}
    failures = 0
    for name, frames in feeds.items():
        monitor = FeedMonitor()
        verdicts, spent = [], 0.0
        for k, frame in enumerate(frames):
            started = time.perf_counter()
            v = monitor.observe(float(k), frame)
            spent += time.perf_counter() - started
            if v:
                verdicts.append(v)
        kinds = [v.kind for v in verdicts]
        expect = {"frozen": [FROZEN], "live": [], "looped": [LOOPED]}[name]
        failures += kinds[:1] != expect
        print(f"{name:7s} {1000 * spent / len(frames):.3f} ms/sample, {monitor.memory_bytes() // 1024} KiB, "
              f"verdicts: {[(v.kind, v.at, v.scores) for v in verdicts]}")
    return 1 if failures else 0


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--selftest"]:
        print("usage: python -m proctoring.feed --selftest")
        raise SystemExit(2)
    raise SystemExit(_selftest())
