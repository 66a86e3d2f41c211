package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrBusy reports too many publishes waiting for JetStream's acknowledgement.
var ErrBusy = errors.New("bus: too many publishes waiting to be stored")

// ErrNotStored reports a publish JetStream did not acknowledge within the
// store timeout, retries included.
var ErrNotStored = errors.New("bus: publish not acknowledged in time")

// DefaultStoreTimeout bounds how long PublishStored keeps trying: longer
// than a stream's leader election after a crash (Raft election timeout,
// 4-9 s), shorter than the ack timeouts clients commonly set.
const DefaultStoreTimeout = 15 * time.Second

const (
	maxPendingAcks = 1 << 16
	// attemptTimeout resends a publish nobody answered: it was in flight
	// to a leader that died. The message id makes the resend harmless if
	// the first copy was stored after all.
	attemptTimeout = 2 * time.Second
	// holdAfter holds a sender's later publishes back while its first one
	// has been unanswered this long (normal answers take milliseconds): it
	// may have been lost on a cluster route that drops and comes back
	// (nats-server redials a route after 1 s) while the stream keeps its
	// leader; sent then, the later ones would be stored before its resend.
	holdAfter = 500 * time.Millisecond
	// firstBackoff and maxBackoff space the resends of a publish refused
	// because its stream has no leader (503 no responders, 10008).
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = 400 * time.Millisecond
	// sweepEvery is how often pending publishes are checked for resends
	// and expiry.
	sweepEvery = 50 * time.Millisecond
)

// pendingAck is one stored publish until it is answered. Its fields other
// than id and from are guarded by from.mu.
type pendingAck struct {
	id      uint64 // in base 36, the reply subject's and message id's suffix
	from    *Sender
	msgID   [1]string // the message id header's value (no slice of its own)
	reply   string    // the first copy's reply subject
	live    string    // where the node publishes it live once stored (liveByNode); "" if not
	where   bool      // the callback wants where it was stored (Stored)
	cb      ackCallback
	msg     nats.Msg  // cleared once answered
	first   time.Time // registered: the store timeout counts from here
	sent    time.Time // last sent; zero while waiting to be (re)sent
	retryAt time.Time // when a refused publish is resent
	tries   int       // copies sent
	conn    uint64    // the connection the last copy went out on (connGen)
	done    bool      // answered, failed or given up
}

// PublishStored stores msg in its stream and calls fn once JetStream
// acknowledged it (nil), refused it for a reason a retry cannot fix, or
// could not store it within the store timeout (ErrNotStored). While the
// stream has no leader (an election after a crash takes 4-9 s) msg is
// resent with backoff; it is stored at most once. fn runs on the bus's
// acknowledgement goroutine, in no particular order across publishes, and
// must not block. Publishes whose relative order matters go through one
// Sender (PublishStoredBy). msg's Header map is the bus's from the call on:
// it gets the message id, and on a node that publishes stored events live
// itself (live.go) it becomes the live copy's; the caller must not use or
// reuse it (a fresh map per publish).
func (b *Bus) PublishStored(msg *Msg, fn func(error)) error {
	return b.PublishStoredBy(&Sender{}, msg, fn)
}

// PublishStoredBy is PublishStored in s's order: msg is stored after every
// earlier publish of s that gets stored, resends included (see Sender).
// fn may be nil.
func (b *Bus) PublishStoredBy(s *Sender, msg *Msg, fn func(error)) error {
	return s.publish(b.replies, b.storeMsg(msg), b.liveSubject(msg.Subject), ackCallback{fn: fn}, "")
}

// Stored is where JetStream stored a publish.
type Stored struct {
	Stream string // the stream's name
	Seq    uint64 // the stream sequence
	// Duplicate is true when an earlier publish with the same message id
	// was stored (Seq is that one's): PublishStoredAs's id was seen within
	// the stream's duplicate window (DupWindow).
	Duplicate bool
}

// PublishStoredAs is PublishStored with the caller's message id, when id
// is not empty (a retried call stores once within the stream's duplicate
// window, DupWindow), and fn told where the message was stored. The id
// must be unique per message and at most 255 printable ASCII bytes.
func (b *Bus) PublishStoredAs(msg *Msg, id string, fn func(Stored, error)) error {
	return (&Sender{}).publish(b.replies, b.storeMsg(msg), b.liveSubject(msg.Subject), ackCallback{withAck: fn}, id)
}

// storeMsg is msg as nats.go publishes it to its stream (header map and
// body shared), by value: the pending publish holds it, one allocation for
// both.
func (b *Bus) storeMsg(msg *Msg) nats.Msg {
	return nats.Msg{Subject: b.StoreSubject(msg.Subject), Reply: msg.Reply, Header: nats.Header(msg.Header), Data: msg.Data}
}

// DupWindow is how long a stream remembers the message ids of stored
// publishes (duplicates within it are stored once).
func (b *Bus) DupWindow() time.Duration { return b.dupWindow() }

// ackCallback is a stored publish's callback: with the error only, or with
// where it was stored too.
type ackCallback struct {
	fn      func(error)
	withAck func(Stored, error)
}

func (c ackCallback) call(ack Stored, err error) {
	switch {
	case c.withAck != nil:
		c.withAck(ack, err)
	case c.fn != nil:
		c.fn(err)
	}
}

