"""Screenshots of the portal's pages, in Chinese, for the README (docs/screenshots/): the
supervisee's pages on a phone, the officers' on a desktop and on a phone.

    .venv/bin/python -m scripts.screenshots                 # every shot in SHOTS
    .venv/bin/python -m scripts.screenshots --only home player
    .venv/bin/python -m scripts.screenshots --list

It starts the embedded portal as the browser tests do (tests/browser/conftest.py): the sample
course "law-basics" built short (about 40 s) and imported to HLS into a temporary folder, a fresh
SQLite database, the demo organisation and accounts (password Demo-Pass-2026), served on
127.0.0.1; then it drives Debian's Chromium (Playwright) in phone emulation with a fake camera
(the enrolled sample face, portrait) and saves one PNG per shot, reduced to a palette so each
stays small.

The officers' compliance pages are shot on a tree seeded by scripts/seed_scale.py beside the demo
data (SCALE_SUPERVISEES people, officers scale_l1 .. scale_l5), so their charts have numbers.

Adding pages: append a `Shot` to SHOTS (an officer's page: `login="officer_bs"`). `path` may
name `{course}` (the sample course's id); `config` sets the app's settings for that page
(`current_app.config`, read per request); `prepare` (Python, given the page and the portal)
puts the page in the state to show. States that need a live camera check (a challenge, a hold)
are shown with the page's own elements and texts, as the player shows them; the surprise
question and the return from the background are the real thing.
"""
from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Demo-Pass-2026"
PHONE = (390, 844)
DESKTOP = (1280, 1400)
SCALE_SUPERVISEES = 3000
MOBILE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Mobile Safari/537.36")
MAX_BYTES = 200_000


@dataclass
class Shot:
    name: str                                   # saved as docs/screenshots/<name>.png
    path: str                                   # the page; "{course}": the sample course's id
    viewport: tuple[int, int] = PHONE
    login: str | None = "zhangsan"              # None: not signed in
    config: dict = field(default_factory=dict)  # app settings while this page is shot
    prepare: Callable | None = None             # prepare(page, portal): the state to show
    mobile: bool = True                         # phone emulation (touch, mobile UA)
    full_page: bool = False                     # the whole page, not only the viewport
    password: str = PASSWORD


# --- states of the player ------------------------------------------------------------------

def _wait_ready(page, portal):
    page.wait_for_selector("#player[data-ready='1']", state="attached", timeout=30_000)


def _play_until(page, seconds: float):
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")
    page.wait_for_function(f"() => document.getElementById('video').currentTime >= {seconds}", timeout=60_000)


def _playing(page, portal):
    _wait_ready(page, portal)
    _play_until(page, 7.0)
    time.sleep(1.2)   # a heartbeat: the status line shows the sitting's numbers


def _camera_preview(page, portal, then: str = ""):
    """The state right after "start studying": the camera preview on, playback held until the
    first check has seen the learner (the page's own hold text)."""
    page.evaluate("""async (then) => {
        const p = document.getElementById('player').dataset;
        document.getElementById('consent').hidden = true;
        const v = document.getElementById('camera-preview');
        v.srcObject = await navigator.mediaDevices.getUserMedia(window.StudyCamera.constraints);
        await v.play();
        const show = (id, text) => { document.getElementById(id + '-text').textContent = text;
                                     document.getElementById(id).hidden = false; };
        if (then === 'challenge') show('challenge', p.msgDoTurnLeft);
        else if (then === 'hold') { show('hold', p.msgHoldIdentity); document.getElementById('hold-recheck').hidden = false; }
        else show('hold', p.msgHoldUnverified);
    }""", then)
    page.wait_for_function("() => document.getElementById('camera-preview').videoWidth > 0")
    time.sleep(0.5)


def _question(page, portal):
    """A real surprise question: the breakpoint comes after the course's first bank question."""
    _wait_ready(page, portal)
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")
    page.wait_for_selector("#prompt-choices input", timeout=60_000)


def _background(page, portal):
    """Really sent to the background and back: the page pauses and asks for a tap."""
    _wait_ready(page, portal)
    _play_until(page, 5.0)
    for state in ("hidden", "visible"):
        page.evaluate("""(state) => {
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => state === 'hidden'});
            document.dispatchEvent(new Event('visibilitychange'));
        }""", state)
        time.sleep(1.0)
    page.wait_for_selector("#resume", state="visible")


