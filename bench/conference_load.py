"""Fan-out and capacity parts of `python -m bench.conference`, for either media backend.

The server is pinned to one core and the load generators to the others (on the 2-core machine:
the server on core 0, the viewers and the publisher on core 1), so the server's CPU is one
core's worth and the clients cannot take it:

* `AiortcSide`: one `streaming.conference.AiortcRoom` alone in its process (its CPU from /proc);
* `JanusSide`: a private Janus (`deploy.janus_server.JanusServer`, started under `taskset`; its
  CPU from /proc/<pid>/stat) with one VideoRoom room driven by a `JanusRoom` in this process
  (HTTP signalling only: the load side).

Viewers are aiortc peers in `viewer_main` processes. They receive and depacketize every frame
(SRTP, RTP, jitter buffer) but do not decode it: a counting stand-in replaces aiortc's VP8
decoder there (it reads the frame size from each keyframe's header), because 100-500 real
decoders would need more than the one core the load generators have. A frame counts when the
viewer's jitter buffer completed it.

`search` adds viewers step by step to one conference (one publisher, `--steps`) and measures a
window at each: `conference_participants_per_core` is the largest number of viewers at which at
least 95% of the viewers got at least 90% of the frames the publisher sent (the server has one
core). Steps 1 and `--subscribers` also give the fan-out keys (`fanout_cost_ratio_100_vs_1`).
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import statistics
import time
from pathlib import Path

from bench.proctoring_procs import _quiet_logs, _serve

CLK = os.sysconf("SC_CLK_TCK")
SHARE_OK = 0.90          # a viewer is served when it got this share of the frames sent
VIEWERS_OK = 0.95        # ... and a step is on goal when this share of the viewers is served
JOIN_CHUNK = 20          # viewers signalled per call to a viewer process


def split_cores() -> tuple[set[int], set[int]]:
    """(server cores, load-generator cores): the first core for the server, the rest for the load."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return set(cores), set(cores)
    return {cores[0]}, set(cores[1:])


