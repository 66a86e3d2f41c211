package bus

import "errors"

var (
	// ErrNameTooLong reports a client-chosen name over MaxNameLen bytes.
	ErrNameTooLong = errors.New("bus: name too long")
	// ErrBadToken reports a subject token that EncodeToken cannot have produced.
	ErrBadToken = errors.New("bus: malformed name token")
	// ErrAuthRequired reports a NATS listen address off loopback without credentials.
	ErrAuthRequired = errors.New("bus: --nats-user and --nats-password are required for a NATS address that is not loopback")
	// ErrRouteAuthRequired reports a cluster route address off loopback without route credentials.
	ErrRouteAuthRequired = errors.New("bus: --cluster-user and --cluster-password are required for a --cluster-addr that is not loopback")
	// ErrNotReady reports that the embedded server did not become ready in time.
	ErrNotReady = errors.New("bus: embedded NATS server not ready")
)

// ErrHistoryGone reports a replay position the stream no longer holds
// (trimmed by retention, or from the future of a recreated stream).
var ErrHistoryGone = errors.New("bus: history no longer holds that position")
