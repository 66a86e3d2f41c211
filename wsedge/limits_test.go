package wsedge

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
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

// One address's connections share AddressEvents, Socket.IO and plain
// WebSocket alike: with a budget of 10 (and no per-connection limit), two
// Socket.IO connections get 10 of 14 acked events stored between them and
// rate-limit error acks past it, and a plain WebSocket of the same address
// is closed with 4029 at its first message. Refusals are counted; the
// budget forgets the address with its last connection.
func TestAddressEventBudgetAcrossConnections(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	counters := new(metrics.Set)
	budget := NewAddressBudget(0.001, 10)
	srv := NewServer(b, Config{AddressEvents: budget, EventsPerSecond: -1, Metrics: counters})
	ch := NewChannels(b, ChannelsConfig{AddressEvents: budget, MessagesPerSecond: -1, Metrics: counters})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("/ws/", ch)
	addr := testutil.Serve(t, mux, func(ctx context.Context) error {
		return errors.Join(srv.Close(ctx), ch.Close(ctx))
	})
	srv.Of("/").OnConnection(func(s *Socket) {
		s.On("ev", func(e *Event) { _ = e.Ack() })
	})
	a := siotest.Dial(t, "http://"+addr, "/socket.io/")
	a.ConnectID(t, "/", "") // 1
	bc := siotest.Dial(t, "http://"+addr, "/socket.io/")
	bc.ConnectID(t, "/", "") // 2
	ok, limited := 0, 0
	for i := range 14 {
		c := a
		if i%2 == 1 {
			c = bc
		}
		c.Send(t, siotest.Event("/", i, "ev", `1`))
		switch got := c.NextText(t, wait); got {
		case "3" + strconv.Itoa(i) + "[]":
			ok++
		case "3" + strconv.Itoa(i) + `[{"error":"rate limit exceeded"}]`:
			limited++
		default:
			t.Fatalf("event %d answered %q", i, got)
		}
	}
	if ok != 8 || limited != 6 {
		t.Fatalf("%d events acked, %d refused; want 8 (10 less the 2 CONNECTs) and 6", ok, limited)
	}
	ws := wstest.Dial(t, "ws://"+addr+"/ws/room")
	ws.SendText(t, "x")
	if code, reason := ws.WaitClose(t, wait); code != int(CloseRateLimited) || reason != ReasonRateLimited {
		t.Fatalf("plain WebSocket over its address's budget: %d %q", code, reason)
	}
	if got := counters.Snapshot().Refused[metrics.ReasonRateLimit]; got != 7 {
		t.Fatalf("rate_limit refusals counted %d, want 7", got)
	}
	if budget.Addresses() != 1 {
		t.Fatalf("addresses tracked %d, want 1", budget.Addresses())
	}
	// Reconnecting buys no fresh burst: the spent budget outlives the
	// address's connections until it has refilled.
	a.WS.Close()
	bc.WS.Close()
	eventually.True(t, wait, "the address's connections released", func() bool {
		budget.mu.Lock()
		defer budget.mu.Unlock()
		s := budget.addrs["127.0.0.1"]
		return s == nil || s.refs == 0
	})
	again := siotest.Dial(t, "http://"+addr, "/socket.io/")
	again.Send(t, "0")
	if _, open := <-again.Packets(); open || budget.Addresses() != 1 {
		t.Fatal("a new connection of a spent address got a fresh budget")
	}
}

// An address without connections is forgotten once its bucket has
// refilled: the budget's state is bounded by connections and recent
// addresses.
func TestAddressBudgetForgetsRefilledAddresses(t *testing.T) {
	b := NewAddressBudget(1000, 10) // refills in 10 ms
	s := b.acquire("192.0.2.1:1234")
	for range 10 {
		if !s.allow() {
			t.Fatal("refused within the burst")
		}
	}
	if s.allow() {
		t.Fatal("allowed past the burst")
	}
	b.release(s)
	fresh := b.acquire("192.0.2.2:1")
	b.release(fresh) // full: forgotten at once
	if got := b.Addresses(); got != 1 {
		t.Fatalf("addresses %d right after release, want 1 (the spent one)", got)
	}
	eventually.True(t, wait, "the refilled address forgotten", func() bool { return b.Addresses() == 0 })
}
