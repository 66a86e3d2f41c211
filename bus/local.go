package bus

import (
	"cmp"
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Local live delivery (liveByNode only, see live.go).
//
// On a node that is its streams' only writer, a stored event's live
// subscribers are this node's own subscriptions. Those made with Subscribe on
// a live subject are kept here too, and a stored event is handed to them
// directly instead of going out to the server and back in (a publish,
// routing, parsing its headers: most of the ~6 µs the live hop cost an
// acknowledged event, BenchmarkStoredAck). The reply goroutine queues each
// event in acknowledgement order (the stream's order) and one goroutine
// (liveQueue) calls the handlers in that order, so a handler that blocks
// delays live delivery, never an acknowledgement or a reply. Only when
// something else listens too (SubscribeSync, SubscribeFew, a test's own
// connection) is the event also published live, and the local subscriptions
// skip that copy (it carries a sequence: only the node publishes one there).
//
// A local subscription's handler still gets everything else on its subject
// from NATS (volatile emits, requests): a mutex keeps its calls one at a
// time, as Subscribe promises. Stored events and those others were never
// ordered with each other (a volatile emit does not wait for a store).

// localSub is one Subscribe on a live subject.
type localSub struct {
	pattern string
	h       func(*Msg)

	mu     sync.Mutex  // one call of h at a time
	closed atomic.Bool // Unsubscribe was called (h may call it itself)
}

// call runs h with m unless the subscription ended.
func (l *localSub) call(m *Msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed.Load() {
		l.h(m)
	}
}

// localSubs indexes the local subscriptions by a live subject's name part,
// "sockbus.live.io.<ns>" or "sockbus.live.ws.<channel>" (nameKey); patterns
// with a wildcard there are matched one by one (wild).
type localSubs struct {
	mu     sync.RWMutex
	byName map[string][]*localSub
	wild   []*localSub
}

// nameKey is subject's first four tokens, or false when the subject is
// shorter or has a wildcard among them.
func nameKey(subject string) (string, bool) {
	end := 0
	for range 4 {
		i := strings.IndexByte(subject[end:], '.')
		if i < 0 {
			end = len(subject)
			break
		}
		end += i + 1
	}
	key := strings.TrimSuffix(subject[:end], ".")
	if strings.Count(key, ".") != 3 || strings.ContainsAny(key, "*>") {
		return "", false
	}
	return key, true
}

func (ls *localSubs) add(l *localSub) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if key, ok := nameKey(l.pattern); ok {
		if ls.byName == nil {
			ls.byName = map[string][]*localSub{}
		}
		ls.byName[key] = append(ls.byName[key], l)
		return
	}
	ls.wild = append(ls.wild, l)
}

func (ls *localSubs) remove(l *localSub) {
	ls.mu.Lock()
	if key, ok := nameKey(l.pattern); ok {
		subs := removeSub(ls.byName[key], l)
		if len(subs) == 0 {
			delete(ls.byName, key)
		} else {
			ls.byName[key] = subs
		}
	} else {
		ls.wild = removeSub(ls.wild, l)
	}
	ls.mu.Unlock()
	l.closed.Store(true) // h is not called again (unless a call is under way)
}

func removeSub(subs []*localSub, l *localSub) []*localSub {
	for i, s := range subs {
		if s == l {
			return append(subs[:i:i], subs[i+1:]...) // a new array: deliver may hold the old one
		}
	}
	return subs
}

// each calls fn for every local subscription matching subject.
func (ls *localSubs) each(subject string, fn func(*localSub)) {
	key, _ := nameKey(subject)
	ls.mu.RLock()
	named, wild := ls.byName[key], ls.wild
	ls.mu.RUnlock()
	for _, l := range named {
		if subjectMatches(l.pattern, subject) {
			fn(l)
		}
	}
	for _, l := range wild {
		if subjectMatches(l.pattern, subject) {
			fn(l)
		}
	}
}

