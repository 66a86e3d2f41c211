package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Message kinds: the first byte of every tunnel message.
const (
	kindData  = 'd' // the rest is stream bytes (never empty)
	kindAck   = 'a' // 8 bytes: how many stream bytes the sender consumed in total
	kindClose = 'c' // the sender closed its side
)

// Config bounds a tunnel. The zero value works.
type Config struct {
	// Window is how many bytes a writer may send before the reader
	// acknowledges them. Default 1 MiB.
	Window int
	// Chunk is the largest data message. Default 32 KiB.
	Chunk int
	// Backlog is how many connections may wait for Accept before a new one
	// waits to be queued (a burst is queued, never refused). Default 128.
	Backlog int
	// AcceptTimeout bounds that wait: a listener whose Accept is not called
	// for this long refuses what waits (ErrRefused). Default 10s.
	AcceptTimeout time.Duration
	// Admit, if set, is asked by a listener for each new connection with
	// the dialler's from (see Dial); false refuses it (ErrLimited), else
	// release is called once when the conn closes.
	Admit func(from string) (release func(), ok bool)
	// Inbox, if set, names each conn's own inbox (its subject must be
	// unique). Default: nats.go's NewInbox.
	Inbox func() string
	// Request, if set, sends Dial's open request and returns the
	// listener's answer: ErrNoListener when nobody listens. Default: a
	// request with nats.go's own reply handling.
	Request func(ctx context.Context, m *nats.Msg) (*nats.Msg, error)
}

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = 1 << 20
	}
	if c.Chunk <= 0 {
		c.Chunk = 32 << 10
	}
	if c.Chunk > c.Window {
		c.Chunk = c.Window
	}
	if c.Backlog <= 0 {
		c.Backlog = 128
	}
	if c.AcceptTimeout <= 0 {
		c.AcceptTimeout = 10 * time.Second
	}
	return c
}

// Errors.
var (
	// ErrRefused is returned by Dial when the listener did not accept in
	// time (or is closing).
	ErrRefused = errors.New("tunnel: connection refused")
	// ErrLimited is returned by Dial when the listener's Admit refused.
	ErrLimited = errors.New("tunnel: connection refused: over the listener's limits")
	// ErrNoListener is returned by Dial when nothing listens on the subject.
	ErrNoListener = errors.New("tunnel: no listener")
	// errProtocol closes a conn whose peer broke the window.
	errProtocol = errors.New("tunnel: peer exceeded the window")
)

const (
	rxHeader   = "Natstun-Rx"
	fromHeader = "Natstun-From"
	// limitedReply answers an open that Admit refused (never an inbox).
	limitedReply = "-"
)

// Dial opens a conn to the listener on subject. ctx bounds the handshake.
// from names whom the conn is for (a client's "host:port"): the listener's
// Admit judges by it and the accepted conn's RemoteAddr is it.
func Dial(ctx context.Context, nc *nats.Conn, subject, from string, cfg Config) (net.Conn, error) {
	cfg = cfg.withDefaults()
	c := newConn(nc, cfg, subject)
	if err := c.subscribe(); err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Header.Set(rxHeader, c.rx)
	if from != "" {
		m.Header.Set(fromHeader, from)
	}
	request := cfg.Request
	if request == nil {
		request = nc.RequestMsgWithContext
	}
	reply, err := request(ctx, m)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, ErrNoListener):
		c.drop()
		return nil, ErrNoListener
	case err != nil:
		c.drop()
		return nil, fmt.Errorf("failed to open tunnel to %s: %w", subject, err)
	case len(reply.Data) == 0:
		c.drop()
		return nil, ErrRefused
	case string(reply.Data) == limitedReply:
		c.drop()
		return nil, ErrLimited
	}
	c.setPeer(string(reply.Data))
	return c, nil
}

// Listener accepts conns dialled to its subject.
type Listener struct {
	nc      *nats.Conn
	cfg     Config
	subject string
	sub     *nats.Subscription
	accept  chan *conn
	done    chan struct{}
	once    sync.Once
}

// Listen subscribes to subject and returns a listener for it.
func Listen(nc *nats.Conn, subject string, cfg Config) (*Listener, error) {
	cfg = cfg.withDefaults()
	l := &Listener{nc: nc, cfg: cfg, subject: subject, accept: make(chan *conn, cfg.Backlog), done: make(chan struct{})}
	sub, err := nc.Subscribe(subject, l.onOpen)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", subject, err)
	}
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("failed to listen on %s: %w", subject, err)
	}
	l.sub = sub
	return l, nil
}