// register sets msg's message id (id, or one of the node's) and tracks it
// (not sent yet).
func (a *replyMux) register(s *Sender, msg nats.Msg, live string, cb ackCallback, id string) (*pendingAck, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) >= maxPendingAcks {
		return nil, ErrBusy
	}
	if err := a.readyLocked(); err != nil {
		return nil, err
	}
	a.next++
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	p := &pendingAck{id: a.next, from: s, live: live, where: cb.withAck != nil, cb: cb, first: time.Now()}
	// One string holds the first copy's reply subject and, unless the
	// caller gave one, the message id: its tail after replyPrefix, the
	// multiplexer's random tag and the key (unique across nodes and
	// restarts). One allocation for both.
	var buf [16]byte
	p.reply = a.prefix + string(strconv.AppendUint(buf[:0], a.next, 36))
	if id == "" {
		id = p.reply[len(replyPrefix):]
	}
	p.msgID[0] = id
	msg.Header[headerMsgID] = p.msgID[:]
	p.msg = msg
	a.pending[a.next] = p
	return p, nil
}

// forget stops tracking p.
func (a *replyMux) forget(p *pendingAck) {
	a.mu.Lock()
	delete(a.pending, p.id)
	if len(a.pending) == 0 && len(a.idle) > 0 {
		for _, ch := range a.idle {
			close(ch)
		}
		a.idle = nil
	}
	a.mu.Unlock()
}

// WaitStored returns once no stored publish (PublishStored*, and Publish)
// waits for JetStream's acknowledgement any more, or with ctx's error.
func (b *Bus) WaitStored(ctx context.Context) error {
	a := b.replies
	a.mu.Lock()
	if len(a.pending) == 0 {
		a.mu.Unlock()
	} else {
		ch := make(chan struct{})
		a.idle = append(a.idle, ch)
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("failed to wait for stored publishes: %w", ctx.Err())
		}
	}
	select {
	case <-b.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to wait for stored publishes: %w", ctx.Err())
	}
}

// send (re)sends p under a fresh attempt number; p.from.mu is held.
func (a *replyMux) send(p *pendingAck, now time.Time) error {
	p.tries++
	p.sent, p.retryAt, p.conn = now, time.Time{}, a.b.connGen()
	if p.tries == 1 {
		p.msg.Reply = p.reply
	} else {
		var buf [32]byte
		key := strconv.AppendUint(buf[:0], p.id, 36)
		p.msg.Reply = a.prefix + string(strconv.AppendInt(append(key, '-'), int64(p.tries), 10))
	}
	return a.b.nc.PublishMsg(&p.msg)
}

// backoff is the wait before the next resend after tries refused sends.
func backoff(tries int) time.Duration {
	d := firstBackoff << min(tries-1, 8)
	return min(d, maxBackoff)
}

// errNoLeader marks a publish refused because its stream has no leader now.
var errNoLeader = errors.New("bus: stream has no leader")

// retryable reports refusals a stream gives while it elects a leader.
func retryable(err error) bool { return errors.Is(err, errNoLeader) }

// pubAckError reads a JetStream publish acknowledgement: nil for
// {"stream":...,"seq":...} (also a duplicate: stored by an earlier copy), an
// error for {"error":{...}} or a status reply (503: no stream listens on
// the subject, i.e. its leader is gone and none is elected yet).
func pubAckError(m *nats.Msg) error {
	_, err := pubAck(m, false)
	return err
}

// pubAck is pubAckError with, when want is set, where the message was
// stored.
func pubAck(m *nats.Msg, want bool) (Stored, error) {
	return pubAckIn(m, want, nil)
}

// pubAckIn is pubAck with the names of the streams the node knows (see
// parseStored).
func pubAckIn(m *nats.Msg, want bool, names map[string]string) (Stored, error) {
	if len(m.Header) == 0 && want {
		if ack, ok := parseStored(m.Data, names); ok {
			return ack, nil
		}
	}
	if st := m.Header.Get(HeaderStatus); st != "" {
		err := fmt.Errorf("bus: publish not stored: status %s %s", st, m.Header.Get(HeaderDescription))
		if st == StatusNoResponders {
			err = fmt.Errorf("%w: %w", errNoLeader, err)
		}
		return Stored{}, err
	}
	if !bytes.Contains(m.Data, []byte(`"error"`)) {
		if !want {
			return Stored{}, nil
		}
		var ack Stored
		var r struct {
			Stream    string `json:"stream"`
			Seq       uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
		}
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Seq == 0 {
			return ack, fmt.Errorf("bus: unreadable store acknowledgement %q", m.Data)
		}
		return Stored{Stream: r.Stream, Seq: r.Seq, Duplicate: r.Duplicate}, nil
	}
	var r struct {
		Error *struct {
			Status      int    `json:"code"`
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil || r.Error == nil {
		return Stored{}, fmt.Errorf("bus: publish not stored: %s", m.Data)
	}
	err := fmt.Errorf("bus: publish not stored: %s (%d)", r.Error.Description, r.Error.Code)
	if r.Error.Status == 503 || r.Error.Code == int(errCodeClusterNotAvail) {
		err = fmt.Errorf("%w: %w", errNoLeader, err)
	}
	return Stored{}, err
}
