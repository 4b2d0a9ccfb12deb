"""Course media, the watch ledger and (later) the WebRTC engine. No Flask here."""
