"""The operator's console (``python -m vr_scenes.station --console``): a small web page on the station
itself, served by the standard library (``http.server``) on 127.0.0.1 only, in Simplified Chinese.

It shows who is checked in, the scene, its stage and progress, the questionnaire item being asked
and the learner's view (mono, the left eye; refreshed twice a second from the rendered window), and
lets the operator start, pause and resume the scene and **stop it at once** (the red button, or Esc on
the page; Esc in the station's own window does the same). A stopped session is posted as stopped and
never credited. The questionnaire can be answered here too (buttons 1-5) when the learner cannot use
the keys.

Why a web page and not a Panda3D 2D panel: the Panda3D window is the learner's (full screen in the
headset, in stereo), and a second Panda3D window would share its task loop and frame timing; a page
in the desktop's browser stays usable while the scene renders, needs no extra package (no Flask in
``vr_scenes``), and its handlers only talk to the run loop through ``control.SceneControl``.

Security: a per-launch secret (``secrets.token_urlsafe``) is in the URL printed at start
(``http://127.0.0.1:PORT/?t=SECRET``); opening it sets an HttpOnly, SameSite=Strict cookie. Every
request needs the secret (the cookie, or the ``X-Console-Token`` header); every POST needs the header,
which another site's page cannot set (no CORS is answered), so neither another local user nor a web
page can drive the station blindly. The Host header must name this address (no DNS rebinding).
"""
from __future__ import annotations

import hmac
import json
import secrets
import threading
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .control import ANSWER, COMMANDS, SceneControl

COOKIE = "vr_console"
MAX_BODY = 4096

REFUSED = {"error": "forbidden", "message": "令牌无效：请使用工作站启动时显示的控制台地址。"}
NOT_NOW = "当前阶段不能执行该操作"


class Console:
    def __init__(self, control: SceneControl, port: int = 0, token: str | None = None):
        self.control = control
        self.token = token or secrets.token_urlsafe(24)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?t={self.token}"

    def start(self) -> Console:
        self.thread = threading.Thread(target=self.server.serve_forever, name="vr-console", daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(5)

    def token_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())


