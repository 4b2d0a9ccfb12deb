"""Fuzzing the live portal: schemathesis on the JSON APIs, Hypothesis on every Socket.IO event."""
