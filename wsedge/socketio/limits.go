package socketio

import (
	"errors"
	"time"
)

// Defaults of the per-connection limits.
const (
	DefaultMaxNamespaces = 128
	// DefaultMaxConnectRefusals: refused CONNECTs that close a connection.
	DefaultMaxConnectRefusals = 16
	DefaultMaxRooms           = 1000
)

// DefaultRecoveryWindow is how long a dropped session stays recoverable
// (Config.RecoveryWindow, --recovery-window).
const DefaultRecoveryWindow = 2 * time.Minute

// ErrTooManyRooms: a Join past Config.MaxRooms.
var ErrTooManyRooms = errors.New("wsedge: too many rooms for one socket")

// allowEvent takes one event (or CONNECT) from the connection's budget and
// from its address's.
func (c *clientConn) allowEvent() bool {
	if !c.events.Allow() {
		return false
	}
	if !c.addr.Allow() {
		c.srv.warn.Warn("socket.io event refused: per-address rate limit", "address", c.session.Handshake().Address)
		return false
	}
	return true
}
