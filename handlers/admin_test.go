package handlers

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

const adminPassword = "s3cret"

// startAdmin serves the relay and the admin UI's namespace; with auth, the
// user "admin" with adminPassword.
func startAdmin(t *testing.T, auth, readOnly bool) string {
	t.Helper()
	b := testutil.StartBus(t, bus.Config{})
	srv := socketio.NewServer(b, socketio.Config{})
	Relay(srv, nil)
	cfg := AdminConfig{ReadOnly: readOnly, StatsInterval: 100 * time.Millisecond}
	if auth {
		hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.PasswordHash = "admin", string(hash)
	}
	a, err := NewAdmin(srv, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // after the server closed (cleanups run last first)
	return "http://" + testutil.Serve(t, srv, srv.Close)
}

// adminEvent reads admin packets until event arrives and returns its
// arguments; other events (server_stats every few seconds) are skipped.
func adminEvent(t *testing.T, c *siotest.Client, event string) []json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", event, wait)
		}
		text := c.NextText(t, wait)
		if !strings.HasPrefix(text, "2/admin,") {
			continue
		}
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(strings.TrimPrefix(text, "2/admin,")), &elems); err != nil {
			t.Fatalf("admin packet %q: %v", text, err)
		}
		var name string
		_ = json.Unmarshal(elems[0], &name)
		if name == event {
			return elems[1:]
		}
	}
}

func keys(raw json.RawMessage) []string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAdminRefusesWrongCredentials(t *testing.T) {
	url := startAdmin(t, true, false)
	for _, auth := range []string{"", `{"username":"admin","password":"wrong"}`, `{"username":"root","password":"` + adminPassword + `"}`, `{"sessionId":"0123456789abcdef"}`} {
		c := siotest.Dial(t, url, "/socket.io/")
		want := `4/admin,{"data":null,"message":"invalid credentials"}`
		if got := c.Connect(t, "/admin", auth); got != want && got != `4/admin,{"message":"invalid credentials"}` {
			t.Fatalf("auth %s: got %q, want connect_error \"invalid credentials\"", auth, got)
		}
	}
	// The right password gets a session id, which logs in again alone.
	c := siotest.Dial(t, url, "/socket.io/")
	c.ConnectID(t, "/admin", `{"username":"admin","password":"`+adminPassword+`"}`)
	var session string
	if err := json.Unmarshal(adminEvent(t, c, "session")[0], &session); err != nil || len(session) != 16 {
		t.Fatalf("session id %q (%v)", session, err)
	}
	again := siotest.Dial(t, url, "/socket.io/")
	again.ConnectID(t, "/admin", `{"sessionId":"`+session+`"}`)
}

