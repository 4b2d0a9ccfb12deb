"""A private Janus (Debian package ``janus``): its own config folder, HTTP port and secrets.

:class:`JanusServer` writes a config folder derived from Debian's ``/etc/janus`` into a run
directory and starts ``janus -F <folder> -C <folder>/janus.jcfg`` as a subprocess:

- only the VideoRoom plugin and the plain-HTTP transport are loaded (no WebSockets, no
  event handlers, no loggers), the HTTP API on its own port and address;
- every Janus API request needs ``api_secret``; the Admin API is off (``admin_secret`` is
  set anyway, generated);
- the VideoRoom has ``admin_key`` with ``lock_rtp_forward``: only who holds the key (the
  portal) creates rooms and forwards RTP; no room is configured statically;
- ICE: host candidates only, unless ``ice_servers`` (the RTCPeerConnection form) name a
  STUN/TURN server; RTP/RTCP on ``rtp_port_range``.

Tests start one per session inside their network namespace (tests/conftest.py: janus_server).

    server = JanusServer("/tmp/janus-run").start()
    server.url, server.api_secret, server.admin_key
    server.stop()

As a command (a node of its own; the portal then gets the settings in RUN_DIR/janus.env, 0600;
JANUS_URL, JANUS_API_SECRET and JANUS_ADMIN_KEY from the environment, when set, are used):

    python -m deploy.janus_server RUN_DIR [--host 10.0.0.5] [--port 8088] [--public-ip 203.0.113.7]
    python -m deploy.janus_server RUN_DIR --write-config   # only the config: systemd runs janus itself

deploy/stack.py owns the process instead: it writes the config with :meth:`JanusServer.write_config`,
runs :meth:`JanusServer.command` as one of its pieces and probes it with :meth:`JanusServer.ready`.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

JANUS_BINARY = "janus"
LIB_DIR = Path("/usr/lib/x86_64-linux-gnu/janus")
# Loaded from LIB_DIR; everything else there is disabled in the written config.
WANTED_PLUGINS = ("libjanus_videoroom.so",)
WANTED_TRANSPORTS = ("libjanus_http.so",)


class JanusError(RuntimeError):
    pass


def free_tcp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _quote(value: str) -> str:
    return json.dumps(str(value))   # a jcfg (libconfig) string: double quotes, backslash escapes


def _disabled(folder: Path, wanted: tuple[str, ...]) -> str:
    """The .so files of ``folder`` that are not wanted (libconfig's `disable` list)."""
    names = sorted(p.name for p in folder.glob("*.so")) if folder.is_dir() else []
    return ",".join(n for n in names if n not in wanted)


def _stun_turn(ice_servers: list[dict]) -> dict:
    """The first stun: and turn: URLs of RTCPeerConnection-style ice_servers, as Janus settings."""
    out: dict = {}
    for server in ice_servers:
        urls = server.get("urls") or server.get("url") or []
        for url in [urls] if isinstance(urls, str) else urls:
            scheme, _, rest = url.partition(":")
            hostport = rest.split("?", 1)[0]
            host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
            if scheme == "stun" and "stun_server" not in out:
                out["stun_server"], out["stun_port"] = host, int(port or 3478)
            elif scheme == "turn" and "turn_server" not in out:
                out.update(turn_server=host, turn_port=int(port or 3478), turn_type="udp",
                           turn_user=server.get("username", ""), turn_pwd=server.get("credential", ""))
    return out


class JanusServer:
    """One private Janus process. ``host``: the HTTP API's address (and where remote
    publishers are reached); ``ice_enforce_list``: interfaces/addresses for ICE candidates
    (None: all, as Janus does); ``public_ip``: a 1:1 NAT's public address (nat_1_1_mapping);
    ``ice_servers``: the first STUN and TURN servers become Janus's stun_server/turn_server
    (none: host candidates only)."""

    def __init__(self, run_dir: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
                 rtp_port_range: tuple[int, int] = (20000, 40000), ice_servers: list[dict] | None = None,
                 ice_enforce_list: str | None = None, public_ip: str | None = None,
                 debug_level: int = 3, binary: str = JANUS_BINARY,
                 lib_dir: Path = LIB_DIR, api_secret: str | None = None, admin_secret: str | None = None,
                 admin_key: str | None = None):
        self.run_dir = Path(run_dir)
        self.host = host
        self.port = port
        self.rtp_port_range = rtp_port_range
        self.ice_servers = list(ice_servers or [])
        self.ice_enforce_list = ice_enforce_list
        self.public_ip = public_ip
        self.debug_level = debug_level
        self.binary = binary
        self.lib_dir = Path(lib_dir)
        # given (kept by whoever runs it: deploy/stack.py's secrets.json, portal.env) or made now
        self.api_secret = api_secret or secrets.token_urlsafe(24)
        self.admin_secret = admin_secret or secrets.token_urlsafe(24)
        self.admin_key = admin_key or secrets.token_urlsafe(24)
        self.proc: subprocess.Popen | None = None

    @property
    def config_dir(self) -> Path:
        return self.run_dir / "etc"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "janus.log"

    @property
    def url(self) -> str:
        """The Janus HTTP API root (``POST`` here creates a session)."""
        return f"http://{self.host}:{self.port}/janus"

    # ----- config
    def write_config(self) -> Path:
        if shutil.which(self.binary) is None:
            raise JanusError(f"{self.binary!r} not found: install the Debian package janus "
                             "(scripts/install-system-deps.sh --test)")
        if self.port is None:
            self.port = free_tcp_port(self.host)
        folder = self.config_dir
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)   # secrets inside
        files = {"janus.jcfg": self._janus_jcfg(), "janus.transport.http.jcfg": self._http_jcfg(),
                 "janus.plugin.videoroom.jcfg": self._videoroom_jcfg()}
        for name, text in files.items():
            path = folder / name
            path.write_text(text)
            os.chmod(path, 0o600)
        return folder

    def _janus_jcfg(self) -> str:
        low, high = self.rtp_port_range
        nat = {"nice_debug": "false", "ignore_mdns": "true", "full_trickle": "false",
               "ice_ignore_list": _quote("vmnet")}
        if self.ice_enforce_list:
            nat["ice_enforce_list"] = _quote(self.ice_enforce_list)
        if self.public_ip:   # behind 1:1 NAT (a cloud node): the public address in candidates too
            nat["nat_1_1_mapping"] = _quote(self.public_ip)
            nat["keep_private_host"] = "true"
        for key, value in _stun_turn(self.ice_servers).items():
            nat[key] = value if isinstance(value, int) else _quote(value)
        nat_lines = "\n".join(f"\t{k} = {v}" for k, v in nat.items())
        return f"""# Written by deploy/janus_server.py (derived from Debian's /etc/janus/janus.jcfg).
general: {{
\tconfigs_folder = {_quote(self.config_dir)}
\tplugins_folder = {_quote(self.lib_dir / "plugins")}
\ttransports_folder = {_quote(self.lib_dir / "transports")}
\tevents_folder = {_quote(self.lib_dir / "events")}
\tloggers_folder = {_quote(self.lib_dir / "loggers")}
\tdebug_level = {int(self.debug_level)}
\tapi_secret = {_quote(self.api_secret)}
\tadmin_secret = {_quote(self.admin_secret)}
\tsession_timeout = 60
\tserver_name = "portal-janus"
\tprotected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var"]
}}
certificates: {{
}}
media: {{
\tipv6 = false
\trtp_port_range = "{int(low)}-{int(high)}"
}}
nat: {{
{nat_lines}
}}
plugins: {{
\tdisable = {_quote(_disabled(self.lib_dir / "plugins", WANTED_PLUGINS))}
}}
transports: {{
\tdisable = {_quote(_disabled(self.lib_dir / "transports", WANTED_TRANSPORTS))}
}}
loggers: {{
\tdisable = {_quote(_disabled(self.lib_dir / "loggers", ()))}
}}
events: {{
\tbroadcast = false
\tdisable = {_quote(_disabled(self.lib_dir / "events", ()))}
}}
"""

    def _http_jcfg(self) -> str:
        return f"""# Written by deploy/janus_server.py: the plain-HTTP Janus API only, on one address.
general: {{
\tjson = "compact"
\tbase_path = "/janus"
\thttp = true
\tport = {int(self.port)}
\tip = {_quote(self.host)}
\thttps = false
}}
admin: {{
\tadmin_http = false
\tadmin_https = false
}}
cors: {{
}}
"""

    def _videoroom_jcfg(self) -> str:
        return f"""# Written by deploy/janus_server.py: rooms are created over the API with the admin key only.
general: {{
\tadmin_key = {_quote(self.admin_key)}
\tlock_rtp_forward = true
\tstring_ids = true
\tevents = false
}}
"""

    # ----- process (start/stop here, or by whoever owns it: deploy/stack.py, systemd)
    def command(self) -> list[str]:
        """The janus command line for the written config (its process logs to stdout)."""
        folder = self.config_dir
        return [shutil.which(self.binary) or self.binary, "-F", str(folder), "-C", str(folder / "janus.jcfg"),
                "--disable-colors"]

    def ready(self) -> bool:
        """The HTTP API answers ``info`` with the API secret."""
        try:
            return self.info().get("janus") == "server_info"
        except (OSError, ValueError):
            return False

    def start(self, timeout: float = 20.0) -> JanusServer:
        self.write_config()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            log.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise JanusError(f"janus exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.ready():
                return
            if time.monotonic() > deadline:
                raise JanusError(f"janus did not answer on {self.url}/info within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def info(self) -> dict:
        query = urllib.parse.urlencode({"apisecret": self.api_secret})
        with urllib.request.urlopen(f"{self.url}/info?{query}", timeout=2) as response:
            return json.loads(response.read())

    def list_rooms(self) -> list[dict]:
        """The VideoRoom rooms (private ones too: asked with the admin key), for operators and tests."""
        session = self._api("", {"janus": "create"})["data"]["id"]
        try:
            handle = self._api(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})["data"]["id"]
            reply = self._api(f"/{session}/{handle}", {"janus": "message",
                                                        "body": {"request": "list", "admin_key": self.admin_key}})
            return reply["plugindata"]["data"].get("list", [])
        finally:
            self._api(f"/{session}", {"janus": "destroy"})

    def _api(self, path: str, body: dict) -> dict:
        data = json.dumps({**body, "transaction": secrets.token_hex(6), "apisecret": self.api_secret}).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            reply = json.loads(response.read())
        if reply.get("janus") == "error":
            raise JanusError(f"janus: {reply.get('error')}")
        return reply

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> JanusServer:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def portal_settings(server: JanusServer) -> dict[str, str]:
    """The portal's settings for this Janus (webapp/config.py: CONFERENCE_MEDIA_BACKEND=janus)."""
    return {"CONFERENCE_MEDIA_BACKEND": "janus", "JANUS_URL": server.url, "JANUS_API_SECRET": server.api_secret,
            "JANUS_ADMIN_KEY": server.admin_key, "JANUS_RTP_HOST": server.host}


def env_lines(server: JanusServer) -> str:
    return "".join(f"{k}={v}\n" for k, v in portal_settings(server).items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.janus_server", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--host", default=None,
                        help="address of the HTTP API and of relayed RTP (default: JANUS_URL's host, or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="HTTP API port (default: JANUS_URL's port, or free)")
    parser.add_argument("--rtp-ports", default="20000-40000")
    parser.add_argument("--public-ip", default=None, help="1:1 NAT public address (nat_1_1_mapping)")
    parser.add_argument("--ice-servers", default="[]", help="JSON, as ICE_SERVERS: the first STUN and TURN")
    parser.add_argument("--write-config", action="store_true",
                        help="only write the config (and janus.env) and print the janus command: for a "
                             "supervisor that runs janus itself (deploy/systemd/portal-janus.service)")
    args = parser.parse_args(argv)
    # The portal's own settings (systemd: EnvironmentFile=/etc/portal/portal.env), when set, are
    # what this Janus must match: the same secrets and address at every start.
    configured = urllib.parse.urlsplit(os.environ.get("JANUS_URL", ""))
    low, high = (int(p) for p in args.rtp_ports.split("-", 1))
    server = JanusServer(args.run_dir, host=args.host or configured.hostname or "127.0.0.1",
                         port=args.port or configured.port, rtp_port_range=(low, high),
                         ice_servers=json.loads(args.ice_servers), public_ip=args.public_ip,
                         api_secret=os.environ.get("JANUS_API_SECRET") or None,
                         admin_key=os.environ.get("JANUS_ADMIN_KEY") or None)
    env_file = server.run_dir / "janus.env"
    if args.write_config:
        server.write_config()
        _write_env(env_file, server)
        print(" ".join(server.command()), flush=True)
        return 0
    server.start()
    _write_env(env_file, server)
    print(f"janus running at {server.url} (pid {server.proc.pid}); portal settings in {env_file}", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping and server.running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    code = 0 if server.running() else 1
    server.stop()
    return code


def _write_env(path: Path, server: JanusServer) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(env_lines(server))
    os.chmod(path, 0o600)


if __name__ == "__main__":
    raise SystemExit(main())
