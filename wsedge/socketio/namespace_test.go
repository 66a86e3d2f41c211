package socketio

import (
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/bus/bustest"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
)

// A namespace's first subscription waits for every node of a cluster to
// confirm it (up to a second); the namespace's lock is not held meanwhile:
// while one is in flight, a metrics read, the namespace's count and a
// leave on another namespace answer at once, and the slow CONNECT still
// succeeds.
func TestSlowSubscribeBlocksNoOtherNamespace(t *testing.T) {
	b := bustest.StartSlow(t)
	srv := NewServer(b, Config{})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	nsA, nsB := srv.Of("/a"), srv.Of("/b")
	a := siotest.Dial(t, url, "/socket.io/")
	start := time.Now()
	a.ConnectID(t, "/a", "")
	if d := time.Since(start); d < bustest.SlowSubscribe {
		t.Fatalf("the first CONNECT took %v: the bus's subscriptions are not slow", d)
	}
	c := siotest.Dial(t, url, "/socket.io/")
	c.Send(t, "0/b,")
	eventually.True(t, 10*time.Second, "the subscription to /b in flight", func() bool {
		return b.Interest(bus.Live(bus.IOBase("b"))+"x") > 0
	})
	began := time.Now()
	live := srv.Live()
	if took := time.Since(began); took > bustest.SlowSubscribe/2 {
		t.Fatalf("a metrics read took %v during a slow subscription", took)
	}
	if live.Namespaces != 1 || live.SocketsWebSocket != 1 {
		t.Fatalf("live %+v during /b's subscription, want /a's socket alone", live)
	}
	if nsB.Len() != 0 {
		t.Fatal("/b has a socket before its subscription")
	}
	a.WS.Close()
	eventually.True(t, 10*time.Second, "a's leave", func() bool { return nsA.Len() == 0 })
	if took := time.Since(began); took > bustest.SlowSubscribe/2 {
		t.Fatalf("metrics, a count and a leave took %v during a slow subscription", took)
	}
	select {
	case p := <-c.Packets():
		t.Fatalf("/b's CONNECT answered (%+v) before the checks: they prove nothing", p)
	default:
	}
	if got := c.NextText(t, 10*time.Second); !strings.HasPrefix(got, `0/b,{"sid":`) {
		t.Fatalf("the slow CONNECT got %q", got)
	}
}

// Sockets joining a namespace together while its first subscription is in
// flight wait for that one claim: all are admitted, on one subscription.
func TestConcurrentFirstJoinersShareOneSubscription(t *testing.T) {
	b := bustest.StartSlow(t)
	srv := NewServer(b, Config{})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	ns := srv.Of("/together")
	clients := make([]*siotest.Client, 3)
	for i := range clients {
		clients[i] = siotest.Dial(t, url, "/socket.io/")
		clients[i].Send(t, "0/together,")
	}
	for i, c := range clients {
		if got := c.NextText(t, 10*time.Second); !strings.HasPrefix(got, `0/together,{"sid":`) {
			t.Fatalf("client %d got %q", i, got)
		}
	}
	if got := b.Interest(bus.Live(bus.IOBase("together")) + "x"); got != 1 || ns.Len() != 3 {
		t.Fatalf("%d subscriptions and %d sockets, want 1 and 3", got, ns.Len())
	}
}
