package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/webhook"
)

const testHookSecret = "webhook-test-secret"

// hookEvent is one delivery as a receiver reads it.
type hookEvent struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Time      string          `json:"time"`
	Node      string          `json:"node"`
	Namespace string          `json:"namespace"`
	Channel   string          `json:"channel"`
	Socket    string          `json:"socket"`
	User      *string         `json:"user"`
	Room      *string         `json:"room"`
	Rooms     []string        `json:"rooms"`
	Event     *string         `json:"event"`
	Args      json.RawMessage `json:"args"`
	Reason    string          `json:"reason"`
	// A plain WebSocket connection's message.
	Data        *string `json:"data"`
	DataBase64  *string `json:"data_base64"`
	DataOmitted bool    `json:"data_omitted"`
	hasUser     bool
}

// receiver is a real HTTP webhook receiver on 127.0.0.1:0. It checks each
// POST's signature, answers what answer says for the n-th request (from
// 1; 0 means 200), and records the events it accepted.
type receiver struct {
	t      *testing.T
	url    string
	answer func(n int) int // status; -1: never answer (until the test ends)
	// onRequest, when set, sees each request first.
	onRequest func(*http.Request)

	mu       sync.Mutex
	requests int
	badSig   int
	accepted []hookEvent
	perID    map[string]int
	lastNode string // Sockbus-Webhook-Node of the last accepted event
	done     chan struct{}
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	t.Helper()
	r := &receiver{t: t, answer: answer, perID: map[string]int{}, done: make(chan struct{})}
	ln := listenLoopback(t)
	srv := &http.Server{Handler: r}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(r.done); _ = srv.Close() })
	r.url = "http://" + ln.Addr().String() + "/hook"
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	onRequest := r.onRequest
	r.mu.Unlock()
	if onRequest != nil {
		onRequest(req)
	}
	r.mu.Lock()
	r.requests++
	n := r.requests
	answer := r.answer
	r.mu.Unlock()
	status := 0
	if answer != nil {
		status = answer(n)
	}
	if status < 0 {
		select { // a receiver that never answers
		case <-req.Context().Done():
		case <-r.done:
		}
		return
	}
	if status >= 300 {
		w.WriteHeader(status)
		return
	}
	var ev hookEvent
	var fields map[string]json.RawMessage
	sigOK := req.Header.Get(webhook.SignatureHeader) == webhook.Sign(testHookSecret, body)
	if json.Unmarshal(body, &ev) != nil || json.Unmarshal(body, &fields) != nil || !sigOK || req.Header.Get(webhook.IDHeader) != ev.ID {
		r.mu.Lock()
		r.badSig++
		r.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	_, ev.hasUser = fields["user"]
	r.mu.Lock()
	r.accepted = append(r.accepted, ev)
	r.perID[ev.ID]++
	r.lastNode = req.Header.Get(webhook.NodeHeader)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// events is a copy of what was accepted so far.
func (r *receiver) events() []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

// waitFor waits until the receiver accepted n events, and checks that
// every signature was valid and no id came twice.
func (r *receiver) waitFor(t *testing.T, n int, d time.Duration) []hookEvent {
	t.Helper()
	eventually.True(t, d, fmt.Sprintf("%d webhook events accepted", n), func() bool { return len(r.events()) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.badSig > 0 {
		t.Fatalf("%d deliveries had a bad signature, body or id header", r.badSig)
	}
	for id, c := range r.perID {
		if c != 1 {
			t.Errorf("event %s accepted %d times, want once", id, c)
		}
	}
	return slices.Clone(r.accepted)
}

// webhookTo configures the node to deliver to urls.
func webhookTo(urls ...string) func(*config) {
	return func(c *config) {
		c.WebhookURLs, c.WebhookSecret = urls, testHookSecret
		c.WebhookMaxBackoff = 300 * time.Millisecond
		c.RecoveryWindow = 0
	}
}

// bySocket groups events by socket, in arrival order, as
// "type[:room|event|data|base64:data_base64]".
func bySocket(evs []hookEvent) map[string][]string {
	out := map[string][]string{}
	for _, e := range evs {
		s := e.Type
		if e.Room != nil {
			s += ":" + *e.Room
		}
		if e.Event != nil {
			s += ":" + *e.Event + string(e.Args)
		}
		if e.Data != nil {
			s += ":" + *e.Data
		}
		if e.DataBase64 != nil {
			s += ":base64:" + *e.DataBase64
		}
		out[e.Socket] = append(out[e.Socket], s)
	}
	return out
}

// TestWebhookEachTypeSigned: a connect, a join, client events (one left
// out by --webhook-events), a leave and a disconnect each reach a real
// receiver once, in order, signed, with the authenticated user, the node
// and the namespace.
func TestWebhookEachTypeSigned(t *testing.T) {
	r := newReceiver(t, nil)
	s := startServer(t, webhookTo(r.url), withNATS, func(c *config) {
		c.AuthJWTKey = testJWTSecret
		c.NodeName = "hook-node"
		c.WebhookEvents = []string{"connect", "disconnect", "join", "leave", "event:news*"}
	})
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	token := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))
	sid := c.ConnectID(t, "/chat", `{"token":"`+token+`"}`)
	// The connect webhook is published after the CONNECT reply (the
	// Connected observer runs last): a join sent before it is published
	// could overtake it, so the backend waits for it, as one reacting to
	// connects would.
	eventually.True(t, wait, "connect delivered", func() bool { return len(r.events()) >= 1 })
	nc := s.backend(t)
	if err := nc.Publish("sockbus.io.chat.ctl.join", []byte(`["r1"]`)); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, wait, "join delivered", func() bool { return len(r.events()) >= 2 })
	c.Emit(t, "/chat", "news", `1,{"a":"b"}`)
	c.Emit(t, "/chat", "other", `2`) // not selected
	c.Emit(t, "/chat", "newsflash", `3`)
	eventually.True(t, wait, "events delivered", func() bool { return len(r.events()) >= 4 })
	if err := nc.Publish("sockbus.io.chat.ctl.leave", []byte(`["r1"]`)); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, wait, "leave delivered", func() bool { return len(r.events()) >= 5 })
	c.WS.Close()
	evs := r.waitFor(t, 6, wait)
	want := []string{"connect", "join:r1", `event:news[1,{"a":"b"}]`, "event:newsflash[3]", "leave:r1", "disconnect"}
	if got := bySocket(evs)[sid]; !slices.Equal(got, want) {
		t.Fatalf("socket %s got %q, want %q", sid, got, want)
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for _, e := range evs {
		if e.User == nil || *e.User != "alice" || e.Node != "hook-node" || e.Namespace != "/chat" || e.ID == "" {
			t.Errorf("event %+v: want user alice, node hook-node, namespace /chat, an id", e)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			t.Errorf("event time %q: %v", e.Time, err)
		}
	}
	// Counted once acked, just after the receiver's answer.
	eventually.True(t, wait, "6 deliveries counted", func() bool {
		return scrape(t, "http://"+s.addr+"/metrics")[`sockbus_webhooks_total{outcome="delivered"}`] == 6
	})
}

