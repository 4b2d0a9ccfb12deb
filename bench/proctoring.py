"""Camera proctoring capacity: how many learner camera streams one node keeps checking on schedule.

    python -m bench.proctoring [--steps 10,25,50,100,150,200,300,400] [--window-s 20]
                               [--join-rate 8] [--identity-mean-s S] [--budget-s 450] [--footage-s S]
                               [--smoke]

Runs itself inside a private network namespace (scripts/in-netns.sh; aioice ignores 127.0.0.1).
The server (one CheckRunner as the web app builds it, frozen/looped feed detection on, with a
recording sink) runs in its own process; the client peers (real aiortc peers sending pre-encoded
320x240 6 fps VP8 footage of a live-looking enrolled learner, as long as the run) run in other
processes; SDP goes between them over multiprocessing pipes. Every sitting's liveness challenge
goes from the server's sink straight to the client process that owns the stream (a pipe per
client process), whose peer shows pre-encoded clips of the asked head turn or nod in each step's
window, as a learner would. Streams join staggered, step by step, until a goal breaks or the time
budget is spent; then the same load is run against the bare media engine (no analysis) as the
baseline. Prints key=value lines; see bench/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import parse_args
from bench.proctoring_procs import ACTION_CLIP_S, RECHECK_AFTER_S, SHOW_AFTER_S, SHOW_FOR_S

ROOT = Path(__file__).resolve().parent.parent
# --smoke: one step of 2 streams (their first challenges decided) and its baseline, 40-60 s
# (tests/bench/test_bench_smoke.py)
SMOKE = {"steps": "2", "window_s": 2.0, "settle_s": 1.0, "clients": 1, "budget_s": 150.0, "footage_s": 60.0}
CLK = os.sysconf("SC_CLK_TCK")
FPS = 6.0                   # the clients send the challenge rate all the time (the browser's baseline is
                            # 1 fps, proctoring.camera_rate): a ceiling; decode_lines measures both
BITRATE = 200_000           # about what a browser sends for that
GOAL_P95_S = 2.0
GOAL_SAMPLES_OK = 0.90
GOAL_DROPPED = 0.05            # a dropped 1 fps sample delays presence by 1 s (grace 10 s); samples_ok and p95 guard the rest
GOAL_FRAMES_OK = 0.90
GOAL_CPU_SHARE = 0.80
GOAL_CHALLENGES_OK = 0.90      # liveness challenges decided in a step that the (live) clients passed
# What a client renders from a photo (proctoring.sample_faces.turn/nod/open_mouth): the
# production default actions (blinking is not among them).
LIVENESS_ACTIONS = "turn_left,turn_right,look_up,look_down,open_mouth"   # the production default


def ensure_netns(argv: list[str]) -> None:
    """Re-run this benchmark under scripts/in-netns.sh unless already inside such a namespace."""
    if os.environ.get("IN_NETNS"):
        return
    if os.environ.get("BENCH_PROCTORING_REEXEC"):
        print("error: could not enter a private network namespace (scripts/in-netns.sh needs root and "
              "`ip netns`); WebRTC traffic must stay inside one, so the benchmark does not run",
              file=sys.stderr)
        raise SystemExit(2)
    script = ROOT / "scripts" / "in-netns.sh"
    if not os.access(script, os.X_OK):
        print(f"error: {script} is missing or not executable", file=sys.stderr)
        raise SystemExit(2)
    env = {**os.environ, "BENCH_PROCTORING_REEXEC": "1"}
    sys.stdout.flush()
    os.chdir(ROOT)
    os.execve(str(script), [str(script), sys.executable, "-m", "bench.proctoring", *argv], env)


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process and of its live children (the server's identity worker process
    is part of the server)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            _head, rest = stat.read_text().rsplit(")", 1)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        fields = rest.split()
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / CLK
    return total


def _start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a running process, None once it is gone or a
    zombie: with the pid, it names one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, start time) of every live descendant of a process."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    for child in (task / "children").read_text().split():
                        start = _start_time(int(child))
                        if start is not None:
                            found.append((int(child), start))
                            todo.append(int(child))
    return found


def reap(family: list[tuple[int, int]], grace_s: float = 5.0) -> None:
    """Stop those of `family` (from descendants()) still running: SIGTERM, then SIGKILL."""
    def alive() -> list[int]:
        return [pid for pid, start in family if _start_time(pid) == start]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = alive()
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (every process, all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


class Proc:
    """A child process answering (command, *args) over a pipe."""

    def __init__(self, ctx, target, opts: dict, name: str):
        self.name = name
        self.conn, child = ctx.Pipe()
        # not daemonic: the server starts its own identity worker process
        self.process = ctx.Process(target=target, args=(child, opts), name=name, daemon=False)
        self.process.start()
        child.close()
        self.hello = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def ready(self, timeout: float = 240.0):
        self.hello = self._recv(timeout)
        return self.hello

    def call(self, *msg, timeout: float = 60.0):
        self.conn.send(msg)
        return self._recv(timeout)

    def _recv(self, timeout: float):
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s")
        try:
            status, value = self.conn.recv()
        except EOFError:
            raise RuntimeError(f"{self.name} exited (code {self.process.exitcode})") from None
        if status == "err":
            raise RemoteError(f"{self.name}: {value.strip().splitlines()[-1]}", value)
        return value

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def stop(self, timeout: float = 40.0) -> None:
        # Its own children (the identity worker, multiprocessing's resource tracker): a process
        # terminated below cannot stop them, and an orphaned worker would live on, holding the
        # bench's stdout open.
        family = descendants(self.pid) if self.process.is_alive() else []
        if self.process.is_alive():
            with contextlib.suppress(Exception):   # it is stopped below in any case
                self.call("quit", timeout=timeout)
        self.process.join(10)
        if self.process.is_alive():
            print(f"# {self.name} did not exit within 10 s of quit: terminated", file=sys.stderr)
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        reap(family)


class RemoteError(RuntimeError):
    def __init__(self, message: str, trace: str):
        super().__init__(message)
        self.trace = trace


class Rig:
    """A server process and client processes; streams joined so far."""

    def __init__(self, ctx, mode: str, args, work: Path, config: dict, max_streams: int, footage_of):
        from bench.proctoring_procs import client_main, server_main
        # One pipe per client process, from the server: the challenges of that client's streams.
        pipes = [ctx.Pipe(duplex=False) for _ in range(args.clients)]
        cores = getattr(args, "cores", None)     # (server, load) in the policy mode: pinned
        self.server_ncpu = len(cores[0]) if cores else (os.cpu_count() or 1)
        self.policy = args.mode == "policy"
        self.server = Proc(ctx, server_main, {"mode": mode, "instance_dir": str(work / f"instance-{mode}"),
                                              "config": config, "max_streams": max_streams,
                                              "nice": args.server_nice, "challenges": [w for _, w in pipes],
                                              "cores": cores[0] if cores else None},
                           f"server-{mode}")
        self.clients: list[Proc] = []
        try:
            footage = footage_of()     # made once per run, while the server loads its models
            for i, (r, _) in enumerate(pipes):
                self.clients.append(Proc(ctx, client_main, {"fps": FPS, "bitrate": BITRATE, "footage": footage,
                                                            "challenges": r, "cores": cores[1] if cores else None,
                                                            "nice": args.server_nice if cores else 0},
                                         f"client{i}"))
            for r, w in pipes:         # the processes hold their ends now
                r.close()
                w.close()
            self.server.ready()
            for client in self.clients:
                client.ready()
        except BaseException:
            self.stop()
            raise
        self.info = self.server.call("info")
        self.opened: dict[str, float] = {}     # sid -> wall time the server was asked
        self.owner: dict[str, Proc] = {}
        self.join_failures: list[str] = []
        self.verdicts: list[dict] = []
        self.challenges: list[dict] = []
        self.action_seen: list[tuple[float, float]] = []   # (when, seconds from showing to a sample showing it)
        self.last_counts: dict = {"holds": {}, "flags": {}, "rechecks": 0}
        self.last_told: dict = {}
        self.seconds_per_join = 1.0 / args.join_rate
        self.join_ms: list[tuple[float, float, float]] = []   # client offer, server open, client accept

    def join(self, count: int, rate: float) -> float:
        """Open `count` more streams, one every 1/rate s (as fast as signalling allows if slower)."""
        start = time.monotonic()
        first = len(self.join_ms)
        for k in range(count):
            wait = start + k / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sid = f"s{len(self.opened) + len(self.join_failures):04d}"
            client = self.clients[len(self.opened) % len(self.clients)]
            try:
                t0 = time.monotonic()
                offer = client.call("offer", sid)
                opened = time.time()
                t1 = time.monotonic()
                answer = self.server.call("open", sid, offer, self.clients.index(client))
                t2 = time.monotonic()
                client.call("accept", sid, answer)
                self.join_ms.append((t1 - t0, t2 - t1, time.monotonic() - t2))
            except RemoteError as exc:
                self.join_failures.append(f"{sid}: {exc}")
                continue
            self.opened[sid] = opened
            self.owner[sid] = client
        took = time.monotonic() - start
        self.last_join_ms = [statistics.median(x[i] for x in self.join_ms[first:]) * 1000 if self.join_ms[first:]
                             else float("nan") for i in range(3)]
        if count:
            self.seconds_per_join = took / count
        return count / took if took > 0 else float("nan")

    def client_status(self) -> dict:
        counted = ("sent", "challenges_received", "challenges_late", "challenges_unknown", "steps_shown",
                   "steps_missed", "keyframes_asked")
        merged = {"connected_at": {}, "failed": [], "loop_lag_max": 0.0, **{k: 0 for k in counted}}
        for client in self.clients:
            s = client.call("status")
            merged["connected_at"].update(s["connected_at"])
            merged["failed"] += s["failed"]
            merged["loop_lag_max"] = max(merged["loop_lag_max"], s["loop_lag_max"])
            for k in counted:
                merged[k] += s[k]
        return merged

    def wait_connected(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status = self.client_status()
            pending = [sid for sid in self.opened if sid not in status["connected_at"] and sid not in status["failed"]]
            if not pending or time.monotonic() > deadline:
                status["pending"] = pending
                return status
            time.sleep(0.5)

    def snapshot(self) -> dict:
        snap = self.server.call("snapshot", timeout=120)
        self.verdicts += snap["verdicts"]
        self.challenges += snap["challenges"]
        self.action_seen += snap["action_seen"]
        snap["server_cpu"] = self.server.cpu()
        snap["client_cpu"] = sum(c.cpu() for c in self.clients)
        snap["machine"] = machine_busy()
        snap["mono"] = time.monotonic()
        return snap

    def stop(self) -> None:
        for proc in [self.server, *self.clients]:
            proc.stop()


def measure_step(rig: Rig, n: int, args, step_start_wall: float, join_rate: float, connect: dict) -> dict:
    """Settle, then measure a window of args.window_s seconds with n streams open."""
    time.sleep(args.settle_s)
    sent_a = rig.client_status()["sent"]
    a = rig.snapshot()
    time.sleep(args.window_s)
    b = rig.snapshot()
    status_b = rig.client_status()
    span = b["mono"] - a["mono"]
    ncpu = rig.server_ncpu
    live = [sid for sid in rig.opened if sid in a["per_stream"] and sid not in status_b["failed"]]
    expected = span * rig.info["sample_fps"]
    got = sum(min(b["per_stream"].get(sid, 0) - a["per_stream"].get(sid, 0), expected) for sid in live)
    samples_ok = got / (expected * max(1, len(rig.opened)))   # streams that never sampled count as 0
    eng_a, eng_b = a["engine"], b["engine"]
    taken = eng_b["samples_taken"] - eng_a["samples_taken"]
    dropped = (eng_b["samples_dropped"] - eng_a["samples_dropped"]) / taken if taken else 0.0
    sent = status_b["sent"] - sent_a
    frames_ok = (eng_b["frames_received"] - eng_a["frames_received"]) / sent if sent else 0.0
    send_fps = sent / ((b["mono"] - a["mono"]) * max(1, len(rig.opened)))
    # the policy's clients send 1-6 fps by their check state: no fixed rate to compare with
    send_ok = float("nan") if rig.policy else send_fps / FPS
    server_cores = (b["server_cpu"] - a["server_cpu"]) / span
    client_cores = (b["client_cpu"] - a["client_cpu"]) / span
    machine_cores = (b["machine"] - a["machine"]) / span
    # Thread groups of the server (per-thread CPU deltas; threads born in the window count whole).
    groups: dict[str, float] = {}
    waited = 0.0
    for tid, (group, cpu, wait) in b["threads"].items():
        before = a["threads"].get(tid)
        same = before is not None and before[0] == group
        groups[group] = groups.get(group, 0.0) + cpu - (before[1] if same else 0.0)
        waited += wait - (before[2] if same else 0.0)
    groups = {g: v / span for g, v in groups.items()}
    analysis = {}
    for kind, (count_b, ms_b) in b.get("analysis", {}).items():
        count_a, ms_a = a["analysis"].get(kind, (0, 0.0))
        analysis[kind] = ((count_b - count_a), (ms_b - ms_a) / 1000 / span)
    # Identity verdicts of this step (its joins and its window): from the trigger to the sink. A
    # sitting's first check is triggered when the stream is opened, before it can connect: its
    # latency is counted from the stream's first sample (the connection time is connect_p95_s).
    end = b["at"]
    first_sample = b["first_sample"]
    lat_first, lat_sched = [], []
    verified = set()
    for v in rig.verdicts:
        if v["kind"] != "identity":
            continue
        verified.add(v["sid"])
        if v["sink_at"] < step_start_wall:
            continue
        if v["first"]:
            lat_first.append(v["sink_at"] - max(v["triggered_at"], first_sample.get(v["sid"], v["triggered_at"])))
        else:
            lat_sched.append(v["sink_at"] - v["triggered_at"])
    # A stream of this step still without its first verdict: counted with the time it has waited
    # so far (a lower bound), so a backlog cannot hide.
    pending = [sid for sid in rig.opened if sid not in verified]
    for sid in pending:
        lat_first.append(end - first_sample.get(sid, rig.opened[sid]))
    lat_all = lat_first + lat_sched
    liveness = [v for v in rig.verdicts if v["kind"] == "liveness" and v["sink_at"] >= step_start_wall]
    # Challenges sent to the clients in this step (its joins and its window), and those decided
    # in it: the liveness verdicts (a challenge is decided at the end of its last window).
    sent_challenges = [c for c in rig.challenges if c["sink_at"] >= step_start_wall]
    passed = sum(1 for v in liveness if v["passed"])
    fail_reasons: dict[str, int] = {}
    for v in liveness:
        if not v["passed"]:
            fail_reasons[v["reason"]] = fail_reasons.get(v["reason"], 0) + 1
    seen = [lag for at, lag in rig.action_seen if at >= step_start_wall]
    counts = {"holds": b["holds"], "flags": b["flags"], "rechecks": b["rechecks"]}
    last, rig.last_counts = rig.last_counts, counts
    connect_times = [status_b["connected_at"][sid] - rig.opened[sid] for sid in rig.opened
                     if sid in status_b["connected_at"] and rig.opened[sid] >= step_start_wall]
    r = {
        "n": n, "streams": len(rig.opened), "join_failures": len(rig.join_failures),
        "connect_failed": len(connect["failed"]) + len(connect["pending"]), "join_rate": join_rate,
        "connect_p95_s": pct(connect_times, 0.95), "server_cores": server_cores, "client_cores": client_cores,
        "other_cores": max(0.0, machine_cores - server_cores - client_cores), "cpu_share": server_cores / ncpu,
        "cpu_s_per_stream_s": server_cores / max(1, len(rig.opened)),
        "p95": pct(lat_all, 0.95), "p95_first": pct(lat_first, 0.95), "p95_scheduled": pct(lat_sched, 0.95),
        "identity_verdicts": len(lat_first) - len(pending) + len(lat_sched), "first": len(lat_first) - len(pending),
        "scheduled": len(lat_sched), "pending": len(pending), "liveness": len(liveness),
        "samples_ok": samples_ok, "dropped": dropped, "frames_ok": frames_ok,
        "sample_lag_p95_s": pct(b["lags"], 0.95), "loop_lag_max_s": eng_b["loop_lag_max_s"],
        "client_loop_lag_max_s": status_b["loop_lag_max"], "groups": groups, "analysis": analysis,
        "identity_ms": b["identity_ms"], "holds": b["holds"], "flags": b["flags"],
        "step_holds": _delta(b["holds"], last["holds"]), "step_flags": _delta(b["flags"], last["flags"]),
        "held_now": b["held"], "rechecks": b["rechecks"] - last["rechecks"],
        "challenges": len(sent_challenges), "challenges_passed": passed, "challenges_failed": len(liveness) - passed,
        "challenges_ok": passed / len(liveness) if liveness else float("nan"), "fail_reasons": fail_reasons,
        "action_seen_p50_s": pct(seen, 0.5), "action_seen_p95_s": pct(seen, 0.95), "actions_seen": len(seen),
        "challenges_late": status_b["challenges_late"] - rig.last_told.get("challenges_late", 0),
        "steps_missed": status_b["steps_missed"] - rig.last_told.get("steps_missed", 0),
        "keyframes_asked": status_b["keyframes_asked"] - rig.last_told.get("keyframes_asked", 0),
        "load": loadavg(), "span": span,
        "sample_errors": eng_b["sample_errors"], "join_ms": rig.last_join_ms, "send_ok": send_ok,
        "runq_wait": waited / span, "send_fps": send_fps, "lost_later": len(set(status_b["failed"]) & set(rig.opened)),
        "server_connected": eng_b["connected"],
    }
    failed = []
    if r["join_failures"] or r["connect_failed"] or r["lost_later"]:
        failed.append("joins")
    if not r["p95"] < GOAL_P95_S:
        failed.append("p95")
    if r["samples_ok"] < GOAL_SAMPLES_OK:
        failed.append("samples")
    if r["dropped"] > GOAL_DROPPED:
        failed.append("dropped")
    if r["frames_ok"] < GOAL_FRAMES_OK:
        failed.append("frames")
    if r["cpu_share"] >= GOAL_CPU_SHARE:
        failed.append("cpu")
    if liveness and r["challenges_ok"] < GOAL_CHALLENGES_OK:
        failed.append("challenges")
    rig.last_told = status_b
    r["failed"] = failed
    return r


def _delta(now: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}


def kinds(counts: dict) -> str:
    """{'liveness': 2, 'absent': 1} as absent:1,liveness:2 (none: 0)."""
    return ",".join(f"{k}:{v}" for k, v in sorted(counts.items())) or "0"


DRAIN_S = 15.0     # after the last step: the challenges under way are decided (at most this long)


def drain(rig: Rig) -> dict:
    """Wait until every challenge sent so far is decided (at most DRAIN_S), then the run's totals."""
    deadline = time.monotonic() + DRAIN_S
    while True:
        snap = rig.snapshot()
        sent: dict[str, int] = {}
        for c in rig.challenges:
            sent[c["sid"]] = sent.get(c["sid"], 0) + 1
        for v in rig.verdicts:
            if v["kind"] == "liveness":
                sent[v["sid"]] = sent.get(v["sid"], 0) - 1
        pending = sum(max(0, k) for k in sent.values())
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    status = rig.client_status()
    liveness = [v for v in rig.verdicts if v["kind"] == "liveness"]
    reasons: dict[str, int] = {}
    for v in liveness:
        if not v["passed"]:
            reasons[v["reason"]] = reasons.get(v["reason"], 0) + 1
    passed = sum(1 for v in liveness if v["passed"])
    return {"sent": len(rig.challenges), "passed": passed, "failed": len(liveness) - passed, "pending": pending,
            "fail_reasons": reasons, "holds": snap["holds"], "flags": snap["flags"], "held": snap["held"],
            "rechecks": snap["rechecks"], "late": status["challenges_late"], "missed": status["steps_missed"],
            "keyframes_asked": status["keyframes_asked"]}


