package replay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
)

// maxBatch bounds the messages of one read batch.
const maxBatch = 1024

// minBatchBytes is the least bytes one read batch may carry (a batch holds
// at least one whole message, so it is also larger than the largest).
const minBatchBytes = 1 << 20

// flightBytes bounds the bytes of all the batches in flight on the read
// connection at once: the server closes a connection whose unread answers
// pass its pending limit (64 MiB by default) as a slow consumer.
const flightBytes = 16 << 20

// attemptTimeout bounds one direct get. Any replica answers a direct get,
// so a read does not wait for a stream leader; a request nobody answered
// in time is retried within the caller's context.
const attemptTimeout = 2 * time.Second

// Reader reads stored messages filtered by a name's subjects: with
// JetStream direct gets (no consumer is created, and any replica can
// answer), and long Since reads through a pull consumer (see consumeMin).
// It reads over the bus's read connection, apart from the node's own, in
// batches of at most batchBytes. A direct-get batch is taken in whole
// before any of it is handed on, and the next is asked for only once the
// caller has taken the last; a consumer read hands each message on as it
// arrives and keeps at most pullWindow batches asked for ahead of the
// caller (pull.go). Either way a read holds a bounded number of batches,
// and a caller that waits for its client's room paces the read. It is
// safe for concurrent use.
type Reader struct {
	nc         *nats.Conn
	js         jetstream.JetStream // nil: direct gets only
	batchBytes int
	flight     chan struct{} // a slot per batch in flight
}

// NewReader returns a reader over b's streams.
func NewReader(b *bus.Bus) *Reader {
	nc := b.ReadConn()
	js, err := jetstream.New(nc)
	if err != nil {
		js = nil
	}
	return newReader(nc, js)
}

func newReader(nc *nats.Conn, js jetstream.JetStream) *Reader {
	// The server's max payload bounds a stored message with its headers;
	// a delivery adds a few of its own.
	batch := max(minBatchBytes, int(nc.MaxPayload())+4<<10)
	return &Reader{nc: nc, js: js, batchBytes: batch, flight: make(chan struct{}, max(1, flightBytes/batch))}
}

// take waits for a slot for one batch in flight; release gives it back.
func (r *Reader) take(ctx context.Context) error {
	select {
	case r.flight <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to read: no room on the read connection: %w", ctx.Err())
	}
}

func (r *Reader) release() { <-r.flight }

// tryTake takes a slot for one batch in flight if one is free at once.
func (r *Reader) tryTake() bool {
	select {
	case r.flight <- struct{}{}:
		return true
	default:
		return false
	}
}

// consumeMin is the least span of stream sequences Since reads through a
// consumer rather than direct gets. The server rebuilds every header of a
// direct get's answer (six lines per message, through a map) and answers it
// on the requesting connection's read loop, the one the node publishes on:
// a long read by direct gets costs about twice the CPU of a consumer's and
// holds the node's stored publishes back (BenchmarkAckDuringLongRead: the
// longest store wait during a read across a million events was 313 ms by
// direct gets, 23 ms through a consumer). A consumer costs a request to
// create (served by the stream's leader, not any replica), so short reads,
// and any read when no consumer can be had, use direct gets.
const consumeMin = 512

// Since calls fn, in order, for every message of the log stored after
// sequence after, up to the log's newest message when the call began, and
// returns the last sequence it covered. That newest message is the one the
// answering replica has applied, which may be behind what the stream's
// leader has republished live: a caller that saw a later sequence live
// asks again from the one returned. If messages after `after` may have
// been dropped from the stream it returns bus.ErrHistoryGone without
// calling fn.
func (r *Reader) Since(ctx context.Context, l bus.Log, after uint64, fn func(bus.StoredMsg) error) (uint64, error) {
	first, ok, err := r.firstSeq(ctx, l.Stream)
	if err != nil {
		return 0, err
	}
	if !ok && after > 0 {
		// Nothing is stored any more: whatever followed `after` expired.
		return 0, fmt.Errorf("position %d in an empty stream: %w", after, bus.ErrHistoryGone)
	}
	if ok && after+1 < first {
		return 0, fmt.Errorf("position %d before the start %d: %w", after, first, bus.ErrHistoryGone)
	}
	last, ok, err := r.lastSeq(ctx, l)
	if err != nil {
		return 0, err
	}
	if !ok || last <= after {
		// Nothing of the log after `after`; but a position past the
		// stream's own end was never handed out by this stream.
		end, _, err := r.one(ctx, l.Stream, directRequest{LastBySubj: ">"})
		if err != nil {
			return 0, err
		}
		if after > end {
			return 0, fmt.Errorf("position %d after the end %d: %w", after, end, bus.ErrHistoryGone)
		}
		return after, nil
	}
	next := after + 1
	if r.js != nil && last-after >= consumeMin {
		var fnErr error
		next, fnErr, err = r.consume(ctx, l, next, last, fn)
		if fnErr != nil {
			return 0, fnErr
		}
		if err == nil || ctx.Err() != nil {
			return last, err
		}
		// The rest by direct gets.
	}
	// The replica that answers may have applied less than the one that
	// told us last (any replica answers a direct get): a read that ends
	// before last covered only what it delivered.
	covered := next - 1
	_, err = r.read(ctx, l, next, last, func(m bus.StoredMsg) error {
		covered = m.Seq
		return fn(m)
	})
	return covered, err
}