def _handler(console: Console):
    class Handler(BaseHTTPRequestHandler):
        server_version = "vr-console"

        def log_message(self, *args):      # the station's terminal is for the session's messages
            pass

        # --- helpers ---------------------------------------------------------------------------------
        def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; "
                                                        "style-src 'unsafe-inline'; img-src 'self'")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: dict) -> None:
            self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8")

        def _cookie_token(self) -> str | None:
            jar = cookies.SimpleCookie()
            try:
                jar.load(self.headers.get("Cookie", ""))
            except cookies.CookieError:
                return None
            return jar[COOKIE].value if COOKIE in jar else None

        def _host_ok(self) -> bool:
            port = self.server.server_port
            return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

        # --- routes ----------------------------------------------------------------------------------
        def do_GET(self):
            if not self._host_ok():
                return self._json(403, REFUSED)
            url = urlsplit(self.path)
            if url.path == "/":
                given = (parse_qs(url.query).get("t") or [None])[0]
                if console.token_ok(given) or console.token_ok(self._cookie_token()):
                    cookie = f"{COOKIE}={console.token}; HttpOnly; SameSite=Strict; Path=/"
                    return self._send(200, _page(console.token).encode(), "text/html; charset=utf-8",
                                      {"Set-Cookie": cookie})
                return self._send(403, "<!doctype html><meta charset=utf-8><p>令牌无效：请使用工作站启动时显示的"
                                       "控制台地址。</p>".encode(), "text/html; charset=utf-8")
            if not (console.token_ok(self.headers.get("X-Console-Token")) or console.token_ok(self._cookie_token())):
                return self._json(403, REFUSED)
            if url.path == "/state":
                return self._json(200, console.control.state())
            if url.path == "/view.jpg":
                frame = console.control.frame()
                if frame is None:
                    return self._json(404, {"error": "no_view", "message": "暂无画面（快速模式不渲染，或场景尚未开始）"})
                return self._send(200, frame, "image/jpeg")
            return self._json(404, {"error": "not_found", "message": "没有这个页面"})

        def do_POST(self):
            # the header, not the cookie: a page of another site cannot set it (CSRF)
            if not self._host_ok() or not console.token_ok(self.headers.get("X-Console-Token")):
                return self._json(403, REFUSED)
            if urlsplit(self.path).path != "/command":
                return self._json(404, {"error": "not_found", "message": "没有这个操作"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                return self._json(400, {"error": "bad_request", "message": "请求内容无效"})
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                return self._json(400, {"error": "bad_request", "message": "请求内容不是 JSON"})
            command = body.get("command") if isinstance(body, dict) else None
            value = body.get("value") if isinstance(body, dict) else None
            if command not in COMMANDS or (command == ANSWER and not (isinstance(value, int)
                                                                       and not isinstance(value, bool)
                                                                       and 1 <= value <= 5)):
                return self._json(400, {"error": "bad_command", "message": "未知操作，或答案不是 1 到 5"})
            if not console.control.send(command, value):
                return self._json(409, {"error": "not_now", "message": NOT_NOW, "state": console.control.state()})
            return self._json(200, {"ok": True, "state": console.control.state()})

    return Handler


def _page(token: str) -> str:
    return PAGE.replace("__TOKEN__", json.dumps(token))


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>VR 工作站控制台</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:1.5em;background:#f4f4f4;color:#222}
 h1{font-size:1.4em} .row{display:flex;gap:1.5em;flex-wrap:wrap} .card{background:#fff;padding:1em;border-radius:6px}
 dt{font-weight:bold;margin-top:.4em} progress{width:100%;height:1.2em}
 button{font-size:1.1em;padding:.5em 1.2em;margin:.3em .3em 0 0} button:disabled{opacity:.4}
 #stop{background:#c00;color:#fff;font-size:1.6em;font-weight:bold;padding:.7em 1.6em;border:0;border-radius:6px}
 #view{width:480px;max-width:100%;background:#000;min-height:270px} #msg{color:#a00;min-height:1.2em}
</style></head><body>
<h1>VR 警示教育工作站 · 操作员控制台</h1>
<div class="row">
 <div class="card" style="min-width:320px">
  <dl>
   <dt>状态</dt><dd id="phase">—</dd>
   <dt>已签到学员</dt><dd id="learner">—</dd>
   <dt>场景</dt><dd id="scene">—</dd>
   <dt>当前阶段</dt><dd id="stage">—</dd>
   <dt>进度</dt><dd><progress id="progress" max="1" value="0"></progress></dd>
   <dt>问卷</dt><dd id="question">—</dd>
   <dt>上一次提交</dt><dd id="result">—</dd>
  </dl>
  <div id="answers">代答（学员无法按键时）：
   <button data-answer="1">1 非常不同意</button><button data-answer="2">2 不同意</button>
   <button data-answer="3">3 说不清</button><button data-answer="4">4 同意</button>
   <button data-answer="5">5 非常同意</button></div>
  <div><button id="start" data-command="start">开始场景</button><button id="pause" data-command="pause">暂停</button>
   <button id="resume" data-command="resume">继续</button></div>
  <p><button id="stop" data-command="stop">紧急停止（Esc）</button></p>
  <p>紧急停止立即结束场景，本次体验按“紧急停止”提交，不计学时。</p>
  <p id="msg"></p>
 </div>
 <div class="card"><div>学员画面（单眼）</div><img id="view" alt="暂无画面"></div>
</div>
<script>
const TOKEN = __TOKEN__;
const $ = (id) => document.getElementById(id);
async function send(command, value) {
  const r = await fetch("/command", {method: "POST", headers: {"Content-Type": "application/json",
    "X-Console-Token": TOKEN}, body: JSON.stringify({command: command, value: value})});
  const body = await r.json();
  $("msg").textContent = r.ok ? "" : body.message;
  if (body.state) show(body.state);
}
function show(s) {
  $("phase").textContent = s.phase_label; $("learner").textContent = s.learner || "—";
  $("scene").textContent = s.scene_title || "—"; $("stage").textContent = s.stage || "—";
  $("progress").value = s.progress || 0; $("question").textContent = s.question || "—";
  $("result").textContent = s.result ? s.result.text : "—";
  for (const b of document.querySelectorAll("[data-command]")) b.disabled = !s.allowed.includes(b.dataset.command);
  for (const b of document.querySelectorAll("[data-answer]")) b.disabled = !s.allowed.includes("answer");
}
for (const b of document.querySelectorAll("[data-command]")) b.onclick = () => send(b.dataset.command);
for (const b of document.querySelectorAll("[data-answer]")) b.onclick = () => send("answer", Number(b.dataset.answer));
document.addEventListener("keydown", (e) => { if (e.key === "Escape") send("stop"); });
async function poll() {
  try { const r = await fetch("/state", {headers: {"X-Console-Token": TOKEN}}); if (r.ok) show(await r.json()); }
  catch (e) { $("msg").textContent = "与工作站的连接中断"; }
}
setInterval(poll, 300); poll();
setInterval(() => { $("view").src = "/view.jpg?" + Date.now(); }, 500);
</script></body></html>
"""
