package bus

import (
	"context"
	"errors"
	"net"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus/tunnel"
)

// ListenTunnel accepts the tunnels other nodes open to node (DialTunnel):
// the Engine.IO requests they forward to the node holding a session. node
// must be a plain token (IsPlain), the same the dialling nodes use.
func (b *Bus) ListenTunnel(node string, cfg tunnel.Config) (*tunnel.Listener, error) {
	if !IsPlain(node) {
		return nil, ErrBadToken
	}
	return tunnel.Listen(b.nc, forwardPrefix+node, b.tunnelConfig(cfg))
}

// DialTunnel opens a tunnel to node's ListenTunnel on behalf of client (its
// address, which the listener sees as the conn's remote address). It fails
// with tunnel.ErrNoListener when no node listens as node, and
// tunnel.ErrLimited when the listener refuses client.
func (b *Bus) DialTunnel(ctx context.Context, node, client string) (net.Conn, error) {
	if !IsPlain(node) {
		return nil, ErrBadToken
	}
	return tunnel.Dial(ctx, b.nc, forwardPrefix+node, client, b.tunnelConfig(tunnel.Config{}))
}

// tunnelConfig makes a tunnel's inboxes this package's and its open
// request go through the node's one reply multiplexer.
func (b *Bus) tunnelConfig(cfg tunnel.Config) tunnel.Config {
	cfg.Inbox = NewInbox
	cfg.Request = func(ctx context.Context, m *nats.Msg) (*nats.Msg, error) {
		r, err := b.Request(ctx, fromNATS(m))
		if errors.Is(err, ErrNoResponders) {
			return nil, tunnel.ErrNoListener
		}
		if err != nil {
			return nil, err
		}
		return r.toNATS(), nil
	}
	return cfg
}
