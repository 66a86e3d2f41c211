package socketio

import (
	"context"
	"fmt"

	"github.com/sockbus/sockbus/wsedge/internal/outq"
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
// besides the queue is one group (and the reader's one batch).
type replayOut struct {
	s         *Socket
	frames    []*outq.Frame
	bytes     int
	maxFrames int
	maxBytes  int
}

func newReplayOut(s *Socket) *replayOut {
	frames, bytes := s.ns.srv.cfg.Engine.Queue.Bounds()
	return &replayOut{s: s, maxFrames: max(1, min(frames/4, replayGroupFrames)), maxBytes: max(1, min(bytes/4, replayGroupBytes))}
}

// add queues an event's frames behind the group, sending the group first
// when they would not fit in it.
func (o *replayOut) add(ctx context.Context, frames []*outq.Frame) error {
	size := queuedSize(frames)
	if len(o.frames) > 0 && (len(o.frames)+len(frames) > o.maxFrames || o.bytes+size > o.maxBytes) {
		if err := o.flush(ctx); err != nil {
			return err
		}
	}
	o.frames = append(o.frames, frames...)
	o.bytes += size
	return nil
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