def _charts_drawn(page, portal):
    """ECharts animates its first drawing for about a second."""
    time.sleep(1.5)


def _officer_record(page, portal):
    """A supervisee's record, reached the way an officer does: from the township's list."""
    page.click("a[href*='/officer/supervisee/']")
    page.wait_for_load_state()


NOT_PROCTORED = {"PROCTORING_REQUIRED": False}
SHOTS: list[Shot] = [
    Shot("phone-login", "/login", login=None),
    Shot("phone-home", "/learn/"),
    Shot("phone-consent", "/learn/course/{course}"),
    Shot("phone-camera", "/learn/course/{course}", prepare=_camera_preview),
    Shot("phone-challenge", "/learn/course/{course}", prepare=lambda p, s: _camera_preview(p, s, "challenge")),
    Shot("phone-hold", "/learn/course/{course}", prepare=lambda p, s: _camera_preview(p, s, "hold")),
    Shot("phone-player", "/learn/course/{course}", config=NOT_PROCTORED, prepare=_playing),
    Shot("phone-question", "/learn/course/{course}", prepare=_question,
         config={**NOT_PROCTORED, "BREAKPOINT_MIN_S": "{question_at}", "BREAKPOINT_MEAN_S": "{question_at}",
                 "BREAKPOINT_MAX_S": "{question_at}"}),
    Shot("phone-background", "/learn/course/{course}", config=NOT_PROCTORED, prepare=_background),
]


def _officer_shots() -> list[Shot]:
    from scripts.seed_scale import SEED_PASSWORD
    scale = {"password": SEED_PASSWORD, "prepare": _charts_drawn}
    pages = [
        ("officer-ministry", "/officer/", "scale_l1", scale),
        ("officer-city", "/officer/", "scale_l3", scale),
        ("officer-township", "/officer/", "scale_l5", scale),
        ("officer-record", "/officer/", "scale_l5", {**scale, "prepare": _officer_record}),
        ("officer-attention", "/officer/attention", "scale_l3", scale),
        ("officer-audit", "/officer/audit", "officer_hz", {}),
        ("officer-import", "/officer/people/import", "officer_bs", {}),
    ]
    shots = [Shot(name, path, DESKTOP, login, mobile=False, **extra)
             for name, path, login, extra in pages]
    shots += [Shot("phone-" + name, path, PHONE, login, **extra) for name, path, login, extra in pages
              if name in ("officer-ministry", "officer-township", "officer-attention")]
    return shots


SHOTS += _officer_shots()


# --- the portal -----------------------------------------------------------------------------

class Portal:
    """The embedded portal with the demo data and one sample course, on 127.0.0.1."""

    def __init__(self, work: Path):
        from werkzeug.serving import make_server

        from content.build_samples import main as build_samples
        from streaming.ingest import import_course
        from webapp import create_app, migrate
        from webapp.courses.catalogue import persist_course
        from webapp.demo import load_demo

        samples, media = work / "samples", work / "media"
        samples.mkdir(parents=True, exist_ok=True)
        for stale in (media, work / "instance"):   # a --work folder keeps only the built course
            shutil.rmtree(stale, ignore_errors=True)
        if not (samples / "law-basics.json").exists():
            build_samples(["--out", str(samples), "--minutes", "0.7", "--only", "law-basics"])
        imported = import_course(samples / "law-basics.json", media)
        self.app = create_app({
            "INSTANCE_DIR": str(work / "instance"),
            "DATABASE_URL": f"sqlite:///{work / 'instance' / 'screenshots.db'}",
            "MEDIA_ROOT": str(media), "SECRET_KEY": "screenshots-secret",
            "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False, "PROCTORING_REQUIRED": True,
            "HEARTBEAT_INTERVAL_S": 1.0,
            "BREAKPOINT_MIN_S": 900.0, "BREAKPOINT_MEAN_S": 900.0, "BREAKPOINT_MAX_S": 900.0,
        })
        self.defaults = dict(self.app.config)
        migrate.upgrade(self.app.config["DATABASE_URL"])
        with self.app.app_context():
            from webapp.core import db
            session = db.session()
            course = persist_course(session, imported)
            session.commit()
            load_demo(PASSWORD)
            self._enrol(session, "zhangsan")
            self.course_id = course.id
            self.question_at = self._first_question(session, course.id)
            from scripts.seed_scale import seed
            seed(session, SCALE_SUPERVISEES)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _enrol(session, username: str):
        """An enrolment row, so the player offers the camera consent (no check runs here)."""
        import numpy as np
        from sqlalchemy import select

        from webapp.core.face_crypto import encrypt_embedding
        from webapp.models import FaceEnrolment, User
        user = session.scalar(select(User).where(User.username == username))
        session.add(FaceEnrolment(user_id=user.id, embedding_enc=encrypt_embedding(np.full(128, 0.05)),
                                  source="upload", quality_json="{}", active=True))
        session.commit()

    @staticmethod
    def _first_question(session, course_id: int) -> float:
        from sqlalchemy import func, select

        from webapp.models import CourseQuestion
        return float(session.scalar(select(func.min(CourseQuestion.at_s))
                                    .where(CourseQuestion.course_id == course_id)) or 5.0)

    def configure(self, settings: dict):
        self.app.config.update({k: self.defaults[k] for k in ("PROCTORING_REQUIRED", "BREAKPOINT_MIN_S",
                                                              "BREAKPOINT_MEAN_S", "BREAKPOINT_MAX_S")})
        for key, value in settings.items():
            if value == "{question_at}":
                value = self.question_at + 3.0
            self.app.config[key] = value

    def stop(self):
        self.server.shutdown()
        self.app.extensions["db_engine"].dispose()