func TestAdminProtocol(t *testing.T) {
	url := startAdmin(t, false, false)
	client := siotest.Dial(t, url, "/socket.io/")
	id := client.ConnectID(t, "/chat", "")

	admin := siotest.Dial(t, url, "/socket.io/")
	admin.ConnectID(t, "/admin", "")
	var cfg struct{ SupportedFeatures []string }
	if err := json.Unmarshal(adminEvent(t, admin, "config")[0], &cfg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.SupportedFeatures, ","); got != "EMIT,JOIN,LEAVE,DISCONNECT,MJOIN,MLEAVE,MDISCONNECT" {
		t.Fatalf("features %s", got)
	}
	var all []SerializedSocket
	if err := json.Unmarshal(adminEvent(t, admin, "all_sockets")[0], &all); err != nil {
		t.Fatal(err)
	}
	var found *SerializedSocket
	for i := range all {
		if all[i].ID == id {
			found = &all[i]
		}
	}
	if found == nil || found.Nsp != "/chat" || found.Transport != "websocket" || found.ClientID != client.SID ||
		len(found.Rooms) != 1 || found.Rooms[0] != id || found.Handshake.Address != "127.0.0.1" || found.Handshake.Query["EIO"] != "4" {
		t.Fatalf("all_sockets %+v has not the client %s as expected", all, id)
	}

	// Each Engine.IO connection is its own client (ids share a node prefix).
	for _, s := range all {
		if s.Nsp == "/admin" && (s.ClientID != admin.SID || s.ClientID == found.ClientID) {
			t.Fatalf("admin socket's clientId %q, want its connection's %q, not the other client's", s.ClientID, admin.SID)
		}
	}

	// server_stats, with the fields of the UI's ServerStats.
	stats := adminEvent(t, admin, "server_stats")[0]
	if got := strings.Join(keys(stats), ","); got != "aggregatedEvents,clientsCount,hostname,namespaces,pid,pollingClientsCount,serverId,uptime" {
		t.Fatalf("server_stats fields %s", got)
	}
	var st ServerStats
	if err := json.Unmarshal(stats, &st); err != nil {
		t.Fatal(err)
	}
	if st.ClientsCount != 2 || st.PollingClientsCount != 0 || st.ServerID == "" || st.PID == 0 ||
		len(st.Namespaces) != 2 || st.Namespaces[0] != (NamespaceStats{"/admin", 1}) || st.Namespaces[1] != (NamespaceStats{"/chat", 1}) {
		t.Fatalf("server_stats %s", stats)
	}

	// Sockets that come and go, rooms, and the operations.
	other := siotest.Dial(t, url, "/socket.io/")
	otherID := other.ConnectID(t, "/chat", "")
	conn := adminEvent(t, admin, "socket_connected")
	var s SerializedSocket
	if err := json.Unmarshal(conn[0], &s); err != nil || s.ID != otherID || s.Nsp != "/chat" || len(conn) != 2 {
		t.Fatalf("socket_connected %s (%v)", conn, err)
	}
	admin.Emit(t, "/admin", "join", `"/chat","room1","`+id+`"`)
	if got := string(mustJoin(adminEvent(t, admin, "room_joined")[:3])); got != `"/chat","room1","`+id+`"` {
		t.Fatalf("room_joined %s", got)
	}
	admin.Emit(t, "/admin", "emit", `"/chat","room1","news",{"a":1}`)
	if got := client.NextText(t, wait); !strings.HasPrefix(got, `2/chat,["news",{"a":1}`) {
		t.Fatalf("client got %q, want the admin's emit", got)
	}
	admin.Emit(t, "/admin", "leave", `"/chat","room1","`+id+`"`)
	if got := string(mustJoin(adminEvent(t, admin, "room_left")[:3])); got != `"/chat","room1","`+id+`"` {
		t.Fatalf("room_left %s", got)
	}
	admin.Emit(t, "/admin", "_disconnect", `"/chat",false,"`+id+`"`)
	if got := client.NextText(t, wait); got != "1/chat," {
		t.Fatalf("client got %q, want its DISCONNECT", got)
	}
	if got := string(mustJoin(adminEvent(t, admin, "socket_disconnected")[:3])); got != `"/chat","`+id+`","server namespace disconnect"` {
		t.Fatalf("socket_disconnected %s", got)
	}
}

func mustJoin(elems []json.RawMessage) []byte {
	var out []byte
	for i, e := range elems {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return out
}

func TestAdminReadOnly(t *testing.T) {
	url := startAdmin(t, false, true)
	client := siotest.Dial(t, url, "/socket.io/")
	id := client.ConnectID(t, "/chat", "")
	admin := siotest.Dial(t, url, "/socket.io/")
	admin.ConnectID(t, "/chat", "")
	admin.ConnectID(t, "/admin", "")
	if got := string(adminEvent(t, admin, "config")[0]); got != `{"supportedFeatures":[]}` {
		t.Fatalf("config %s", got)
	}
	// Refused operations, then a relayed event on the same connection: had
	// the disconnect been applied, the client would get it first (one
	// stream, in order).
	admin.Emit(t, "/admin", "_disconnect", `"/chat",false,"`+id+`"`)
	admin.Emit(t, "/admin", "emit", `"/chat",null,"forbidden"`)
	admin.Emit(t, "/chat", "marker", "")
	if got := client.NextText(t, wait); !strings.HasPrefix(got, `2/chat,["marker"`) {
		t.Fatalf("client got %q, want the marker: a read-only admin changed something", got)
	}
}

// clusterBuses starts n clustered buses (a JetStream cluster needs its
// quorum: they start together).
func clusterBuses(t *testing.T, n int) []*bus.Bus {
	t.Helper()
	routes := loopback.FreeAddrs(t, n)
	buses := make([]*bus.Bus, len(routes))
	var wg sync.WaitGroup
	for i := range buses {
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats-route://"+r)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buses[i] = testutil.StartBus(t, bus.Config{Cluster: bus.ClusterConfig{
				Name: "admin", Listen: routes[i], Routes: others, NodeName: fmt.Sprintf("n%d", i)}})
		}()
	}
	wg.Wait()
	for _, b := range buses {
		if b == nil {
			t.FailNow()
		}
	}
	return buses
}

