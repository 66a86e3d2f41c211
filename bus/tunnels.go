package bus

import (
	"context"
	"net"

	"github.com/sockbus/sockbus/bus/tunnel"
)

// ListenTunnel accepts the tunnels other nodes open to node (DialTunnel):
// the Engine.IO requests they forward to the node holding a session. node
// must be a plain token (IsPlain), the same the dialling nodes use.
func (b *Bus) ListenTunnel(node string, cfg tunnel.Config) (*tunnel.Listener, error) {
	if !IsPlain(node) {
		return nil, ErrBadToken
	}
	return tunnel.Listen(b.nc, forwardPrefix+node, cfg)
}

// DialTunnel opens a tunnel to node's ListenTunnel on behalf of client (its
// address, which the listener sees as the conn's remote address). It fails
// with tunnel.ErrNoListener when no node listens as node, and
// tunnel.ErrLimited when the listener refuses client.
func (b *Bus) DialTunnel(ctx context.Context, node, client string) (net.Conn, error) {
	if !IsPlain(node) {
		return nil, ErrBadToken
	}
	return tunnel.Dial(ctx, b.nc, forwardPrefix+node, client, tunnel.Config{})
}
