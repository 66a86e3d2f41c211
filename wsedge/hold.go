package wsedge

import "sync"

// liveHold parks a connection's live messages, with their stream sequences,
// while a replay (recovery or history) is sent, then lets through those the
// replay did not cover: replay and live stream join without gap or
// duplicate. The zero value holds nothing; it is safe for concurrent use.
type liveHold[T any] struct {
	mu   sync.Mutex
	held []heldMsg[T] // nil when not holding
}

type heldMsg[T any] struct {
	seq uint64 // 0 for a message that was not stored (volatile)
	v   T
}

// start holds every message offered from now until release.
func (h *liveHold[T]) start() {
	h.mu.Lock()
	h.held = []heldMsg[T]{}
	h.mu.Unlock()
}

// offer holds v and reports true while holding; on false the caller sends v.
func (h *liveHold[T]) offer(seq uint64, v T) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		return false
	}
	h.held = append(h.held, heldMsg[T]{seq, v})
	return true
}

// release sends, in order, the held messages stored after sequence last (and
// those never stored) and stops holding. send runs under the lock, so a
// message offered meanwhile waits and cannot overtake them.
func (h *liveHold[T]) release(last uint64, send func(T)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.held {
		if m.seq == 0 || m.seq > last {
			send(m.v)
		}
	}
	h.held = nil
}
