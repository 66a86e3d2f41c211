package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"
	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/natstest"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/socketio"
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
	node := needNode(t)
	s := startServer(t, withNATS, func(c *config) { c.RecoveryWindow = 0; c.AuthJWTKey = testJWTSecret })
	sub := natstest.SubscribeSync(t, s.backend(t), "sockbus.live.io.chat.all.from-alice")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/auth/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL=http://"+s.addr, "JWT_SECRET="+testJWTSecret)
	out, err := runNodeSuite(t, cmd)
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
	s := startServer(t, withNATS, func(c *config) { c.AuthJWTKey = testJWTSecret })
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

	sub := natstest.SubscribeSync(t, s.backend(t), "sockbus.live.ws.game%2E1")
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
	s := startServer(t, withNATS, func(c *config) { c.AuthJWTKey = testJWTSecret })
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	tok := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))
	c.ConnectID(t, "/chat", `{"token":"`+tok+`"}`)
	nc := s.backend(t)
	rep, err := nc.RequestMsg(&nats.Msg{Subject: "sockbus.live.io.chat.ctl.fetch", Header: nats.Header{}}, wait)
	if err != nil {
		t.Fatal(err)
	}
	var socks []socketio.RemoteSocket
	if err := json.Unmarshal(rep.Data, &socks); err != nil || len(socks) != 1 || socks[0].User != "alice" {
		t.Fatalf("fetch answered %s (%v), want one socket of user alice", rep.Data, err)
	}
	if !strings.Contains(string(rep.Data), `"user":"alice"`) {
		t.Fatalf("fetch answer %s has no user field", rep.Data)
	}
}

// hookScript answers connect requests like a real responder would: the
// token "let-me-in" is allowed as user "hooked" with a room and data,
// anything else refused with a message and data. It saves each request.
const hookScript = `#!/bin/sh
printf '%s\n' "$NATS_REQUEST_BODY" >> "$HOOK_LOG"
case "$NATS_REQUEST_BODY" in
*'"token":"let-me-in"'*) echo '{"allow":true,"user":"hooked","rooms":["vip"],"data":{"plan":"gold"}}' ;;
*) echo '{"allow":false,"message":"banned","data":{"why":"no pass"}}' ;;
esac
`

// TestConnectHookWithNATSCLI: the connect hook answered by `nats reply`
// admits or refuses Socket.IO and plain WebSocket connects, and passes
// the handshake (allow-listed headers only).
func TestConnectHookWithNATSCLI(t *testing.T) {
	cli := natsCLI(t)
	s := startServer(t, func(c *config) {
		c.NATSAddr, c.NATSUser, c.NATSPassword = "127.0.0.1:0", "hook", "pw"
		c.AuthHook = true
		c.AuthHookTimeout = 5 * time.Second
	})
	dir := t.TempDir()
	script, log := dir+"/hook.sh", dir+"/requests.log"
	if err := os.WriteFile(script, []byte(hookScript), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out lockedBuffer
	cmd := exec.CommandContext(ctx, cli, "--server", s.bus.ClientURL(), "--user", "hook", "--password", "pw",
		"reply", auth.HookSubject, "--command", script)
	cmd.Env = append(os.Environ(), "HOOK_LOG="+log)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	eventually.True(t, 15*time.Second, "nats reply to subscribe", func() bool { return s.bus.HasInterest(auth.HookSubject) })

	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	if got := c.Connect(t, "/chat", `{"token":"nope"}`); got != `4/chat,{"data":{"why":"no pass"},"message":"banned"}` {
		t.Fatalf("refused connect answered %q (hook output: %s)", got, out.String())
	}
	c.ConnectID(t, "/chat", `{"token":"let-me-in"}`)
	rep, err := s.backend(t, nats.UserInfo("hook", "pw")).Request("sockbus.live.io.chat.ctl.fetch", nil, wait)
	if err != nil {
		t.Fatal(err)
	}
	var socks []socketio.RemoteSocket
	if err := json.Unmarshal(rep.Data, &socks); err != nil || len(socks) != 1 {
		t.Fatalf("fetch: %s %v", rep.Data, err)
	}
	if got := socks[0]; got.User != "hooked" || got.Data["plan"] != "gold" || len(got.Rooms) != 2 || got.Rooms[1] != "vip" {
		t.Fatalf("granted socket = %+v, want user hooked, data plan=gold, room vip", got)
	}

	if _, resp, err := wstest.TryDial(s.ws("/ws/lobby?token=nope")); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused channel connect: %v %v", resp, err)
	}
	ws := wstest.Dial(t, s.ws("/ws/lobby?token=let-me-in"))
	ws.Close()

	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var req map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &req); err != nil {
		t.Fatal(err)
	}
	if req["kind"] != "namespace" || req["name"] != "/chat" || req["token"] != "nope" ||
		!strings.HasPrefix(req["remote_address"].(string), "127.0.0.1:") ||
		!strings.Contains(lines[0], `"auth":{"token":"nope"}`) {
		t.Fatalf("hook request lacks the handshake: %s", lines[0])
	}
	if len(lines) != 4 || !strings.Contains(lines[3], `"kind":"channel","name":"lobby"`) || !strings.Contains(lines[3], `"query":{"token":["let-me-in"]}`) {
		t.Fatalf("hook saw %d requests, the last %q", len(lines), lines[len(lines)-1])
	}
}

