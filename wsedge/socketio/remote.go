package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sockbus/sockbus/bus"
)

// Operations on sockets wherever they are connected, as socket.io's server
// has them (socketsJoin, socketsLeave, disconnectSockets, fetchSockets).
// Join, leave and disconnect are stored like events, on
// sockbus.io.<ns>.ctl.<op>, so every node applies them in stream order with
// the namespace's events: SocketsJoin("b") then To("b").Emit(...) reaches the
// sockets just joined, and To("b").Emit(...) then SocketsLeave("b") reaches
// them before they leave. Targets are in the Sockbus-Rooms (none: every
// socket) and Sockbus-Except headers. Replays skip them. Fetch is a plain
// NATS request on sockbus.live.io.<ns>.ctl.fetch, not stored (a presence
// list polled every second would otherwise fill the history): it sees the
// operations each node has applied when it arrives. Any NATS client can
// publish these (docs/subjects.md).

// Control operations, the last subject token.
const (
	ctlJoin       = "join"       // body: JSON array of room names
	ctlLeave      = "leave"      // body: JSON array of room names
	ctlDisconnect = "disconnect" // body: {"close": bool}, or empty
	ctlFetch      = "fetch"      // a request: each node replies with a JSON array of RemoteSocket
)

// RemoteSocket describes a socket on any node, as FetchSockets returns it.
type RemoteSocket struct {
	ID      string          `json:"id"`
	Rooms   []string        `json:"rooms"` // its own id first, as Socket.Rooms
	Data    map[string]any  `json:"data,omitempty"`
	Address string          `json:"address"` // the client's address (no proxy headers)
	Auth    json.RawMessage `json:"auth,omitempty"`
	User    string          `json:"user,omitempty"` // the Authorizer's user (Socket.User)
	Node    string          `json:"node,omitempty"` // the node it is connected to (bus.Bus.NodeID)
}

// SocketsJoin makes the targeted sockets, on every node, join rooms.
func (o Operator) SocketsJoin(rooms ...string) error {
	return o.control(ctlJoin, rooms)
}

// SocketsLeave makes the targeted sockets, on every node, leave rooms.
func (o Operator) SocketsLeave(rooms ...string) error {
	return o.control(ctlLeave, rooms)
}

// DisconnectSockets disconnects the targeted sockets on every node; with
// closeConn their whole connections close, as Socket.Disconnect.
func (o Operator) DisconnectSockets(closeConn bool) error {
	return o.control(ctlDisconnect, map[string]bool{"close": closeConn})
}

// FetchSockets lists the targeted sockets of every node. When ctx ends
// before every node with sockets in the namespace answered, it returns
// what came with ErrAckTimeout (or ctx's error when it was cancelled).
func (o Operator) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	m, err := o.controlMsg(o.ns.liveBase, ctlFetch, nil)
	if err != nil {
		return nil, err
	}
	g, err := o.ns.ask(m, true)
	if err != nil || g == nil {
		return nil, err
	}
	defer g.close()
	var out []RemoteSocket
	for range g.nodes {
		r, err := g.next(ctx)
		if err != nil {
			return out, err
		}
		var some []RemoteSocket
		if err := json.Unmarshal(r.Data, &some); err != nil {
			return out, fmt.Errorf("failed to fetch sockets: a node answered %q: %w", r.Data, err)
		}
		out = append(out, some...)
	}
	return out, nil
}

// SocketsJoin makes every socket of the namespace, on every node, join rooms.
func (n *Namespace) SocketsJoin(rooms ...string) error { return Operator{ns: n}.SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(rooms ...string) error {
	return Operator{ns: n}.SocketsLeave(rooms...)
}

// DisconnectSockets disconnects every socket of the namespace.
func (n *Namespace) DisconnectSockets(closeConn bool) error {
	return Operator{ns: n}.DisconnectSockets(closeConn)
}

// FetchSockets lists every socket of the namespace, on every node.
func (n *Namespace) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	return Operator{ns: n}.FetchSockets(ctx)
}

