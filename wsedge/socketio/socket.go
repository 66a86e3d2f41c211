package socketio

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// ErrDisconnected is returned when the socket went away before an answer.
var ErrDisconnected = errors.New("wsedge: socket disconnected")

// Disconnect reasons, as socket.io names them.
const (
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonTransportClose            = "transport close"
	ReasonTransportError            = "transport error"
	ReasonPingTimeoutEngine         = "ping timeout"
	ReasonParseError                = "parse error"
	ReasonForcedClose               = "forced close"
	ReasonServerShuttingDown        = "server shutting down"
)

// Handshake is what a socket's client sent when it connected. Time is
// when the namespace CONNECT arrived (as in socket.io), not the Engine.IO
// handshake; Header has Host.
type Handshake struct {
	engine.Handshake
	// Auth is the CONNECT payload (socket.io-client's auth option), `{}` when absent.
	Auth json.RawMessage
}

// Socket is one client's connection to one namespace. Its methods are safe
// for concurrent use; its handlers run on the client connection's
// goroutine, in the order packets arrived, and must not block.
type Socket struct {
	id   string
	pid  string // private session id for recovery ("" when off)
	ns   *Namespace
	conn *clientConn
	// What Handshake returns beyond the engine session's handshake (not
	// copied here: 96 B per socket): the CONNECT payload and time.
	auth json.RawMessage
	at   time.Time
	user string // from the Authorizer's grant; "" when none
	// clientRooms are the grant's patterns of rooms the client may join itself.
	clientRooms []string
	expiry      wsedge.ExpiryTimer // disconnects at the grant's expiry
	start       atomic.Uint64      // oldest stored sequence sent (recovery's floor)

	hold wsedge.LiveHold[[]*outq.Frame] // live events held during a replay
	// replayed is the last stored sequence its replay covered: a live copy
	// of one of those that arrives after the hold's release (the live
	// stream lags the store the replay reads) was sent already.
	replayed atomic.Uint64

	rooms map[string]struct{} // guarded by ns.mu; nil until its first join

	hmu      sync.RWMutex
	handlers map[string][]func(*Event)
	any      []func(*Event)
	onDisc   []func(reason string)

	amu     sync.Mutex
	nextAck int64
	acks    map[int64]ackFunc

	dmu  sync.Mutex
	data map[string]any

	gone atomic.Bool

	// omu orders the Observer's calls about this socket: Connected
	// (announce) before any Joined or Left, none of them after
	// Disconnected, even when an operation from another node races the
	// CONNECT.
	omu       sync.Mutex
	announced bool // Connected ran (or there was no Observer to run it)
	recovered bool // next to announced: one word for both (Socket fits 512 B)

	order bus.Sender // the events it emits are stored in this order

	self atomic.Pointer[selfHeaders] // Broadcast's, built on its first call
}

// ID is the socket's id: random, unique across nodes, not the Engine.IO id.
func (s *Socket) ID() string { return s.id }

// Namespace is the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.ns }

// Recovered reports whether the socket is a recovered session: same id,
// rooms and data, with the events it missed replayed.
func (s *Socket) Recovered() bool { return s.recovered }

// User is who the Authorizer said the client is (a token's sub); "" when
// no Authorizer is configured or it named no one.
func (s *Socket) User() string { return s.user }

// Handshake is what the client sent when connecting.
func (s *Socket) Handshake() Handshake {
	h := Handshake{Handshake: *s.conn.session.Handshake(), Auth: s.auth}
	h.Time = s.at // the CONNECT's, as in socket.io
	return h
}

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool { return !s.gone.Load() }

// On registers a handler for an event.
func (s *Socket) On(event string, h func(*Event)) {
	s.hmu.Lock()
	if s.handlers == nil {
		s.handlers = map[string][]func(*Event){}
	}
	s.handlers[event] = append(s.handlers[event], h)
	s.hmu.Unlock()
}

// OnAny registers a handler for every event.
func (s *Socket) OnAny(h func(*Event)) {
	s.hmu.Lock()
	s.any = append(s.any, h)
	s.hmu.Unlock()
}

// OnDisconnect registers a handler called once when the socket leaves.
func (s *Socket) OnDisconnect(h func(reason string)) {
	s.hmu.Lock()
	s.onDisc = append(s.onDisc, h)
	s.hmu.Unlock()
}

// Set stores a value with the socket.
func (s *Socket) Set(key string, v any) {
	s.dmu.Lock()
	if s.data == nil {
		s.data = map[string]any{}
	}
	s.data[key] = v
	s.dmu.Unlock()
	s.saveSession()
}

// saveSession schedules a write of the socket's recoverable state.
func (s *Socket) saveSession() {
	if w := s.ns.srv.saver; w != nil && s.pid != "" && !s.gone.Load() {
		w.save(s)
	}
}

// Get returns a value stored with Set.
func (s *Socket) Get(key string) (any, bool) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// Emit sends an event to this socket, through the bus (so it is stored and
// recoverable).
func (s *Socket) Emit(event string, args ...any) error {
	return s.ns.To(s.id).Emit(event, args...)
}

