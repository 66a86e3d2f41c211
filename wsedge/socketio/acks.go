package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// ErrAckTimeout is returned by EmitWithAck when the client did not answer in time.
var ErrAckTimeout = errors.New("wsedge: ack timeout")

type ackReply struct {
	args json.RawMessage
	atts [][]byte
}

// ackFunc receives a client's acknowledgement (ok) or learns that none will
// come because the socket left (not ok). It is called at most once.
type ackFunc func(r ackReply, ok bool)

// registerAck returns a new ack id whose answer goes to fn; a socket that
// already left calls fn (not ok) at once.
func (s *Socket) registerAck(fn ackFunc) int64 {
	s.amu.Lock()
	if s.gone.Load() { // left has taken, or will find empty, the pending acks
		s.amu.Unlock()
		fn(ackReply{}, false)
		return -1
	}
	if s.acks == nil {
		s.acks = map[int64]ackFunc{}
	}
	id := s.nextAck
	s.nextAck++
	if m := s.ns.srv.metrics; m != nil {
		start, answer := time.Now(), fn
		fn = func(r ackReply, ok bool) {
			if ok {
				m.ObserveAck(start)
			}
			answer(r, ok)
		}
	}
	s.acks[id] = fn
	s.amu.Unlock()
	return id
}

// dropAck forgets an ack id nobody waits for any more.
func (s *Socket) dropAck(id int64) {
	s.amu.Lock()
	delete(s.acks, id)
	s.amu.Unlock()
}

// EmitWithAck sends an event to this socket and waits, bounded by ctx, for
// the client's acknowledgement. Events with acks go straight to the client
// (not stored), as in socket.io.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (json.RawMessage, [][]byte, error) {
	if sio.IsReserved(event) {
		return nil, nil, fmt.Errorf("wsedge: %q is a reserved event name", event)
	}
	array, atts, err := encodeArgs(args)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan ackReply, 1)
	id := s.registerAck(func(r ackReply, ok bool) {
		if ok {
			ch <- r
		} else {
			close(ch)
		}
	})
	if id < 0 {
		return nil, nil, ErrDisconnected
	}
	defer s.dropAck(id)
	s.sendFrames(s.ns.eventFrames(event, array, atts, id, nil))
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, nil, ErrDisconnected
		}
		return r.args, r.atts, nil
	case <-ctx.Done():
		return nil, nil, ackWaitEnded(ctx)
	}
}

// ackWaitEnded is why a wait for acknowledgements stopped: ErrAckTimeout at
// ctx's deadline, ctx's error when it was cancelled.
func ackWaitEnded(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrAckTimeout
	}
	return ctx.Err()
}

// EmitWithAckTimeout is EmitWithAck with a timeout instead of a context.
func (s *Socket) EmitWithAckTimeout(d time.Duration, event string, args ...any) (json.RawMessage, [][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.EmitWithAck(ctx, event, args...)
}

func (s *Socket) sendAck(id int64, args []byte, atts [][]byte) error {
	if s.gone.Load() {
		return ErrDisconnected
	}
	p := sio.Packet{Type: sio.Ack, Namespace: s.ns.name, ID: id, Data: args}
	if len(atts) > 0 {
		p.Type, p.Attachments = sio.BinaryAck, len(atts)
	}
	frames := make([]*outq.Frame, 0, 1+len(atts))
	// '4', type, attachments, namespace, ',', id, data: sized once, not grown
	buf := make([]byte, 1, 1+2+21+len(p.Namespace)+1+20+len(args))
	buf[0] = '4'
	frames = append(frames, outq.NewFrame(false, sio.Append(buf, p)))
	for _, a := range atts {
		frames = append(frames, outq.NewFrame(true, a))
	}
	s.conn.send(frames...)
	return nil
}

// onAck resolves a pending EmitWithAck; unknown ids are ignored.
func (s *Socket) onAck(id int64, args []byte, atts [][]byte) {
	s.amu.Lock()
	fn := s.acks[id]
	delete(s.acks, id)
	s.amu.Unlock()
	if fn != nil {
		fn(ackReply{args: append(json.RawMessage(nil), args...), atts: atts}, true)
	}
}