# --- shooting -------------------------------------------------------------------------------

def small_png(png: bytes, limit: int = MAX_BYTES) -> bytes:
    """The screenshot reduced to a palette (fewer colours until it fits `limit`)."""
    from PIL import Image
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for colours in (128, 64, 32):
        out = io.BytesIO()
        image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
        if out.tell() <= limit:
            break
    return out.getvalue()


def fake_camera(folder: Path) -> Path:
    """A portrait front camera: the enrolled sample face, as Chromium's fake capture file."""
    from proctoring.sample_faces import ENROLLED, scene, write_y4m
    return write_y4m(folder / "camera.y4m", [scene(ENROLLED, (240, 320), seed=i) for i in range(4)], fps=15)


def shoot(shots: list[Shot], out: Path, work: Path) -> list[tuple[Path, int]]:
    import logging

    from playwright.sync_api import sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    portal = Portal(work)
    saved = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--lang=zh-CN",
                "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={fake_camera(work)}"])
            for shot in shots:
                portal.configure(shot.config)
                width, height = shot.viewport
                context = browser.new_context(
                    locale="zh-CN", viewport={"width": width, "height": height},
                    device_scale_factor=2 if shot.mobile else 1,
                    is_mobile=shot.mobile, has_touch=shot.mobile, user_agent=MOBILE_UA if shot.mobile else None)
                page = context.new_page()
                page.set_default_timeout(30_000)
                if shot.login:
                    page.goto(portal.url + "/login")
                    page.fill("input[name=username]", shot.login)
                    page.fill("input[name=password]", shot.password)
                    page.click("#login-submit")
                    page.wait_for_load_state()
                page.goto(portal.url + shot.path.format(course=portal.course_id))
                if shot.prepare:
                    shot.prepare(page, portal)
                wide = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
                if wide[0] > wide[1]:
                    print(f"warning: {shot.name} scrolls sideways ({wide[0]} > {wide[1]} px)", file=sys.stderr)
                path = out / f"{shot.name}.png"
                path.write_bytes(small_png(page.screenshot(full_page=shot.full_page)))
                saved.append((path, path.stat().st_size))
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size} bytes")
                context.close()
            browser.close()
    finally:
        portal.stop()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="names of the shots to take (default: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--work", type=Path, help="folder for the portal's data (default: a temporary one)")
    parser.add_argument("--list", action="store_true", help="list the shots and exit")
    args = parser.parse_args(argv)
    if args.list:
        for shot in SHOTS:
            print(f"{shot.name:20} {shot.path:28} {shot.viewport[0]}x{shot.viewport[1]} {shot.login or '-'}")
        return 0
    shots = [s for s in SHOTS if not args.only or s.name in args.only or s.name.removeprefix("phone-") in args.only]
    if not shots:
        parser.error("no shot of that name (--list)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        saved = shoot(shots, args.out, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
            saved = shoot(shots, args.out, Path(tmp))
    too_big = [(p, n) for p, n in saved if n > MAX_BYTES]
    for path, size in too_big:
        print(f"warning: {path} is {size} bytes (over {MAX_BYTES})", file=sys.stderr)
    return 1 if too_big else 0


if __name__ == "__main__":
    sys.exit(main())
