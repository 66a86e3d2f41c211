package outq

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

var (
	// ErrFull means the connection's reader is too slow: the queue passed its
	// bounds and accepts nothing more. Disconnect it as a slow consumer.
	ErrFull = errors.New("outq: queue full (slow consumer)")
	// ErrClosed means the queue was closed or its connection failed.
	ErrClosed = net.ErrClosed
)

// Config bounds a queue. The zero value is ready to use.
type Config struct {
	// MaxBytes bounds the bytes waiting to be written. Default 8 MiB.
	MaxBytes int
	// MaxFrames bounds the frames waiting to be written. Default 16384.
	MaxFrames int
	// WriteTimeout bounds one batched write; a client that accepts no bytes
	// for this long is cut off. Default 10s.
	WriteTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 8 << 20
	}
	if c.MaxFrames <= 0 {
		c.MaxFrames = 16384
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	return c
}

// Bounds returns the queue bounds c sets, defaults applied: what a queue
// built from c holds at most.
func (c Config) Bounds() (frames, bytes int) {
	c = c.withDefaults()
	return c.MaxFrames, c.MaxBytes
}

// keepFrames bounds the pending array an emptied queue keeps.
const keepFrames = 16

// maxBatch bounds the frames written by one writev (two buffers a frame,
// within Linux's IOV_MAX of 1024).
const maxBatch = 512

// Queue is one connection's outbound queue. Push and Close are safe to call
// from any goroutine. Frames are written in Push order.
//
// A queue with something to write is first offered to the shared flushers
// (one non-blocking writev); only when the socket takes less than offered
// does the queue get a goroutine of its own, which blocks under the write
// deadline until the queue is empty. Connections that are not sockets (no
// syscall.Conn) always take the goroutine path.
type Queue struct {
	conn    net.Conn
	raw     syscall.RawConn // nil: no non-blocking writes
	cfg     Config
	onError func(error)

	mu      sync.Mutex
	pending []*Frame // pending[0] may be partly written: skip its first head bytes
	head    int
	bytes   int
	writing bool // a flusher or the queue's own goroutine owns the writes
	closed  bool
	room    chan struct{}  // closed when bytes fall to half the bound (WaitRoom)
	wg      sync.WaitGroup // counts the ownership of writing

	deadline time.Time // the conn's write deadline, owned by the writer
}

// New returns a queue writing to conn. onError, if not nil, is called once,
// from a writer goroutine, when a write fails; the queue is closed by then.
func New(conn net.Conn, cfg Config, onError func(error)) *Queue {
	q := &Queue{conn: conn, cfg: cfg.withDefaults(), onError: onError}
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			q.raw = rc
		}
	}
	return q
}

// Push queues frames to be written in order, contiguously. It never blocks.
// It queues all of them or none: ErrFull when they would pass the bounds (the
// queue then refuses everything after), ErrClosed after Close or a failed write.
func (q *Queue) Push(frames ...*Frame) error {
	n := 0
	for _, f := range frames {
		n += f.size()
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if len(q.pending)+len(frames) > q.cfg.MaxFrames || q.bytes+n > q.cfg.MaxBytes {
		q.closeLocked()
		q.mu.Unlock()
		return ErrFull
	}
	q.pending = append(q.pending, frames...)
	q.bytes += n
	start := !q.writing
	if start {
		q.writing = true
		q.wg.Add(1)
	}
	q.mu.Unlock()
	if start {
		if q.raw != nil {
			flushers.add(q)
		} else {
			go q.run()
		}
	}
	return nil
}

// Len returns the number of bytes waiting to be written.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// Close discards pending frames, except the rest of a frame the writer has
// started, and makes later pushes fail. It does not close the connection and does
// not wait for a write in progress; see Wait.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closeLocked()
	q.mu.Unlock()
}

func (q *Queue) closeLocked() {
	q.closed = true
	if !q.writing {
		// Keeps the rest of a frame a failed write cut short: the closer
		// sends it (Unfinished) before its close frame.
		q.trimLocked()
	} // else the writer trims once its write is accounted for
	q.wakeLocked()
}

// trimLocked drops a closed queue's frames except the rest of a frame
// partly written: cut short, it would garble whatever follows on the
// connection (a close frame), so its writer finishes it.
func (q *Queue) trimLocked() {
	if q.head > 0 && len(q.pending) > 0 {
		clear(q.pending[1:])
		q.pending = q.pending[:1]
		q.bytes = q.pending[0].size() - q.head
		return
	}
	clear(q.pending)
	q.pending, q.head, q.bytes = nil, 0, 0
}

