package socketio

import (
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// address is whom a Socket.IO bus message is for: its subject after the
// namespace prefix (bus.ParseIOAddress) with its Sockbus-Rooms and
// Sockbus-Except headers. Live delivery and replays both decide through it.
type address struct {
	kind    bus.IOKind // IOAll, IORoom, IORooms or IOSocket
	target  string     // the room name or socket id of IORoom/IOSocket
	targets []string   // the rooms of IORooms
	except  []string   // rooms (or socket ids) left out
	event   string
}

// readAddress decodes an event's address; false for a subject sockbus does
// not produce, a socket operation, or a reserved event name.
func readAddress(rest string, h bus.Header) (address, bool) {
	p, err := bus.ParseIOAddress(rest)
	if err != nil || p.Kind == bus.IOControl || sio.IsReserved(p.Event) {
		return address{}, false
	}
	a := address{kind: p.Kind, target: p.Target, event: p.Event, except: bus.DecodeTokenList(h.Get(bus.HeaderExcept))}
	if a.kind == bus.IORooms {
		a.targets = bus.DecodeTokenList(h.Get(bus.HeaderRooms))
	}
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
	case bus.IOAll:
		return true
	case bus.IORoom:
		return inRoomLocked(s, a.target) // a socket id is a room, as in socket.io
	case bus.IOSocket:
		return a.target == s.id
	case bus.IORooms:
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
	case bus.IOAll:
		for _, s := range n.sockets {
			if !a.excludesLocked(s) {
				fn(s)
			}
		}
	case bus.IORoom:
		// A socket id is a room too: the socket, then the room's members
		// (a socket in a room named like its own id gets it once).
		s := n.sockets[a.target]
		if s != nil && !a.excludesLocked(s) {
			fn(s)
		}
		if r := n.rooms[a.target]; r != nil {
			for m := range r.members {
				if m != s && !a.excludesLocked(m) {
					fn(m)
				}
			}
		}
	case bus.IOSocket:
		if s := n.sockets[a.target]; s != nil && !a.excludesLocked(s) {
			fn(s)
		}
	case bus.IORooms:
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
