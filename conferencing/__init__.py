"""Conference rules: who may see and join, the room chain, the floor (hands, mute, spotlight), the lifecycle. Pure Python: no Flask, no SQLAlchemy, no webapp."""
