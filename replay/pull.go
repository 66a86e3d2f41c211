package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
)

// Pull requests on a consumer of the read connection, made and read here
// rather than through jetstream's Fetch: a fetch relays every message
// through a goroutine of its own and parses its metadata into strings
// (together a third of a long read's CPU), and it is taken in whole before
// any of it is handed on, so the server's delivery and the caller's work
// took turns instead of overlapping.

// pullWindow is how many batches a read keeps requested ahead of what it
// has handed on: the next is asked for as soon as the current one is half
// taken, so the server delivers it while the caller works. It bounds what
// a read holds (that many batches, each at most batchBytes) whatever the
// caller's pace.
const pullWindow = 2

// pullRequest is JetStream's request for the next messages of a pull
// consumer (JSApiConsumerGetNextRequest).
type pullRequest struct {
	Batch    int   `json:"batch"`
	MaxBytes int   `json:"max_bytes,omitempty"`
	Expires  int64 `json:"expires,omitempty"` // nanoseconds
}

// pull delivers the messages of consumer name on stream, which starts at
// sequence from, to fn in order up to sequence to; pending is the
// consumer's pending count when it was created. It returns the next
// sequence to read, fn's error, and a read error after which the caller
// may go on from next by direct gets.
func (r *Reader) pull(ctx context.Context, stream, name string, from, to, pending uint64, fn func(bus.StoredMsg) error) (next uint64, fnErr, err error) {
	if err := r.take(ctx); err != nil {
		return from, nil, err
	}
	defer r.release()
	window := 1
	for window < pullWindow && r.tryTake() { // never waits: a second slot only if one is free
		window++
		defer r.release()
	}
	// Room for every message asked for and each request's closing status:
	// nats.go drops what does not fit in a channel subscription.
	ch := make(chan *nats.Msg, window*maxBatch+4*window+8)
	inbox := r.nc.NewInbox()
	sub, err := r.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return from, nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	subject := "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + name
	total := pending                  // the consumer's messages: never ask for more
	var requested, outstanding uint64 // messages asked for in all, and not yet answered
	ask := func() error {
		for outstanding+maxBatch <= uint64(window)*maxBatch && requested < total {
			n := min(total-requested, maxBatch)
			body, _ := json.Marshal(pullRequest{Batch: int(n), MaxBytes: r.batchBytes, Expires: int64(attemptTimeout)})
			if err := r.nc.PublishRequest(subject, inbox, body); err != nil {
				return err
			}
			requested += n
			outstanding += n
		}
		return nil
	}
	timer := time.NewTimer(attemptTimeout)
	defer timer.Stop()
	var got, gotAtTimer uint64 // answers received, and when the timer last fired
	next = from
	for next <= to && pending > 0 {
		if outstanding <= uint64(window-1)*maxBatch {
			if err := ask(); err != nil {
				return next, nil, err
			}
		}
		if outstanding == 0 {
			return next, nil, errNoProgress // the consumer counted fewer than asked for
		}
		var m *nats.Msg
		select {
		case m = <-ch: // the common case, without a full select's cost
		default:
			select {
			case m = <-ch:
			case <-ctx.Done():
				return next, nil, ctx.Err()
			case <-timer.C:
				if got > gotAtTimer { // answers came since it was set: set it again
					gotAtTimer = got
					timer.Reset(attemptTimeout)
					continue
				}
				return next, nil, fmt.Errorf("%w: no answer in %v", errNoProgress, attemptTimeout)
			}
		}
		got++
		if len(m.Data) == 0 && m.Header.Get(bus.HeaderStatus) != "" {
			left, err := pullStatus(m)
			if err != nil {
				return next, nil, err
			}
			outstanding -= min(outstanding, left)
			continue
		}
		outstanding -= min(outstanding, 1)
		seq, at, left, err := ackMetadata(m.Reply)
		if err != nil {
			return next, nil, err
		}
		pending = left
		if seq > to {
			return to + 1, nil, nil
		}
		next = seq + 1
		if fnErr = fn(bus.StoredMsg{Seq: seq, Subject: bus.PublicSubject(m.Subject), Header: bus.Header(m.Header), Data: m.Data, Time: at}); fnErr != nil {
			return next, fnErr, nil
		}
	}
	return next, nil, nil
}

// pullStatus reads a status a pull request ended with (or a notice that
// ends nothing): how many of the messages it asked for it will not send.
func pullStatus(m *nats.Msg) (left uint64, err error) {
	status := m.Header.Get(bus.HeaderStatus)
	switch status {
	case "100": // a heartbeat or flow control: not asked for, ends nothing
		return 0, nil
	case "404", "408", "409":
		desc := strings.ToLower(m.Header.Get(bus.HeaderDescription))
		if status == "409" && strings.Contains(desc, "batch completed") {
			return 0, nil // the batch was sent in whole; its bytes were left over
		}
		if status == "409" && !strings.Contains(desc, "exceeds maxbytes") {
			return 0, fmt.Errorf("pull: status %s %s", status, m.Header.Get(bus.HeaderDescription))
		}
		if status == "404" { // only for no_wait requests, which this never makes
			return 0, fmt.Errorf("%w: status 404", errNoProgress)
		}
		n, err := strconv.ParseUint(m.Header.Get("Nats-Pending-Messages"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pull: status %s without a pending count", status)
		}
		return n, nil
	case bus.StatusNoResponders:
		return 0, nats.ErrNoResponders
	}
	return 0, fmt.Errorf("pull: status %s %s", status, m.Header.Get(bus.HeaderDescription))
}

// errAckSubject is a delivery whose reply subject is not a JetStream ack
// subject.
var errAckSubject = errors.New("pull: bad ack subject")

// ackMetadata reads a delivered message's stream sequence, time stored and
// the count of the consumer's messages after it from its ack subject:
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>
// (9 tokens), or since server 2.9 with <domain>.<account hash> after
// $JS.ACK and possibly a last token (11 or more). Names have no dots, so
// the count of tokens tells which.
func ackMetadata(reply string) (seq uint64, at time.Time, pending uint64, err error) {
	rest, ok := strings.CutPrefix(reply, "$JS.ACK.")
	if !ok {
		return 0, time.Time{}, 0, fmt.Errorf("%w: %q", errAckSubject, reply)
	}
	var tok [10]string
	n := 0
	for n < len(tok) {
		var found bool
		tok[n], rest, found = strings.Cut(rest, ".")
		n++
		if !found {
			break
		}
	}
	// tok holds the tokens after $JS.ACK.: 7 (v1) or 9 and more (v2).
	var i int // where <delivered> is
	switch {
	case n == 7:
		i = 2
	case n >= 9:
		i = 4
	default:
		return 0, time.Time{}, 0, fmt.Errorf("%w: %q", errAckSubject, reply)
	}
	seq, err1 := strconv.ParseUint(tok[i+1], 10, 64)
	ns, err2 := strconv.ParseInt(tok[i+3], 10, 64)
	pending, err3 := strconv.ParseUint(tok[i+4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, time.Time{}, 0, fmt.Errorf("%w: %q: %w", errAckSubject, reply, err)
	}
	return seq, time.Unix(0, ns), pending, nil
}
