"""Fixtures shared by the VR tests: a real window (Xvfb), and what a fresh interpreter imports."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def imported_packages():
    """``run(code)``: the top-level packages a fresh interpreter has imported after running ``code`` at
    the repository root (DESIGN.md's import rules, checked without this process's own imports)."""
    def run(code: str) -> set[str]:
        probe = "import sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
        out = subprocess.run([sys.executable, "-c", f"{code}\n{probe}"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, check=True)
        return set(out.stdout.strip().splitlines()[-1].split())
    return run


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