// TestWebhookReceiverFailingFirst: a receiver answering 503 to its first
// attempts, then slowly, gets every event of three sockets exactly once per
// id, each socket's in order; user is null without authentication.
func TestWebhookReceiverFailingFirst(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n <= 5 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	s := startServer(t, webhookTo(r.url))
	const sockets, perSocket = 3, 30
	var ids []string
	for range sockets {
		c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
		ids = append(ids, c.ConnectID(t, "/", ""))
		for i := range perSocket {
			c.Emit(t, "/", "tick", fmt.Sprint(i))
		}
	}
	evs := r.waitFor(t, sockets*(1+perSocket), 30*time.Second)
	groups := bySocket(evs)
	for _, id := range ids {
		want := []string{"connect"}
		for i := range perSocket {
			want = append(want, fmt.Sprintf("event:tick[%d]", i))
		}
		if got := groups[id]; !slices.Equal(got, want) {
			t.Errorf("socket %s got %q, want %q", id, got, want)
		}
	}
	for _, e := range evs {
		if !e.hasUser || e.User != nil {
			t.Fatalf("event %+v: want \"user\": null", e)
		}
	}
	m := scrape(t, "http://"+s.addr+"/metrics")
	if got := m[`sockbus_webhooks_total{outcome="failed"}`]; got < 5 {
		t.Errorf("failed attempts = %v, want at least 5", got)
	}
}

