"""The compliance blueprint: the unit pages' templates, charts script and vendored ECharts.

The unit page itself is `officer.dashboard` (/officer/, webapp/supervision/views.py), which
checks role and jurisdiction and renders `webapp.compliance.page.unit_page`."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("compliance", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets/compliance")