// WaitRoom blocks while more than half of MaxBytes or of MaxFrames waits
// to be written, so that a producer of many frames (a history replay) can
// pace itself on the client instead of overflowing the queue: after it
// returns, a quarter of each bound can be pushed at once with room to
// spare. It returns ErrClosed once the queue is closed, ctx's error when
// ctx ends first. One waiter at a time.
func (q *Queue) WaitRoom(ctx context.Context) error {
	q.mu.Lock()
	for !q.closed && !q.roomLocked() {
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return nil
}

// roomLocked reports whether at most half of each bound is taken.
func (q *Queue) roomLocked() bool {
	return q.bytes <= q.cfg.MaxBytes/2 && len(q.pending) <= q.cfg.MaxFrames/2
}

// WriteTimeout is the queue's write timeout, default applied.
func (q *Queue) WriteTimeout() time.Duration { return q.cfg.WriteTimeout }

func (q *Queue) wakeLocked() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// Unfinished returns the rest of a frame whose write was cut short (a write
// that timed out, or a Close while it was being written), or nil. Once Wait
// returned, nothing else writes: the connection's closer may send these
// bytes, then a close frame, and the client reads a valid stream.
func (q *Queue) Unfinished() net.Buffers {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.writing || q.head == 0 || len(q.pending) == 0 {
		return nil
	}
	return appendBuffers(nil, q.pending[:1], q.head)
}

// Wait blocks until no goroutine is writing for the queue.
func (q *Queue) Wait() { q.wg.Wait() }

// take returns the frames to write next (at most maxBatch) and how much of
// the first one is already written, or ok false, giving up ownership of the
// writes, when there is nothing to write.
func (q *Queue) take(batch []*Frame) (_ []*Frame, head int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.releaseLocked() {
		return batch, 0, false
	}
	k := min(len(q.pending), maxBatch)
	return append(batch[:0], q.pending[:k]...), q.head, true
}

// release gives up ownership of the writes if there is nothing to write.
func (q *Queue) release() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.releaseLocked()
}

func (q *Queue) releaseLocked() bool {
	if q.closed {
		q.trimLocked()
	}
	if len(q.pending) > 0 {
		return false
	}
	q.writing = false
	q.wg.Done()
	return true
}

// consume removes n written bytes from the front of the queue. On a write
// error it closes the queue, gives up ownership and reports the error.
func (q *Queue) consume(n int, err error) {
	q.mu.Lock()
	q.bytes -= n
	n += q.head
	i := 0
	for i < len(q.pending) && n >= q.pending[i].size() {
		n -= q.pending[i].size()
		i++
	}
	if i == len(q.pending) && cap(q.pending) <= keepFrames {
		// Keep a small array: a connection that gets one frame at a
		// time would otherwise allocate one per frame.
		clear(q.pending)
		q.pending, q.head = q.pending[:0], n
	} else {
		clear(q.pending[:i])
		q.pending, q.head = q.pending[i:], n
	}
	if q.room != nil && q.roomLocked() {
		q.wakeLocked()
	}
	if q.closed {
		q.trimLocked()
	}
	if err == nil {
		q.mu.Unlock()
		return
	}
	q.closeLocked()
	q.trimLocked() // what Unfinished returns
	q.writing = false
	q.mu.Unlock()
	q.wg.Done()
	if q.onError != nil {
		q.onError(err)
	}
}

// run is the queue's own writer: blocking writes, under the write
// deadline, until the queue is empty.
func (q *Queue) run() {
	var batch []*Frame
	var bufs net.Buffers
	for {
		var head int
		var ok bool
		if batch, head, ok = q.take(batch); !ok {
			return
		}
		bufs = appendBuffers(bufs[:0], batch, head)
		n, err := q.write(bufs)
		clear(batch)
		clear(bufs[:cap(bufs)])
		q.consume(n, err)
		if err != nil {
			return
		}
	}
}

func (q *Queue) write(bufs net.Buffers) (int, error) {
	// Moving a deadline costs a timer update per write; keep one until half
	// of it is used, so a write always has at least WriteTimeout/2.
	if now := time.Now(); q.deadline.Sub(now) < q.cfg.WriteTimeout/2 {
		q.deadline = now.Add(q.cfg.WriteTimeout)
		if err := q.conn.SetWriteDeadline(q.deadline); err != nil {
			return 0, err
		}
	}
	n, err := bufs.WriteTo(q.conn) // consumes bufs, not its backing array
	return int(n), err
}

// eachBuffer calls fn with the bytes of batch in order (each frame's header,
// then its payload), minus the first head bytes, skipping empty pieces.
func eachBuffer(batch []*Frame, head int, fn func([]byte)) {
	for _, f := range batch {
		for _, b := range [2][]byte{f.WSHeader(), f.payload} {
			if head >= len(b) {
				head -= len(b)
				continue
			}
			fn(b[head:])
			head = 0
		}
	}
}

// appendBuffers appends the bytes of batch, minus the first head bytes.
func appendBuffers(bufs [][]byte, batch []*Frame, head int) [][]byte {
	eachBuffer(batch, head, func(b []byte) { bufs = append(bufs, b) })
	return bufs
}
