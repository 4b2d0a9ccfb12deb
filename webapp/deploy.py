"""Filling deploy/nginx.conf.template from the portal's configuration."""
from __future__ import annotations

from pathlib import Path

from webapp.config import ROOT


def nginx_config(config, *, listen: str, portal: str, run_dir: Path) -> str:
    """Replace the ${NAME} placeholders (nginx's own $variables are left alone)."""
    text = (ROOT / "deploy" / "nginx.conf.template").read_text()
    values = {"LISTEN": listen, "PORTAL": portal, "RUN_DIR": str(Path(run_dir).resolve()),
              "MEDIA_ROOT": str(Path(config["MEDIA_ROOT"]).resolve()), "SIGNING_KEY": config["MEDIA_SIGNING_KEY"],
              "UPLOAD_MAX_BYTES": str(config["UPLOAD_MAX_BYTES"])}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    if "${" in text:
        raise ValueError("unfilled placeholder in deploy/nginx.conf.template")
    return text
