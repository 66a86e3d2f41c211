package outq

import (
	"errors"
	"net"
	"sync"
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

// maxBatch bounds the frames written by one writev.
const maxBatch = 512

// Queue is one connection's outbound queue. Push and Close are safe to call
// from any goroutine. Frames are written in Push order by a goroutine the
// queue starts when it has work and that exits when the queue is empty.
type Queue struct {
	conn    net.Conn
	cfg     Config
	onError func(error)

	mu      sync.Mutex
	pending []*Frame
	bytes   int
	writing bool
	closed  bool
	wg      sync.WaitGroup

	inflight []*Frame    // owned by the writer goroutine
	bufs     net.Buffers // owned by the writer goroutine
	deadline time.Time   // the conn's write deadline, owned by the writer goroutine
}

// New returns a queue writing to conn. onError, if not nil, is called once,
// from the writer goroutine, when a write fails; the queue is closed by then.
func New(conn net.Conn, cfg Config, onError func(error)) *Queue {
	return &Queue{conn: conn, cfg: cfg.withDefaults(), onError: onError}
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
		q.closed = true
		q.pending = nil
		q.mu.Unlock()
		return ErrFull
	}
	q.pending = append(q.pending, frames...)
	q.bytes += n
	if !q.writing {
		q.writing = true
		q.wg.Add(1)
		go q.run()
	}
	q.mu.Unlock()
	return nil
}

// Len returns the number of bytes waiting to be written.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// Close discards pending frames and makes later pushes fail. It does not
// close the connection and does not wait for a write in progress; see Wait.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.pending = nil
	q.mu.Unlock()
}

// Wait blocks until the writer goroutine, if any, has exited.
func (q *Queue) Wait() { q.wg.Wait() }

func (q *Queue) run() {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if q.closed || len(q.pending) == 0 {
			q.writing = false
			q.mu.Unlock()
			return
		}
		k := min(len(q.pending), maxBatch)
		batch := append(q.inflight[:0], q.pending[:k]...)
		clear(q.pending[:k])
		q.pending = q.pending[k:]
		q.mu.Unlock()

		n, err := q.write(batch)
		clear(batch)
		q.inflight = batch

		q.mu.Lock()
		q.bytes -= n
		if err != nil {
			q.closed = true
			q.pending = nil
			q.writing = false
			q.mu.Unlock()
			if q.onError != nil {
				q.onError(err)
			}
			return
		}
		q.mu.Unlock()
	}
}

func (q *Queue) write(batch []*Frame) (int, error) {
	bufs := q.bufs[:0]
	n := 0
	for _, f := range batch {
		bufs = append(bufs, f.WSHeader())
		if len(f.payload) > 0 {
			bufs = append(bufs, f.payload)
		}
		n += f.size()
	}
	q.bufs = bufs
	// Moving a deadline costs a timer update per write; keep one until half
	// of it is used, so a write always has at least WriteTimeout/2.
	if now := time.Now(); q.deadline.Sub(now) < q.cfg.WriteTimeout/2 {
		q.deadline = now.Add(q.cfg.WriteTimeout)
		if err := q.conn.SetWriteDeadline(q.deadline); err != nil {
			return n, err
		}
	}
	w := bufs // WriteTo consumes its receiver; keep q.bufs' backing array
	_, err := w.WriteTo(q.conn)
	clear(q.bufs[:cap(q.bufs)])
	return n, err
}
