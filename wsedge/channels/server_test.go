package channels

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startChannels serves a Server on 127.0.0.1:0 over a fresh bus.
func startChannels(t *testing.T, cfg Config) (*Server, *bus.Bus, string) {
	t.Helper()
	b := testutil.StartBus(t, bus.Config{})
	ch := New(b, cfg)
	return ch, b, "ws://" + testutil.Serve(t, ch, ch.Close)
}

func TestNameFromPath(t *testing.T) {
	cases := map[string]string{"/ws": "default", "/ws/": "default", "/ws/a": "a", "/ws/a%2Eb": "a.b", "/ws/a/b": "a/b", "/ws/%2A": "*"}
	for path, want := range cases {
		if got, err := NameFromPath(path); err != nil || got != want {
			t.Errorf("NameFromPath(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, bad := range []string{"/wsx", "/", "/ws/%zz"} {
		if _, err := NameFromPath(bad); err == nil {
			t.Errorf("NameFromPath(%q) accepted", bad)
		}
	}
}

func TestSlowConsumerIsCutOffOthersServed(t *testing.T) {
	counters := new(metrics.Set)
	b := testutil.StartBus(t, bus.Config{NATSAddr: "127.0.0.1:0"}) // for the backend
	ch := New(b, Config{Metrics: counters, Queue: outq.Config{MaxBytes: 64 << 10, WriteTimeout: 500 * time.Millisecond}})
	url := "ws://" + testutil.Serve(t, ch, ch.Close)
	backend := natstest.Connect(t, b.ClientURL())
	fast := wstest.Dial(t, url+"/ws/flood")
	// A client that completes the handshake and then never reads.
	slow, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = slow.Write([]byte("GET /ws/flood HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	eventually.True(t, 5*time.Second, "the slow client to connect", func() bool { return ch.Len() == 2 })
	deadline := time.Now().Add(5 * time.Second)
	// Flood through the bus as a backend would; the fast client keeps up.
	payload := strings.Repeat("x", 4096)
	for i := 0; ch.Len() == 2; i++ {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("slow consumer never cut off")
		}
		if err := backend.Publish(bus.ChannelSubject("flood"), []byte(payload)); err != nil {
			t.Fatal(err)
		}
		fast.Next(t, 5*time.Second)
	}
	if ch.Len() != 1 {
		t.Fatalf("%d connections left, want only the fast one", ch.Len())
	}
	fast.SendText(t, "alive")
	for {
		if m := fast.NextText(t, 5*time.Second); m == "alive" {
			break
		}
	}
	eventually.True(t, 5*time.Second, "the slow consumer counted", func() bool {
		snap := counters.Snapshot()
		return snap.Refused[metrics.ReasonSlowConsumer] == 1 &&
			snap.Disconnects[metrics.KindWebSocket][metrics.ReasonSlowConsumer] == 1
	})
}

func TestSilentPeerIsReaped(t *testing.T) {
	counters := new(metrics.Set)
	ch, _, url := startChannels(t, Config{Metrics: counters, PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	alive := wstest.Dial(t, url+"/ws/k")
	silent := wstest.DialSilent(t, url+"/ws/k")
	select {
	case <-silent.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("a peer that never answers pings was not reaped")
	}
	// The answering peer outlives several intervals.
	select {
	case <-alive.Closed():
		t.Fatal("a peer answering pings was closed")
	case <-time.After(time.Second):
	}
	if ch.Len() != 1 {
		t.Fatalf("Len = %d, want 1", ch.Len())
	}
	if snap := counters.Snapshot(); snap.Refused[metrics.ReasonPingTimeout] != 1 ||
		snap.Disconnects[metrics.KindWebSocket][metrics.ReasonPingTimeout] != 1 {
		t.Fatalf("ping timeouts counted: refused %d, disconnects %d, want 1",
			snap.Refused[metrics.ReasonPingTimeout], snap.Disconnects[metrics.KindWebSocket][metrics.ReasonPingTimeout])
	}
}

// TestChannelKeepsSenderOrderThroughOutage: a plain WebSocket client's
// messages sent while its channel's stream cannot take them (deleted:
// JetStream answers 503 as for a stream electing a leader) are resent until
// the stream is back, and every one is stored and delivered once, in the
// order the client sent them.
func TestChannelKeepsSenderOrderThroughOutage(t *testing.T) {
	_, b, url := startChannels(t, Config{})
	c := wstest.Dial(t, url+"/ws/ord")
	c.SendText(t, "0")
	if got := c.NextText(t, 5*time.Second); got != "0" { // echoed: stored
		t.Fatalf("echo %q", got)
	}
	ctx := context.Background()
	stream := b.Log(bus.KindChannel, "ord").Stream.JS
	cfg := stream.CachedInfo().Config
	if err := b.JetStream().DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 1; i <= n; i++ {
		c.SendText(t, strconv.Itoa(i))
	}
	if m, ok := c.TryNext(700 * time.Millisecond); ok { // the outage itself
		t.Fatalf("%q delivered while the stream was gone", m.Data)
	}
	if _, err := b.JetStream().CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if got := c.NextText(t, 10*time.Second); got != strconv.Itoa(i) {
			t.Fatalf("message %d delivered as %q: lost or out of the sender's order", i, got)
		}
	}
	s, err := b.JetStream().Stream(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().State.Msgs; got != n {
		t.Fatalf("stream holds %d messages, want %d (each once)", got, n)
	}
}