// TestConnectHookWithoutAnswer: with no responder, or one that never
// answers, a connect is refused within the hook's timeout.
func TestConnectHookWithoutAnswer(t *testing.T) {
	s := startServer(t, withNATS, func(c *config) {
		c.AuthHook = true
		c.AuthHookTimeout = 300 * time.Millisecond
	})
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	const refused = `4{"data":{"status":503},"message":"connect hook unavailable"}`
	if got := c.Connect(t, "/", ""); got != refused {
		t.Fatalf("no responder: %q", got)
	}
	if _, resp, err := wstest.TryDial(s.ws("/ws")); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("channel with no responder: %v %v", resp, err)
	}
	sub := natstest.SubscribeSync(t, s.backend(t), auth.HookSubject) // listens, never answers
	start := time.Now()
	if got := c.Connect(t, "/", ""); got != refused {
		t.Fatalf("silent responder: %q", got)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Fatalf("refused after %v, want about the 300ms timeout", d)
	}
	if _, err := sub.NextMsg(wait); err != nil {
		t.Fatalf("the request never reached the silent responder: %v", err)
	}
}

// TestAuthHookExample runs examples/authhook against the binary: its API
// keys admit their users, an unknown key is refused with its message.
func TestAuthHookExample(t *testing.T) {
	bin := t.TempDir() + "/authhook"
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/authhook").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	s := startServer(t, func(c *config) {
		c.NATSAddr, c.NATSUser, c.NATSPassword = "127.0.0.1:0", "app", "pw"
		c.AuthHook = true
	})
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-nats", strings.Replace(s.bus.ClientURL(), "nats://", "nats://app:pw@", 1))
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	eventually.True(t, 15*time.Second, "the example to subscribe", func() bool { return s.bus.HasInterest(auth.HookSubject) })
	c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	if got := c.Connect(t, "/chat", `{"token":"stolen"}`); !strings.Contains(got, `"message":"unknown API key"`) {
		t.Fatalf("unknown key: %q", got)
	}
	if got := c.Connect(t, "/staff", `{"token":"key-grace"}`); !strings.Contains(got, `"message":"staff only"`) {
		t.Fatalf("grace on /staff: %q", got)
	}
	c.ConnectID(t, "/staff", `{"token":"key-ada"}`)
	rep, err := s.backend(t, nats.UserInfo("app", "pw")).Request("sockbus.live.io.staff.ctl.fetch", nil, wait)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rep.Data), `"user":"ada"`) || !strings.Contains(string(rep.Data), `"team-ada"`) {
		t.Fatalf("ada's socket: %s\n%s", rep.Data, out.String())
	}
}

