"""Deployment: the production stack's launcher (`python -m deploy.stack up`), its PostgreSQL cluster
helper, and the config templates (nginx, coturn, gunicorn, systemd units). README "Production mode"."""