func TestAdminAcrossNodes(t *testing.T) {
	buses := clusterBuses(t, 2)
	var urls []string
	for _, b := range buses {
		srv := socketio.NewServer(b, socketio.Config{})
		Relay(srv, nil)
		a, err := NewAdmin(srv, b, AdminConfig{StatsInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		urls = append(urls, "http://"+testutil.Serve(t, srv, srv.Close))
	}
	eventually.True(t, 10*time.Second, "node 0 sees both nodes' admin", func() bool {
		return buses[0].Interest(bus.AdminPresenceSubject) == 2
	})

	// A client on node 1 before the admin connects: in all_sockets.
	early := siotest.Dial(t, urls[1], "/socket.io/")
	earlyID := early.ConnectID(t, "/chat", "")
	admin := siotest.Dial(t, urls[0], "/socket.io/")
	admin.ConnectID(t, "/admin", "")
	var all []SerializedSocket
	if err := json.Unmarshal(adminEvent(t, admin, "all_sockets")[0], &all); err != nil {
		t.Fatal(err)
	}
	if !hasSocket(all, earlyID, "/chat") {
		t.Fatalf("all_sockets on node 0 lacks node 1's socket %s: %+v", earlyID, all)
	}

	// Stats from both nodes; node 1's counts its /chat socket.
	servers := map[string]ServerStats{}
	for len(servers) < 2 {
		var st ServerStats
		if err := json.Unmarshal(adminEvent(t, admin, "server_stats")[0], &st); err != nil {
			t.Fatal(err)
		}
		servers[st.ServerID] = st
	}
	var chat int
	for _, st := range servers {
		for _, n := range st.Namespaces {
			if n.Name == "/chat" {
				chat += n.SocketsCount
			}
		}
	}
	if chat != 1 {
		t.Fatalf("server_stats of both nodes count %d sockets in /chat, want 1: %+v", chat, servers)
	}

	// A client arriving on node 1 is announced on node 0; the admin on node
	// 0 disconnects it.
	late := siotest.Dial(t, urls[1], "/socket.io/")
	lateID := late.ConnectID(t, "/chat", "")
	var s SerializedSocket
	if err := json.Unmarshal(adminEvent(t, admin, "socket_connected")[0], &s); err != nil || s.ID != lateID {
		t.Fatalf("socket_connected %+v (%v), want %s", s, err, lateID)
	}
	admin.Emit(t, "/admin", "_disconnect", `"/chat",false,"`+lateID+`"`)
	if got := late.NextText(t, wait); got != "1/chat," {
		t.Fatalf("node 1's client got %q, want its DISCONNECT", got)
	}
	if got := string(mustJoin(adminEvent(t, admin, "socket_disconnected")[:2])); got != `"/chat","`+lateID+`"` {
		t.Fatalf("socket_disconnected %s", got)
	}
}

func hasSocket(all []SerializedSocket, id, nsp string) bool {
	for _, s := range all {
		if s.ID == id && s.Nsp == nsp {
			return true
		}
	}
	return false
}

func TestAdminSessionsAreBounded(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(cfg AdminConfig) (*socketio.Server, *bus.Bus, string) {
		b := testutil.StartBus(t, bus.Config{})
		srv := socketio.NewServer(b, socketio.Config{})
		cfg.User, cfg.PasswordHash = "admin", string(hash)
		a, err := NewAdmin(srv, b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		return srv, b, "http://" + testutil.Serve(t, srv, srv.Close)
	}
	login := func(url string) string {
		c := siotest.Dial(t, url, "/socket.io/")
		c.ConnectID(t, "/admin", `{"username":"admin","password":"`+adminPassword+`"}`)
		var id string
		_ = json.Unmarshal(adminEvent(t, c, "session")[0], &id)
		return id
	}
	refused := func(url, session, why string) {
		t.Helper()
		if got := siotest.Dial(t, url, "/socket.io/").Connect(t, "/admin", `{"sessionId":"`+session+`"}`); !strings.Contains(got, "invalid credentials") {
			t.Fatalf("%s session %s: got %q", why, session, got)
		}
	}

	// MaxSessions 1: the second login drops the first session.
	srv, b, url := serve(AdminConfig{MaxSessions: 1})
	first, second := login(url), login(url)
	refused(url, first, "dropped")
	siotest.Dial(t, url, "/socket.io/").ConnectID(t, "/admin", `{"sessionId":"`+second+`"}`)

	// A session past its TTL logs in no more.
	_, _, short := serve(AdminConfig{SessionTTL: time.Nanosecond})
	refused(short, login(short), "expired")

	if _, err := NewAdmin(srv, b, AdminConfig{User: "admin", PasswordHash: "not a hash"}); err == nil {
		t.Fatal("NewAdmin took a password hash that is not bcrypt")
	}
	if _, err := NewAdmin(srv, b, AdminConfig{User: "admin"}); err == nil {
		t.Fatal("NewAdmin took a user without a password hash")
	}
}
