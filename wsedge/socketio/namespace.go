package socketio

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sockbus/sockbus/bus"
)

// Middleware runs when a socket asks to join a namespace, before it joins.
// Returning an error refuses it: the client's connect_error carries the
// error's text, and the data of a *wsedge.ConnectError.
type Middleware func(s *Socket) error

// Namespace is a Socket.IO namespace on this node: its handlers, its local
// sockets and rooms, and one bus subscription (held while the namespace has
// local sockets, whatever their number) fanned out locally. All methods are
// safe for concurrent use.
type Namespace struct {
	srv    *Server
	name   string
	parent *Namespace // for children of OfFunc
	// connecting counts CONNECTs between lookup and their end (children
	// of OfFunc only; guarded by srv.mu): a child is forgotten only when it
	// has neither sockets nor connects in progress.
	connecting int
	match      func(string, json.RawMessage) bool // parents of OfFunc only
	local      bool                               // OfLocal: no bus at all

	tok      string  // name without its leading '/', encoded
	subjBase string  // "sockbus.io.<tok>."
	liveBase string  // "sockbus.live.io.<tok>."
	log      bus.Log // where its events are stored (fixed by the bus's layout)

	hmu        sync.RWMutex
	middleware []Middleware
	onConn     []func(*Socket)

	// nextSeq is one past the newest sequence of the namespace's log seen
	// while subscribed (0: unknown), a fresh socket's session start.
	nextSeq atomic.Uint64

	mu       sync.RWMutex // guards the index below
	sockets  map[string]*Socket
	rooms    map[string]*room
	sub      *bus.Subscription
	presence *bus.Subscription // counts this node for broadcasts with acks
	// subscribing is the first joiner's subscription in flight (nil: none).
	subscribing *subClaim
}

type room struct {
	name    string
	members map[*Socket]struct{}
}

func newNamespace(s *Server, name string, match func(string, json.RawMessage) bool) *Namespace {
	n := &Namespace{srv: s, name: name, match: match, sockets: map[string]*Socket{}, rooms: map[string]*room{}}
	if match == nil {
		tok, err := bus.EncodeToken(strings.TrimPrefix(name, "/"))
		if err != nil {
			tok = "~" // unreachable: CONNECT names are bounded before lookup
		}
		n.tok = tok
		n.subjBase = bus.IOBase(tok)
		n.liveBase = bus.Live(n.subjBase)
		if s.bus != nil {
			n.log = s.bus.Log(bus.KindNamespace, tok)
		}
	}
	return n
}

// Name is the namespace's name, e.g. "/chat" ("" for an OfFunc parent).
func (n *Namespace) Name() string { return n.name }

// Use adds a middleware. On an OfFunc parent it applies to every child.
func (n *Namespace) Use(m Middleware) *Namespace {
	n.hmu.Lock()
	n.middleware = append(n.middleware, m)
	n.hmu.Unlock()
	return n
}

// OnConnection adds a handler called for every socket that joins, on the
// socket's connection goroutine. On an OfFunc parent it applies to every child.
func (n *Namespace) OnConnection(h func(*Socket)) *Namespace {
	n.hmu.Lock()
	n.onConn = append(n.onConn, h)
	n.hmu.Unlock()
	return n
}

// chain returns the middleware and connection handlers that apply: the
// parent's first, then the namespace's own.
func (n *Namespace) chain() ([]Middleware, []func(*Socket)) {
	var mw []Middleware
	var oc []func(*Socket)
	for _, x := range []*Namespace{n.parent, n} {
		if x == nil {
			continue
		}
		x.hmu.RLock()
		mw = append(mw, x.middleware...)
		oc = append(oc, x.onConn...)
		x.hmu.RUnlock()
	}
	return mw, oc
}

// Len returns the number of sockets connected to this namespace on this node.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// Socket returns a socket connected to this node, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// add indexes a socket, subscribing the namespace on its first local socket.
func (n *Namespace) add(s *Socket) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.subscribedLocked(); err != nil {
		return err
	}
	n.sockets[s.id] = s
	for r := range s.rooms {
		if err := n.joinLocked(s, r); err != nil {
			return err
		}
	}
	return nil
}

// subClaim is a namespace's subscription in flight; done closes when it has
// succeeded (Namespace.sub is set) or failed (err).
type subClaim struct {
	done chan struct{}
	err  error
}

