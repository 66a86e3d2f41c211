package wsedge_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/socketio"
	"go.uber.org/goleak"
)

// One address's connections share AddressEvents, Socket.IO and plain
// WebSocket alike: with a budget of 10 (and no per-connection limit), two
// Socket.IO connections get 10 of 14 acked events stored between them and
// rate-limit error acks past it, and a plain WebSocket of the same address
// is closed with 4029 at its first message. Refusals are counted; the
// budget forgets the address with its last connection.
const wait = 5 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAddressEventBudgetAcrossConnections(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	counters := new(metrics.Set)
	budget := wsedge.NewAddressBudget(0.001, 10)
	srv := socketio.NewServer(b, socketio.Config{AddressEvents: budget, EventsPerSecond: -1, Metrics: counters})
	ch := channels.New(b, channels.Config{AddressEvents: budget, MessagesPerSecond: -1, Metrics: counters})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("/ws/", ch)
	addr := testutil.Serve(t, mux, func(ctx context.Context) error {
		return errors.Join(srv.Close(ctx), ch.Close(ctx))
	})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("ev", func(e *socketio.Event) { _ = e.Ack() })
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
	if code, reason := ws.WaitClose(t, wait); code != int(wsedge.CloseRateLimited) || reason != wsedge.ReasonRateLimited {
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
		return wsedge.AddressConnections(budget, "127.0.0.1") == 0
	})
	again := siotest.Dial(t, "http://"+addr, "/socket.io/")
	again.Send(t, "0")
	if _, open := <-again.Packets(); open || budget.Addresses() != 1 {
		t.Fatal("a new connection of a spent address got a fresh budget")
	}
}
