package connlimit

import (
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
)

// Config bounds a listener. The zero value bounds nothing.
type Config struct {
	// Max bounds the connections open at once; 0: no bound.
	Max int
	// PerIP bounds the connections open at once from one IP address; 0: no
	// bound. Behind a proxy every client has the proxy's address.
	PerIP int
	// Warn receives a rate-limited warning for each refusal. Nil: none.
	Warn *ratelog.Logger
	// Metrics counts each refusal (conn_limit). Nil: not counted.
	Metrics *metrics.Set
}

// refusal is what a refused connection reads, if it reads before the close.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nContent-Length: 21\r\n\r\ntoo many connections\n"

// Listener is a net.Listener that counts its open connections. Its methods
// are safe for concurrent use.
type Listener struct {
	net.Listener
	cfg Config

	mu    sync.Mutex
	open  int
	perIP map[string]int
}

// Listen wraps ln with cfg's bounds.
func Listen(ln net.Listener, cfg Config) *Listener {
	return &Listener{Listener: ln, cfg: cfg, perIP: map[string]int{}}
}

// Accept returns the next connection within the bounds; those over them
// are refused without returning.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if why := l.admit(ip, true); why != "" {
			l.cfg.Metrics.Refused(metrics.ReasonConnLimit)
			l.cfg.Warn.Warn("connection refused: "+why, "ip", ip, "max", l.cfg.Max, "per_ip", l.cfg.PerIP)
			refuse(c)
			continue
		}
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// Open returns the number of connections open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Admit counts a connection this listener did not accept against both
// bounds, as if it had: one that another node forwards here for a client at
// address ip (its original client's). It returns false, and warns, when the
// bounds are full; else release ends the count (once).
func (l *Listener) Admit(ip string) (release func(), ok bool) {
	return l.hold(ip, true)
}

// AdmitPerIP counts something that stands for a connection from ip against
// the per-address bound only: a polling session between its requests (their
// own TCP connections count as usual). See Admit.
func (l *Listener) AdmitPerIP(ip string) (release func(), ok bool) {
	return l.hold(ip, false)
}

func (l *Listener) hold(ip string, total bool) (func(), bool) {
	if why := l.admit(ip, total); why != "" {
		l.cfg.Metrics.Refused(metrics.ReasonConnLimit)
		l.cfg.Warn.Warn("connection refused: "+why, "ip", ip, "max", l.cfg.Max, "per_ip", l.cfg.PerIP)
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { l.release(ip, total) }) }, true
}

func (l *Listener) admit(ip string, total bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case total && l.cfg.Max > 0 && l.open >= l.cfg.Max:
		return "too many connections"
	case l.cfg.PerIP > 0 && l.perIP[ip] >= l.cfg.PerIP:
		return "too many connections from one address"
	}
	if total {
		l.open++
	}
	l.perIP[ip]++
	return ""
}

func (l *Listener) release(ip string, total bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if total {
		l.open--
	}
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuse answers 503 if the socket takes it at once (a fresh socket's send
// buffer always does), and closes. It never blocks the accept loop.
func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	_, _ = c.Write([]byte(refusal))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Close()
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// conn releases its count once, on the first Close. It keeps what the
// layers above look for on a TCP connection: the raw socket for writev
// (outq) and CloseWrite for a lingering close (wsconn).
type conn struct {
	net.Conn
	l    *Listener
	ip   string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip, true) })
	return err
}

func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, syscall.EINVAL
}
