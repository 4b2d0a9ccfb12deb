"""Fixtures shared by the VR tests that need a real window."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest


@pytest.fixture
def display():
    """A private virtual screen; Xvfb picks a free display number and tells it (-displayfd)."""
    if not shutil.which("Xvfb"):
        pytest.fail("needs Xvfb: scripts/install-system-deps.sh --test installs it")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24",
                               "-nolisten", "tcp"], pass_fds=(write_fd,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    assert number.isdigit(), "Xvfb did not start"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)
