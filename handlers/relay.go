package handlers

import (
	"encoding/json"
	"log/slog"

	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// AdminNamespace is the admin UI's namespace (NewAdmin's default). Relay
// never serves it, so on a node without the admin UI it is refused
// ("Invalid namespace"), and clients can neither read nor forge admin
// traffic there.
const AdminNamespace = "/admin"

// Relay makes srv the binary's default app: every namespace but
// AdminNamespace is accepted;
// every event a client emits goes to every other socket of its namespace,
// on every node (socket.broadcast.emit); a client that asks for an ack gets
// it once JetStream stored the event, unless a NATS handler subscribed to
// the event's sockbus.in subject answers it instead.
func Relay(srv *socketio.Server, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	warn := ratelog.New(log, 0) // failures a flood of events could repeat
	relay := func(s *socketio.Socket) {
		s.OnAny(func(e *socketio.Event) {
			var onStored func(error)
			if e.WantsAck() {
				onStored = func(err error) {
					if err != nil {
						warn.Warn("event not stored", "event", e.Name, "err", err)
					}
					e.AckStored(err) // unless a NATS handler answers it
				}
			}
			if err := s.Broadcast().EmitRaw(e.Name, e.Args, e.Attachments, onStored); err != nil {
				warn.Warn("relay emit failed", "event", e.Name, "err", err)
				_ = e.AckError(socketio.ErrAckNotDelivered) // a no-op when acked already or no ack asked
			}
		})
	}
	srv.Of("/").OnConnection(relay)
	srv.OfFunc(func(name string, _ json.RawMessage) bool { return name != AdminNamespace }).OnConnection(relay)
}
