"""A smoke run of every benchmark: a bench that cannot run fails the suite.

Every module of bench/ is a bench (`python -m bench.NAME`) unless HELPERS names it, so a new
bench is run here without anyone adding it. Each runs with `--smoke` (the same code paths at tiny
sizes, bench/README.md) in a subprocess with a time limit; it must exit 0, print `smoke=1` and its
key=value lines, and the keys listed in EXPECTED with sane values (numbers that parse; rates,
times and CPU figures above zero). A bench with no EXPECTED entry must still print at least one
numeric key. Whatever a bench started must be gone when it ends (an orphaned worker would hold
CPU and memory, and the pipes of whoever ran it).

The WebRTC benches need the private network namespace the suite runs in (scripts/in-netns.sh);
bench.media needs nginx and wrk (scripts/install-system-deps.sh --test installs both).
"""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 300     # each; a smoke run takes 5-50 s on the 2-core CI machine

# Modules of bench/ that are not benches themselves.
HELPERS = {
    "__init__": "the package: bench.parse_args (--smoke)",
    "sio_client": "bench.media's Socket.IO load generator (a JSON job on stdin)",
    "proctoring_procs": "the server and client processes of bench.proctoring",
    "conference_rollcall": "the roll-call part of bench.conference",
    "conference_load": "bench.conference's fan-out and participants-per-core parts (both backends)",
    "profiling": "py-spy/perf profiles of a bench's server process",
    "officer_check": "bench.officer's (and the compliance tests') figures from the raw rows",
    "proctoring_policy": "bench.proctoring's camera-rate policy clients and core pinning",
}


def bench_names() -> list[str]:
    return sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem not in HELPERS)


def _number(value: str) -> float:
    """The figure at the start of a value (some lines add words after it)."""
    number = float(value.split()[0])
    assert math.isfinite(number), value
    return number


def number(value: str) -> bool:
    return _number(value) is not None


def positive(value: str) -> bool:
    return _number(value) > 0


def load_figures(value: str) -> bool:
    """Three load averages joined by slashes (e.g. 1.38/1.32/0.97), then words."""
    figures = [float(v) for v in value.split()[0].split("/")]
    return len(figures) == 3 and all(math.isfinite(v) and v >= 0 for v in figures)


def non_negative(value: str) -> bool:
    return _number(value) >= 0


def at_least(low: float) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return _number(value) >= low
    check.__name__ = f"at_least({low})"
    return check


def equals(expected: str) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return value.strip() == expected
    check.__name__ = f"equals({expected!r})"
    return check


def _heartbeat_keys() -> dict[str, Callable[[str], bool]]:
    """bench.media's portal keys: plain for the production mode, `_embedded` for the embedded one."""
    keys = {"heartbeat_learners": positive, "cores": positive, "web_processes": positive,
            "goal_met": lambda v: v in ("yes", "no"),
            r"ratio_heartbeats_per_s_\w+_vs_embedded": positive}
    for mode in ("", "_embedded"):
        keys.update({f"heartbeat_proctored{mode}": equals("1"), f"heartbeat_connections_http(_c4)?{mode}": positive,
                     f"heartbeat_socket_errors_http(_c4)?{mode}": non_negative, f"logins_per_s{mode}": positive,
                     f"page_p95_ms_(learn|officer){mode}": positive})
        for run in ("_http", "_http_c4", "_socketio", "_socketio_at_1000", "_socketio_at_400"):
            suffix = run + mode
            keys.update({f"heartbeats_per_s{suffix}": positive, f"heartbeat_p50_ms{suffix}": positive,
                         f"heartbeat_p99_ms{suffix}": positive,
                         # the point of the share: refused beats (a sitting that did not open, a
                         # broken ledger) cannot pass for a fast run
                         f"heartbeat_accept_share{suffix}": at_least(0.9),
                         f"heartbeat_server_cpu_ms_each{suffix}": positive})
    return keys


