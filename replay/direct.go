package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sockbus/sockbus/bus"
)

// JetStream direct gets: every read of the Reader goes through one of
// these batched requests, answered by any replica without a consumer.

// directRequest is JetStream's direct-get request (JSApiMsgGetRequest).
type directRequest struct {
	Seq uint64 `json:"seq,omitempty"`
	// StartTime starts at the first message stored at or after it
	// (instead of Seq).
	StartTime  *time.Time `json:"start_time,omitempty"`
	LastBySubj string     `json:"last_by_subj,omitempty"`
	NextBySubj string     `json:"next_by_subj,omitempty"`
	Batch      int        `json:"batch,omitempty"`
	// MaxBytes ends a batch once this many bytes are sent (the server
	// sends at least one message). Unset, the server sends up to its
	// slow-consumer limit: what closes the connection that asked.
	MaxBytes int `json:"max_bytes,omitempty"`
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
	msgs, err := r.direct(ctx, s, req)
	if errors.Is(err, errNotFound) || err == nil && len(msgs) == 0 {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	seq, err := strconv.ParseUint(msgs[0].Header.Get(bus.HeaderSequence), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("failed to read %s: bad sequence: %w", s.Name, err)
	}
	return seq, true, nil
}

// count is the number of the log's messages stored at sequence from or
// later (the first match, plus the pending count the server reports with
// it), and the sequence of the first of them.
func (r *Reader) count(ctx context.Context, l bus.Log, from uint64) (n, at uint64, err error) {
	msgs, err := r.direct(ctx, l.Stream, directRequest{Seq: from, NextBySubj: l.Filter, Batch: 1})
	if errors.Is(err, errNotFound) || err == nil && len(msgs) == 0 {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	p, err := strconv.ParseUint(msgs[0].Header.Get(bus.HeaderNumPending), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("failed to count %s: bad pending count: %w", l.Filter, err)
	}
	at, err = strconv.ParseUint(msgs[0].Header.Get(bus.HeaderSequence), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("failed to count %s: bad sequence: %w", l.Filter, err)
	}
	return p + 1, at, nil
}

// read delivers the log's messages stored at sequences from..to (inclusive),
// in order, and returns how many it delivered. It asks for a batch only
// once fn has taken the previous one.
func (r *Reader) read(ctx context.Context, l bus.Log, from, to uint64, fn func(bus.StoredMsg) error) (uint64, error) {
	var n uint64
	next := from
	for next <= to {
		msgs, err := r.direct(ctx, l.Stream, directRequest{Seq: next, NextBySubj: l.Filter, Batch: maxBatch})
		if errors.Is(err, errNotFound) || err == nil && len(msgs) == 0 {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		pending := ""
		for i, m := range msgs {
			msgs[i] = nil // delivered: the batch holds only what is left
			seq, err := strconv.ParseUint(m.Header.Get(bus.HeaderSequence), 10, 64)
			if err != nil {
				return n, fmt.Errorf("failed to replay %s: bad sequence: %w", l.Filter, err)
			}
			if seq > to {
				return n, nil
			}
			next, pending = seq+1, m.Header.Get(bus.HeaderNumPending)
			n++
			subject := m.Header.Get(bus.HeaderSubject)
			at, _ := time.Parse(time.RFC3339Nano, m.Header.Get(bus.HeaderTimeStamp))
			if err := fn(bus.StoredMsg{Seq: seq, Subject: bus.PublicSubject(subject), Header: bus.Header(m.Header), Data: m.Data, Time: at}); err != nil {
				return n, err
			}
		}
		if pending == "0" {
			return n, nil // nothing of the log after this batch
		}
	}
	return n, nil
}

// direct sends one direct-get request to any replica of s and returns the
// answer in whole: one message, or a batch's (at most maxBatch and about
// batchBytes). It holds a slot on the read connection meanwhile. A request
// left unanswered (no replica reachable yet, e.g. during an election) is
// retried until ctx ends.
func (r *Reader) direct(ctx context.Context, s *bus.Stream, req directRequest) ([]*nats.Msg, error) {
	if req.Batch > 0 {
		req.MaxBytes = r.batchBytes
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	subject := "$JS.API.DIRECT.GET." + s.Name
	for {
		msgs, err := r.directOnce(ctx, subject, body, req.Batch)
		if err == nil || errors.Is(err, errNotFound) || ctx.Err() != nil || !retryable(err) {
			if err != nil && !errors.Is(err, errNotFound) {
				err = fmt.Errorf("failed to read %s: %w", s.Name, err)
			}
			return msgs, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("failed to read %s: %w", s.Name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func retryable(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting)
}

// directOnce makes one direct get: batch messages at most and the end
// marker, or one message for batch 0.
func (r *Reader) directOnce(ctx context.Context, subject string, body []byte, batch int) ([]*nats.Msg, error) {
	if err := r.take(ctx); err != nil {
		return nil, err
	}
	defer r.release()
	inbox := r.nc.NewInbox()
	// A channel the size of the answer: SubscribeSync's is nats.go's
	// default 65,536 slots, 512 KiB allocated and cleared per read, which
	// was most of a reconnect storm's CPU (a recovery reads a few times).
	ch := make(chan *nats.Msg, max(batch, 1)+1)
	sub, err := r.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := r.nc.PublishRequest(subject, inbox, body); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var msgs []*nats.Msg
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-actx.Done():
			err := actx.Err()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = nats.ErrTimeout
			}
			return nil, err
		}
		if status := m.Header.Get(bus.HeaderStatus); status != "" {
			switch status {
			case "204": // end of a batch
				return msgs, nil
			case "404":
				if len(msgs) > 0 {
					return msgs, nil
				}
				return nil, errNotFound
			case bus.StatusNoResponders:
				return nil, nats.ErrNoResponders
			default:
				return nil, fmt.Errorf("direct get: status %s %s", status, m.Header.Get(bus.HeaderDescription))
			}
		}
		msgs = append(msgs, m)
		if batch == 0 {
			return msgs, nil
		}
	}
}
