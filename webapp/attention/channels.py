"""How a study reminder reaches a supervisee who may never log in: a pluggable channel.

A channel is any object with `name` and `send(phone, text) -> SendResult`; `send` may also raise
(the reminder job records a raised exception as a failed reminder and goes on). The registry maps
the name in config `REMINDER_CHANNEL` to a factory taking the app's config:

* ""  (the default): off. The job sends nothing and writes nothing.
* "sms": `SmsGatewayChannel`, a generic HTTP SMS gateway (below).

Another channel (a vendor SDK, a messaging app) is one class and one `register_channel(name,
factory)` call before the scheduler starts. Tests register their own double (tests/ only); no
test reaches the network.

SMS gateway request format (`SmsGatewayChannel`)
------------------------------------------------
One HTTPS request per message:

    POST {SMS_GATEWAY_URL}
    Authorization: Bearer {SMS_GATEWAY_KEY}
    Content-Type: application/json; charset=utf-8

    {"to": "13800138000", "sign": "{SMS_SIGN}", "text": "张三，您好：..."}

`to` is the mainland mobile number as stored (11 digits), `sign` the registered signature (签名)
the gateway puts in front of the text (【...】), `text` the message body in Chinese. The gateway
answers 2xx with a JSON object; `{"ok": true, "id": "<message id>"}` is success (the id is kept
in the reminder row's detail), anything else (a non-2xx status, `"ok": false` with an
`"error"`, no JSON, a timeout after SMS_GATEWAY_TIMEOUT_S) is a failure. A vendor whose API differs
(Aliyun, Tencent Cloud SMS, ...) gets a small relay or a channel class of its own.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol


@dataclass(frozen=True)
class SendResult:
    ok: bool
    detail: str = ""        # a message id on success, a short reason on failure (no personal data)


class ReminderChannel(Protocol):
    name: str

    def send(self, phone: str, text: str) -> SendResult: ...


Factory = Callable[[Mapping], ReminderChannel]


class ChannelConfigError(ValueError):
    pass


class SmsGatewayChannel:
    """A generic HTTP SMS gateway (the request format is in the module's docstring)."""
    name = "sms"

    def __init__(self, url: str, key: str, sign: str, timeout_s: float = 10.0):
        if not url.startswith(("https://", "http://")):
            raise ChannelConfigError("SMS_GATEWAY_URL must be an http(s) URL")
        if not key or not sign:
            raise ChannelConfigError("SMS_GATEWAY_KEY and SMS_SIGN must be set")
        self.url, self.key, self.sign, self.timeout_s = url, key, sign, timeout_s

    @classmethod
    def from_config(cls, config: Mapping) -> "SmsGatewayChannel":
        return cls(config.get("SMS_GATEWAY_URL", ""), config.get("SMS_GATEWAY_KEY", ""), config.get("SMS_SIGN", ""),
                   float(config.get("SMS_GATEWAY_TIMEOUT_S", 10.0)))

    def request(self, phone: str, text: str) -> urllib.request.Request:
        body = json.dumps({"to": phone, "sign": self.sign, "text": text}, ensure_ascii=False).encode("utf-8")
        return urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.key}", "Content-Type": "application/json; charset=utf-8"})

    def send(self, phone: str, text: str) -> SendResult:
        try:
            with urllib.request.urlopen(self.request(phone, text), timeout=self.timeout_s) as response:
                raw = response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            return SendResult(False, f"http {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            return SendResult(False, f"unreachable: {type(exc).__name__}")
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return SendResult(False, "answer is not JSON")
        if isinstance(answer, dict) and answer.get("ok") is True:
            return SendResult(True, str(answer.get("id", ""))[:100])
        error = answer.get("error", "") if isinstance(answer, dict) else ""
        return SendResult(False, f"refused: {str(error)[:100]}")


_REGISTRY: dict[str, Factory] = {"sms": SmsGatewayChannel.from_config}


def register_channel(name: str, factory: Factory) -> None:
    """Make `name` a value of REMINDER_CHANNEL."""
    if not name or len(name) > 20:
        raise ValueError("a channel name has 1 to 20 characters")
    _REGISTRY[name] = factory


def registered() -> list[str]:
    return sorted(_REGISTRY)


def channel_from_config(config: Mapping) -> ReminderChannel | None:
    """The configured channel; None when REMINDER_CHANNEL is empty (off). An unknown name or a
    channel missing its settings raises ChannelConfigError."""
    name = (config.get("REMINDER_CHANNEL") or "").strip()
    if not name:
        return None
    factory = _REGISTRY.get(name)
    if factory is None:
        raise ChannelConfigError(f"REMINDER_CHANNEL={name!r}: not one of {registered()}")
    return factory(config)