# key (a regular expression matched against whole keys: every matching key must pass, and at
# least one must be printed) -> check of its value
EXPECTED: dict[str, dict[str, Callable[[str], bool]]] = {
    "media": {
        "portal_warm_s(_embedded)?": non_negative,
        "(nginx|signed|embedded)_range_mb_s(_large)?": positive,
        "(nginx|signed|embedded)_requests_per_s(_large)?": positive,
        "range_throughput_ratio_vs_nginx(_embedded)?(_large)?": positive,
        **_heartbeat_keys(),
    },
    "proctoring": {
        "machine_cpus": positive,
        "identity_check_ms_idle": positive,
        "streams_per_node": non_negative,      # goals may break on a loaded machine: not checked here
        "verdict_p95_s": positive,
        "challenges": positive,                # the first check of every sitting sends one
        "challenges_passed": non_negative,     # a loaded machine may fail them: not checked here
        "identity_check_ms_median": positive,
        "identity_check_ms_p95": positive,
        "cpu_s_per_stream_s": positive,
        r"cpu_ratio_full_vs_engine_only_n\d+": positive,
        "decode_ms_per_s_base": positive,      # one stream at the browser's baseline frame rate
        "decode_ms_per_s_challenge": positive,  # ... and at its challenge rate (320x240)
        "decode_ratio_challenge_vs_base": positive,
        "decode_machine_load": load_figures,
        "elapsed_s": positive,
        # the default (policy) mode: server pinned to one core, clients at 1 fps / 6 fps in a challenge
        "streams_per_core": non_negative,
        "resolution": equals("320x240"),
        "fps": number,
        "verdict_p95_scheduled_s": lambda v: v.split()[0] == "nan" or _number(v) >= 0,
        "loadavg": load_figures,
    },
    "conference": {
        "machine_cpus": positive,
        "latency_ms_(province|city|township)(_inprocess)?": positive,
        "hop_latency_ms": number,              # a difference of medians: may be <= 0 in a short run
        "hop_latency_inprocess_ms": number,
        "room_cpu_s_per_s_(province|city|township)": positive,
        r"fanout_cost_ratio_\d+_vs_1": positive,
        "room_cpu_ms_per_subscriber_s": number,
        r"viewer_fps_(1|mean_\d+|min_\d+)": positive,
        "room_encoders": equals("1"),
        "rollcall_cpu_pct": positive,
        "rollcall_done": equals("True"),
        "rollcall_participants": positive,
        "rollcall_identity_ms_median": positive,
        "bench_seconds": positive,
        "conference_participants_per_core": non_negative,
        "resolution": equals("320x240"),
        "fps": positive,
        "loadavg": load_figures,
        "viewer_frame_sizes": equals("320x240"),
        # a course played into three rooms (issue 16): its cost with 1 viewer and with more, and
        # how late its frames reach the township
        "media_playback_cpu_s_per_s": positive,
        r"media_playback_cpu_s_per_s_\d+_viewers": positive,
        "playback_latency_ms_township": positive,
    },
    "vr": {     # per scene and pipeline (software: p3tinydisplay; gl: p3headlessgl with PBR, where EGL opens)
        r"fps_(stereo_)?[a-z]+_(software|gl)": positive,
        r"fps_min_[a-z]+_(software|gl)": positive,
        r"slowest_stage_[a-z]+_(software|gl)": lambda v: v.split()[0].isidentifier() and _number(v.split()[1]) > 0,
        r"load_s_[a-z]+_(software|gl)": positive,
        r"drawcalls_[a-z]+_(software|gl)": positive,
        r"triangles_[a-z]+_(software|gl)": positive,
        r"characters_[a-z]+": non_negative,
        # both pipelines ran: each pattern must match at least one key (a missing EGL fails here)
        r"look_[a-z]+_software": equals("software"),
        r"look_[a-z]+_gl": lambda v: v in ("pbr", "pbr-vertex"),
        r"fps_prison_gl": positive,
        "cores": positive,
        "loadavg": load_figures,
    },
    "officer": {
        r"page_p95_ms_(ministry|province|city|district|township|search|page2)_(sqlite|postgresql)": positive,
        r"page_kb_\w+": positive,
        r"(seed_s|refresh_s)_(sqlite|postgresql)": non_negative,
        r"export_s(_xlsx|_csv)?_(sqlite|postgresql)": non_negative,
        r"export_goal_met_(sqlite|postgresql)": lambda v: v in ("yes", "no"),
        r"numbers_match_(sqlite|postgresql)": equals("yes"),
        "supervisees": positive,
        "machine_cores": positive,
        "load_1m_before": non_negative,
    },
    "fuzz": {
        "cases_(http|socketio|total)": positive,
        # what the fuzzers find fails the run: a 5xx or "internal" ack, an event never answered,
        # an answer off the description or the events' contract, a traceback in the portal's log
        "responses_500": equals("0"),
        "unanswered_events": equals("0"),
        "(http|socketio)_failures": equals("0"),
        "server_tracebacks(_at_exit)?": equals("0"),
        "server_exit_code": equals("0"),
        "seconds": positive,
        "machine_cores": positive,
        "load_1m(_before)?": non_negative,
    },
}


