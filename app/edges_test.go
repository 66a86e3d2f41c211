package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge/socketio"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
)

// startEdge runs a sockbus node against an external NATS (--nats-url with
// --nats-user/--nats-password): a stateless edge whose --data-dir is never
// created.
func startEdge(t *testing.T, url string, opts ...func(*config)) *testServer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "never-created")
	s := startServer(t, func(c *config) {
		c.NATSURL, c.NATSUser, c.NATSPassword = url, natstest.User, natstest.Password
		c.DataDir = dir
		for _, o := range opts {
			o(c)
		}
	})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("edge touched --data-dir %s: %v", dir, err)
	}
	return s
}

// TestEdgesOnExternalNATS: two sockbus edges on one separately started
// nats-server relay each other's clients' events (acked once stored, or by
// a NATS handler when one listens), and a client dropped from edge A
// recovers on edge B with the events it missed.
func TestEdgesOnExternalNATS(t *testing.T) {
	ns := natstest.Start(t, "")
	a, b := startEdge(t, ns.ClientURL()), startEdge(t, ns.ClientURL())
	if !a.bus.External() || a.bus.ClientURL() == "" {
		t.Fatal("edge A is not on the external NATS")
	}
	var metrics []byte
	for _, path := range []string{"/readyz", "/metrics"} {
		eventually.True(t, wait, "edge answers 200 on "+path, func() bool {
			resp, err := http.Get("http://" + a.addr + path)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			metrics, _ = io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK
		})
	}
	if bytes.Contains(metrics, []byte("sockbus_jetstream_store_bytes")) || !bytes.Contains(metrics, []byte("\nsockbus_cluster_peers 0\n")) {
		t.Fatalf("edge metrics: want no store bytes and 0 cluster peers:\n%s", metrics)
	}

	x := siotest.Dial(t, "http://"+a.addr, "/socket.io/")
	reply := x.Connect(t, "/", "")
	var hello struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "0")), &hello); err != nil || hello.Pid == "" {
		t.Fatalf("CONNECT reply %q has no pid", reply)
	}
	y := siotest.Dial(t, "http://"+b.addr, "/socket.io/")
	y.ConnectID(t, "/", "")

	// Both subscriptions are on the one server before CONNECT is answered:
	// the first event crosses at once, both ways.
	emitAcked := func(c *siotest.Client, id int, value string) {
		t.Helper()
		c.Send(t, siotest.Event("/", id, "e", value))
		for {
			if p := c.NextText(t, wait); p == "3"+strconv.Itoa(id)+"[]" {
				return // the store's ack: no handler listens
			} else if strings.HasPrefix(p, "3") {
				t.Fatalf("ack %q, want 3%d[]", p, id)
			}
		}
	}
	nextEvent := func(c *siotest.Client) (value, offset string) {
		t.Helper()
		p := c.NextText(t, wait)
		var args []any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(p, "2")), &args); err != nil || len(args) != 3 {
			t.Fatalf("event %q: want name, value, offset", p)
		}
		return fmt.Sprint(args[1]), fmt.Sprint(args[2])
	}
	emitAcked(y, 1, "10")
	v, offset := nextEvent(x)
	if v != "10" {
		t.Fatalf("edge A delivered %s, want 10", v)
	}
	emitAcked(x, 2, "20")
	if v, _ := nextEvent(y); v != "20" {
		t.Fatalf("edge B delivered %s, want 20", v)
	}

	// A NATS handler on sockbus.in answers acks instead of the store.
	backend, err := nats.Connect(ns.ClientURL(), nats.UserInfo(natstest.User, natstest.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	sub, err := backend.Subscribe("sockbus.in.~.ask", func(m *nats.Msg) { _ = m.Respond([]byte(`["handled"]`)) })
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}
	y.Send(t, siotest.Event("/", 3, "ask", `1`))
	for {
		if p := y.NextText(t, wait); strings.HasPrefix(p, "3") {
			if p != `33["handled"]` {
				t.Fatalf("ack %q, want the handler's", p)
			}
			break
		}
	}
	if v, offset = nextEvent(x); v != "1" {
		t.Fatalf("edge A delivered ask %s", v)
	}
	_ = sub.Unsubscribe()

	x.WS.Close() // transport close: recoverable
	for i := 4; i <= 6; i++ {
		emitAcked(y, i, strconv.Itoa(i*10))
	}
	x2 := siotest.Dial(t, "http://"+b.addr, "/socket.io/")
	x2.Send(t, `0{"pid":"`+hello.Pid+`","offset":"`+offset+`"}`)
	var got []string
	for {
		p := x2.NextText(t, wait)
		if strings.HasPrefix(p, "0") {
			var back struct{ Sid, Pid string }
			if err := json.Unmarshal([]byte(p[1:]), &back); err != nil || back.Sid != hello.Sid || back.Pid != hello.Pid {
				t.Fatalf("CONNECT reply %q: want the same sid %s and pid (recovered)", p, hello.Sid)
			}
			break
		}
		var args []any
		_ = json.Unmarshal([]byte(strings.TrimPrefix(p, "2")), &args)
		got = append(got, fmt.Sprint(args[1]))
	}
	// Recovered from the last event X saw: exactly the missed ones, in order.
	if strings.Join(got, ",") != "40,50,60" {
		t.Fatalf("replayed on edge B: %v, want the missed 40,50,60", got)
	}

	// An event that cannot be stored gets the error ack, not the "no
	// responders" answer of the sockbus.in request nobody listens to.
	js, err := jetstream.New(backend)
	if err != nil {
		t.Fatal(err)
	}
	stream := b.bus.Log(bus.KindNamespace, "~").Stream.Name
	if err := js.DeleteStream(context.Background(), stream); err != nil {
		t.Fatal(err)
	}
	y.Send(t, siotest.Event("/", 7, "e", `70`))
	for {
		if p := y.NextText(t, 30*time.Second); strings.HasPrefix(p, "3") {
			if p != `37[{"error":"`+socketio.ErrAckNotStored+`"}]` {
				t.Fatalf("ack %q of an event that was not stored", p)
			}
			break
		}
	}
}

