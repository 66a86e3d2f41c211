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
		go p.work()
	}
}

// grab bounds the queues one flusher takes at a time, so the others can share a
// large broadcast.
const grab = 64

func (p *flusherPool) work() {
	var w flushWork
	for {
		p.mu.Lock()
		k := min(len(p.ready), grab)
		if k == 0 {
			p.running--
			p.ready = p.ready[:0:0] // let a burst's backing array go
			p.mu.Unlock()
			return
		}
		w.queues = append(w.queues[:0], p.ready[:k]...)
		clear(p.ready[:k])
		p.ready = p.ready[k:]
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
	n, err := writevNonBlocking(q.raw, w.iov)
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
	for _, f := range batch {
		for _, b := range [2][]byte{f.WSHeader(), f.payload} {
			if head >= len(b) {
				head -= len(b)
				continue
			}
			b = b[head:]
			head = 0
			v := syscall.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	return iov
}

// writevNonBlocking makes one writev on the socket without waiting for it to
// become writable: EAGAIN when its send buffer is full.
func writevNonBlocking(rc syscall.RawConn, iov []syscall.Iovec) (int, error) {
	var n uintptr
	var errno syscall.Errno
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			if errno != syscall.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
