package bus

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/ratelog"
)

// The node's two connections to its NATS. History reads go over their own
// (ReadConn): a read pours a stream's stored messages into the connection
// that asked, and the server closes a connection whose unread answers pile
// past its pending limit (64 MiB by default) as a slow consumer. Apart, a
// reader, however slow or large, cannot hold back or break the publishes,
// subscriptions and session writes of the node's own connection.
const (
	nodeConnName = "sockbus-node"
	readConnName = "sockbus-reads"
)

// reconnectWait is the pause between reconnect attempts to the embedded
// server: in-process, nothing but the server itself can be in the way.
const reconnectWait = 100 * time.Millisecond

// DownGrace is how long the node's connection may stay lost before Alive
// reports the node dead (so a supervisor restarts it): a reconnect to the
// embedded server takes milliseconds, to an external one a few seconds.
const DownGrace = 10 * time.Second

// connState follows the node's connection for Alive and the metrics.
type connState struct {
	closing     atomic.Bool   // Close began: losses are expected
	disconnects atomic.Uint64 // either connection lost
	downSince   atomic.Int64  // unix nanos the node's connection was lost; 0: connected
	dials       atomic.Uint64 // connections the node's connection opened (connGen)
	warn        atomic.Pointer[ratelog.Logger]
}

func (b *Bus) connWarn() *ratelog.Logger {
	if w := b.conn.warn.Load(); w != nil {
		return w
	}
	b.conn.warn.CompareAndSwap(nil, ratelog.New(b.log, 0))
	return b.conn.warn.Load()
}

// disconnected runs when either connection is lost; nats.go reconnects
// it by itself (MaxReconnects -1) and resubscribes every subscription.
func (b *Bus) disconnected(nc *nats.Conn, name string, err error) {
	// Not closeMu: Close holds it while it waits for the connection's
	// callbacks, this one among them.
	if b.conn.closing.Load() {
		return
	}
	if nc.IsClosed() {
		b.log.Error("bus connection closed for good: /healthz fails from now on", "conn", name, "err", nc.LastError())
		return
	}
	b.conn.disconnects.Add(1)
	if name == nodeConnName {
		b.conn.downSince.CompareAndSwap(0, time.Now().UnixNano())
	}
	b.connWarn().Warn("bus connection lost, reconnecting", "conn", name, "err", err)
}

func (b *Bus) reconnected(name string) {
	if name == nodeConnName {
		b.conn.downSince.Store(0)
	}
	b.log.Info("bus connection back", "conn", name)
}

// Disconnects counts the times one of the node's connections to its NATS
// was lost since Start (for the metrics).
func (b *Bus) Disconnects() uint64 { return b.conn.disconnects.Load() }

// errClosedConn is a node connection nats.go gave up on: it never comes back.
var errClosedConn = errors.New("bus: the node's NATS connection is closed")

// Alive reports whether the node still has its bus, or may get it back:
// an error once its connection is closed for good, or has been lost for
// longer than DownGrace. /healthz answers 503 with it.
func (b *Bus) Alive() error {
	if b.conn.closing.Load() || b.nc == nil {
		return nil // shutting down: the caller knows
	}
	if b.nc.Status() == nats.CLOSED {
		return errClosedConn
	}
	if since := b.conn.downSince.Load(); since != 0 {
		if d := time.Since(time.Unix(0, since)); d > DownGrace {
			return fmt.Errorf("bus: the node's NATS connection has been lost for %v", d.Round(time.Second))
		}
	}
	return nil
}

// ReadConn is the connection history reads go over (package replay), apart
// from the node's own connection (see readConnName).
func (b *Bus) ReadConn() *nats.Conn { return b.rc }

// connGen changes whenever the node's connection opens a new connection to
// its NATS: a publish sent under another value went out on a connection
// that is gone, and may have been lost with it (order.go). nats.go dials
// before anything can be published on the new connection; one atomic load.
func (b *Bus) connGen() uint64 { return b.conn.dials.Load() }

// inProcessDials counts the node connection's connections to the embedded
// server (connGen).
type inProcessDials struct {
	ns    *server.Server
	dials *atomic.Uint64
}

func (d inProcessDials) InProcessConn() (net.Conn, error) {
	d.dials.Add(1)
	return d.ns.InProcessConn()
}

// countDials is ns as the in-process server of the connection name.
func (b *Bus) countDials(name string, ns *server.Server) nats.InProcessConnProvider {
	if name != nodeConnName {
		return ns
	}
	return inProcessDials{ns: ns, dials: &b.conn.dials}
}

// dialer is nats.go's default dialer for an external NATS, counting the
// node connection's connections (connGen). nats.go keeps its own dial
// logic (timeout per resolved address, TLS) with a *net.Dialer only.
func (b *Bus) dialer(name string, timeout time.Duration) nats.Option {
	d := &net.Dialer{Timeout: timeout}
	if name == nodeConnName {
		d.Control = func(string, string, syscall.RawConn) error {
			b.conn.dials.Add(1)
			return nil
		}
	}
	return nats.Dialer(d) //nolint:staticcheck // see above
}