def step_line(r: dict) -> str:
    return (f"n={r['n']} cpu={r['server_cores']:.2f} cpu_share={r['cpu_share']:.2f} "
            f"cpu_s_per_stream_s={r['cpu_s_per_stream_s']:.4f} p95={r['p95']:.2f} "
            f"p95_scheduled={r['p95_scheduled']:.2f} p95_first={r['p95_first']:.2f} "
            f"identity_verdicts={r['identity_verdicts']} "
            f"(first={r['first']} scheduled={r['scheduled']} pending={r['pending']}) "
            f"challenges={r['challenges']} challenges_passed={r['challenges_passed']} "
            f"challenges_failed={r['challenges_failed']} challenges_ok={r['challenges_ok']:.2f} "
            f"action_seen_s={r['action_seen_p50_s']:.2f}/{r['action_seen_p95_s']:.2f} "
            f"challenges_late={r['challenges_late']} steps_missed={r['steps_missed']} "
            f"keyframes_asked={r['keyframes_asked']} rechecks={r['rechecks']} "
            f"holds={kinds(r['step_holds'])} flags={kinds(r['step_flags'])} held_now={kinds(r['held_now'])} "
            f"samples_ok={r['samples_ok']:.3f} dropped={r['dropped']:.3f} frames_ok={r['frames_ok']:.3f} "
            f"send_ok={r['send_ok']:.3f} send_fps={r['send_fps']:.2f} connected={r['server_connected']} lost={r['lost_later']} "
            f"sample_lag_p95_s={r['sample_lag_p95_s']:.2f} loop_lag_max_s={r['loop_lag_max_s']:.2f} "
            f"client_loop_lag_max_s={r['client_loop_lag_max_s']:.2f} "
            f"connect_p95_s={r['connect_p95_s']:.2f} join_rate={r['join_rate']:.1f} "
            f"join_ms={'/'.join(f'{v:.0f}' for v in r['join_ms'])} "
            f"client_cpu={r['client_cores']:.2f} other_cpu={r['other_cores']:.2f} "
            f"server_runq_wait={r['runq_wait']:.2f} load={r['load'].replace(' ', '/')} "
            f"ok={'yes' if not r['failed'] else 'no(' + ','.join(r['failed']) + ')'}")


