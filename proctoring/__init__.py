"""Presence checks: when to check a learner, and (later) frame analysis. Pure code, no Flask."""
