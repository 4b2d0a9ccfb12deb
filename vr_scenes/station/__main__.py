"""``python -m vr_scenes.station``: see ``vr_scenes.station.cli``."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
