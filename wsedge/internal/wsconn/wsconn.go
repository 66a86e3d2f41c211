package wsconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// LingerTimeout bounds the drain on Close. It is a time bound, not a byte
// bound: a client that is still sending a large frame when we refuse it
// (1009) reads our close frame only after its write ends, and a reset
// before that loses the code. ws lingers up to 30 s for the same reason.
const LingerTimeout = 5 * time.Second

// ControlWriteTimeout bounds each write gws makes itself (a close frame),
// unless WriteClose gives another bound.
const ControlWriteTimeout = time.Second

// The close code and reason sent, in place of gws's normal closure with the
// read error's text, to a connection whose read deadline passed: the client
// was silent too long and should reconnect, which 1000 does not say.
const (
	IdleCloseCode   = 1001
	IdleCloseReason = "ping timeout"
)

// Upgrade hijacks r's connection and upgrades it with u. It returns the gws
// connection and the raw network connection, on which writes may be issued
// directly (with writev) as long as each Write carries whole frames.
// readBufferSize is the read buffer a connection keeps for its lifetime
// when it is not a plain socket (TLS); a TCP connection holds one only
// while bytes are arriving.
func Upgrade(u *gws.Upgrader, w http.ResponseWriter, r *http.Request, readBufferSize int) (*gws.Conn, net.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "websocket upgrade not supported", http.StatusInternalServerError)
		return nil, nil, http.ErrNotSupported
	}
	raw, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	lc := &lingerConn{Conn: raw}
	var src io.Reader = lc
	if lr := newLazyReader(lc); lr != nil {
		// A plain socket: the buffer is borrowed per burst (see lazyReader),
		// and gws's own bufio.Reader is the smallest there is.
		src, readBufferSize = lr, minBufio
	}
	if n := rw.Reader.Buffered(); n > 0 {
		// Bytes the HTTP server read past the request (a pipelined first frame).
		early, _ := rw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(append([]byte(nil), early...)), src)
	}
	ws, err := u.UpgradeFromConn(lc, bufio.NewReaderSize(src, readBufferSize), r)
	if err != nil {
		return nil, nil, err
	}
	return ws, raw, nil
}

// WriteClose sends a close frame, waiting up to d for the client to take it
// (a slow consumer's socket buffers are full until it reads again), then
// closes ws. Call it only once nothing else writes to the connection.
func WriteClose(ws *gws.Conn, code uint16, reason string, d time.Duration) error {
	if lc, ok := ws.NetConn().(*lingerConn); ok {
		lc.writeTimeout.Store(int64(d))
	}
	return ws.WriteClose(code, []byte(reason))
}

// lingerConn is a net.Conn whose Close half-closes and drains first, and
// whose close frames carry sockbus's codes and reasons.
type lingerConn struct {
	net.Conn
	writeTimeout atomic.Int64 // nanoseconds; 0: ControlWriteTimeout
	readTimedOut atomic.Bool
	once         sync.Once
	err          error
}

func (c *lingerConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if ne := net.Error(nil); err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.readTimedOut.Store(true)
	}
	return n, err
}

// Write carries only what gws writes itself (close frames; data goes out
// on the raw connection). It gets a deadline: a write to a client that does
// not read would otherwise wait forever while holding the socket's write
// lock, which every other writer of the connection then waits for.
func (c *lingerConn) Write(b []byte) (int, error) {
	d := time.Duration(c.writeTimeout.Load())
	if d <= 0 {
		d = ControlWriteTimeout
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(d))
	if f, ok := c.rewriteClose(b); ok {
		if _, err := c.Conn.Write(f); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// rewriteClose returns the close frame to send instead of b when b is a
// close frame gws made itself from an error: a read timeout becomes
// IdleCloseCode, and library prefixes ("gws: message too large") go.
func (c *lingerConn) rewriteClose(b []byte) ([]byte, bool) {
	if len(b) < 4 || b[0] != 0x88 || b[1]&0x80 != 0 || int(b[1]) != len(b)-2 {
		return nil, false
	}
	code, reason := binary.BigEndian.Uint16(b[2:4]), b[4:]
	switch {
	case c.readTimedOut.Load():
		code, reason = IdleCloseCode, []byte(IdleCloseReason)
	case bytes.HasPrefix(reason, []byte("gws: ")):
		reason = reason[len("gws: "):]
	default:
		return nil, false
	}
	f := make([]byte, 4, 4+len(reason))
	f[0], f[1] = 0x88, byte(2+len(reason))
	binary.BigEndian.PutUint16(f[2:], code)
	return append(f, reason...), true
}

func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok { // TCP, or a wrapper of it
			_ = cw.CloseWrite()
			_ = c.Conn.SetReadDeadline(time.Now().Add(LingerTimeout))
			_, _ = io.Copy(io.Discard, c.Conn)
		}
		c.err = c.Conn.Close()
	})
	return c.err
}

// IsUpgrade reports whether r is a WebSocket opening handshake (RFC 6455
// 4.2.1) that an upgrader could accept, so a handler can refuse anything
// else before it touches any state.
func IsUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Version") == "13" &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
