"""The Flask portal. `create_app(config)` is the only entry point."""


def create_app(config: dict | None = None):
    from webapp.app import create_app as _create_app
    return _create_app(config)
