"""Filling deploy/nginx.conf.template from the portal's configuration."""
from __future__ import annotations

from pathlib import Path

from webapp.config import ROOT


def nginx_config(config, *, listen: str, portal: str | list[str] | tuple[str, ...], run_dir: Path,
                 tls_cert: Path | None = None, tls_key: Path | None = None, redirect_listen: str | None = None,
                 https_port: int = 443, server_name: str = "_", worker_user: str | None = None,
                 acme_root: Path | None = None) -> str:
    """Replace the ${NAME} placeholders (nginx's own $variables are left alone).

    `portal`: one web process ("127.0.0.1:5000") or several (an upstream, round-robin).
    With `tls_cert` and `tls_key`, `listen` is a TLS listener; with `redirect_listen` too, plain
    HTTP there answers 301 to https (on `https_port`), except certbot's ACME challenges under
    `acme_root` (default RUN_DIR/acme). `worker_user`: the user nginx's workers run as (when
    nginx starts as root; default: nginx's own default, or `-g "user ...;"`)."""
    text = (ROOT / "deploy" / "nginx.conf.template").read_text()
    portals = [portal] if isinstance(portal, str) else list(portal)
    if not portals:
        raise ValueError("nginx_config: no web process to proxy to")
    for address in (listen, *portals, *([redirect_listen] if redirect_listen else [])):
        _check_token(address)
    _check_token(server_name)
    run_dir = Path(run_dir).resolve()
    tls = ""
    if tls_cert or tls_key:
        if not (tls_cert and tls_key):
            raise ValueError("nginx_config: TLS needs both a certificate and its key")
        listen = f"{listen} ssl"
        tls = (f"        ssl_certificate {_path_token(tls_cert)};\n"
               f"        ssl_certificate_key {_path_token(tls_key)};\n"
               "        ssl_protocols TLSv1.2 TLSv1.3;\n"
               "        ssl_session_cache shared:portal_tls:10m;\n"
               "        ssl_session_timeout 1h;\n")
    redirect = ""
    if redirect_listen:
        if not tls:
            raise ValueError("nginx_config: an HTTP to HTTPS redirect needs TLS (tls_cert, tls_key)")
        host = "$host" if server_name == "_" else server_name
        port = "" if int(https_port) == 443 else f":{int(https_port)}"
        acme = _path_token(acme_root or run_dir / "acme")
        redirect = ("    server {\n"
                    f"        listen {redirect_listen};\n"
                    f"        server_name {server_name};\n"
                    "        server_tokens off;\n"
                    f"        location /.well-known/acme-challenge/ {{ root {acme}; }}\n"
                    f"        location / {{ return 301 https://{host}{port}$request_uri; }}\n"
                    "    }\n")
    values = {"LISTEN": listen, "RUN_DIR": str(run_dir),
              # a web process that refuses a connection is skipped for 5 s (the request goes to the next)
              "UPSTREAM_SERVERS": "".join(f"        server {address} max_fails=1 fail_timeout=5s;\n"
                                          for address in portals),
              "SERVER_NAME": server_name, "TLS": tls, "REDIRECT_SERVER": redirect,
              "WORKER_USER": f"user {_check_token(worker_user)};\n" if worker_user else "",
              "MEDIA_ROOT": str(Path(config["MEDIA_ROOT"]).resolve()), "SIGNING_KEY": config["MEDIA_SIGNING_KEY"],
              "UPLOAD_MAX_BYTES": str(config["UPLOAD_MAX_BYTES"])}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    if "${" in text:
        raise ValueError("unfilled placeholder in deploy/nginx.conf.template")
    return text


def turnserver_config(*, secret: str, realm: str, port: int, tls_port: int, cert: Path, key: Path,
                      run_dir: Path, listening_ips: list[str] | tuple[str, ...] = (),
                      relay_ips: list[str] | tuple[str, ...] = (), external_ip: str | None = None,
                      relay_ports: tuple[int, int] = (49152, 65535),
                      allowed_peers: list[str] | tuple[str, ...] = ()) -> str:
    """Fill deploy/turnserver.conf.template (coturn, `turnserver -c FILE`): time-limited REST
    credentials signed with `secret` (webapp.core.turn issues them), a TLS listener with the same
    certificate as nginx, relays only to public peers (plus `allowed_peers`: addresses or ranges
    "a.b.c.d-e.f.g.h", e.g. the media servers' own private address)."""
    if not secret or len(secret) < 16:
        raise ValueError("turnserver_config: the shared secret must be at least 16 characters")
    for value in (secret, realm, *listening_ips, *relay_ips, *allowed_peers, *([external_ip] if external_ip else [])):
        _check_token(value)
    low, high = (int(p) for p in relay_ports)
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"turnserver_config: bad relay port range {low}-{high}")
    run_dir = Path(run_dir).resolve()
    values = {"SECRET": secret, "REALM": realm, "PORT": str(int(port)), "TLS_PORT": str(int(tls_port)),
              "CERT": _path_token(cert), "KEY": _path_token(key), "RUN_DIR": str(run_dir),
              "RELAY_MIN": str(low), "RELAY_MAX": str(high),
              "LISTENING_IPS": "".join(f"listening-ip={ip}\n" for ip in listening_ips),
              "RELAY_IPS": "".join(f"relay-ip={ip}\n" for ip in relay_ips),
              "EXTERNAL_IP": f"external-ip={external_ip}\n" if external_ip else "",
              "ALLOWED_PEERS": "".join(f"allowed-peer-ip={peer}\n" for peer in allowed_peers)}
    text = (ROOT / "deploy" / "turnserver.conf.template").read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    if "${" in text:
        raise ValueError("unfilled placeholder in deploy/turnserver.conf.template")
    return text


def _check_token(value: str | None) -> str | None:
    """A value put into a config file as one word: no spaces, quotes, semicolons, braces or newlines."""
    if value is not None and (not value or any(c.isspace() or c in "\"';{}#$\\" for c in value)):
        raise ValueError(f"not allowed in a generated config: {value!r}")
    return value


def _path_token(path) -> str:
    return _check_token(str(Path(path).resolve()))
