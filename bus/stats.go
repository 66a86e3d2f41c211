package bus

import "github.com/nats-io/nats-server/v2/server"

// StoreBytes reports the bytes JetStream keeps on this node's disk (ok is
// false when the server cannot say, e.g. while it shuts down). It asks the
// embedded server's monitoring API: meant for metrics scrapes. On an
// external NATS the node keeps nothing on disk: ok is false.
func (b *Bus) StoreBytes() (uint64, bool) {
	if b.ns == nil {
		return 0, false
	}
	info, err := b.ns.Jsz(&server.JSzOptions{})
	if err != nil || info == nil || info.Disabled {
		return 0, false
	}
	return info.Store, true
}

// ClusterPeers counts the other nodes this node has routes to (a node may
// hold several pooled routes to one peer: each peer counts once). On an
// external NATS the node has no routes: 0.
func (b *Bus) ClusterPeers() int {
	if b.ns == nil {
		return 0
	}
	rz, err := b.ns.Routez(&server.RoutezOptions{})
	if err != nil || rz == nil {
		return 0
	}
	peers := map[string]struct{}{}
	for _, r := range rz.Routes {
		peers[r.RemoteID] = struct{}{}
	}
	return len(peers)
}
