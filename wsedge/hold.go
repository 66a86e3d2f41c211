package wsedge

import (
	"sync"

	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// LiveHold parks a connection's live messages, with their stream sequences,
// while a replay (recovery or history) is sent, then lets through those the
// replay did not cover: replay and live stream join without gap or
// duplicate. The zero value holds nothing; it is safe for concurrent use.
//
// What it holds is bounded like the connection's outbound queue (its
// frames and bytes, outq.Config.Bounds): the held messages go to that
// queue on release, so more than it takes would overflow it anyway. Past
// the bound the hold drops everything and the caller closes the
// connection as a slow consumer, at once rather than when the replay ends.
type LiveHold[T any] struct {
	mu        sync.Mutex
	held      []heldMsg[T] // nil when not holding
	frames    int          // held so far
	bytes     int
	maxFrames int
	maxBytes  int
	overflow  bool // passed the bound: holds (drops) until Release
}

type heldMsg[T any] struct {
	seq    uint64 // 0 for a message that was not stored (volatile)
	v      T
	frames int
	bytes  int
}

// Start holds every message offered from now until Release, up to the
// bounds of a queue configured by q.
func (h *LiveHold[T]) Start(q outq.Config) {
	h.mu.Lock()
	h.held = []heldMsg[T]{}
	h.frames, h.bytes, h.overflow = 0, 0, false
	h.maxFrames, h.maxBytes = q.Bounds()
	h.mu.Unlock()
}

// Offer holds v, which takes frames frames of bytes in all, and reports
// true while holding; on false the caller sends v. overflow is true, once,
// when v passes the bound: v, all held and all offered until Release are
// dropped, and the caller closes the connection as a slow consumer.
func (h *LiveHold[T]) Offer(seq uint64, v T, frames, bytes int) (held, overflow bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		return false, false
	}
	if h.overflow {
		return true, false // told once
	}
	if h.frames+frames > h.maxFrames || h.bytes+bytes > h.maxBytes {
		clear(h.held)
		h.held = h.held[:0]
		h.overflow = true
		return true, true
	}
	h.held = append(h.held, heldMsg[T]{seq, v, frames, bytes})
	h.frames += frames
	h.bytes += bytes
	return true, false
}

// Release sends, in order, the held messages stored after sequence last (and
// those never stored) and stops holding; after an overflow it sends
// nothing. send runs under the lock, so a message offered meanwhile waits
// and cannot overtake them.
func (h *LiveHold[T]) Release(last uint64, send func(T)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.overflow {
		for _, m := range h.held {
			if m.seq == 0 || m.seq > last {
				send(m.v)
			}
		}
	}
	h.held = nil
	h.frames, h.bytes = 0, 0
}

// TakePart, while more than maxFrames frames or maxBytes bytes are held,
// takes the oldest held messages up to those bounds (at least one) off the
// hold, which goes on holding, and returns those of them stored after
// sequence last (and those never stored), in order, with ok true. When no
// more than that is held (or after an overflow, or when not holding) it
// takes nothing: ok is false and the rest is for Release. A caller that
// sends each part as the client makes room releases a hold as large as
// the queue into a queue that is not empty (a polling buffer the client
// has not taken yet), which all at once would overflow it; the messages
// offered meanwhile are held behind, so nothing overtakes.
func (h *LiveHold[T]) TakePart(last uint64, maxFrames, maxBytes int) (part []T, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil || h.overflow || h.frames <= maxFrames && h.bytes <= maxBytes {
		return nil, false
	}
	n, frames, bytes := 0, 0, 0
	for _, m := range h.held {
		if n > 0 && (frames+m.frames > maxFrames || bytes+m.bytes > maxBytes) {
			break
		}
		n, frames, bytes = n+1, frames+m.frames, bytes+m.bytes
		if m.seq == 0 || m.seq > last {
			part = append(part, m.v)
		}
	}
	clear(h.held[:n])
	h.held = h.held[n:]
	h.frames -= frames
	h.bytes -= bytes
	return part, true
}

// Held returns how many messages are held.
func (h *LiveHold[T]) Held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// Holding reports whether a replay is in progress (between Start and Release).
func (h *LiveHold[T]) Holding() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held != nil
}
