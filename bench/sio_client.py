"""A lean Socket.IO (Engine.IO 4 over WebSocket) load generator for heartbeats.

Run by bench.media in its own process: reads a JSON job on stdin
({"url", "ua", "learners": [[session_id, cookie], ...], "seconds", "rate", "seq_base", "raw"})
and prints a JSON summary. One asyncio loop drives every learner's connection with
hand-written WebSocket framing, so the client costs little CPU next to the server. An https://
url connects over TLS (the production mode through nginx; the certificate is not checked: the
bench's stack has a self-signed one).
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import struct
import sys
import time
from urllib.parse import urlsplit

_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """One client context for every connection, no certificate check and so no CA store
    (ssl.create_default_context() per connection loads the system's CAs: ~40 ms of CPU each)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _TLS.check_hostname = False
        _TLS.verify_mode = ssl.CERT_NONE
    return _TLS


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, url: str, headers: dict[str, str]) -> WebSocket:
        parts = urlsplit(url)
        tls = _tls_context() if parts.scheme in ("https", "wss") else None
        port = parts.port or (443 if tls else 80)
        reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=tls)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status = await reader.readline()
        if b" 101 " not in status:
            raise ConnectionError(f"websocket upgrade refused: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    async def recv(self) -> str:
        while True:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            data = await self.reader.readexactly(n)
            opcode = b0 & 0x0F
            if opcode == 0x1:
                return data.decode()
            if opcode == 0x8:
                raise ConnectionError("closed by server")
            # ping/pong/binary frames are not used by this server: ignore


async def learner(url: str, ua: str, session_id: str, cookie: str, stop_at: float, interval: float,
                  seq_base: int, stats: dict) -> None:
    ws = await WebSocket.connect(url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket",
                                 {"Cookie": cookie, "User-Agent": ua})
    await ws.recv()                      # 0{...} engine.io open
    ws.send("40")
    answer = await ws.recv()             # 40{...} namespace connected
    if not answer.startswith("40"):
        raise ConnectionError(f"namespace refused: {answer[:200]}")
    start = time.monotonic()
    stats["first_send"] = min(stats.get("first_send", start), start)
    seq, ack = seq_base, 0
    next_at = time.monotonic()
    while time.monotonic() < stop_at:
        if interval:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += interval
        seq += 1
        ack += 1
        body = {"session_id": session_id, "seq": seq, "position": int(time.monotonic() - start), "playing": True,
                "rate": 1.0}
        sent = time.perf_counter()
        ws.send(f"42{ack}" + json.dumps(["heartbeat", body]))
        while True:
            message = await ws.recv()
            if message == "2":           # engine.io ping
                ws.send("3")
                continue
            if message.startswith(f"43{ack}"):
                break
        stats["latencies"].append(time.perf_counter() - sent)
        reply = json.loads(message[len(f"43{ack}"):])[0]
        stats["answered"] += 1
        stats["accepted"] += reply.get("status") == 200
        if reply.get("status") != 200 and len(stats["errors"]) < 3:
            stats["errors"].append(reply)
    ws.writer.close()


async def main_async(job: dict) -> dict:
    stats = {"latencies": [], "answered": 0, "accepted": 0, "errors": []}
    n = len(job["learners"])
    interval = n / job["rate"] if job.get("rate") else 0.0
    stop_at = time.monotonic() + job["seconds"] + 2.0
    started = time.monotonic()
    tasks = [learner(job["url"], job["ua"], sid, cookie, stop_at, interval, job["seq_base"], stats)
             for sid, cookie in job["learners"]]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.monotonic() - stats.get("first_send", started)
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    lat = sorted(stats["latencies"])

    def pct(p):
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    summary = {"answered": stats["answered"], "accepted": stats["accepted"], "seconds": elapsed,
               "p50_ms": pct(0.50), "p99_ms": pct(0.99), "connection_failures": failures[:3],
               "n_failures": len(failures), "errors": stats["errors"]}
    if job.get("raw"):   # every latency (ms), for a caller merging several client processes
        summary["latencies_ms"] = [round(1000 * v, 3) for v in lat]
    return summary


def main() -> None:
    job = json.load(sys.stdin)
    print(json.dumps(asyncio.run(main_async(job))))


if __name__ == "__main__":
    main()