def groups_line(prefix: str, r: dict) -> str:
    total = r["server_cores"] or 1.0
    parts = [f"{prefix}{g}={v:.2f}" for g, v in sorted(r["groups"].items(), key=lambda kv: -kv[1]) if v >= 0.005]
    shares = " ".join(f"{g}:{v / total:.0%}" for g, v in sorted(r["groups"].items(), key=lambda kv: -kv[1])
                      if v / total >= 0.01)
    return " ".join(parts) + f" ({shares})"


def camera_rates() -> tuple[float, float]:
    """The browser's baseline and challenge frame rates (CAMERA_BASE_FPS, CAMERA_CHALLENGE_FPS as
    the portal reads them; proctoring.camera_rate's defaults)."""
    from proctoring.camera_rate import CameraRatePolicy

    default = CameraRatePolicy()
    return (float(os.environ.get("CAMERA_BASE_FPS", default.base_fps)),
            float(os.environ.get("CAMERA_CHALLENGE_FPS", default.challenge_fps)))


def decode_lines(args) -> None:
    """The decode cost of one stream at the browser's baseline frame rate and at its challenge
    rate (proctoring.camera_rate): the server decodes every frame it receives, whatever it samples.
    320x240, the clients' footage, measured in this process while the server idles."""
    from bench.proctoring_procs import SIZE, decode_cost

    base_fps, challenge_fps = camera_rates()
    seconds = 30.0          # about 2 s of work at these rates, smoke runs included
    busy0, wall0 = machine_busy(), time.monotonic()
    load = loadavg()
    base = decode_cost(base_fps, seconds, BITRATE)
    challenge = decode_cost(challenge_fps, seconds, BITRATE)
    busy = (machine_busy() - busy0) / ((time.monotonic() - wall0) * (os.cpu_count() or 1))
    size = f"{SIZE[0]}x{SIZE[1]}"
    for name, r in (("base", base), ("challenge", challenge)):
        print(f"decode_ms_per_s_{name}={r['ms_per_s']:.2f} ({size} {r['fps']:g} fps: CPU ms per second of one "
              f"stream, aiortc's VP8 decoder; {r['ms_per_frame']:.2f} ms a frame, {r['kbps']:.0f} kbit/s, "
              f"median of 5 passes over {r['seconds']:.0f} s)")
    print(f"decode_fps_base={base_fps:g} decode_fps_challenge={challenge_fps:g} decode_size={size}")
    ratio = challenge["ms_per_s"] / base["ms_per_s"] if base["ms_per_s"] else float("nan")
    print(f"decode_ratio_challenge_vs_base={ratio:.2f} (a stream costs this many times more to decode while its "
          f"challenge runs)")
    print(f"decode_machine_load={load.replace(' ', '/')} busy={busy:.2f} (load average before; share of all "
          f"cores busy while measured, every process)", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not {"-h", "--help"} & set(argv):
        ensure_netns(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-proctoring-"))
    try:
        return run(argv, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(argv: list[str], work: Path) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10,25,50,100,150,200,300,400",
                        help="stream counts, ascending; streams of a step keep running into the next")
    parser.add_argument("--window-s", type=float, default=20.0, help="measured window of each step")
    parser.add_argument("--settle-s", type=float, default=3.0, help="after the joins, before the window")
    parser.add_argument("--join-rate", type=float, default=8.0, help="new streams per second (staggered joins)")
    parser.add_argument("--clients", type=int, default=2, help="client processes the peers are spread over")
    parser.add_argument("--identity-mean-s", type=float, default=None,
                        help="mean seconds between identity checks (default: the production setting, "
                             "IDENTITY_MEAN_S=180); shorter gives more identity checks in a short run")
    parser.add_argument("--server-nice", type=int, default=0,
                        help="scheduling priority of the server process (negative needs root): on a shared, "
                             "overloaded machine, -10 approximates a server that has the node to itself")
    parser.add_argument("--mode", choices=("policy", "ceiling"), default="policy",
                        help="policy: the server pinned to one core and the clients to the others, the clients "
                             "sending as proctoring.camera_rate asks (1 fps, 6 fps during a challenge); streams_per_core. "
                             "ceiling: unpinned, 6 fps all the time (the runs before 2026-12)")
    parser.add_argument("--profile-s", type=float, default=5.0, help="py-spy of the server at the step that broke")
    parser.add_argument("--no-baseline", action="store_true", help="skip the engine-only baseline")
    parser.add_argument("--budget-s", type=float, default=450.0, help="stop adding steps to end within this")
    parser.add_argument("--footage-s", type=float, default=None,
                        help="length of the clients' neutral footage (default: the budget + 30 s, so no stream's "
                             "picture repeats within the run)")
    args = parse_args(parser, argv, SMOKE)

    began = time.monotonic()
    deadline = began + args.budget_s
    steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
    from bench.proctoring_policy import add_base_footage, pin_self, split_cores
    args.cores = split_cores() if args.mode == "policy" else None
    if args.cores:
        pin_self(args.cores[1])    # the orchestrator is load: the clients' core
        if args.server_nice:       # the policy mode renices the clients too (--server-nice)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, args.server_nice)
    ncpu = len(args.cores[0]) if args.cores else (os.cpu_count() or 1)
    config: dict = {"LIVENESS_ACTIONS": LIVENESS_ACTIONS}
    if args.identity_mean_s:
        config.update(IDENTITY_MEAN_S=args.identity_mean_s, IDENTITY_MIN_S=min(20.0, args.identity_mean_s / 4))
    print("bench=proctoring")
    if args.smoke:
        print("smoke=1")
    print(f"network=private namespace {os.environ['IN_NETNS']} (scripts/in-netns.sh)")
    print(f"machine_cpus={os.cpu_count()}")
    base_fps, challenge_fps = camera_rates()
    if args.cores:
        print(f"mode=policy server_cores={sorted(args.cores[0])} load_cores={sorted(args.cores[1])} (the server and "
              f"its identity worker pinned to the first, clients and this orchestrator to the others)")
        print(f"camera=320x240 {base_fps:g} fps, {challenge_fps:g} fps from a challenge to the end of its last window "
              "(proctoring.camera_rate, as the page sends it)")
    else:
        print(f"mode=ceiling (unpinned; clients send {FPS:g} fps all the time)")
    print("server=webapp.proctor.check_runner.CheckRunner built as webapp.proctor.hub.runner builds it in the media "
          "worker (IDENTITY_PROCESSES identity worker, FEED_CHECK), alone in its own process; not `python -m "
          "webapp.media` itself: that needs Redis, PostgreSQL and the Flask app, and its RPC only carries signalling")
    print(f"load_avg_start={loadavg()}")
    print(f"server_nice={args.server_nice}", flush=True)

    ctx = mp.get_context("spawn")
    results: list[dict] = []
    stopped = "steps exhausted"
    rig = None
    made: dict = {}

    def footage_of() -> dict:
        """The clients' footage, made once per run: as long as the run, so no stream's picture
        repeats (the feed monitor would rightly flag a loop)."""
        if "footage" not in made:
            from bench.proctoring_procs import make_footage
            seconds = args.footage_s or args.budget_s + 30
            made["footage"] = make_footage(ctx, seconds, FPS, BITRATE, processes=min(2, os.cpu_count() or 1))
            if args.mode == "policy":
                base = make_footage(ctx, seconds, camera_rates()[0], BITRATE, processes=min(2, os.cpu_count() or 1))
                made["footage"] = add_base_footage(made["footage"], base)
        return made["footage"]
    totals: dict = {}
    try:
        rig = Rig(ctx, "full", args, work, config, max(steps), footage_of)
        info = rig.info
        policy = "shortened" if args.identity_mean_s else "production"
        print(f"policy={policy} identity_mean_s={info['identity_mean_s']:g} identity_min_s={info['identity_min_s']:g} "
              f"liveness_share={info['liveness_share']:g} sample_fps={info['sample_fps']:g} "
              f"burst_fps={info['burst_fps']:g} workers={info['workers']} queue_limit={info['queue_limit']} "
              f"identity_threshold={info['threshold']}")
        print(f"liveness=every sitting's first check, then a share {info['liveness_share']:g} of the scheduled ones; "
              f"2 actions from {','.join(info['liveness_actions'])}, window {info['liveness_window_s']:g} s each, "
              f"first window {info['challenge_lead_s']:g} s after the challenge plus up to "
              f"{info['liveness_max_lead_s']:g} s per step; clients act {SHOW_AFTER_S:g}-"
              f"{SHOW_AFTER_S + SHOW_FOR_S:g} s into each window; a held learner asks for a re-check "
              f"{RECHECK_AFTER_S:g} s after the hold (backoff {info['recheck_backoff_s']:g} s doubling, "
              f"review after {info['block_after']} failures)")
        print(f"feed_check={'on' if info['feed_check'] else 'off'} (frozen/looped feed detection, as FEED_CHECK)")
        fo = footage_of()
        print(f"footage=320x240 {FPS:g} fps VP8, a live-looking learner (sensor noise, breathing, drift, flicker): "
              f"{fo['seconds']:.0f} s neutral that never repeats + {len(fo['actions'])} actions x "
              f"{len(next(iter(fo['actions'].values())))} clips of {ACTION_CLIP_S:g} s, keyframe every "
              f"{fo['keyframe_every']} frames, {fo['kbps']:.0f} kbit/s; encoded once in {fo['made_s']:.1f} s "
              f"({fo['processes']} processes), every peer only packetizes; client_processes={args.clients}")
        if "neutral_base" in fo:
            print(f"footage_base=320x240 {fo['base_fps']:g} fps VP8 neutral, keyframe every {fo['base_keyframe_every']} "
                  f"frames, {fo['base_kbps']:.0f} kbit/s (the baseline; the clients switch rate at keyframes)")
        decode_lines(args)
        print(f"identity_check_ms_idle={statistics.median(info['identity_ms_idle']):.0f} "
              "(median of 6, server process before any stream)")
        print("gil_block_ms=" + " ".join(f"{k}:{v:.0f}" for k, v in info["gil_block_ms"].items())
              + " (longest stall of another Python thread, e.g. the RTP event loop, during 3 analyses)",
              flush=True)
        for n in steps:
            add = n - len(rig.opened)
            estimate = add * rig.seconds_per_join + args.settle_s + args.window_s + 10
            reserve = DRAIN_S + (0 if args.no_baseline else 60 + min(n, max([r["n"] for r in results], default=n))
                                 * rig.seconds_per_join + args.window_s)
            if time.monotonic() + estimate + reserve > deadline:
                stopped = f"time budget (next step n={n} would end after --budget-s {args.budget_s:g})"
                break
            step_start = time.time()
            rate = rig.join(add, args.join_rate)
            connect = rig.wait_connected()
            r = measure_step(rig, n, args, step_start, rate, connect)
            results.append(r)
            print(step_line(r), flush=True)
            print(f"  n={n} server_threads_cores: {groups_line('', r)}", flush=True)
            if r["fail_reasons"]:
                print(f"  n={n} challenge_failures: " + "; ".join(f"{k} x{v}" for k, v in r["fail_reasons"].items()))
            if r["failed"]:
                stopped = f"goals broke at n={n}: {','.join(r['failed'])}"
                if args.cores and n < 150:   # streams_per_core's goal missed: what bounds it
                    from bench.profiling import python_profile
                    print(f"profile_n{n}=server process {rig.server.pid} (py-spy, all threads) under the step's load, "
                          f"goals broke: {','.join(r['failed'])}")
                    for i, line in enumerate(python_profile(rig.server.pid, args.profile_s)):
                        print(f"profile_n{n}_{i}={line}", flush=True)
                break
        for failure in rig.join_failures[:5]:
            print(f"# join failure: {failure}", file=sys.stderr)
        if results:
            totals = drain(rig)
    finally:
        if rig is not None:
            rig.stop()

    good = [r for r in results if not r["failed"]]
    best = good[-1] if good else None
    print(f"stopped={stopped}")
    print(f"streams_per_node_rule=largest n with: identity verdict p95 < {GOAL_P95_S:g} s (trigger to sink; a "
          f"first check from the stream's first sample), samples_ok >= {GOAL_SAMPLES_OK:g} (1 fps samples "
          f"analysed per stream), dropped <= {GOAL_DROPPED:g}, frames_ok >= {GOAL_FRAMES_OK:g}, every join "
          f"connected and none lost, server CPU < {GOAL_CPU_SHARE:g} x {ncpu} cores, liveness challenges "
          f"decided in the step passed >= {GOAL_CHALLENGES_OK:g}")
    print(f"streams_per_node={best['n'] if best else 0}" + (f" (the server pinned to {ncpu} core(s))" if args.cores else ""))
    if args.cores:
        per_core = (best["n"] if best else 0) / ncpu
        print(f"streams_per_core={per_core:g} resolution=320x240 fps={base_fps:g} (baseline), {challenge_fps:g} "
              f"(challenge) server_cores={ncpu} (goal >= 150; a node is cores x this)")
        print("resolution=320x240")
        print(f"fps={base_fps:g} baseline, {challenge_fps:g} during a challenge")
    ref = best or (results[0] if results else None)
    if ref is None:
        print("error=no step completed", file=sys.stderr)
        return 1
    all_identity = ref["identity_ms"]
    print(f"verdict_p95_s={ref['p95']:.2f} p95_scheduled={ref['p95_scheduled']:.2f} p95_first={ref['p95_first']:.2f} "
          f"(n={ref['n']}, {ref['identity_verdicts']} identity verdicts: {ref['first']} first, "
          f"{ref['scheduled']} scheduled or re-checks, {ref['pending']} pending)")
    print(f"verdict_p95_scheduled_s={ref['p95_scheduled']:.2f} (n={ref['n']}, {ref['scheduled']} verdicts; nan: none "
          f"in the step)")
    ok_steps = [r for r in results if r["n"] <= ref["n"]]
    upto_passed = sum(r["challenges_passed"] for r in ok_steps)
    upto_decided = upto_passed + sum(r["challenges_failed"] for r in ok_steps)
    print(f"challenges={totals.get('sent', 0)} (sent to the clients during the run)")
    print(f"challenges_passed={totals.get('passed', 0)}")
    print(f"challenges_failed={totals.get('failed', 0)}")
    print(f"challenges_pending={totals.get('pending', 0)} (not decided when the run stopped)")
    print(f"challenges_passed_share={upto_passed / upto_decided if upto_decided else float('nan'):.3f} "
          f"(steps up to n={ref['n']}: {upto_passed} of {upto_decided} decided; whole run "
          f"{totals.get('passed', 0)} of {totals.get('passed', 0) + totals.get('failed', 0)})")
    if totals.get("fail_reasons"):
        print("challenge_fail_reasons=" + "; ".join(f"{k} x{v}" for k, v in totals["fail_reasons"].items()))
    print(f"client_challenges_late={totals.get('late', 0)} client_steps_missed={totals.get('missed', 0)} "
          f"client_keyframes_asked={totals.get('keyframes_asked', 0)} (told after the moment to act; steps whose "
          f"moment had passed; keyframes sent because the server lost a picture and asked, PLI)")
    print(f"action_seen_s={ref['action_seen_p50_s']:.2f} p95 {ref['action_seen_p95_s']:.2f} (n={ref['n']}, "
          f"{ref['actions_seen']} steps: from a client starting an action to the first server sample showing it)")
    print(f"identity_check_ms_median={pct(all_identity, 0.5):.0f}")
    print(f"identity_check_ms_p95={pct(all_identity, 0.95):.0f} (thread CPU, {len(all_identity)} checks "
          f"during the run)")
    print(f"cpu_s_per_stream_s={ref['cpu_s_per_stream_s']:.4f} (n={ref['n']})")
    print(f"projected_streams_server_alone={int(GOAL_CPU_SHARE * ncpu / ref['cpu_s_per_stream_s'])} "
          f"(CPU goal alone at this per-stream cost, clients elsewhere; not measured)")
    an = ref["analysis"]
    analysis_cores = sum(v[1] for v in an.values())
    print("analysis_cores=" + " ".join(f"{k}:{v[1]:.3f}({v[0]})" for k, v in an.items())
          + f" total={analysis_cores:.3f} share_of_server={analysis_cores / (ref['server_cores'] or 1):.2f}")
    print(f"server_threads_at_n={ref['n']}: {groups_line('', ref)}")
    print(f"holds={kinds(totals.get('holds', ref['holds']))} (holds put on, by reason, whole run; a sitting "
          f"starts held as unverified without one)")
    print(f"flags={kinds(totals.get('flags', ref['flags']))} (by kind, whole run)")
    print(f"held_at_end={kinds(totals.get('held', {}))} rechecks={totals.get('rechecks', 0)}")

    if not args.no_baseline:
        # The same streams against the bare engine: at the reported n (the CPU ratio), and at the
        # first n that broke (does the engine alone keep up there?), as far as time allows.
        broke = results[-1] if results and results[-1]["failed"] else None
        wanted = [ref] + ([broke] if broke is not None and broke is not ref else [])
        base_rig = None
        try:
            for full in wanted:
                n_base = full["n"]
                have = len(base_rig.opened) if base_rig else 0
                if time.monotonic() + (0 if base_rig else 40) + (n_base - have) * rig.seconds_per_join \
                        + args.settle_s + args.window_s > deadline + 90:
                    print(f"baseline_n{n_base}=skipped (time budget)")
                    continue
                if base_rig is None:
                    base_rig = Rig(ctx, "engine", args, work, config, max(r["n"] for r in wanted), footage_of)
                step_start = time.time()
                rate = base_rig.join(n_base - have, args.join_rate)
                connect = base_rig.wait_connected()
                base = measure_step(base_rig, n_base, args, step_start, rate, connect)
                print(f"baseline n={n_base} (engine only: same streams, samples converted to RGB and counted; no "
                      f"analysis, no check state) cpu={base['server_cores']:.2f} "
                      f"cpu_s_per_stream_s={base['cpu_s_per_stream_s']:.4f} samples_ok={base['samples_ok']:.3f} "
                      f"dropped={base['dropped']:.3f} frames_ok={base['frames_ok']:.3f} send_ok={base['send_ok']:.3f} "
                      f"loop_lag_max_s={base['loop_lag_max_s']:.2f} connected={base['server_connected']} lost={base['lost_later']} "
                      f"client_loop_lag_max_s={base['client_loop_lag_max_s']:.2f} client_cpu={base['client_cores']:.2f} "
                      f"other_cpu={base['other_cores']:.2f} load={base['load'].replace(' ', '/')} "
                      f"keeps_up={'yes' if not set(base['failed']) - {'p95'} else 'no(' + ','.join(base['failed']) + ')'}")
                print(f"  n={n_base} baseline threads: {groups_line('', base)}")
                ratio = full["cpu_s_per_stream_s"] / base["cpu_s_per_stream_s"] if base["cpu_s_per_stream_s"] else 0
                print(f"cpu_ratio_full_vs_engine_only_n{n_base}={ratio:.2f} (transport+decode share of the "
                      f"server's CPU: {1 / ratio if ratio else float('nan'):.2f})", flush=True)
        finally:
            if base_rig is not None:
                base_rig.stop()
    print(f"load_avg_end={loadavg()}")
    print(f"loadavg={loadavg().replace(' ', '/')} (end; machine_cpus={os.cpu_count()})")
    print(f"elapsed_s={time.monotonic() - began:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
