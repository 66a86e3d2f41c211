package app

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// runRoomsSuite runs test/rooms with the official socket.io-client against url.
func runRoomsSuite(t *testing.T, url string) {
	t.Helper()
	node := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/rooms/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL="+url, "MAX_ROOMS=50")
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("node rooms tests failed: %v\n%s", err, out)
	}
	t.Logf("node rooms tests passed:\n%s", lastLines(string(out), 10))
}

// TestClientRoomsNodeSuite: the binary with no authentication, the
// official client joining, leaving and publishing to rooms itself
// (test/rooms): exactly the other members get a publish, binary arguments,
// hostile names, sockbus: events never relayed, a dropped member recovers
// the room and the publish, --max-rooms-per-socket and the event budget.
func TestClientRoomsNodeSuite(t *testing.T) {
	s := startServer(t, func(c *config) { c.MaxRoomsPerSocket = 50 })
	runRoomsSuite(t, "http://"+s.addr)
}

// TestClientRoomsCluster runs the same suite through a round-robin
// balancer over three nodes: room members on every node, recovery on
// another node than the one that dropped.
func TestClientRoomsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes: not with -short")
	}
	servers := startCluster(t, 3, func(c *config) { c.MaxRoomsPerSocket = 50 })
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.addr)
	}
	rr, lb := newRoundRobin(t, addrs)
	runRoomsSuite(t, lb)
	for i := range rr.hits {
		if rr.hits[i].Load() == 0 {
			t.Errorf("node %d got no request through the balancer", i)
		}
	}
}

// joinAs connects a raw client to / with auth and returns the acks of
// sockbus:join for each room, in order.
func joinAs(t *testing.T, s *testServer, auth string, rooms ...string) []string {
	t.Helper()
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	t.Cleanup(func() { c.WS.Close() })
	if reply := c.Connect(t, "/", auth); !strings.HasPrefix(reply, "0{") {
		t.Fatalf("connect with %s: %q", auth, reply)
	}
	var out []string
	for i, r := range rooms {
		raw, _ := json.Marshal(r)
		c.Send(t, siotest.Event("/", i, socketio.JoinEvent, string(raw)))
		head := "3" + strconv.Itoa(i) + "["
		for {
			p := c.NextText(t, wait)
			if strings.HasPrefix(p, head) {
				out = append(out, strings.TrimPrefix(p, head[:len(head)-1]))
				break
			}
		}
	}
	return out
}

const (
	joinOK     = `[{"ok":true}]`
	notAllowed = `[{"error":"room not allowed"}]`
)

// TestClientRoomsGrants: with authentication on, a client joins only what
// --client-rooms ({user} the token's sub), its token's sockbus.rooms or
// the connect hook's client_rooms allow; without authentication any room.
func TestClientRoomsGrants(t *testing.T) {
	t.Run("jwt", func(t *testing.T) {
		s := startServer(t, func(c *config) { c.AuthJWTKey = testJWTSecret; c.ClientRooms = []string{"lobby", "user-{user}"} })
		exp := time.Now().Add(time.Hour).Unix()
		withRooms := signHS(t, testJWTSecret, jwt.MapClaims{"sub": "ada", "exp": exp, "sockbus": map[string]any{"rooms": []string{"team-*"}}})
		plain := signHS(t, testJWTSecret, jwt.MapClaims{"sub": "bob", "exp": exp})
		got := joinAs(t, s, `{"token":"`+withRooms+`"}`, "lobby", "user-ada", "team-red", "user-bob", "other")
		if want := []string{joinOK, joinOK, joinOK, notAllowed, notAllowed}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("ada: %v, want %v", got, want)
		}
		got = joinAs(t, s, `{"token":"`+plain+`"}`, "lobby", "user-bob", "team-red")
		if want := []string{joinOK, joinOK, notAllowed}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("bob: %v, want %v", got, want)
		}
	})
	t.Run("hook", func(t *testing.T) {
		s := startServer(t, withNATS, func(c *config) { c.AuthHook = true; c.AuthHookTimeout = 5 * time.Second })
		sub, err := s.backend(t).Subscribe(auth.HookSubject, func(m *nats.Msg) {
			_ = m.Respond([]byte(`{"allow":true,"user":"ada","client_rooms":["hooked-*","own-{user}"]}`))
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		eventually.True(t, 15*time.Second, "the responder's interest", func() bool { return s.bus.HasInterest(auth.HookSubject) })
		got := joinAs(t, s, `{}`, "hooked-1", "own-ada", "own-bob", "lobby")
		if want := []string{joinOK, joinOK, notAllowed, notAllowed}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("hook grant: %v, want %v", got, want)
		}
	})
	t.Run("open", func(t *testing.T) {
		s := startServer(t)
		got := joinAs(t, s, ``, "lobby", "anything.at.all")
		if want := []string{joinOK, joinOK}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("open server: %v, want %v", got, want)
		}
	})
	t.Run("open with --client-rooms", func(t *testing.T) {
		s := startServer(t, func(c *config) { c.ClientRooms = []string{"chat-*"} })
		got := joinAs(t, s, ``, "chat-1", "lobby")
		if want := []string{joinOK, notAllowed}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("open server with patterns: %v, want %v", got, want)
		}
	})
}

// TestTokenCommandAllowRooms: `sockbus token --allow-rooms` mints the
// sockbus.rooms claim the server lets the client join by.
func TestTokenCommandAllowRooms(t *testing.T) {
	s := startServer(t, func(c *config) { c.AuthJWTKey = testJWTSecret })
	env := []string{"SOCKBUS_AUTH_JWT_KEY=" + testJWTSecret}
	token, errOut, status := mintCLI(t, env, "--sub", "ada", "--allow-rooms", "team-{user},lobby")
	if status != 0 {
		t.Fatalf("sockbus token: status %d: %s", status, errOut)
	}
	got := joinAs(t, s, `{"token":"`+token+`"}`, "team-ada", "lobby", "team-bob")
	if want := []string{joinOK, joinOK, notAllowed}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("joins %v, want %v", got, want)
	}
	token, _, _ = mintCLI(t, env, "--sub", "ada")
	if got := joinAs(t, s, `{"token":"`+token+`"}`, "lobby"); got[0] != notAllowed {
		t.Errorf("a token without --allow-rooms joined: %v", got)
	}
}

// TestClientRoomsDocExample runs the example of docs/socketio.md's "Rooms
// from the client" with node against the binary: it prints "ada: hello".
func TestClientRoomsDocExample(t *testing.T) {
	node := needNode(t)
	doc, err := os.ReadFile("docs/socketio.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n## Rooms from the client\n")
	_, code, ok := strings.Cut(section, "```js\n")
	code, _, _ = strings.Cut(code, "```")
	if !ok || !strings.Contains(code, "sockbus:to") {
		t.Fatal("docs/socketio.md has no rooms example")
	}
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", code) // bare imports resolve from the repo
	cmd.Env = append(os.Environ(), "SOCKBUS_URL=http://"+s.addr)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ada: hello" {
		t.Fatalf("example: %v\n%s", err, out)
	}
}
