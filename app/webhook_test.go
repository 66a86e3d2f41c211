package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
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
	Socket    string          `json:"socket"`
	User      *string         `json:"user"`
	Room      *string         `json:"room"`
	Event     *string         `json:"event"`
	Args      json.RawMessage `json:"args"`
	hasUser   bool
}

// receiver is a real HTTP webhook receiver on 127.0.0.1:0. It checks each
// POST's signature, answers what answer says for the n-th request (from
// 1; 0 means 200), and records the events it accepted.
type receiver struct {
	t      *testing.T
	url    string
	answer func(n int) int // status; -1: never answer (until the test ends)

	mu       sync.Mutex
	requests int
	badSig   int
	accepted []hookEvent
	perID    map[string]int
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

// bySocket groups events by socket, in arrival order, as "type[:room|event]".
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
	s := startServer(t, webhookTo(r.url), func(c *config) {
		c.AuthJWTKey = testJWTSecret
		c.NodeName = "hook-node"
		c.WebhookEvents = []string{"connect", "disconnect", "join", "leave", "event:news*"}
	})
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	token := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))
	sid := c.ConnectID(t, "/chat", `{"token":"`+token+`"}`)
	nc := s.bus.Conn()
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
	m := scrape(t, "http://"+s.addr+"/metrics")
	if got := m[`sockbus_webhooks_total{outcome="delivered"}`]; got != 6 {
		t.Errorf("delivered = %v, want 6", got)
	}
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