func (l *Listener) onOpen(m *nats.Msg) {
	peer := m.Header.Get(rxHeader)
	if peer == "" || m.Reply == "" {
		return
	}
	from := m.Header.Get(fromHeader)
	c := newConn(l.nc, l.cfg, l.subject)
	c.setPeer(peer)
	if from != "" {
		c.remote = from
	}
	if l.cfg.Admit != nil {
		release, ok := l.cfg.Admit(from)
		if !ok {
			_ = m.Respond([]byte(limitedReply))
			return
		}
		c.release = release
	}
	if err := c.subscribe(); err != nil {
		c.releaseCount()
		_ = m.Respond(nil)
		return
	}
	if l.enqueue(c) {
		_ = m.Respond([]byte(c.rx))
		return
	}
	c.drop()
	c.releaseCount()
	_ = m.Respond(nil) // refused
}

// enqueue hands c to Accept. A full backlog makes this open wait (and the
// opens behind it, queued by NATS) rather than refuse a burst that the
// accept loop would take a moment later; only an accept loop stuck for
// AcceptTimeout, or a closed listener, refuses.
func (l *Listener) enqueue(c *conn) bool {
	select {
	case l.accept <- c:
		return true
	case <-l.done:
		return false
	default:
	}
	t := time.NewTimer(l.cfg.AcceptTimeout)
	defer t.Stop()
	select {
	case l.accept <- c:
		return true
	case <-l.done:
	case <-t.C:
	}
	return false
}

// Accept waits for the next conn.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; accepted conns stay open, waiting ones are closed.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		_ = l.sub.Unsubscribe()
		for {
			select {
			case c := <-l.accept:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr names the listener's subject.
func (l *Listener) Addr() net.Addr { return addr(l.subject) }

type addr string

func (a addr) Network() string { return "nats" }
func (a addr) String() string  { return string(a) }

// conn is one side of a tunnel. Read, Write and Close may be called
// concurrently (one reader and one writer at a time, as for any net.Conn);
// NATS calls onMsg on the subscription's goroutine.
type conn struct {
	nc      *nats.Conn
	cfg     Config
	rx      string // our inbox
	name    string // the listener's subject, for addresses
	remote  string // the dialler's from, on an accepted conn
	sub     *nats.Subscription
	release func() // the listener's Admit count, ended by Close

	mu       sync.Mutex
	cond     *sync.Cond
	peer     string
	in       [][]byte // received data not yet read
	inBytes  int
	consumed uint64 // bytes read, in total
	ackedOut uint64 // consumed as last told to the peer
	sent     uint64 // bytes written, in total
	peerAck  uint64 // bytes the peer consumed, as it told us
	eof      bool   // the peer closed
	closed   bool   // we closed
	err      error  // a broken conn
	rdl, wdl time.Time
	rtimer   *time.Timer
	wtimer   *time.Timer
}

func newConn(nc *nats.Conn, cfg Config, name string) *conn {
	inbox := cfg.Inbox
	if inbox == nil {
		inbox = nc.NewInbox
	}
	c := &conn{nc: nc, cfg: cfg, rx: inbox(), name: name}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *conn) subscribe() error {
	sub, err := c.nc.Subscribe(c.rx, c.onMsg)
	if err != nil {
		return fmt.Errorf("failed to subscribe tunnel inbox: %w", err)
	}
	// The window bounds what a peer sends; NATS's own limits stay above it.
	_ = sub.SetPendingLimits(-1, -1)
	c.sub = sub
	return nil
}

func (c *conn) setPeer(p string) {
	c.mu.Lock()
	c.peer = p
	c.mu.Unlock()
}

// drop unsubscribes a conn that never opened.
func (c *conn) drop() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
	}
}

func (c *conn) onMsg(m *nats.Msg) {
	if len(m.Data) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Data[0] {
	case kindData:
		if c.closed || c.eof || len(m.Data) == 1 {
			return
		}
		if c.inBytes+len(m.Data)-1 > c.cfg.Window {
			c.breakLocked(errProtocol)
			return
		}
		c.in = append(c.in, m.Data[1:])
		c.inBytes += len(m.Data) - 1
	case kindAck:
		if len(m.Data) == 9 {
			if n := binary.BigEndian.Uint64(m.Data[1:]); n > c.peerAck && n <= c.sent {
				c.peerAck = n
			}
		}
	case kindClose:
		c.eof = true
	}
	c.cond.Broadcast()
}

