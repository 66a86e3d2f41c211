#!/usr/bin/env bash
# Benchmarks sockbus against socket.io 4.8 (Node) and a bare gws relay, one server at a time on
# this machine's loopback, and prints one table with ratios (see bench/README.md). The cluster
# scenario runs three nodes of each (socket.io with the redis-streams adapter on redis-server).
#
#   bash bench/run.sh --quick      smoke mode: small and short (well under 2 minutes)
#   bash bench/run.sh              full mode: 1,000 receivers, 10,000 connections, 3 rounds
#   bash bench/run.sh --profile    sockbus only, built with net/http/pprof, CPU profiles saved
#   extra arguments go to `loader suite` (e.g. --scenarios fanout,acks --rounds 1)
#
# Builds sockbus (the repository's main package), bench/gwsrelay and bench/loader into a
# temporary folder, installs socket.io from bench/noderelay/package-lock.json (npm ci) there,
# then runs every scenario against the three servers. The table goes to stdout and to
# bench/out/<date>-<mode>/table.md with results.jsonl and the servers' logs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=full
profile=0
extra=()
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --profile) profile=1 ;;
    *) extra+=("$arg") ;;
  esac
done

work="$(mktemp -d -t sockbus-bench.XXXXXX)"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
suffix="$mode"
[[ $profile == 1 ]] && suffix="profile"
out="${BENCH_OUT:-$root/bench/out/$stamp-$suffix}"
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

command -v node >/dev/null || { echo "bench: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "bench: npm is required" >&2; exit 1; }

echo "bench: building into $work" >&2
cd "$root"
go build -o "$work/gwsrelay" ./bench/gwsrelay
go build -o "$work/loader" ./bench/loader
if [[ $profile == 1 ]]; then
  # Add bench/profile/pprof.go.in to sockbus's main package for this build only.
  printf '{"Replace":{"%s/zz_bench_pprof.go":"%s/bench/profile/pprof.go.in"}}\n' "$root" "$root" >"$work/overlay.json"
  go build -overlay "$work/overlay.json" -o "$work/sockbus" .
else
  go build -o "$work/sockbus" .
fi

echo "bench: installing socket.io into $work/node (npm ci)" >&2
mkdir -p "$work/node"
cp "$root/bench/noderelay/package.json" "$root/bench/noderelay/package-lock.json" "$root/bench/noderelay/relay.js" "$work/node/"
(cd "$work/node" && npm ci --no-audit --no-fund --loglevel=error >&2)

sio="$(cd "$work/node" && node -p "require('./node_modules/socket.io/package.json').version")"
rev="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
versions="$(go env GOVERSION), node $(node --version), socket.io $sio, gws v1.8.9, sockbus $rev"
# The cluster scenario's socket.io side: @socket.io/redis-streams-adapter on Debian's redis-server.
rsa="$(cd "$work/node" && node -p "require('./node_modules/@socket.io/redis-streams-adapter/package.json').version")"
if command -v redis-server >/dev/null; then
  versions+=", redis-streams-adapter $rsa, $(redis-server --version | grep -o 'v=[0-9.]*' | sed 's/v=/redis-server /')"
else
  echo "bench: redis-server not found (apt-get install redis-server): the cluster scenario runs without socket.io" >&2
fi

args=(--sockbus "$work/sockbus" --gwsrelay "$work/gwsrelay" --node-dir "$work/node" --out "$out"
  --command "bash bench/run.sh $*" --versions "$versions")
[[ $mode == quick ]] && args+=(--quick)
if [[ $profile == 1 ]]; then
  args+=(--kinds sockbus --rounds 1 --pprof-addr auto)
fi

status=0
"$work/loader" suite "${args[@]}" ${extra[@]+"${extra[@]}"} || status=$?

if [[ $profile == 1 ]]; then
  for p in "$out"/*.cpu.pprof; do
    [[ -s "$p" ]] || continue
    go tool pprof -top -nodecount=45 "$work/sockbus" "$p" >"${p%.pprof}.top.txt" 2>/dev/null || true
    go tool pprof -top -cum -nodecount=45 "$work/sockbus" "$p" >"${p%.pprof}.cum.txt" 2>/dev/null || true
  done
  for p in "$out"/*.heap.pprof; do
    [[ -s "$p" ]] || continue
    go tool pprof -top -sample_index=inuse_space -nodecount=30 "$work/sockbus" "$p" >"${p%.pprof}.top.txt" 2>/dev/null || true
  done
  cp "$work/sockbus" "$out/sockbus-pprof.bin" # pprof needs the binary for symbols
  echo "bench: profiles in $out" >&2
fi
echo "bench: table in $out/table.md" >&2
exit "$status"
