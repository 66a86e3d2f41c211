package socketio

import (
	"sync"
	"time"
)

// connectReaper closes connections that join no namespace within
// Config.ConnectTimeout. Every connection gets the same timeout, so their
// deadlines come in the order they opened: one FIFO and one timer per
// server do what a time.Timer per connection did (an allocation of ~130 B
// and two updates of the runtime's timer heap per connect). A connection
// that connects or closes first has its slot cleared (not removed), so the
// FIFO holds 16 B per connection opened within the last ConnectTimeout and
// no pointer to one that is gone.
type connectReaper struct {
	timeout time.Duration
	start   time.Time // deadlines are nanoseconds since start (monotonic)

	mu     sync.Mutex
	q      []reapSlot // q[i] is sequence base+i, in deadline order
	base   uint64     // sequence of q[0]
	next   uint64     // sequence of the next add (base + len(q))
	timer  *time.Timer
	armed  bool // timer is set for q[0]'s deadline
	closed bool
}

type reapSlot struct {
	c  *clientConn // nil once it connected or closed
	at int64       // deadline, since start
}

func newConnectReaper(timeout time.Duration) *connectReaper {
	r := &connectReaper{timeout: timeout, start: time.Now()}
	r.timer = time.AfterFunc(time.Hour, r.fire)
	r.timer.Stop()
	return r
}

// add puts c in line and returns its sequence, for forget.
func (r *connectReaper) add(c *clientConn) uint64 {
	at := int64(time.Since(r.start) + r.timeout)
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.next
	r.next++
	r.q = append(r.q, reapSlot{c, at})
	if !r.armed && !r.closed {
		r.armed = true
		r.timer.Reset(r.timeout)
	}
	return seq
}

// forget clears seq's slot: its connection joined a namespace, or closed.
func (r *connectReaper) forget(seq uint64) {
	r.mu.Lock()
	if seq >= r.base && seq < r.next {
		r.q[seq-r.base].c = nil
	}
	r.mu.Unlock()
}

// fire closes the connections whose deadline passed and that are still in
// line, then arms the timer for the next deadline.
func (r *connectReaper) fire() {
	now := int64(time.Since(r.start))
	var due []*clientConn
	r.mu.Lock()
	i := 0
	for ; i < len(r.q) && r.q[i].at <= now; i++ {
		if c := r.q[i].c; c != nil {
			due = append(due, c)
		}
	}
	clear(r.q[:i])
	r.q, r.base = r.q[i:], r.base+uint64(i)
	if len(r.q) == 0 {
		r.q = nil // let the array go: the next add starts a small one
	}
	r.armed = len(r.q) > 0 && !r.closed
	if r.armed {
		r.timer.Reset(time.Duration(r.q[0].at - now))
	}
	r.mu.Unlock()
	for _, c := range due {
		c.connectTimedOut()
	}
}

// close stops the timer: the server is closing every connection anyway.
func (r *connectReaper) close() {
	r.mu.Lock()
	r.closed = true
	r.armed = false
	r.timer.Stop()
	r.q = nil
	r.base = r.next
	r.mu.Unlock()
}
