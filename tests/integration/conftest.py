"""Fixtures shared by the WebRTC integration tests (engine, proctoring, conference rooms, roll calls)."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def webrtc_network():
    """WebRTC traffic only inside the private network namespace of scripts/in-netns.sh (aioice
    ignores 127.0.0.1; the namespace adds 127.0.0.2 and a veth pair)."""
    from aioice.ice import get_host_addresses
    if not os.environ.get("IN_NETNS") and not os.environ.get("RTC_TEST_HOST_NETWORK"):
        pytest.fail("WebRTC tests must run inside a private network namespace: "
                    "scripts/in-netns.sh .venv/bin/python -m pytest ... "
                    "(or set RTC_TEST_HOST_NETWORK=1 where using the host's interfaces is allowed)")
    if not get_host_addresses(use_ipv4=True, use_ipv6=False):
        pytest.fail("no IPv4 address other than 127.0.0.1 for ICE (aioice ignores 127.0.0.1): "
                    "run under scripts/in-netns.sh")


@pytest.fixture(scope="module")
def client_loop():
    """The client peers' asyncio loop (its own thread), one per test module."""
    from tests.rtc_peers import ClientLoop
    with ClientLoop() as loop:
        yield loop


@pytest.fixture(scope="module")
def enrolled_embedding():
    """The embedding of the enrolled sample face, as an officer's enrolment would store it."""
    from proctoring.enrolment import assess
    from proctoring.sample_faces import ENROLLED, scene
    from proctoring.vision import thread_analyzer
    quality = assess(scene(ENROLLED, (640, 480)), thread_analyzer())
    assert quality.ok, quality.reason
    return quality.embedding
