package socketio

import (
	"strconv"
	"strings"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// eventFrames encodes an event once into the Engine.IO frames every
// receiving socket shares: the text packet, then one frame per attachment.
// offset, when not empty, is appended as the last argument (a quoted JSON
// string, see appendOffset).
func (n *Namespace) eventFrames(event string, args []byte, atts [][]byte, ackID int64, offset []byte) []*outq.Frame {
	text := make([]byte, 1, len(n.name)+len(event)+len(args)+len(offset)+32)
	text[0] = '4'
	text = sio.AppendEvent(text, n.name, ackID, len(atts), event, args, offset)
	frames := make([]*outq.Frame, 0, 1+len(atts))
	frames = append(frames, outq.NewFrame(false, text))
	for _, a := range atts {
		frames = append(frames, outq.NewFrame(true, a))
	}
	return frames
}

// deliver fans one live bus message out to the local sockets it targets.
// It runs on the subscription's goroutine and never blocks on a client.
func (n *Namespace) deliver(m *bus.Msg) {
	rest := strings.TrimPrefix(m.Subject, n.liveBase)
	if p, err := bus.ParseIOAddress(rest); err == nil && p.Kind == bus.IOControl {
		n.control(p.Target, m)
		return
	}
	a, ok := readAddress(rest, m.Header)
	if !ok {
		n.srv.log.Debug("dropping bus message with a bad subject", "subject", m.Subject)
		return
	}
	if m.Reply != "" {
		n.deliverWithAck(a, m)
		return
	}
	var seq uint64
	if h := m.Header[bus.HeaderSequence]; len(h) > 0 {
		seq, _ = strconv.ParseUint(h[0], 10, 64)
	}
	if seq != 0 {
		n.noteSeq(seq)
	}
	var frames []*outq.Frame // built for the first receiver, shared by all
	receivers := 0
	n.mu.RLock()
	defer n.mu.RUnlock()
	a.eachLocked(n, func(s *Socket) {
		if frames == nil {
			args, atts, err := splitAttachments(m)
			if err != nil {
				n.srv.log.Debug("dropping bus message", "subject", m.Subject, "err", err)
				frames = []*outq.Frame{}
				return
			}
			var off [offsetSize]byte
			frames = n.eventFrames(a.event, args, atts, sio.NoID, n.srv.appendOffset(off[:0], n, seq))
		}
		if len(frames) > 0 {
			receivers++
			s.deliverLive(seq, frames)
		}
	})
	if m := n.srv.metrics; m != nil { // once per message, not per receiver
		m.Delivered(metrics.KindSocketIO, receivers*len(frames), receivers*framesSize(frames))
	}
}

// framesSize is the payload bytes of an event's frames.
func framesSize(frames []*outq.Frame) int {
	size := 0
	for _, f := range frames {
		size += len(f.Payload())
	}
	return size
}

// deliverLive sends a live event, or holds it during a replay.
func (s *Socket) deliverLive(seq uint64, frames []*outq.Frame) {
	if seq != 0 && seq <= s.replayed.Load() {
		return // the replay sent it
	}
	s.sent(seq)
	held, overflow := s.hold.Offer(seq, frames, len(frames), queuedSize(frames))
	if overflow {
		s.ns.srv.warn.Warn("socket.io closed: slow consumer (live events held during a replay passed the queue bound)", "namespace", s.ns.name, "socket", s.id)
		s.conn.session.CloseFor(engine.ReasonSlowConsumer, metrics.ReasonSlowConsumer)
	}
	if !held {
		s.sendFrames(frames)
	}
}

// sent notes that the socket was sent the event stored at seq: the oldest
// one is where its session starts (recovery never goes back further).
func (s *Socket) sent(seq uint64) {
	for {
		cur := s.start.Load()
		if seq == 0 || (cur != 0 && cur <= seq) || s.start.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// seenSeq is the newest sequence of the namespace's log this node saw
// live while subscribed (0: unknown).
func (n *Namespace) seenSeq() uint64 {
	if next := n.nextSeq.Load(); next > 0 {
		return next - 1
	}
	return 0
}

// noteSeq records that the namespace's log holds seq.
func (n *Namespace) noteSeq(seq uint64) {
	for {
		cur := n.nextSeq.Load()
		if cur > seq || n.nextSeq.CompareAndSwap(cur, seq+1) {
			return
		}
	}
}

// queuedSize is what frames count against a queue's byte bound.
func queuedSize(frames []*outq.Frame) int {
	n := 0
	for _, f := range frames {
		n += f.Size()
	}
	return n
}
