package socketio

import (
	"strings"

	"github.com/sockbus/sockbus/wsedge"
)

// ServerEventPrefix starts the names of the events a client sends to the
// server itself (sockbus:refresh, sockbus:join, ...). Such an event is
// answered here and goes nowhere else: it is not dispatched to the
// socket's handlers, not relayed to other sockets, not forwarded to
// sockbus.in, whatever its name; one the server does not know gets the
// error ack ErrAckUnknownServerEvent.
const ServerEventPrefix = "sockbus:"

// ErrAckUnknownServerEvent answers a sockbus: event the server does not know.
const ErrAckUnknownServerEvent = "unknown sockbus event"

// isServerEvent reports whether a client event is for the server itself.
func isServerEvent(name string) bool { return strings.HasPrefix(name, ServerEventPrefix) }

// serverEvent is the one inbound dispatch of the server's own events; it
// runs on the connection's goroutine, after the event was counted against
// the connection's budget. A handler that may block (asks a NATS hook)
// answers from a goroutine of its own.
func (s *Socket) serverEvent(e *Event) {
	switch e.Name {
	case wsedge.RefreshEvent:
		s.refresh(e)
	case JoinEvent:
		s.clientJoin(e)
	case LeaveEvent:
		s.clientLeave(e)
	case ToEvent:
		s.clientTo(e)
	case PresenceEvent:
		s.clientPresence(e)
	default:
		_ = e.AckError(ErrAckUnknownServerEvent)
	}
}