// switchable answers 503 while down is set, then 200.
type switchable struct{ down atomic.Bool }

func (s *switchable) answer(int) int {
	if s.down.Load() {
		return http.StatusServiceUnavailable
	}
	return 0
}

// TestWebhookBacklogAcrossRestart: events stored while the receiver is
// down are delivered by the next process on the same data dir, once each.
func TestWebhookBacklogAcrossRestart(t *testing.T) {
	var sw switchable
	sw.down.Store(true)
	r := newReceiver(t, sw.answer)
	dir := t.TempDir()
	onDir := func(c *config) { c.DataDir = dir }
	s := startServer(t, webhookTo(r.url), onDir)
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	sid := c.ConnectID(t, "/", "")
	const n = 20
	for i := range n {
		c.Emit(t, "/", "tick", fmt.Sprint(i))
	}
	eventually.True(t, wait, "the backlog stored", func() bool {
		msgs, _, err := s.bus.WebhookBacklog(context.Background())
		return err == nil && msgs >= n+1
	})
	t0 := time.Now()
	s.stop(t) // the socket's disconnect (server shutting down) is published too
	t.Logf("stopped in %v", time.Since(t0))
	if got := len(r.events()); got != 0 {
		t.Fatalf("%d events accepted while the receiver was down", got)
	}
	sw.down.Store(false)
	t0 = time.Now()
	s2 := startServer(t, webhookTo(r.url), onDir)
	t.Logf("started in %v", time.Since(t0))
	evs := r.waitFor(t, n+2, 40*time.Second)
	t.Logf("backlog delivered in %v", time.Since(t0))
	want := []string{"connect"}
	for i := range n {
		want = append(want, fmt.Sprintf("event:tick[%d]", i))
	}
	want = append(want, "disconnect")
	if got := bySocket(evs)[sid]; !slices.Equal(got, want) {
		t.Fatalf("after the restart socket %s got %q, want %q", sid, got, want)
	}
	eventually.True(t, wait, "the backlog empties", func() bool {
		msgs, _, err := s2.bus.WebhookBacklog(context.Background())
		return err == nil && msgs == 0
	})
}

