package outq

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// flushers write queues that have become ready, each with one non-blocking
// writev. A broadcast makes many queues ready at once; writing them from a
// few goroutines, instead of starting one per queue, is what keeps a
// delivery at a moderate rate (one frame per queue, nothing to batch) close
// to the cost of its syscall. Frames that arrive while a queue waits its
// turn are written in the same writev.
//
// A flusher can still wait on a socket's write lock while another writer
// holds it (gws writing its own close frame, bounded by wsconn to a second),
// so there are at least two. More than GOMAXPROCS batch less: on 2 cores,
// four flushers cost 1.35 µs of CPU per saturated fan-out delivery against
// 0.97 µs for two (bench/run.sh --scenarios fanout).
var flushers = &flusherPool{max: max(2, runtime.GOMAXPROCS(0))}

// flusherPool starts up to max goroutines while queues are ready; they exit
// when none are left, so an idle process keeps none.
type flusherPool struct {
	mu      sync.Mutex
	ready   []*Queue
	running int
	max     int
	spare   []*flushWork // scratch space of flushers that ended, for the next
}

func (p *flusherPool) add(q *Queue) {
	p.mu.Lock()
	p.ready = append(p.ready, q)
	start := p.running < p.max && p.running < len(p.ready)
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go runFlusher() // no arguments: a go statement with some allocates them
	}
}

func runFlusher() { flushers.work() }

// grab bounds the queues one flusher takes at a time, so the others can share a
// large broadcast.
const grab = 64

// keepReady bounds the ready list's capacity kept between bursts.
const keepReady = 4096

func (p *flusherPool) work() {
	// A flusher's goroutine ends with its burst; its buffers are kept for
	// the next one (at most max of them exist).
	p.mu.Lock()
	var w *flushWork
	if n := len(p.spare); n > 0 {
		w, p.spare = p.spare[n-1], p.spare[:n-1]
	}
	p.mu.Unlock()
	if w == nil {
		w = new(flushWork)
		w.writeFn = w.writeFd
	}
	for {
		p.mu.Lock()
		k := min(len(p.ready), grab)
		if k == 0 {
			p.running--
			p.spare = append(p.spare, w)
			if cap(p.ready) > keepReady {
				p.ready = nil // let a huge burst's backing array go
			}
			p.mu.Unlock()
			return
		}
		w.queues = append(w.queues[:0], p.ready[:k]...)
		// Shift the rest down rather than reslice, so the array is reused.
		rest := copy(p.ready, p.ready[k:])
		clear(p.ready[rest:])
		p.ready = p.ready[:rest]
		p.mu.Unlock()
		for i, q := range w.queues {
			w.flush(q)
			w.queues[i] = nil
		}
	}
}

// flushWork is one flusher's scratch space.
type flushWork struct {
	queues []*Queue
	batch  []*Frame
	iov    []syscall.Iovec

	// writeFn is writeFd bound once: a method value made per write would be
	// allocated per write. n and errno are its results.
	writeFn func(fd uintptr) bool
	n       uintptr
	errno   syscall.Errno
}

// flush writes what q holds with one non-blocking writev. A queue the socket
// did not fully take gets its own blocking writer goroutine.
func (w *flushWork) flush(q *Queue) {
	batch, head, ok := q.take(w.batch)
	w.batch = batch
	if !ok {
		return
	}
	w.iov = appendIovecs(w.iov[:0], batch, head)
	want := 0
	for _, v := range w.iov {
		want += int(v.Len)
	}
	n, err := w.writev(q.raw)
	clear(batch)
	clear(w.iov)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, os.ErrDeadlineExceeded) {
		// A full send buffer, or the deadline a blocking write left behind
		// has passed: the queue's own writer waits, and moves the deadline.
		n, err = 0, nil
	}
	q.consume(n, err)
	switch {
	case err != nil:
	case n < want:
		go q.run()
	case !q.release(): // more arrived meanwhile: back in line, behind the others
		flushers.add(q)
	}
}

func appendIovecs(iov []syscall.Iovec, batch []*Frame, head int) []syscall.Iovec {
	eachBuffer(batch, head, func(b []byte) {
		v := syscall.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov = append(iov, v)
	})
	return iov
}

// writev makes one writev of w.iov on the socket without waiting for it to
// become writable: EAGAIN when its send buffer is full.
func (w *flushWork) writev(rc syscall.RawConn) (int, error) {
	if err := rc.Write(w.writeFn); err != nil {
		return 0, err
	}
	if w.errno != 0 {
		return 0, w.errno
	}
	return int(w.n), nil
}

func (w *flushWork) writeFd(fd uintptr) bool {
	for {
		w.n, _, w.errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		if w.errno != syscall.EINTR {
			return true
		}
	}
}
