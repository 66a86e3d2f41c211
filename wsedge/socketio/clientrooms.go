package socketio

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// Events a client emits to join, leave and publish to rooms itself
// (docs/socketio.md, "Rooms from the client"):
//
//	socket.emit('sockbus:join', room, ack)   // ack: {"ok":true} or {"error":reason}
//	socket.emit('sockbus:leave', room, ack)
//	socket.emit('sockbus:to', room, event, ...args, ack)  // ack: no arguments, or {"error":reason}
const (
	JoinEvent  = "sockbus:join"
	LeaveEvent = "sockbus:leave"
	ToEvent    = "sockbus:to"
)

// Why a client's join, leave or room publish is refused.
const (
	ErrAckClientRoomsOff = "client rooms are off"
	ErrAckBadRoom        = "bad room name"
	ErrAckRoomNotAllowed = "room not allowed"
	ErrAckTooManyRooms   = "too many rooms"
	ErrAckNotMember      = "not a member of the room"
	ErrAckBadEvent       = "bad event name"
)

// ClientRooms lets clients join and leave rooms themselves and publish to
// the rooms they are in (Config.ClientRooms).
type ClientRooms struct {
	// Allow lists the rooms every client may join: '*' matches any run of
	// bytes, "{user}" stands for the socket's user byte for byte (a pattern
	// with it matches nothing for a socket without a user). The
	// Authorizer's Grant.ClientRooms add to it per connection. Empty: only
	// what the Authorizer grants.
	Allow []string
}

// MayJoin reports whether the socket's client may join (and leave) room
// itself: a pattern of Config.ClientRooms or of its grant matches it.
// False when client rooms are off.
func (s *Socket) MayJoin(room string) bool {
	cr := s.ns.srv.cfg.ClientRooms
	if cr == nil {
		return false
	}
	return matchAny(cr.Allow, s.user, room) || matchAny(s.clientRooms, s.user, room)
}

// clientRoomName checks a room name a client sent; "" when it is fine.
// Besides the limits of every room name (bus.EncodeToken), a client may
// not name a room like a socket id: it would receive that socket's own
// events.
func clientRoomName(room string) string {
	if room == "" || looksLikeSocketID(room) {
		return ErrAckBadRoom
	}
	if _, err := bus.EncodeToken(room); err != nil {
		return ErrAckBadRoom
	}
	return ""
}

// looksLikeSocketID reports whether name has a socket id's shape
// (newSocketID: 20 base64url characters).
func looksLikeSocketID(name string) bool {
	return len(name) == 20 && bus.IsPlain(name)
}

// roomArg reads a join or leave: the room it names, or the refusal.
func (s *Socket) roomArg(e *Event) (string, string) {
	if s.ns.srv.cfg.ClientRooms == nil {
		return "", ErrAckClientRoomsOff
	}
	var room string
	if err := e.Arg(0, &room); err != nil {
		return "", ErrAckBadRoom
	}
	if why := clientRoomName(room); why != "" {
		return room, why
	}
	if !s.MayJoin(room) {
		return room, ErrAckRoomNotAllowed
	}
	return room, ""
}

// clientJoin handles JoinEvent: the room is joined as by Socket.Join
// (recovered with the session, seen by FetchSockets and the admin UI,
// bounded by Config.MaxRooms).
func (s *Socket) clientJoin(e *Event) {
	room, why := s.roomArg(e)
	if why == "" {
		if err := s.Join(room); err != nil {
			why = ErrAckBadRoom
			if errors.Is(err, ErrTooManyRooms) {
				why = ErrAckTooManyRooms
			}
		}
	}
	s.roomAnswer(e, metrics.RoomJoin, room, why)
}

// clientLeave handles LeaveEvent: a client leaves only rooms it may join;
// leaving a room it is not in is no error.
func (s *Socket) clientLeave(e *Event) {
	room, why := s.roomArg(e)
	if why == "" {
		s.Leave(room)
	}
	s.roomAnswer(e, metrics.RoomLeave, room, why)
}

// roomAnswer counts a join or leave, warns of a refusal and acks it.
func (s *Socket) roomAnswer(e *Event, op metrics.RoomOp, room, why string) {
	if why != "" {
		s.roomRefused(e, op, room, why)
		return
	}
	s.ns.srv.metrics.ClientRoom(op, true)
	_ = e.AckRaw([]byte(`[{"ok":true}]`), nil)
}