// TestWebhookClusterDeliversEachOnce: three nodes, a Socket.IO socket and
// a plain WebSocket connection on each; every event reaches the receiver
// once (each node pulls from the same durable queues), with the node it
// happened on.
func TestWebhookClusterDeliversEachOnce(t *testing.T) {
	r := newReceiver(t, nil)
	servers := startCluster(t, 3, webhookTo(r.url))
	const perSocket, perConn = 15, 5
	sids := map[string]string{} // socket → node name
	var clients []*siotest.Client
	var conns []*wstest.Client
	for i, s := range servers {
		c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
		clients = append(clients, c)
		sid := c.ConnectID(t, "/", "")
		sids[sid] = fmt.Sprintf("node-%d", i)
		for j := range perSocket {
			c.Emit(t, "/", "tick", fmt.Sprint(j))
		}
		w := wstest.Dial(t, s.ws("/ws/lobby"))
		conns = append(conns, w)
		for j := range perConn {
			w.SendText(t, fmt.Sprintf("m%d", j))
		}
	}
	r.waitFor(t, 3*(1+perSocket)+3*(1+perConn), 30*time.Second)
	// The sockets leave before the nodes stop: a cluster stopping as a
	// whole loses its quorum, so the disconnects of its last nodes'
	// sockets could not be stored (docs/webhooks.md).
	for _, c := range clients {
		c.WS.Close()
	}
	for _, w := range conns {
		w.Close()
	}
	evs := r.waitFor(t, 3*(2+perSocket)+3*(2+perConn), 30*time.Second)
	groups := bySocket(evs)
	connNodes := map[string]string{} // channel connection → node name
	for _, e := range evs {
		if e.Channel == "" {
			continue
		}
		if n, ok := connNodes[e.Socket]; ok && n != e.Node {
			t.Errorf("connection %s: events from nodes %s and %s", e.Socket, n, e.Node)
		}
		connNodes[e.Socket] = e.Node
		sids[e.Socket] = e.Node
	}
	if len(connNodes) != 3 || len(slices.Compact(slices.Sorted(maps.Values(connNodes)))) != 3 {
		t.Fatalf("channel connections by node: %v, want one on each of 3", connNodes)
	}
	// lifetime is what one connection's events read: its connect, its n
	// events (event names from format and their index), its disconnect.
	lifetime := func(n int, format string) []string {
		want := []string{"connect"}
		for j := range n {
			want = append(want, fmt.Sprintf(format, j))
		}
		return append(want, "disconnect")
	}
	for conn := range connNodes {
		if got, want := groups[conn], lifetime(perConn, "event:m%d"); !slices.Equal(got, want) {
			t.Errorf("connection %s got %q, want %q", conn, got, want)
		}
	}
	for sid := range sids {
		if connNodes[sid] != "" {
			continue
		}
		if got, want := groups[sid], lifetime(perSocket, "event:tick[%d]"); !slices.Equal(got, want) {
			t.Errorf("socket %s got %q, want %q", sid, got, want)
		}
	}
	for _, e := range evs {
		if sids[e.Socket] != e.Node {
			t.Errorf("event %s of socket %s says node %q, want %q", e.ID, e.Socket, e.Node, sids[e.Socket])
		}
	}
	// No node delivered an event another already had: the nodes'
	// delivered counts add up to what the receiver took.
	var delivered float64
	eventually.True(t, wait, "the nodes' delivered counts add up", func() bool {
		delivered = 0
		for _, s := range servers {
			delivered += scrape(t, "http://"+s.addr+"/metrics")[`sockbus_webhooks_total{outcome="delivered"}`]
		}
		return delivered >= float64(len(evs))
	})
	if delivered != float64(len(evs)) || len(r.events()) != len(evs) {
		t.Fatalf("the nodes delivered %v, the receiver has %d, want %d", delivered, len(r.events()), len(evs))
	}
}

// TestWebhookReceiverNeverAnswers: attempts that time out are retried;
// once the receiver answers, the event arrives once.
func TestWebhookReceiverNeverAnswers(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n <= 2 {
			return -1 // hold the request open
		}
		return 0
	})
	s := startServer(t, webhookTo(r.url), func(c *config) { c.WebhookTimeout = 300 * time.Millisecond })
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	sid := c.ConnectID(t, "/", "")
	evs := r.waitFor(t, 1, 20*time.Second)
	if evs[0].Socket != sid || evs[0].Type != "connect" {
		t.Fatalf("got %+v, want the connect of %s", evs[0], sid)
	}
	if got := scrape(t, "http://"+s.addr+"/metrics")[`sockbus_webhooks_total{outcome="failed"}`]; got < 2 {
		t.Fatalf("failed attempts = %v, want at least the 2 timeouts", got)
	}
}

