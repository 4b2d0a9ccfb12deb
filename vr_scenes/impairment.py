"""The impairment model, pure Python: what alcohol (or withdrawal) does to the learner's controls and vision.

Controls: the steering and pedal commands reach the vehicle late (a delay line) and the steering
drifts by itself (a slow, deterministic wander the learner must correct). Vision: blur, double
vision, a narrowed field of attention (tunnel), tremor, distortion and loss of colour, as strengths
the renderer turns into image effects. Everything is a function of scene time, so tests are exact.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, fields

# Widmark estimate for a 70 kg man (r = 0.68); elimination about 15 mg/100 ml per hour.
BODY_WATER_L = 0.68 * 70.0
ALCOHOL_G_PER_LIANG = 50.0 * 0.52 * 0.789     # one liang (50 ml) of 52 % baijiu: ~20.5 g ethanol
DRINK_DRIVING_MG = 20.0                       # mg/100 ml: drink driving (饮酒驾驶) under Chinese law
DRUNK_DRIVING_MG = 80.0                       # mg/100 ml: drunk driving (醉酒驾驶), a crime


def bac_mg_per_100ml(grams_ethanol: float, hours_since: float = 0.0) -> float:
    peak = grams_ethanol / BODY_WATER_L * 100.0          # g/L -> mg/100 ml
    return max(0.0, peak - 15.0 * hours_since)


@dataclass(frozen=True)
class VisionEffects:
    """Strengths of the image effects, each 0 (none) .. 1 (strongest) unless said otherwise."""
    blur: float = 0.0
    double: float = 0.0          # horizontal offset of the ghost image, as a fraction of the view width
    tunnel: float = 0.0          # narrowing of the clear field of view
    tremor: float = 0.0          # image shake amplitude, fraction of the view width
    distortion: float = 0.0      # slow wobble of the image scale
    desaturate: float = 0.0

    @property
    def any(self) -> bool:
        return max(self.blur, self.double, self.tremor, self.distortion) > 1e-3

    def scaled(self, k: float) -> VisionEffects:
        return VisionEffects(**{f.name: getattr(self, f.name) * k for f in fields(self)})


class DelayLine:
    """A command signal delayed by ``delay_s``: value_at(t) is what was pushed at t - delay_s."""

    def __init__(self, delay_s: float, initial: float = 0.0):
        self.delay_s = delay_s
        self._t: list[float] = []
        self._v: list[float] = []
        self.initial = initial

    def push(self, t: float, value: float) -> None:
        if self._t and t < self._t[-1]:
            raise ValueError("pushed out of order")
        self._t.append(t)
        self._v.append(value)
        # keep memory bounded: drop what can no longer be read
        cut = bisect_right(self._t, t - self.delay_s - 1.0)
        if cut > 64:
            del self._t[:cut]
            del self._v[:cut]

    def value_at(self, t: float) -> float:
        i = bisect_right(self._t, t - self.delay_s + 1e-9) - 1
        return self._v[i] if i >= 0 else self.initial


@dataclass(frozen=True)
class Impairment:
    """Severity 0 (sober) .. 1 (heavily drunk, ~150 mg/100 ml)."""
    severity: float = 0.0
    phase: float = 0.0           # varies the drift pattern between laps/learners, deterministically

    @classmethod
    def from_bac(cls, mg_per_100ml: float, phase: float = 0.0) -> Impairment:
        return cls(severity=max(0.0, min(1.0, mg_per_100ml / 150.0)), phase=phase)

    @property
    def control_delay_s(self) -> float:
        """Extra time between a steering/pedal command and its effect."""
        return 0.8 * self.severity

    @property
    def attention_cone_deg(self) -> float:
        """Half-angle of the field in which a hazard is noticed at once (narrowed attention)."""
        return 60.0 - 40.0 * self.severity

    def drift(self, t: float) -> float:
        """Steering wander (in steering units, -1..1) that the learner has to correct."""
        s, p = self.severity, self.phase
        return 0.22 * s * (math.sin(0.37 * t + p) + 0.6 * math.sin(0.91 * t + 2.1 * p + 1.0))

    def vision(self, t: float) -> VisionEffects:
        s = self.severity
        if s <= 0:
            return VisionEffects()
        return VisionEffects(
            blur=0.85 * s,
            double=0.025 * s * (0.65 + 0.35 * math.sin(0.8 * t + self.phase)),
            tunnel=0.75 * s,
            tremor=0.0,
            distortion=0.3 * s * (0.5 + 0.5 * math.sin(0.45 * t)),
            desaturate=0.25 * s,
        )

    def notice_delay_s(self, off_axis_deg: float) -> float:
        """Extra time before a hazard ``off_axis_deg`` from the gaze is noticed: none inside the attention
        cone, growing outside it (what a narrowed field of attention costs)."""
        over = max(0.0, off_axis_deg - self.attention_cone_deg)
        return min(1.5, over / 20.0) * (0.3 + self.severity)


def withdrawal_vision(severity: float, t: float) -> VisionEffects:
    """Opioid withdrawal in first person: tunnel vision, tremor, distortion, grey."""
    s = max(0.0, min(1.0, severity))
    return VisionEffects(
        blur=0.45 * s,
        double=0.006 * s * (1 + math.sin(2.3 * t)),
        tunnel=0.7 * s,
        tremor=0.006 * s * (0.6 + 0.4 * math.sin(7.0 * t)),
        distortion=0.8 * s * (0.5 + 0.5 * math.sin(0.7 * t)),
        desaturate=0.7 * s,
    )


class ImpairedControls:
    """Applies an impairment to raw steering and pedal commands: delay, then drift on the steering."""

    def __init__(self, impairment: Impairment):
        self.impairment = impairment
        d = impairment.control_delay_s
        self.steer = DelayLine(d)
        self.throttle = DelayLine(d)
        self.brake = DelayLine(d)

    def apply(self, t: float, steer: float, throttle: float, brake: float) -> tuple[float, float, float]:
        self.steer.push(t, steer)
        self.throttle.push(t, throttle)
        self.brake.push(t, brake)
        s = self.steer.value_at(t) + self.impairment.drift(t)
        return max(-1.0, min(1.0, s)), self.throttle.value_at(t), self.brake.value_at(t)
