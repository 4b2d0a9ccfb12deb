"""The portal over HTTP: the station's only way to it (``/api/vr/v1``, bearer station token; the
contract is docs/vr_station_api.md). Nothing here imports the portal."""
from __future__ import annotations

import base64
from typing import Any

import requests

API = "/api/vr/v1"


class PortalError(Exception):
    """The portal answered with an error (``{"error": code, "message": ...}``)."""

    def __init__(self, status: int, code: str, message: str = "", body: Any = None):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body


class PortalUnreachable(Exception):
    pass


class PortalClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 15.0, session: requests.Session | None = None):
        if not base_url:
            raise ValueError("no portal URL (--portal or VR_PORTAL_URL)")
        if not token:
            raise ValueError("no station token (--token, --token-file, VR_STATION_TOKEN or VR_STATION_TOKEN_FILE)")
        self.base = base_url.rstrip("/") + API
        self.timeout = (min(5.0, timeout_s), timeout_s)
        self.http = session or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def request(self, method: str, path: str, json_body: dict | None = None) -> tuple[int, Any]:
        """(status, parsed JSON body or text). Raises ``requests.RequestException`` when there is no answer."""
        res = self.http.request(method, self.base + path, json=json_body, timeout=self.timeout)
        try:
            body = res.json()
        except ValueError:
            body = {"error": "not_json", "message": res.text[:500]}
        return res.status_code, body

    def call(self, method: str, path: str, json_body: dict | None = None) -> Any:
        try:
            status, body = self.request(method, path, json_body)
        except requests.RequestException as exc:
            raise PortalUnreachable(f"{self.base}{path}: {exc}") from exc
        if status >= 400:
            code = body.get("error", "error") if isinstance(body, dict) else "error"
            message = body.get("message", "") if isinstance(body, dict) else str(body)
            raise PortalError(status, code, message, body)
        return body

    def ping(self) -> dict:
        return self.call("GET", "/ping")

    def assignments(self) -> list[dict]:
        return self.call("GET", "/assignments")["assignments"]

    def checkin_challenge(self) -> dict:
        """A liveness challenge for the next face check-in: nonce, actions with their prompts and
        offsets, fps, duration, limits, expiry."""
        return self.call("POST", "/checkin/challenge", {})

    def checkin_face(self, nonce: str, frames: list[tuple[float, bytes]]) -> dict:
        """The burst filmed for the challenge ``nonce``: [(offset_s, JPEG bytes)] in capture order."""
        return self.call("POST", "/checkin", {
            "method": "face", "nonce": nonce,
            "frames": [{"offset_s": round(float(t), 3), "image_jpeg_b64": base64.b64encode(jpeg).decode()}
                       for t, jpeg in frames]})

    def checkin_assignment(self, assignment_id: int) -> dict:
        return self.call("POST", "/checkin", {"method": "assignment", "assignment_id": int(assignment_id)})

    def post_session(self, payload: dict) -> tuple[int, Any]:
        """For the outbox: (status, body); raises when there is no answer (the session stays queued)."""
        return self.request("POST", "/sessions", payload)