// acksUntil reads packets until n acks arrived; it returns them by id.
func acksUntil(t *testing.T, c *siotest.Client, n int) map[int]string {
	t.Helper()
	got := map[int]string{}
	for len(got) < n {
		p := c.NextText(t, wait)
		if p == "" || p[0] != '3' {
			continue // events relayed from others
		}
		i := 1
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		id, _ := strconv.Atoi(p[1:i])
		got[id] = p[i:]
	}
	return got
}

// limitsConfig sets small per-connection limits for the hostile rows of
// items 3 and 6 of issue 11 (TestHostileInput, hostile_test.go).
func limitsConfig(c *config) {
	c.RecoveryWindow = 0
	c.MaxNamespacesPerConn, c.MaxRoomsPerSocket = 2, 3
	c.MaxEventsPerSecond, c.MaxEventBurst = 1, 5
}

// limitAttacks are those rows: each is refused with the documented answer.
var limitAttacks = []struct {
	name   string
	mutate func(*config)
	attack func(t *testing.T, s *testServer)
}{
	{"event name over 255 bytes with an ack gets an error ack", limitsConfig, func(t *testing.T, s *testServer) {
		base := "http://" + s.addr
		_ = base
		c := siotest.Dial(t, base, "/socket.io/")
		c.ConnectID(t, "/", "")
		c.Send(t, siotest.Event("/", 7, strings.Repeat("e", 256), `"x"`))
		if got := acksUntil(t, c, 1)[7]; got != `[{"error":"event name longer than 255 bytes"}]` {
			t.Fatalf("ack = %q", got)
		}
	}},
	{"events over the rate with acks get error acks", limitsConfig, func(t *testing.T, s *testServer) {
		base := "http://" + s.addr
		_ = base
		c := siotest.Dial(t, base, "/socket.io/")
		c.ConnectID(t, "/", "")
		for i := 0; i < 10; i++ { // a burst of 5 (the CONNECT took one), then 1 per second: most of these are over
			c.Send(t, siotest.Event("/", i, "spam", `"x"`))
		}
		acks := acksUntil(t, c, 10)
		ok, limited := 0, 0
		for _, a := range acks {
			switch a {
			case "[]":
				ok++
			case `[{"error":"rate limit exceeded"}]`:
				limited++
			default:
				t.Fatalf("unexpected ack %q", a)
			}
		}
		if ok < 4 || limited < 3 {
			t.Fatalf("%d stored, %d refused: want the rest of the burst of 5 stored and the rest refused", ok, limited)
		}
	}},
	{"events over the rate without acks close the connection", limitsConfig, func(t *testing.T, s *testServer) {
		base := "http://" + s.addr
		_ = base
		c := siotest.Dial(t, base, "/socket.io/")
		c.ConnectID(t, "/", "")
		// The server may close the connection before the tenth event:
		// a failed write then is the expected outcome, not an error.
		for i := 0; i < 10; i++ {
			if c.WS.Conn.WriteMessage(gws.OpcodeText, []byte("4"+siotest.Event("/", -1, "spam", `"x"`))) != nil {
				break
			}
		}
		select {
		case <-c.WS.Closed():
		case <-time.After(wait):
			t.Fatal("connection not closed")
		}
	}},
	{"plain WebSocket over the rate is closed with 4029", limitsConfig, func(t *testing.T, s *testServer) {
		base := "http://" + s.addr
		_ = base
		c := wstest.Dial(t, s.ws("/ws/flood"))
		for i := 0; i < 10; i++ { // a write after the server's close may fail
			if c.Conn.WriteMessage(gws.OpcodeText, []byte("x")) != nil {
				break
			}
		}
		if code, reason := c.WaitClose(t, wait); code != int(wsedge.CloseRateLimited) || reason != wsedge.ReasonRateLimited {
			t.Fatalf("closed with %d %q", code, reason)
		}
	}},
	{"a third namespace on one connection is refused", limitsConfig, func(t *testing.T, s *testServer) {
		base := "http://" + s.addr
		_ = base
		c := siotest.Dial(t, base, "/socket.io/")
		c.ConnectID(t, "/", "")
		c.ConnectID(t, "/a", "")
		if got := c.Connect(t, "/b", ""); got != `4/b,{"data":{"max":2},"message":"too many namespaces"}` {
			t.Fatalf("third namespace: %q", got)
		}
	}},
	{"2,000 refused CONNECTs on one WebSocket close it after 16", func(c *config) {
		c.RecoveryWindow = 0
		c.Namespaces = []string{"/"} // the Authorizer refuses /spam
	}, func(t *testing.T, s *testServer) {
		c := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
		for range 2000 {
			if c.WS.Conn.WriteString("40/spam,{}") != nil {
				break // closed meanwhile
			}
		}
		refusals := 0
		for {
			select {
			case p, ok := <-c.Packets():
				if !ok {
					if refusals != socketio.DefaultMaxConnectRefusals {
						t.Fatalf("%d connect_errors before the close, want %d", refusals, socketio.DefaultMaxConnectRefusals)
					}
					return
				}
				if !strings.HasPrefix(p.Text, "4/spam,") {
					t.Fatalf("unexpected packet %q", p.Text)
				}
				refusals++
			case <-time.After(wait):
				t.Fatalf("connection still open after %d connect_errors", refusals)
			}
		}
	}},
	{"joins past the room limit are refused", func(c *config) { limitsConfig(c); withNATS(c) }, func(t *testing.T, s *testServer) {
		base := "http://" + s.addr
		_ = base
		c := siotest.Dial(t, base, "/socket.io/")
		c.ConnectID(t, "/rooms", "")
		nc := s.backend(t)
		if err := nc.Publish("sockbus.io.rooms.ctl.join", []byte(`["r1","r2"]`)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("sockbus.io.rooms.ctl.join", []byte(`["r3","r4"]`)); err != nil {
			t.Fatal(err)
		}
		var last string
		eventually.True(t, wait, "the joins to be applied", func() bool {
			rep, err := nc.Request("sockbus.live.io.rooms.ctl.fetch", nil, wait)
			if err != nil {
				return false
			}
			last = string(rep.Data)
			return strings.Contains(last, `"r3"`)
		})
		if strings.Contains(last, `"r4"`) {
			t.Fatalf("a socket holds more than 3 rooms: %s", last)
		}
	}},
}

// TestSessionTakeover: another client sending a connected socket's pid and
// offset gets a fresh session (the victim keeps receiving); once the
// socket dropped, an offset from before the session's start is refused; the
// real offset recovers, once.
func TestSessionTakeover(t *testing.T) {
	s := startServer(t, withNATS)
	backend := s.backend(t)
	base := "http://" + s.addr
	sender := siotest.Dial(t, base, "/socket.io/")
	sender.ConnectID(t, "/", "")
	emit := func(v string) { // acked once stored
		sender.Send(t, siotest.Event("/", 1, "ev", `"`+v+`"`))
		acksUntil(t, sender, 1)
	}
	emit("before") // stored before the victim's session starts

	victim := siotest.Dial(t, base, "/socket.io/")
	reply := victim.Connect(t, "/", "")
	var hello struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "0")), &hello); err != nil || hello.Pid == "" {
		t.Fatalf("CONNECT reply %q has no pid", reply)
	}
	emit("one")
	var args []string
	if err := json.Unmarshal([]byte(strings.TrimPrefix(victim.NextText(t, wait), "2")), &args); err != nil || len(args) != 3 || args[1] != "one" {
		t.Fatalf("victim got %v (%v)", args, err)
	}
	offset := args[2]
	epoch, _, _ := strings.Cut(offset, ".")
	recoverWith := func(off string) string {
		c := siotest.Dial(t, base, "/socket.io/")
		r := c.Connect(t, "/", `{"pid":"`+hello.Pid+`","offset":"`+off+`"}`)
		var got struct{ Sid string }
		_ = json.Unmarshal([]byte(strings.TrimPrefix(r, "0")), &got)
		return got.Sid
	}
	if sid := recoverWith(offset); sid == hello.Sid {
		t.Fatal("a connected socket's session was taken over")
	}
	emit("two")
	if !strings.Contains(victim.NextText(t, wait), `"two"`) {
		t.Fatal("the victim stopped receiving")
	}

	victim.WS.Close()
	eventually.True(t, wait, "the victim's socket to be gone", func() bool {
		rep, err := backend.Request("sockbus.live.io.~.ctl.fetch", nil, wait)
		return err == nil && !strings.Contains(string(rep.Data), hello.Sid)
	})
	if sid := recoverWith(epoch + ".1"); sid == hello.Sid {
		t.Fatal("an offset older than the session's start recovered it")
	}
	if sid := recoverWith(offset); sid != hello.Sid {
		t.Fatal("the session's own offset did not recover it")
	}
	if sid := recoverWith(offset); sid == hello.Sid {
		t.Fatal("a pid recovered twice while its socket is connected")
	}
}

