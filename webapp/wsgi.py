"""The WSGI entry point of a production web process: `gunicorn -c deploy/gunicorn.conf.py webapp.wsgi:app`.

Configured from the environment (README "Production mode"): a web process holds no media state
(MEDIA_MODE=remote) and runs no scheduler (SCHEDULER_ENABLED=0; `python -m webapp.scheduler`
is the one scheduler process).
"""
from webapp.app import create_app

app = create_app()
