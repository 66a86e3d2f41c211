package wsconn

import (
	"sync"

	"github.com/lxzan/gws"
)

// A gws read loop is a connection's only goroutine while it is idle, so it
// must stay on the runtime's smallest stack (2 KiB): a stack that grew
// stays grown while its goroutine is parked (the GC halves it only while a
// quarter of it is unused). Parked in a read it uses about 1 KiB of the
// 1,120 bytes a 2 KiB stack has above its guard, which leaves no room for
// handling a message: a connection's OnMessage takes its Turn and hands the
// message to Handlers, and the read loop goes back to reading.

// maxIdleHandlers bounds the handler goroutines kept waiting for work: a
// node handles about as many messages at once as it has cores, and each
// parked handler keeps the stack it grew (8-16 KiB).
const maxIdleHandlers = 128

// Handler handles one message of a connection off its read loop, then
// gives the connection's Turn back.
type Handler interface {
	HandleMessage(msg *gws.Message)
}

// Turn orders one connection's messages: the read loop takes it before it
// hands a message to Handlers (waiting while the last one is handled), the
// handler gives it back when done, and OnClose takes it too, so that it
// runs after the last message. A mutex, not a channel: no allocation per
// connection (a mutex may be unlocked by another goroutine than the one
// that locked it).
type Turn struct{ mu sync.Mutex }

// Take waits for the last message to be handled.
func (t *Turn) Take() { t.mu.Lock() }

// Give lets the next message (or OnClose) go.
func (t *Turn) Give() { t.mu.Unlock() }

// Handlers runs messages' handlers on goroutines kept parked between
// messages, shared by every connection of a server. A goroutine started per
// message begins on the smallest stack and grows it, copying, for every
// event it publishes: 13% more CPU per acknowledged event than handling it
// on the read loop (bench acks, 36.7-39.9 against 43.6-62.3 µs). A message
// that finds no idle handler starts a new one; the most recently used (its
// stack grown) is reused first. The zero value is ready to use.
type Handlers struct {
	mu     sync.Mutex
	idle   []*handler
	closed bool
}

type handler struct{ jobs chan handlerJob }

type handlerJob struct {
	c   Handler
	msg *gws.Message
}

// Run hands msg of c to an idle handler, or to a new one.
func (h *Handlers) Run(c Handler, msg *gws.Message) {
	h.mu.Lock()
	if n := len(h.idle); n > 0 {
		w := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		w.jobs <- handlerJob{c, msg}
		return
	}
	h.mu.Unlock()
	go h.loop(&handler{jobs: make(chan handlerJob, 1)}, handlerJob{c, msg})
}

// loop handles j, then waits among the idle handlers for the next job
// unless there are enough of them or the server is closed.
func (h *Handlers) loop(w *handler, j handlerJob) {
	for {
		j.c.HandleMessage(j.msg)
		h.mu.Lock()
		if h.closed || len(h.idle) >= maxIdleHandlers {
			h.mu.Unlock()
			return
		}
		h.idle = append(h.idle, w)
		h.mu.Unlock()
		var ok bool
		if j, ok = <-w.jobs; !ok {
			return
		}
	}
}

// Close ends the idle handlers; busy ones end after their job. Call it
// once the connections' last messages have been handed over.
func (h *Handlers) Close() {
	h.mu.Lock()
	h.closed = true
	idle := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, w := range idle {
		close(w.jobs)
	}
}
