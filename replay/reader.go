package replay

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
)

// maxBatch bounds one fetch from the ordered consumer.
const maxBatch = 4096

// Reader reads stored messages. It is safe for concurrent use.
type Reader struct {
	js jetstream.JetStream
}

// NewReader returns a reader over b's streams.
func NewReader(b *bus.Bus) *Reader { return &Reader{js: b.JetStream()} }

// Since calls fn, in order, for every message stored after sequence after,
// up to the stream's last sequence when the call began, which it returns.
// If messages after `after` were already dropped it returns
// bus.ErrHistoryGone without calling fn.
func (r *Reader) Since(ctx context.Context, s *bus.Stream, after uint64, fn func(bus.StoredMsg) error) (uint64, error) {
	st, err := r.state(ctx, s)
	if err != nil {
		return 0, err
	}
	if after > st.LastSeq {
		return 0, fmt.Errorf("position %d after the end %d: %w", after, st.LastSeq, bus.ErrHistoryGone)
	}
	if after == st.LastSeq {
		return st.LastSeq, nil
	}
	if after+1 < st.FirstSeq {
		return 0, fmt.Errorf("position %d before the start %d: %w", after, st.FirstSeq, bus.ErrHistoryGone)
	}
	return st.LastSeq, r.read(ctx, s, after+1, st.LastSeq, fn)
}

// minScan is the least number of messages Last reads looking for kept ones;
// it reads at most max(64n, minScan), so a stream where almost nothing is
// kept cannot keep a CONNECT reading until the context's deadline.
const minScan = 100_000

// Last calls fn, oldest first, for the last n messages of the stream that
// keep accepts (every message when keep is nil), or for all of them if fewer
// are stored, and returns the stream's last sequence when the call began.
//
// Streams are read forward only, so Last reads windows backwards from the
// end: [last-n+1, last], then windows twice as large each time, until it
// holds n kept messages, reaches the stream's first message or has read
// max(64n, minScan) messages (older kept messages are then not looked for).
// It keeps at most n messages (transiently 2n) and calls fn once done.
func (r *Reader) Last(ctx context.Context, s *bus.Stream, n int, keep func(bus.StoredMsg) bool, fn func(bus.StoredMsg) error) (uint64, error) {
	st, err := r.state(ctx, s)
	if err != nil {
		return 0, err
	}
	if n <= 0 || st.Msgs == 0 {
		return st.LastSeq, nil
	}
	budget := uint64(minScan)
	if uint64(n) <= math.MaxUint64/64 {
		budget = max(budget, 64*uint64(n))
	}
	var got []bus.StoredMsg // kept, oldest first
	hi, size := st.LastSeq, uint64(n)
	for len(got) < n && budget > 0 && hi >= st.FirstSeq {
		size = min(size, budget, hi-st.FirstSeq+1)
		lo := hi - size + 1
		need := n - len(got)
		var win []bus.StoredMsg // the newest need kept messages of [lo, hi]
		err := r.read(ctx, s, lo, hi, func(m bus.StoredMsg) error {
			if keep != nil && !keep(m) {
				return nil
			}
			win = append(win, m)
			if len(win)-need >= need {
				win = append(win[:0], win[len(win)-need:]...)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if len(win) > need {
			win = win[len(win)-need:]
		}
		got = append(win, got...)
		budget -= size
		hi, size = lo-1, 2*size
	}
	for _, m := range got {
		if err := fn(m); err != nil {
			return 0, err
		}
	}
	return st.LastSeq, nil
}

// ChannelHistory calls emit with the last n messages of a plain WebSocket
// channel, oldest first (it implements wsedge.History for channels).
func (r *Reader) ChannelHistory(ctx context.Context, s *bus.Stream, n int, emit func(binary bool, data []byte) error) (uint64, error) {
	return r.Last(ctx, s, n, nil, func(m bus.StoredMsg) error {
		return emit(m.Header.Get(bus.HeaderBinary) == "1", m.Data)
	})
}

func (r *Reader) state(ctx context.Context, s *bus.Stream) (jetstream.StreamState, error) {
	info, err := s.JS.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("failed to read stream %s state: %w", s.Name, err)
	}
	return info.State, nil
}

// read delivers the stored sequences from..to (inclusive), in order, through
// an ordered consumer.
func (r *Reader) read(ctx context.Context, s *bus.Stream, from, to uint64, fn func(bus.StoredMsg) error) error {
	cons, err := r.js.OrderedConsumer(ctx, s.Name, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		InactiveThreshold: 5 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("failed to open replay of %s: %w", s.Name, err)
	}
	next := from
	for next <= to {
		want := min(to-next+1, maxBatch)
		wait := 2 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if wait <= 0 {
			return fmt.Errorf("failed to replay %s: %w", s.Name, context.DeadlineExceeded)
		}
		batch, err := cons.Fetch(int(want), jetstream.FetchMaxWait(wait))
		if err != nil {
			return fmt.Errorf("failed to replay %s: %w", s.Name, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("failed to replay %s: %w", s.Name, err)
			}
			seq := meta.Sequence.Stream
			if seq > to { // past a gap (deleted or trimmed messages): done
				next = seq
				continue
			}
			next = seq + 1
			if err := fn(bus.StoredMsg{Seq: seq, Subject: m.Subject(), Header: nats.Header(m.Headers()), Data: m.Data()}); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && got == 0 {
			return fmt.Errorf("failed to replay %s at %d: %w", s.Name, next, err)
		}
		if got == 0 {
			return fmt.Errorf("failed to replay %s: no message at %d of %d", s.Name, next, to)
		}
	}
	return nil
}
