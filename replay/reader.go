package replay

import (
	"context"
	"fmt"
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

// Last calls fn, oldest first, for the last n messages of the stream and
// returns the last sequence.
func (r *Reader) Last(ctx context.Context, s *bus.Stream, n int, fn func(bus.StoredMsg) error) (uint64, error) {
	st, err := r.state(ctx, s)
	if err != nil {
		return 0, err
	}
	if n <= 0 || st.Msgs == 0 {
		return st.LastSeq, nil
	}
	from := st.FirstSeq
	if st.LastSeq >= uint64(n) && st.LastSeq-uint64(n)+1 > from {
		from = st.LastSeq - uint64(n) + 1
	}
	return st.LastSeq, r.read(ctx, s, from, st.LastSeq, fn)
}

// ChannelHistory calls emit with the last n messages of a plain WebSocket
// channel, oldest first (it implements wsedge.History for channels).
func (r *Reader) ChannelHistory(ctx context.Context, s *bus.Stream, n int, emit func(binary bool, data []byte) error) (uint64, error) {
	return r.Last(ctx, s, n, func(m bus.StoredMsg) error {
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

// read delivers sequences from..to (inclusive) through an ordered consumer.
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
			if seq > to {
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
