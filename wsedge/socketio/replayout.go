package socketio

import (
	"context"
	"fmt"

	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// replayGroupBytes and replayGroupFrames bound one group of a replay's
// frames (see replayOut): 512 frames is what one writev of the queue
// takes (outq's maxBatch).
const (
	replayGroupBytes  = 64 << 10
	replayGroupFrames = 512
)

// replayOut gathers the frames of a replay and hands them to the client's
// queue a group at a time: one push, so one hand-off to a flusher and one
// writev, per group rather than per event (a recovery of 10,000 events
// made 10,000 of each). A group holds at most a quarter of the queue's
// bounds and waits for room (the queue at most half full) before it goes,
// so a replay never passes the queue's bound by itself, and what it holds
// besides the queue is one group (and the reader's batches).
//
// The events' packets are written into arrays of a group's size (text)
// and their frames taken from arrays of a group's length (slab), instead
// of three allocations per event: the queue holds pointers into them, so
// an array is never written again once handed on, only the rest of it.
type replayOut struct {
	s         *Socket
	frames    []*outq.Frame
	bytes     int
	maxFrames int
	maxBytes  int
	text      []byte       // packets are appended here; a full one is left to the queue
	slab      []outq.Frame // frames are appended here; likewise
}

func newReplayOut(s *Socket) *replayOut {
	frames, bytes := s.ns.srv.cfg.Engine.Queue.Bounds()
	return &replayOut{s: s, maxFrames: max(1, min(frames/4, replayGroupFrames)), maxBytes: max(1, min(bytes/4, replayGroupBytes))}
}

// event queues an event behind the group (its packet with offset as last
// argument, then its attachments), sending the group first when the event
// would not fit in it.
func (o *replayOut) event(ctx context.Context, event string, args []byte, atts [][]byte, offset []byte) error {
	nsp := o.s.ns.name
	need := 1 + len(nsp) + len(event) + len(args) + len(offset) + 32 // the packet, about
	size := need + 10                                                // with its WebSocket header
	for _, a := range atts {
		size += len(a) + 10
	}
	if len(o.frames) > 0 && (len(o.frames)+1+len(atts) > o.maxFrames || o.bytes+size > o.maxBytes) {
		if err := o.flush(ctx); err != nil {
			return err
		}
	}
	if cap(o.text)-len(o.text) < need {
		o.text = make([]byte, 0, max(need, o.maxBytes))
	}
	start := len(o.text)
	o.text = append(o.text, '4')
	o.text = sio.AppendEvent(o.text, nsp, sio.NoID, len(atts), event, args, offset)
	o.push(false, o.text[start:len(o.text):len(o.text)]) // capped: later packets cannot write into it
	for _, a := range atts {
		o.push(true, a)
	}
	return nil
}

// push adds one frame to the group.
func (o *replayOut) push(binary bool, payload []byte) {
	if len(o.slab) == cap(o.slab) {
		o.slab = make([]outq.Frame, 0, o.maxFrames)
	}
	o.slab = append(o.slab, outq.MakeFrame(binary, payload))
	f := &o.slab[len(o.slab)-1]
	o.frames = append(o.frames, f)
	o.bytes += f.Size()
}

// flush sends the group once the client's queue has room for it.
func (o *replayOut) flush(ctx context.Context) error {
	if len(o.frames) == 0 {
		return nil
	}
	if err := o.s.conn.session.WaitRoom(ctx); err != nil {
		return fmt.Errorf("client did not read the replay: %w", err)
	}
	o.s.sendFrames(o.frames)
	clear(o.frames)
	o.frames, o.bytes = o.frames[:0], 0
	return nil
}
