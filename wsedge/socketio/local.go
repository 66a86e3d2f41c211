package socketio

import (
	"errors"
	"strings"

	"github.com/sockbus/sockbus/bus"
)

// ErrLocalNamespace refuses what a node-local namespace cannot do: reach
// other nodes (operations, broadcasts with acks).
var ErrLocalNamespace = errors.New("wsedge: not supported on a node-local namespace")

// OfLocal returns the namespace called name, created node-local: it never
// touches the bus. Emits reach only its sockets on this node (delivered in
// the caller's goroutine, never stored), its clients' events go only to
// its handlers (not to sockbus.in), and nothing published on the bus, by
// another node or a NATS client, reaches its sockets. For a namespace
// whose traffic must not be visible or forgeable on sockbus.> (the admin
// UI's). Call it before clients connect; a name already registered by Of
// keeps its kind.
func (s *Server) OfLocal(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.static[name]; n != nil {
		return n
	}
	n := newNamespace(s, name, nil)
	n.local = true
	n.log = bus.Log{} // no history, no recovery
	s.static[name] = n
	return n
}

// emitLocal delivers an emit's message to this node's sockets only.
func (o Operator) emitLocal(event string, args []byte, attachments [][]byte, onStored func(error)) error {
	m, err := o.message(event, args, attachments)
	if err == nil {
		m.Subject = bus.Live(m.Subject)
		o.ns.deliver(m)
	}
	if onStored != nil {
		onStored(err)
	}
	return err
}
