#!/usr/bin/env bash
# Validates the JavaScript suite (test/node/) against the reference relay: a Node socket.io 4.8
# server playing sockbus's default app (test/reference/relay.js).
#
#   bash test/reference/run-against-reference.sh [extra node --test arguments]
#
# Installs both lockfiles (npm ci), starts relay.js on a random loopback port, runs
# `node --test test/node/` with SOCKBUS_URL pointing at it, stops the relay, and exits with the
# test runner's status. The browser test needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH):
# `apt-get install -y chromium`; without it that test is skipped, or fails when CI is set.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ref="$root/test/reference"
cd "$root"

(cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$ref" && npm ci --no-audit --no-fund --loglevel=error)

log="$(mktemp -t sockbus-relay.XXXXXX)"
relay_pid=""
cleanup() {
  if [[ -n "$relay_pid" ]] && kill -0 "$relay_pid" 2>/dev/null; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT

PORT=0 node "$ref/relay.js" >"$log" 2>&1 &
relay_pid=$!

# Wait (bounded) for the "listening <url>" line.
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^listening //p' "$log" | head -n1)"
  [[ -n "$url" ]] && break
  if ! kill -0 "$relay_pid" 2>/dev/null; then
    echo "reference relay exited during startup:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$url" ]]; then
  echo "reference relay did not print its URL within 10 s:" >&2
  cat "$log" >&2
  exit 1
fi
echo "reference relay (socket.io $(node -p "require('$ref/node_modules/socket.io/package.json').version")) at $url"

status=0
SOCKBUS_URL="$url" node --test "$@" test/node/ || status=$?

if ! kill -0 "$relay_pid" 2>/dev/null; then
  echo "the reference relay died during the tests:" >&2
  cat "$log" >&2
  status=1
fi
exit "$status"
