package socketio

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/metrics"
)

// 2,000 refused CONNECTs in a row on one WebSocket: the middleware (where a
// connect hook would run) is asked MaxConnectRefusals times, the client gets
// that many connect_errors and then the connection closes, counted as a
// rate-limit refusal.
func TestRefusedConnectsCloseTheConnection(t *testing.T) {
	counters := new(metrics.Set)
	srv, _, url := startIO(t, Config{Metrics: counters})
	var asked atomic.Int64
	srv.Of("/spam").Use(func(*Socket) error {
		asked.Add(1)
		return errors.New("no")
	})
	c := siotest.Dial(t, url, "/socket.io/")
	for range 2000 {
		if err := c.WS.Conn.WriteString("40/spam,{}"); err != nil {
			break // closed by the server meanwhile
		}
	}
	refusals := 0
	for _, p := range drain(t, c) {
		if !strings.HasPrefix(p.Text, `4/spam,{"message":"no"}`) {
			t.Fatalf("unexpected packet %q", p.Text)
		}
		refusals++
	}
	if refusals != DefaultMaxConnectRefusals || asked.Load() != DefaultMaxConnectRefusals {
		t.Fatalf("connect_errors %d, middleware runs %d; want %d each", refusals, asked.Load(), DefaultMaxConnectRefusals)
	}
	if got := counters.Snapshot().Refused[metrics.ReasonRateLimit]; got != 1 {
		t.Fatalf("rate_limit refusals counted %d, want 1", got)
	}
}

// Refused CONNECTs count against MaxNamespaces: with room for 3, two
// refusals leave room for one namespace.
func TestRefusedConnectsCountAgainstMaxNamespaces(t *testing.T) {
	srv, _, url := startIO(t, Config{MaxNamespaces: 3})
	srv.Of("/no").Use(func(*Socket) error { return errors.New("no") })
	srv.Of("/a")
	srv.Of("/b")
	c := siotest.Dial(t, url, "/socket.io/")
	for range 2 {
		if got := c.Connect(t, "/no", ""); got != `4/no,{"message":"no"}` {
			t.Fatalf("refusal %q", got)
		}
	}
	c.ConnectID(t, "/a", "")
	if got := c.Connect(t, "/b", ""); got != `4/b,{"data":{"max":3},"message":"too many namespaces"}` {
		t.Fatalf("CONNECT past the bound: %q", got)
	}
}

// Every CONNECT costs one event of the connection's budget: joining and
// leaving a namespace over and over hits the rate limit.
func TestConnectsCostEvents(t *testing.T) {
	counters := new(metrics.Set)
	_, _, url := startIO(t, Config{Metrics: counters, EventsPerSecond: 0.001, EventBurst: 5})
	c := siotest.Dial(t, url, "/socket.io/")
	for range 5 {
		c.ConnectID(t, "/", "")
		c.Send(t, "1")
	}
	c.Send(t, "0")
	for _, p := range drain(t, c) {
		t.Fatalf("CONNECT over the budget answered %q", p.Text)
	}
	if got := counters.Snapshot().Refused[metrics.ReasonRateLimit]; got != 1 {
		t.Fatalf("rate_limit refusals counted %d, want 1", got)
	}
}

// drain returns c's packets until the server closes the connection.
func drain(t *testing.T, c *siotest.Client) []siotest.Packet {
	t.Helper()
	var out []siotest.Packet
	deadline := time.After(wait)
	for {
		select {
		case p, ok := <-c.Packets():
			if !ok {
				return out
			}
			out = append(out, p)
		case <-deadline:
			t.Fatalf("connection not closed within %v (%d packets)", wait, len(out))
		}
	}
}
