"""What needs attention (issue 14): the officer's page of supervisees behind this month, open
flags by age, upcoming conferences, pending VR assignments and the study reminders sent, and the
reminder job with its pluggable channel (SMS gateway).

Other domains use only the names exported here (DESIGN.md), loaded on first use."""
from webapp.core.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "send_study_reminders": "reminders",
    "register_channel": "channels",
})
