package engine

import (
	"context"
	"sync"
)

// busy counts what Server.Close waits for: registered sessions, goroutines
// the server started and requests that may start either. Unlike a
// sync.WaitGroup it may be incremented while someone waits.
type busy struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0
}

func (b *busy) add() {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
}

func (b *busy) done() {
	b.mu.Lock()
	b.n--
	if b.n == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
	b.mu.Unlock()
}

// wait returns nil once the count is zero, or ctx's error.
func (b *busy) wait(ctx context.Context) error {
	b.mu.Lock()
	if b.n == 0 {
		b.mu.Unlock()
		return nil
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	idle := b.idle
	b.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
