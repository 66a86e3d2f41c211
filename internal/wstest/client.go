package wstest

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// Msg is one message a client received.
type Msg struct {
	Binary bool
	Data   []byte
}

// Client is a WebSocket client whose received messages queue up in order.
type Client struct {
	Conn   *gws.Conn
	msgs   chan Msg
	closed chan struct{}
	err    error
}

type events struct {
	c      *Client
	noPong bool
}

func (e *events) OnOpen(*gws.Conn) {}
func (e *events) OnClose(_ *gws.Conn, err error) {
	e.c.err = err
	close(e.c.closed)
}
func (e *events) OnPing(c *gws.Conn, p []byte) {
	if !e.noPong {
		_ = c.WritePong(p)
	}
}
func (e *events) OnPong(*gws.Conn, []byte) {}
func (e *events) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	msg := Msg{Binary: m.Opcode == gws.OpcodeBinary, Data: append([]byte(nil), m.Bytes()...)}
	select {
	case e.c.msgs <- msg:
	default: // a test that floods a client it never reads has what it wants
	}
}

// Dial connects to url (ws://...) and starts reading. The connection is
// closed when the test ends.
func Dial(t testing.TB, url string) *Client {
	t.Helper()
	c, err := dial(url, false, 0)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// DialSilent connects but never answers pings (a dead peer, for reaping tests).
func DialSilent(t testing.TB, url string) *Client {
	t.Helper()
	c, err := dial(url, true, 0)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TryDial connects and returns the HTTP response on failure.
func TryDial(url string) (*Client, *http.Response, error) {
	c, resp, err := dialResp(url, false, 0)
	return c, resp, err
}

func dial(url string, noPong bool, maxPayload int) (*Client, error) {
	c, _, err := dialResp(url, noPong, maxPayload)
	return c, err
}

func dialResp(url string, noPong bool, maxPayload int) (*Client, *http.Response, error) {
	c := &Client{msgs: make(chan Msg, 100000), closed: make(chan struct{})}
	conn, resp, err := gws.NewClient(&events{c: c, noPong: noPong}, &gws.ClientOption{
		Addr:                url,
		ReadMaxPayloadSize:  64 << 20,
		WriteMaxPayloadSize: 64 << 20,
		HandshakeTimeout:    5 * time.Second,
	})
	if err != nil {
		return nil, resp, err
	}
	c.Conn = conn
	go conn.ReadLoop()
	return c, resp, nil
}

// SendText sends a text frame.
func (c *Client) SendText(t testing.TB, s string) {
	t.Helper()
	if err := c.Conn.WriteMessage(gws.OpcodeText, []byte(s)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// SendBinary sends a binary frame.
func (c *Client) SendBinary(t testing.TB, b []byte) {
	t.Helper()
	if err := c.Conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// Next waits up to d for the next message.
func (c *Client) Next(t testing.TB, d time.Duration) Msg {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.closed:
		// Drain anything that arrived before the close.
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		t.Fatalf("connection closed while waiting for a message: %v", c.err)
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
	}
	return Msg{}
}

// NextText waits for a text message and returns its data.
func (c *Client) NextText(t testing.TB, d time.Duration) string {
	t.Helper()
	m := c.Next(t, d)
	if m.Binary {
		t.Fatalf("got a binary message %q, want text", m.Data)
	}
	return string(m.Data)
}

// WaitClose waits up to d for the server to close the connection and
// returns the close code it sent (-1 when the socket dropped without one).
func (c *Client) WaitClose(t testing.TB, d time.Duration) (code int, reason string) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(d):
		t.Fatalf("connection not closed within %v", d)
	}
	var ce *gws.CloseError
	if errors.As(c.err, &ce) {
		return int(ce.Code), string(ce.Reason)
	}
	return -1, ""
}

// Closed is closed when the connection ends.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Close closes the connection.
func (c *Client) Close() {
	_ = c.Conn.WriteClose(1000, nil)
	<-c.closed
}

// TryNext returns the next message if one arrives within d.
func (c *Client) TryNext(d time.Duration) (Msg, bool) {
	select {
	case m := <-c.msgs:
		return m, true
	case <-time.After(d):
		return Msg{}, false
	}
}
