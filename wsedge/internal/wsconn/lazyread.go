package wsconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// chunkSize is the read buffer a connection borrows while bytes are
// arriving. It is returned to a pool as soon as gws has taken every byte,
// so an idle connection holds none.
const chunkSize = 4096

// minBufio is the smallest bufio.Reader there is: what gws gets on top of a
// lazyReader (gws wants a *bufio.Reader; the chunk does the buffering).
const minBufio = 16

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// lazyReader reads a socket without holding a buffer while it waits: it
// parks on the poller with nothing borrowed, reads into a pooled chunk once
// the socket is readable, and gives the chunk back when it has been read.
// Reads as large as a chunk go straight into the caller's slice.
type lazyReader struct {
	rc    syscall.RawConn
	lc    *lingerConn // told about read timeouts
	chunk *[]byte     // nil while nothing is buffered
	r, w  int

	// One read's state, shared with readFd (made once: a closure per Read
	// cost four allocations per client event).
	readFd   func(fd uintptr) bool
	dst      []byte  // the caller's slice while a read is under way
	got      int     // bytes read
	errno    error   // the read's error
	borrowed *[]byte // the chunk being read into
	waited   bool    // the first look was made: the next ones (after a wake) read
}

// newLazyReader returns a lazyReader for lc's connection, or nil when it is
// not a plain socket (TLS: the caller keeps a buffered reader).
func newLazyReader(lc *lingerConn) *lazyReader {
	sc, ok := lc.Conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	l := &lazyReader{rc: rc, lc: lc}
	l.readFd = l.readReady
	return l
}

// readReady reads the readable socket fd into l.dst, or into a pooled
// chunk when l.dst is smaller than one; false (and nothing borrowed) when
// the socket turns out not to be readable yet.
func (l *lazyReader) readReady(fd uintptr) bool {
	dst := l.dst
	if len(dst) < chunkSize {
		if !l.waited && l.borrowed == nil {
			// The first look, before any wait: borrow nothing unless
			// there is something to read (after a wake there is).
			l.waited = true
			if !readable(fd) {
				return false
			}
		}
		if l.borrowed == nil {
			l.borrowed = chunks.Get().(*[]byte)
		}
		dst = *l.borrowed
	}
	for {
		l.got, l.errno = syscall.Read(int(fd), dst)
		if l.errno != syscall.EINTR {
			break
		}
	}
	if l.errno == syscall.EAGAIN {
		if l.borrowed != nil { // park with nothing borrowed
			chunks.Put(l.borrowed)
			l.borrowed = nil
		}
		return false
	}
	return true
}

// readable peeks at one byte of fd: false only when nothing is there yet
// (an error or the peer's close count as readable: the read reports them).
func readable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno != syscall.EINTR {
			return errno != syscall.EAGAIN
		}
	}
}

// Read is on the stack of every parked read loop, so it keeps few locals:
// the rest is in take and finish.
func (l *lazyReader) Read(p []byte) (int, error) {
	if l.chunk != nil {
		return l.take(p), nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	l.dst, l.waited = p, false
	return l.finish(p, l.rc.Read(l.readFd))
}

// take copies buffered bytes into p.
//
//go:noinline
func (l *lazyReader) take(p []byte) int {
	n := copy(p, (*l.chunk)[l.r:l.w])
	if l.r += n; l.r == l.w {
		l.release()
	}
	return n
}

// finish ends a read of the socket that rc.Read returned err from.
//
//go:noinline
func (l *lazyReader) finish(p []byte, err error) (int, error) {
	n, errno, chunk := l.got, l.errno, l.borrowed
	l.dst, l.got, l.errno, l.borrowed = nil, 0, nil, nil
	switch {
	case err != nil:
		if chunk != nil {
			chunks.Put(chunk)
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			l.lc.readTimedOut.Store(true)
		}
		return 0, err
	case errno != nil:
		if chunk != nil {
			chunks.Put(chunk)
		}
		return 0, &net.OpError{Op: "read", Net: "tcp", Addr: l.lc.LocalAddr(), Err: os.NewSyscallError("read", errno)}
	case n <= 0:
		if chunk != nil {
			chunks.Put(chunk)
		}
		return 0, io.EOF
	case chunk == nil:
		return n, nil
	}
	l.chunk, l.r, l.w = chunk, 0, n
	m := copy(p, (*chunk)[:n])
	if l.r = m; l.r == l.w {
		l.release()
	}
	return m, nil
}

func (l *lazyReader) release() {
	chunks.Put(l.chunk)
	l.chunk, l.r, l.w = nil, 0, 0
}
