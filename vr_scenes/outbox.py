"""The station's on-disk outbox: nothing a learner did is lost because the portal was unreachable.

Every finished session is written here *before* it is posted, as one JSON file per session
(``<client_session_id>.json``), atomically: written to a temporary file in the same folder, fsynced,
renamed over the final name, and the folder fsynced. A crash leaves either the whole file or none
(stray temporary files are ignored and cleaned up).

``deliver(post)`` offers every queued file to ``post(payload) -> (status, body)``:

* 200 / 201: the portal has it; the file is deleted (only now);
* 409 / 429, 5xx, or no answer at all (``post`` raised ``OSError``/``requests`` errors): kept, retried
  later with exponential backoff (``Backoff``);
* any other 4xx: the portal will never take it as it is; the file moves to ``rejected/`` together
  with the portal's error (``<id>.error.json``), for a person to look at. Never retried forever,
  never deleted silently. A file that is not readable JSON moves there too.

Re-posting is safe: the portal is idempotent by ``client_session_id`` (a repeat answers 200 with the
same body), so a post whose answer was lost is simply posted again.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PostFn = Callable[[dict], "tuple[int, Any]"]

DELIVERED = (200, 201)
RETRY_4XX = (409, 429)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:          # platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str, data: Any) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)     # client_session_ids the portal confirmed
    rejected: list[str] = field(default_factory=list)      # moved to rejected/
    kept: list[str] = field(default_factory=list)          # still queued (portal away, 5xx, 409, 429)
    answers: dict[str, Any] = field(default_factory=dict)  # id -> the portal's body for delivered ones
    errors: dict[str, str] = field(default_factory=dict)   # id -> why it was kept or rejected

    @property
    def all_delivered(self) -> bool:
        return not self.kept and not self.rejected


class Outbox:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.rejected_dir = os.path.join(self.root, "rejected")
        os.makedirs(self.rejected_dir, exist_ok=True)
        self._lock = threading.Lock()      # one delivery at a time within the process...
        self._lock_path = os.path.join(self.root, ".deliver.lock")   # ...and across processes (flock)
        self._clean_temporaries()

    def _clean_temporaries(self) -> None:
        """Temporary files are what a crash during ``put`` leaves: never a whole session (the
        session is only queued once its file is renamed into place), so they can go."""
        for name in os.listdir(self.root):
            if name.startswith(".tmp-"):
                try:
                    os.unlink(os.path.join(self.root, name))
                except FileNotFoundError:
                    pass

    def path_for(self, client_session_id: str) -> str:
        if not client_session_id or not all(c.isalnum() or c in "-_" for c in client_session_id):
            raise ValueError(f"bad client_session_id {client_session_id!r}")
        return os.path.join(self.root, f"{client_session_id}.json")

    def put(self, payload: dict) -> str:
        """Queue one finished session (durably, before any post). Returns its file."""
        path = self.path_for(payload["client_session_id"])
        atomic_write_json(path, payload)
        return path

    def pending(self) -> list[str]:
        """Queued files, oldest first."""
        found = []
        for name in os.listdir(self.root):
            if name.endswith(".json") and not name.startswith("."):
                path = os.path.join(self.root, name)
                try:
                    found.append((os.path.getmtime(path), path))
                except FileNotFoundError:      # delivered meanwhile by another thread or process
                    pass
        return [path for _, path in sorted(found)]

    def rejected(self) -> list[str]:
        return sorted(os.path.join(self.rejected_dir, n) for n in os.listdir(self.rejected_dir)
                      if n.endswith(".json") and not n.endswith(".error.json"))

    def _reject(self, path: str, error: dict) -> None:
        name = os.path.basename(path)
        stem = name[:-len(".json")]
        atomic_write_json(os.path.join(self.rejected_dir, f"{stem}.error.json"),
                          {**error, "rejected_at": time.time()})
        os.replace(path, os.path.join(self.rejected_dir, name))
        _fsync_dir(self.rejected_dir)
        _fsync_dir(self.root)

    @contextlib.contextmanager
    def _process_lock(self):
        """A station running sessions and a ``--flush`` by hand do not post the same file at once."""
        try:
            import fcntl
        except ImportError:          # not POSIX: the portal's idempotency still makes it safe
            yield
            return
        with open(self._lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def deliver(self, post: PostFn) -> DeliveryReport:
        """Offer every queued session to the portal once (see the module docstring)."""
        report = DeliveryReport()
        with self._lock, self._process_lock():
            for path in self.pending():
                sid = os.path.basename(path)[:-len(".json")]
                try:
                    with open(path, encoding="utf-8") as fh:
                        payload = json.load(fh)
                    if not isinstance(payload, dict):
                        raise ValueError("not a JSON object")  # noqa: TRY004 (caught just below)
                except FileNotFoundError:
                    continue
                except ValueError as exc:       # JSONDecodeError is a ValueError
                    self._reject(path, {"status": None, "error": "unreadable", "message": str(exc)})
                    report.rejected.append(sid)
                    report.errors[sid] = f"unreadable: {exc}"
                    continue
                try:
                    status, body = post(payload)
                except Exception as exc:  # noqa: BLE001 (no answer at all: keep it, try later)
                    report.kept.append(sid)
                    report.errors[sid] = f"{type(exc).__name__}: {exc}"
                    continue
                if status in DELIVERED:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    _fsync_dir(self.root)
                    report.delivered.append(sid)
                    report.answers[sid] = body
                elif 400 <= status < 500 and status not in RETRY_4XX:
                    error = body if isinstance(body, dict) else {"body": str(body)[:2000]}
                    self._reject(path, {"status": status, **error})
                    report.rejected.append(sid)
                    report.errors[sid] = f"HTTP {status}: {error.get('error', '')}"
                else:
                    report.kept.append(sid)
                    report.errors[sid] = f"HTTP {status}"
        return report


class Backoff:
    """Exponential backoff with jitter between delivery attempts: ``base_s``, doubling up to ``max_s``;
    ``reset()`` after a success."""

    def __init__(self, base_s: float = 5.0, max_s: float = 600.0, jitter: float = 0.2,
                 rng: random.Random | None = None):
        if base_s <= 0 or max_s < base_s:
            raise ValueError("need 0 < base_s <= max_s")
        self.base_s, self.max_s, self.jitter = base_s, max_s, jitter
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = min(self.max_s, self.base_s * (2 ** self.failures))
        self.failures += 1
        return delay * (1.0 + self._rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.failures = 0


class OutboxSender:
    """Delivers the outbox in a background thread: after ``next_delay_s`` (0 unless ``attempt()`` ran
    first), then again whenever something is still queued, after a backoff delay (``Backoff``), and at
    least every ``idle_s`` to pick up files left by earlier runs. ``kick()`` asks for an attempt now."""

    def __init__(self, outbox: Outbox, post: PostFn, backoff: Backoff | None = None, idle_s: float = 60.0,
                 on_report: Callable[[DeliveryReport], None] | None = None):
        self.outbox, self.post = outbox, post
        self.backoff = backoff or Backoff()
        self.idle_s = idle_s
        self.on_report = on_report
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_report: DeliveryReport | None = None
        self.next_delay_s = 0.0     # before the thread's first attempt (``attempt()`` sets it)

    def attempt(self) -> tuple[DeliveryReport, float]:
        """One delivery attempt; returns the report and the delay before the next one."""
        report = self.outbox.deliver(self.post)
        self.last_report = report
        if self.on_report:
            self.on_report(report)
        if report.kept:
            self.next_delay_s = self.backoff.next_delay()
        else:
            self.backoff.reset()
            self.next_delay_s = self.idle_s
        return report, self.next_delay_s

    def _run(self) -> None:
        while True:
            self._wake.wait(self.next_delay_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.attempt()
            except Exception:  # noqa: BLE001 (a full disk, a bad folder: keep the thread alive, back off)
                self.next_delay_s = self.backoff.next_delay()

    def start(self) -> OutboxSender:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vr-outbox", daemon=True)
            self._thread.start()
        return self

    def kick(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
