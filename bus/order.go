package bus

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Sender is one client's ordering point for stored publishes
// (PublishStoredBy): what it publishes is stored in the order it published
// it, resends included. Publishes are pipelined: each is sent at once,
// without waiting for the ones before it. When one is refused (the stream
// has no leader) or goes unanswered (it was in flight to a leader that
// died), the sender stalls: its first unanswered publish is resent alone,
// with backoff, and every later one waits; once that one is stored, all
// the later ones are sent again in order. A copy stored already is answered
// as a duplicate (message ids), so nothing is stored twice.
//
// A lost connection to the node's NATS stalls the sender too: nats.go
// keeps no reconnect buffer for the node's connection (connOptions), so a
// publish made while it reconnects is not sent but queued; and an
// unfinished publish that went out on a connection lost since (connGen)
// stalls the sender at its next publish or sweep, so whatever the old
// connection lost is resent before anything later goes out on the new one
// (TestSenderKeepsOrderThroughExternalReconnect).
//
// A publish lost on a cluster route between this node's server and the
// stream leader's, when the route drops and comes back while the stream
// keeps its leader (nats-server redials a route after 1 s), would otherwise
// be noticed only by its attempt timeout: so while the first unfinished
// publish has been unanswered for holdAfter (500 ms; answers normally take
// milliseconds), later ones are held back, not sent, until it is answered
// or resent and stored (TestSenderKeepsOrderThroughRouteDrop). Known limit:
// a route that comes back within holdAfter can still let a later publish
// overtake a lost one. A crash's election outlasts the attempt timeout:
// there the later ones are refused and wait.
//
// The zero value is ready; one Sender per client (a stall holds back all
// its publishes, nobody else's).
type Sender struct {
	mu      sync.Mutex
	q       []*pendingAck // in publish order; q[head:] holds every unfinished one
	head    int
	stalled bool
	held    bool // later publishes wait: the first went unanswered for holdAfter
}

// PublishBy stores msg in s's order without asking for an acknowledgement:
// nobody waits for it (a client's emit without an ack). When s has nothing
// unfinished, msg is published as is, with no reply subject and no message
// id: JetStream stores it and answers nothing, which spares the stream an
// acknowledgement and the node its tracking (a third of the CPU of a stored
// publish, BenchmarkPublishBy). Such a publish is at most once: lost if its
// stream is electing a leader at that moment, as Socket.IO's emits without
// an ack may be. When s has publishes in flight or waiting for a resend,
// msg is tracked behind them (PublishStoredBy), so it cannot overtake them;
// so is one made while the node's connection reconnects (it has no
// reconnect buffer to hold it).
// On a node that publishes its stored events live itself (live.go) every
// msg is tracked: the acknowledgement is what sends it live.
func (b *Bus) PublishBy(s *Sender, msg *Msg) error {
	if b.liveByNode {
		return b.PublishStoredBy(s, msg, nil)
	}
	s.mu.Lock()
	if s.first() == nil { // held while sending: a tracked publish of s goes after it
		m := b.storeMsg(msg)
		m.Reply = ""
		err := b.nc.PublishMsg(&m)
		if err == nil || !unsent(err) {
			s.mu.Unlock()
			if err != nil {
				return fmt.Errorf("failed to publish on %s: %w", m.Subject, err)
			}
			return nil
		}
		// Reconnecting: tracked instead, sent once the connection is back.
	}
	s.mu.Unlock()
	return b.PublishStoredBy(s, msg, nil)
}

// publish registers msg and sends it unless the sender is stalled, or
// stalls it: when an unfinished publish went out on a connection lost since
// (it may be lost with it), or the connection is being re-established.
func (s *Sender) publish(a *replyMux, msg nats.Msg, live string, cb ackCallback, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := a.register(s, msg, live, cb, id)
	if err != nil {
		return err
	}
	now := time.Now()
	if h := s.first(); h != nil && !s.stalled {
		if h.conn != a.b.connGen() {
			s.q = append(s.q, p)
			s.stall(now)
			s.resendFirst(a, now)
			return nil
		}
		if now.Sub(h.sent) >= holdAfter {
			s.held = true
		}
	}
	if s.stalled || s.held {
		s.q = append(s.q, p) // sent once the publishes before it are stored
		return nil
	}
	if err := a.send(p, now); err != nil {
		if unsent(err) {
			s.q = append(s.q, p)
			s.stall(now.Add(firstBackoff))
			return nil
		}
		a.forget(p)
		return fmt.Errorf("failed to publish on %s: %w", msg.Subject, err)
	}
	s.q = append(s.q, p)
	return nil
}

// resendFirst sends a stalled sender's first publish now; when the
// connection is being re-established it is tried again after a backoff;
// s.mu is held and there is a first one.
func (s *Sender) resendFirst(a *replyMux, now time.Time) {
	h := s.q[s.head]
	if err := a.send(h, now); err != nil && unsent(err) {
		h.sent, h.retryAt = time.Time{}, now.Add(backoff(h.tries))
	}
	// Any other failed send is an unanswered one: retried after attemptTimeout.
}

// first is the oldest unfinished publish, nil when none; s.mu is held.
func (s *Sender) first() *pendingAck {
	for s.head < len(s.q) && s.q[s.head].done {
		s.q[s.head] = nil
		s.head++
	}
	if s.head == len(s.q) {
		if cap(s.q) > 64 {
			s.q = nil // an idle client keeps no backlog's memory
		} else {
			clear(s.q)
			s.q = s.q[:0]
		}
		s.head = 0
		s.stalled, s.held = false, false
		return nil
	}
	return s.q[s.head]
}