def pin_self(cores: set[int], nice: int = 0) -> None:
    """Pin the calling thread (before a process starts its threads: the whole process); with
    `nice`, set its scheduling priority too (negative needs root: on a machine shared with
    other jobs, the bench's processes then keep their cores)."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, cores)
    if nice:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, nice)


def pin_process(pid: int, cores: set[int]) -> None:
    """Pin every thread a process has now (threads it starts later inherit their creator's)."""
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                os.sched_setaffinity(int(task.name), cores)


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def machine_busy() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK


def loadavg() -> str:
    return "/".join(Path("/proc/loadavg").read_text().split()[:3])


def use_counting_decoders() -> None:
    """In a viewer process: aiortc's receivers get a VP8 'decoder' that only counts (see above)."""
    import aiortc.rtcrtpreceiver as receiver

    class Frame:
        __slots__ = ("width", "height")

    class CountingDecoder:
        def __init__(self):
            self.size = (0, 0)

        def decode(self, encoded_frame):
            data = encoded_frame.data
            if len(data) >= 10 and not data[0] & 1:      # a keyframe: its header has the size
                self.size = (int.from_bytes(data[6:8], "little") & 0x3FFF,
                             int.from_bytes(data[8:10], "little") & 0x3FFF)
            frame = Frame()
            frame.width, frame.height = self.size
            return [frame]

    original = receiver.get_decoder
    receiver.get_decoder = lambda codec: (CountingDecoder() if codec.mimeType.lower() == "video/vp8"
                                          else original(codec))


def viewer_main(conn, opts: dict) -> None:
    """Viewers of the one source ("host"): client-offer (aiortc rooms) or server-offer (Janus)."""
    pin_self(opts["cores"], opts.get("nice", 0))
    _quiet_logs()
    if opts.get("counting", True):
        use_counting_decoders()
    from bench.conference import Viewer
    from tests.rtc_peers import ClientLoop

    loop = ClientLoop()
    viewers: list = []

    def offers(count):
        new = [Viewer(loop) for _ in range(count)]
        viewers.extend(new)
        return [v.offer() for v in new]

    def answers(offered):
        new = [Viewer(loop) for _ in offered]
        viewers.extend(new)
        return [v.answer(o) for v, o in zip(new, offered)]

    def accept(first, sdps):
        for viewer, sdp in zip(viewers[first:first + len(sdps)], sdps):
            viewer.accept(sdp)

    def quit_():
        for viewer in viewers:
            with contextlib.suppress(Exception):
                viewer.close()
        loop.stop()

    conn.send(("ok", {"pid": os.getpid()}))
    _serve(conn, {"offers": offers, "answers": answers, "accept": accept,
                  "frames": lambda: [v.frames for v in viewers],
                  "sizes": lambda: sorted({v.size for v in viewers if v.size}), "quit": quit_})


def aiortc_room_main(conn, opts: dict) -> None:
    pin_self(opts["cores"], opts.get("nice", 0))
    _quiet_logs()
    from streaming.conference import AiortcRoom, RoomConfig

    room = AiortcRoom("bench", RoomConfig(ice_servers=[], bitrate=opts["bitrate"],
                                          max_subscriptions=opts["max_subscriptions"])).start()
    conn.send(("ok", {"pid": os.getpid()}))
    _serve(conn, {"publish": room.publish, "subscribe": room.subscribe, "stats": room.stats,
                  "quit": room.shutdown})


class AiortcSide:
    name = "aiortc"
    native = False

    def __init__(self, ctx, args, cores: set[int]):
        from bench.proctoring import Proc
        self.proc = Proc(ctx, aiortc_room_main, {"cores": cores, "bitrate": args.bitrate, "nice": args.nice,
                                                 "max_subscriptions": 4000}, "room-aiortc")
        self.proc.ready()
        self.pid = self.proc.pid

    def publish(self, sid: str, offer: str) -> str:
        return self.proc.call("publish", sid, offer)

    def subscribe(self, viewers, first_id: int, first_in_proc: int, count: int) -> None:
        offers = viewers.call("offers", count)
        answers = [self.proc.call("subscribe", f"v{first_id + i}", "host", o) for i, o in enumerate(offers)]
        viewers.call("accept", first_in_proc, answers)

    def stats(self) -> dict:
        return self.proc.call("stats")

    def stop(self) -> None:
        self.proc.stop()


def start_janus(run_dir: Path, cores: set[int], nice: int = 0):
    """A private Janus under `taskset -c CORES` (every thread it ever starts stays there)."""
    from deploy.janus_server import JanusServer

    class PinnedJanus(JanusServer):
        def command(self) -> list[str]:
            niced = ["nice", "-n", str(nice)] if nice else []
            return [*niced, "taskset", "-c", ",".join(str(c) for c in sorted(cores)), *super().command()]
    return PinnedJanus(run_dir, rtp_port_range=(20000, 40000)).start()


class JanusSide:
    name = "janus"
    native = True

    def __init__(self, args, cores: set[int], run_dir: Path, server=None):
        from streaming.conference import JanusRoom, RoomConfig
        from streaming.conference.janus_api import JanusEndpoint

        self.own_server = server is None
        self.server = server or start_janus(run_dir, cores)
        self.pid = self.server.proc.pid
        self.endpoint = JanusEndpoint(self.server.url, self.server.api_secret, self.server.admin_key)
        self.room = JanusRoom("bench", RoomConfig(ice_servers=[], bitrate=args.bitrate, max_subscriptions=4000),
                              janus=self.endpoint).start()
        self.pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="bench-janus-signal")

    def publish(self, sid: str, offer: str) -> str:
        return self.room.publish(sid, offer)

    def subscribe(self, viewers, first_id: int, first_in_proc: int, count: int) -> None:
        ids = [f"v{first_id + i}" for i in range(count)]
        offers = list(self.pool.map(lambda p: self.room.subscribe_offer(p, "host", audio=False), ids))
        answers = viewers.call("answers", offers)
        list(self.pool.map(lambda pa: self.room.subscribe_answer(pa[0], "host", pa[1]), zip(ids, answers)))

    def stats(self) -> dict:
        return self.room.stats()

    def stop(self) -> None:
        self.pool.shutdown(wait=False)
        with contextlib.suppress(Exception):
            self.room.shutdown()
        if self.own_server:
            self.server.stop()


