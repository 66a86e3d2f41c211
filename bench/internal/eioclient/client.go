package eioclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// ErrConnectRefused is a CONNECT answered with CONNECT_ERROR.
var ErrConnectRefused = errors.New("eioclient: namespace connect refused")

// ErrClosed is returned for a client whose connection ended.
var ErrClosed = net.ErrClosed

// Config is shared by many clients (read-only once in use). The zero value
// with URL set dials Socket.IO's main namespace.
type Config struct {
	// URL is the server's base, e.g. http://127.0.0.1:3000.
	URL string
	// Plain makes the client a plain WebSocket on /ws/{Channel}: no
	// Engine.IO framing, every message goes to OnEvent.
	Plain bool
	// Channel is the plain WebSocket channel.
	Channel string
	// Namespace is the Socket.IO namespace, "/" by default.
	Namespace string
	// ReadBufferSize is gws's read buffer. Default 1 KiB.
	ReadBufferSize int
	// Timeout bounds the dial, the WebSocket handshake and the namespace
	// CONNECT. Default 10s.
	Timeout time.Duration

	// OnEvent receives each event: the JSON argument array (event name
	// first) for Socket.IO, the payload for plain WebSocket. The bytes are
	// only valid during the call.
	OnEvent func(c *Client, args []byte)
	// OnAck receives each ack the server sends, with its arguments.
	OnAck func(c *Client, id int64, args []byte)
	// OnClose is told once when the connection ends.
	OnClose func(c *Client, err error)
}

