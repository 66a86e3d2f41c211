package channels

import (
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/bus/bustest"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
)

// A channel's first subscription waits for every node of a cluster to
// confirm it (up to a second); no lock the rest of the handler needs is
// held meanwhile: while one is in flight, metrics, the count and a leave
// on another channel answer at once, and the slow connect still succeeds.
func TestSlowSubscribeBlocksNoOtherChannel(t *testing.T) {
	b := bustest.StartSlow(t)
	ch := New(b, Config{})
	url := "ws://" + testutil.Serve(t, ch, ch.Close)
	start := time.Now()
	a := wstest.Dial(t, url+"/ws/a")
	if d := time.Since(start); d < bustest.SlowSubscribe {
		t.Fatalf("the first connect took %v: the bus's subscriptions are not slow", d)
	}
	type dialed struct {
		c   *wstest.Client
		err error
	}
	second := make(chan dialed, 1)
	go func() {
		c, _, err := wstest.TryDial(url + "/ws/b")
		second <- dialed{c, err}
	}()
	var d dialed
	t.Cleanup(func() { // after a failure too: no goroutine outlives the test
		if d.c == nil && d.err == nil {
			d = <-second
		}
		if d.c != nil {
			d.c.Close()
		}
	})
	eventually.True(t, 10*time.Second, "the subscription to b in flight", func() bool {
		return b.Interest(bus.Live(bus.ChannelSubject("b"))) > 0
	})
	began := time.Now()
	live := ch.Live()
	if took := time.Since(began); took > bustest.SlowSubscribe/2 {
		t.Fatalf("a metrics read took %v during a slow subscription", took)
	}
	if live.WebSocketConns != 1 || live.Channels != 1 {
		t.Fatalf("live %+v during b's subscription, want a's connection and channel", live)
	}
	a.Close()
	eventually.True(t, 10*time.Second, "a's leave", func() bool { return ch.Len() == 0 })
	if took := time.Since(began); took > bustest.SlowSubscribe/2 {
		t.Fatalf("metrics and a leave on another channel took %v during a slow subscription", took)
	}
	select {
	case d = <-second:
		t.Fatalf("b's connect ended (%v) before the checks: they prove nothing", d.err)
	default:
	}
	d = <-second
	if d.err != nil {
		t.Fatalf("the slow connect failed: %v", d.err)
	}
	d.c.SendText(t, "hi")
	if got := d.c.NextText(t, 10*time.Second); got != "hi" {
		t.Fatalf("b got %q", got)
	}
}

// Clients joining a channel together while its first subscription is in
// flight wait for that one claim: all are admitted, on one subscription,
// and hear each other.
func TestConcurrentFirstJoinersShareOneSubscription(t *testing.T) {
	b := bustest.StartSlow(t)
	ch := New(b, Config{})
	url := "ws://" + testutil.Serve(t, ch, ch.Close)
	const n = 3
	type dialed struct {
		c   *wstest.Client
		err error
	}
	results := make(chan dialed, n)
	for range n {
		go func() {
			c, _, err := wstest.TryDial(url + "/ws/together")
			results <- dialed{c, err}
		}()
	}
	var clients []*wstest.Client
	for range n {
		d := <-results
		if d.err != nil {
			t.Errorf("a concurrent first joiner failed: %v", d.err)
			continue
		}
		clients = append(clients, d.c)
		t.Cleanup(d.c.Close)
	}
	if t.Failed() {
		t.FailNow()
	}
	if got := b.Interest(bus.Live(bus.ChannelSubject("together"))); got != 1 {
		t.Fatalf("%d subscriptions for one channel, want 1", got)
	}
	clients[0].SendText(t, "all")
	for i, c := range clients {
		if got := c.NextText(t, 10*time.Second); got != "all" {
			t.Fatalf("client %d got %q", i, got)
		}
	}
}