# bench.conference --backend janus: the same keys where they apply (one Janus process: no
# per-level room CPU, no in-process cascade, no encoder)
EXPECTED_CONFERENCE_JANUS = {
    **{k: v for k, v in EXPECTED["conference"].items()
       if k not in ("room_cpu_s_per_s_(province|city|township)", "room_encoders",
                    "latency_ms_(province|city|township)(_inprocess)?", "hop_latency_inprocess_ms")},
    "latency_ms_(province|city|township)": positive,
    "room_cpu_s_per_s_janus": positive,
    "rollcall_backend": equals("janus"),
    "rollcall_janus_cpu_pct": non_negative,
    "janus_pid_cores": lambda v: v.split()[0].isdigit(),
}


def _marked_processes(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (everything a bench started inherits it)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (proc / "environ").read_bytes() and \
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return found


def run_smoke(name: str, tmp_path: Path, extra: tuple[str, ...] = ()) -> tuple[int, str, str, float]:
    marker = f"BENCH_SMOKE_RUN={uuid.uuid4().hex}"
    env = {**os.environ, "BENCH_SMOKE_RUN": marker.split("=", 1)[1]}
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    began = time.monotonic()
    # Output into files, not pipes: a process a bench leaves behind cannot hold up this test.
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", f"bench.{name}", "--smoke", *extra], cwd=ROOT, env=env,
                                stdout=out, stderr=err, start_new_session=True)
        try:
            code = proc.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    took = time.monotonic() - began
    left = []
    deadline = time.monotonic() + 10     # children exiting after their parent get a moment
    while (left := _marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    if code is None:
        pytest.fail(f"bench.{name} --smoke ran past {TIMEOUT_S} s\n{_tail(stdout, stderr)}")
    if left:
        pytest.fail(f"bench.{name} --smoke left {len(left)} processes running (killed now): "
                    f"{[_cmdline(pid) for pid in left]}\n{_tail(stdout, stderr)}")
    return code, stdout, stderr, took


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return str(pid)


def _tail(stdout: str, stderr: str, chars: int = 4000) -> str:
    noise = re.compile(r"^(INFO: |W0000 |I0000 |WARNING: Logging before)")   # mediapipe/TFLite chatter
    err = "\n".join(line for line in stderr.splitlines() if not noise.match(line))
    return f"--- stdout (tail) ---\n{stdout[-chars:]}\n--- stderr (tail) ---\n{err[-chars:]}"


def parse_keys(stdout: str) -> dict[str, str]:
    keys = {}
    for line in stdout.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match:
            keys[match.group(1)] = match.group(2)
    return keys


def test_helper_list_is_current():
    """Every module HELPERS exempts exists (a stale entry would hide a new bench of that name)."""
    for name in HELPERS:
        assert (ROOT / "bench" / f"{name}.py").exists(), f"bench/{name}.py is gone: remove it from HELPERS"
    assert bench_names(), "no benches found in bench/"


@pytest.mark.slow
@pytest.mark.parametrize("name", bench_names())
def test_bench_smoke(name, tmp_path):
    check_smoke(name, tmp_path, EXPECTED.get(name))


@pytest.mark.slow
def test_bench_conference_janus_smoke(tmp_path):
    """bench.conference on the Janus backend (a private Janus; the Debian package janus, which
    scripts/install-system-deps.sh --test installs: without it this fails, as the Janus tests do)."""
    check_smoke("conference", tmp_path, EXPECTED_CONFERENCE_JANUS, ("--backend", "janus"))


def check_smoke(name: str, tmp_path: Path, expected: dict | None, extra: tuple[str, ...] = ()) -> None:
    code, stdout, stderr, took = run_smoke(name, tmp_path, extra)
    print(f"bench.{name} --smoke {' '.join(extra)}: {took:.1f} s")
    assert code == 0, f"bench.{name} --smoke exited {code}\n{_tail(stdout, stderr)}"
    keys = parse_keys(stdout)
    assert keys.get("smoke") == "1", f"bench.{name} ignored --smoke (no smoke=1 line)\n{_tail(stdout, stderr)}"
    problems = []
    if expected is None:
        numeric = []
        for key, value in keys.items():
            try:
                if key != "smoke" and number(value):
                    numeric.append(key)
            except (ValueError, IndexError, AssertionError):
                pass
        if not numeric:
            problems.append("no key=value line with a number")
    else:
        for pattern, check in expected.items():
            matching = [k for k in keys if re.fullmatch(pattern, k)]
            if not matching:
                problems.append(f"missing {pattern}")
            for key in matching:
                try:
                    ok = check(keys[key])
                except (ValueError, IndexError, AssertionError):
                    ok = False
                if not ok:
                    problems.append(f"{key}={keys[key]!r} fails {check.__name__}")
    assert not problems, f"bench.{name} --smoke: " + "; ".join(problems) + "\n" + _tail(stdout, stderr)
