package handlers

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 5 * time.Second

func startRelay(t *testing.T) (*bus.Bus, string) {
	t.Helper()
	b := testutil.StartBus(t, bus.Config{NATSAddr: "127.0.0.1:0"}) // backends connect over TCP
	srv := socketio.NewServer(b, socketio.Config{})
	Relay(srv, nil)
	return b, "http://" + testutil.Serve(t, srv, srv.Close)
}

func TestRelayBroadcastsToOthersInAnyNamespace(t *testing.T) {
	_, url := startRelay(t)
	for _, nsp := range []string{"/", "/any-name"} {
		a, b, c := siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/"), siotest.Dial(t, url, "/socket.io/")
		for _, cl := range []*siotest.Client{a, b, c} {
			cl.ConnectID(t, nsp, "")
		}
		a.Emit(t, nsp, "hello", `1,"2",{"3":[true]}`)
		want := siotest.Event(nsp, -1, "hello", `1,"2",{"3":[true]}`)
		for _, cl := range []*siotest.Client{b, c} {
			if got := cl.NextText(t, wait); got != want {
				t.Fatalf("%s: got %q, want %q (byte-exact)", nsp, got, want)
			}
		}
		// The sender gets nothing: a marker from b reaches a next.
		b.Emit(t, nsp, "marker", "")
		if got := a.NextText(t, wait); got != siotest.Event(nsp, -1, "marker", "") {
			t.Fatalf("sender got %q before the marker", got)
		}
	}
}

func TestRelayAcksOnceStored(t *testing.T) {
	b, url := startRelay(t)
	a := siotest.Dial(t, url, "/socket.io/")
	a.ConnectID(t, "/", "")
	for i := 0; i < 20; i++ {
		a.Send(t, siotest.Event("/", i, "n", strconv.Itoa(i)))
	}
	for i := 0; i < 20; i++ {
		if got := a.NextText(t, wait); got != "3"+strconv.Itoa(i)+"[]" {
			t.Fatalf("ack %d = %q", i, got)
		}
	}
	// Every acknowledged event is in the namespace's log.
	l := b.Log(bus.KindNamespace, "~")
	info, err := l.Stream.JS.Info(context.Background(), jetstream.WithSubjectFilter(l.Filter))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Msgs; n < 20 {
		t.Fatalf("stream holds %d events after 20 acks", n)
	}
}

func TestRelayLeavesAcksToANATSHandler(t *testing.T) {
	b, url := startRelay(t)
	backend := natstest.Connect(t, b.ClientURL())
	sub, err := backend.Subscribe("sockbus.in.~.ask", func(m *nats.Msg) {
		_ = m.Respond([]byte(`["from backend",` + strings.TrimSuffix(strings.TrimPrefix(string(m.Data), "["), "]") + `]`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}
	a := siotest.Dial(t, url, "/socket.io/")
	a.ConnectID(t, "/", "")
	a.Send(t, siotest.Event("/", 7, "ask", `"q"`))
	if got := a.NextText(t, wait); got != `37["from backend","q"]` {
		t.Fatalf("ack = %q, want the backend's answer", got)
	}
}
