package wsconn

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// LingerTimeout bounds the drain on Close.
const LingerTimeout = time.Second

// ControlWriteTimeout bounds each write gws makes itself (a close frame).
const ControlWriteTimeout = time.Second

// Upgrade hijacks r's connection and upgrades it with u. It returns the gws
// connection and the raw network connection, on which writes may be issued
// directly (with writev) as long as each Write carries whole frames.
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
	if n := rw.Reader.Buffered(); n > 0 {
		// Bytes the HTTP server read past the request (a pipelined first frame).
		early, _ := rw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(append([]byte(nil), early...)), lc)
	}
	ws, err := u.UpgradeFromConn(lc, bufio.NewReaderSize(src, readBufferSize), r)
	if err != nil {
		return nil, nil, err
	}
	return ws, raw, nil
}

// lingerConn is a net.Conn whose Close half-closes and drains first.
type lingerConn struct {
	net.Conn
	once sync.Once
	err  error
}

// Write carries only what gws writes itself (close frames; data goes out
// on the raw connection). It gets a deadline: a write to a client that does
// not read would otherwise wait forever while holding the socket's write
// lock, which every other writer of the connection then waits for.
func (c *lingerConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(ControlWriteTimeout))
	return c.Conn.Write(b)
}

func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
			_ = tc.SetReadDeadline(time.Now().Add(LingerTimeout))
			_, _ = io.Copy(io.Discard, io.LimitReader(tc, 1<<20))
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
