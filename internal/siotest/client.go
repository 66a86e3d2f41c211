package siotest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/internal/wstest"
)

// Client is one Engine.IO session.
type Client struct {
	WS      *wstest.Client
	SID     string // Engine.IO session id
	packets chan Packet
}

// Packet is one received Socket.IO packet: its text, or an attachment.
type Packet struct {
	Text   string // Socket.IO text without the Engine.IO '4'
	Binary []byte // set for a binary attachment
}

// Dial opens a websocket Engine.IO session at base (http://host:port) and path.
func Dial(t testing.TB, base, path string) *Client {
	t.Helper()
	u := strings.Replace(base, "http://", "ws://", 1) + path + "?EIO=4&transport=websocket"
	c := &Client{WS: wstest.Dial(t, u), packets: make(chan Packet, 10000)}
	open := c.WS.NextText(t, 5*time.Second)
	if !strings.HasPrefix(open, "0{") {
		t.Fatalf("first packet %q is not an open packet", open)
	}
	var o struct{ Sid string }
	if err := json.Unmarshal([]byte(open[1:]), &o); err != nil {
		t.Fatalf("open packet: %v", err)
	}
	c.SID = o.Sid
	go c.pump()
	return c
}

func (c *Client) pump() {
	for {
		select {
		case <-c.WS.Closed():
			// Messages arrive before the close: pass on what is left.
			for {
				m, ok := c.WS.TryNext(10 * time.Millisecond)
				if !ok {
					break
				}
				c.forward(m)
			}
			close(c.packets)
			return
		default:
		}
		if m, ok := c.WS.TryNext(100 * time.Millisecond); ok {
			c.forward(m)
		}
	}
}

func (c *Client) forward(m wstest.Msg) {
	switch {
	case m.Binary:
		c.packets <- Packet{Binary: m.Data}
	case string(m.Data) == "2":
		_ = c.WS.Conn.WriteMessage(gws.OpcodeText, []byte("3"))
	case len(m.Data) > 0 && m.Data[0] == '4':
		c.packets <- Packet{Text: string(m.Data[1:])}
	}
}

// Send writes one Socket.IO packet (text without the Engine.IO '4').
func (c *Client) Send(t testing.TB, packet string) {
	t.Helper()
	if err := c.WS.Conn.WriteMessage(gws.OpcodeText, []byte("4"+packet)); err != nil {
		t.Fatalf("send %q: %v", packet, err)
	}
}

// SendBinary writes one binary attachment.
func (c *Client) SendBinary(t testing.TB, b []byte) {
	t.Helper()
	if err := c.WS.Conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatalf("send binary: %v", err)
	}
}

// Packets receives the packets in order; it is closed once the connection
// closes and every packet before the close was received.
func (c *Client) Packets() <-chan Packet { return c.packets }

// Next waits for the next packet.
func (c *Client) Next(t testing.TB, d time.Duration) Packet {
	t.Helper()
	select {
	case p, ok := <-c.packets:
		if !ok {
			t.Fatal("connection closed while waiting for a packet")
		}
		return p
	case <-time.After(d):
		t.Fatalf("no packet within %v", d)
	}
	return Packet{}
}

// NextText waits for the next text packet.
func (c *Client) NextText(t testing.TB, d time.Duration) string {
	t.Helper()
	p := c.Next(t, d)
	if p.Binary != nil {
		t.Fatalf("got an attachment, want a text packet")
	}
	return p.Text
}

// Quiet asserts no packet arrives within d (use after a marker proves order).
func (c *Client) Quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case p, ok := <-c.packets:
		if ok {
			t.Fatalf("unexpected packet %+v", p)
		}
	case <-time.After(d):
	}
}

// Connect joins a namespace with an auth payload ("" for none) and returns
// the CONNECT reply (e.g. `40{"sid":"..."}` or a 44 error).
func (c *Client) Connect(t testing.TB, nsp, auth string) string {
	t.Helper()
	p := "0"
	if nsp != "/" {
		p += nsp + ","
	}
	c.Send(t, p+auth)
	for {
		reply := c.NextText(t, 5*time.Second)
		if strings.HasPrefix(reply, "0"+prefix(nsp)) || strings.HasPrefix(reply, "4"+prefix(nsp)) {
			return reply
		}
	}
}

// ConnectID joins a namespace and returns the socket id.
func (c *Client) ConnectID(t testing.TB, nsp, auth string) string {
	t.Helper()
	reply := c.Connect(t, nsp, auth)
	body := strings.TrimPrefix(reply, "0"+prefix(nsp))
	var r struct{ Sid string }
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Sid == "" {
		t.Fatalf("CONNECT reply %q has no sid", reply)
	}
	return r.Sid
}

// Emit sends an event: args is the JSON of the remaining elements, e.g. `1,"a"`.
func (c *Client) Emit(t testing.TB, nsp, event, args string) {
	t.Helper()
	c.Send(t, Event(nsp, -1, event, args))
}

// Event formats an EVENT packet (ackID < 0: none).
func Event(nsp string, ackID int, event, args string) string {
	p := "2" + prefix(nsp)
	if ackID >= 0 {
		p += fmt.Sprint(ackID)
	}
	name, _ := json.Marshal(event)
	if args != "" {
		return p + "[" + string(name) + "," + args + "]"
	}
	return p + "[" + string(name) + "]"
}

func prefix(nsp string) string {
	if nsp == "/" || nsp == "" {
		return ""
	}
	return nsp + ","
}
