package wsedge

import (
	"errors"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// CloseCode is a WebSocket close status code sockbus sends, with a fixed
// meaning for whether the client should reconnect.
type CloseCode uint16

// The close codes sockbus sends on plain WebSocket connections. Socket.IO
// sessions over WebSocket end with a close too (1008 for a slow consumer,
// package engine) but carry their other endings as Socket.IO disconnect
// reasons (package socketio).
const (
	// CloseNormal (1000): the client asked to close. Reconnect if you want.
	CloseNormal CloseCode = 1000
	// CloseGoingAway (1001): the server is shutting down (reason "server
	// shutting down"), or heard nothing from the client for PingInterval +
	// PingTimeout (reason "ping timeout"). Reconnect, to this or another
	// node; with ?history=N nothing is missed.
	CloseGoingAway CloseCode = 1001
	// CloseProtocolError (1002): the client broke the WebSocket protocol. Fix the client.
	CloseProtocolError CloseCode = 1002
	// CloseInvalidPayload (1007): a text frame was not valid UTF-8. Do not resend it.
	CloseInvalidPayload CloseCode = 1007
	// CloseSlowConsumer (1008, policy violation): the client did not read
	// fast enough and its bounded queue overflowed. Reconnect and read faster;
	// with ?history=N nothing is missed.
	CloseSlowConsumer CloseCode = 1008
	// CloseMessageTooBig (1009): a frame passed --max-message-bytes. Do not resend it.
	CloseMessageTooBig CloseCode = 1009
	// CloseInternalError (1011): the server could not store or route a message. Reconnect later.
	CloseInternalError CloseCode = 1011
	// CloseTokenExpired (4001): the connection's token (or grant) passed
	// its expiry (ReasonTokenExpired). Reconnect with a fresh token.
	CloseTokenExpired CloseCode = 4001
	// CloseRateLimited (4029): the client sent over its rate, or its
	// address over the per-address budget (ReasonRateLimited). Reconnect
	// later and send slower.
	CloseRateLimited CloseCode = 4029
)

// Reason strings sent with the codes above.
const (
	ReasonShutdown     = "server shutting down"
	ReasonSlowConsumer = "slow consumer"
	ReasonBusError     = "bus unavailable"
	ReasonPingTimeout  = wsconn.IdleCloseReason
	ReasonHistoryError = "history unavailable"
	// ReasonTokenExpired: the socket's token (or grant) passed its expiry.
	// Socket.IO clients get a DISCONNECT for the namespace ("io server
	// disconnect"); plain WebSocket clients get close code 4001.
	ReasonTokenExpired = "token expired"
	// ReasonRateLimited ends a connection that sent events over its rate
	// without asking for acks (plain WebSocket: close code 4029).
	ReasonRateLimited = "rate limit exceeded"
)

// CloseWriteTimeout is how long a close frame waits for a client that
// stopped reading (its socket buffers full) to take it: a client that
// resumes within it reads what was sent, then the code and reason.
const CloseWriteTimeout = 10 * time.Second

// CloseStatus returns the close code carried by err (a close the peer
// sent, as gws reports it), or -1 when err is not a WebSocket close.
func CloseStatus(err error) int {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code)
	}
	return -1
}

// Cause is the metrics reason of a close the server sends with code c.
func (c CloseCode) Cause() metrics.Reason {
	switch c {
	case CloseGoingAway:
		return metrics.ReasonShutdown
	case CloseSlowConsumer:
		return metrics.ReasonSlowConsumer
	case CloseInternalError:
		return metrics.ReasonBusError
	case CloseMessageTooBig:
		return metrics.ReasonOversize
	case CloseInvalidPayload:
		return metrics.ReasonBadUTF8
	case CloseTokenExpired:
		return metrics.ReasonAuth
	case CloseRateLimited:
		return metrics.ReasonRateLimit
	}
	return metrics.ReasonOther
}
