package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/randid"
)

// ErrNoResponders reports a request nobody subscribes to.
var ErrNoResponders = errors.New("bus: no responders")

// maxPendingReplies bounds the requests waiting for an answer (Request,
// AwaitReply) on one node; more are refused with ErrBusy. Each costs one
// map entry until it is answered or its deadline passes.
const maxPendingReplies = 1 << 16

// replyMux receives every reply the node waits for on one node-wide
// wildcard subscription (replyPrefix + tag + ".*"): JetStream's
// acknowledgements of stored publishes (acks.go) and the answers to
// requests. No future, channel, timer or goroutine per reply: each waits in
// a map, both maps are capped, and one sweeper resends unanswered
// publishes and forgets requests past their deadline every sweepEvery.
type replyMux struct {
	b       *Bus
	prefix  string // reply subjects: prefix + id [+ "-" + attempt]
	timeout time.Duration
	maxReqs int // maxPendingReplies; lowered by tests

	mu       sync.Mutex
	sub      *nats.Subscription
	next     uint64 // ids of acks and requests alike
	pending  map[uint64]*pendingAck
	requests map[uint64]*pendingReply
	idle     []chan struct{} // WaitStored's: closed once pending is empty
	closed   bool
	stop     chan struct{}
	done     chan struct{}
}

// pendingReply is one request until its first answer or its deadline.
type pendingReply struct {
	fn       func(*Msg) // nil: expired or the bus closed
	deadline time.Time  // zero: the waiter forgets it itself (Request)
}

func newReplyMux(b *Bus, timeout time.Duration) *replyMux {
	tag := randid.Hex(8)
	return &replyMux{b: b, prefix: replyPrefix + tag + ".",
		timeout: timeout, maxReqs: maxPendingReplies,
		pending: map[uint64]*pendingAck{}, requests: map[uint64]*pendingReply{}}
}

// readyLocked subscribes and starts the sweeper on first use; a.mu is held.
func (a *replyMux) readyLocked() error {
	if a.closed {
		return net.ErrClosed
	}
	if a.sub != nil {
		return nil
	}
	sub, err := a.b.nc.Subscribe(a.prefix+"*", a.onReply)
	if err != nil {
		return fmt.Errorf("failed to subscribe for replies: %w", err)
	}
	_ = sub.SetPendingLimits(-1, -1) // bounded by maxPendingAcks and maxReqs instead
	a.sub = sub
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.sweep()
	return nil
}

// expect registers fn for the first reply to the returned subject.
func (a *replyMux) expect(deadline time.Time, fn func(*Msg)) (uint64, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.requests) >= a.maxReqs {
		a.b.connWarn().Warn("bus request refused: too many waiting for an answer", "max", a.maxReqs)
		return 0, "", ErrBusy
	}
	if err := a.readyLocked(); err != nil {
		return 0, "", err
	}
	a.next++
	a.requests[a.next] = &pendingReply{fn: fn, deadline: deadline}
	return a.next, a.prefix + strconv.FormatUint(a.next, 36), nil
}

// drop forgets request id unanswered.
func (a *replyMux) drop(id uint64) {
	a.mu.Lock()
	delete(a.requests, id)
	a.mu.Unlock()
}

func (a *replyMux) onReply(m *nats.Msg) {
	key, attempt := m.Subject[len(a.prefix):], 1
	if i := strings.IndexByte(key, '-'); i >= 0 {
		n, err := strconv.Atoi(key[i+1:])
		if err != nil {
			return
		}
		key, attempt = key[:i], n
	}
	id, err := strconv.ParseUint(key, 36, 64)
	if err != nil {
		return
	}
	a.mu.Lock()
	p := a.pending[id]
	r := a.requests[id]
	delete(a.requests, id)
	a.mu.Unlock()
	switch {
	case p != nil:
		ack, err := pubAckIn(m, p.where || p.live != "", a.b.streamNames)
		p.from.answer(a, p, attempt, ack, err)
	case r != nil:
		r.fn(fromNATS(m))
	}
}

