package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge"
)

// Handshake() is socket.io's: its headers have host, and its time is the
// namespace CONNECT's, not the Engine.IO handshake's.
func TestHandshakeHostAndConnectTime(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	got := make(chan Handshake, 1)
	srv.Of("/").OnConnection(func(s *Socket) { got <- s.Handshake() })
	c := siotest.Dial(t, url, "/socket.io/")
	opened := time.Now() // after the open packet: after the Engine.IO handshake
	c.ConnectID(t, "/", "")
	hs := <-got
	if want := strings.TrimPrefix(url, "http://"); hs.Header().Get("Host") != want {
		t.Fatalf("host header %q, want %q", hs.Header().Get("Host"), want)
	}
	if hs.Time.Before(opened) {
		t.Fatalf("handshake time %v is the Engine.IO handshake's, before the CONNECT (after %v)", hs.Time, opened)
	}
}

// tokenUsers admits auth.token as the user; no token is refused.
type tokenUsers struct{ asked atomic.Int64 }

func (a *tokenUsers) Authorize(_ context.Context, r wsedge.AuthRequest) (wsedge.Grant, error) {
	a.asked.Add(1)
	if r.Token == "" {
		return wsedge.Grant{}, &wsedge.ConnectError{Message: "no token"}
	}
	return wsedge.Grant{User: r.Token}, nil
}

// recoveryEnv is a server with connection state recovery, a token
// Authorizer and a middleware on /m that counts its runs and stores who
// it admitted.
type recoveryEnv struct {
	srv   *Server
	url   string
	store *replay.Sessions
	auth  *tokenUsers
	mw    atomic.Int64
	conns chan *Socket
}

func newRecoveryEnv(t testing.TB, cfg Config) *recoveryEnv {
	b := testutil.StartBus(t, bus.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	store, err := replay.OpenSessions(ctx, b, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e := &recoveryEnv{store: store, auth: &tokenUsers{}, conns: make(chan *Socket, 8)}
	cfg.History, cfg.Sessions, cfg.RecoveryWindow, cfg.Authorizer = replay.NewReader(b), store, time.Minute, e.auth
	e.srv = NewServer(b, cfg)
	e.url = "http://" + testutil.Serve(t, e.srv, e.srv.Close)
	e.srv.Of("/m").Use(func(s *Socket) error {
		e.mw.Add(1)
		var a struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &a)
		s.Set("admitted", a.Token)
		return nil
	}).OnConnection(func(s *Socket) { e.conns <- s })
	return e
}

// dropped connects alice to /m, sends her one event and drops her
// connection; it returns her sid, pid and offset once her session is stored.
func (e *recoveryEnv) dropped(t testing.TB) (sid, pid, offset string) {
	c := siotest.Dial(t, e.url, "/socket.io/")
	reply := c.Connect(t, "/m", `{"token":"alice"}`)
	var hello struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "0/m,")), &hello); err != nil || hello.Pid == "" {
		t.Fatalf("CONNECT reply %q", reply)
	}
	<-e.conns
	if err := e.srv.Of("/m").To(hello.Sid).Emit("ev", 1); err != nil {
		t.Fatal(err)
	}
	var args []any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(c.NextText(t, wait), "2/m,")), &args); err != nil || len(args) != 3 {
		t.Fatalf("event %v (%v)", args, err)
	}
	c.WS.Close()
	eventually.True(t, wait, "the dropped session stored", func() bool {
		raw, err := e.store.Load(context.Background(), hello.Pid)
		return err == nil && e.srv.Of("/m").Socket(hello.Sid) == nil && strings.Contains(string(raw), `"admitted":"alice"`)
	})
	return hello.Sid, hello.Pid, args[2].(string)
}

func (e *recoveryEnv) reconnect(t *testing.T, token, pid, offset string) (reply string, s *Socket) {
	c := siotest.Dial(t, e.url, "/socket.io/")
	auth, _ := json.Marshal(map[string]string{"token": token, "pid": pid, "offset": offset})
	reply = c.Connect(t, "/m", string(auth))
	if strings.HasPrefix(reply, "0") {
		s = <-e.conns
	}
	return reply, s
}

// A recovered socket skips the middleware by default (socket.io's
// skipMiddlewares: true) and keeps what they admitted; the Authorizer still
// runs, and only the session's own user recovers it.
func TestRecoverySkipsMiddlewareNotAuth(t *testing.T) {
	e := newRecoveryEnv(t, Config{})
	sid, pid, offset := e.dropped(t)
	if e.mw.Load() != 1 {
		t.Fatalf("middleware runs %d", e.mw.Load())
	}
	asked := e.auth.asked.Load()
	if reply, _ := e.reconnect(t, "", pid, offset); reply != `4/m,{"message":"no token"}` {
		t.Fatalf("recovery without credentials: %q", reply)
	}
	if e.auth.asked.Load() != asked+1 {
		t.Fatal("the Authorizer was skipped for a recovery")
	}
	_, s := e.reconnect(t, "mallory", pid, offset)
	if s == nil || s.ID() == sid || s.Recovered() || s.User() != "mallory" {
		t.Fatalf("another user's recovery: %+v", s)
	}
	if e.mw.Load() != 2 {
		t.Fatalf("a fresh socket skipped the middleware (runs %d)", e.mw.Load())
	}
	if v, _ := s.Get("admitted"); v != "mallory" {
		t.Fatalf("fresh socket's data %v", v)
	}
	_, s = e.reconnect(t, "alice", pid, offset)
	if s == nil || s.ID() != sid || !s.Recovered() || s.User() != "alice" {
		t.Fatalf("alice's recovery: %+v", s)
	}
	if e.mw.Load() != 2 {
		t.Fatalf("middleware ran for a recovered socket (runs %d)", e.mw.Load())
	}
	if v, _ := s.Get("admitted"); v != "alice" {
		t.Fatalf("recovered socket's data %v", v)
	}
}

// RunMiddlewaresOnRecovery runs them for a recovered socket too; one that
// refuses refuses the recovery.
func TestRecoveryRunsMiddlewareWhenAsked(t *testing.T) {
	e := newRecoveryEnv(t, Config{RunMiddlewaresOnRecovery: true})
	sid, pid, offset := e.dropped(t)
	refuse := atomic.Bool{}
	refuse.Store(true)
	e.srv.Of("/m").Use(func(*Socket) error {
		if refuse.Load() {
			return errors.New("not now")
		}
		return nil
	})
	if reply, _ := e.reconnect(t, "alice", pid, offset); reply != `4/m,{"message":"not now"}` {
		t.Fatalf("refused recovery: %q", reply)
	}
	refuse.Store(false)
	_, s := e.reconnect(t, "alice", pid, offset)
	if s == nil || s.ID() != sid || !s.Recovered() {
		t.Fatalf("recovery: %+v", s)
	}
	if e.mw.Load() != 3 {
		t.Fatalf("middleware runs %d, want 3 (connect, refused recovery, recovery)", e.mw.Load())
	}
}
