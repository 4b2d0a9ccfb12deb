"""Conference media benchmark (``python -m bench.conference``) and the client peers
for conference rooms that it and tests/integration/test_conference_media.py use:
a camera track with a number drawn into every frame, a reader for that number,
and a viewer peer that receives one stream of a room.

Prints key=value lines:

- ``fanout_cost_ratio_100_vs_1``: CPU of the room's process (from /proc) per
  second with one published stream and 100 subscribers / with 1 subscriber. The
  room runs in its own process (``--backend janus``: the Janus process); the
  viewers in other processes; the publisher in this one. Encode once: the
  100-subscriber cost is 1 decode + 1 encode plus 100 packetize/SRTP/send paths,
  not 100 encodes (Janus: no decode or encode at all).
- ``conference_participants_per_core``: the most viewers of one conference at which
  95% of them get >= 90% of the frames, the server pinned to one core and the load
  generators to the others (bench/conference_load.py); ``resolution=``, ``fps=``
  and ``loadavg=`` beside it, ``profile_*`` where a goal is missed (bench/profiling.py).
- ``hop_latency_ms``: added latency per cascade hop (province -> city ->
  township) over the WebRTC relay transport: each room in its own process, each
  hop a real peer connection over the namespace's network (UDP, DTLS-SRTP), the
  child room decoding once and encoding once. From CLOCK_MONOTONIC timestamps
  drawn into the province host's frames and read back from viewers' decoded
  frames at each level: (median township latency - median province latency) / 2.
- ``hop_latency_inprocess_ms``: the same with in-process relays (all rooms in
  one process, packets handed between room loops: no network, no transcoding).
- ``media_playback_cpu_s_per_s``: CPU per second of playing one course into a conference (issue 16:
  the host plays a course file; three rooms city -> county -> township; the playback and the rooms
  in one process of their own, bench/conference.py media_playback): decode, scale, encode once,
  with one viewer; beside it the same with ``--playback-viewers`` viewers and their ratio (encode
  once: it should stay near 1; on Janus the viewers cost Janus, ``media_playback_janus_cpu_*``).
- ``playback_latency_ms_township``: from the moment the playback's clock reaches a frame (its media
  time, read from the marker drawn into the course by content/marker_video.py, mapped to
  CLOCK_MONOTONIC through the playback's clock) to the moment a township viewer has decoded it;
  median (and ``_p90``). ``playback_conditions`` says resolution, fps, backend and load.
- ``rollcall_cpu_pct``: CPU of one roll call with 1 host and 100 participants, as a
  share of a 2-core machine (bench/conference_rollcall.py explains the set-up).

``--backend aiortc|janus|both`` (default aiortc; both: each in turn, keys suffixed). 320x240 at
6 fps by default (what conference.js asks the camera for).

Runs itself inside a private network namespace (scripts/in-netns.sh). ``--smoke``: every part
once at tiny size (3 subscribers, 2 roll-call participants, windows of 1-2 s), for the test suite.

The marker: 32 bits as two rows of 16 black/white blocks (20x16 px each) across
the top 32 rows of the frame; bit i is row i // 16, column i % 16, white = 1.
VP8 keeps blocks that size readable at ordinary bitrates.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from bench import parse_args
from tests.rtc_peers import TIME_BASE, ClientLoop, _Pacer

BITS = 32
BLOCK_W, BLOCK_H = 20, 16


def draw_marker(rgb: np.ndarray, value: int) -> np.ndarray:
    out = rgb.copy()
    for i in range(BITS):
        row, col = divmod(i, 16)
        out[row * BLOCK_H:(row + 1) * BLOCK_H, col * BLOCK_W:(col + 1) * BLOCK_W] = 255 if (value >> i) & 1 else 0
    return out


def read_marker(rgb: np.ndarray) -> int:
    value = 0
    for i in range(BITS):
        row, col = divmod(i, 16)
        block = rgb[row * BLOCK_H + 4:(row + 1) * BLOCK_H - 4, col * BLOCK_W + 5:(col + 1) * BLOCK_W - 5]
        if block.mean() > 128:
            value |= 1 << i
    return value


def now_ms() -> int:
    """CLOCK_MONOTONIC in ms, mod 2**32: the same clock in every process of the machine."""
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


class MarkerTrack(VideoStreamTrack):
    """Plays ``base`` frames (looping) with ``value(n)`` drawn into frame n."""

    def __init__(self, base: list[np.ndarray], fps: float = 15.0, value: Callable[[int], int] | None = None):
        super().__init__()
        self.base = base
        self.pacer = _Pacer(fps)
        self.value = value or (lambda n: n)
        self.sent = 0

    async def recv(self):
        pts = await self.pacer.next()
        rgb = draw_marker(self.base[self.sent % len(self.base)], self.value(self.sent) & 0xFFFFFFFF)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = TIME_BASE
        self.sent += 1
        return frame


class Viewer:
    """A client peer that receives one source: counts decoded frames and, when
    ``read_markers``, reads the marker of each frame with its arrival time. With
    ``audio`` it also asks for the source's audio (one recvonly audio m-line) and
    counts decoded audio frames and their level."""

    def __init__(self, client_loop: ClientLoop, read_markers: bool = False, keep: int = 2000,
                 audio: bool = False):
        self.client_loop = client_loop
        self.read_markers = read_markers
        self.keep = keep
        self.audio = audio
        self.pc: RTCPeerConnection | None = None
        self.frames = 0
        self.audio_frames = 0
        self.audio_loud_frames = 0     # frames with an RMS level above silence
        self.markers: list[tuple[float, int]] = []   # (time.monotonic(), marker)
        self.last: np.ndarray | None = None
        self.size: tuple[int, int] | None = None
        self.lock = threading.Lock()
        self.task = None
        self.audio_task = None

    def offer(self) -> str:
        return self.client_loop.run(self._offer())

    async def _offer(self) -> str:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")
        if self.audio:
            self.pc.addTransceiver("audio", direction="recvonly")

        @self.pc.on("track")
        def on_track(track):
            if track.kind == "audio":
                self.audio_task = asyncio.ensure_future(self._listen(track))
            else:
                self.task = asyncio.ensure_future(self._read(track))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    def answer(self, offer_sdp: str) -> str:
        """The server-offer flow (MediaRoom.subscribe_offer): answer the room's offer,
        receiving only; ``audio`` keeps its audio m-line receiving, else it is inactive."""
        return self.client_loop.run(self._answer(offer_sdp))

    async def _answer(self, offer_sdp: str) -> str:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @self.pc.on("track")
        def on_track(track):
            if track.kind == "audio":
                self.audio_task = asyncio.ensure_future(self._listen(track))
            else:
                self.task = asyncio.ensure_future(self._read(track))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            wanted = transceiver.kind == "video" or self.audio
            transceiver.direction = "recvonly" if wanted else "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def _read(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                at = time.monotonic()
                self.frames += 1
                self.size = (frame.width, frame.height)
                if self.read_markers:
                    rgb = frame.to_ndarray(format="rgb24")
                    with self.lock:
                        self.last = rgb
                        self.markers.append((at, read_marker(rgb)))
                        del self.markers[:-self.keep]
        except MediaStreamError:
            pass

    async def _listen(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                self.audio_frames += 1
                samples = frame.to_ndarray().astype(np.float64)
                if np.sqrt(np.mean(samples ** 2)) > 300:   # a tone at 0.3 full scale is ~7000
                    self.audio_loud_frames += 1
        except MediaStreamError:
            pass

    def accept(self, answer_sdp: str) -> None:
        self.client_loop.run(self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer")))

    def connection_state(self) -> str:
        return self.pc.connectionState if self.pc else "new"

    def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.frames} frames (< {count}) after {timeout} s; state {self.connection_state()}")
            time.sleep(0.02)

    def send_pli(self) -> int:
        """Send a Picture Loss Indication for the received stream; returns its SSRC."""
        async def pli():
            receiver = self.pc.getTransceivers()[0].receiver
            ssrcs = [s.source for s in receiver.getSynchronizationSources()]
            if not ssrcs:
                raise RuntimeError("no RTP received yet")
            await receiver._send_rtcp_pli(ssrcs[0])
            return ssrcs[0]
        return self.client_loop.run(pli())

    def close(self) -> None:
        if self.pc is not None:
            self.client_loop.run(self.pc.close())


def view(room, participant_id: str, source_id: str, client_loop: ClientLoop, **kwargs) -> Viewer:
    viewer = Viewer(client_loop, **kwargs)
    viewer.accept(room.subscribe(participant_id, source_id, viewer.offer()))
    return viewer


def view_offered(room, participant_id: str, source_id: str, client_loop: ClientLoop, **kwargs) -> Viewer:
    """Subscribe with the server-offer flow every backend has (subscribe_offer, then
    subscribe_answer)."""
    viewer = Viewer(client_loop, **kwargs)
    offer = room.subscribe_offer(participant_id, source_id, audio=viewer.audio)
    room.subscribe_answer(participant_id, source_id, viewer.answer(offer))
    return viewer


class CourseViewer(Viewer):
    """A viewer of a played course (content/marker_video.py): reads the course's media-time marker
    from every decoded frame (off the client loop) with ``clock()`` at its arrival (e.g. the
    playback's position; None: not read), and keeps its audio (mono samples) with arrival times."""

    def __init__(self, client_loop: ClientLoop, clock: Callable[[], float] | None = None, audio: bool = True,
                 keep: int = 4000):
        super().__init__(client_loop, audio=audio, keep=keep)
        self.clock = clock
        self.seen: list[tuple[float, float | None, float | None]] = []     # (arrival, marker, clock)
        self.heard: list[tuple[float, np.ndarray]] = []                   # (arrival, mono samples)

    async def _read(self, track) -> None:
        from content.marker_video import read_marker as read_course_marker
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                at = time.monotonic()
                clock = self.clock() if self.clock is not None else None
                self.frames += 1
                self.size = (frame.width, frame.height)
                marker = await loop.run_in_executor(None, lambda f=frame: read_course_marker(f.to_ndarray(format="rgb24")))
                with self.lock:
                    self.seen.append((at, marker, clock))
                    del self.seen[:-self.keep]
        except MediaStreamError:
            pass

    async def _listen(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                samples = frame.to_ndarray().reshape(-1, 2)[:, 0].astype(np.float64)
                self.audio_frames += 1
                if np.sqrt(np.mean(samples ** 2)) > 300:
                    self.audio_loud_frames += 1
                with self.lock:
                    self.heard.append((time.monotonic(), samples))
                    del self.heard[:-200]
        except MediaStreamError:
            pass

    def since(self, at: float) -> list[tuple[float, float | None, float | None]]:
        with self.lock:
            return [s for s in self.seen if s[0] >= at]

    def markers_since(self, at: float) -> list[float]:
        return [m for _, m, _ in self.since(at) if m is not None]

    def wait_marker(self, predicate: Callable[[float], bool], timeout: float, what: str) -> float:
        """Wait for a frame decoded from now on whose marker satisfies ``predicate``; returns it."""
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            for _, marker, _ in self.since(start - 0.001):
                if marker is not None and predicate(marker):
                    return marker
            time.sleep(0.05)
        with self.lock:
            tail = [m for _, m, _ in self.seen[-10:]]
        raise AssertionError(f"timed out waiting for {what}; last markers {tail}")


# ---------------------------------------------------------------- the benchmark
ROOT = Path(__file__).resolve().parent.parent
CLK = os.sysconf("SC_CLK_TCK")
# --smoke: every part once at tiny size, about 30 s (tests/bench/test_bench_smoke.py)
SMOKE = {"subscribers": 3, "steps": "3", "search_budget_s": 20.0, "viewer_procs": 1, "settle_s": 1.0,
         "window_s": 2.0, "latency_s": 2.0, "profile_s": 1.0,
         "rollcall_participants": 2, "rollcall_idle_s": 2.0, "rollcall_settle_s": 1.0,
         "playback_viewers": 3, "playback_window_s": 1.0, "playback_seconds": 8.0}


def ensure_netns(argv: list[str]) -> None:
    """Re-run under scripts/in-netns.sh unless already inside such a namespace."""
    if os.environ.get("IN_NETNS"):
        return
    if os.environ.get("BENCH_CONFERENCE_REEXEC"):
        print("error: could not enter a private network namespace (scripts/in-netns.sh needs root and "
              "`ip netns`); WebRTC traffic must stay inside one, so the benchmark does not run", file=sys.stderr)
        raise SystemExit(2)
    script = ROOT / "scripts" / "in-netns.sh"
    env = {**os.environ, "BENCH_CONFERENCE_REEXEC": "1"}
    sys.stdout.flush()
    os.chdir(ROOT)
    os.execve(str(script), [str(script), sys.executable, "-m", "bench.conference", *argv], env)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def _room_process(conn, bitrate: int, name: str = "bench", cores: set[int] | None = None) -> None:
    """The room under test, alone in its process; driven over a pipe. For
    ``("relay_over_webrtc", as_source_id)`` the room's subscribe callable asks the
    driver for the parent's answer over the same pipe (the driver forwards the
    offer to the parent room's process), as a network call to another node would."""
    if cores:
        os.sched_setaffinity(0, cores)    # before any thread: the whole process
    from streaming.conference import AiortcRoom, RoomConfig
    from streaming.rtc import SignallingError

    def ask_parent(offer_sdp: str) -> str:   # in the room's executor thread
        conn.send(("subscribe_request", offer_sdp))
        status, value = conn.recv()
        if status != "ok":
            raise SignallingError(value, "the parent refused the relay")
        return value

    room = AiortcRoom(name, RoomConfig(ice_servers=[], bitrate=bitrate, max_subscriptions=1000)).start()
    try:
        while True:
            op, *args = conn.recv()
            if op == "stop":
                break
            try:
                if op == "relay_over_webrtc":
                    conn.send(("ok", room.relay_over_webrtc(ask_parent, *args)))
                else:
                    conn.send(("ok", getattr(room, op)(*args)))
            except SignallingError as exc:
                conn.send(("error", exc.code))
    finally:
        room.shutdown()
        conn.send(("ok", None))


class _Rig:
    def __init__(self, ctx, bitrate, name: str = "bench", cores: set[int] | None = None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_room_process, args=(child, bitrate, name, cores), daemon=True)
        self.proc.start()

    def call(self, *msg, on_request: Callable[[str], str] | None = None):
        self.conn.send(msg)
        while True:
            status, value = self.conn.recv()
            if status != "subscribe_request":
                break
            try:
                self.conn.send(("ok", on_request(value)))
            except RuntimeError as exc:
                self.conn.send(("error", str(exc).rsplit(": ", 1)[-1]))
        if status != "ok":
            raise RuntimeError(f"room refused {msg[0]}: {value}")
        return value

    def relay(self, parent: _Rig, parent_source_id: str, as_source_id: str, child_name: str) -> str:
        """This room relays ``parent``'s source over WebRTC (the offer goes through the driver)."""
        key = f"relay:{child_name}:{as_source_id}"
        return self.call("relay_over_webrtc", as_source_id,
                         on_request=lambda offer: parent.call("subscribe", key, parent_source_id, offer))

    def stop_room(self) -> None:
        self.conn.send(("stop",))
        self.conn.recv()
        self.proc.join(10)

LEVELS = ("province", "city", "township")


def _latencies(viewer: Viewer) -> list[int]:
    """Arrival time - drawn time (ms) of the frames a viewer decoded, after the first few."""
    with viewer.lock:
        samples = [((int(at * 1000) & 0xFFFFFFFF) - marker) & 0xFFFFFFFF for at, marker in viewer.markers[5:]]
    return [s for s in samples if s < 10_000]  # a misread marker would be wild


def _hop_figures(viewers: list[Viewer], suffix: str) -> dict:
    samples = [_latencies(v) for v in viewers]
    medians = [statistics.median(s) for s in samples]
    out = {f"latency_ms_{level}{suffix}": m for level, m in zip(LEVELS, medians)}
    out[f"latency_ms_township_p90{suffix}"] = statistics.quantiles(samples[2], n=10)[-1]
    out[f"hop_latency{suffix}_ms"] = round((medians[2] - medians[0]) / 2, 2)
    return out


def _marker_publisher(client: ClientLoop):
    from tests.rtc_peers import Publisher, photo_frames
    return Publisher(client, MarkerTrack(photo_frames(320, 240, count=8), fps=15, value=lambda n: now_ms()))


def hop_latency_inprocess(args) -> dict:
    from streaming.conference import AiortcRoom, RoomConfig

    client = ClientLoop()
    rooms = [AiortcRoom(name, RoomConfig(ice_servers=[], bitrate=args.bitrate)).start() for name in LEVELS]
    try:
        province, city, township = rooms
        publisher = _marker_publisher(client)
        publisher.accept(province.publish("host", publisher.offer()))
        publisher.wait_connected()
        city.relay_from(province, "host", "host")
        township.relay_from(city, "host", "host")
        viewers = [view(room, "viewer", "host", client, read_markers=True) for room in rooms]
        for viewer in viewers:
            viewer.wait_frames(10, timeout=20)
        time.sleep(args.latency_s)
        out = _hop_figures(viewers, "_inprocess")
        for viewer in viewers:
            viewer.close()
        publisher.close()
    finally:
        for room in reversed(rooms):
            room.shutdown()
        client.stop()
    return out


def hop_latency_webrtc(args, cores: set[int] | None = None) -> dict:
    """Three rooms in three processes, chained by WebRTC relays; the publisher and one
    viewer per level in this process. Also the CPU of the relaying rooms (decode +
    encode of one stream, plus their two peer connections)."""
    ctx = mp.get_context("spawn")
    rigs = [_Rig(ctx, args.bitrate, name, cores) for name in LEVELS]
    client = ClientLoop()
    out: dict = {}
    try:
        province, city, township = rigs
        publisher = _marker_publisher(client)
        publisher.accept(province.call("publish", "host", publisher.offer()))
        publisher.wait_connected()
        city.relay(province, "host", "host", "city")
        township.relay(city, "host", "host", "township")
        viewers = []
        for rig in rigs:
            viewer = Viewer(client, read_markers=True)
            viewer.accept(rig.call("subscribe", "viewer", "host", viewer.offer()))
            viewers.append(viewer)
        for viewer in viewers:
            viewer.wait_frames(10, timeout=20)
        cpu0, t0 = [proc_cpu(r.proc.pid) for r in rigs], time.monotonic()
        time.sleep(args.latency_s)
        cpu1, t1 = [proc_cpu(r.proc.pid) for r in rigs], time.monotonic()
        out.update(_hop_figures(viewers, ""))
        for level, a, b in zip(LEVELS, cpu0, cpu1):
            out[f"room_cpu_s_per_s_{level}"] = round((b - a) / (t1 - t0), 4)
        stats = [rig.call("stats") for rig in rigs]
        out["relay_encoders"] = [s["encoders"] for s in stats]
        out["viewer_fps_township"] = round(len(_latencies(viewers[2])) / args.latency_s, 1)
        out["hop_kind"] = ("WebRTC relay (each room its own process; a peer connection per hop over the "
                           "namespace network; decode + VP8 encode per hop)")
        for viewer in viewers:
            viewer.close()
        publisher.close()
    finally:
        for rig in reversed(rigs):
            rig.stop_room()
        client.stop()
    return out


def _playback_process(conn, backend: str, janus: tuple | None, course: str, max_width: int, bitrate: int,
                      cores: set[int] | None) -> None:
    """The portal's media side of a conference playing a course: three rooms (city, county relaying
    the city, township relaying the county) and the FilePlayback, alone in this process (its CPU is
    the playback's: decode, scale, one encode; aiortc rooms also packetize and send per viewer, a
    Janus room only feeds Janus). Driven over a pipe: ("subscribe_offer"|"subscribe_answer", level,
    args...), ("clock",) -> (CLOCK_MONOTONIC, position), ("stop",)."""
    if cores:
        os.sched_setaffinity(0, cores)
    from streaming.conference import AiortcRoom, FilePlayback, JanusEndpoint, JanusRoom, RoomConfig
    from streaming.rtc import SignallingError

    config = RoomConfig(ice_servers=[], bitrate=bitrate, max_subscriptions=1000, max_subscriptions_per_participant=2)
    if backend == "janus":
        endpoint = JanusEndpoint(*janus)
        rooms = [JanusRoom(level, config, janus=endpoint).start() for level in PLAYBACK_LEVELS]
    else:
        rooms = [AiortcRoom(level, config).start() for level in PLAYBACK_LEVELS]
    playback = FilePlayback(course, max_width=max_width)
    try:
        rooms[0].publish_playback("course", playback)
        rooms[1].relay_from(rooms[0], "course", "course")
        rooms[2].relay_from(rooms[1], "course", "course")
        conn.send(("ok", {"size": f"{playback.size[0]}x{playback.size[1]}", "fps": playback.fps}))
        while True:
            op, *args = conn.recv()
            if op == "stop":
                break
            try:
                if op == "clock":
                    with playback._cond:     # one reading of both clocks
                        conn.send(("ok", (time.monotonic(), playback._position_locked())))
                    continue
                level, *rest = args
                conn.send(("ok", getattr(rooms[level], op)(*rest)))
            except SignallingError as exc:
                conn.send(("error", exc.code))
    finally:
        for room in reversed(rooms):
            room.shutdown()
        playback.close()
        conn.send(("ok", None))


PLAYBACK_LEVELS = ("city", "county", "township")


def media_playback(args, backend: str, work: Path, cores: set[int] | None, janus=None) -> dict:
    """``media_playback_cpu_s_per_s``: CPU per second of the process that plays one course into a
    conference (three rooms chained by relays, see _playback_process) with one viewer (in the
    township), then with ``--playback-viewers`` (spread over the three rooms): encode once, so the
    second figure stays near the first (aiortc adds a packetize/SRTP path per viewer; on Janus the
    viewers cost Janus, reported apart). ``playback_latency_ms_township``: from the moment the
    playback's clock reaches a frame's media time (when it is due to be sent) to the moment the
    township viewer has decoded it: median and p90 over the windows."""
    from content.marker_video import build

    course = str(build(work / "playback-course.mp4", args.playback_seconds, 640, 360, 15))
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    endpoint = (janus.url, janus.api_secret, janus.admin_key) if janus is not None else None
    proc = ctx.Process(target=_playback_process, daemon=True,
                       args=(child, backend, endpoint, course, args.playback_width, args.bitrate, cores))
    proc.start()

    def call(*msg):
        conn.send(msg)
        status, value = conn.recv()
        if status != "ok":
            raise RuntimeError(f"playback rooms refused {msg[0]}: {value}")
        return value

    client = ClientLoop()
    viewers: list[Viewer] = []
    out: dict = {}

    def watch(level: int, participant: str, viewer: Viewer) -> Viewer:
        offer = call("subscribe_offer", level, participant, "course", viewer.audio)
        call("subscribe_answer", level, participant, "course", viewer.answer(offer))
        viewers.append(viewer)
        return viewer

    def cpu_window() -> tuple[float, float | None]:
        janus_pid = janus.proc.pid if janus is not None else None
        c0, j0, t0 = proc_cpu(proc.pid), proc_cpu(janus_pid) if janus_pid else 0.0, time.monotonic()
        time.sleep(args.playback_window_s)
        c1, j1, t1 = proc_cpu(proc.pid), proc_cpu(janus_pid) if janus_pid else 0.0, time.monotonic()
        return (c1 - c0) / (t1 - t0), ((j1 - j0) / (t1 - t0) if janus_pid else None)
    try:
        status, info = conn.recv()
        if status != "ok":
            raise RuntimeError(f"the playback rooms did not start: {info}")
        township = watch(2, "villager", CourseViewer(client, audio=True))
        township.wait_frames(10, timeout=30)
        time.sleep(args.settle_s)
        one, janus_one = cpu_window()
        for i in range(args.playback_viewers - 1):
            watch(i % 3, f"viewer{i}", Viewer(client, audio=True)).wait_frames(3, timeout=30)
        time.sleep(args.settle_s)
        many, janus_many = cpu_window()
        mono, position = call("clock")
        # frame with marker m was due at mono - (position - m) (no pause or seek in this run)
        samples = sorted((at - (mono - (position - m))) * 1000 for at, m, _ in township.since(0)[5:] if m is not None)
        samples = [s for s in samples if -100 < s < 10_000]
        n = args.playback_viewers
        out["media_playback_cpu_s_per_s"] = round(one, 4)
        out[f"media_playback_cpu_s_per_s_{n}_viewers"] = round(many, 4)
        out[f"media_playback_cpu_ratio_{n}_vs_1"] = round(many / one, 3) if one else "nan"
        if janus_one is not None:
            out["media_playback_janus_cpu_s_per_s"] = round(janus_one, 4)
            out[f"media_playback_janus_cpu_s_per_s_{n}_viewers"] = round(janus_many, 4)
        out["playback_latency_ms_township"] = round(statistics.median(samples), 1)
        out["playback_latency_ms_township_p90"] = round(statistics.quantiles(samples, n=10)[-1], 1)
        out["playback_viewer_fps_township"] = round(len(samples) / (time.monotonic() - township.seen[0][0]), 1)
        seen = township.since(0)
        out["playback_unread_markers_township"] = f"{sum(1 for _, m, _ in seen if m is None)} of {len(seen)} frames"
        out["playback_conditions"] = (
            f"course {args.playback_seconds:g} s 640x360 15 fps H.264+AAC, played at {info['size']} {info['fps']:g} fps, "
            f"VP8 {args.bitrate // 1000} kbit/s + Opus, backend {backend}, rooms city->county->township "
            f"({'in-process relays' if backend == 'aiortc' else 'Janus relay_from'}), viewers 1 (township) then {n} "
            f"(all with audio, spread over the rooms, in the bench process), windows {args.playback_window_s:g} s, "
            f"playback process pinned to {sorted(cores) if cores else 'no cores'}, loadavg {_loadavg()}")
    finally:
        for viewer in viewers:
            viewer.close()
        try:
            conn.send(("stop",))
            conn.recv()
        except (OSError, EOFError):
            pass
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        client.stop()
    return out


def _loadavg() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def run_backend(backend: str, args, ctx, cores, work: Path, emit) -> None:
    """Every part of the bench for one media backend; `emit(key, value)` prints a figure."""
    from bench.conference_load import (AiortcSide, JanusSide, figures, janus_hop_latency, pin_self, search,
                                       start_janus)
    from bench.profiling import native_profile, python_profile

    server_cores, load_cores = cores
    emit("resolution", f"{args.width}x{args.height}")
    emit("fps", f"{args.fps:g} (conference.js asks for 6, at most 10)")
    emit("pinning", f"server cores {sorted(server_cores)}, load generators cores {sorted(load_cores)}")
    janus = None

    def profile(n, r, one):
        """Where a goal is missed: the fan-out ratio at n = --subscribers, or a step that broke."""
        ratio = r["server_cores"] / one["server_cores"] if one["server_cores"] else float("inf")
        if r["ok"] and not (n == args.subscribers and ratio >= 2):
            return
        why = "step broke" if not r["ok"] else f"fanout ratio {ratio:.1f} >= 2"
        lines = native_profile(side.pid, args.profile_s) if side.native else python_profile(side.pid, args.profile_s)
        emit(f"profile_n{n}", f"server process {side.pid} ({backend}), {why}, under the step's load:")
        for i, line in enumerate(lines):
            emit(f"profile_n{n}_{i}", line)
    try:
        if backend == "aiortc":
            for key, value in hop_latency_webrtc(args, server_cores).items():
                emit(key, value)
            for key, value in hop_latency_inprocess(args).items():
                emit(key, value)
            for key, value in media_playback(args, backend, work, server_cores).items():
                emit(key, value)
            side = AiortcSide(ctx, args, server_cores)
        else:
            janus = start_janus(work / "janus", server_cores, args.nice)
            emit("janus_pid_cores", f"{janus.proc.pid} {sorted(os.sched_getaffinity(janus.proc.pid))}")
            for key, value in janus_hop_latency(janus, args).items():
                emit(key, value)
            for key, value in media_playback(args, backend, work, server_cores, janus).items():
                emit(key, value)
            side = JanusSide(args, server_cores, work, server=janus)
        try:
            found = search(side, ctx, args, cores, log=lambda line: emit(*line.split("=", 1)), profile=profile)
        finally:
            side.stop()
        for key, value in figures(found, args, backend).items():
            emit(key, value)
    finally:
        if janus is not None:
            janus.stop()
    if not args.skip_rollcall:
        from bench.conference_rollcall import rollcall
        pin_self(server_cores | load_cores)     # the roll call is measured unpinned (all cores), as before
        emit("rollcall_pinning", "none (server, identity worker and senders share the machine)")
        result = rollcall(args.rollcall_participants, args.rollcall_fps, idle_window_s=args.rollcall_idle_s,
                          settle_s=args.rollcall_settle_s, backend=backend, work=work)
        for key, value in result.items():
            emit(key, value)
        if result["rollcall_sources_ended"] and args.rollcall_participants > 50:
            # Publishers dropped (the room's loop saturates; see conference_rollcall's docstring):
            # the figure above is not a full roll call, so measure the size that holds here too.
            for key, value in rollcall(50, args.rollcall_fps, idle_window_s=args.rollcall_idle_s,
                                       settle_s=args.rollcall_settle_s, backend=backend, work=work).items():
                emit(f"{key}_n50", value)
        pin_self(load_cores)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description="conference media benchmark")
    parser.add_argument("--backend", choices=("aiortc", "janus", "both"), default="aiortc",
                        help="the conference media backend; both: each in turn, keys suffixed _aiortc/_janus")
    parser.add_argument("--subscribers", type=int, default=100, help="the fan-out ratio's size (vs 1)")
    parser.add_argument("--steps", default="50,150,200,300,400,500,600",
                        help="viewer counts of the participants-per-core search (1 and --subscribers added)")
    parser.add_argument("--search-budget-s", type=float, default=170.0, help="time for the search's steps")
    parser.add_argument("--viewer-procs", type=int, default=4)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=float, default=6.0, help="conference.js asks the camera for 6 (max 10)")
    parser.add_argument("--bitrate", type=int, default=200_000)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument("--window-s", type=float, default=8.0)
    parser.add_argument("--latency-s", type=float, default=8.0)
    parser.add_argument("--profile-s", type=float, default=5.0, help="profile of the server where a goal is missed")
    parser.add_argument("--rollcall-participants", type=int, default=100)
    parser.add_argument("--rollcall-fps", type=float, default=5.0)
    parser.add_argument("--rollcall-idle-s", type=float, default=10.0,
                        help="window measuring the connected room before the roll call")
    parser.add_argument("--rollcall-settle-s", type=float, default=5.0,
                        help="after the host's viewers joined, before that window")
    parser.add_argument("--skip-rollcall", action="store_true")
    parser.add_argument("--playback-viewers", type=int, default=12,
                        help="viewers of the played course in the second CPU window (the first has 1)")
    parser.add_argument("--playback-width", type=int, default=640, help="the played course's width (640x360 file)")
    parser.add_argument("--playback-window-s", type=float, default=8.0)
    parser.add_argument("--playback-seconds", type=float, default=60.0, help="length of the built course")
    parser.add_argument("--nice", type=int, default=0,
                        help="scheduling priority of the server and the load generators (negative needs root): on a "
                             "machine shared with other jobs, -10 keeps them their cores")
    args = parse_args(parser, argv, SMOKE)
    ensure_netns(argv)
    from bench.conference_load import loadavg, pin_self, split_cores

    print("bench=conference")
    if args.smoke:
        print("smoke=1")
    print(f"network=private namespace {os.environ['IN_NETNS']} (scripts/in-netns.sh)")
    print(f"machine_cpus={os.cpu_count()}")
    print(f"loadavg={loadavg()} (start)", flush=True)
    cores = split_cores()
    pin_self(cores[1], args.nice)     # this process (publisher, signalling) is a load generator
    print(f"nice={args.nice}")
    backends = ["aiortc", "janus"] if args.backend == "both" else [args.backend]
    began = time.monotonic()
    seen: dict = {}
    import tempfile
    with tempfile.TemporaryDirectory(prefix="bench-conference-") as tmp:
        for backend in backends:
            def emit(key, value, backend=backend):
                key = f"{key}_{backend}" if args.backend == "both" else key
                seen[key] = value
                print(f"{key}={value}", flush=True)
            emit("backend", backend)
            run_backend(backend, args, mp.get_context("spawn"), cores, Path(tmp) / backend, emit)
    if args.backend == "both":
        for key in ("hop_latency_ms", f"fanout_cost_ratio_{args.subscribers}_vs_1", "rollcall_cpu_pct",
                    "conference_participants_per_core"):
            try:
                a, j = (float(str(seen[f"{key}_{b}"]).split()[0]) for b in backends)
                print(f"{key}_ratio_janus_vs_aiortc={j / a:.3f}" if a else f"{key}_ratio_janus_vs_aiortc=nan")
            except (KeyError, ValueError):
                pass
    print(f"loadavg={loadavg()} (end)")
    print(f"bench_seconds={time.monotonic() - began:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