// TestEdgesSurviveNATSRestart: when the external nats-server stops, an
// edge's /readyz turns 503; when it is back (same port, same store), the
// edges reconnect on their own, /readyz is 200 again and their clients,
// still connected, relay each other's acked events and are present on
// every node (presence messages lost meanwhile are made up by snapshots).
func TestEdgesSurviveNATSRestart(t *testing.T) {
	port, err := strconv.Atoi(strings.Split(loopback.FreeAddrs(t, 1)[0], ":")[1])
	if err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	same := func(o *server.Options) { o.Port, o.StoreDir = port, store }
	ns := natstest.Start(t, "", same)
	a, b := startEdge(t, ns.ClientURL()), startEdge(t, ns.ClientURL())
	ready := func(s *testServer) int {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually.True(t, wait, "edge A ready", func() bool { return ready(a) == http.StatusOK })
	x := siotest.Dial(t, "http://"+a.addr, "/socket.io/")
	x.ConnectID(t, "/", "")
	y := siotest.Dial(t, "http://"+b.addr, "/socket.io/")
	y.ConnectID(t, "/", "")

	ns.Shutdown()
	ns.WaitForShutdown()
	eventually.True(t, 20*time.Second, "edge A's /readyz turns 503 without its NATS", func() bool {
		return ready(a) == http.StatusServiceUnavailable
	})
	natstest.Start(t, "", same)
	eventually.True(t, 30*time.Second, "edge A's /readyz is 200 again", func() bool { return ready(a) == http.StatusOK })
	eventually.True(t, 30*time.Second, "edge B reconnected", func() bool { return ready(b) == http.StatusOK })

	y.Send(t, siotest.Event("/", 1, "e", `"after restart"`))
	for {
		if p := y.NextText(t, 20*time.Second); strings.HasPrefix(p, "3") {
			if p != "31[]" {
				t.Fatalf("ack after the restart %q", p)
			}
			break
		}
	}
	if p := x.NextText(t, wait); !strings.HasPrefix(p, `2["e","after restart"`) {
		t.Fatalf("edge A delivered %q after the restart", p)
	}

	// Presence: what the edges sent while the server was down is lost;
	// each asks the other for its members once its bus is back.
	id := 1
	eventually.True(t, 30*time.Second, "both sockets present again", func() bool {
		id++
		n, _ := memberIDs(t, askPresence(t, y, id, `null`, nil))
		return n == 2
	})
	// Both edges stop within their shutdown budget (run returns no error),
	// here, while the NATS is up (its own cleanup would stop it first).
	began := time.Now()
	b.stop(t)
	a.stop(t)
	t.Logf("both edges stopped in %v", time.Since(began).Round(time.Millisecond))
}
