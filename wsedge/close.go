package wsedge

import (
	"errors"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// CloseCode is a WebSocket close status code sockbus sends, with a fixed
// meaning for whether the client should reconnect.
type CloseCode uint16

// The close codes sockbus sends on plain WebSocket connections.
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
)

// Reason strings sent with the codes above.
const (
	ReasonShutdown     = "server shutting down"
	ReasonSlowConsumer = "slow consumer"
	ReasonBusError     = "bus unavailable"
	ReasonPingTimeout  = wsconn.IdleCloseReason
	ReasonHistoryError = "history unavailable"
)

// CloseWriteTimeout is how long a close frame waits for a client that
// stopped reading (its socket buffers full) to take it: a client that
// resumes within it reads what was sent, then the code and reason.
const CloseWriteTimeout = 10 * time.Second

// CloseStatus returns the close code carried by err, or -1 when err is not
// a WebSocket close.
func CloseStatus(err error) int {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code)
	}
	return -1
}
