"""Short profiles of a benchmark's server process, printed where a goal is missed.

* Python processes: ``py-spy record`` (requirements-dev.txt; optional) for a few seconds, its raw
  collapsed stacks summed into the top functions by own samples, with their cumulative share;
  without py-spy, the CPU of the process's threads by name.
* Native processes (Janus): ``perf record`` (Debian's linux-perf) summed by library and symbol;
  without perf, the CPU of its threads by name (Janus names its threads: ``hloop``, ``janus``...).

Each returns a list of short lines; callers print them as ``profile_<tag>=...`` keys.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")


def _py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (digits folded: hloop 123 -> hloop #) of a process."""
    out: Counter = Counter()
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                name = (task / "comm").read_text().strip()
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                name = "".join("#" if c.isdigit() else c for c in name)
                while "##" in name:
                    name = name.replace("##", "#")
                out[name] += (int(fields[11]) + int(fields[12])) / CLK
    return dict(out)


def thread_profile(pid: int, seconds: float) -> list[str]:
    """The process's CPU over `seconds`, by thread name, in cores."""
    before = thread_cpu(pid)
    time.sleep(seconds)
    after = thread_cpu(pid)
    deltas = {k: (v - before.get(k, 0.0)) / seconds for k, v in after.items()}
    total = sum(deltas.values()) or 1e-9
    top = sorted(deltas.items(), key=lambda kv: -kv[1])[:8]
    return [f"threads {total:.2f} cores: " + " ".join(f"{k!r}:{v:.3f}({v / total:.0%})" for k, v in top if v > 0)]


def python_profile(pid: int, seconds: float = 5.0, top: int = 10) -> list[str]:
    """Top functions of a Python process by own samples (py-spy), with cumulative shares."""
    spy = _py_spy()
    if spy is None:
        return ["py-spy not installed (requirements-dev.txt): by thread instead"] + thread_profile(pid, seconds)
    with tempfile.TemporaryDirectory(prefix="bench-pyspy-") as tmp:
        out = Path(tmp) / "stacks.txt"
        cmd = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "100",
               "--format", "raw", "--output", str(out), "--nonblocking"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
        if run.returncode != 0 or not out.exists():
            return [f"py-spy failed ({run.returncode}): {run.stderr.strip()[-200:]}"] + thread_profile(pid, seconds)
        own: Counter = Counter()
        cumulative: Counter = Counter()
        total = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_short(f) for f in stack.split(";")[1:]]   # the first is the thread
            if not frames:
                continue
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                cumulative[frame] += n
    if not total:
        return ["py-spy: no samples (the process was idle)"]
    lines = [f"py-spy {total} samples over {seconds:g} s (100/s, all threads; own% cum%):"]
    for frame, n in own.most_common(top):
        lines.append(f"{n / total:.0%} {cumulative[frame] / total:.0%} {frame}")
    return lines


def _short(frame: str) -> str:
    """'recv (aiortc/rtcrtpreceiver.py:312)' -> 'recv (aiortc/rtcrtpreceiver.py)' with the
    path cut after site-packages or the repository."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def native_profile(pid: int, seconds: float = 5.0, top: int = 10) -> list[str]:
    """Top symbols of a native process (perf), else its threads."""
    perf = shutil.which("perf")
    lines = thread_profile(pid, min(seconds, 3.0))
    if perf is None:
        return lines + ["perf not installed (Debian linux-perf)"]
    with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmp:
        data = Path(tmp) / "perf.data"
        rec = subprocess.run([perf, "record", "-F", "499", "-p", str(pid), "-o", str(data), "--", "sleep",
                              str(seconds)], capture_output=True, text=True, timeout=seconds + 30)
        if rec.returncode != 0 or not data.exists():
            return lines + [f"perf record failed: {rec.stderr.strip()[-200:]}"]
        rep = subprocess.run([perf, "report", "-i", str(data), "--stdio", "--sort", "dso,symbol",
                              "--percent-limit", "1"], capture_output=True, text=True, timeout=60)
    rows = [" ".join(r.split()[:4]) for r in rep.stdout.splitlines() if r.strip() and not r.startswith("#")]
    return lines + [f"perf {seconds:g} s, by library and symbol:"] + rows[:top]