class ViewerPool:
    def __init__(self, ctx, processes: int, cores: set[int], nice: int = 0):
        from bench.proctoring import Proc
        self.procs = [Proc(ctx, viewer_main, {"cores": cores, "nice": nice}, f"viewers{i}") for i in range(processes)]
        for proc in self.procs:
            proc.ready()
        self.counts = [0] * processes

    @property
    def total(self) -> int:
        return sum(self.counts)

    def grow(self, side, n: int) -> None:
        while self.total < n:
            k = min(range(len(self.procs)), key=lambda i: self.counts[i])
            count = min(JOIN_CHUNK, n - self.total)
            side.subscribe(self.procs[k], self.total, self.counts[k], count)
            self.counts[k] += count

    def frames(self) -> list[int]:
        return [f for proc in self.procs for f in proc.call("frames")]

    def sizes(self) -> list:
        return sorted({tuple(s) for proc in self.procs for s in proc.call("sizes")})

    def cpu(self) -> float:
        return sum(proc_cpu(p.pid) for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def window(side, pool: ViewerPool, publisher, seconds: float) -> dict:
    f0, s0, c0, l0, m0, t0 = (pool.frames(), publisher.track.sent, proc_cpu(side.pid),
                              pool.cpu() + proc_cpu(os.getpid()), machine_busy(), time.monotonic())
    time.sleep(seconds)
    f1, s1, c1, l1, m1, t1 = (pool.frames(), publisher.track.sent, proc_cpu(side.pid),
                              pool.cpu() + proc_cpu(os.getpid()), machine_busy(), time.monotonic())
    span, sent = t1 - t0, max(1, s1 - s0)
    got = [b - a for a, b in zip(f0, f1)]
    shares = [g / sent for g in got]
    return {"span": span, "sent": sent, "server_cores": (c1 - c0) / span, "load_cores": (l1 - l0) / span,
            "machine_cores": (m1 - m0) / span, "shares": shares,
            "fps_mean": statistics.mean(got) / span if got else 0.0, "fps_min": min(got) / span if got else 0.0,
            "served": sum(1 for s in shares if s >= SHARE_OK) / len(shares) if shares else 0.0,
            "loadavg": loadavg()}


def search(side, ctx, args, cores: tuple[set[int], set[int]], log=print, profile=None) -> dict:
    """One conference: a publisher (this process) and viewers added step by step. Returns the
    steps' figures; `profile(n, r, first_step)` is called at n = --subscribers and when a step
    breaks, the server still under that step's load."""
    from bench.conference import MarkerTrack
    from tests.rtc_peers import ClientLoop, Publisher, photo_frames

    steps = sorted({1, args.subscribers, *(int(s) for s in str(args.steps).split(",") if s.strip())})
    deadline = time.monotonic() + args.search_budget_s
    client = ClientLoop()
    pool = ViewerPool(ctx, args.viewer_procs, cores[1], args.nice)
    results: list[dict] = []
    stopped = "steps exhausted"
    per_join = 0.05
    try:
        publisher = Publisher(client, MarkerTrack(photo_frames(args.width, args.height, count=8), fps=args.fps))
        publisher.accept(side.publish("host", publisher.offer()))
        publisher.wait_connected(30)
        for n in steps:
            estimate = (n - pool.total) * per_join + args.settle_s + args.window_s + 10
            if n > 1 and time.monotonic() + estimate > deadline and len(results) >= 2:
                stopped = f"time budget (next step n={n})"
                break
            began, before = time.monotonic(), pool.total
            try:
                pool.grow(side, n)
            except Exception as exc:   # noqa: BLE001 - e.g. the publisher's connection dropped: the step broke
                stopped = f"goal broke at n={n}: joining failed after {pool.total} viewers ({str(exc)[-120:]})"
                log(f"step_n{n}=0 joining failed after {pool.total} viewers: {str(exc)[-160:]} load={loadavg()}")
                if profile is not None:
                    profile(n, {"ok": False, "server_cores": 0.0}, results[0])
                break
            if pool.total > before:
                per_join = max(0.005, (time.monotonic() - began) / (pool.total - before))
            wait_until = time.monotonic() + 30
            while min(pool.frames()) < 3 and time.monotonic() < wait_until:
                time.sleep(0.5)
            time.sleep(args.settle_s)
            r = window(side, pool, publisher, args.window_s)
            r["n"] = n
            r["join_ms"] = per_join * 1000
            r["ok"] = r["served"] >= VIEWERS_OK
            r["load_bound"] = r["load_cores"] >= 0.9 * len(cores[1])
            results.append(r)
            log(f"step_n{n}={r['served']:.3f} served (viewers with >= {SHARE_OK:.0%} of {r['sent']} frames) "
                f"server_cpu={r['server_cores']:.3f} load_cpu={r['load_cores']:.2f} "
                f"machine_cpu={r['machine_cores']:.2f} share_min={min(r['shares']):.3f} "
                f"fps_mean={r['fps_mean']:.2f} fps_min={r['fps_min']:.2f} join_ms={r['join_ms']:.0f} "
                f"load={r['loadavg']} ok={'yes' if r['ok'] else 'no'}"
                f"{' load_generator_saturated' if r['load_bound'] else ''}")
            if profile is not None and n > 1 and (n == args.subscribers or not r["ok"]):
                profile(n, r, results[0])
            if not r["ok"] and n > 1:
                stopped = f"goal broke at n={n}"
                break
        sizes = pool.sizes()
        try:
            stats = side.stats()
        except Exception:   # noqa: BLE001 - the room may have lost its source
            stats = {}
        publisher.close()
    finally:
        pool.stop()
        client.stop()
    return {"steps": results, "stopped": stopped, "sizes": sizes, "stats": stats}


def figures(found: dict, args, backend: str) -> dict:
    """The keys bench.conference prints from a search."""
    steps = {r["n"]: r for r in found["steps"]}
    one, many = steps.get(1), steps.get(args.subscribers)
    n = args.subscribers
    out: dict = {}
    if one:
        out["room_cpu_s_per_s_1"] = round(one["server_cores"], 4)
        out["viewer_fps_1"] = round(one["fps_mean"], 2)
    if one and many:
        out[f"room_cpu_s_per_s_{n}"] = round(many["server_cores"], 4)
        out[f"fanout_cost_ratio_{n}_vs_1"] = (round(many["server_cores"] / one["server_cores"], 2)
                                              if one["server_cores"] else "nan")
        out["room_cpu_ms_per_subscriber_s"] = round((many["server_cores"] - one["server_cores"]) / (n - 1) * 1000, 3)
        out[f"viewer_fps_mean_{n}"] = round(many["fps_mean"], 2)
        out[f"viewer_fps_min_{n}"] = round(many["fps_min"], 2)
    stats = found["stats"]
    if backend == "aiortc" and "host" in stats.get("sources", {}):
        source = stats["sources"]["host"]
        out.update(room_encoders=stats["encoders"], room_encodes=source["encodes"], room_frames_in=source["frames_in"])
    elif backend == "janus":
        out["room_encoders"] = "0 (Janus forwards RTP, never decodes or encodes)"
    good = [r for r in found["steps"] if r["ok"] and r["n"] > 1]
    best = good[-1] if good else None
    last = found["steps"][-1] if found["steps"] else None
    bound = ""
    if best is not None and best is last:
        bound = " (at least: " + ("the load generators' core was saturated" if best["load_bound"]
                                  else found["stopped"]) + ")"
    out["conference_participants_per_core"] = (
        f"{best['n'] if best else 0} resolution={args.width}x{args.height} fps={args.fps:g} "
        f"server_cpu={best['server_cores'] if best else float('nan'):.3f}{bound}")
    if best is not None and best["server_cores"] > 0:
        out["conference_participants_per_core_cpu_projection"] = (
            f"{int(best['n'] * 0.9 / best['server_cores'])} (viewers at 90% of the server's core at the cost "
            f"measured at n={best['n']}; not measured)")
    out["participants_search_stopped"] = found["stopped"]
    out["viewer_frame_sizes"] = ",".join(f"{w}x{h}" for w, h in found["sizes"]) or "none"
    return out


def janus_hop_latency(server, args) -> dict:
    """The cascade on one Janus: province, city and township rooms, `relay_from` (Janus's RTP
    forwarders to remote publishers: no decoding anywhere); the marker publisher and one
    decoding viewer per level in this process. Janus only remotizes local publishers, so the
    township is fed from the province's publisher directly, like the city: one forward each.
    `hop_latency_ms` is therefore city - province (one hop)."""
    from bench.conference import LEVELS, _hop_figures, _latencies, _marker_publisher, view_offered
    from streaming.conference import JanusRoom, RoomConfig
    from streaming.conference.janus_api import JanusEndpoint
    from tests.rtc_peers import ClientLoop

    endpoint = JanusEndpoint(server.url, server.api_secret, server.admin_key)
    client = ClientLoop()
    rooms = [JanusRoom(name, RoomConfig(ice_servers=[], bitrate=args.bitrate), janus=endpoint).start()
             for name in LEVELS]
    out: dict = {}
    try:
        province, city, township = rooms
        publisher = _marker_publisher(client)
        publisher.accept(province.publish("host", publisher.offer()))
        publisher.wait_connected(20)
        city.relay_from(province, "host", "host")
        township.relay_from(city, "host", "host")
        viewers = [view_offered(room, "viewer", "host", client, read_markers=True, audio=False) for room in rooms]
        for viewer in viewers:
            viewer.wait_frames(10, timeout=30)
        cpu0, t0 = proc_cpu(server.proc.pid), time.monotonic()
        time.sleep(args.latency_s)
        cpu1, t1 = proc_cpu(server.proc.pid), time.monotonic()
        out.update(_hop_figures(viewers, ""))
        medians = [out[f"latency_ms_{level}"] for level in LEVELS]
        out["hop_latency_ms"] = round(medians[1] - medians[0], 2)
        out["room_cpu_s_per_s_janus"] = round((cpu1 - cpu0) / (t1 - t0), 4)
        out["viewer_fps_township"] = round(len(_latencies(viewers[2])) / args.latency_s, 1)
        out["hop_kind"] = ("Janus relay_from (RTP forward to a remote publisher of the child room, same Janus; "
                           "no transcoding; the township is fed from the origin too: hop = city - province)")
        for viewer in viewers:
            viewer.close()
        publisher.close()
    finally:
        for room in reversed(rooms):
            with contextlib.suppress(Exception):
                room.shutdown()
        client.stop()
    return out