func (c *conn) breakLocked(err error) {
	if c.err == nil {
		c.err = err
	}
	c.cond.Broadcast()
}

func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.in) == 0 {
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case c.err != nil:
			return 0, c.err
		case c.eof:
			return 0, io.EOF
		case !c.rdl.IsZero() && !time.Now().Before(c.rdl):
			return 0, os.ErrDeadlineExceeded
		}
		c.cond.Wait()
	}
	n := 0
	for n < len(p) && len(c.in) > 0 {
		k := copy(p[n:], c.in[0])
		n += k
		if k == len(c.in[0]) {
			c.in[0] = nil
			c.in = c.in[1:]
		} else {
			c.in[0] = c.in[0][k:]
		}
	}
	c.inBytes -= n
	c.consumed += uint64(n)
	// Acknowledging every quarter window is enough: a blocked writer has a
	// whole window in flight, so the reader passes a quarter before it runs dry.
	if c.consumed-c.ackedOut >= uint64(c.cfg.Window/4) {
		c.ackedOut = c.consumed
		var b [9]byte
		b[0] = kindAck
		binary.BigEndian.PutUint64(b[1:], c.consumed)
		_ = c.nc.Publish(c.peer, b[:])
	}
	return n, nil
}

func (c *conn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		c.mu.Lock()
		var room int
		for {
			switch {
			case c.closed:
				c.mu.Unlock()
				return written, net.ErrClosed
			case c.err != nil:
				c.mu.Unlock()
				return written, c.err
			case c.eof:
				c.mu.Unlock()
				return written, fmt.Errorf("tunnel: peer closed: %w", net.ErrClosed)
			case !c.wdl.IsZero() && !time.Now().Before(c.wdl):
				c.mu.Unlock()
				return written, os.ErrDeadlineExceeded
			}
			room = c.cfg.Window - int(c.sent-c.peerAck)
			if room > 0 {
				break
			}
			c.cond.Wait()
		}
		n := min(len(p)-written, room, c.cfg.Chunk)
		c.sent += uint64(n)
		peer := c.peer
		c.mu.Unlock()
		msg := make([]byte, 1+n)
		msg[0] = kindData
		copy(msg[1:], p[written:written+n])
		if err := c.nc.Publish(peer, msg); err != nil {
			c.mu.Lock()
			c.breakLocked(fmt.Errorf("failed to publish tunnel data: %w", err))
			c.mu.Unlock()
			return written, err
		}
		written += n
	}
	return written, nil
}

// Close tells the peer and releases the inbox. It is idempotent.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	peer, eof := c.peer, c.eof
	c.in, c.inBytes = nil, 0
	for _, t := range []*time.Timer{c.rtimer, c.wtimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	if !eof {
		_ = c.nc.Publish(peer, []byte{kindClose})
	}
	c.releaseCount()
	return c.sub.Unsubscribe()
}

// releaseCount ends the conn's Admit count; it runs once (Close is
// idempotent, and a conn that never opened is never closed).
func (c *conn) releaseCount() {
	if c.release != nil {
		c.release()
	}
}

func (c *conn) LocalAddr() net.Addr { return addr(c.rx) }

// RemoteAddr is the dialler's from on an accepted conn that has one (so an
// HTTP server sees the original client's address), else the subject.
func (c *conn) RemoteAddr() net.Addr {
	if c.remote != "" {
		return addr(c.remote)
	}
	return addr(c.name)
}

func (c *conn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.rtimer = c.armLocked(c.rtimer, t)
	c.mu.Unlock()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.wtimer = c.armLocked(c.wtimer, t)
	c.mu.Unlock()
	return nil
}

// armLocked wakes waiters when deadline t passes.
func (c *conn) armLocked(tm *time.Timer, t time.Time) *time.Timer {
	if tm != nil {
		tm.Stop()
	}
	c.cond.Broadcast()
	if t.IsZero() || c.closed {
		return nil
	}
	return time.AfterFunc(time.Until(t), func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
}