// Broadcast targets every other socket of the namespace (and narrows with
// To/Except like any Operator).
func (s *Socket) Broadcast() Operator {
	h := s.self.Load()
	if h == nil {
		h = newSelfHeaders(s.id)
		s.self.Store(h) // a race builds two equal ones: either will do
	}
	return Operator{ns: s.ns, from: s.id, user: s.user, order: &s.order, except: h.except, self: h}
}

// selfHeaders are a socket's broadcasts' header values, built once per
// socket instead of once per event (a client's broadcast leaves out its own
// socket and names it as the sender). The slices are shared by every
// message and never written: Except copies before it appends, and the bus
// only reads header values.
type selfHeaders struct {
	except     []string // the Except list: the socket's id
	exceptHdr  []string // HeaderExcept's value: the id's token
	fromHeader []string // HeaderFrom's value: the id
}

func newSelfHeaders(id string) *selfHeaders {
	h := &selfHeaders{except: []string{id}, fromHeader: []string{id}}
	if tok, err := bus.EncodeTokenList(h.except); err == nil {
		h.exceptHdr = []string{tok}
	}
	return h
}

// To targets rooms, leaving out this socket (socket.to(room) in socket.io).
func (s *Socket) To(rooms ...string) Operator { return s.Broadcast().To(rooms...) }

// In is To.
func (s *Socket) In(rooms ...string) Operator { return s.To(rooms...) }

// Except targets every other socket except those in rooms.
func (s *Socket) Except(rooms ...string) Operator { return s.Broadcast().Except(rooms...) }

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) error {
	added, err := s.ns.join(s, rooms...)
	if len(added) > 0 && s.ns.Socket(s.id) == s && !s.gone.Load() {
		s.presenceJoined(false, added)
	}
	if o := s.ns.srv.observed(); o != nil && o.Joined != nil && len(added) > 0 {
		s.observe(func() {
			for _, r := range added {
				o.Joined(s, r)
			}
		})
	}
	if err != nil {
		return err
	}
	s.saveSession()
	return nil
}

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) {
	was := s.ns.leave(s, room)
	if was && !s.gone.Load() {
		s.presenceLeft(false, []string{room}, false)
	}
	s.saveSession()
	if o := s.ns.srv.observed(); was && o != nil && o.Left != nil {
		s.observe(func() { o.Left(s, room) })
	}
}

// Rooms returns the socket's rooms, its own id included, as socket.io does.
func (s *Socket) Rooms() []string {
	s.ns.mu.RLock()
	defer s.ns.mu.RUnlock()
	out := make([]string, 0, len(s.rooms)+1)
	out = append(out, s.id)
	for r := range s.rooms {
		out = append(out, r)
	}
	return out
}

// Disconnect makes the socket leave its namespace (the client gets a
// DISCONNECT packet); with closeConn it closes the whole connection.
func (s *Socket) Disconnect(closeConn bool) {
	if closeConn {
		s.conn.session.Close(ReasonForcedClose)
		return
	}
	s.disconnectWith(ReasonServerNamespaceDisconnect)
}

// disconnectWith sends the client a DISCONNECT for the namespace; the
// server-side handlers get reason.
func (s *Socket) disconnectWith(reason string) {
	if s.conn.detach(s) {
		p := sio.Packet{Type: sio.Disconnect, Namespace: s.ns.name, ID: sio.NoID}
		s.conn.send(outq.NewFrame(false, sio.Append([]byte{'4'}, p)))
		s.left(reason)
	}
}

func (s *Socket) sendFrames(frames []*outq.Frame) {
	if s.gone.Load() {
		return
	}
	s.conn.send(frames...)
}

// dispatch runs the socket's handlers for a client event.
func (s *Socket) dispatch(e *Event) {
	s.hmu.RLock()
	hs := s.handlers[e.Name]
	anys := s.any
	s.hmu.RUnlock()
	for _, h := range anys {
		h(e)
	}
	for _, h := range hs {
		h(e)
	}
}

// left runs once when the socket leaves: index, pending acks, handlers.
func (s *Socket) left(reason string) {
	if !s.gone.CompareAndSwap(false, true) {
		return
	}
	s.expiry.Stop()
	s.ns.remove(s)
	s.ns.srv.settle(s.ns, false)
	s.presenceLeft(true, s.roomList(), s.pid != "" && recoverable(reason))
	if w := s.ns.srv.saver; w != nil && s.pid != "" {
		if recoverable(reason) {
			w.save(s) // the window starts now
		} else {
			w.forget(s.pid)
		}
	}
	s.amu.Lock()
	pending := s.acks
	s.acks = nil
	s.amu.Unlock()
	for _, fn := range pending {
		fn(ackReply{}, false)
	}
	if o := s.ns.srv.observed(); o != nil && o.Disconnected != nil {
		s.omu.Lock()
		if s.announced {
			o.Disconnected(s, reason)
		}
		s.omu.Unlock()
	}
	s.hmu.RLock()
	hs := s.onDisc
	s.hmu.RUnlock()
	for _, h := range hs {
		h(reason)
	}
}
