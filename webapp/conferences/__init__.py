"""Conferences: scheduling, the live room, roll calls and attendance.

Other domains use only the names exported here (DESIGN.md), loaded on first use."""
from webapp.core.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "records_of": "attendance_views",
    "media_backend": "live",
    "end_overdue_conferences": "live",
    "send_due_reminders": "reminders",
})
