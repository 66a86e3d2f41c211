package wsconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
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
	return &lazyReader{rc: rc, lc: lc}
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.chunk != nil {
		n := copy(p, (*l.chunk)[l.r:l.w])
		if l.r += n; l.r == l.w {
			l.release()
		}
		return n, nil
	}
	var (
		n     int
		errno error
		chunk *[]byte
	)
	err := l.rc.Read(func(fd uintptr) bool {
		dst := p
		if len(p) < chunkSize {
			if chunk == nil {
				chunk = chunks.Get().(*[]byte)
			}
			dst = *chunk
		}
		for {
			n, errno = syscall.Read(int(fd), dst)
			if errno != syscall.EINTR {
				break
			}
		}
		if errno == syscall.EAGAIN {
			if chunk != nil { // park with nothing borrowed
				chunks.Put(chunk)
				chunk = nil
			}
			return false
		}
		return true
	})
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
