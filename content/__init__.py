"""Course data: sample courses and the scripts that build them."""
