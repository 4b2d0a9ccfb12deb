"""What a session records, as plain data: stages (completed or timed out, time in each), attention
(the share of each key event's active time the head faced it), reaction times (per lap) and choices.
``summary()`` is JSON-ready: the station client posts it to the portal."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import mean


@dataclass
class StageRecord:
    key: str
    started: float
    ended: float | None = None
    completed: bool = False       # the learner met the stage's goal (False: it timed out)

    @property
    def seconds(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started


@dataclass
class Reaction:
    lap: str                      # "sober" or "drunk"
    hazard: str
    onset: float                  # scene time the hazard appeared
    response_s: float | None      # until the learner's own brake/steer command (None: never reacted)
    effective_s: float | None     # until the vehicle actually responded (after the impairment delay)


@dataclass
class Telemetry:
    scene: str
    stages: list[StageRecord] = field(default_factory=list)
    attention_s: dict[str, list[float]] = field(default_factory=dict)   # name -> [active_s, facing_s]
    reactions: list[Reaction] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)

    def stage_started(self, key: str, t: float) -> None:
        self.stages.append(StageRecord(key, t))

    def stage_ended(self, key: str, t: float, completed: bool) -> None:
        record = self.stages[-1]
        if record.key != key or record.ended is not None:
            raise ValueError(f"stage {key} ended but {record.key} is the open one")
        record.ended, record.completed = t, completed

    def attention(self, event: str, dt: float, facing: bool) -> None:
        acc = self.attention_s.setdefault(event, [0.0, 0.0])
        acc[0] += dt
        if facing:
            acc[1] += dt

    def attention_share(self, event: str) -> float:
        active, facing = self.attention_s.get(event, (0.0, 0.0))
        return facing / active if active > 0 else 0.0

    def reaction(self, reaction: Reaction) -> None:
        self.reactions.append(reaction)

    def count(self, name: str, by: float = 1.0) -> None:
        self.counters[name] = self.counters.get(name, 0.0) + by

    def mean_reaction(self, lap: str, effective: bool = False) -> float | None:
        values = [r.effective_s if effective else r.response_s for r in self.reactions if r.lap == lap]
        values = [v for v in values if v is not None]
        return mean(values) if values else None

    def summary(self) -> dict:
        ended = [s for s in self.stages if s.ended is not None]
        out: dict = {
            "scene": self.scene,
            "stages_completed": sum(1 for s in ended if s.completed),
            "stages_ended": len(ended),
            "stages": [{"key": s.key, "seconds": round(s.seconds, 2), "completed": s.completed} for s in ended],
            "seconds_total": round(sum(s.seconds for s in ended), 2),
            "attention": {k: round(self.attention_share(k), 3) for k in sorted(self.attention_s)},
            "choices": dict(self.choices),
            "counters": {k: round(v, 3) for k, v in self.counters.items()},
        }
        if self.reactions:
            out["reactions"] = [asdict(r) for r in self.reactions]
            for lap in sorted({r.lap for r in self.reactions}):
                for eff in (False, True):
                    value = self.mean_reaction(lap, effective=eff)
                    name = f"reaction_{lap}_{'effective_' if eff else ''}s"
                    out[name] = None if value is None else round(value, 3)
        return out