// TestWebhookReceiverNeverRecovers: a receiver that always fails costs at
// most --webhook-max-bytes of stored events (the backlog gauge says how
// many), and nothing once they pass --webhook-max-age; the event being
// retried is given up and counted as expired.
func TestWebhookReceiverNeverRecovers(t *testing.T) {
	r := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	const maxBytes = 1 << 20
	s := startServer(t, webhookTo(r.url), func(c *config) {
		c.WebhookMaxAge = 3 * time.Second
		c.WebhookMaxBytes = maxBytes
		c.MaxMessageBytes = 256 << 10
	})
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	c.ConnectID(t, "/", "")
	big := `"` + strings.Repeat("x", 200<<10) + `"`
	const n = 12 // 2.4 MB of events for a 1 MiB bound
	for range n {
		c.Emit(t, "/", "big", big)
	}
	metricsURL := "http://" + s.addr + "/metrics"
	var peak float64
	eventually.True(t, 20*time.Second, "all events received and the backlog near its bound", func() bool {
		m := scrape(t, metricsURL)
		peak = max(peak, m["sockbus_webhook_backlog_bytes"])
		if m["sockbus_webhook_backlog_bytes"] > maxBytes {
			t.Fatalf("backlog %v bytes, over --webhook-max-bytes %d", m["sockbus_webhook_backlog_bytes"], maxBytes)
		}
		return m[`sockbus_events_in_total{kind="socketio"}`] >= n && m["sockbus_webhook_backlog_bytes"] >= 4*200<<10
	})
	if m := scrape(t, metricsURL); m["sockbus_webhook_backlog"] >= n {
		t.Fatalf("backlog %v events: the oldest of %d were not dropped past %d bytes", m["sockbus_webhook_backlog"], n, maxBytes)
	}
	eventually.True(t, 20*time.Second, "the backlog is gone after --webhook-max-age", func() bool {
		m := scrape(t, metricsURL)
		return m["sockbus_webhook_backlog"] == 0 && m[`sockbus_webhooks_total{outcome="expired"}`] >= 1
	})
	if got := len(r.events()); got != 0 {
		t.Fatalf("a receiver answering 500 accepted %d events", got)
	}
	t.Logf("backlog peaked at %.0f bytes (bound %d) for %d events of 200 KiB", peak, maxBytes, n)
}

// TestWebhookHugeArgsBounded: a client event's args are bounded by
// --max-message-bytes: one just under it is delivered whole, one over it
// closes the client and is never stored.
func TestWebhookHugeArgsBounded(t *testing.T) {
	r := newReceiver(t, nil)
	const limit = 64 << 10
	s := startServer(t, webhookTo(r.url), func(c *config) { c.MaxMessageBytes = limit })
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	sid := c.ConnectID(t, "/", "")
	fits := `"` + strings.Repeat("a", limit-100) + `"`
	c.Emit(t, "/", "fits", fits)
	evs := r.waitFor(t, 2, wait)
	if evs[1].Event == nil || string(evs[1].Args) != "["+fits+"]" {
		t.Fatalf("event under the limit arrived as %d bytes of args, want %d", len(evs[1].Args), len(fits)+2)
	}
	c.Emit(t, "/", "over", `"`+strings.Repeat("b", limit)+`"`)
	evs = r.waitFor(t, 3, wait) // the disconnect its close causes
	if evs[2].Type != "disconnect" || evs[2].Socket != sid {
		t.Fatalf("after an oversized event got %+v, want the socket's disconnect", evs[2])
	}
	for _, e := range evs {
		if len(e.Args) > limit {
			t.Fatalf("an event with %d bytes of args was delivered (limit %d)", len(e.Args), limit)
		}
	}
}