// sweep resends publishes that were refused or never answered, each
// sender's in its order, senders in the order of their oldest publish;
// fails those out of time; and forgets requests past their deadline.
func (a *replyMux) sweep() {
	defer close(a.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	oldest := map[*Sender]uint64{}
	var senders []*Sender
	var expired []*pendingReply
	for {
		select {
		case <-a.stop:
			return
		case now := <-t.C:
			a.mu.Lock()
			for _, p := range a.pending {
				if id, ok := oldest[p.from]; !ok || p.id < id {
					oldest[p.from] = p.id
				}
			}
			for id, r := range a.requests {
				if !r.deadline.IsZero() && now.After(r.deadline) {
					delete(a.requests, id)
					expired = append(expired, r)
				}
			}
			a.mu.Unlock()
			for _, r := range expired {
				r.fn(nil)
			}
			clear(expired)
			expired = expired[:0]
			for s := range oldest {
				senders = append(senders, s)
			}
			slices.SortFunc(senders, func(x, y *Sender) int { return cmp.Compare(oldest[x], oldest[y]) })
			for _, s := range senders {
				s.tick(a, now)
			}
			clear(oldest)
			clear(senders) // no pointers kept until the next sweep
			senders = senders[:0]
		}
	}
}

// close waits (bounded by ctx) for outstanding acknowledgements, retries
// included, then fails the rest, ends the requests unanswered and stops the
// sweeper.
func (a *replyMux) close(ctx context.Context) {
	for {
		a.mu.Lock()
		n := len(a.pending)
		if n == 0 || ctx.Err() != nil {
			a.closed = true
			rest, reqs := a.pending, a.requests
			a.pending, a.requests = map[uint64]*pendingAck{}, map[uint64]*pendingReply{}
			for _, ch := range a.idle {
				close(ch) // nothing waits to be stored any more
			}
			a.idle = nil
			stop, done := a.stop, a.done
			a.mu.Unlock()
			for _, p := range rest {
				p.from.fail(p, ErrNotStored)
			}
			for _, r := range reqs {
				r.fn(nil)
			}
			if stop != nil {
				close(stop)
				<-done
			}
			return
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond): // polling outstanding acks during shutdown only
		}
	}
}

// AwaitReply returns a reply subject for a request the caller publishes
// (Msg.Reply): fn runs once, on the bus's reply goroutine, with the first
// answer that arrives within timeout (a NoResponders status included), and
// never if none does. fn must not block. More than maxPendingReplies
// requests waiting at once are refused with ErrBusy.
func (b *Bus) AwaitReply(timeout time.Duration, fn func(*Msg)) (string, error) {
	_, subject, err := b.replies.expect(time.Now().Add(timeout), func(m *Msg) {
		if m != nil {
			fn(m)
		}
	})
	return subject, err
}

// Request publishes msg as a request (its Reply is set here) and waits for
// the first answer until ctx ends. A request nobody subscribes to fails at
// once with ErrNoResponders.
func (b *Bus) Request(ctx context.Context, msg *Msg) (*Msg, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to ask %s: %w", msg.Subject, err)
	}
	ch := make(chan *Msg, 1) // fn runs at most once
	id, reply, err := b.replies.expect(time.Time{}, func(m *Msg) { ch <- m })
	if err != nil {
		return nil, fmt.Errorf("failed to ask %s: %w", msg.Subject, err)
	}
	msg.Reply = reply
	if err := b.nc.PublishMsg(msg.toNATS()); err != nil {
		b.replies.drop(id)
		return nil, fmt.Errorf("failed to ask %s: %w", msg.Subject, err)
	}
	select {
	case m := <-ch:
		switch {
		case m == nil:
			return nil, fmt.Errorf("failed to ask %s: %w", msg.Subject, net.ErrClosed)
		case m.NoResponders():
			return nil, fmt.Errorf("failed to ask %s: %w", msg.Subject, ErrNoResponders)
		}
		return m, nil
	case <-ctx.Done():
		b.replies.drop(id)
		return nil, fmt.Errorf("failed to ask %s: %w", msg.Subject, ctx.Err())
	}
}