// subscribedLocked makes sure the namespace is subscribed before its first
// local socket is added. The subscription waits for every node of a
// cluster (up to a second), so it is made without n.mu: the first joiner
// claims it, concurrent joiners wait on the claim, and a failed subscribe
// fails them all. It is called, and returns, with n.mu held.
func (n *Namespace) subscribedLocked() error {
	for len(n.sockets) == 0 && n.sub == nil && !n.local {
		if p := n.subscribing; p != nil {
			n.mu.Unlock()
			<-p.done
			n.mu.Lock()
			if p.err != nil {
				return p.err
			}
			continue // subscribed, or already left by all: look again
		}
		p := &subClaim{done: make(chan struct{})}
		n.subscribing = p
		n.mu.Unlock()
		sub, presence, err := n.subscribe()
		n.mu.Lock()
		n.subscribing = nil
		p.err = err
		close(p.done)
		if err != nil {
			n.nextSeq.Store(0) // seen while subscribed, which it is not
			return err
		}
		n.sub, n.presence = sub, presence
	}
	return nil
}

// subscribe makes the namespace's bus subscriptions. One subscription for
// the whole namespace, delivered by one goroutine in the order the server
// sent: per-room subscriptions would be delivered by several goroutines
// and could reorder a socket's events (and its recovery offsets).
func (n *Namespace) subscribe() (sub, presence *bus.Subscription, err error) {
	sub, err = n.srv.bus.Subscribe(n.liveBase+">", n.deliver)
	if err != nil {
		return nil, nil, err
	}
	presence, err = n.srv.bus.SubscribePresence(bus.PresenceSubject(n.tok))
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, nil, err
	}
	return sub, presence, nil
}

// remove drops a socket from the index and its rooms, unsubscribing what no
// local socket needs any more.
func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sockets[s.id] != s {
		return
	}
	delete(n.sockets, s.id)
	for r := range s.rooms {
		n.leaveLocked(s, r, false)
	}
	if len(n.sockets) == 0 {
		n.unsubscribeLocked()
	}
}

func (n *Namespace) unsubscribeLocked() {
	if n.sub != nil {
		_ = n.sub.Unsubscribe()
		_ = n.presence.Unsubscribe()
		n.sub, n.presence = nil, nil
		n.nextSeq.Store(0) // what comes next is not seen any more
	}
}

func (n *Namespace) unsubscribeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.subscribing != nil { // let it finish, then undo it
		p := n.subscribing
		n.mu.Unlock()
		<-p.done
		n.mu.Lock()
	}
	n.unsubscribeLocked()
	clear(n.rooms)
}

// join adds s to rooms; added are those it was not in already (for the
// server's Observer), up to the first error.
func (n *Namespace) join(s *Socket, rooms ...string) (added []string, err error) {
	for _, r := range rooms {
		if _, err := bus.EncodeToken(r); err != nil {
			return nil, fmt.Errorf("failed to join room: %w", err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, live := n.sockets[s.id]
	for _, r := range rooms {
		if _, in := s.rooms[r]; in {
			continue
		}
		if len(s.rooms) >= n.srv.cfg.MaxRooms {
			return added, fmt.Errorf("%w (%d)", ErrTooManyRooms, n.srv.cfg.MaxRooms)
		}
		if s.rooms == nil { // most sockets join no room: no map until one does
			s.rooms = make(map[string]struct{}, 1)
		}
		s.rooms[r] = struct{}{}
		if live {
			if err := n.joinLocked(s, r); err != nil {
				return added, err
			}
		}
		added = append(added, r)
	}
	return added, nil
}

func (n *Namespace) joinLocked(s *Socket, name string) error {
	r := n.rooms[name]
	if r == nil {
		r = &room{name: name, members: map[*Socket]struct{}{}}
		n.rooms[name] = r
	}
	r.members[s] = struct{}{}
	return nil
}

// leave removes s from room name; it reports whether s was in it.
func (n *Namespace) leave(s *Socket, name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, was := s.rooms[name]
	n.leaveLocked(s, name, true)
	return was
}

func (n *Namespace) leaveLocked(s *Socket, name string, forget bool) {
	if forget {
		delete(s.rooms, name)
	}
	r := n.rooms[name]
	if r == nil {
		return
	}
	delete(r.members, s)
	if len(r.members) == 0 {
		delete(n.rooms, name)
	}
}

// inRoomLocked reports whether s is in room name; a socket's id is a room
// holding only that socket.
func inRoomLocked(s *Socket, name string) bool {
	if name == s.id {
		return true
	}
	_, ok := s.rooms[name]
	return ok
}
