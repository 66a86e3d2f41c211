package wsedge

import (
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// address is whom a Socket.IO bus message is for: its subject after the
// namespace prefix ("all.<event>", "rooms.<event>", "room.<room>.<event>",
// "sock.<id>.<event>") with its Sockbus-Rooms and Sockbus-Except headers.
// Live delivery and replays both decide through it.
type address struct {
	kind    string   // all, room, rooms or sock
	target  string   // the room name or socket id of room/sock
	targets []string // the rooms of kind rooms
	except  []string // rooms (or socket ids) left out
	event   string
}

// readAddress decodes a message's address; false for a subject sockbus
// does not produce (or a reserved event name).
func readAddress(rest string, h nats.Header) (address, bool) {
	var a address
	a.kind, rest, _ = strings.Cut(rest, ".")
	switch a.kind {
	case "all":
	case "rooms":
		a.targets = decodeList(h[HeaderRooms])
	case "room", "sock":
		a.target, rest, _ = strings.Cut(rest, ".")
		if a.kind == "room" {
			name, err := bus.DecodeToken(a.target)
			if err != nil {
				return a, false
			}
			a.target = name
		}
	default:
		return a, false
	}
	event, err := bus.DecodeToken(rest)
	if err != nil || sio.IsReserved(event) {
		return a, false
	}
	a.event = event
	a.except = decodeList(h[HeaderExcept])
	return a, true
}

// excludesLocked reports whether s is left out. n.mu must be held.
func (a *address) excludesLocked(s *Socket) bool {
	for _, e := range a.except {
		if inRoomLocked(s, e) {
			return true
		}
	}
	return false
}

// reachesLocked reports whether the message is for s. n.mu must be held.
func (a *address) reachesLocked(s *Socket) bool {
	if a.excludesLocked(s) {
		return false
	}
	switch a.kind {
	case "all":
		return true
	case "room":
		_, in := s.rooms[a.target]
		return in
	case "sock":
		return a.target == s.id
	case "rooms":
		for _, r := range a.targets {
			if inRoomLocked(s, r) {
				return true
			}
		}
	}
	return false
}

// eachLocked calls fn once for every local socket the message is for,
// looking only at the candidates its kind names (never every socket for a
// room). n.mu must be held.
func (a *address) eachLocked(n *Namespace, fn func(*Socket)) {
	switch a.kind {
	case "all":
		for _, s := range n.sockets {
			if !a.excludesLocked(s) {
				fn(s)
			}
		}
	case "room":
		if r := n.rooms[a.target]; r != nil {
			for s := range r.members {
				if !a.excludesLocked(s) {
					fn(s)
				}
			}
		}
	case "sock":
		if s := n.sockets[a.target]; s != nil && !a.excludesLocked(s) {
			fn(s)
		}
	case "rooms":
		// A socket in several of the rooms gets the message once: at the
		// first room that holds it.
		seenBefore := func(s *Socket, i int) bool {
			for _, r := range a.targets[:i] {
				if inRoomLocked(s, r) {
					return true
				}
			}
			return false
		}
		for i, r := range a.targets {
			if s := n.sockets[r]; s != nil && !a.excludesLocked(s) && !seenBefore(s, i) {
				fn(s)
			}
			if rm := n.rooms[r]; rm != nil {
				for s := range rm.members {
					if s.id != r && !a.excludesLocked(s) && !seenBefore(s, i) {
						fn(s)
					}
				}
			}
		}
	}
}

// sockets lists the local sockets the message is for, for work that must
// not run under n.mu (acks, joins, disconnects).
func (a *address) sockets(n *Namespace) []*Socket {
	var out []*Socket
	n.mu.RLock()
	a.eachLocked(n, func(s *Socket) { out = append(out, s) })
	n.mu.RUnlock()
	return out
}

// decodeList reads a comma-separated header of name tokens.
func decodeList(h []string) []string {
	if len(h) == 0 || h[0] == "" {
		return nil
	}
	parts := strings.Split(h[0], ",")
	out := parts[:0]
	for _, p := range parts {
		if name, err := bus.DecodeToken(p); err == nil {
			out = append(out, name)
		}
	}
	return out
}
