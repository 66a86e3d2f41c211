// Package health answers the two questions an orchestrator asks a node.
//
// Liveness (/healthz): is the process up and serving? 503 while it starts
// (from the moment its port is bound) and while it shuts down, 200 in
// between. A liveness probe restarts a node that fails it, so it must not
// depend on other nodes: a node that lost its cluster is alive, only not
// ready.
//
// Readiness (/readyz): can this node store events now? 200 only while the
// last check (run every Interval, each bounded by Timeout, result cached)
// succeeded; a load balancer uses it to stop sending clients to a node that
// would fail them (no JetStream quorum, bus disconnected).
package health