// subjectMatches reports whether a NATS subject matches pattern ('*' one
// token, '>' the rest).
func subjectMatches(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		if pt == ">" {
			return subject != ""
		}
		st, srest, smore := strings.Cut(subject, ".")
		if pt != "*" && pt != st {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// subscribeLocal is Subscribe for a live subject on a liveByNode node.
func (b *Bus) subscribeLocal(subject string, h func(*Msg)) (*Subscription, error) {
	l := &localSub{pattern: subject, h: h}
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		if len(m.Header[HeaderSequence]) > 0 {
			return // a stored event: this subscription got it directly
		}
		l.call(fromNATS(m))
	})
	if err == nil {
		b.local.add(l)
	}
	s, err := b.registered(subject, sub, err)
	if err != nil {
		b.local.remove(l)
		return nil, err
	}
	s.unsub = func() { b.local.remove(l) }
	return s, nil
}

// goLive delivers a stored event live: through the server only when it has
// subscribers for the subject besides the local ones, and to those by the
// live queue. It runs on the reply goroutine.
func (b *Bus) goLive(m *Msg) {
	n := 0
	b.local.each(m.Subject, func(*localSub) { n++ })
	if b.ns.GlobalAccount().Interest(m.Subject) > n {
		if err := b.nc.PublishMsg(m.toNATS()); err != nil {
			b.connWarn().Warn("stored event not published live", "subject", m.Subject, "err", err)
		}
	}
	if n > 0 {
		b.liveq.push(b, m)
	}
}

// maxQueuedLive bounds the stored events waiting for the local
// subscriptions' handlers; past it they are dropped for live delivery (as
// nats.go drops a slow subscription's messages), not for the store.
const maxQueuedLive = 1 << 16

// liveQueue hands stored events to the local subscriptions, in order, on one
// goroutine, started with the first event and ended by Close.
type liveQueue struct {
	max     int // maxQueuedLive; lowered by tests
	dropped atomic.Uint64

	mu      sync.Mutex
	msgs    []*Msg
	started bool
	closed  bool
	wake    chan struct{} // one token: msgs is not empty
	done    chan struct{}
}

func (q *liveQueue) push(b *Bus, m *Msg) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if limit := cmp.Or(q.max, maxQueuedLive); len(q.msgs) >= limit {
		q.mu.Unlock()
		q.dropped.Add(1)
		b.connWarn().Warn("stored event not delivered live: the live handlers are behind", "subject", m.Subject, "queued", limit)
		return
	}
	q.msgs = append(q.msgs, m)
	if !q.started {
		q.started = true
		q.wake, q.done = make(chan struct{}, 1), make(chan struct{})
		go q.run(&b.local)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *liveQueue) run(ls *localSubs) {
	defer close(q.done)
	var batch []*Msg
	for range q.wake {
		q.mu.Lock()
		batch, q.msgs = q.msgs, batch[:0]
		closed := q.closed
		q.mu.Unlock()
		for i, m := range batch {
			ls.each(m.Subject, func(l *localSub) { l.call(m) })
			batch[i] = nil
		}
		if cap(batch) > 1024 {
			batch = nil // a burst's buffer is not kept
		}
		if closed {
			return
		}
	}
}

// close delivers what is queued and stops the goroutine, waiting for it
// until ctx ends (a handler stuck at shutdown does not hold Close); nothing
// is queued after it.
func (q *liveQueue) close(ctx context.Context) {
	q.mu.Lock()
	q.closed = true
	started := q.started
	q.mu.Unlock()
	if started {
		select {
		case q.wake <- struct{}{}:
		default:
		}
		select {
		case <-q.done:
		case <-ctx.Done():
		}
	}
}

// LiveDropped counts the stored events this node did not deliver live to
// its own subscriptions because its live handlers were more than 65,536
// events behind (a single node only, see live.go; they stay stored, and a
// client that drops and recovers gets them).
func (b *Bus) LiveDropped() uint64 { return b.liveq.dropped.Load() }
