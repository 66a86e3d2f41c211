package socketio

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/bus/tunnel"
	"github.com/sockbus/sockbus/wsedge/engine"
)

// nodeNameLen is the length of a node name in a session id: 66 bits of a
// hash of the node's NATS server id, base64url.
const nodeNameLen = 11

// busForwarder is engine.Forwarder over the bus: a tunnel (bus.DialTunnel)
// per forwarded request.
type busForwarder struct {
	b    *bus.Bus
	node string
	ln   net.Listener
}

// newBusForwarder listens for the requests other nodes forward to this one.
// With limits, each forwarded conn counts as a connection from its original
// client's address while it is open, as if the client had come directly.
func newBusForwarder(b *bus.Bus, limits engine.Limits) (*busForwarder, error) {
	sum := sha256.Sum256([]byte(b.NodeID()))
	node := base64.RawURLEncoding.EncodeToString(sum[:])[:nodeNameLen]
	var cfg tunnel.Config
	if limits != nil {
		cfg.Admit = func(from string) (func(), bool) { return limits.Admit(hostOf(from)) }
	}
	ln, err := b.ListenTunnel(node, cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to listen for forwarded requests: %w", err)
	}
	return &busForwarder{b: b, node: node, ln: ln}, nil
}

func (f *busForwarder) Node() string           { return f.node }
func (f *busForwarder) Listener() net.Listener { return f.ln }

// Dial opens a tunnel to node; a name that no node could have is refused
// before it reaches a subject.
func (f *busForwarder) Dial(ctx context.Context, node, client string) (net.Conn, error) {
	if !validNodeName(node) {
		return nil, engine.ErrUnknownNode
	}
	c, err := f.b.DialTunnel(ctx, node, client)
	switch {
	case errors.Is(err, tunnel.ErrNoListener):
		return nil, fmt.Errorf("%w: %s", engine.ErrUnknownNode, node)
	case errors.Is(err, tunnel.ErrLimited):
		return nil, fmt.Errorf("%w: %s", engine.ErrOwnerFull, node)
	}
	return c, err
}

// hostOf is the host part of a "host:port" address.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func validNodeName(s string) bool {
	if len(s) != nodeNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