// TestTokenRefreshPlainWebSocket: a text frame {"sockbus:refresh":"<token>"}
// is answered on its connection only, never reaches the channel, and moves
// the 4001 expiry; refused refreshes (another user, another key, a channel
// outside the token, expired, none) leave it where it was.
func TestTokenRefreshPlainWebSocket(t *testing.T) {
	s := startServer(t, func(c *config) { c.AuthJWTKey = testJWTSecret })
	exp := time.Now().Add(2 * time.Second)
	c := wstest.Dial(t, s.ws("/ws/lobby?token="+signHS(t, testJWTSecret, aliceClaims(exp))))
	defer c.Close()
	peer := wstest.Dial(t, s.ws("/ws/lobby?token="+signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))))
	defer peer.Close()

	later := time.Now().Add(time.Hour).Unix()
	refresh := func(tok string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]string{wsedge.RefreshKey: tok})
		c.SendText(t, string(b))
		return c.NextText(t, wait)
	}
	want := `{"sockbus:refresh":{"ok":true,"exp":` + strconv.FormatInt(later, 10) + `}}`
	if got := refresh(signHS(t, testJWTSecret, aliceClaims(time.Unix(later, 0)))); got != want {
		t.Fatalf("refresh answered %s, want %s", got, want)
	}
	bob := aliceClaims(time.Unix(later, 0))
	bob["sub"] = "bob"
	narrow := aliceClaims(time.Unix(later, 0))
	narrow["sockbus"] = map[string]any{"channels": []string{"other"}}
	for tok, reason := range map[string]string{
		signHS(t, testJWTSecret, bob):                                       "token is for another user",
		signHS(t, testJWTSecret+"x", aliceClaims(time.Unix(later, 0))):      "invalid token",
		signHS(t, testJWTSecret, narrow):                                    "channel not allowed",
		signHS(t, testJWTSecret, aliceClaims(time.Now().Add(-time.Minute))): "token expired",
		"": "token required",
	} {
		if got, want := refresh(tok), `{"sockbus:refresh":{"error":"`+reason+`"}}`; got != want {
			t.Errorf("refresh answered %s, want %s", got, want)
		}
	}
	// Every refused refresh is counted as an auth refusal.
	if m := scrape(t, "http://"+s.addr+"/metrics"); m[`sockbus_refusals_total{reason="auth"}`] != 5 {
		t.Errorf("auth refusals counted: %v, want the 5 refused refreshes", m[`sockbus_refusals_total{reason="auth"}`])
	}
	// Past the first token's exp (the clock, not the server, is waited
	// for), the connection is still served, and the peer saw no refresh.
	time.Sleep(time.Until(exp.Add(time.Second)))
	c.SendText(t, "still here")
	if got := c.NextText(t, wait); got != "still here" {
		t.Fatalf("after the old exp: %q", got)
	}
	if got := peer.NextText(t, wait); got != "still here" {
		t.Fatalf("the peer got %q first, want only the ordinary message", got)
	}

	// A refused refresh does not save a connection from its expiry.
	short := wstest.Dial(t, s.ws("/ws/lobby?token="+signHS(t, testJWTSecret, aliceClaims(time.Now().Add(1500*time.Millisecond)))))
	b, _ := json.Marshal(map[string]string{wsedge.RefreshKey: signHS(t, testJWTSecret, bob)})
	short.SendText(t, string(b))
	if got := short.NextText(t, wait); !strings.Contains(got, "another user") {
		t.Fatalf("refresh as bob answered %s", got)
	}
	if code, reason := short.WaitClose(t, 10*time.Second); code != int(wsedge.CloseTokenExpired) || reason != wsedge.ReasonTokenExpired {
		t.Fatalf("closed with %d %q, want 4001 token expired", code, reason)
	}
}