// TestWebhookConnectCarriesGrantedRooms: the connect of a socket the
// connect hook let in as bob, with a room, says so (user and rooms).
func TestWebhookConnectCarriesGrantedRooms(t *testing.T) {
	r := newReceiver(t, nil)
	s := startServer(t, webhookTo(r.url), withNATS, func(c *config) { c.AuthHook = true })
	backend := s.backend(t)
	sub, err := backend.Subscribe(hookSubject(), func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"allow":true,"user":"bob","rooms":["vip"]}`))
	})
	if err == nil {
		err = backend.Flush() // the server holds the responder's interest
	}
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	sid := c.ConnectID(t, "/", "")
	evs := r.waitFor(t, 1, wait)
	e := evs[0]
	if e.Type != "connect" || e.Socket != sid || e.User == nil || *e.User != "bob" || !slices.Equal(e.Rooms, []string{"vip"}) {
		t.Fatalf("got %+v (user %q), want the connect of %s as bob in vip", e, deref(e.User), sid)
	}
}

func hookSubject() string { return defaultConfig().AuthHookSubject }

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// TestWebhookThroughput measures how fast one node drains a backlog to a
// receiver on loopback that answers at once, with one queue and with the
// default 16, and checks each socket's order at both (docs/webhooks.md
// quotes the numbers). The events are stored while the receiver is down,
// so the time is the deliveries' alone.
func TestWebhookThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement: skipped with -short")
	}
	for _, tc := range []struct {
		parts              int64
		latency            time.Duration // the receiver's, per POST
		sockets, perSocket int
	}{{1, 0, 20, 100}, {16, 0, 20, 100}, {1, 10 * time.Millisecond, 20, 20}, {16, 10 * time.Millisecond, 20, 20}} {
		parts, sockets, perSocket := tc.parts, tc.sockets, tc.perSocket
		t.Run(fmt.Sprintf("partitions=%d,latency=%v", parts, tc.latency), func(t *testing.T) {
			var sw switchable
			sw.down.Store(true)
			r := newReceiver(t, func(n int) int {
				if a := sw.answer(n); a != 0 {
					return a
				}
				time.Sleep(tc.latency) // a receiver that takes its time (not synchronisation)
				return 0
			})
			s := startServer(t, webhookTo(r.url), func(c *config) {
				c.WebhookPartitions = parts
				c.WebhookEvents = []string{"event"}
			})
			var sids []string
			for i := range sockets {
				c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
				nsp := fmt.Sprintf("/t%d", i) // a namespace each: no fan-out to the others
				sids = append(sids, c.ConnectID(t, nsp, ""))
				for j := range perSocket {
					c.Emit(t, nsp, "tick", fmt.Sprint(j))
				}
			}
			eventually.True(t, 30*time.Second, "the backlog stored", func() bool {
				msgs, _, err := s.bus.WebhookBacklog(context.Background())
				return err == nil && msgs == uint64(sockets*perSocket)
			})
			start := time.Now()
			sw.down.Store(false)
			evs := r.waitFor(t, sockets*perSocket, 60*time.Second)
			took := time.Since(start)
			groups := bySocket(evs)
			for _, sid := range sids {
				got := groups[sid]
				if len(got) != perSocket {
					t.Fatalf("socket %s: %d events, want %d", sid, len(got), perSocket)
				}
				for i, g := range got {
					if g != fmt.Sprintf("event:tick[%d]", i) {
						t.Fatalf("socket %s: event %d is %s: out of order", sid, i, g)
					}
				}
			}
			t.Logf("%d partitions, receiver latency %v: a backlog of %d events delivered in %v: %.0f/s",
				parts, tc.latency, len(evs), took.Round(time.Millisecond), float64(len(evs))/took.Seconds())
		})
	}
}

// TestWebhookNodeDeath: the node delivering an event is killed (SIGKILL)
// while the receiver holds its POST; another node delivers the event, once.
func TestWebhookNodeDeath(t *testing.T) {
	bin := buildSockbus(t)
	var mu sync.Mutex
	var holder string // the node whose POST the receiver held
	held := make(chan struct{})
	r := newReceiver(t, nil)
	r.mu.Lock()
	r.answer = func(n int) int {
		if n == 1 {
			close(held)
			return -1 // never answer the first POST
		}
		return 0
	}
	r.onRequest = func(req *http.Request) {
		mu.Lock()
		if holder == "" {
			holder = req.Header.Get(webhook.NodeHeader)
		}
		mu.Unlock()
	}
	r.mu.Unlock()
	nodes := startProcNodes(t, bin, "hookdeath", "--recovery-window", "0",
		"--webhook-url", r.url, "--webhook-secret", testHookSecret, "--webhook-max-backoff", "300ms")
	c := siotest.Dial(t, "http://"+nodes[0].httpAddr(), "/socket.io/")
	sid := c.ConnectID(t, "/", "")
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook POST within 30 s")
	}
	mu.Lock()
	victim := holder
	mu.Unlock()
	killed := time.Now()
	for _, n := range nodes {
		if n.name == victim {
			n.kill()
		}
	}
	evs := r.waitFor(t, 1, 60*time.Second)
	if evs[0].Type != "connect" || evs[0].Socket != sid {
		t.Fatalf("got %+v, want the connect of %s", evs[0], sid)
	}
	mu.Lock()
	from := r.lastNode
	mu.Unlock()
	if from == victim || from == "" {
		t.Fatalf("delivered by %q after %q was killed", from, victim)
	}
	t.Logf("%s held the POST and was killed; %s delivered it %v later", victim, from, time.Since(killed).Round(100*time.Millisecond))
}
