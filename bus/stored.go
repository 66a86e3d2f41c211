package bus

import (
	"context"
	"net"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// storedWaiter calls callbacks when publish acks resolve, from one
// goroutine for the whole node instead of one per waiting publish.
type storedWaiter struct {
	mu     sync.RWMutex // held for reading while sending, for writing to close
	closed bool
	ch     chan storedCall
	done   chan struct{}
}

type storedCall struct {
	f  jetstream.PubAckFuture
	fn func(error)
}

// OnStored calls fn once JetStream acknowledged (err nil) or refused the
// publish behind f. Calls happen in the order they were registered, on one
// goroutine owned by the bus: fn must not block. After Close, fn is called
// at once with net.ErrClosed.
func (b *Bus) OnStored(f jetstream.PubAckFuture, fn func(error)) {
	w := &b.stored
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		fn(net.ErrClosed)
		return
	}
	w.ch <- storedCall{f, fn}
	w.mu.RUnlock()
}

func (w *storedWaiter) start() {
	w.ch = make(chan storedCall, 4096)
	w.done = make(chan struct{})
	go w.run()
}

func (w *storedWaiter) run() {
	defer close(w.done)
	for c := range w.ch {
		select {
		case <-c.f.Ok():
			c.fn(nil)
		case err := <-c.f.Err():
			c.fn(err)
		}
	}
}

// stop ends the waiter after every registered callback ran, or ctx ends.
func (w *storedWaiter) stop(ctx context.Context) {
	w.mu.Lock()
	if w.closed || w.ch == nil {
		w.closed = true
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.ch)
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}