// Client is one connection. Emit and Close are safe for concurrent use.
type Client struct {
	cfg    *Config
	prefix string
	auth   []byte // CONNECT payload
	conn   *gws.Conn

	// Tag is free for the caller (an index, say).
	Tag int

	once        sync.Once
	connected   chan struct{}
	connectedAt time.Time
	sid, pid    string
	connErr     error

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

// Dial connects a client and, for Socket.IO, joins its namespace (with auth
// as the CONNECT payload, nil for none). It returns once the CONNECT reply
// arrived (or at once for plain WebSocket).
func Dial(ctx context.Context, cfg *Config, auth []byte) (*Client, error) {
	c, err := Start(cfg, auth)
	if err != nil {
		return nil, err
	}
	if err := c.WaitConnected(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Start dials and starts reading without waiting for the namespace CONNECT;
// see WaitConnected.
func Start(cfg *Config, auth []byte) (*Client, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	rbs := cfg.ReadBufferSize
	if rbs <= 0 {
		rbs = 1024
	}
	addr, err := wsURL(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, prefix: Prefix(cfg.Namespace), auth: auth,
		connected: make(chan struct{}), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(&handler{c}, &gws.ClientOption{
		Addr:               addr,
		ReadBufferSize:     rbs,
		ReadMaxPayloadSize: 16 << 20,
		HandshakeTimeout:   timeout,
		NewDialer:          func() (gws.Dialer, error) { return &net.Dialer{Timeout: timeout}, nil },
		NewSession:         func() gws.SessionStorage { return noSession{} },
	})
	if err != nil {
		return nil, fmt.Errorf("failed to dial %s: %w", addr, err)
	}
	c.conn = conn
	if cfg.Plain {
		c.markConnected(nil)
	}
	go conn.ReadLoop()
	return c, nil
}

func wsURL(cfg *Config) (string, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("eioclient: bad URL %q", cfg.URL)
	}
	if cfg.Plain {
		u.Path = "/ws/" + cfg.Channel
		u.RawPath = "/ws/" + url.PathEscape(cfg.Channel)
		u.RawQuery = ""
	} else {
		u.Path, u.RawPath = "/socket.io/", ""
		u.RawQuery = "EIO=4&transport=websocket"
	}
	return u.String(), nil
}

// WaitConnected waits for the namespace CONNECT reply, the connection's
// end or ctx.
func (c *Client) WaitConnected(ctx context.Context) error {
	timeout := c.cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.connected:
		return c.connErr
	case <-c.closed:
		return fmt.Errorf("connection closed before CONNECT: %w", c.closeErr)
	case <-t.C:
		return fmt.Errorf("eioclient: no CONNECT reply in %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connected is closed once the CONNECT reply arrived.
func (c *Client) Connected() <-chan struct{} { return c.connected }

// SID is the socket id of the CONNECT reply.
func (c *Client) SID() string { return c.sid }

// ConnectedAt is when the CONNECT reply was read (valid after Connected).
func (c *Client) ConnectedAt() time.Time { return c.connectedAt }

// PID is the recovery session id of the CONNECT reply ("" when the
// server does not offer recovery).
func (c *Client) PID() string { return c.pid }

// Prefix is the namespace part of this client's packets.
func (c *Client) Prefix() string { return c.prefix }

// Send writes one text frame (a whole Engine.IO packet, or a plain message).
func (c *Client) Send(frame []byte) error { return c.conn.WriteMessage(gws.OpcodeText, frame) }

// Done is closed when the connection ended.
func (c *Client) Done() <-chan struct{} { return c.closed }

// Close cuts the connection at once (no close handshake: to the server it
// is a transport close, which keeps a recovery session).
func (c *Client) Close() {
	_ = c.conn.NetConn().Close()
}

// CloseWait closes the connection and waits (bounded) for its read loop.
func (c *Client) CloseWait(d time.Duration) {
	c.Close()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
	}
}

func (c *Client) markConnected(err error) {
	c.once.Do(func() {
		c.connectedAt = time.Now()
		c.connErr = err
		close(c.connected)
	})
}

type connectReply struct {
	SID     string `json:"sid"`
	PID     string `json:"pid"`
	Message string `json:"message"`
}

// handler receives gws's callbacks on the read loop.
type handler struct{ c *Client }

func (h *handler) OnOpen(*gws.Conn) {}

func (h *handler) OnClose(_ *gws.Conn, err error) {
	c := h.c
	c.closeOnce.Do(func() {
		c.closeErr = err
		close(c.closed)
	})
	c.markConnected(fmt.Errorf("connection closed: %w", err))
	if c.cfg.OnClose != nil {
		c.cfg.OnClose(c, err)
	}
}

func (h *handler) OnPing(conn *gws.Conn, p []byte) { _ = conn.WritePong(p) }

func (h *handler) OnPong(*gws.Conn, []byte) {}

func (h *handler) OnMessage(conn *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := h.c
	b := msg.Bytes()
	if c.cfg.Plain {
		if c.cfg.OnEvent != nil {
			c.cfg.OnEvent(c, b)
		}
		return
	}
	if msg.Opcode != gws.OpcodeText || len(b) == 0 {
		return // binary attachments: not used by the benchmarks
	}
	switch b[0] {
	case '0': // open: join the namespace
		frame := append([]byte("40"), c.prefix...)
		frame = append(frame, c.auth...)
		if err := conn.WriteMessage(gws.OpcodeText, frame); err != nil {
			c.markConnected(err)
		}
	case '2': // ping
		_ = conn.WriteMessage(gws.OpcodeText, []byte{'3'})
	case '1': // close
		_ = conn.NetConn().Close()
	case '4':
		p, ok := parsePacket(b[1:], c.prefix)
		if !ok {
			return
		}
		switch p.typ {
		case '0':
			var r connectReply
			if err := json.Unmarshal(p.data, &r); err != nil {
				c.markConnected(fmt.Errorf("eioclient: bad CONNECT reply %q", p.data))
				return
			}
			c.sid, c.pid = r.SID, r.PID
			c.markConnected(nil)
		case '4':
			var r connectReply
			_ = json.Unmarshal(p.data, &r)
			c.markConnected(fmt.Errorf("%w: %s", ErrConnectRefused, strings.TrimSpace(r.Message)))
		case '2':
			if c.cfg.OnEvent != nil {
				c.cfg.OnEvent(c, p.data)
			}
		case '3':
			if c.cfg.OnAck != nil {
				c.cfg.OnAck(c, p.ackID, p.data)
			}
		}
	}
}

// noSession is a gws.SessionStorage that stores nothing (saves a map per
// connection).
type noSession struct{}

func (noSession) Len() int                     { return 0 }
func (noSession) Load(string) (any, bool)      { return nil, false }
func (noSession) Delete(string)                {}
func (noSession) Store(string, any)            {}
func (noSession) Range(func(string, any) bool) {}
