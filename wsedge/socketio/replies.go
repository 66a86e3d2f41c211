package socketio

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
)

// replyMux receives NATS replies to ack requests on one wildcard
// subscription per node (not one per request), so a request never parks a
// goroutine.
type replyMux struct {
	b      *bus.Bus
	log    *slog.Logger
	prefix string

	mu      sync.Mutex
	sub     *nats.Subscription
	next    uint64
	pending map[string]*pendingReply
	closed  bool
}

type pendingReply struct {
	fn    func(*nats.Msg)
	timer *time.Timer
}

func newReplyMux(b *bus.Bus, log *slog.Logger) *replyMux {
	var p [8]byte
	_, _ = rand.Read(p[:])
	return &replyMux{b: b, log: log, prefix: "_INBOX.sockbus." + hex.EncodeToString(p[:]) + ".", pending: map[string]*pendingReply{}}
}

// register returns a reply subject; fn runs (on the subscription's
// goroutine) with the first reply received within timeout.
func (r *replyMux) register(timeout time.Duration, fn func(*nats.Msg)) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return "", nats.ErrConnectionClosed
	}
	if r.sub == nil {
		sub, err := r.b.Subscribe(r.prefix+"*", r.onReply)
		if err != nil {
			return "", err
		}
		r.sub = sub
	}
	r.next++
	id := strconv.FormatUint(r.next, 36)
	p := &pendingReply{fn: fn}
	p.timer = time.AfterFunc(timeout, func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	})
	r.pending[id] = p
	return r.prefix + id, nil
}

func (r *replyMux) onReply(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, r.prefix)
	r.mu.Lock()
	p := r.pending[id]
	delete(r.pending, id)
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.timer.Stop()
	p.fn(m)
}

func (r *replyMux) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for id, p := range r.pending {
		p.timer.Stop()
		delete(r.pending, id)
	}
	if r.sub != nil {
		_ = r.sub.Unsubscribe()
		r.sub = nil
	}
}