// consume delivers the log's messages stored at sequences from..to through
// an ephemeral pull consumer filtered by the log's subjects (no acks, in
// memory, one replica), created once: an ordered consumer would be created
// again for every fetch, and each creation counts the filter's pending
// messages from its start. It returns the next sequence to read, fn's
// error, and a read error after which the caller may go on from next by
// direct gets. The consumer is deleted after the read (or expires 5 s
// after its last pull).
func (r *Reader) consume(ctx context.Context, l bus.Log, from, to uint64, fn func(bus.StoredMsg) error) (next uint64, fnErr, err error) {
	filter := l.Filter
	if l.Own {
		// The stream holds this name alone: unfiltered, the server counts
		// and steps through it without matching each record's subject.
		filter = ""
	}
	// Creating a consumer needs the stream's leader: while one is being
	// elected (4-9 s after a crash) give up after one attempt and read by
	// direct gets, which any replica answers.
	cctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	cons, err := r.js.CreateConsumer(cctx, l.Stream.Name, jetstream.ConsumerConfig{
		FilterSubject:     filter,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 5 * time.Second,
		MemoryStorage:     true,
		Replicas:          1,
	})
	cancel()
	if err != nil {
		return from, nil, fmt.Errorf("failed to open a consumer on %s: %w", l.Stream.Name, err)
	}
	name := cons.CachedInfo().Name
	defer func() {
		// Not waited for: the consumer also expires by itself.
		go func() {
			dctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
			defer cancel()
			_ = r.js.DeleteConsumer(dctx, l.Stream.Name, name)
		}()
	}()
	next, fnErr, err = r.pull(ctx, l.Stream.Name, name, from, to, cons.CachedInfo().NumPending, fn)
	if err != nil {
		err = fmt.Errorf("failed to read %s: %w", l.Stream.Name, err)
	}
	return next, fnErr, err
}

// errNoProgress is a consumer fetch that returned nothing.
var errNoProgress = errors.New("replay: nothing fetched")

// minScan is the least number of the log's messages Last reads looking for
// kept ones; it reads at most max(64n, minScan), so a log where almost
// nothing is kept cannot keep a CONNECT reading until its deadline.
const minScan = 100_000

// minWindow is the least span, in stream sequences, of Last's first window.
const minWindow = 64

// Last calls fn, oldest first, for the last n messages of the log that keep
// accepts (every message when keep is nil), or all of them if fewer are
// stored, and returns the sequence of the log's newest message when the
// call began (0 when it holds none).
//
// It finds where those messages start, then reads forward from there in
// bounded batches: what it holds does not grow with n or with the
// messages' size. Reads go forward only, and a filtered read costs the
// span of the stream it crosses, so the start is looked for from the end
// (see startOfLast and keptSince).
func (r *Reader) Last(ctx context.Context, l bus.Log, n int, keep func(bus.StoredMsg) bool, fn func(bus.StoredMsg) error) (uint64, error) {
	last, ok, err := r.lastSeq(ctx, l)
	if err != nil || !ok || n <= 0 {
		return last, err
	}
	first, ok, err := r.firstSeq(ctx, l.Stream)
	if err != nil || !ok {
		return last, err
	}
	if keep == nil {
		start, err := r.startOfLast(ctx, l, first, last, n)
		if err != nil || start == 0 {
			return last, err
		}
		left := n
		_, err = r.read(ctx, l, start, last, func(m bus.StoredMsg) error {
			if left == 0 {
				return errEnough
			}
			left--
			return fn(m)
		})
		if errors.Is(err, errEnough) {
			err = nil
		}
		return last, err
	}
	seqs, err := r.keptSince(ctx, l, first, last, n, keep)
	if err != nil || len(seqs) == 0 {
		return last, err
	}
	// The kept messages again, in order; the sequences say which.
	_, err = r.read(ctx, l, seqs[0], seqs[len(seqs)-1], func(m bus.StoredMsg) error {
		for len(seqs) > 0 && seqs[0] < m.Seq {
			seqs = seqs[1:] // gone meanwhile
		}
		if len(seqs) == 0 || seqs[0] != m.Seq {
			return nil
		}
		seqs = seqs[1:]
		return fn(m)
	})
	return last, err
}

