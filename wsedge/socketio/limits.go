package socketio

import (
	"encoding/json"
	"errors"
	"time"
)

// Reasons a client event is refused; an event that asked for an ack gets
// [{"error": <reason>}] (docs/socketio.md, "Error acks").
const (
	ErrAckRateLimited  = "rate limit exceeded"
	ErrAckNameTooLong  = "event name longer than 255 bytes"
	ErrAckNotStored    = "event not stored"
	ErrAckNotDelivered = "event not delivered"
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

// AckError answers the client's acknowledgement with one argument,
// {"error": reason}: the shape of every refusal sockbus acks.
func (e *Event) AckError(reason string) error {
	body, _ := json.Marshal([]map[string]string{{"error": reason}})
	return e.AckRaw(body, nil)
}

// ErrTooManyRooms: a Join past Config.MaxRooms.
var ErrTooManyRooms = errors.New("wsedge: too many rooms for one socket")
