package metrics

// RoomOp is what a Socket.IO client asked of a room itself (sockbus:join,
// sockbus:leave, sockbus:to).
type RoomOp uint8

// Client room operations, with their label values.
const (
	RoomJoin    RoomOp = iota // "join"
	RoomLeave                 // "leave"
	RoomPublish               // "publish"
	numRoomOps
)

var roomOpLabels = [numRoomOps]string{"join", "leave", "publish"}

// String is the operation's label value.
func (o RoomOp) String() string {
	if o >= numRoomOps {
		return "other"
	}
	return roomOpLabels[o]
}

// RoomOps lists every operation, for exporters.
func RoomOps() []RoomOp { return []RoomOp{RoomJoin, RoomLeave, RoomPublish} }

// ClientRoom counts one client room operation, done (ok) or refused.
func (s *Set) ClientRoom(op RoomOp, ok bool) {
	if s == nil || op >= numRoomOps {
		return
	}
	if ok {
		s.roomOps[op][0].Add(1)
	} else {
		s.roomOps[op][1].Add(1)
	}
}
