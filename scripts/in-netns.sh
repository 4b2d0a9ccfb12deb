#!/usr/bin/env bash
# Run a command inside a fresh, private network namespace, so test traffic can
# only reach addresses the test run itself created:
#   lo  up with 127.0.0.1/8 and 127.0.0.2/8 (aioice ignores 127.0.0.1)
#   v0  10.231.0.1/24 and v1 10.231.0.2/24, a veth pair, both ends inside the
#       namespace (Chromium gathers no ICE candidates on loopback alone)
# The command runs as the same user, in the same directory, with the same
# environment; the namespace is deleted when it ends. Without root or without
# `ip netns`, it warns on stderr and runs the command directly.
#
#   scripts/in-netns.sh .venv/bin/python -m pytest -q tests/integration
set -uo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

# Already inside one of ours (nested call): nothing to do.
if [ -n "${IN_NETNS:-}" ]; then
  exec "$@"
fi

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
  echo "in-netns.sh: warning: not root or no 'ip netns': running without a private network namespace" >&2
  exec "$@"
fi

ns="testns-$$-${RANDOM}"
cleanup() {
  ip netns delete "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! {
  ip netns add "$ns" &&
  ip -n "$ns" link set lo up &&
  ip -n "$ns" addr add 127.0.0.2/8 dev lo &&
  ip -n "$ns" link add v0 type veth peer name v1 &&
  ip -n "$ns" addr add 10.231.0.1/24 dev v0 &&
  ip -n "$ns" addr add 10.231.0.2/24 dev v1 &&
  ip -n "$ns" link set v0 up &&
  ip -n "$ns" link set v1 up
}; then
  echo "in-netns.sh: could not set up network namespace $ns" >&2
  exit 1
fi

# `ip netns exec` keeps the environment and the working directory. Not exec'd:
# the trap above has to delete the namespace afterwards.
IN_NETNS="$ns" ip netns exec "$ns" "$@"
status=$?
exit "$status"
