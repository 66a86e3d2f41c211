package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/presence"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// Presence (docs/socketio.md, "Who is here"):
//
//	socket.emit('sockbus:presence', room, ack) // room null: the namespace
//	// ack: {"count":N,"members":[{"id":..., "user":... or null}, ...]} or {"error":reason}
//
// With Config.Presence events on, the members of a room receive
// sockbus:joined and sockbus:left ({"room","id","user"}) when another
// socket joins or leaves it: live, not stored (no offset, no replay).
const (
	PresenceEvent = "sockbus:presence"
	JoinedEvent   = "sockbus:joined"
	LeftEvent     = "sockbus:left"
)

// Why a presence query is refused, besides ErrAckBadRoom (not a string,
// over 255 bytes) and ErrAckNotMember.
const (
	ErrAckPresenceOff  = "presence is off"
	ErrAckPresenceFail = "presence unavailable"
)

// ErrPresenceOff is Namespace.Presence without Config.Presence.
var ErrPresenceOff = errors.New("wsedge: presence is off")

// presenceQueryTimeout bounds a client's presence query.
const presenceQueryTimeout = 5 * time.Second

func (n *Namespace) where(room string, whole bool) presence.Where {
	return presence.Where{Kind: presence.KindIO, Scope: n.name, Room: room, Whole: whole}
}

// Presence answers who is in room (no room: in the namespace) on every
// node: the true count and the first members (presence.Config.MaxList).
func (n *Namespace) Presence(ctx context.Context, rooms ...string) (presence.Answer, error) {
	reg := n.srv.cfg.Presence
	if reg == nil || n.local {
		return presence.Answer{}, ErrPresenceOff
	}
	if len(rooms) > 1 {
		return presence.Answer{}, errors.New("wsedge: presence of one room at a time")
	}
	w := n.where("", true)
	if len(rooms) == 1 {
		w = n.where(rooms[0], false)
	}
	return reg.Query(ctx, w)
}

// Presence answers who is in the operator's room (To/In: one at most;
// none: the whole namespace) on every node, as Namespace.Presence. A
// node-local namespace records no presence: ErrLocalNamespace.
func (o Operator) Presence(ctx context.Context) (presence.Answer, error) {
	if o.ns.local {
		return presence.Answer{}, fmt.Errorf("failed to read presence: %w", ErrLocalNamespace)
	}
	return o.ns.Presence(ctx, o.rooms...)
}

// presenceJoined records a live socket joining rooms (whole: its namespace).
func (s *Socket) presenceJoined(whole bool, rooms []string) {
	reg := s.ns.srv.cfg.Presence
	if reg == nil || s.ns.local {
		return
	}
	if whole {
		reg.Join(s.ns.where("", true), s.id, s.user)
	}
	for _, r := range rooms {
		reg.Join(s.ns.where(r, false), s.id, s.user)
	}
}

// presenceLeft records a socket leaving rooms (whole: its namespace); later
// when it may recover its session.
func (s *Socket) presenceLeft(whole bool, rooms []string, later bool) {
	reg := s.ns.srv.cfg.Presence
	if reg == nil || s.ns.local {
		return
	}
	for _, r := range rooms {
		reg.Leave(s.ns.where(r, false), s.id, s.user, later)
	}
	if whole {
		reg.Leave(s.ns.where("", true), s.id, s.user, later)
	}
}

// roomList copies the socket's rooms (its id aside).
func (s *Socket) roomList() []string {
	s.ns.mu.RLock()
	defer s.ns.mu.RUnlock()
	out := make([]string, 0, len(s.rooms))
	for r := range s.rooms {
		out = append(out, r)
	}
	return out
}

// clientPresence answers PresenceEvent. Only a member of the room may
// ask (or, with client rooms, a socket allowed to join it); anyone in the
// namespace may ask about the namespace. The answer comes from a
// goroutine: sorting a large list must not hold the connection.
func (s *Socket) clientPresence(e *Event) {
	m := s.ns.srv.metrics
	refuse := func(why string) {
		m.PresenceQuery(metrics.PresenceRefused)
		s.ns.srv.warn.Warn("socket.io presence query refused", "reason", why, "socket", s.id)
		_ = e.AckError(why)
	}
	if s.ns.srv.cfg.Presence == nil || s.ns.local {
		refuse(ErrAckPresenceOff)
		return
	}
	var room *string
	if elems, err := sio.Elements(e.Args); err != nil || (len(elems) > 0 && json.Unmarshal(elems[0], &room) != nil) {
		refuse(ErrAckBadRoom)
		return
	}
	var rooms []string
	if room != nil {
		if _, err := bus.EncodeToken(*room); err != nil {
			refuse(ErrAckBadRoom)
			return
		}
		if !s.mayAskPresence(*room) {
			refuse(ErrAckNotMember)
			return
		}
		rooms = []string{*room}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), presenceQueryTimeout)
		defer cancel()
		a, err := s.ns.Presence(ctx, rooms...)
		if err != nil {
			s.ns.srv.warn.Warn("socket.io presence query failed", "err", err)
			_ = e.AckError(ErrAckPresenceFail)
			return
		}
		_ = e.Ack(a)
	}()
}

// mayAskPresence: a member of room (a socket's id is its own room), or a
// socket whose client may join it (client rooms).
func (s *Socket) mayAskPresence(room string) bool {
	s.ns.mu.RLock()
	in := inRoomLocked(s, room)
	s.ns.mu.RUnlock()
	return in || s.MayJoin(room)
}

// subscribePresenceEvents delivers joined and left events to this node's
// members of the room, the socket they are about aside.
func (s *Server) subscribePresenceEvents() error {
	reg := s.cfg.Presence
	if reg == nil || !reg.Events() {
		return nil
	}
	sub, err := s.bus.Subscribe(bus.PresenceEvents, func(m *bus.Msg) {
		kind, tok, what, ok := bus.ParsePresenceSubject(m.Subject)
		if !ok || kind != presence.KindIO || (what != "joined" && what != "left") {
			return
		}
		var ev presence.Event
		if json.Unmarshal(m.Data, &ev) != nil || ev.Room == nil {
			return
		}
		name, err := bus.DecodeToken(tok)
		if err != nil {
			return
		}
		n := s.existing("/" + name)
		if n == nil {
			return
		}
		event := JoinedEvent
		if what == "left" {
			event = LeftEvent
		}
		args, _, err := encodeArgs([]any{ev})
		if err != nil {
			return
		}
		// Live, to this node's members: a stored copy per member would
		// cost a write each, and wait out any election of the namespace's
		// stream (a node that died may have led it: its members' left
		// events would come only after it).
		_ = Operator{ns: n}.To(*ev.Room).Except(ev.ID).emitLocal(event, args, nil, nil)
	})
	if err != nil {
		return fmt.Errorf("failed to subscribe presence events: %w", err)
	}
	s.presenceSub = sub
	return nil
}

// existing is the namespace name if this node has it, never creating one.
func (s *Server) existing(name string) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.static[name]; n != nil {
		return n
	}
	return s.children[name]
}