// TestTokenRefreshThroughConnectHook: with only the connect hook, a
// refresh is a hook request with "refresh":true; its answer's expiry
// moves the connection's, a different user is refused, a refusal carries
// the hook's message, and the first grant's expiry still ends a connection
// that did not refresh.
func TestTokenRefreshThroughConnectHook(t *testing.T) {
	s := startServer(t, withNATS, func(c *config) {
		c.AuthHook = true
		c.AuthHookTimeout = 5 * time.Second
	})
	soon, later := time.Now().Add(3*time.Second).Unix(), time.Now().Add(time.Hour).Unix()
	refreshes := make(chan bool, 16)
	backend := s.backend(t)
	sub, err := backend.Subscribe(auth.HookSubject, func(m *nats.Msg) {
		var req struct {
			Token   string `json:"token"`
			Refresh bool   `json:"refresh"`
		}
		_ = json.Unmarshal(m.Data, &req)
		refreshes <- req.Refresh
		switch req.Token {
		case "first":
			_ = m.Respond([]byte(`{"allow":true,"user":"ada","expires":` + strconv.FormatInt(soon, 10) + `}`))
		case "second":
			_ = m.Respond([]byte(`{"allow":true,"user":"ada","expires":` + strconv.FormatInt(later, 10) + `}`))
		case "bob":
			_ = m.Respond([]byte(`{"allow":true,"user":"bob"}`))
		default:
			_ = m.Respond([]byte(`{"allow":false,"message":"revoked"}`))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := backend.Flush(); err != nil { // the server holds the responder's interest
		t.Fatal(err)
	}

	c := wstest.Dial(t, s.ws("/ws/hooked?token=first"))
	short := wstest.Dial(t, s.ws("/ws/hooked?token=first"))
	for range 2 {
		if r := <-refreshes; r {
			t.Fatal("a connect was sent as a refresh")
		}
	}
	for tok, want := range map[string]string{
		"second":  `{"sockbus:refresh":{"ok":true,"exp":` + strconv.FormatInt(later, 10) + `}}`,
		"bob":     `{"sockbus:refresh":{"error":"token is for another user"}}`,
		"revoked": `{"sockbus:refresh":{"error":"revoked"}}`,
	} {
		c.SendText(t, `{"sockbus:refresh":"`+tok+`"}`)
		if got := c.NextText(t, wait); got != want {
			t.Errorf("refresh with %q answered %s, want %s", tok, got, want)
		}
		if r := <-refreshes; !r {
			t.Errorf("refresh with %q reached the hook without \"refresh\":true", tok)
		}
	}
	// The one that did not refresh ends at the first grant's expiry; the
	// other outlives it (the clock is waited for, not the server).
	if code, reason := short.WaitClose(t, 10*time.Second); code != int(wsedge.CloseTokenExpired) || reason != wsedge.ReasonTokenExpired {
		t.Fatalf("unrefreshed connection closed with %d %q", code, reason)
	}
	time.Sleep(time.Until(time.Unix(soon+1, 0))) // a sleep: what passes is the first grant's exp on the clock
	c.SendText(t, "still here")
	if got := c.NextText(t, wait); got != "still here" {
		t.Fatalf("refreshed connection after the first expiry: %q", got)
	}
}
