#!/usr/bin/env bash
# Validates the JavaScript suite (test/node/) against the reference relay: a Node socket.io 4.8
# server playing sockbus's default app (test/reference/relay.js).
#
#   bash test/reference/run-against-reference.sh [extra node --test arguments]
#
# Installs both lockfiles (npm ci), then for each recovery mode in REFERENCE_RECOVERY (default
# "off on": sockbus runs with connection state recovery on by default, which appends an offset
# to every event) starts relay.js on a random loopback port, runs `node --test test/node/` with
# SOCKBUS_URL pointing at it, and stops the relay. Exits non-zero if any run failed.
#
# The browser test needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH):
# `apt-get install -y chromium`; without it that test is skipped, or fails when CI is set.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ref="$root/test/reference"
cd "$root"

(cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$ref" && npm ci --no-audit --no-fund --loglevel=error)

log="$(mktemp -t sockbus-relay.XXXXXX)"
relay_pid=""
stop_relay() {
  if [[ -n "$relay_pid" ]] && kill -0 "$relay_pid" 2>/dev/null; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  relay_pid=""
}
trap 'stop_relay; rm -f "$log"' EXIT

# run_suite off|on [node --test args...]
run_suite() {
  local mode="$1"
  shift
  local recovery=0
  [[ "$mode" == on ]] && recovery=1

  RECOVERY="$recovery" PORT=0 node "$ref/relay.js" >"$log" 2>&1 &
  relay_pid=$!

  # Wait (bounded, 10 s) for the "listening <url>" line.
  local url=""
  for _ in $(seq 1 100); do
    url="$(sed -n 's/^listening //p' "$log" | head -n1)"
    [[ -n "$url" ]] && break
    if ! kill -0 "$relay_pid" 2>/dev/null; then
      echo "reference relay exited during startup:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  if [[ -z "$url" ]]; then
    echo "reference relay did not print its URL within 10 s:" >&2
    cat "$log" >&2
    stop_relay
    return 1
  fi
  echo "== reference relay (socket.io $(node -p "require('$ref/node_modules/socket.io/package.json').version"), recovery $mode) at $url"

  local status=0
  # One file at a time: the relay broadcasts to every socket of a namespace, so files running
  # in parallel would see each other's events.
  SOCKBUS_URL="$url" node --test --test-concurrency=1 "$@" test/node/ || status=$?

  if ! kill -0 "$relay_pid" 2>/dev/null; then
    echo "the reference relay died during the tests:" >&2
    cat "$log" >&2
    status=1
  fi
  stop_relay
  echo "== recovery $mode: exit status $status"
  return "$status"
}

overall=0
for mode in ${REFERENCE_RECOVERY:-off on}; do
  run_suite "$mode" "$@" || overall=1
done
exit "$overall"