// answer applies JetStream's answer to copy attempt of p.
func (s *Sender) answer(a *replyMux, p *pendingAck, attempt int, ack Stored, err error) {
	s.mu.Lock()
	if p.done {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	if err != nil && retryable(err) {
		if attempt == p.tries {
			s.refused(p, now) // an earlier copy's refusal says nothing new
		}
		s.mu.Unlock()
		return
	}
	wasHead := s.first() == p
	var live *Msg
	if err == nil && p.live != "" && !ack.Duplicate {
		live = liveCopy(p, ack)
	}
	cb := s.finish(a, p)
	switch {
	case s.stalled && wasHead:
		s.resume(a, now)
	case s.held && wasHead:
		s.release(a, now)
	}
	s.mu.Unlock()
	if live != nil {
		a.b.goLive(live) // still on the reply goroutine: in acknowledgement order (live.go)
	}
	cb.call(ack, err)
}

// finish marks p answered and returns its callback; s.mu is held.
func (s *Sender) finish(a *replyMux, p *pendingAck) ackCallback {
	p.done = true
	a.forget(p)
	cb := p.cb
	p.cb, p.msg = ackCallback{}, nats.Msg{}
	return cb
}

// fail gives p up with err (the bus is closing).
func (s *Sender) fail(p *pendingAck, err error) {
	s.mu.Lock()
	var cb ackCallback
	if !p.done {
		p.done = true
		cb, p.cb, p.msg = p.cb, ackCallback{}, nats.Msg{}
	}
	s.first()
	s.mu.Unlock()
	cb.call(Stored{}, err)
}

// refused stalls the sender after p's current copy was refused: the first
// unanswered publish (p or an earlier one whose fate is now in doubt) is
// resent after a backoff, the rest wait for it; s.mu is held.
func (s *Sender) refused(p *pendingAck, now time.Time) {
	h := s.first()
	if s.stalled && h != p {
		return // p waits behind h, which has its own schedule
	}
	s.stall(now.Add(backoff(max(h.tries, 1))))
}

// stall holds every unfinished publish back and schedules the first one's
// resend at; s.mu is held and there is a first one. Copies of the others
// that are in flight are sent again after it, whatever became of them.
func (s *Sender) stall(at time.Time) {
	s.stalled, s.held = true, false
	for _, p := range s.q[s.head:] {
		p.sent, p.retryAt = time.Time{}, time.Time{}
	}
	s.q[s.head].retryAt = at
}

// resume sends every unfinished publish again, in order, after the one the
// sender stalled on was stored; s.mu is held.
func (s *Sender) resume(a *replyMux, now time.Time) {
	if s.first() == nil {
		return
	}
	s.stalled = false
	for _, p := range s.q[s.head:] {
		if p.done {
			continue
		}
		if err := a.send(p, now); err != nil && unsent(err) {
			s.stall(now.Add(firstBackoff)) // the connection dropped: from the first unfinished again
			return
		}
		// Any other failed send is an unanswered one: retried after attemptTimeout.
	}
}

// release sends the publishes a held sender kept back, in order, once the
// one it waited on was answered; those already sent stay in flight; s.mu
// is held.
func (s *Sender) release(a *replyMux, now time.Time) {
	s.held = false
	for _, p := range s.q[s.head:] {
		if p.done || !p.sent.IsZero() {
			continue
		}
		if err := a.send(p, now); err != nil && unsent(err) {
			s.stall(now.Add(firstBackoff))
			return
		}
	}
}

// tick is the sweep's visit: it gives up publishes out of time, stalls the
// sender on a publish unanswered for attemptTimeout or sent on a connection
// lost since, and resends the one a
// stalled sender waits on when it is due.
func (s *Sender) tick(a *replyMux, now time.Time) {
	var late []ackCallback
	s.mu.Lock()
	for _, p := range s.q[s.head:] {
		if !p.done && now.Sub(p.first) >= a.timeout {
			late = append(late, s.finish(a, p))
		}
	}
	if h := s.first(); h != nil {
		if !s.stalled && (now.Sub(h.sent) >= attemptTimeout || h.conn != a.b.connGen()) {
			s.stall(now)
		}
		if s.stalled && due(h, now) {
			s.resendFirst(a, now)
		}
		if s.held && h.sent.IsZero() {
			s.release(a, now) // the ones it waited on were given up
		}
	}
	s.mu.Unlock()
	for _, cb := range late {
		cb.call(Stored{}, ErrNotStored)
	}
}

// due reports whether a stalled sender's first publish h is to be sent now:
// its backoff is over, or its last copy went unanswered for attemptTimeout.
func due(h *pendingAck, now time.Time) bool {
	if h.sent.IsZero() {
		return !now.Before(h.retryAt)
	}
	return now.Sub(h.sent) >= attemptTimeout
}

// unsent reports a publish the node's connection did not take: it is being
// re-established, and nats.go's reconnect buffer is off (connOptions), so
// nothing published meanwhile can go out ahead of what was lost with the
// old connection.
func unsent(err error) bool { return errors.Is(err, nats.ErrReconnectBufExceeded) }
