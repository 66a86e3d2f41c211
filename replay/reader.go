package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
)

// maxBatch bounds one direct-get batch: what a read holds in flight.
const maxBatch = 1024

// attemptTimeout bounds one direct get. Any replica answers a direct get,
// so a read does not wait for a stream leader; a request nobody answered
// in time is retried within the caller's context.
const attemptTimeout = 2 * time.Second

// Reader reads stored messages filtered by a name's subjects: with
// JetStream direct gets (no consumer is created, and any replica can
// answer), and long Since reads through an ordered consumer (see
// consumeMin). It is safe for concurrent use.
type Reader struct {
	nc *nats.Conn
	js jetstream.JetStream // nil: direct gets only
}

// NewReader returns a reader over b's streams.
func NewReader(b *bus.Bus) *Reader {
	nc := b.Conn()
	js, err := jetstream.New(nc)
	if err != nil {
		js = nil
	}
	return &Reader{nc: nc, js: js}
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
// returns the last sequence it covered. If messages after `after` may have
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
	_, err = r.read(ctx, l, next, last, fn)
	return last, err
}

// consume delivers the log's messages stored at sequences from..to through
// an ephemeral pull consumer filtered by the log's subjects (no acks, in
// memory, one replica), created once: an ordered consumer would be created
// again for every fetch, and each creation counts the filter's pending
// messages from its start. It returns the next sequence to read, fn's
// error, and a read error after which the caller may go on from next by
// direct gets. The consumer is deleted after the read (or expires 5 s
// after its last fetch).
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
	pending := cons.CachedInfo().NumPending
	next = from
	for next <= to && pending > 0 {
		batch, err := cons.Fetch(int(min(pending, maxBatch)), jetstream.FetchMaxWait(attemptTimeout))
		if err != nil {
			return next, nil, fmt.Errorf("failed to read %s: %w", l.Stream.Name, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if fnErr != nil || err != nil || next > to {
				continue // drain the batch
			}
			var meta *jetstream.MsgMetadata
			if meta, err = m.Metadata(); err != nil {
				continue
			}
			seq := meta.Sequence.Stream
			pending = meta.NumPending
			if seq > to {
				next = to + 1
				continue
			}
			next = seq + 1
			fnErr = fn(bus.StoredMsg{Seq: seq, Subject: bus.PublicSubject(m.Subject()), Header: m.Headers(), Data: m.Data()})
		}
		if fnErr != nil || err != nil {
			return next, fnErr, err
		}
		if got == 0 {
			return next, nil, fmt.Errorf("failed to read %s at %d: %w", l.Stream.Name, next, errors.Join(errNoProgress, batch.Error()))
		}
	}
	return next, nil, nil
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
// Reads go forward only, and a filtered read costs the span of the stream
// it crosses, so Last looks back in windows that grow fourfold from the
// end (2n sequences but at least 64, then four times that, …), counting
// the log's messages in each with one probe, and reads only once a window
// holds enough of them or reaches the stream's start. A log alone in its
// stream is read from its last 2n messages, not more; a sparse one costs a
// few more probes, each cheap next to a read. It reads at most
// max(64n, minScan) of the log's messages and keeps at most n (transiently 2n).
func (r *Reader) Last(ctx context.Context, l bus.Log, n int, keep func(bus.StoredMsg) bool, fn func(bus.StoredMsg) error) (uint64, error) {
	last, ok, err := r.lastSeq(ctx, l)
	if err != nil || !ok || n <= 0 {
		return last, err
	}
	first, ok, err := r.firstSeq(ctx, l.Stream)
	if err != nil || !ok {
		return last, err
	}
	budget := uint64(minScan)
	if uint64(n) <= math.MaxUint64/64 {
		budget = max(budget, 64*uint64(n))
	}
	var got []bus.StoredMsg // kept, oldest first
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
			count, err := r.count(ctx, l, lo)
			if err != nil {
				return 0, err
			}
			in = count - min(count, above)
			if in >= uint64(need) || lo == first {
				above = count
				break
			}
			span *= 4
		}
		var win []bus.StoredMsg // the newest need kept messages of [lo, hi]
		read, err := r.read(ctx, l, lo, hi, func(m bus.StoredMsg) error {
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
		budget -= min(budget, max(read, 1))
		if lo == first {
			break
		}
		hi, span = lo-1, span*4
	}
	for _, m := range got {
		if err := fn(m); err != nil {
			return 0, err
		}
	}
	return last, nil
}

// ChannelHistory calls emit with the last n messages of a plain WebSocket
// channel, oldest first (it implements wsedge.History for channels).
func (r *Reader) ChannelHistory(ctx context.Context, l bus.Log, n int, emit func(binary bool, data []byte) error) (uint64, error) {
	return r.Last(ctx, l, n, nil, func(m bus.StoredMsg) error {
		return emit(m.Header.Get(bus.HeaderBinary) == "1", m.Data)
	})
}

// directRequest is JetStream's direct-get request (JSApiMsgGetRequest).
type directRequest struct {
	Seq        uint64 `json:"seq,omitempty"`
	LastBySubj string `json:"last_by_subj,omitempty"`
	NextBySubj string `json:"next_by_subj,omitempty"`
	Batch      int    `json:"batch,omitempty"`
}

// errNotFound is a direct get's 404: no message matches.
var errNotFound = errors.New("replay: no message")

// firstSeq is the sequence of the stream's first stored message.
func (r *Reader) firstSeq(ctx context.Context, s *bus.Stream) (uint64, bool, error) {
	return r.one(ctx, s, directRequest{Seq: 1, NextBySubj: ">"})
}

// lastSeq is the sequence of the log's newest message.
func (r *Reader) lastSeq(ctx context.Context, l bus.Log) (uint64, bool, error) {
	return r.one(ctx, l.Stream, directRequest{LastBySubj: l.Filter})
}

func (r *Reader) one(ctx context.Context, s *bus.Stream, req directRequest) (uint64, bool, error) {
	var seq uint64
	_, err := r.direct(ctx, s, req, func(m *nats.Msg) (bool, error) {
		seq, _ = strconv.ParseUint(m.Header.Get(bus.HeaderSequence), 10, 64)
		return false, nil
	})
	if errors.Is(err, errNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return seq, true, nil
}

// count is the number of the log's messages stored at sequence from or
// later (the first match, plus the pending count the server reports with it).
func (r *Reader) count(ctx context.Context, l bus.Log, from uint64) (uint64, error) {
	var n uint64
	_, err := r.direct(ctx, l.Stream, directRequest{Seq: from, NextBySubj: l.Filter, Batch: 1}, func(m *nats.Msg) (bool, error) {
		p, err := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
		if err != nil {
			return false, fmt.Errorf("failed to count %s: bad pending count: %w", l.Filter, err)
		}
		n = p + 1
		return false, nil
	})
	if errors.Is(err, errNotFound) {
		return 0, nil
	}
	return n, err
}

// read delivers the log's messages stored at sequences from..to (inclusive),
// in order, and returns how many it delivered.
func (r *Reader) read(ctx context.Context, l bus.Log, from, to uint64, fn func(bus.StoredMsg) error) (uint64, error) {
	var n uint64
	next := from
	for next <= to {
		got, pending := 0, ""
		done, err := r.direct(ctx, l.Stream, directRequest{Seq: next, NextBySubj: l.Filter, Batch: maxBatch}, func(m *nats.Msg) (bool, error) {
			seq, err := strconv.ParseUint(m.Header.Get(bus.HeaderSequence), 10, 64)
			if err != nil {
				return false, fmt.Errorf("failed to replay %s: bad sequence: %w", l.Filter, err)
			}
			got++
			pending = m.Header.Get("Nats-Num-Pending")
			if seq > to {
				next = to + 1
				return false, nil
			}
			next = seq + 1
			n++
			subject := m.Header.Get("Nats-Subject")
			return true, fn(bus.StoredMsg{Seq: seq, Subject: bus.PublicSubject(subject), Header: m.Header, Data: m.Data})
		})
		if errors.Is(err, errNotFound) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if got == 0 || done && pending == "0" {
			return n, nil // nothing of the log after this batch
		}
	}
	return n, nil
}

// direct sends one direct-get request to any replica of s and passes each
// message of the answer to fn until the answer ends (a single message, or a
// batch's end-of-batch status) or fn returns false. A request left
// unanswered (no replica reachable yet, e.g. during an election) is retried
// until ctx ends.
func (r *Reader) direct(ctx context.Context, s *bus.Stream, req directRequest, fn func(*nats.Msg) (bool, error)) (bool, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return false, err
	}
	subject := "$JS.API.DIRECT.GET." + s.Name
	for {
		done, err := r.directOnce(ctx, subject, body, req.Batch > 0, fn)
		if err == nil || errors.Is(err, errNotFound) || ctx.Err() != nil || !retryable(err) {
			if err != nil && !errors.Is(err, errNotFound) {
				err = fmt.Errorf("failed to read %s: %w", s.Name, err)
			}
			return done, err
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("failed to read %s: %w", s.Name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func retryable(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded)
}

func (r *Reader) directOnce(ctx context.Context, subject string, body []byte, batch bool, fn func(*nats.Msg) (bool, error)) (bool, error) {
	inbox := r.nc.NewRespInbox()
	sub, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		return false, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := r.nc.PublishRequest(subject, inbox, body); err != nil {
		return false, err
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	for {
		m, err := sub.NextMsgWithContext(actx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = nats.ErrTimeout
			}
			return false, err
		}
		if status := m.Header.Get("Status"); status != "" {
			switch status {
			case "204": // end of a batch
				return true, nil
			case "404":
				return false, errNotFound
			case "503":
				return false, nats.ErrNoResponders
			default:
				return false, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
			}
		}
		more, err := fn(m)
		if err != nil || !more {
			return false, err
		}
		if !batch {
			return true, nil
		}
	}
}
