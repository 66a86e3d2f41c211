package handlers

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// Two nodes, the admin UI on node 0 only. A client of node 1 cannot join
// /admin there, a forged admin event published from node 1 never reaches
// the admin UI, nothing of the admin feed (node 0's stats, a victim of
// node 0 connecting) appears on sockbus.>, and the admin sees the victim's
// handshake without its secrets.
func TestAdminFeedStaysOffClients(t *testing.T) {
	buses := clusterBuses(t, 2)
	srv0 := socketio.NewServer(buses[0], socketio.Config{})
	Relay(srv0, nil)
	a, err := NewAdmin(srv0, buses[0], AdminConfig{StatsInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	url0 := "http://" + testutil.Serve(t, srv0, srv0.Close)
	srv1 := socketio.NewServer(buses[1], socketio.Config{}) // no admin UI
	Relay(srv1, nil)
	url1 := "http://" + testutil.Serve(t, srv1, srv1.Close)

	// Whatever crosses sockbus.> on node 1 (as an operator's `nats sub`).
	var mu sync.Mutex
	var seen []string
	spy, err := buses[1].Subscribe("sockbus.>", func(m *bus.Msg) {
		mu.Lock()
		seen = append(seen, m.Subject+" "+string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = spy.Unsubscribe() })

	admin := siotest.Dial(t, url0, "/socket.io/")
	admin.ConnectID(t, "/admin", "")
	adminEvent(t, admin, "all_sockets")
	eventually.True(t, 10*time.Second, "node 1 sees the admin feed's subscriber", func() bool {
		return buses[1].HasInterest(bus.AdminFeedSubject)
	})

	// The anonymous client of node 1: /admin is not a namespace there.
	intruder := siotest.Dial(t, url1, "/socket.io/")
	if got := intruder.Connect(t, "/admin", ""); !strings.HasPrefix(got, "4/admin,") || !strings.Contains(got, "Invalid namespace") {
		t.Fatalf("a client of the node without the admin UI joining /admin got %q, want connect_error Invalid namespace", got)
	}
	// What its relay used to publish: an emit on the admin namespace.
	forger, err := srv1.Operate("/admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := forger.Volatile().Emit("socket_connected", map[string]any{"id": "forged", "nsp": "/chat"}, time.Now()); err != nil {
		t.Fatal(err)
	}

	// A victim on node 0 with secrets in its handshake's query.
	victim := wstest.Dial(t, "ws"+strings.TrimPrefix(url0, "http")+"/socket.io/?EIO=4&transport=websocket&token=SECRET-T&api_key=SECRET-K&room=lobby")
	if open := victim.NextText(t, wait); !strings.HasPrefix(open, "0{") {
		t.Fatalf("victim's open packet %q", open)
	}
	if err := victim.Conn.WriteMessage(gws.OpcodeText, []byte("40/chat,")); err != nil {
		t.Fatal(err)
	}
	var victimID string
	for victimID == "" {
		if m := victim.NextText(t, wait); strings.HasPrefix(m, "40/chat,") {
			var r struct{ Sid string }
			_ = json.Unmarshal([]byte(strings.TrimPrefix(m, "40/chat,")), &r)
			victimID = r.Sid
		}
	}

	// The first socket_connected the admin gets is the victim's, not the forgery.
	conn := adminEvent(t, admin, "socket_connected")
	var s SerializedSocket
	if err := json.Unmarshal(conn[0], &s); err != nil || s.ID != victimID {
		t.Fatalf("admin's socket_connected %s (%v), want the victim %s: a forged event got through", conn[0], err, victimID)
	}
	if strings.Contains(string(conn[0]), "SECRET") {
		t.Fatalf("the admin UI got the victim's secrets: %s", conn[0])
	}
	if s.Handshake.Query["token"] != redactedValue || s.Handshake.Query["api_key"] != redactedValue || s.Handshake.Query["room"] != "lobby" {
		t.Fatalf("victim's query as the admin sees it: %v", s.Handshake.Query)
	}
	adminEvent(t, admin, "server_stats") // the feed is flowing

	mu.Lock()
	defer mu.Unlock()
	for _, m := range seen {
		if strings.Contains(m, "server_stats") || strings.Contains(m, "SECRET") || strings.Contains(m, victimID) && strings.Contains(m, "handshake") {
			t.Fatalf("admin traffic visible on sockbus.>: %s", m)
		}
	}
}

func TestAdminHandshakeRedaction(t *testing.T) {
	for name, want := range map[string]bool{
		"authorization": true, "cookie": true, "proxy-authorization": true, "x-api-key": true,
		"token": true, "access_token": true, "sid": true, "password": true, "x-session-id": true,
		"user-agent": false, "origin": false, "EIO": false, "transport": false, "room": false,
	} {
		if got := redacted(name); got != want {
			t.Errorf("redacted(%q) = %v, want %v", name, got, want)
		}
	}
	got := redactedURL("/socket.io/?EIO=4&transport=polling&token=abc&jwt=x.y.z")
	if strings.Contains(got, "abc") || strings.Contains(got, "x.y.z") || !strings.Contains(got, "EIO=4") || !strings.HasPrefix(got, "/socket.io/?") {
		t.Fatalf("redactedURL: %q", got)
	}
}