func (s *Socket) roomRefused(e *Event, op metrics.RoomOp, room, why string) {
	s.ns.srv.metrics.ClientRoom(op, false)
	if len(room) > 64 {
		room = room[:64] + "..."
	}
	s.ns.srv.warn.Warn("socket.io client room refused", "op", op.String(), "namespace", s.ns.name,
		"socket", s.id, "room", room, "reason", why)
	_ = e.AckError(why)
}

// clientTo handles ToEvent: event(...args) goes to every member of the
// room on every node but the sender, stored first (in the sender's order,
// so a member that drops recovers it); the ack follows the store.
func (s *Socket) clientTo(e *Event) {
	room, event, args, why := s.toArgs(e)
	if why != "" {
		s.roomRefused(e, metrics.RoomPublish, room, why)
		return
	}
	var onStored func(error)
	if e.WantsAck() {
		onStored = func(err error) {
			if err != nil {
				s.ns.srv.warn.Warn("room publish not stored", "namespace", s.ns.name, "err", err)
			}
			e.ackStoreResult(err)
		}
	}
	if err := s.To(room).EmitRaw(event, args, e.Attachments, onStored); err != nil {
		s.ns.srv.warn.Warn("room publish failed", "namespace", s.ns.name, "err", err)
		_ = e.AckError(ErrAckNotDelivered)
		return
	}
	s.ns.srv.metrics.ClientRoom(metrics.RoomPublish, true)
}

// toArgs reads a room publish: room, event name and the event's own
// arguments (binary placeholders unchanged: the attachments keep their
// order), or the refusal.
func (s *Socket) toArgs(e *Event) (room, event string, args []byte, why string) {
	if s.ns.srv.cfg.ClientRooms == nil {
		return "", "", nil, ErrAckClientRoomsOff
	}
	elems, err := sio.Elements(e.Args)
	if err != nil || len(elems) < 2 || json.Unmarshal(elems[0], &room) != nil {
		return "", "", nil, ErrAckBadRoom
	}
	if json.Unmarshal(elems[1], &event) != nil || event == "" || len(event) > bus.MaxNameLen ||
		sio.IsReserved(event) || isServerEvent(event) {
		return room, "", nil, ErrAckBadEvent
	}
	s.ns.mu.RLock()
	_, member := s.rooms[room]
	s.ns.mu.RUnlock()
	if !member {
		return room, "", nil, ErrAckNotMember
	}
	size := 2
	for _, el := range elems[2:] {
		size += len(el) + 1
	}
	args = make([]byte, 0, size)
	args = append(args, '[')
	for i, el := range elems[2:] {
		if i > 0 {
			args = append(args, ',')
		}
		args = append(args, el...)
	}
	return room, event, append(args, ']'), ""
}

// matchAny reports whether name matches one of patterns, "{user}" in them
// standing for user.
func matchAny(patterns []string, user, name string) bool {
	for _, p := range patterns {
		if matchRoom(p, user, name) {
			return true
		}
	}
	return false
}

// matchRoom matches name against one pattern: '*' matches any run of
// bytes, "{user}" is user's bytes taken literally (a '*' in a user name is
// no wildcard), every other byte itself. A pattern naming {user} matches
// nothing when user is "".
func matchRoom(pat, user, name string) bool {
	const userVar = "{user}"
	if !strings.Contains(pat, userVar) {
		return glob(pat, nil, name)
	}
	if user == "" {
		return false
	}
	// Mark each byte of the expanded pattern: literal or wildcard.
	var exp strings.Builder
	var wild []bool
	for pat != "" {
		i := strings.Index(pat, userVar)
		lit := pat
		if i >= 0 {
			lit = pat[:i]
		}
		for j := 0; j < len(lit); j++ {
			exp.WriteByte(lit[j])
			wild = append(wild, lit[j] == '*')
		}
		if i < 0 {
			break
		}
		exp.WriteString(user)
		for range len(user) {
			wild = append(wild, false)
		}
		pat = pat[i+len(userVar):]
	}
	return glob(exp.String(), wild, name)
}

// glob matches name against pat, whose '*' bytes are wildcards (only those
// marked in wild, when wild is not nil). Backtracking only to the last star
// keeps it O(len(pat)*len(name)).
func glob(pat string, wild []bool, name string) bool {
	star := func(i int) bool { return pat[i] == '*' && (wild == nil || wild[i]) }
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		switch {
		case p < len(pat) && star(p):
			starP, starN = p, n
			p++
		case p < len(pat) && pat[p] == name[n]:
			p++
			n++
		case starP >= 0:
			starN++
			p, n = starP+1, starN
		default:
			return false
		}
	}
	for p < len(pat) && star(p) {
		p++
	}
	return p == len(pat)
}
