#!/usr/bin/env bash
# Three sockbus nodes in one NATS cluster on this machine (every stream and
# the session bucket on all three: --replicas 3) and a round-robin proxy in
# front. Ctrl-C (or SIGTERM) stops everything. Run from anywhere:
#
#   examples/cluster/run.sh            # then open http://127.0.0.1:3000
#
# Environment (defaults in brackets):
#   HOST [127.0.0.1]           the one address everything listens on
#   PROXY_PORT [3000]          where clients connect
#   HTTP_PORTS [3001 3002 3003]  the nodes' --addr ports
#   ROUTE_PORTS [6222 6223 6224] the nodes' --cluster-addr ports
#   DATA [<repo>/data/cluster] data dirs (node1..3), logs and the built binaries
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
host=${HOST:-127.0.0.1}
proxy_port=${PROXY_PORT:-3000}
read -r -a http_ports <<<"${HTTP_PORTS:-3001 3002 3003}"
read -r -a route_ports <<<"${ROUTE_PORTS:-6222 6223 6224}"
data=${DATA:-$repo/data/cluster}
if [ "${#http_ports[@]}" -ne 3 ] || [ "${#route_ports[@]}" -ne 3 ]; then
	echo "run.sh: HTTP_PORTS and ROUTE_PORTS take three ports each" >&2
	exit 2
fi

mkdir -p "$data/bin"
echo "building sockbus and the proxy into $data/bin"
(cd "$repo" && go build -o "$data/bin/sockbus" . && go build -o "$data/bin/proxy" ./examples/cluster/proxy)

routes=""
for p in "${route_ports[@]}"; do
	routes+="${routes:+,}nats-route://$host:$p"
done

pids=()
stop() {
	trap - EXIT INT TERM
	echo "stopping"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}
trap stop EXIT INT TERM

backends=""
for i in 0 1 2; do
	n=$((i + 1))
	# --client-dir: the nodes run from $repo's socket.io-client bundle.
	(cd "$repo" && exec "$data/bin/sockbus" \
		--addr "$host:${http_ports[$i]}" \
		--data-dir "$data/node$n" \
		--cluster-name example \
		--cluster-addr "$host:${route_ports[$i]}" \
		--routes "$routes" \
		--node-name "node$n" \
		--replicas 3) >"$data/node$n.log" 2>&1 &
	pids+=($!)
	backends+="${backends:+,}http://$host:${http_ports[$i]}"
	echo "node$n: http://$host:${http_ports[$i]} (routes on $host:${route_ports[$i]}, data $data/node$n, log $data/node$n.log)"
done

# A cluster comes up together: each node's /readyz turns 200 once the
# three have elected leaders for every stream.
deadline=$((SECONDS + 90))
for p in "${http_ports[@]}"; do
	until curl -fsS -o /dev/null "http://$host:$p/readyz" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			echo "run.sh: node on port $p not ready after 90 s; see $data/node*.log" >&2
			exit 1
		fi
		sleep 0.2
	done
done
echo "all three nodes ready"

"$data/bin/proxy" --listen "$host:$proxy_port" --backends "$backends" &
pids+=($!)
until curl -fsS -o /dev/null "http://$host:$proxy_port/readyz" 2>/dev/null; do
	if [ $SECONDS -ge $deadline ] || ! kill -0 "${pids[3]}" 2>/dev/null; then
		echo "run.sh: the proxy did not start on $host:$proxy_port" >&2
		exit 1
	fi
	sleep 0.1
done
echo "cluster ready: http://$host:$proxy_port (round-robin over $backends)"
wait "${pids[@]}"