// errEnough stops a read that delivered what was asked.
var errEnough = errors.New("replay: enough")

// startOfLast is the sequence of the log's n-th newest message up to last
// (its oldest if it holds fewer; 0 if none), found with probes only (each
// one direct get of one message): a window grown fourfold back from the
// end (2n sequences but at least 64) until it holds n of the log's
// messages or reaches the stream's start, then a binary search in it.
func (r *Reader) startOfLast(ctx context.Context, l bus.Log, first, last uint64, n int) (uint64, error) {
	want := uint64(n)
	span := max(uint64(minWindow), 2*want)
	var lo, count, at uint64
	for {
		lo = first
		if last-first+1 > span {
			lo = last - span + 1
		}
		var err error
		if count, at, err = r.count(ctx, l, lo); err != nil {
			return 0, err
		}
		if count >= want || lo == first {
			break
		}
		span *= 4
	}
	if count <= want {
		return at, nil // the window's first message of the log starts them
	}
	// count(lo) > want >= count(last): find the largest s with
	// count(s) >= want; the log's message at s is the want-th newest.
	hi := last
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		c, at, err := r.count(ctx, l, mid)
		if err != nil {
			return 0, err
		}
		if c >= want {
			lo = at // the log's first message at or after mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// keptSince is the sequences of the last n messages up to last that keep
// accepts, oldest first. It looks back from the end in windows that grow
// fourfold (2n sequences but at least 64, then four times that, …),
// counting the log's messages in each with one probe, and reads a window
// only once it holds enough of them or reaches the stream's start. It
// reads at most max(64n, minScan) of the log's messages (so a log where
// almost nothing is kept cannot keep a CONNECT reading until its
// deadline) and keeps sequences only (transiently 2n).
func (r *Reader) keptSince(ctx context.Context, l bus.Log, first, last uint64, n int, keep func(bus.StoredMsg) bool) ([]uint64, error) {
	budget := uint64(minScan)
	if uint64(n) <= math.MaxUint64/64 {
		budget = max(budget, 64*uint64(n))
	}
	var got []uint64 // kept, oldest first
	hi, span := last, max(uint64(minWindow), 2*uint64(n))
	var above uint64 // the log's messages counted after hi (at the last probe)
	for len(got) < n && budget > 0 && hi >= first {
		need := n - len(got)
		// Grow the window until it holds need messages of the log or
		// reaches the start.
		var lo, in uint64
		for {
			lo = first
			if hi-first+1 > span {
				lo = hi - span + 1
			}
			count, _, err := r.count(ctx, l, lo)
			if err != nil {
				return nil, err
			}
			in = count - min(count, above)
			if in >= uint64(need) || lo == first {
				above = count
				break
			}
			span *= 4
		}
		var win []uint64 // the newest need kept messages of [lo, hi]
		read, err := r.read(ctx, l, lo, hi, func(m bus.StoredMsg) error {
			if !keep(m) {
				return nil
			}
			win = append(win, m.Seq)
			if len(win)-need >= need {
				win = append(win[:0], win[len(win)-need:]...)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(win) > need {
			win = win[len(win)-need:]
		}
		got = append(win, got...)
		budget -= min(budget, max(read, 1))
		if lo == first {
			break
		}
		hi, span = lo-1, span*4
	}
	return got, nil
}

// ChannelHistory calls emit with the last n messages of a plain WebSocket
// channel, oldest first (it implements wsedge.History for channels).
func (r *Reader) ChannelHistory(ctx context.Context, l bus.Log, n int, emit func(binary bool, data []byte) error) (uint64, error) {
	return r.Last(ctx, l, n, nil, func(m bus.StoredMsg) error {
		return emit(m.Header.Get(bus.HeaderBinary) == "1", m.Data)
	})
}

// FirstAt is the sequence of the log's first message stored at or after t
// (its first message when t is zero); ok is false when it holds none.
// Since(l, seq-1, …) then reads from it.
func (r *Reader) FirstAt(ctx context.Context, l bus.Log, t time.Time) (seq uint64, ok bool, err error) {
	req := directRequest{Seq: 1, NextBySubj: l.Filter}
	if !t.IsZero() {
		req.Seq, req.StartTime = 0, &t
	}
	return r.one(ctx, l.Stream, req)
}