func (o Operator) control(op string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", op, err)
	}
	m, err := o.controlMsg(o.ns.subjBase, op, data)
	if err != nil {
		return err
	}
	if o.stored != nil {
		return o.publishWhenStored(m)
	}
	return o.ns.srv.bus.Publish(m)
}

// controlMsg builds an operation's message under base (stored or live).
func (o Operator) controlMsg(base, op string, data []byte) (*bus.Msg, error) {
	n := o.ns
	if n.match != nil {
		return nil, fmt.Errorf("wsedge: %s on a dynamic namespace parent is not supported; use a child", op)
	}
	if n.local {
		return nil, fmt.Errorf("failed to run %s: %w", op, ErrLocalNamespace)
	}
	subject, err := bus.IOSubject(base, bus.IOAddress{Kind: bus.IOControl, Target: op})
	if err != nil {
		return nil, err
	}
	m := &bus.Msg{Subject: subject, Header: bus.Header{}, Data: data}
	if err := setTokenList(m.Header, HeaderRooms, o.rooms); err != nil {
		return nil, err
	}
	if err := setTokenList(m.Header, HeaderExcept, o.except); err != nil {
		return nil, err
	}
	return m, nil
}

// control applies an operation from the bus to this node's targeted sockets.
// It runs on the namespace's subscription goroutine, in order with events.
func (n *Namespace) control(op string, m *bus.Msg) {
	a := address{kind: bus.IOAll, targets: bus.DecodeTokenList(m.Header.Get(HeaderRooms)), except: bus.DecodeTokenList(m.Header.Get(HeaderExcept))}
	if len(a.targets) > 0 {
		a.kind = bus.IORooms
	}
	targets := a.sockets(n)
	bad := func(err error) { n.srv.log.Debug("dropping socket operation", "subject", m.Subject, "err", err) }
	switch op {
	case ctlJoin, ctlLeave:
		var rooms []string
		if err := json.Unmarshal(m.Data, &rooms); err != nil {
			bad(err)
			return
		}
		for _, s := range targets {
			if op == ctlLeave {
				for _, r := range rooms {
					s.Leave(r)
				}
			} else if err := s.Join(rooms...); err != nil {
				bad(err)
				return
			}
		}
	case ctlDisconnect:
		var p struct {
			Close bool `json:"close"`
		}
		if len(m.Data) > 0 {
			if err := json.Unmarshal(m.Data, &p); err != nil {
				bad(err)
				return
			}
		}
		// In order, like everything on this goroutine: the application's
		// OnDisconnect handlers run here, and must not block.
		for _, s := range targets {
			s.Disconnect(p.Close)
		}
	case ctlFetch:
		reply := m.Reply
		if reply == "" {
			return
		}
		list := make([]RemoteSocket, 0, len(targets))
		for _, s := range targets {
			list = append(list, s.describe())
		}
		data, err := json.Marshal(list)
		if err != nil {
			bad(err)
			return
		}
		_ = n.srv.bus.PublishLive(&bus.Msg{Subject: reply, Data: data})
	default:
		bad(fmt.Errorf("unknown operation %q", op))
	}
}

// describe is the socket as FetchSockets reports it.
func (s *Socket) describe() RemoteSocket {
	r := RemoteSocket{ID: s.id, Rooms: s.Rooms(), Address: s.conn.session.Handshake().Address, User: s.user}
	if b := s.ns.srv.bus; b != nil {
		r.Node = b.NodeID()
	}
	if a := strings.TrimSpace(string(s.auth)); a != "" && a != "null" {
		r.Auth = s.auth
	}
	s.dmu.Lock()
	if len(s.data) > 0 {
		r.Data = make(map[string]any, len(s.data))
		for k, v := range s.data {
			r.Data[k] = v
		}
	}
	s.dmu.Unlock()
	return r
}
