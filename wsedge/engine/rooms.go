package engine

import (
	"sync"
	"sync/atomic"
)

// roomWaits are the polling sessions whose Session.WaitRoom waits for a GET
// to take their buffer (a replay pacing itself), each with the channel
// closed when it does. They live on the server, not in each Session: few
// sessions ever wait (a recovery over polling), and a field per session
// would cost every idle one its size class.
type roomWaits struct {
	n  atomic.Int32 // len(ch): wake skips the lock while nobody waits
	mu sync.Mutex
	ch map[*Session]chan struct{}
}

// wait returns the channel closed at s's next wake; s.mu is held.
func (w *roomWaits) wait(s *Session) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.ch[s]; ok {
		return c
	}
	if w.ch == nil {
		w.ch = make(map[*Session]chan struct{})
	}
	c := make(chan struct{})
	w.ch[s] = c
	w.n.Add(1)
	return c
}

// wake wakes s's waiters, if any; s.mu is held.
func (w *roomWaits) wake(s *Session) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	if c, ok := w.ch[s]; ok {
		close(c)
		delete(w.ch, s)
		w.n.Add(-1)
	}
	w.mu.Unlock()
}
