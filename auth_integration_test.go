package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"
	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/wsedge"
)

const testJWTSecret = "0123456789abcdef0123456789abcdef-test"

func signHS(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func aliceClaims(exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": "alice", "exp": exp.Unix(), "sockbus": map[string]any{
		"namespaces": []string{"/", "/chat*"}, "channels": []string{"lobby", "game.*"},
	}}
}

// TestJWTSocketIOClient runs test/auth with the official socket.io-client:
// valid, missing, expired, wrong-key and out-of-scope tokens, and a socket
// disconnected when its token expires. Every event a token's client causes
// carries Sockbus-User on the bus.
func TestJWTSocketIOClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil || !fileExists("node_modules/socket.io-client/package.json") {
		if os.Getenv("CI") != "" {
			t.Fatal("node or node_modules missing in CI (run npm ci)")
		}
		t.Skip("node or node_modules missing: run `npm ci` (make test does)")
	}
	s := startServer(t, func(c *config) { c.RecoveryWindow = 0; c.Auth.JWTKey = testJWTSecret })
	sub, err := s.bus.Conn().SubscribeSync("sockbus.io.chat.all.from-alice")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/auth/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL=http://"+s.addr, "JWT_SECRET="+testJWTSecret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node auth tests failed: %v\n%s", err, out)
	}
	t.Logf("node auth tests passed:\n%s", lastLines(string(out), 10))
	m, err := sub.NextMsg(wait)
	if err != nil {
		t.Fatalf("the relayed event never reached the bus: %v", err)
	}
	if got := m.Header.Get(wsedge.HeaderUser); got != "alice" {
		t.Fatalf("%s = %q, want alice", wsedge.HeaderUser, got)
	}
}

// TestJWTPlainWebSocket: ?token= and Authorization: Bearer are accepted,
// no or a bad token is 401, an unlisted channel 403, messages carry
// Sockbus-User, and an expiring token closes the connection with 4001.
func TestJWTPlainWebSocket(t *testing.T) {
	s := startServer(t, func(c *config) { c.Auth.JWTKey = testJWTSecret })
	good := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))

	for name, tc := range map[string]struct {
		path string
		want int
	}{
		"no token":      {"/ws/lobby", http.StatusUnauthorized},
		"expired":       {"/ws/lobby?token=" + signHS(t, testJWTSecret, aliceClaims(time.Now().Add(-time.Minute))), http.StatusUnauthorized},
		"wrong key":     {"/ws/lobby?token=" + signHS(t, testJWTSecret+"x", aliceClaims(time.Now().Add(time.Hour))), http.StatusUnauthorized},
		"garbage":       {"/ws/lobby?token=not.a.jwt", http.StatusUnauthorized},
		"not in scope":  {"/ws/private?token=" + good, http.StatusForbidden},
		"alg none":      {"/ws/lobby?token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.", http.StatusUnauthorized},
		"no exp at all": {"/ws/lobby?token=" + signHS(t, testJWTSecret, jwt.MapClaims{"sub": "alice"}), http.StatusUnauthorized},
	} {
		c, resp, err := wstest.TryDial(s.ws(tc.path))
		if err == nil {
			c.Close()
			t.Errorf("%s: upgraded, want %d", name, tc.want)
			continue
		}
		if resp == nil || resp.StatusCode != tc.want {
			t.Errorf("%s: response %v (%v), want %d", name, resp, err, tc.want)
		}
	}

	sub, err := s.bus.Conn().SubscribeSync("sockbus.ws.game%2E1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	c := wstest.Dial(t, s.ws("/ws/game.1?token="+good))
	defer c.Close()
	c.SendText(t, "move")
	if got := c.NextText(t, wait); got != "move" {
		t.Fatalf("echo %q", got)
	}
	m, err := sub.NextMsg(wait)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(wsedge.HeaderUser); got != "alice" {
		t.Fatalf("%s = %q, want alice", wsedge.HeaderUser, got)
	}

	// Authorization: Bearer, with a token that expires in about a second.
	short := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(1500*time.Millisecond)))
	bc := &bearerClient{closed: make(chan struct{})}
	conn, _, err := gws.NewClient(bc, &gws.ClientOption{
		Addr:          s.ws("/ws/lobby"),
		RequestHeader: http.Header{"Authorization": {"Bearer " + short}},
	})
	if err != nil {
		t.Fatalf("bearer token refused: %v", err)
	}
	go conn.ReadLoop()
	select {
	case <-bc.closed:
	case <-time.After(10 * time.Second):
		conn.NetConn().Close()
		t.Fatal("not closed when the token expired")
	}
	var ce *gws.CloseError
	if !asCloseError(bc.err, &ce) || ce.Code != uint16(wsedge.CloseTokenExpired) || string(ce.Reason) != wsedge.ReasonTokenExpired {
		t.Fatalf("closed with %v, want %d %q", bc.err, wsedge.CloseTokenExpired, wsedge.ReasonTokenExpired)
	}
}

type bearerClient struct {
	gws.BuiltinEventHandler
	closed chan struct{}
	err    error
}

func (b *bearerClient) OnClose(_ *gws.Conn, err error) { b.err = err; close(b.closed) }

func asCloseError(err error, target **gws.CloseError) bool {
	ce, ok := err.(*gws.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

// TestJWTUserInFetchSockets: a socket's user is in fetchSockets' answer.
func TestJWTUserInFetchSockets(t *testing.T) {
	s := startServer(t, func(c *config) { c.Auth.JWTKey = testJWTSecret })
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	tok := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))
	c.ConnectID(t, "/chat", `{"token":"`+tok+`"}`)
	nc := s.bus.Conn()
	rep, err := nc.RequestMsg(&nats.Msg{Subject: "sockbus.live.io.chat.ctl.fetch", Header: nats.Header{}}, wait)
	if err != nil {
		t.Fatal(err)
	}
	var socks []wsedge.RemoteSocket
	if err := json.Unmarshal(rep.Data, &socks); err != nil || len(socks) != 1 || socks[0].User != "alice" {
		t.Fatalf("fetch answered %s (%v), want one socket of user alice", rep.Data, err)
	}
	if !strings.Contains(string(rep.Data), `"user":"alice"`) {
		t.Fatalf("fetch answer %s has no user field", rep.Data)
	}
}
